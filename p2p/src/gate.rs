//! Connection gating: an inbound connection from a peer that is not paired
//! is refused, unless an invite is open (then it may pair, and the pairing
//! protocol is all it is served). Outbound connections are ours to make.
//! A revoked device is refused from the moment it leaves the paired set.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

/// Who may connect in.
#[derive(Debug, Default)]
pub struct Admission {
    pub paired: HashSet<PeerId>,
    /// Unix seconds until which an invite is open (0: none).
    pub invite_until: i64,
}

/// Why a connection was refused.
#[derive(Debug, thiserror::Error)]
#[error("peer {0} is not paired with this device and no invite is open")]
pub struct NotPaired(PeerId);

/// The gate, sharing its admission list with the node.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    pub admission: Arc<RwLock<Admission>>,
}

impl Gate {
    fn admits(&self, peer: &PeerId) -> bool {
        let admission = self.admission.read().unwrap_or_else(|e| e.into_inner());
        admission.paired.contains(peer) || admission.invite_until > sdfs_core::time::unix_now_secs()
    }
}

impl NetworkBehaviour for Gate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if self.admits(&peer) {
            Ok(dummy::ConnectionHandler)
        } else {
            tracing::info!("p2p: refused a connection from unpaired peer {peer}");
            Err(ConnectionDenied::new(NotPaired(peer)))
        }
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, _: FromSwarm<'_>) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
