//! Storing many chunks at once: records are appended as they come (from any
//! thread), and [`Ingest::commit`] makes them durable and indexes them in
//! one transaction. Until then a crash loses them cleanly: their bytes lie
//! past a pack's committed length (cut on reopen), in a pack the index does
//! not know (deleted on reopen), or are dead space no index entry names.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use redb::ReadableTable;

use super::pack::{PackWriter, RECORD_HEADER, pack_path, write_record};
use super::tables::{CHUNKS, ChunkLoc, LRU, PACK_CONTENTS, PACKS};
use super::{ClosedPack, FsChunkStore, Result, StoreError};
use crate::build::ChunkSink;
use crate::id::ChunkId;
use crate::manifest::ChunkRef;

/// Bytes appended before an ingest commits on its own, bounding what a
/// crash can lose and how long the index lags the packs.
const AUTO_COMMIT: u64 = 256 * 1024 * 1024;

/// A chunk appended but not yet indexed: (id, pack, offset, length).
type Placed = (ChunkId, u32, u64, u32);

/// A batch of chunks on their way into the store.
pub struct Ingest<'a> {
    store: &'a FsChunkStore,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    seen: HashSet<ChunkId>,
    placed: Vec<Placed>,
    /// The packs `placed` lies in: each is synced before the commit that
    /// indexes it, since a copy may finish after its pack was closed.
    files: HashMap<u32, Arc<std::fs::File>>,
    bytes: u64,
    /// Record bytes indexed by this ingest's commits so far.
    stored: u64,
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
        // Only the reservation holds the writer; the copy runs in parallel.
        let (pack, file, at) = {
            let mut writer = self.store.lock_writer();
            if writer.len >= self.store.pack_target() {
                // The full pack is made durable and recorded at the next commit.
                self.store.roll(&mut writer)?;
            }
            let (file, at) = writer
                .reserve(bytes.len())
                .map_err(|e| StoreError::io(pack_path(&self.store.packs_dir, writer.pack), e))?;
            self.store.inflight(writer.pack, 1);
            (writer.pack, file, at)
        };
        let offset = match write_record(&file, at, id, bytes) {
            Ok(offset) => offset,
            Err(e) => {
                self.store.inflight(pack, -1);
                return Err(StoreError::io(pack_path(&self.store.packs_dir, pack), e));
            }
        };
        let due = {
            let mut pending = self.pending();
            pending.placed.push((*id, pack, offset, bytes.len() as u32));
            pending.files.entry(pack).or_insert(file);
            pending.bytes += bytes.len() as u64;
            pending.bytes >= AUTO_COMMIT
        };
        if due {
            self.commit()?;
        }
        Ok(())
    }

    /// Record bytes this ingest has stored so far (committed only).
    pub fn stored_bytes(&self) -> u64 {
        self.pending().stored
    }

    /// Makes everything added so far durable and indexed. Returns the record
    /// bytes this commit stored.
    pub fn commit(&self) -> Result<u64> {
        let _one_at_a_time = self.store.commit.lock().unwrap_or_else(|e| e.into_inner());
        // Packs left behind are synced before taking the writer, so that
        // appends go on meanwhile; any closed since are synced under it.
        let mut closed = self.store.take_closed()?;
        let mut writer = self.store.lock_writer();
        let (placed, files) = {
            let mut pending = self.pending();
            pending.bytes = 0;
            (
                std::mem::take(&mut pending.placed),
                std::mem::take(&mut pending.files),
            )
        };
        let result = self.index(&mut writer, &placed, &files, &mut closed);
        for &(_, pack, _, _) in &placed {
            self.store.inflight(pack, -1);
        }
        if result.is_err() {
            // Their lengths are not recorded: the next commit tries again.
            self.store
                .closed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(closed);
        }
        drop(writer);
        let added = result?;
        self.pending().stored += added;
        if self.store.stored_bytes()? + self.store.assembled_bytes()? > self.store.budget() {
            self.store.enforce_budget()?;
        }
        Ok(added)
    }

    /// Makes `placed` durable and indexes it, recording the lengths of the
    /// closed packs and of the open one, in one transaction.
    fn index(
        &self,
        writer: &mut PackWriter,
        placed: &[Placed],
        files: &HashMap<u32, Arc<std::fs::File>>,
        closed: &mut Vec<ClosedPack>,
    ) -> Result<u64> {
        closed.extend(self.store.take_closed()?);
        writer
            .sync()
            .map_err(|e| StoreError::io(pack_path(&self.store.packs_dir, writer.pack), e))?;
        for (&pack, file) in files {
            if pack != writer.pack {
                file.sync_data()
                    .map_err(|e| StoreError::io(pack_path(&self.store.packs_dir, pack), e))?;
            }
        }
        let txn = self.store.db.begin_write()?;
        let mut added = 0;
        {
            let mut index = txn.open_table(CHUNKS)?;
            let mut lru = txn.open_table(LRU)?;
            let mut contents = txn.open_table(PACK_CONTENTS)?;
            let mut live: HashMap<u32, u64> = HashMap::new();
            for &(id, pack, offset, length) in placed {
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
            let mut lens: HashMap<u32, u64> = closed.iter().map(|c| (c.pack, c.len)).collect();
            lens.insert(writer.pack, writer.len);
            let touched: BTreeSet<u32> = lens.keys().chain(live.keys()).copied().collect();
            for pack in touched {
                let (committed, old_live) = packs.get(pack)?.map_or((0, 0), |v| v.value());
                let len = lens.get(&pack).copied().unwrap_or(committed);
                let new_live = old_live + live.get(&pack).copied().unwrap_or(0);
                packs.insert(pack, (committed.max(len), new_live))?;
            }
        }
        self.store.save_counters(&txn)?;
        txn.commit()?;
        Ok(added)
    }
}

impl Drop for Ingest<'_> {
    fn drop(&mut self) {
        // Chunks added but never committed: their packs may go now.
        for &(_, pack, _, _) in &self.pending().placed {
            self.store.inflight(pack, -1);
        }
    }
}

impl ChunkSink for Ingest<'_> {
    type Error = StoreError;

    fn chunk(&self, chunk: &ChunkRef, bytes: &[u8]) -> Result<()> {
        self.add(&chunk.id, bytes)
    }
}
