//! Reaching other devices' content: the [`PeerLink`] the p2p node
//! implements, and the [`PeerSource`] that reads chunks through it. Every
//! byte that comes back is checked by the [`sdfs_cas::ContentReader`] it
//! feeds; nothing here trusts a peer.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use sdfs_cas::{ChunkRef, ChunkSource};

use crate::ids::DeviceId;

/// How long a read waits on other devices before it fails with EIO, unless
/// configured otherwise.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// Requests to a paired device. Calls block for at most `timeout`; a device
/// that is offline or slow yields an error, never a hang.
pub trait PeerLink: Send + Sync {
    /// The owner's manifest of its file `entry`, encoded.
    fn manifest(&self, device: DeviceId, entry: u64, timeout: Duration) -> io::Result<Vec<u8>>;

    /// The bytes of each chunk of `entry`, requested in parallel.
    fn chunks(
        &self,
        device: DeviceId,
        entry: u64,
        chunks: &[ChunkRef],
        timeout: Duration,
    ) -> Vec<io::Result<Vec<u8>>>;
}

/// A file of another device as a chunk source.
pub struct PeerSource {
    pub link: Arc<dyn PeerLink>,
    pub device: DeviceId,
    pub device_name: String,
    pub entry: u64,
    pub timeout: Duration,
}

impl ChunkSource for PeerSource {
    fn describe(&self) -> String {
        format!("device {}", self.device_name)
    }

    fn fetch(&self, chunk: &ChunkRef) -> io::Result<Vec<u8>> {
        self.fetch_many(std::slice::from_ref(chunk))
            .pop()
            .unwrap_or_else(|| Err(io::Error::other("no answer")))
    }

    fn fetch_many(&self, chunks: &[ChunkRef]) -> Vec<io::Result<Vec<u8>>> {
        self.link
            .chunks(self.device, self.entry, chunks, self.timeout)
    }

    fn mismatch(&self, chunk: &ChunkRef, actual: sdfs_cas::ChunkId) {
        tracing::warn!(
            "device {} sent wrong bytes for chunk {} of entry {} (they hash to {actual})",
            self.device_name,
            chunk.id,
            self.entry
        );
    }
}
