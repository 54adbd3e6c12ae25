//! Reading other devices' files: [`NodeLink`] implements the core's
//! [`PeerLink`] by sending chunk requests through the node, all at once,
//! and waiting for the answers with a deadline. A device that is offline
//! or silent costs at most that deadline, never a hang.

use std::io;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use libp2p::request_response::OutboundRequestId;
use sdfs_cas::ChunkRef;
use sdfs_core::ids::DeviceId;
use sdfs_core::remote::{Delivery, DeliveryOutcome, FileRef, LiveEntry, PeerLink};
use tokio::sync::mpsc;

use crate::node::{Command, State};
use crate::protocol::{ChunkRequest, ChunkResponse, DeliverRequest, DeliverResponse};

/// Chunks asked for in one request (about 512 KiB): a read-ahead batch
/// becomes a few requests in parallel.
const PER_REQUEST: usize = 8;

/// Where the answer to request `index` of a batch goes.
pub(crate) struct Waiter {
    pub index: usize,
    pub reply: std_mpsc::Sender<(usize, Result<ChunkResponse, String>)>,
}

impl State {
    pub(crate) fn fetch(
        &mut self,
        device: DeviceId,
        requests: Vec<ChunkRequest>,
        reply: std_mpsc::Sender<(usize, Result<ChunkResponse, String>)>,
    ) {
        let peer = self
            .paired_devices
            .iter()
            .find(|(_, d)| **d == device)
            .map(|(p, _)| *p);
        let Some(peer) = peer else {
            for index in 0..requests.len() {
                let _ = reply.send((index, Err("not a paired device".into())));
            }
            return;
        };
        if !self.swarm.is_connected(&peer) {
            // Not connected: fail now rather than wait on a dial the
            // reconnect loop is already making.
            for index in 0..requests.len() {
                let _ = reply.send((index, Err("the device is offline".into())));
            }
            return;
        }
        for (index, request) in requests.into_iter().enumerate() {
            let id = self
                .swarm
                .behaviour_mut()
                .chunks
                .send_request(&peer, request);
            self.fetches.insert(
                id,
                Waiter {
                    index,
                    reply: reply.clone(),
                },
            );
        }
    }

    pub(crate) fn on_fetched(
        &mut self,
        request_id: OutboundRequestId,
        result: Result<ChunkResponse, String>,
    ) {
        if let Some(waiter) = self.fetches.remove(&request_id) {
            let _ = waiter.reply.send((waiter.index, result));
        }
    }
}

/// The node as the namespace's way to other devices.
#[derive(Clone)]
pub struct NodeLink {
    pub(crate) commands: mpsc::UnboundedSender<Command>,
}

impl NodeLink {
    fn ask(
        &self,
        device: DeviceId,
        requests: Vec<ChunkRequest>,
        timeout: Duration,
    ) -> Vec<io::Result<ChunkResponse>> {
        let n = requests.len();
        let (tx, rx) = std_mpsc::channel();
        let mut out: Vec<io::Result<ChunkResponse>> = (0..n)
            .map(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time")))
            .collect();
        if self
            .commands
            .send(Command::Fetch {
                device,
                requests,
                reply: tx,
            })
            .is_err()
        {
            return (0..n)
                .map(|_| Err(io::Error::other("the p2p node has stopped")))
                .collect();
        }
        let deadline = Instant::now() + timeout;
        let mut left = n;
        while left > 0 {
            let wait = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok((index, result)) if index < n => {
                    out[index] = result.map_err(io::Error::other);
                    left -= 1;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        out
    }
}

fn unexpected(response: ChunkResponse) -> io::Error {
    match response {
        ChunkResponse::Refused(reason) => io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refused: {reason}"),
        ),
        _ => io::Error::new(io::ErrorKind::InvalidData, "an answer of the wrong kind"),
    }
}

impl PeerLink for NodeLink {
    fn manifest(&self, device: DeviceId, file: &FileRef, timeout: Duration) -> io::Result<Vec<u8>> {
        let answer = self
            .ask(
                device,
                vec![ChunkRequest::ManifestOf { file: file.clone() }],
                timeout,
            )
            .pop()
            .unwrap_or_else(|| Err(io::Error::other("no answer")))?;
        match answer {
            ChunkResponse::Manifest(bytes) => Ok(bytes),
            other => Err(unexpected(other)),
        }
    }

    fn chunks(
        &self,
        device: DeviceId,
        file: &FileRef,
        chunks: &[ChunkRef],
        timeout: Duration,
    ) -> Vec<io::Result<bytes::Bytes>> {
        // A few chunks per request, the requests in parallel.
        let groups: Vec<&[ChunkRef]> = chunks.chunks(PER_REQUEST).collect();
        let requests = groups
            .iter()
            .map(|g| ChunkRequest::ChunksOf {
                file: file.clone(),
                ranges: g.iter().map(|c| (c.offset, c.length)).collect(),
            })
            .collect();
        let answers = self.ask(device, requests, timeout);
        let mut out = Vec::with_capacity(chunks.len());
        for (group, answer) in groups.iter().zip(answers) {
            match answer {
                Ok(ChunkResponse::Chunks(bytes)) if bytes.len() == group.len() => {
                    out.extend(bytes.into_iter().map(Ok));
                }
                Ok(ChunkResponse::Chunks(_)) => out.extend(group.iter().map(|_| {
                    Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a wrong number of chunks",
                    ))
                })),
                Ok(other) => {
                    let e = unexpected(other);
                    out.extend(
                        group
                            .iter()
                            .map(|_| Err(io::Error::new(e.kind(), e.to_string()))),
                    );
                }
                Err(e) => {
                    out.extend(
                        group
                            .iter()
                            .map(|_| Err(io::Error::new(e.kind(), e.to_string()))),
                    );
                }
            }
        }
        out
    }

    fn deliver(
        &self,
        device: DeviceId,
        delivery: &Delivery,
        timeout: Duration,
    ) -> io::Result<DeliveryOutcome> {
        let (reply, answer) = std_mpsc::channel();
        self.commands
            .send(Command::Deliver {
                device,
                request: DeliverRequest(delivery.clone()),
                reply,
            })
            .map_err(|_| io::Error::other("the p2p node has stopped"))?;
        match answer.recv_timeout(timeout) {
            Ok(Ok(DeliverResponse::Done(outcome))) => Ok(outcome),
            Ok(Ok(DeliverResponse::Failed(why))) => Err(io::Error::other(why)),
            Ok(Ok(DeliverResponse::Refused(why))) => Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("refused: {why}"),
            )),
            Ok(Err(why)) => Err(io::Error::other(why)),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time")),
        }
    }

    fn list(
        &self,
        device: DeviceId,
        location: u128,
        path: &[u8],
        timeout: Duration,
    ) -> io::Result<Vec<LiveEntry>> {
        let request = ChunkRequest::List {
            location,
            path: path.to_vec(),
        };
        let answer = self
            .ask(device, vec![request], timeout)
            .pop()
            .unwrap_or_else(|| Err(io::Error::other("no answer")))?;
        match answer {
            ChunkResponse::Listing(entries) => Ok(entries),
            other => Err(unexpected(other)),
        }
    }
}
