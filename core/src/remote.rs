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
    /// A staging file of the device's outbox, being delivered to the asker
    /// (served only to the device the change is for).
    Staged(u64),
}

/// A staged change, sent to the device that owns the file (SPEC §4). The
/// owner checks it against its own policy and files, fetches the chunks it
/// lacks of a new content ([`FileRef::Staged`]), verifies each, and
/// answers only once the change is durable there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub location: u128,
    /// Below the location's root, `/`-separated plain names.
    #[serde(with = "serde_bytes")]
    pub path: Vec<u8>,
    pub change: DeliveredChange,
    /// What the sender's change was based on: the owner's version then.
    pub base: Option<crate::outbox::Version>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveredChange {
    /// New content: its manifest, and the staging file the owner fetches
    /// the chunks it lacks from.
    File {
        #[serde(with = "serde_bytes")]
        manifest: Vec<u8>,
        staged: u64,
        mode: u32,
        mtime: i64,
    },
    /// New content carried whole: a small file (at most
    /// [`INLINE_DELIVERY`]) or a new one of a few MiB, which the owner has
    /// no earlier version of to share chunks with. Its BLAKE3 is the check,
    /// so neither side cuts it into chunks.
    Whole {
        hash: [u8; 32],
        mode: u32,
        mtime: i64,
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    Attrs {
        mode: u32,
        mtime: i64,
    },
    Directory {
        mode: u32,
        mtime: i64,
    },
    Removed,
}

/// Files up to this size travel inside their delivery: one round trip,
/// not two.
pub const INLINE_DELIVERY: u64 = 256 * 1024;

/// What the owner did with a [`Delivery`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryOutcome {
    /// Applied; the owner now has this version under the name.
    Applied(crate::outbox::Version),
    /// The owner had changed its file meanwhile: it kept its version and
    /// saved the incoming one beside it under this name.
    Conflict(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A removal of a file the owner had changed meanwhile: the edit stays.
    KeptEdit,
    /// The owner will not take it (remote writes off, a bad path): why.
    Refused(String),
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

    /// Hands `delivery` to its owner and waits for what it did, at most
    /// `timeout` (the owner fetches a new content's chunks meanwhile).
    fn deliver(
        &self,
        device: DeviceId,
        delivery: &Delivery,
        timeout: Duration,
    ) -> io::Result<DeliveryOutcome> {
        let _ = (device, delivery, timeout);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this link cannot deliver changes",
        ))
    }
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
