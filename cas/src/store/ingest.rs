//! Storing many chunks at once: records are appended as they come (from any
//! thread), and [`Ingest::commit`] makes them durable and indexes them in
//! one transaction. Until then a crash loses them cleanly: their bytes lie
//! past the committed length (cut on reopen) or are dead space no index
//! entry names.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};

use redb::ReadableTable;

use super::pack::{RECORD_HEADER, pack_path};
use super::tables::{CHUNKS, ChunkLoc, LRU, PACK_CONTENTS, PACKS};
use super::{FsChunkStore, Result, StoreError, new_pack};
use crate::build::ChunkSink;
use crate::id::ChunkId;
use crate::manifest::ChunkRef;

/// Bytes appended before an ingest commits on its own, bounding what a
/// crash can lose and how long the index lags the packs.
const AUTO_COMMIT: u64 = 256 * 1024 * 1024;

/// A batch of chunks on their way into the store.
pub struct Ingest<'a> {
    store: &'a FsChunkStore,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    seen: HashSet<ChunkId>,
    placed: Vec<(ChunkId, u32, u64, u32)>,
    /// Packs this ingest filled and left: final length, and the file to
    /// make durable at commit.
    closed: HashMap<u32, (u64, std::fs::File)>,
    bytes: u64,
}

impl std::fmt::Debug for Ingest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest").finish_non_exhaustive()
    }
}

impl<'a> Ingest<'a> {
    pub(super) fn new(store: &'a FsChunkStore) -> Ingest<'a> {
        Ingest {
            store,
            pending: Mutex::new(Pending::default()),
        }
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends chunk `id` unless the store or this ingest has it already.
    pub fn add(&self, id: &ChunkId, bytes: &[u8]) -> Result<()> {
        if !self.pending().seen.insert(*id) {
            return Ok(());
        }
        if self.store.contains(id)? {
            self.store.touch(*id);
            return Ok(());
        }
        let due = {
            let mut writer = self.store.lock_writer();
            if writer.len >= self.store.pack_target() {
                // The full pack is made durable at commit, outside this lock.
                let path = pack_path(&self.store.packs_dir, writer.pack);
                let path = || path.clone();
                writer.flush().map_err(|e| StoreError::io(path(), e))?;
                let file = writer.file().map_err(|e| StoreError::io(path(), e))?;
                self.pending().closed.insert(writer.pack, (writer.len, file));
                let next = self.store.next_pack.fetch_add(1, Ordering::Relaxed) as u32;
                *writer = new_pack(&self.store.packs_dir, next)?;
            }
            let offset = writer.append(id, bytes);
            writer
                .flush()
                .map_err(|e| StoreError::io(pack_path(&self.store.packs_dir, writer.pack), e))?;
            let mut pending = self.pending();
            pending
                .placed
                .push((*id, writer.pack, offset, bytes.len() as u32));
            pending.bytes += bytes.len() as u64;
            pending.bytes >= AUTO_COMMIT
        };
        if due {
            self.commit()?;
        }
        Ok(())
    }

    /// Makes everything added so far durable and indexed. Returns the record
    /// bytes stored.
    pub fn commit(&self) -> Result<u64> {
        // Packs left behind first, without holding up other writers.
        let closed: Vec<(u32, u64, std::fs::File)> = self
            .pending()
            .closed
            .drain()
            .map(|(pack, (len, file))| (pack, len, file))
            .collect();
        for (pack, _, file) in &closed {
            file.sync_data()
                .map_err(|e| StoreError::io(pack_path(&self.store.packs_dir, *pack), e))?;
        }
        let mut writer = self.store.lock_writer();
        let pending = std::mem::take(&mut *self.pending());
        // Keep the dedup set: an ingest goes on after an automatic commit.
        self.pending().seen = pending.seen;
        if pending.placed.is_empty() {
            return Ok(0);
        }
        writer
            .sync()
            .map_err(|e| StoreError::io(pack_path(&self.store.packs_dir, writer.pack), e))?;
        let txn = self.store.db.begin_write()?;
        let mut added = 0;
        {
            let mut index = txn.open_table(CHUNKS)?;
            let mut lru = txn.open_table(LRU)?;
            let mut contents = txn.open_table(PACK_CONTENTS)?;
            let mut live: HashMap<u32, u64> = HashMap::new();
            for &(id, pack, offset, length) in &pending.placed {
                // Another ingest may have stored it meanwhile: ours is dead space.
                if index.get(id.as_bytes())?.is_some() {
                    continue;
                }
                let tick = self.store.next_tick();
                let loc = ChunkLoc {
                    pack,
                    offset,
                    length,
                    pins: 0,
                    tick,
                };
                index.insert(id.as_bytes(), loc.encode().as_slice())?;
                lru.insert((tick, id.as_bytes()), ())?;
                contents.insert((pack, offset), id.as_bytes())?;
                let record = u64::from(length) + RECORD_HEADER;
                *live.entry(pack).or_default() += record;
                added += record;
            }
            let mut packs = txn.open_table(PACKS)?;
            let mut lens: HashMap<u32, u64> =
                closed.iter().map(|(pack, len, _)| (*pack, *len)).collect();
            lens.insert(writer.pack, writer.len);
            for (pack, len) in lens {
                let (committed, old_live) = packs.get(pack)?.map_or((0, 0), |v| v.value());
                let new_live = old_live + live.get(&pack).copied().unwrap_or(0);
                packs.insert(pack, (committed.max(len), new_live))?;
            }
        }
        self.store.save_counters(&txn)?;
        txn.commit()?;
        drop(writer);
        if self.store.stored_bytes()? > self.store.budget() {
            self.store.enforce_budget()?;
        }
        Ok(added)
    }
}

impl ChunkSink for Ingest<'_> {
    type Error = StoreError;

    fn chunk(&self, chunk: &ChunkRef, bytes: &[u8]) -> Result<()> {
        self.add(&chunk.id, bytes)
    }
}
