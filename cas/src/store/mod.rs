//! The on-disk chunk store: chunks appended to pack files, indexed in redb.
//!
//! ```text
//! chunks/
//!   index.redb          chunk id → (pack, offset, length, pins, last use); see [`tables`]
//!   packs/00000001.pack records of chunks, appended (see [`pack`])
//!   files/<file hash>   whole files assembled from chunks (see [`assembled`])
//! ```
//!
//! Write protocol: records are appended to the open pack and fdatasync'ed,
//! then one redb transaction indexes them and records the pack's committed
//! length. A crash before the commit leaves bytes past the committed length,
//! which the next open cuts off; so the index never names a chunk without
//! durable bytes. Deleting goes the other way: the index forgets first, the
//! file goes after. Every read re-hashes the chunk; a mismatch drops it
//! (assembling a whole file hashes the whole instead, see [`assembled`]).

mod assembled;
mod error;
mod evict;
mod ingest;
mod keeper;
mod pack;
mod pins;
mod tables;
mod verify;

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

pub use assembled::{Assembly, MIN_ASSEMBLED};
pub use error::{Result, StoreError};
pub use evict::GcReport;
pub use ingest::Ingest;
pub use keeper::Keeper;
pub use pins::PinnedContent;
pub use verify::{StoreStats, VerifyReport};

use crate::id::ChunkId;
use pack::{PackWriter, RECORD_HEADER, pack_path, parse_pack_name};
use tables::{CHUNKS, ChunkLoc, LRU, META, META_NEXT_PACK, META_TICK, PACK_CONTENTS, PACKS};

/// What a store may hold on disk by default: 10 GiB.
pub const DEFAULT_BUDGET: u64 = 10 * 1024 * 1024 * 1024;

/// Last-use updates are kept in memory and written in batches this large,
/// so a read never waits for a write transaction.
const TOUCH_FLUSH: usize = 4096;

/// redb's page cache for the chunk index (its default of 1 GiB would be
/// most of the daemon's memory).
const INDEX_CACHE: usize = 16 * 1024 * 1024;

/// Chunks on disk, verified on every read.
pub struct FsChunkStore {
    dir: PathBuf,
    packs_dir: PathBuf,
    files_dir: PathBuf,
    db: Database,
    /// Taken before any write transaction that appends, never inside one.
    writer: Mutex<PackWriter>,
    readers: RwLock<HashMap<u32, Arc<File>>>,
    next_pack: AtomicU64,
    tick: AtomicU64,
    touched: Mutex<HashMap<ChunkId, u64>>,
    budget: AtomicU64,
    /// Packs the writer left whose final length is not in the index yet
    /// (the next commit syncs and records them, whoever's it is).
    closed: Mutex<Vec<ClosedPack>>,
    /// One commit at a time, so that no closed pack is taken by one commit
    /// while another indexes chunks in it.
    commit: Mutex<()>,
    /// Per pack, chunks appended by ingests that have not committed yet: such
    /// a pack is never compacted or deleted.
    inflight: Mutex<HashMap<u32, i64>>,
}

/// A pack the writer moved on from.
#[derive(Debug)]
struct ClosedPack {
    pack: u32,
    len: u64,
    file: Arc<File>,
}

impl std::fmt::Debug for FsChunkStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsChunkStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl FsChunkStore {
    /// Opens (creating if needed) the store in `dir`, repairing what a crash
    /// left: unindexed bytes at the end of packs and packs nobody indexes.
    pub fn open(dir: &Path, budget: u64) -> Result<FsChunkStore> {
        let packs_dir = dir.join("packs");
        std::fs::create_dir_all(&packs_dir).map_err(|e| StoreError::io(&packs_dir, e))?;
        let files_dir = dir.join(assembled::FILES_DIR);
        assembled::open_files_dir(&files_dir)?;
        let mut builder = redb::Builder::new();
        builder.set_cache_size(INDEX_CACHE);
        let db = builder.create(dir.join("index.redb"))?;
        let txn = db.begin_write()?;
        let (packs, next_pack, tick, stored_budget) = {
            txn.open_table(CHUNKS)?;
            txn.open_table(PACK_CONTENTS)?;
            txn.open_table(LRU)?;
            txn.open_table(tables::MANIFESTS)?;
            txn.open_table(tables::PINS)?;
            let packs_table = txn.open_table(PACKS)?;
            let mut packs = Vec::new();
            for row in packs_table.iter()? {
                let (pack, value) = row?;
                packs.push((pack.value(), value.value().0));
            }
            let meta = txn.open_table(META)?;
            let next = meta.get(META_NEXT_PACK)?.map_or(1, |v| v.value());
            let tick = meta.get(META_TICK)?.map_or(0, |v| v.value());
            let stored_budget = meta.get(tables::META_BUDGET)?.map(|v| v.value());
            (packs, next, tick, stored_budget)
        };
        let budget = stored_budget.unwrap_or(budget);
        txn.commit()?;
        repair_packs(&packs_dir, &packs)?;
        let writer = match packs.last() {
            Some(&(pack, committed)) if committed < pack_target_for(budget) => {
                PackWriter::reopen(&packs_dir, pack, committed)
                    .map_err(|e| StoreError::io(pack_path(&packs_dir, pack), e))?
            }
            _ => new_pack(&packs_dir, next_pack as u32)?,
        };
        let next_pack = next_pack.max(u64::from(writer.pack) + 1);
        Ok(FsChunkStore {
            dir: dir.to_owned(),
            packs_dir,
            files_dir,
            db,
            writer: Mutex::new(writer),
            readers: RwLock::new(HashMap::new()),
            next_pack: AtomicU64::new(next_pack),
            tick: AtomicU64::new(tick),
            touched: Mutex::new(HashMap::new()),
            budget: AtomicU64::new(budget),
            closed: Mutex::new(Vec::new()),
            commit: Mutex::new(()),
            inflight: Mutex::new(HashMap::new()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn budget(&self) -> u64 {
        self.budget.load(Ordering::Relaxed)
    }

    /// Sets the budget (kept in the index for later opens) and enforces it.
    pub fn set_budget(&self, budget: u64) -> Result<GcReport> {
        self.budget.store(budget, Ordering::Relaxed);
        let txn = self.db.begin_write()?;
        txn.open_table(META)?.insert(tables::META_BUDGET, budget)?;
        txn.commit()?;
        self.enforce_budget()
    }

    fn pack_target(&self) -> u64 {
        pack_target_for(self.budget())
    }

    fn next_tick(&self) -> u64 {
        self.tick.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn lock_writer(&self) -> MutexGuard<'_, PackWriter> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the writer to a new pack. The old one is remembered until a
    /// commit makes it durable and records its length.
    fn roll(&self, writer: &mut PackWriter) -> Result<()> {
        let path = pack_path(&self.packs_dir, writer.pack);
        writer.flush().map_err(|e| StoreError::io(&path, e))?;
        let file = writer.file();
        self.closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ClosedPack {
                pack: writer.pack,
                len: writer.len,
                file,
            });
        let next = self.next_pack.fetch_add(1, Ordering::Relaxed) as u32;
        *writer = new_pack(&self.packs_dir, next)?;
        Ok(())
    }

    fn inflight(&self, pack: u32, delta: i64) {
        let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        let count = inflight.entry(pack).or_default();
        *count += delta;
        if *count <= 0 {
            inflight.remove(&pack);
        }
    }

    /// Whether compaction or deletion may touch `pack`: not the open pack,
    /// not one whose length is unrecorded, not one an ingest still fills.
    fn is_settled(&self, pack: u32, current: u32) -> bool {
        pack != current
            && !self
                .closed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|c| c.pack == pack)
            && !self
                .inflight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&pack)
    }

    /// Takes the closed packs and makes them durable (the caller records
    /// their lengths, or puts them back if it cannot).
    fn take_closed(&self) -> Result<Vec<ClosedPack>> {
        let closed = std::mem::take(&mut *self.closed.lock().unwrap_or_else(|e| e.into_inner()));
        for c in &closed {
            c.file
                .sync_data()
                .map_err(|e| StoreError::io(pack_path(&self.packs_dir, c.pack), e))?;
        }
        Ok(closed)
    }

    /// Whether chunk `id` is in the store (without reading it).
    pub fn contains(&self, id: &ChunkId) -> Result<bool> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(CHUNKS)?.get(id.as_bytes())?.is_some())
    }

    /// The bytes of chunk `id`, checked against the id. `Ok(None)` when the
    /// store does not have it; [`StoreError::Corrupt`] when it had it but
    /// the bytes were wrong (the chunk is dropped: fetch it again).
    pub fn get(&self, id: &ChunkId) -> Result<Option<Vec<u8>>> {
        self.fetch(id, true)
    }

    /// The bytes stored for chunk `id`, not checked against it: only for a
    /// caller that checks them as part of a larger whole (assembling a
    /// file hashes the file) and falls back to [`Self::get`] on a mismatch.
    pub(super) fn get_unchecked(&self, id: &ChunkId) -> Result<Option<Vec<u8>>> {
        let bytes = self.read_stored(id)?.flatten();
        if bytes.is_some() {
            self.touch(*id);
        }
        Ok(bytes)
    }

    /// What the store holds for `id`, read but not checked: `None` when the
    /// index does not name it, `Some(None)` when it does but its record
    /// cannot be read.
    fn read_stored(&self, id: &ChunkId) -> Result<Option<Option<Vec<u8>>>> {
        let loc = {
            let txn = self.db.begin_read()?;
            let chunks = txn.open_table(CHUNKS)?;
            let Some(raw) = chunks.get(id.as_bytes())? else {
                return Ok(None);
            };
            ChunkLoc::decode(raw.value())
        };
        Ok(Some(loc.and_then(|loc| self.read_at(loc).ok())))
    }

    /// [`Self::get`], counting as a use only with `touch` (a verification
    /// pass must not reorder the eviction line).
    fn fetch(&self, id: &ChunkId, touch: bool) -> Result<Option<Vec<u8>>> {
        let Some(bytes) = self.read_stored(id)? else {
            return Ok(None);
        };
        let actual = bytes.as_deref().map(ChunkId::of);
        match (bytes, actual) {
            (Some(bytes), Some(actual)) if actual == *id => {
                if touch {
                    self.touch(*id);
                }
                Ok(Some(bytes))
            }
            (_, actual) => {
                let actual = actual.unwrap_or(ChunkId([0; 32]));
                tracing::warn!("chunk {id} is corrupt on disk (hashes to {actual}); dropping it");
                self.drop_chunks(&[*id])?;
                Err(StoreError::Corrupt { chunk: *id, actual })
            }
        }
    }

    fn read_at(&self, loc: ChunkLoc) -> std::io::Result<Vec<u8>> {
        let file = self.reader(loc.pack)?;
        let mut buf = vec![0u8; loc.length as usize];
        file.read_exact_at(&mut buf, loc.offset)?;
        Ok(buf)
    }

    fn reader(&self, pack: u32) -> std::io::Result<Arc<File>> {
        if let Some(file) = self
            .readers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&pack)
        {
            return Ok(Arc::clone(file));
        }
        let file = Arc::new(File::open(pack_path(&self.packs_dir, pack))?);
        self.readers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pack, Arc::clone(&file));
        Ok(file)
    }

    fn forget_reader(&self, pack: u32) {
        self.readers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&pack);
    }

    /// Stores chunks whose ids the caller computed from their bytes (the
    /// store does not re-hash on the way in: [`crate::build`] and the
    /// readers already did). Returns the record bytes newly stored; chunks
    /// already present only count as used. Durable when this returns.
    pub fn put_batch(&self, chunks: &[(ChunkId, &[u8])]) -> Result<u64> {
        let ingest = self.ingest();
        for (id, bytes) in chunks {
            ingest.add(id, bytes)?;
        }
        ingest.commit()
    }

    /// Starts storing many chunks, made durable together by
    /// [`Ingest::commit`].
    pub fn ingest(&self) -> Ingest<'_> {
        Ingest::new(self)
    }

    fn save_counters(&self, txn: &WriteTransaction) -> Result<()> {
        let mut meta = txn.open_table(META)?;
        meta.insert(META_TICK, self.tick.load(Ordering::Relaxed))?;
        meta.insert(META_NEXT_PACK, self.next_pack.load(Ordering::Relaxed))?;
        Ok(())
    }

    /// Bytes the packs take on disk (committed records and their headers).
    pub fn stored_bytes(&self) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let packs = txn.open_table(PACKS)?;
        let mut total = 0;
        for row in packs.iter()? {
            total += row?.1.value().0;
        }
        Ok(total)
    }

    /// Notes that `id` was used (moves it to the back of the eviction line).
    fn touch(&self, id: ChunkId) {
        let tick = self.next_tick();
        let full = {
            let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            touched.insert(id, tick);
            touched.len() >= TOUCH_FLUSH
        };
        if full && let Err(e) = self.flush_touches() {
            tracing::warn!("recording chunk use: {e}");
        }
    }

    /// Writes the buffered last-use ticks to the index.
    pub fn flush_touches(&self) -> Result<()> {
        let touched = std::mem::take(&mut *self.touched.lock().unwrap_or_else(|e| e.into_inner()));
        if touched.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write()?;
        {
            let mut index = txn.open_table(CHUNKS)?;
            let mut lru = txn.open_table(LRU)?;
            for (id, tick) in touched {
                let Some(mut loc) = index
                    .get(id.as_bytes())?
                    .and_then(|v| ChunkLoc::decode(v.value()))
                else {
                    continue;
                };
                if loc.pins == 0 {
                    lru.remove((loc.tick, id.as_bytes()))?;
                    lru.insert((tick, id.as_bytes()), ())?;
                }
                loc.tick = tick;
                index.insert(id.as_bytes(), loc.encode().as_slice())?;
            }
        }
        self.save_counters(&txn)?;
        txn.commit()?;
        Ok(())
    }

    /// Forgets chunks (corrupt or evicted); their bytes become dead space in
    /// their packs until compaction. Returns the record bytes freed.
    fn drop_chunks(&self, ids: &[ChunkId]) -> Result<u64> {
        let txn = self.db.begin_write()?;
        let freed = remove_chunks(&txn, ids)?;
        txn.commit()?;
        Ok(freed)
    }
}

/// Packs are kept small against the budget, so that reclaiming one never
/// needs much room: a sixteenth of it, between 1 and 64 MiB.
fn pack_target_for(budget: u64) -> u64 {
    (budget / 16).clamp(1024 * 1024, pack::PACK_TARGET)
}

/// Removes chunks from every table of the index inside `txn`.
fn remove_chunks(txn: &WriteTransaction, ids: &[ChunkId]) -> Result<u64> {
    let mut index = txn.open_table(CHUNKS)?;
    let mut lru = txn.open_table(LRU)?;
    let mut contents = txn.open_table(PACK_CONTENTS)?;
    let mut packs = txn.open_table(PACKS)?;
    let mut freed = 0;
    for id in ids {
        let Some(raw) = index.remove(id.as_bytes())? else {
            continue;
        };
        let Some(loc) = ChunkLoc::decode(raw.value()) else {
            continue;
        };
        drop(raw);
        lru.remove((loc.tick, id.as_bytes()))?;
        contents.remove((loc.pack, loc.offset))?;
        let record = u64::from(loc.length) + RECORD_HEADER;
        let row = packs.get(loc.pack)?.map(|v| v.value());
        if let Some((committed, live)) = row {
            packs.insert(loc.pack, (committed, live.saturating_sub(record)))?;
        }
        freed += record;
    }
    Ok(freed)
}

/// Starts pack `pack` and makes its directory entry durable.
fn new_pack(packs_dir: &Path, pack: u32) -> Result<PackWriter> {
    let writer = PackWriter::create(packs_dir, pack)
        .map_err(|e| StoreError::io(pack_path(packs_dir, pack), e))?;
    sync_dir(packs_dir)?;
    Ok(writer)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// Cuts unindexed tails off packs and deletes packs the index does not know
/// (a crash between writing and committing, or during compaction).
fn repair_packs(packs_dir: &Path, packs: &[(u32, u64)]) -> Result<()> {
    let known: HashMap<u32, u64> = packs.iter().copied().collect();
    let listing = std::fs::read_dir(packs_dir).map_err(|e| StoreError::io(packs_dir, e))?;
    for item in listing {
        let item = item.map_err(|e| StoreError::io(packs_dir, e))?;
        let name = item.file_name();
        let Some(pack) = name.to_str().and_then(parse_pack_name) else {
            continue;
        };
        let path = item.path();
        match known.get(&pack) {
            None => {
                tracing::info!("removing unindexed pack {}", path.display());
                std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
            }
            Some(&committed) => {
                let len = item.metadata().map_err(|e| StoreError::io(&path, e))?.len();
                if len > committed {
                    tracing::info!(
                        "cutting {} unindexed bytes off {}",
                        len - committed,
                        path.display()
                    );
                    let file = std::fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| StoreError::io(&path, e))?;
                    file.set_len(committed)
                        .and_then(|()| file.sync_all())
                        .map_err(|e| StoreError::io(&path, e))?;
                }
            }
        }
    }
    Ok(())
}
