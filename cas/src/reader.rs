//! Reading content by its manifest: each chunk comes from the hot cache, the
//! on-disk store or a source, and nothing leaves here unverified.

use std::sync::Arc;

use bytes::Bytes;

use crate::cache::HotCache;
use crate::id::{ChunkId, FileHash};
use crate::manifest::{ChunkRef, Manifest};
use crate::store::{FsChunkStore, StoreError};

mod staging;

/// Somewhere a chunk can come from: a local file with the content, a peer, a
/// bucket. What it returns is checked by the reader, never trusted.
pub trait ChunkSource: Send + Sync {
    /// For logs and errors ("/home/me/a.txt", "peer nas").
    fn describe(&self) -> String;

    /// The bytes at `chunk`'s place in the content. `Bytes`, so a chunk
    /// that arrived inside a larger message is a slice of it, not a copy.
    fn fetch(&self, chunk: &ChunkRef) -> std::io::Result<Bytes>;

    /// Several chunks at once; a remote source asks for them in parallel.
    /// Results are in the order of `chunks`.
    fn fetch_many(&self, chunks: &[ChunkRef]) -> Vec<std::io::Result<Bytes>> {
        chunks.iter().map(|c| self.fetch(c)).collect()
    }

    /// `fetch` returned bytes that hash to `actual`, not to the chunk's id:
    /// the source has changed or lies. The reader tries the next source.
    fn mismatch(&self, chunk: &ChunkRef, actual: ChunkId) {
        let _ = (chunk, actual);
    }
}

/// Why content could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No source had a chunk whose bytes match its id.
    #[error("chunk {chunk} of {file}: no source could serve it (tried: {})", tried.join("; "))]
    Unavailable {
        file: FileHash,
        chunk: ChunkId,
        tried: Vec<String>,
    },
    /// The on-disk store failed (not a corrupt chunk: those are refetched).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a reader does with chunks fetched from its sources.
#[derive(Clone, Debug)]
pub enum Keep {
    /// Nothing beyond the hot cache (a local file needs no second copy).
    No,
    /// Stores them before returning (pin repair: they must be there).
    Now,
    /// Hands them to a [`Keeper`](crate::Keeper), which stores them in
    /// batches in the background (remote reads: the network is the wait).
    Later(crate::store::Keeper),
}

/// Reads one content. With read-ahead, the chunks past the reader are
/// fetched in the background, several batches at once, while the reader
/// consumes the ones before them: a sequential read keeps the network busy
/// instead of paying one round trip per batch.
pub struct ContentReader {
    fetcher: Arc<Fetcher>,
    /// Chunks kept fetched or in flight past the read position (remote
    /// sources, where a round trip costs more than a chunk); 0 for none.
    readahead: usize,
    ahead: std::sync::Mutex<Ahead>,
}

/// Chunks fetched by one background batch (about 1 MiB): small enough that
/// the first ones arrive soon, large enough to keep requests few.
const AHEAD_BATCH: usize = 16;

/// The read-ahead in flight.
#[derive(Default)]
struct Ahead {
    /// Chunks before this index were asked for.
    end: usize,
    running: Vec<std::thread::JoinHandle<()>>,
}

/// What fetches and verifies chunks; shared with read-ahead threads.
struct Fetcher {
    manifest: Arc<Manifest>,
    sources: Vec<Arc<dyn ChunkSource>>,
    cache: HotCache,
    store: Option<Arc<FsChunkStore>>,
    keep: Keep,
    staging: staging::Staging,
}

impl std::fmt::Debug for ContentReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentReader")
            .field("file", &self.fetcher.manifest.hash())
            .field("sources", &self.fetcher.sources.len())
            .finish_non_exhaustive()
    }
}

/// Once a reader that keeps fetched chunks is closed, its content may be
/// whole in the store: the keeper then writes it out as one file, which
/// later opens read directly.
impl Drop for ContentReader {
    fn drop(&mut self) {
        if let Keep::Later(keeper) = &self.fetcher.keep {
            keeper.assemble(Arc::clone(&self.fetcher.manifest));
        }
    }
}

impl ContentReader {
    pub fn new(
        manifest: Arc<Manifest>,
        sources: Vec<Arc<dyn ChunkSource>>,
        cache: HotCache,
        store: Option<Arc<FsChunkStore>>,
        keep: Keep,
    ) -> ContentReader {
        ContentReader {
            fetcher: Arc::new(Fetcher {
                manifest,
                sources,
                cache,
                store,
                keep,
                staging: Default::default(),
            }),
            readahead: 0,
            ahead: std::sync::Mutex::new(Ahead::default()),
        }
    }

    /// Keeps up to `chunks` chunks past each read fetched or in flight.
    pub fn with_readahead(mut self, chunks: usize) -> ContentReader {
        self.readahead = chunks;
        self
    }

    pub fn manifest(&self) -> &Arc<Manifest> {
        &self.fetcher.manifest
    }

    /// The verified bytes of one chunk of this content.
    pub fn chunk(&self, chunk: &ChunkRef) -> Result<Bytes, ReadError> {
        self.fetcher.chunk(chunk)
    }

    /// Fills `buf` from `offset`, fetching only the chunks the range needs
    /// (and, with read-ahead, the next ones in the background).
    /// Returns the bytes written (fewer than `buf.len()` only at the end).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, ReadError> {
        let manifest = &self.fetcher.manifest;
        let range = manifest.chunks_for(offset, buf.len() as u64);
        if range.is_empty() {
            // At or past the end (or nothing asked): no read-ahead either.
            return Ok(0);
        }
        if self.readahead > 0 {
            // The chunks after this read start coming while the missing
            // ones of this read are fetched, in one batch (those already
            // on their way are waited for below, not asked for again).
            self.read_ahead(range.end);
            self.fetcher.prefetch(range.clone())?;
        }
        let mut written = 0;
        for index in range.clone() {
            let chunk = manifest.chunks()[index];
            let bytes = match self.fetcher.staging.get(index) {
                Some(bytes) => bytes,
                None => self.fetcher.chunk(&chunk)?,
            };
            let pos = offset + written as u64;
            let from = (pos - chunk.offset) as usize;
            let n = (bytes.len() - from).min(buf.len() - written);
            buf[written..written + n].copy_from_slice(&bytes[from..from + n]);
            written += n;
        }
        if self.readahead > 0 {
            // Reads of one file run side by side and finish out of order:
            // what lies just before this one may still be wanted.
            self.fetcher
                .staging
                .drop_before(range.start.saturating_sub(AHEAD_BATCH));
        }
        Ok(written)
    }

    fn lock_ahead(&self) -> std::sync::MutexGuard<'_, Ahead> {
        self.ahead.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps the chunks up to `readahead` past `end` asked for, in batches
    /// of [`AHEAD_BATCH`] running side by side; a batch starts once a whole
    /// one fits in the window (or the content ends).
    fn read_ahead(&self, end: usize) {
        let total = self.fetcher.manifest.chunks().len();
        let mut ahead = self.lock_ahead();
        // A finished batch has staged what it got; its thread is gone.
        ahead.running.retain(|h| !h.is_finished());
        // A seek: forward past what was asked for, or back out of the window.
        if ahead.end < end || ahead.end > end + self.readahead {
            ahead.end = end;
        }
        let limit = (end + self.readahead).min(total);
        let parallel = (self.readahead / AHEAD_BATCH).max(1);
        while ahead.running.len() < parallel && ahead.end < limit {
            let from = ahead.end;
            let to = (from + AHEAD_BATCH).min(limit);
            if to - from < AHEAD_BATCH && limit < total {
                break;
            }
            let fetcher = Arc::clone(&self.fetcher);
            let spawned = std::thread::Builder::new()
                .name("sd-readahead".into())
                .spawn(move || {
                    if let Err(e) = fetcher.prefetch(from..to) {
                        tracing::debug!("read-ahead: {e}");
                    }
                });
            match spawned {
                Ok(handle) => {
                    ahead.end = to;
                    ahead.running.push(handle);
                }
                Err(_) => break,
            }
        }
    }
}

impl Fetcher {
    /// Fetches the chunks of `range` that are neither cached nor stored, in
    /// one batch per source, keeping those that verify. What fails here is
    /// tried again (and reported) chunk by chunk by the read itself.
    fn prefetch(&self, range: std::ops::Range<usize>) -> Result<(), ReadError> {
        let all = self.manifest.chunks();
        let mut wanted: Vec<(usize, ChunkRef)> = Vec::new();
        for (index, chunk) in range.clone().zip(&all[range]) {
            if self.staging.has(index) || self.cache.contains(&chunk.id) {
                continue;
            }
            if let Some(store) = &self.store
                && store.contains(&chunk.id)?
            {
                continue;
            }
            wanted.push((index, *chunk));
        }
        // Released when this returns, fetched or not.
        let claim = self.staging.claim(wanted);
        let mut missing = claim.chunks().to_vec();
        if missing.is_empty() {
            return Ok(());
        }
        for source in &self.sources {
            let refs: Vec<ChunkRef> = missing.iter().map(|(_, c)| *c).collect();
            let results = source.fetch_many(&refs);
            let mut good: Vec<(usize, ChunkId, Bytes)> = Vec::new();
            let mut still = Vec::new();
            for (&(index, chunk), result) in missing.iter().zip(results) {
                match result {
                    Ok(bytes) if bytes.len() == chunk.length as usize => {
                        let actual = ChunkId::of(&bytes);
                        if actual == chunk.id {
                            good.push((index, chunk.id, bytes));
                        } else {
                            source.mismatch(&chunk, actual);
                            still.push((index, chunk));
                        }
                    }
                    _ => still.push((index, chunk)),
                }
            }
            if let (Keep::Now, Some(store)) = (&self.keep, &self.store)
                && !good.is_empty()
            {
                let batch: Vec<(ChunkId, &[u8])> =
                    good.iter().map(|(_, id, b)| (*id, &b[..])).collect();
                store.put_batch(&batch)?;
            }
            for (index, id, bytes) in good {
                let bytes = self.fetched(id, bytes);
                self.staging.stage(index, bytes);
            }
            if still.is_empty() {
                break;
            }
            missing = still;
        }
        Ok(())
    }

    /// A chunk a source sent and that matched its id: counted, cached and,
    /// with [`Keep::Later`], handed to the keeper ([`Keep::Now`] stored it
    /// already).
    fn fetched(&self, id: ChunkId, bytes: Bytes) -> Bytes {
        if let Keep::Later(keeper) = &self.keep {
            keeper.keep(id, bytes.clone());
        }
        self.cache.count_fetch();
        self.cache.insert(id, bytes.clone());
        bytes
    }

    /// The verified bytes of one chunk of this content.
    fn chunk(&self, chunk: &ChunkRef) -> Result<Bytes, ReadError> {
        if let Some(bytes) = self.cache.get(&chunk.id) {
            return Ok(bytes);
        }
        if let Some(store) = &self.store {
            match store.get(&chunk.id) {
                Ok(Some(bytes)) => {
                    // `get` verified them.
                    let bytes = Bytes::from(bytes);
                    self.cache.count_disk_hit();
                    self.cache.insert(chunk.id, bytes.clone());
                    return Ok(bytes);
                }
                Ok(None) | Err(StoreError::Corrupt { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut tried = Vec::new();
        for source in &self.sources {
            match source.fetch(chunk) {
                Ok(bytes) => {
                    let actual = ChunkId::of(&bytes);
                    if actual != chunk.id || bytes.len() != chunk.length as usize {
                        tracing::warn!(
                            "{} sent chunk {} with bytes hashing to {actual}; trying elsewhere",
                            source.describe(),
                            chunk.id
                        );
                        source.mismatch(chunk, actual);
                        tried.push(format!("{}: wrong bytes", source.describe()));
                        continue;
                    }
                    if let (Keep::Now, Some(store)) = (&self.keep, &self.store) {
                        store.put_batch(&[(chunk.id, &bytes)])?;
                    }
                    return Ok(self.fetched(chunk.id, bytes));
                }
                Err(e) => tried.push(format!("{}: {e}", source.describe())),
            }
        }
        if tried.is_empty() {
            tried.push("no source".into());
        }
        Err(ReadError::Unavailable {
            file: self.manifest.hash(),
            chunk: chunk.id,
            tried,
        })
    }
}
