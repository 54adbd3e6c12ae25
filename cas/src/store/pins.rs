//! Manifests the store holds and pins on them. A pin counts once on each
//! distinct chunk of the content; a chunk with a pin count above zero is out
//! of the LRU table and so out of eviction's reach.

use std::collections::HashSet;

use redb::{ReadableDatabase, ReadableTable};

use super::tables::{CHUNKS, ChunkLoc, LRU, MANIFESTS, PINS};
use super::{FsChunkStore, Result, StoreError};
use crate::id::{ChunkId, FileHash};
use crate::manifest::Manifest;

/// A pinned content, as `sd cache stats` and `sd unpin` see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedContent {
    pub hash: FileHash,
    pub size: u64,
    pub pinned_at: i64,
}

impl FsChunkStore {
    /// Remembers `manifest`, so its content can be served from the store
    /// alone (it holds no chunk by itself).
    pub fn put_manifest(&self, manifest: &Manifest) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(MANIFESTS)?
            .insert(manifest.hash().as_bytes(), manifest.encode().as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// The stored manifest of the file with hash `hash`.
    pub fn manifest(&self, hash: &FileHash) -> Result<Option<Manifest>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MANIFESTS)?;
        let Some(raw) = table.get(hash.as_bytes())? else {
            return Ok(None);
        };
        Manifest::decode(raw.value())
            .map(Some)
            .map_err(|source| StoreError::Manifest {
                hash: *hash,
                source,
            })
    }

    /// Pins content whose chunks are all in the store: from now on none of
    /// them is evicted. Pinning twice is pinning once.
    pub fn pin(&self, manifest: &Manifest, now: i64) -> Result<()> {
        self.pin_all(std::slice::from_ref(manifest), now)
    }

    /// Pins many contents in one transaction: all of them, or (if one lacks
    /// chunks and has no whole copy) none.
    pub fn pin_all(&self, manifests: &[Manifest], now: i64) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut pins = txn.open_table(PINS)?;
            let mut stored = txn.open_table(MANIFESTS)?;
            let mut index = txn.open_table(CHUNKS)?;
            let mut lru = txn.open_table(LRU)?;
            for manifest in manifests {
                stored.insert(manifest.hash().as_bytes(), manifest.encode().as_slice())?;
                if pins.get(manifest.hash().as_bytes())?.is_some() {
                    continue;
                }
                pins.insert(manifest.hash().as_bytes(), now)?;
                let mut missing = 0;
                for id in distinct(manifest) {
                    let Some(mut loc) = index
                        .get(id.as_bytes())?
                        .and_then(|v| ChunkLoc::decode(v.value()))
                    else {
                        missing += 1;
                        continue;
                    };
                    if loc.pins == 0 {
                        lru.remove((loc.tick, id.as_bytes()))?;
                    }
                    loc.pins += 1;
                    index.insert(id.as_bytes(), loc.encode().as_slice())?;
                }
                // A whole copy is the content too (a file fetched whole is
                // kept as one, without its chunks); eviction keeps a pinned
                // content's copy.
                if missing > 0 && !self.assembled_path(&manifest.hash()).is_file() {
                    // Dropping the transaction undoes everything above.
                    return Err(StoreError::Incomplete {
                        hash: manifest.hash(),
                        missing,
                    });
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Removes the pin on `hash`; its chunks become evictable (they are not
    /// deleted now). Returns whether it was pinned.
    pub fn unpin(&self, hash: &FileHash) -> Result<bool> {
        let Some(manifest) = self.manifest(hash)? else {
            return Ok(false);
        };
        let txn = self.db.begin_write()?;
        {
            if txn.open_table(PINS)?.remove(hash.as_bytes())?.is_none() {
                return Ok(false);
            }
            let mut index = txn.open_table(CHUNKS)?;
            let mut lru = txn.open_table(LRU)?;
            let tick = self.next_tick();
            for id in distinct(&manifest) {
                let Some(mut loc) = index
                    .get(id.as_bytes())?
                    .and_then(|v| ChunkLoc::decode(v.value()))
                else {
                    continue;
                };
                loc.pins = loc.pins.saturating_sub(1);
                if loc.pins == 0 {
                    loc.tick = tick;
                    lru.insert((tick, id.as_bytes()), ())?;
                }
                index.insert(id.as_bytes(), loc.encode().as_slice())?;
            }
        }
        self.save_counters(&txn)?;
        txn.commit()?;
        Ok(true)
    }

    /// Whether `hash` is pinned.
    pub fn is_pinned(&self, hash: &FileHash) -> Result<bool> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(PINS)?.get(hash.as_bytes())?.is_some())
    }

    /// Everything pinned.
    pub fn pinned(&self) -> Result<Vec<PinnedContent>> {
        let txn = self.db.begin_read()?;
        let pins = txn.open_table(PINS)?;
        let manifests = txn.open_table(MANIFESTS)?;
        let mut out = Vec::new();
        for row in pins.iter()? {
            let (hash, at) = row?;
            let hash = FileHash(*hash.value());
            let size = manifests
                .get(hash.as_bytes())?
                .and_then(|m| Manifest::decode(m.value()).ok())
                .map_or(0, |m| m.size());
            out.push(PinnedContent {
                hash,
                size,
                pinned_at: at.value(),
            });
        }
        Ok(out)
    }
}

/// Each chunk id of `manifest` once (a file may repeat a chunk).
fn distinct(manifest: &Manifest) -> impl Iterator<Item = ChunkId> + '_ {
    let mut seen = HashSet::new();
    manifest
        .chunks()
        .iter()
        .map(|c| c.id)
        .filter(move |id| seen.insert(*id))
}
