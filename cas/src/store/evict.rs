//! Keeping the store within its budget: evicting the least recently used
//! unpinned chunks, deleting packs nothing lives in and compacting packs
//! that are mostly dead.
//!
//! Why LRU: a chunk here was expensive to get (a peer or the cloud sent it),
//! and recency is the best predictor this layer has; the hot in-memory cache
//! above it (moka, TinyLFU admission) already shields the working set from
//! one-off scans. Pinned chunks are not in the LRU table at all, so no
//! eviction path can reach them.

use redb::{ReadableDatabase, ReadableTable};

use super::pack::{RECORD_HEADER, pack_path};
use super::tables::{CHUNKS, ChunkLoc, LRU, PACK_CONTENTS, PACKS};
use super::{FsChunkStore, Result, StoreError, remove_chunks, sync_dir};
use crate::id::ChunkId;
use crate::manifest::Manifest;

/// Eviction stops at this share of the budget, so that the next few writes
/// do not each trigger another round.
const LOW_WATER_PERCENT: u64 = 90;
/// A pack with more dead bytes than this share is rewritten by `gc`.
const COMPACT_DEAD_PERCENT: u64 = 25;

/// What a collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub evicted_chunks: u64,
    pub evicted_bytes: u64,
    pub packs_deleted: u64,
    pub packs_compacted: u64,
    /// Assembled whole files deleted (see [`super::assembled`]).
    pub evicted_files: u64,
    pub evicted_file_bytes: u64,
    pub stored_before: u64,
    pub stored_after: u64,
}

impl FsChunkStore {
    /// Brings the bytes on disk within the budget: deletes assembled files,
    /// then evicts unpinned chunks in LRU order down to the low-water mark,
    /// then reclaims dead space.
    pub fn enforce_budget(&self) -> Result<GcReport> {
        self.collect(false)
    }

    /// `sd cache gc`: enforces the budget and compacts every pack that is
    /// more than a quarter dead, whatever the budget.
    pub fn gc(&self) -> Result<GcReport> {
        self.collect(true)
    }

    fn collect(&self, thorough: bool) -> Result<GcReport> {
        self.flush_touches()?;
        let budget = self.budget();
        let mut report = GcReport {
            stored_before: self.stored_bytes()?,
            ..GcReport::default()
        };
        // Assembled files go first: they copy chunks that stay here.
        let assembled = self.assembled_bytes()?;
        if report.stored_before + assembled > budget && assembled > 0 {
            let low = budget * LOW_WATER_PERCENT / 100;
            let want = (report.stored_before + assembled).saturating_sub(low);
            let (files, bytes) = self.evict_assembled(want)?;
            report.evicted_files = files;
            report.evicted_file_bytes = bytes;
        }
        let live = self.live_bytes()?;
        if report.stored_before > budget && live > budget * LOW_WATER_PERCENT / 100 {
            let (chunks, bytes) = self.evict(live - budget * LOW_WATER_PERCENT / 100)?;
            report.evicted_chunks = chunks;
            report.evicted_bytes = bytes;
        }
        // Dead space: whole packs go at once; partly dead ones are rewritten
        // (most dead first) while the store is over budget, or when asked.
        // The open pack is only rewritten after a fresh one takes over.
        if self.stored_bytes()? > budget {
            self.roll_if_dead()?;
        }
        let current = self.lock_writer().pack;
        for (pack, committed, live) in self.packs()? {
            let dead = committed.saturating_sub(live + super::pack::PACK_MAGIC.len() as u64);
            if dead == 0 || !self.is_settled(pack, current) {
                continue;
            }
            if live == 0 {
                self.delete_pack(pack)?;
                report.packs_deleted += 1;
                continue;
            }
            let over = self.stored_bytes()? > budget;
            if over || (thorough && dead * 100 > committed * COMPACT_DEAD_PERCENT) {
                self.compact(pack)?;
                report.packs_compacted += 1;
            }
        }
        report.stored_after = self.stored_bytes()?;
        Ok(report)
    }

    /// "Free up space" for one content: deletes its assembled copy and those
    /// of its chunks no pin holds. Chunks it shares with pinned content
    /// stay. Returns (chunks, bytes) removed from the index; the space
    /// comes back when their packs are next collected.
    pub fn evict_content(&self, manifest: &Manifest) -> Result<(u64, u64)> {
        let path = self.files_dir.join(manifest.hash().to_string());
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(&path, e)),
        }
        let txn = self.db.begin_write()?;
        let victims: Vec<ChunkId> = {
            let index = txn.open_table(CHUNKS)?;
            let mut seen = std::collections::HashSet::new();
            let mut victims = Vec::new();
            for chunk in manifest.chunks() {
                if !seen.insert(chunk.id) {
                    continue;
                }
                let unpinned = index
                    .get(chunk.id.as_bytes())?
                    .and_then(|v| ChunkLoc::decode(v.value()))
                    .is_some_and(|loc| loc.pins == 0);
                if unpinned {
                    victims.push(chunk.id);
                }
            }
            victims
        };
        let freed = remove_chunks(&txn, &victims)?;
        txn.commit()?;
        Ok((victims.len() as u64, freed))
    }

    /// Starts a new open pack if the current one holds dead bytes, so that
    /// it can be compacted like the others.
    fn roll_if_dead(&self) -> Result<()> {
        let mut writer = self.lock_writer();
        let live = {
            let txn = self.db.begin_read()?;
            txn.open_table(PACKS)?
                .get(writer.pack)?
                .map(|v| v.value().1)
        };
        let Some(live) = live else { return Ok(()) };
        if writer.len > live + super::pack::PACK_MAGIC.len() as u64 {
            self.roll(&mut writer)?;
        }
        Ok(())
    }

    /// Bytes of the records of live chunks.
    pub fn live_bytes(&self) -> Result<u64> {
        Ok(self.packs()?.iter().map(|p| p.2).sum())
    }

    /// (pack, committed bytes, live bytes), most dead first.
    fn packs(&self) -> Result<Vec<(u32, u64, u64)>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(PACKS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (pack, value) = row?;
            let (committed, live) = value.value();
            out.push((pack.value(), committed, live));
        }
        out.sort_by_key(|&(_, committed, live)| std::cmp::Reverse(committed - live.min(committed)));
        Ok(out)
    }

    /// Evicts at least `want` record bytes of the least recently used
    /// unpinned chunks (fewer if that is all there is).
    fn evict(&self, want: u64) -> Result<(u64, u64)> {
        let txn = self.db.begin_write()?;
        let victims: Vec<ChunkId> = {
            let lru = txn.open_table(LRU)?;
            let index = txn.open_table(CHUNKS)?;
            let mut victims = Vec::new();
            let mut total = 0;
            for row in lru.iter()? {
                if total >= want {
                    break;
                }
                let (key, _) = row?;
                let id = ChunkId(*key.value().1);
                let Some(loc) = index
                    .get(id.as_bytes())?
                    .and_then(|v| ChunkLoc::decode(v.value()))
                else {
                    continue;
                };
                debug_assert_eq!(loc.pins, 0, "a pinned chunk is never in the LRU table");
                if loc.pins > 0 {
                    continue;
                }
                total += u64::from(loc.length) + RECORD_HEADER;
                victims.push(id);
            }
            victims
        };
        let freed = remove_chunks(&txn, &victims)?;
        txn.commit()?;
        tracing::debug!("evicted {} chunks ({freed} bytes)", victims.len());
        Ok((victims.len() as u64, freed))
    }

    /// Forgets pack `pack` in the index, then deletes its file.
    fn delete_pack(&self, pack: u32) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let contents = txn.open_table(PACK_CONTENTS)?;
            let ids: Vec<ChunkId> = contents
                .range((pack, 0)..=(pack, u64::MAX))?
                .map(|row| row.map(|(_, id)| ChunkId(*id.value())))
                .collect::<Result<_, _>>()?;
            drop(contents);
            remove_chunks(&txn, &ids)?;
            txn.open_table(PACKS)?.remove(pack)?;
        }
        txn.commit()?;
        self.forget_reader(pack);
        let path = pack_path(&self.packs_dir, pack);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(path, e)),
        }
        sync_dir(&self.packs_dir)
    }

    /// Moves the live chunks of `pack` to the open pack, then deletes it.
    /// Chunks that fail their check on the way are dropped, not copied.
    fn compact(&self, pack: u32) -> Result<()> {
        let mut writer = self.lock_writer();
        let rows: Vec<(u64, ChunkId)> = {
            let txn = self.db.begin_read()?;
            let contents = txn.open_table(PACK_CONTENTS)?;
            contents
                .range((pack, 0)..=(pack, u64::MAX))?
                .map(|row| row.map(|(k, id)| (k.value().1, ChunkId(*id.value()))))
                .collect::<Result<_, _>>()?
        };
        let txn = self.db.begin_write()?;
        let mut moved = Vec::new();
        let mut corrupt = Vec::new();
        {
            let index = txn.open_table(CHUNKS)?;
            for (_, id) in rows {
                let Some(loc) = index
                    .get(id.as_bytes())?
                    .and_then(|v| ChunkLoc::decode(v.value()))
                else {
                    continue;
                };
                match self.read_at(loc) {
                    Ok(bytes) if ChunkId::of(&bytes) == id => {
                        let offset = writer.append(&id, &bytes);
                        moved.push((id, loc, offset));
                    }
                    _ => corrupt.push(id),
                }
            }
        }
        if let Err(e) = writer.sync() {
            writer.discard();
            return Err(StoreError::io(pack_path(&self.packs_dir, writer.pack), e));
        }
        remove_chunks(&txn, &corrupt)?;
        {
            let mut index = txn.open_table(CHUNKS)?;
            let mut contents = txn.open_table(PACK_CONTENTS)?;
            let mut packs = txn.open_table(PACKS)?;
            let mut added = 0;
            for (id, old, offset) in moved {
                let new = ChunkLoc {
                    pack: writer.pack,
                    offset,
                    ..old
                };
                index.insert(id.as_bytes(), new.encode().as_slice())?;
                contents.remove((pack, old.offset))?;
                contents.insert((writer.pack, offset), id.as_bytes())?;
                added += u64::from(old.length) + RECORD_HEADER;
            }
            let live = packs.get(writer.pack)?.map_or(0, |v| v.value().1);
            packs.insert(writer.pack, (writer.len, live + added))?;
            packs.remove(pack)?;
        }
        self.save_counters(&txn)?;
        txn.commit()?;
        if writer.len >= self.pack_target() {
            self.roll(&mut writer)?;
        }
        drop(writer);
        self.forget_reader(pack);
        let path = pack_path(&self.packs_dir, pack);
        std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
        sync_dir(&self.packs_dir)
    }
}
