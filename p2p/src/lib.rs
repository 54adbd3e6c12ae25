//! sdfs networking (to come, issue 5): an Ed25519 libp2p identity per device,
//! TCP+Noise+Yamux and QUIC, mDNS, pairing by code, and the versioned
//! request-response protocols for sync and chunk transfer. It drives the
//! sans-IO protocol state machines defined in `sdfs-core` and implements the
//! core's `PeerLink` trait; unpaired peers reach nothing but pairing.
