//! The messages of `/sdfs/sync/1` and `/sdfs/chunks/1`. Only paired devices
//! get answers; anyone else is refused before any lookup.

use libp2p::StreamProtocol;
use sdfs_core::shared::{SharedOp, VersionVector};
use sdfs_core::sync::{MAX_SYNC_MESSAGE, Page, Pull};
use serde::{Deserialize, Serialize};

pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/sdfs/sync/1");
pub const CHUNKS_PROTOCOL: StreamProtocol = StreamProtocol::new("/sdfs/chunks/1");

/// A manifest up to this size (about 460,000 chunks, tens of GiB) travels;
/// a larger file is not served remotely yet.
pub const MAX_CHUNK_MESSAGE: usize = 16 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// Device-owned data after these watermarks.
    Pull(Pull),
    /// Shared operations this device lacks, given what it holds.
    Shared { have: VersionVector },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    Page(Page),
    Shared { ops: Vec<SharedOp>, more: bool },
    Refused(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChunkRequest {
    /// The manifest of the owner's file `entry`.
    Manifest { entry: u64 },
    /// `length` bytes of file `entry` at `offset`: one chunk.
    Chunk {
        entry: u64,
        offset: u64,
        length: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChunkResponse {
    Manifest(Vec<u8>),
    Chunk(Vec<u8>),
    Refused(String),
}

pub type SyncCodec = crate::codec::Postcard<SyncRequest, SyncResponse, MAX_SYNC_MESSAGE>;
pub type ChunkCodec = crate::codec::Postcard<ChunkRequest, ChunkResponse, MAX_CHUNK_MESSAGE>;
