//! Reaching other devices' content: the [`PeerLink`] the p2p node
//! implements, and the [`PeerSource`] that reads chunks through it. Every
//! byte that comes back is checked by the [`sdfs_cas::ContentReader`] it
//! feeds; nothing here trusts a peer.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sdfs_cas::{ChunkRef, ChunkSource};
use serde::{Deserialize, Serialize};

use crate::ids::DeviceId;
use crate::model::entry::EntryKind;

/// How long a read waits on other devices before it fails with EIO, unless
/// configured otherwise.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// A file of another device: an entry of its index, or (for what its
/// indexer rules skip) a path below one of its locations.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FileRef {
    Entry(u64),
    Path {
        location: u128,
        #[serde(with = "serde_bytes")]
        path: Vec<u8>,
    },
}

/// One child of a directory as the owner's disk shows it right now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveEntry {
    #[serde(with = "serde_bytes")]
    pub name: Vec<u8>,
    pub kind: EntryKind,
    pub size: u64,
    /// Unix nanoseconds.
    pub mtime: i64,
    pub mode: u32,
    #[serde(with = "serde_bytes")]
    pub link_target: Option<Vec<u8>>,
}

/// At most this many children in one live listing.
pub const MAX_LIVE_ENTRIES: usize = 20_000;

/// Requests to a paired device. Calls block for at most `timeout`; a device
/// that is offline or slow yields an error, never a hang.
pub trait PeerLink: Send + Sync {
    /// The owner's manifest of its file `file`, encoded.
    fn manifest(&self, device: DeviceId, file: &FileRef, timeout: Duration) -> io::Result<Vec<u8>>;

    /// The bytes of each chunk of `file`, requested in parallel.
    fn chunks(
        &self,
        device: DeviceId,
        file: &FileRef,
        chunks: &[ChunkRef],
        timeout: Duration,
    ) -> Vec<io::Result<Bytes>>;

    /// The children of directory `path` of `location` that the owner's
    /// index does not have (all of them when the directory itself is not
    /// indexed), as its disk shows them now.
    fn list(
        &self,
        device: DeviceId,
        location: u128,
        path: &[u8],
        timeout: Duration,
    ) -> io::Result<Vec<LiveEntry>>;
}

/// A file of another device as a chunk source.
pub struct PeerSource {
    pub link: Arc<dyn PeerLink>,
    pub device: DeviceId,
    pub device_name: String,
    pub file: FileRef,
    pub timeout: Duration,
}

impl ChunkSource for PeerSource {
    fn describe(&self) -> String {
        format!("device {}", self.device_name)
    }

    fn fetch(&self, chunk: &ChunkRef) -> io::Result<Bytes> {
        self.fetch_many(std::slice::from_ref(chunk))
            .pop()
            .unwrap_or_else(|| Err(io::Error::other("no answer")))
    }

    fn fetch_many(&self, chunks: &[ChunkRef]) -> Vec<io::Result<Bytes>> {
        self.link
            .chunks(self.device, &self.file, chunks, self.timeout)
    }

    fn mismatch(&self, chunk: &ChunkRef, actual: sdfs_cas::ChunkId) {
        tracing::warn!(
            "device {} sent wrong bytes for chunk {} of {:?} (they hash to {actual})",
            self.device_name,
            chunk.id,
            self.file
        );
    }
}
