//! The composed libp2p behaviour of a device.

use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{StreamProtocol, autonat, dcutr, identify, mdns, ping, relay, request_response};
use sdfs_core::pairing::{MAX_MESSAGE, PairRequest, PairResponse};

use crate::codec::Postcard;
use crate::gate::Gate;
use crate::protocol::{
    CHUNKS_PROTOCOL, ChunkCodec, DELIVER_PROTOCOL, DeliverCodec, SYNC_PROTOCOL, SyncCodec,
};

/// Pairing by code: the one protocol an unpaired peer may use.
pub const PAIR_PROTOCOL: StreamProtocol = StreamProtocol::new("/sdfs/pair/1");
/// What identify announces.
pub const AGENT: &str = "/sdfs/1";

pub type PairCodec = Postcard<PairRequest, PairResponse, MAX_MESSAGE>;
impl crate::codec::Plain for PairRequest {}
impl crate::codec::Plain for PairResponse {}

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// First: a refused connection never reaches the others.
    pub gate: Gate,
    pub relay: relay::client::Behaviour,
    pub dcutr: dcutr::Behaviour,
    pub autonat: autonat::Behaviour,
    pub identify: identify::Behaviour,
    /// Off where multicast is unavailable.
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    pub ping: ping::Behaviour,
    pub pair: request_response::Behaviour<PairCodec>,
    /// Device-owned data, pulled by watermark (paired devices only).
    pub sync: request_response::Behaviour<SyncCodec>,
    /// Manifests and chunks of shared files (paired devices only).
    pub chunks: request_response::Behaviour<ChunkCodec>,
    /// Changes to files the receiver owns (paired devices only).
    pub deliver: request_response::Behaviour<DeliverCodec>,
}

impl Behaviour {
    pub fn new(
        key: &libp2p::identity::Keypair,
        relay: relay::client::Behaviour,
        gate: Gate,
    ) -> Behaviour {
        let me = key.public().to_peer_id();
        let mdns = match mdns::tokio::Behaviour::new(mdns::Config::default(), me) {
            Ok(mdns) => Some(mdns),
            Err(e) => {
                tracing::warn!("mDNS unavailable ({e}); peers must be dialled by address");
                None
            }
        };
        Behaviour {
            gate,
            relay,
            dcutr: dcutr::Behaviour::new(me),
            autonat: autonat::Behaviour::new(me, autonat::Config::default()),
            identify: identify::Behaviour::new(identify::Config::new(
                AGENT.to_owned(),
                key.public(),
            )),
            mdns: mdns.into(),
            ping: ping::Behaviour::default(),
            pair: request_response::Behaviour::new(
                [(PAIR_PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(std::time::Duration::from_secs(10)),
            ),
            sync: request_response::Behaviour::new(
                [(SYNC_PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(std::time::Duration::from_secs(30)),
            ),
            chunks: request_response::Behaviour::new(
                [(CHUNKS_PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(std::time::Duration::from_secs(30))
                    .with_max_concurrent_streams(256),
            ),
            // The owner fetches a large file's chunks before it answers.
            deliver: request_response::Behaviour::new(
                [(DELIVER_PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(sdfs_core::outbox::courier::DELIVERY_TIMEOUT)
                    .with_max_concurrent_streams(16),
            ),
        }
    }
}
