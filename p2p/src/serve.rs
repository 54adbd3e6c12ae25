//! Answering other devices: pages of our index and chunks of our files.
//! A request from a peer that is not paired is refused before any lookup;
//! the work itself runs on the blocking pool, so a slow disk never stalls
//! the swarm.

use libp2p::PeerId;
use libp2p::request_response::{self, ResponseChannel};

use crate::node::{Internal, State};
use sdfs_core::remote::FileRef;

use crate::protocol::{ChunkRequest, ChunkResponse, MAX_RANGES, SyncRequest, SyncResponse};

impl State {
    pub(crate) fn is_paired(&self, peer: &PeerId) -> bool {
        self.admission
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .paired
            .contains(peer)
    }

    pub(crate) fn on_sync(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.serve_pull(peer, request, channel),
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => self.on_pull_response(peer, request_id, response),
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => self.on_pull_failure(request_id, &error.to_string()),
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!("p2p: sync request from {peer} failed: {error}");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn serve_pull(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        if !self.is_paired(&peer) {
            tracing::warn!("p2p: refused a sync request from unpaired {peer}");
            let _ = self
                .swarm
                .behaviour_mut()
                .sync
                .send_response(channel, SyncResponse::Refused("not paired".into()));
            return;
        }
        if request == SyncRequest::Changed {
            self.poke(peer);
            let _ = self
                .swarm
                .behaviour_mut()
                .sync
                .send_response(channel, SyncResponse::Noted);
            return;
        }
        let lib = std::sync::Arc::clone(&self.lib);
        let internal = self.internal.clone();
        let from = self.paired_devices.get(&peer).copied();
        let paired: Vec<_> = self.paired_devices.values().copied().collect();
        tokio::task::spawn_blocking(move || {
            let response = match request {
                SyncRequest::Pull(pull) => match sdfs_core::sync::owner::page(lib.db(), &pull) {
                    Ok(page) => SyncResponse::Page(page),
                    Err(e) => SyncResponse::Refused(e.to_string()),
                },
                SyncRequest::Shared { have } => {
                    use sdfs_core::shared::store;
                    // What the peer holds is its acknowledgement.
                    if let Some(from) = from
                        && let Err(e) = store::acknowledge(lib.db(), from, &have, &paired)
                    {
                        tracing::warn!("p2p: acknowledging shared data: {e}");
                    }
                    match store::ops_after(lib.db(), &have, sdfs_core::shared::OPS_PER_PAGE) {
                        Ok((ops, more)) => SyncResponse::Shared { ops, more },
                        Err(e) => SyncResponse::Refused(e.to_string()),
                    }
                }
                // Answered above, without the blocking pool.
                SyncRequest::Changed => SyncResponse::Noted,
            };
            let _ = internal.send(Internal::SyncAnswer(channel, response));
        });
    }

    pub(crate) fn on_chunks(
        &mut self,
        event: request_response::Event<ChunkRequest, ChunkResponse>,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.serve_chunk(peer, request, channel),
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => self.on_fetched(request_id, Ok(response)),
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => self.on_fetched(request_id, Err(error.to_string())),
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!("p2p: chunk request from {peer} failed: {error}");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn serve_chunk(
        &mut self,
        peer: PeerId,
        request: ChunkRequest,
        channel: ResponseChannel<ChunkResponse>,
    ) {
        if !self.is_paired(&peer) {
            tracing::warn!("p2p: refused a chunk request from unpaired {peer}");
            let _ = self
                .swarm
                .behaviour_mut()
                .chunks
                .send_response(channel, ChunkResponse::Refused("not paired".into()));
            return;
        }
        let content = std::sync::Arc::clone(&self.content);
        let internal = self.internal.clone();
        let asker = self.paired_devices.get(&peer).copied();
        tokio::task::spawn_blocking(move || {
            let ranges = |file: &FileRef, ranges: &[(u64, u32)]| {
                if ranges.len() > MAX_RANGES {
                    return Err(sdfs_core::Error::InvalidInput(format!(
                        "more than {MAX_RANGES} chunks in one request"
                    )));
                }
                let chunks = match (file, asker) {
                    // A change being delivered: only to the device it is for.
                    (FileRef::Staged(id), Some(asker)) => {
                        content.outbox().serve(asker, *id, ranges)?
                    }
                    _ => content.serve_chunks(file, ranges)?,
                };
                Ok(ChunkResponse::Chunks(
                    chunks.into_iter().map(bytes::Bytes::from).collect(),
                ))
            };
            let result = match request {
                ChunkRequest::Manifest { entry } => content
                    .serve_manifest(&FileRef::Entry(entry))
                    .map(ChunkResponse::Manifest),
                ChunkRequest::ManifestOf { file } => {
                    content.serve_manifest(&file).map(ChunkResponse::Manifest)
                }
                ChunkRequest::Chunk {
                    entry,
                    offset,
                    length,
                } => content
                    .serve_chunk(&FileRef::Entry(entry), offset, length)
                    .map(|chunk| ChunkResponse::Chunk(chunk.into())),
                ChunkRequest::Chunks { entry, ranges: r } => ranges(&FileRef::Entry(entry), &r),
                ChunkRequest::ChunksOf { file, ranges: r } => ranges(&file, &r),
                ChunkRequest::List { location, path } => content
                    .serve_listing(location, &path)
                    .map(ChunkResponse::Listing),
            };
            let response = result.unwrap_or_else(|e| {
                tracing::info!("p2p: {peer}: {e}");
                ChunkResponse::Refused(e.to_string())
            });
            let _ = internal.send(Internal::ChunkAnswer(channel, response));
        });
    }
}
