//! `/sdfs/deliver/1`: changes this device made to files another device
//! owns, and the owner's side of them. The sender's request waits while
//! the owner fetches the chunks it lacks from the sender's outbox (over
//! `/sdfs/chunks/1`, [`FileRef::Staged`]), verifies and applies the change
//! (`sdfs_core::inbox`) on the blocking pool, then answers.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;

use libp2p::PeerId;
use libp2p::request_response::{self, ResponseChannel};
use sdfs_core::ids::DeviceId;
use sdfs_core::remote::{DeliveredChange, FileRef, PeerSource};

use crate::fetch::NodeLink;
use crate::node::{Internal, State};
use crate::protocol::{DeliverRequest, DeliverResponse};

/// Where the owner's answer to a delivery goes.
pub(crate) type DeliveryWaiter = std_mpsc::Sender<Result<DeliverResponse, String>>;

/// How long the owner waits for each batch of the sender's chunks.
const CHUNK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl State {
    pub(crate) fn send_delivery(
        &mut self,
        device: DeviceId,
        request: DeliverRequest,
        reply: DeliveryWaiter,
    ) {
        self.transfer.delivery_bytes_sent +=
            postcard::experimental::serialized_size(&request).unwrap_or(0) as u64;
        let peer = self
            .paired_devices
            .iter()
            .find(|(_, d)| **d == device)
            .map(|(p, _)| *p);
        let Some(peer) = peer else {
            let _ = reply.send(Err("not a paired device".into()));
            return;
        };
        if !self.swarm.is_connected(&peer) {
            let _ = reply.send(Err("the device is offline".into()));
            return;
        }
        let id = self
            .swarm
            .behaviour_mut()
            .deliver
            .send_request(&peer, request);
        self.deliveries.insert(id, reply);
    }

    pub(crate) fn on_deliver(
        &mut self,
        event: request_response::Event<DeliverRequest, DeliverResponse>,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.serve_delivery(peer, request, channel),
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(waiter) = self.deliveries.remove(&request_id) {
                    let _ = waiter.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(waiter) = self.deliveries.remove(&request_id) {
                    let _ = waiter.send(Err(error.to_string()));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!("p2p: delivery from {peer} failed: {error}");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn serve_delivery(
        &mut self,
        peer: PeerId,
        DeliverRequest(delivery): DeliverRequest,
        channel: ResponseChannel<DeliverResponse>,
    ) {
        let from = match self.paired_devices.get(&peer) {
            Some(device) if self.is_paired(&peer) => *device,
            _ => {
                tracing::warn!("p2p: refused a delivery from unpaired {peer}");
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .deliver
                    .send_response(channel, DeliverResponse::Refused("not paired".into()));
                return;
            }
        };
        let from_name = self
            .lib
            .devices()
            .unwrap_or_default()
            .into_iter()
            .find(|d| d.id == from)
            .map(|d| d.name)
            .unwrap_or_else(|| from.to_string());
        let staged = match &delivery.change {
            DeliveredChange::File { staged, .. } => *staged,
            _ => 0,
        };
        let sender = Arc::new(PeerSource {
            link: Arc::new(NodeLink {
                commands: self.commands.clone(),
            }),
            device: from,
            device_name: from_name.clone(),
            file: FileRef::Staged(staged),
            timeout: CHUNK_TIMEOUT,
        });
        let content = Arc::clone(&self.content);
        let internal = self.internal.clone();
        let receiving = Arc::clone(&self.receiving);
        receiving.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            let response = match sdfs_core::inbox::apply(&content, &from_name, &delivery, sender) {
                Ok(outcome) => DeliverResponse::Done(outcome),
                Err(e) => {
                    tracing::info!("p2p: a delivery from {from_name}: {e}");
                    DeliverResponse::Failed(e.to_string())
                }
            };
            receiving.fetch_sub(1, Ordering::Relaxed);
            let _ = internal.send(Internal::DeliverAnswer(channel, response));
        });
    }
}
