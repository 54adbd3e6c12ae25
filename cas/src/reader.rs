//! Reading content by its manifest: each chunk comes from the hot cache, the
//! on-disk store or a source, and nothing leaves here unverified.

use std::sync::Arc;

use crate::cache::HotCache;
use crate::id::{ChunkId, FileHash};
use crate::manifest::{ChunkRef, Manifest};
use crate::store::{FsChunkStore, StoreError};

/// Somewhere a chunk can come from: a local file with the content, a peer, a
/// bucket. What it returns is checked by the reader, never trusted.
pub trait ChunkSource: Send + Sync {
    /// For logs and errors ("/home/me/a.txt", "peer nas").
    fn describe(&self) -> String;

    /// The bytes at `chunk`'s place in the content.
    fn fetch(&self, chunk: &ChunkRef) -> std::io::Result<Vec<u8>>;

    /// Several chunks at once; a remote source asks for them in parallel.
    /// Results are in the order of `chunks`.
    fn fetch_many(&self, chunks: &[ChunkRef]) -> Vec<std::io::Result<Vec<u8>>> {
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

/// Reads one content.
pub struct ContentReader {
    manifest: Arc<Manifest>,
    sources: Vec<Arc<dyn ChunkSource>>,
    cache: HotCache,
    store: Option<Arc<FsChunkStore>>,
    /// Write chunks fetched from sources to the on-disk store (remote
    /// content; a local file needs no second copy).
    keep_on_disk: bool,
    /// Chunks past the requested range fetched along with it (remote
    /// sources, where a round trip costs more than a chunk).
    readahead: usize,
}

impl std::fmt::Debug for ContentReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentReader")
            .field("file", &self.manifest.hash())
            .field("sources", &self.sources.len())
            .finish_non_exhaustive()
    }
}

impl ContentReader {
    pub fn new(
        manifest: Arc<Manifest>,
        sources: Vec<Arc<dyn ChunkSource>>,
        cache: HotCache,
        store: Option<Arc<FsChunkStore>>,
        keep_on_disk: bool,
    ) -> ContentReader {
        ContentReader {
            manifest,
            sources,
            cache,
            store,
            keep_on_disk,
            readahead: 0,
        }
    }

    /// Fetches up to `chunks` chunks beyond each read's range together with
    /// the range's own missing chunks, in one batch per source.
    pub fn with_readahead(mut self, chunks: usize) -> ContentReader {
        self.readahead = chunks;
        self
    }

    pub fn manifest(&self) -> &Arc<Manifest> {
        &self.manifest
    }

    /// Fills `buf` from `offset`, fetching only the chunks the range needs.
    /// Returns the bytes written (fewer than `buf.len()` only at the end).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, ReadError> {
        let range = self.manifest.chunks_for(offset, buf.len() as u64);
        if self.readahead > 0 {
            self.prefetch(
                range.start..(range.end + self.readahead).min(self.manifest.chunks().len()),
            )?;
        }
        let mut written = 0;
        for index in range {
            let chunk = self.manifest.chunks()[index];
            let bytes = self.chunk(&chunk)?;
            let pos = offset + written as u64;
            let from = (pos - chunk.offset) as usize;
            let n = (bytes.len() - from).min(buf.len() - written);
            buf[written..written + n].copy_from_slice(&bytes[from..from + n]);
            written += n;
        }
        Ok(written)
    }

    /// Fetches the chunks of `range` that are neither cached nor stored, in
    /// one batch per source, keeping those that verify. What fails here is
    /// tried again (and reported) chunk by chunk by the read itself.
    fn prefetch(&self, range: std::ops::Range<usize>) -> Result<(), ReadError> {
        let all = self.manifest.chunks();
        let mut missing: Vec<ChunkRef> = Vec::new();
        for chunk in &all[range] {
            if self.cache.contains(&chunk.id) {
                continue;
            }
            if let Some(store) = &self.store
                && store.contains(&chunk.id)?
            {
                continue;
            }
            missing.push(*chunk);
        }
        if missing.is_empty() {
            return Ok(());
        }
        for source in &self.sources {
            let results = source.fetch_many(&missing);
            let mut good: Vec<(ChunkId, Vec<u8>)> = Vec::new();
            let mut still = Vec::new();
            for (chunk, result) in missing.iter().zip(results) {
                match result {
                    Ok(bytes) if bytes.len() == chunk.length as usize => {
                        let actual = ChunkId::of(&bytes);
                        if actual == chunk.id {
                            good.push((chunk.id, bytes));
                        } else {
                            source.mismatch(chunk, actual);
                            still.push(*chunk);
                        }
                    }
                    _ => still.push(*chunk),
                }
            }
            if self.keep_on_disk
                && let Some(store) = &self.store
                && !good.is_empty()
            {
                let batch: Vec<(ChunkId, &[u8])> =
                    good.iter().map(|(id, b)| (*id, b.as_slice())).collect();
                store.put_batch(&batch)?;
            }
            for (id, bytes) in good {
                self.cache.count_fetch();
                self.cache.insert(id, bytes.into());
            }
            if still.is_empty() {
                break;
            }
            missing = still;
        }
        Ok(())
    }

    /// The verified bytes of one chunk of this content.
    pub fn chunk(&self, chunk: &ChunkRef) -> Result<Arc<[u8]>, ReadError> {
        if let Some(bytes) = self.cache.get(&chunk.id) {
            return Ok(bytes);
        }
        if let Some(store) = &self.store {
            match store.get(&chunk.id) {
                Ok(Some(bytes)) => {
                    // `get` verified them.
                    let bytes: Arc<[u8]> = bytes.into();
                    self.cache.count_disk_hit();
                    self.cache.insert(chunk.id, Arc::clone(&bytes));
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
                    self.cache.count_fetch();
                    if self.keep_on_disk
                        && let Some(store) = &self.store
                    {
                        store.put_batch(&[(chunk.id, &bytes)])?;
                    }
                    let bytes: Arc<[u8]> = bytes.into();
                    self.cache.insert(chunk.id, Arc::clone(&bytes));
                    return Ok(bytes);
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
