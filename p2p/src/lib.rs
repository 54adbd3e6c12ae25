//! sdfs networking on libp2p: an Ed25519 identity per device (kept in the
//! library, mode 0600), TCP+Noise+Yamux and QUIC, mDNS on the LAN, identify,
//! relay, hole punching and AutoNAT, and versioned request-response
//! protocols with bounded messages. Pairing (`/sdfs/pair/1`) runs the
//! sans-IO state machine of `sdfs_core::pairing`; it is the only protocol an
//! unpaired peer can use.
//!
//! The swarm lives on its own thread with a tokio runtime; the daemon talks
//! to it through [`Node`], whose calls block with deadlines.

mod addrs;
mod behaviour;
mod codec;
mod deliver;
mod fetch;
mod gate;
pub mod identity;
mod node;
pub mod probe;
pub mod protocol;
mod pull;
mod serve;

pub use codec::Message;
pub use fetch::NodeLink;
pub use libp2p::Multiaddr;
pub use node::{
    AppliedObserver, InviteInfo, Node, NodeConfig, NodeStatus, PairedWith, TransferCounters,
};
pub use pull::{PULL_EVERY, SyncCounters};
