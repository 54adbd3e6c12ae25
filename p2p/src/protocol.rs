//! The messages of `/sdfs/sync/1` and `/sdfs/chunks/1`. Only paired devices
//! get answers; anyone else is refused before any lookup.

use libp2p::StreamProtocol;
use sdfs_core::remote::{FileRef, LiveEntry};
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
    /// Something the sender owns or relays changed: pull now rather than
    /// at the next scheduled pull. Answered with [`SyncResponse::Noted`].
    Changed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    Page(Page),
    Shared { ops: Vec<SharedOp>, more: bool },
    Refused(String),
    Noted,
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
    /// Several chunks of file `entry` as (offset, length), at most
    /// [`MAX_RANGES`]: fewer streams and round trips for a read-ahead.
    Chunks { entry: u64, ranges: Vec<(u64, u32)> },
    /// The manifest of `file` (an entry, or a path the owner's rules skip).
    ManifestOf { file: FileRef },
    /// Several chunks of `file`, at most [`MAX_RANGES`].
    ChunksOf {
        file: FileRef,
        ranges: Vec<(u64, u32)>,
    },
    /// What the owner's index lacks of directory `path` of `location`.
    List {
        location: u128,
        #[serde(with = "serde_bytes")]
        path: Vec<u8>,
    },
}

/// Chunks per [`ChunkRequest::Chunks`] (at most 4 MiB of the largest
/// chunks, well under the message bound).
pub const MAX_RANGES: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChunkResponse {
    // Bytes as one run, not a sequence of u8 (same wire form, ~50× faster).
    Manifest(#[serde(with = "serde_bytes")] Vec<u8>),
    Chunk(#[serde(with = "serde_bytes")] Vec<u8>),
    Chunks(Vec<serde_bytes::ByteBuf>),
    Listing(Vec<LiveEntry>),
    Refused(String),
}

pub type SyncCodec = crate::codec::Postcard<SyncRequest, SyncResponse, MAX_SYNC_MESSAGE>;
pub type ChunkCodec = crate::codec::Postcard<ChunkRequest, ChunkResponse, MAX_CHUNK_MESSAGE>;
