//! The hot cache: verified chunks in memory, bounded by bytes (moka, whose
//! TinyLFU admission keeps a one-off scan from flushing the working set).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use moka::sync::Cache;

use crate::id::ChunkId;

/// Default bound of the hot cache: 256 MiB.
pub const DEFAULT_HOT_BYTES: u64 = 256 * 1024 * 1024;

/// Chunks already checked against their ids, shared by every reader.
#[derive(Clone)]
pub struct HotCache {
    chunks: Cache<ChunkId, Bytes>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    disk_hits: AtomicU64,
    fetched: AtomicU64,
}

/// How chunk lookups went since the cache was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounts {
    /// Served from memory.
    pub hot_hits: u64,
    /// Served from the on-disk store.
    pub disk_hits: u64,
    /// Fetched from a source (a local file, a peer, a bucket).
    pub fetched: u64,
}

impl CacheCounts {
    /// Share of chunk reads the cache (memory or disk) answered.
    pub fn hit_rate(&self) -> f64 {
        let total = self.hot_hits + self.disk_hits + self.fetched;
        if total == 0 {
            0.0
        } else {
            (self.hot_hits + self.disk_hits) as f64 / total as f64
        }
    }
}

impl std::fmt::Debug for HotCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotCache")
            .field("bytes", &self.chunks.weighted_size())
            .finish_non_exhaustive()
    }
}

impl HotCache {
    pub fn new(max_bytes: u64) -> HotCache {
        HotCache {
            chunks: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, bytes: &Bytes| bytes.len().try_into().unwrap_or(u32::MAX))
                .build(),
            counters: Arc::default(),
        }
    }

    /// Whether `id` is cached, without counting a hit.
    pub fn contains(&self, id: &ChunkId) -> bool {
        self.chunks.contains_key(id)
    }

    pub fn get(&self, id: &ChunkId) -> Option<Bytes> {
        let found = self.chunks.get(id);
        if found.is_some() {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Caches bytes the caller has verified against `id`.
    pub fn insert(&self, id: ChunkId, bytes: Bytes) {
        self.chunks.insert(id, bytes);
    }

    pub fn remove(&self, id: &ChunkId) {
        self.chunks.invalidate(id);
    }

    pub(crate) fn count_disk_hit(&self) {
        self.counters.disk_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_fetch(&self) {
        self.counters.fetched.fetch_add(1, Ordering::Relaxed);
    }

    pub fn counts(&self) -> CacheCounts {
        CacheCounts {
            hot_hits: self.counters.hits.load(Ordering::Relaxed),
            disk_hits: self.counters.disk_hits.load(Ordering::Relaxed),
            fetched: self.counters.fetched.load(Ordering::Relaxed),
        }
    }

    /// Bytes held now (after moka's pending maintenance).
    pub fn bytes(&self) -> u64 {
        self.chunks.run_pending_tasks();
        self.chunks.weighted_size()
    }
}
