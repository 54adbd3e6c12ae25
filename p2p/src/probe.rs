//! `sd debug probe`: one request to a device at an address, as this
//! library's identity, reporting exactly what came back. It speaks the
//! real protocols with their real framing, and can also send raw bytes
//! (malformed or oversized frames) to check that a device ends the request
//! and keeps serving. Diagnostics for users, and the security tests' client.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, StreamProtocol, noise, tcp, yamux};
use serde::Serialize;

use crate::protocol::{
    CHUNKS_PROTOCOL, ChunkRequest, ChunkResponse, MAX_CHUNK_MESSAGE, SYNC_PROTOCOL, SyncRequest,
    SyncResponse,
};

/// What to ask.
#[derive(Clone, Debug)]
pub enum Probe {
    /// A pull from the start: the whole index, first page.
    Pull,
    /// An announcement that something changed.
    Changed,
    Manifest {
        entry: u64,
    },
    Chunk {
        entry: u64,
        offset: u64,
        length: u32,
    },
    /// A live listing of `path` below location `location`.
    List {
        location: u128,
        path: Vec<u8>,
    },
    /// A chunk of the file at `path` below location `location`.
    ChunkAt {
        location: u128,
        path: Vec<u8>,
        offset: u64,
        length: u32,
    },
    /// These bytes, verbatim, on the sync or the chunk protocol.
    Raw {
        chunks: bool,
        bytes: Vec<u8>,
    },
}

/// What came back.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProbeOutcome {
    /// `answered`, `refused` (by the device, with a reason), `closed` (the
    /// device ended the request or the connection), `unreachable`.
    pub outcome: String,
    pub detail: String,
    /// Items of a page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<usize>,
    /// Bytes of a chunk or manifest, and their BLAKE3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
}

impl ProbeOutcome {
    fn new(outcome: &str, detail: impl Into<String>) -> ProbeOutcome {
        ProbeOutcome {
            outcome: outcome.into(),
            detail: detail.into(),
            ..ProbeOutcome::default()
        }
    }
}

/// Frames written and read as they are.
#[derive(Clone, Default)]
struct Raw;

#[async_trait::async_trait]
impl request_response::Codec for Raw {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        read_all(io).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        read_all(io).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> std::io::Result<()> {
        io.write_all(&req).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> std::io::Result<()> {
        io.write_all(&res).await?;
        io.close().await
    }
}

async fn read_all<T: AsyncRead + Unpin + Send>(io: &mut T) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    io.take(MAX_CHUNK_MESSAGE as u64 + 8)
        .read_to_end(&mut out)
        .await?;
    Ok(out)
}

#[derive(NetworkBehaviour)]
struct ProbeBehaviour {
    sync: request_response::Behaviour<Raw>,
    chunks: request_response::Behaviour<Raw>,
}

fn frame<T: Serialize>(message: &T) -> Result<Vec<u8>> {
    let body = postcard::to_stdvec(message)?;
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend(body);
    Ok(out)
}

fn unframe(bytes: &[u8]) -> Option<&[u8]> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    bytes.get(4..4 + len)
}

/// Sends `probe` to the device at `addr` as the identity of the library at
/// `lib_dir`, waiting at most `timeout`.
pub fn probe(
    lib_dir: &Path,
    addr: Multiaddr,
    probe: Probe,
    timeout: Duration,
) -> Result<ProbeOutcome> {
    let key = crate::identity::load_or_create(lib_dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let config = || request_response::Config::default().with_request_timeout(timeout);
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )?
            .with_behaviour(|_| ProbeBehaviour {
                sync: request_response::Behaviour::new(
                    [(SYNC_PROTOCOL, ProtocolSupport::Outbound)],
                    config(),
                ),
                chunks: request_response::Behaviour::new(
                    [(CHUNKS_PROTOCOL, ProtocolSupport::Outbound)],
                    config(),
                ),
            })?
            .with_swarm_config(|c| c.with_idle_connection_timeout(timeout))
            .build();
        swarm
            .dial(addr.clone())
            .with_context(|| format!("dialling {addr}"))?;
        let (chunks, bytes) = match &probe {
            Probe::Pull => (
                false,
                frame(&SyncRequest::Pull(sdfs_core::sync::Pull {
                    after: Default::default(),
                    limit: sdfs_core::sync::PAGE_ITEMS,
                    resync: None,
                }))?,
            ),
            Probe::Changed => (false, frame(&SyncRequest::Changed)?),
            Probe::Manifest { entry } => (true, frame(&ChunkRequest::Manifest { entry: *entry })?),
            Probe::Chunk {
                entry,
                offset,
                length,
            } => (
                true,
                frame(&ChunkRequest::Chunk {
                    entry: *entry,
                    offset: *offset,
                    length: *length,
                })?,
            ),
            Probe::List { location, path } => (
                true,
                frame(&ChunkRequest::List {
                    location: *location,
                    path: path.clone(),
                })?,
            ),
            Probe::ChunkAt {
                location,
                path,
                offset,
                length,
            } => (
                true,
                frame(&ChunkRequest::ChunksOf {
                    file: sdfs_core::remote::FileRef::Path {
                        location: *location,
                        path: path.clone(),
                    },
                    ranges: vec![(*offset, *length)],
                })?,
            ),
            Probe::Raw { chunks, bytes } => (*chunks, bytes.clone()),
        };
        let mut request = Some(bytes);
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            let event = tokio::select! {
                event = swarm.select_next_some() => event,
                _ = &mut deadline => return Ok(ProbeOutcome::new("closed", "no answer in time")),
            };
            match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    if let Some(bytes) = request.take() {
                        let b = swarm.behaviour_mut();
                        if chunks {
                            b.chunks.send_request(&peer_id, bytes);
                        } else {
                            b.sync.send_request(&peer_id, bytes);
                        }
                    }
                }
                SwarmEvent::OutgoingConnectionError { error, .. } => {
                    return Ok(ProbeOutcome::new("unreachable", error.to_string()));
                }
                SwarmEvent::ConnectionClosed { cause, .. } => {
                    return Ok(ProbeOutcome::new(
                        "closed",
                        format!("the device closed the connection ({cause:?})"),
                    ));
                }
                SwarmEvent::Behaviour(ProbeBehaviourEvent::Sync(event))
                | SwarmEvent::Behaviour(ProbeBehaviourEvent::Chunks(event)) => match event {
                    request_response::Event::Message {
                        message: request_response::Message::Response { response, .. },
                        ..
                    } => return Ok(describe(chunks, &response)),
                    request_response::Event::OutboundFailure { error, .. } => {
                        return Ok(ProbeOutcome::new("closed", error.to_string()));
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    })
}

fn describe(chunks: bool, response: &[u8]) -> ProbeOutcome {
    let Some(body) = unframe(response) else {
        return ProbeOutcome::new("closed", "an answer that is not a frame");
    };
    let hashed = |bytes: &[u8], what: &str| ProbeOutcome {
        bytes: Some(bytes.len()),
        blake3: Some(blake3::hash(bytes).to_hex().to_string()),
        ..ProbeOutcome::new("answered", what)
    };
    if chunks {
        match postcard::from_bytes::<ChunkResponse>(body) {
            Ok(ChunkResponse::Chunk(bytes)) => hashed(&bytes, "chunk"),
            Ok(ChunkResponse::Manifest(bytes)) => hashed(&bytes, "manifest"),
            Ok(ChunkResponse::Chunks(all)) => hashed(
                &all.iter()
                    .flat_map(|b| b.iter().copied())
                    .collect::<Vec<u8>>(),
                "chunks",
            ),
            Ok(ChunkResponse::Listing(entries)) => ProbeOutcome {
                items: Some(entries.len()),
                ..ProbeOutcome::new("answered", "listing")
            },
            Ok(ChunkResponse::Refused(reason)) => ProbeOutcome::new("refused", reason),
            Err(e) => ProbeOutcome::new("closed", format!("undecodable answer: {e}")),
        }
    } else {
        match postcard::from_bytes::<SyncResponse>(body) {
            Ok(SyncResponse::Page(page)) => ProbeOutcome {
                items: Some(page.items()),
                ..ProbeOutcome::new("answered", "page")
            },
            Ok(SyncResponse::Shared { ops, .. }) => ProbeOutcome {
                items: Some(ops.len()),
                ..ProbeOutcome::new("answered", "shared operations")
            },
            Ok(SyncResponse::Refused(reason)) => ProbeOutcome::new("refused", reason),
            Ok(SyncResponse::Noted) => ProbeOutcome::new("answered", "noted"),
            Err(e) => ProbeOutcome::new("closed", format!("undecodable answer: {e}")),
        }
    }
}

/// Parses `pull`, `changed`, `manifest ENTRY`, `chunk ENTRY OFFSET LENGTH`,
/// `list LOCATION [PATH]`, `chunk-at LOCATION PATH OFFSET LENGTH`,
/// `raw sync|chunks HEX`.
pub fn parse(words: &[String]) -> Result<Probe> {
    let num = |i: usize| -> Result<u64> {
        words
            .get(i)
            .context("missing a number")?
            .parse()
            .with_context(|| format!("{:?}: not a number", words[i]))
    };
    let location = |i: usize| -> Result<u128> {
        let text = words.get(i).context("a location id")?;
        Ok(text
            .parse::<sdfs_core::ids::LocationId>()
            .map_err(|e| anyhow!("{text:?}: {e}"))?
            .0
            .as_u128())
    };
    match words.first().map(String::as_str) {
        Some("pull") => Ok(Probe::Pull),
        Some("changed") => Ok(Probe::Changed),
        Some("manifest") => Ok(Probe::Manifest { entry: num(1)? }),
        Some("chunk") => Ok(Probe::Chunk {
            entry: num(1)?,
            offset: num(2)?,
            length: u32::try_from(num(3)?).context("length")?,
        }),
        Some("list") => Ok(Probe::List {
            location: location(1)?,
            path: words
                .get(2)
                .map(|p| p.as_bytes().to_vec())
                .unwrap_or_default(),
        }),
        Some("chunk-at") => Ok(Probe::ChunkAt {
            location: location(1)?,
            path: words.get(2).context("PATH")?.as_bytes().to_vec(),
            offset: num(3)?,
            length: u32::try_from(num(4)?).context("length")?,
        }),
        Some("raw") => {
            let chunks = match words.get(1).map(String::as_str) {
                Some("sync") => false,
                Some("chunks") => true,
                _ => return Err(anyhow!("raw sync|chunks HEX")),
            };
            let hex = words.get(2).context("raw sync|chunks HEX")?;
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
                .collect::<Result<Vec<u8>, _>>()
                .context("HEX: pairs of hex digits")?;
            Ok(Probe::Raw { chunks, bytes })
        }
        _ => Err(anyhow!(
            "what to send: pull | changed | manifest ENTRY | chunk ENTRY OFFSET LENGTH | list LOCATION [PATH] | chunk-at LOCATION PATH OFFSET LENGTH | raw sync|chunks HEX"
        )),
    }
}
