//! Changes this device made to other devices' trees, until their owners
//! have them (SPEC §4, writes to another device's files).
//!
//! A write lands in a staging file of the library (`<library>/outbox/`)
//! and a record keyed by the name it changed; the mount shows the records
//! over the replica of the owner's index, so every program here sees the
//! change at once. The courier (`courier.rs`) delivers records in the
//! order they were last changed; the owner applies each one (`inbox`).
//!
//! Durability: records are committed without a disk flush, and every
//! `fsync` through the mount (of a staged file or a directory) flushes the
//! staging file and then commits durably, which makes every earlier record
//! durable too. So what fsync acknowledged survives any crash, and what it
//! did not is at worst lost whole, never half-applied.

pub mod courier;
mod record;

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

pub use record::{Change, Staged, Target, Version, dir_prefix, join, split};

use crate::error::{Error, Result};
use crate::ids::DeviceId;
use crate::library::schema;

/// Target key → [`Staged`].
const OUTBOX: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("outbox");
/// Delivery order: seq → target key.
const OUTBOX_ORDER: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("outbox_order");

/// Directory of the staging files inside a library.
pub const OUTBOX_DIR: &str = "outbox";

/// Staged changes and their staging files. One per open library.
pub struct Outbox {
    db: Arc<Database>,
    dir: PathBuf,
    /// Records committed since the last durable commit.
    unsynced: AtomicBool,
    /// Staging files open for writing, and how often each was written:
    /// the courier leaves a file alone while a program writes it.
    writers: Mutex<HashMap<u64, Writers>>,
    /// Bumped on every change; the courier waits on it.
    changes: Mutex<u64>,
    changed: Condvar,
    /// Bumped on every write to any staging file.
    writes: AtomicU64,
    /// Staging files being delivered, and to whom: the only ones served,
    /// and only to that device.
    offered: Mutex<HashMap<u64, DeviceId>>,
    /// Devices that came online since the courier last looked.
    reachable: Mutex<Vec<DeviceId>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Writers {
    open: usize,
    /// Written since the last fsync.
    dirty: bool,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The outbox's tables inside one write transaction.
struct Records<'t> {
    table: redb::Table<'t, &'static [u8], &'static [u8]>,
    order: redb::Table<'t, u64, &'static [u8]>,
    meta: redb::Table<'t, &'static str, u64>,
}

impl Records<'_> {
    fn get(&self, target: &Target) -> Result<Option<Staged>> {
        self.table
            .get(target.key().as_slice())?
            .map(|v| Staged::decode(v.value()))
            .transpose()
    }

    /// Writes the record `make` builds from the old one and a new seq, at
    /// the end of the delivery order.
    fn put(
        &mut self,
        target: &Target,
        make: impl FnOnce(Option<Staged>, u64) -> Staged,
    ) -> Result<(Option<Staged>, Staged)> {
        let key = target.key();
        let seq = schema::next_id(&mut self.meta, "next_outbox_seq")?;
        let old = self.get(target)?;
        if let Some(old) = &old {
            self.order.remove(old.seq)?;
        }
        let staged = make(old.clone(), seq);
        self.table
            .insert(key.as_slice(), staged.encode().as_slice())?;
        self.order.insert(seq, key.as_slice())?;
        Ok((old, staged))
    }

    /// Removes the record of `target` if it is still record `seq` (`None`:
    /// whichever it is); returns it.
    fn remove(&mut self, target: &Target, seq: Option<u64>) -> Result<Option<Staged>> {
        let Some(old) = self.get(target)? else {
            return Ok(None);
        };
        if seq.is_some_and(|s| s != old.seq) {
            return Ok(None);
        }
        self.table.remove(target.key().as_slice())?;
        self.order.remove(old.seq)?;
        Ok(Some(old))
    }
}

impl Outbox {
    /// Opens the outbox of the library at `lib_dir`, removing staging
    /// files no record names (a crash between creating one and committing
    /// its record).
    pub fn open(db: Arc<Database>, lib_dir: &std::path::Path) -> Result<Outbox> {
        let dir = lib_dir.join(OUTBOX_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let txn = db.begin_write()?;
        txn.open_table(OUTBOX)?;
        txn.open_table(OUTBOX_ORDER)?;
        txn.commit()?;
        let outbox = Outbox {
            db,
            dir,
            unsynced: AtomicBool::new(false),
            writers: Mutex::default(),
            changes: Mutex::new(0),
            changed: Condvar::new(),
            writes: AtomicU64::new(0),
            offered: Mutex::default(),
            reachable: Mutex::default(),
        };
        outbox.remove_orphans()?;
        Ok(outbox)
    }

    fn remove_orphans(&self) -> Result<()> {
        let mut named = std::collections::HashSet::new();
        for (_, staged) in self.all()? {
            if let Change::File { staged, .. } = staged.change {
                named.insert(staged);
            }
        }
        let listing = std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        for item in listing.flatten() {
            let name = item.file_name();
            let id = name.to_str().and_then(|n| n.parse::<u64>().ok());
            if id.is_some_and(|id| !named.contains(&id)) {
                let _ = std::fs::remove_file(item.path());
            }
        }
        Ok(())
    }

    /// The staging file `id`.
    pub fn staged_path(&self, id: u64) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// A new, empty staging file, open for reading and writing.
    pub fn new_staging_file(&self) -> Result<(u64, File)> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::None)?;
        let id = {
            let mut meta = txn.open_table(schema::META)?;
            schema::next_id(&mut meta, "next_staged_file")?
        };
        txn.commit()?;
        self.unsynced.store(true, Ordering::Release);
        let path = self.staged_path(id);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok((id, file))
    }

    /// The change staged for `target`, if any.
    pub fn get(&self, target: &Target) -> Result<Option<Staged>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(OUTBOX)?;
        table
            .get(target.key().as_slice())?
            .map(|v| Staged::decode(v.value()))
            .transpose()
    }

    /// Whether anything is staged for `device` (the mount's fast path: a
    /// device with nothing staged is shown straight from its replica).
    pub fn has_any(&self, device: DeviceId) -> Result<bool> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(OUTBOX)?;
        let lo = device.to_bytes();
        let mut range = table.range(lo.as_slice()..)?;
        Ok(match range.next() {
            Some(row) => row?.0.value().starts_with(&lo),
            None => false,
        })
    }

    /// The staged changes to the children of directory `dir` of `target`'s
    /// location (`target.path` is ignored), by name.
    pub fn children(
        &self,
        device: DeviceId,
        location: crate::ids::LocationId,
        dir: &[u8],
    ) -> Result<Vec<(Vec<u8>, Staged)>> {
        let prefix = dir_prefix(device, location, dir);
        let mut end = prefix.clone();
        if let Some(last) = end.last_mut() {
            *last = 1;
        }
        let txn = self.db.begin_read()?;
        let table = txn.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for row in table.range(prefix.as_slice()..end.as_slice())? {
            let (k, v) = row?;
            out.push((
                k.value()[prefix.len()..].to_vec(),
                Staged::decode(v.value())?,
            ));
        }
        Ok(out)
    }

    /// Every record, in delivery order.
    pub fn all(&self) -> Result<Vec<(Target, Staged)>> {
        let txn = self.db.begin_read()?;
        let order = txn.open_table(OUTBOX_ORDER)?;
        let table = txn.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for row in order.iter()? {
            let (_, key) = row?;
            if let Some(v) = table.get(key.value())? {
                out.push((Target::from_key(key.value())?, Staged::decode(v.value())?));
            }
        }
        Ok(out)
    }

    /// Stages `change` for `target`: a new record, or the existing one
    /// with the change replaced and moved to the end of the order. `base`
    /// and `entry` count only for a new record (what the owner has does
    /// not change by changing it again here).
    pub fn stage(
        &self,
        target: &Target,
        change: Change,
        base: Option<Version>,
        entry: Option<u64>,
    ) -> Result<Staged> {
        let (old, staged) = self.write(target, |old, seq| match old {
            Some(old) => Staged {
                seq,
                change,
                // The owner has what was delivered, if anything was.
                base: old.owner_has(),
                entry: old.entry,
                delivered: None,
                changed_at: crate::time::unix_now_nanos(),
            },
            None => Staged {
                seq,
                change,
                base,
                entry,
                delivered: None,
                changed_at: crate::time::unix_now_nanos(),
            },
        })?;
        self.release_replaced(old.as_ref(), &staged);
        Ok(staged)
    }

    /// Moves the record of `from` to `to` (a staged file renamed), in
    /// one commit: `to` keeps what its owner has (`to_base`, `to_entry`
    /// when nothing is staged there), and `from` becomes a removal if its
    /// owner has something there, else disappears.
    pub fn rename(
        &self,
        from: &Target,
        to: &Target,
        to_base: Option<Version>,
        to_entry: Option<u64>,
    ) -> Result<()> {
        let (replaced, staged) = self.commit(|records| {
            let Some(moved) = records.get(from)? else {
                return Err(Error::fs(crate::ErrorKind::NotFound, "nothing staged"));
            };
            // `to` first: delivered before the removal of `from`, so the
            // new name exists at the owner before the old one goes.
            let (replaced, staged) = records.put(to, |old, seq| {
                let (base, entry) = match &old {
                    Some(r) => (r.owner_has(), r.entry),
                    None => (to_base, to_entry),
                };
                Staged {
                    seq,
                    change: moved.change.clone(),
                    base,
                    entry,
                    delivered: None,
                    changed_at: crate::time::unix_now_nanos(),
                }
            })?;
            // A copy keeps ahead of the removal of what it copies.
            if let Change::Copied { from: source, .. } = &moved.change
                && source != &from.path
            {
                let source = Target::new(from.device, from.location, source.clone());
                if let Some(removal) = records.get(&source)?
                    && removal.change == Change::Removed
                {
                    records.put(&source, |_, seq| Staged { seq, ..removal })?;
                }
            }
            match moved.owner_has() {
                Some(owner_has) => {
                    records.put(from, |_, seq| Staged {
                        seq,
                        change: Change::Removed,
                        base: Some(owner_has),
                        entry: moved.entry,
                        delivered: None,
                        changed_at: crate::time::unix_now_nanos(),
                    })?;
                }
                // The staging file moved to `to`: only the record goes.
                None => {
                    records.remove(from, None)?;
                }
            }
            Ok((replaced, staged))
        })?;
        self.release_replaced(replaced.as_ref(), &staged);
        Ok(())
    }

    /// Commits the record `make` builds from the old one (if any) and a
    /// new seq; returns the old one and the new one.
    fn write(
        &self,
        target: &Target,
        make: impl FnOnce(Option<Staged>, u64) -> Staged,
    ) -> Result<(Option<Staged>, Staged)> {
        self.commit(|records| records.put(target, make))
    }

    /// Runs `change` over the records in one commit (not flushed to disk:
    /// see [`Outbox::sync`]).
    fn commit<R>(&self, change: impl FnOnce(&mut Records<'_>) -> Result<R>) -> Result<R> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::None)?;
        let out = {
            let mut records = Records {
                table: txn.open_table(OUTBOX)?,
                order: txn.open_table(OUTBOX_ORDER)?,
                meta: txn.open_table(schema::META)?,
            };
            change(&mut records)?
        };
        txn.commit()?;
        self.unsynced.store(true, Ordering::Release);
        self.notify();
        Ok(out)
    }

    /// Removes the staging file of `old` unless `new` still uses it.
    fn release_replaced(&self, old: Option<&Staged>, new: &Staged) {
        if let Some(Staged {
            change: Change::File { staged, .. },
            ..
        }) = old
            && !matches!(new.change, Change::File { staged: s, .. } if s == *staged)
        {
            let _ = std::fs::remove_file(self.staged_path(*staged));
        }
    }

    /// Drops the record of `target` (and its staging file): nothing is to
    /// be delivered for it any more.
    pub fn forget(&self, target: &Target) -> Result<()> {
        self.drop_record(target, None)
    }

    /// Drops the record of `target` once the owner's index shows it,
    /// unless it changed since (it is then no longer record `seq`).
    pub fn settle(&self, target: &Target, seq: u64) -> Result<()> {
        self.drop_record(target, Some(seq))
    }

    /// Drops every record for `location` of `device` and its staging files
    /// (the location is gone); returns how many there were.
    pub fn forget_location(
        &self,
        device: DeviceId,
        location: crate::ids::LocationId,
    ) -> Result<usize> {
        let mut dropped = 0;
        for (target, _) in self.all()? {
            if target.device == device && target.location == location {
                self.drop_record(&target, None)?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    /// Drops the record of `target` if it is still the one with `seq`
    /// (`None`: whichever it is), and its staging file.
    fn drop_record(&self, target: &Target, seq: Option<u64>) -> Result<()> {
        let gone = self.commit(|records| records.remove(target, seq))?;
        if let Some(Staged {
            change: Change::File { staged, .. },
            ..
        }) = gone
        {
            let _ = std::fs::remove_file(self.staged_path(staged));
        }
        Ok(())
    }

    /// Puts record `seq` of `target` back in line, unchanged, if it is
    /// still that record (its staging file was written after it was sent).
    pub fn restage(&self, target: &Target, seq: u64) -> Result<()> {
        self.commit(|records| {
            if let Some(old) = records.get(target)?
                && old.seq == seq
            {
                records.put(target, |_, seq| Staged {
                    seq,
                    change: old.change.clone(),
                    base: old.owner_has(),
                    entry: old.entry,
                    delivered: None,
                    changed_at: crate::time::unix_now_nanos(),
                })?;
            }
            Ok(())
        })
    }

    /// Records that the owner applied record `seq` of `target` and now
    /// has `version` there. Returns whether the record was still `seq`.
    ///
    /// A record changed meanwhile keeps its change, based on `version`
    /// now. A record gone meanwhile (renamed or removed here while it was
    /// delivered) becomes a removal of what the owner now has, so the
    /// owner ends up as this device shows it.
    pub fn delivered(&self, target: &Target, seq: u64, version: Version) -> Result<bool> {
        let mut txn = self.db.begin_write()?;
        // Not flushed on its own (the courier syncs after each pass): a
        // change delivered twice after a crash is applied twice, which
        // changes nothing (the same content is no conflict, a removal of
        // what is gone is done).
        txn.set_durability(Durability::None)?;
        let done = {
            let mut records = Records {
                table: txn.open_table(OUTBOX)?,
                order: txn.open_table(OUTBOX_ORDER)?,
                meta: txn.open_table(schema::META)?,
            };
            match records.get(target)? {
                Some(mut staged) if staged.seq == seq => {
                    staged.delivered = Some(version);
                    // From now on, how long it waits for the owner's index.
                    staged.changed_at = crate::time::unix_now_nanos();
                    records
                        .table
                        .insert(target.key().as_slice(), staged.encode().as_slice())?;
                    true
                }
                Some(mut staged) => {
                    staged.base = Some(version);
                    staged.delivered = None;
                    records
                        .table
                        .insert(target.key().as_slice(), staged.encode().as_slice())?;
                    false
                }
                None => {
                    records.put(target, |_, seq| Staged {
                        seq,
                        change: Change::Removed,
                        base: Some(version),
                        entry: None,
                        delivered: None,
                        changed_at: crate::time::unix_now_nanos(),
                    })?;
                    false
                }
            }
        };
        txn.commit()?;
        self.unsynced.store(true, Ordering::Release);
        self.notify();
        Ok(done)
    }

    /// Makes every record committed so far durable (after the staging
    /// file itself was flushed): what `fsync` through the mount waits for.
    pub fn sync(&self) -> Result<()> {
        if !self.unsynced.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let txn = self.db.begin_write()?;
        txn.commit()?;
        Ok(())
    }

    // ---- writers --------------------------------------------------------

    /// Registers a handle that may write staging file `id`.
    /// Until it closes or fsyncs, the file is not delivered: a program
    /// between `open` and its first `write` has not said what it holds.
    pub fn open_writer(self: &Arc<Self>, id: u64) -> WriterTicket {
        let mut writers = self.lock_writers();
        let w = writers.entry(id).or_default();
        w.open += 1;
        w.dirty = true;
        drop(writers);
        WriterTicket {
            outbox: Arc::clone(self),
            id,
        }
    }

    fn lock_writers(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Writers>> {
        self.writers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether staging file `id` may be delivered now: no handle writes
    /// it, or everything written was flushed by fsync since.
    pub fn is_settled(&self, id: u64) -> bool {
        self.lock_writers()
            .get(&id)
            .is_none_or(|w| w.open == 0 || !w.dirty)
    }

    /// Whether a handle may still write staging file `id`.
    pub fn is_open(&self, id: u64) -> bool {
        self.lock_writers().get(&id).is_some_and(|w| w.open > 0)
    }

    /// A counter of writes to staging files, to tell whether a delivery
    /// raced one.
    pub fn write_count(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    fn wrote(&self, id: u64) {
        self.writes.fetch_add(1, Ordering::AcqRel);
        if let Some(w) = self.lock_writers().get_mut(&id) {
            w.dirty = true;
        }
    }

    fn flushed(&self, id: u64) {
        if let Some(w) = self.lock_writers().get_mut(&id) {
            w.dirty = false;
        }
        self.notify();
    }

    // ---- serving staging files to their owners -------------------------

    /// Lets `device` fetch chunks of staging file `id` until the returned
    /// guard is dropped.
    pub fn offer(self: &Arc<Self>, id: u64, device: DeviceId) -> OfferGuard {
        self.offered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, device);
        OfferGuard {
            outbox: Arc::clone(self),
            id,
        }
    }

    /// Byte ranges of staging file `id` for `device`, if it is being
    /// delivered to that device (anyone else learns nothing of it).
    pub fn serve(&self, device: DeviceId, id: u64, ranges: &[(u64, u32)]) -> Result<Vec<Vec<u8>>> {
        let offered = self
            .offered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .copied();
        if offered != Some(device) {
            return Err(Error::fs(crate::ErrorKind::NotFound, "no such file"));
        }
        let path = self.staged_path(id);
        let file = File::open(&path).map_err(|e| Error::io("a staged file", e))?;
        ranges
            .iter()
            .map(|&(offset, length)| {
                if length == 0 || length > sdfs_cas::chunker::MAX_CHUNK {
                    return Err(Error::InvalidInput(format!("chunk length {length}")));
                }
                let mut buf = vec![0u8; length as usize];
                let n = crate::fsutil::read_full_at(&file, &mut buf, offset)
                    .map_err(|e| Error::io("a staged file", e))?;
                buf.truncate(n);
                Ok(buf)
            })
            .collect()
    }

    // ---- waking the courier ---------------------------------------------

    /// Wakes the courier.
    pub fn notify(&self) {
        let mut n = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        self.changed.notify_all();
    }

    /// `device` is online again: what waits for it goes now.
    pub fn reachable(&self, device: DeviceId) {
        self.reachable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(device);
        self.notify();
    }

    /// The devices [`Outbox::reachable`] named since the last call.
    pub fn take_reachable(&self) -> Vec<DeviceId> {
        std::mem::take(&mut *self.reachable.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The change counter now.
    pub fn generation(&self) -> u64 {
        *self.changes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the change counter moves past `seen`, or `timeout`.
    pub fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        let guard = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |n| *n == seen)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }
}

/// A staging file being delivered (see [`Outbox::offer`]).
#[derive(Debug)]
pub struct OfferGuard {
    outbox: Arc<Outbox>,
    id: u64,
}

impl Drop for OfferGuard {
    fn drop(&mut self) {
        self.outbox
            .offered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// A handle's claim on a staging file it may write. Dropped when the
/// handle closes, which lets the courier deliver the file.
#[derive(Debug)]
pub struct WriterTicket {
    outbox: Arc<Outbox>,
    id: u64,
}

impl WriterTicket {
    /// Something was written through the handle.
    pub fn wrote(&self) {
        self.outbox.wrote(self.id);
    }

    /// The handle's data is on disk: flushes the records too.
    pub fn fsynced(&self) -> Result<()> {
        self.outbox.sync()?;
        self.outbox.flushed(self.id);
        Ok(())
    }
}

impl Drop for WriterTicket {
    fn drop(&mut self) {
        let mut writers = self.outbox.lock_writers();
        if let Some(w) = writers.get_mut(&self.id) {
            w.open = w.open.saturating_sub(1);
            if w.open == 0 {
                writers.remove(&self.id);
            }
        }
        drop(writers);
        self.outbox.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::LocationId;

    fn outbox() -> (tempfile::TempDir, Arc<Outbox>) {
        let tmp = tempfile::tempdir().expect("tmp");
        let db = Arc::new(Database::create(tmp.path().join("db.redb")).expect("db"));
        let outbox = Arc::new(Outbox::open(db, tmp.path()).expect("outbox"));
        (tmp, outbox)
    }

    fn at(path: &str) -> Target {
        Target::new(
            DeviceId(uuid::Uuid::from_u128(1)),
            LocationId(uuid::Uuid::from_u128(2)),
            path.as_bytes().to_vec(),
        )
    }

    fn version(size: u64) -> Version {
        Version {
            hash: None,
            size,
            mtime: 7,
            directory: false,
        }
    }

    #[test]
    fn forgetting_a_location_drops_its_records_and_staging_files_only() {
        let (_tmp, outbox) = outbox();
        let (id, _file) = outbox.new_staging_file().expect("staging file");
        outbox
            .stage(
                &at("a"),
                Change::File {
                    staged: id,
                    mode: 0o644,
                },
                None,
                None,
            )
            .expect("staged");
        outbox
            .stage(&at("b"), Change::Removed, Some(version(1)), None)
            .expect("staged");
        let elsewhere = Target::new(
            DeviceId(uuid::Uuid::from_u128(1)),
            LocationId(uuid::Uuid::from_u128(3)),
            b"c".to_vec(),
        );
        outbox
            .stage(&elsewhere, Change::Removed, Some(version(1)), None)
            .expect("staged");
        let dropped = outbox
            .forget_location(at("a").device, at("a").location)
            .expect("forget");
        assert_eq!(dropped, 2);
        assert!(!outbox.staged_path(id).exists(), "its staging file is gone");
        let left: Vec<Target> = outbox
            .all()
            .expect("all")
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(left, vec![elsewhere]);
    }

    /// a → b → c in a bucket: one copy of a to c, and a's removal after it
    /// (never before: the copy needs a).
    #[test]
    fn a_copy_renamed_again_stays_ahead_of_the_removal_of_its_source() {
        let (_tmp, outbox) = outbox();
        let copy = Change::Copied {
            from: b"a".to_vec(),
            source: Some(version(5)),
            mode: 0o644,
        };
        outbox
            .stage(&at("a"), copy.clone(), Some(version(5)), Some(9))
            .expect("staged");
        outbox
            .rename(&at("a"), &at("b"), None, None)
            .expect("a → b");
        outbox
            .rename(&at("b"), &at("c"), None, None)
            .expect("b → c");
        let all = outbox.all().expect("all");
        let order: Vec<(&[u8], &Change)> = all
            .iter()
            .map(|(t, s)| (t.path.as_slice(), &s.change))
            .collect();
        assert_eq!(
            order,
            vec![(&b"c"[..], &copy), (&b"a"[..], &Change::Removed)],
            "{all:?}"
        );
        // The removal is of what the owner had.
        assert_eq!(all[1].1.base, Some(version(5)));
    }

    #[test]
    fn a_file_renamed_while_it_was_delivered_is_removed_at_its_old_name() {
        let (_tmp, outbox) = outbox();
        let (id, _) = outbox.new_staging_file().expect("file");
        let sent = outbox
            .stage(
                &at("sedX"),
                Change::File {
                    staged: id,
                    mode: 0o644,
                },
                None,
                None,
            )
            .expect("stage");
        // Renamed over the real name while the owner applies the old one.
        outbox
            .rename(&at("sedX"), &at("notes.txt"), Some(version(3)), Some(9))
            .expect("rename");
        assert!(
            !outbox
                .delivered(&at("sedX"), sent.seq, version(0))
                .expect("done")
        );
        let old = outbox.get(&at("sedX")).expect("get").expect("a removal");
        assert_eq!((old.change, old.base), (Change::Removed, Some(version(0))));
        let new = outbox
            .get(&at("notes.txt"))
            .expect("get")
            .expect("the file");
        assert_eq!(
            new.change,
            Change::File {
                staged: id,
                mode: 0o644
            }
        );
        assert_eq!((new.base, new.entry), (Some(version(3)), Some(9)));
        // The staging file is the new name's, and stays.
        assert!(outbox.staged_path(id).exists());
        // Delivered in order: the new name first, then the removal.
        let order: Vec<_> = outbox
            .all()
            .expect("all")
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(order, [at("notes.txt"), at("sedX")]);
    }

    #[test]
    fn a_file_written_after_it_was_sent_goes_again_based_on_what_was_sent() {
        let (_tmp, outbox) = outbox();
        let (id, _) = outbox.new_staging_file().expect("file");
        let sent = outbox
            .stage(
                &at("db"),
                Change::File {
                    staged: id,
                    mode: 0o644,
                },
                None,
                None,
            )
            .expect("stage");
        assert!(
            outbox
                .delivered(&at("db"), sent.seq, version(0))
                .expect("done")
        );
        outbox.restage(&at("db"), sent.seq).expect("restage");
        let again = outbox.get(&at("db")).expect("get").expect("record");
        assert_eq!((again.base, again.delivered), (Some(version(0)), None));
        // A restage of a record that changed since does nothing.
        outbox.restage(&at("db"), sent.seq).expect("restage");
        assert_eq!(outbox.get(&at("db")).expect("get"), Some(again));
    }

    #[test]
    fn a_writer_holds_its_file_back_until_it_closes_or_fsyncs() {
        let (_tmp, outbox) = outbox();
        let (id, _) = outbox.new_staging_file().expect("file");
        let ticket = outbox.open_writer(id);
        assert!(!outbox.is_settled(id));
        ticket.fsynced().expect("fsync");
        assert!(outbox.is_settled(id));
        ticket.wrote();
        assert!(!outbox.is_settled(id));
        drop(ticket);
        assert!(outbox.is_settled(id));
        assert!(!outbox.is_open(id));
    }

    #[test]
    fn staging_files_no_record_names_are_removed_on_open() {
        let (tmp, outbox) = outbox();
        let (kept, _) = outbox.new_staging_file().expect("file");
        let (orphan, _) = outbox.new_staging_file().expect("file");
        outbox
            .stage(
                &at("a"),
                Change::File {
                    staged: kept,
                    mode: 0o600,
                },
                None,
                None,
            )
            .expect("stage");
        let db = Arc::clone(&outbox.db);
        drop(outbox);
        let reopened = Outbox::open(db, tmp.path()).expect("reopen");
        assert!(reopened.staged_path(kept).exists());
        assert!(!reopened.staged_path(orphan).exists());
    }
}
