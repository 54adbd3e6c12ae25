//! Keeping other devices' files on this device (SPEC §4 file states).
//!
//! `pin` fetches a file or a whole folder, verifies every chunk, stores and
//! pins it; the folder itself is remembered, so what later arrives in it
//! is fetched too (OneDrive's "always keep on this device"). `free_up`
//! turns files back into online-only ones. Pins are remembered by
//! (device, entry): an entry's id survives renames and moves on its owner.
//! This device's cloud volumes are kept the same way, by (this device,
//! entry of its own index): a file is fetched whole from its bucket,
//! checked, and its copy in the store pinned.

use redb::{ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};

use super::Namespace;
use crate::content_store::PinReport;
use crate::error::{Error, ErrorKind, Result};
use crate::ids::DeviceId;
use crate::model::entry::{EntryKind, EntryRecord};

/// `(device, entry)` → when it was pinned (unix seconds): the files and
/// folders of other devices kept on this one.
const REMOTE_PINS: TableDefinition<'_, (u128, u64), i64> = TableDefinition::new("remote_pins");

/// Bytes read per step while fetching (progress is reported per step).
const STEP: usize = 1024 * 1024;

/// Where a fetch stands: one event per megabyte or file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FetchProgress {
    pub files_done: u64,
    pub files: u64,
    pub bytes_done: u64,
    pub bytes: u64,
    /// The file being fetched, by its path below the pinned target.
    pub current: String,
}

/// A file below a target: its entry, record and path below the target.
struct Below {
    entry: u64,
    record: EntryRecord,
    path: Vec<u8>,
}

impl Namespace {
    /// Fetches, verifies and pins another device's file, or every file
    /// below its folder, and remembers the target so that it stays kept.
    pub fn pin_remote(
        &self,
        device: DeviceId,
        entry: u64,
        progress: &mut dyn FnMut(&FetchProgress),
    ) -> Result<PinReport> {
        // Remembered first: files that fail now are fetched by a later pass.
        let txn = self.lib.db().begin_write()?;
        txn.open_table(REMOTE_PINS)?
            .insert((device.0.as_u128(), entry), crate::time::unix_now_secs())?;
        txn.commit()?;
        self.fetch_below(device, entry, progress)
    }

    /// Removes the pins of another device's file or folder (and of what
    /// was pinned below it): the bytes stay cached until the store needs
    /// the room.
    pub fn unpin_remote(&self, device: DeviceId, entry: u64) -> Result<PinReport> {
        self.release(device, entry, false)
    }

    /// "Free up space": unpins another device's file or folder and drops
    /// its bytes from this device; its files become online-only.
    pub fn free_up(&self, device: DeviceId, entry: u64) -> Result<PinReport> {
        self.release(device, entry, true)
    }

    /// Fetches whatever pinned targets lack (files that arrived in a pinned
    /// folder, new versions of pinned files) and forgets targets that are
    /// gone. Returns the bytes fetched.
    pub fn keep_pinned(&self) -> Result<u64> {
        let mut fetched = 0;
        for (device, entry) in self.remote_pins(0..=u128::MAX)? {
            if self.entry_of(device, entry)?.is_none() {
                self.forget_pins(device, &[entry])?;
                continue;
            }
            match self.fetch_below(device, entry, &mut |_| {}) {
                Ok(report) => fetched += report.stored_bytes,
                Err(e) => tracing::info!("keeping pinned entry {entry} of {device}: {e}"),
            }
        }
        Ok(fetched)
    }

    /// Whether `device`'s entries are this device's cloud volumes'.
    fn is_own(&self, device: DeviceId) -> bool {
        device == self.lib.device_id()
    }

    /// Entry `entry` of `device` (of this device's own index for its cloud
    /// volumes), if it is there.
    fn entry_of(&self, device: DeviceId, entry: u64) -> Result<Option<EntryRecord>> {
        if self.is_own(device) {
            return match self.cloud_entry(entry) {
                Ok(record) => Ok(Some(record)),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            };
        }
        self.view(device)?.entry(entry)
    }

    /// The full hash of a file's content as far as this device knows it.
    fn kept_hash(
        &self,
        device: DeviceId,
        entry: u64,
        record: &EntryRecord,
    ) -> Result<Option<sdfs_cas::FileHash>> {
        if self.is_own(device) {
            return Ok(match record.content {
                Some(id) => self
                    .content
                    .content_record(id)?
                    .integrity
                    .map(sdfs_cas::FileHash),
                None => None,
            });
        }
        let view = self.view(device)?;
        self.content.remote_hash(&view, device, entry, record)
    }

    /// Files below `entry` of `device` (itself, if a file), by path.
    fn files_below(&self, device: DeviceId, entry: u64) -> Result<Vec<Below>> {
        let below = if self.is_own(device) {
            self.cloud_below(entry)?
        } else {
            let view = self.view(device)?;
            let record = view
                .entry(entry)?
                .ok_or_else(|| Error::fs(ErrorKind::NotFound, format!("entry {entry}")))?;
            if record.kind == EntryKind::File {
                let path = record.name.clone();
                vec![(entry, path, record)]
            } else {
                view.below(entry)?
            }
        };
        let mut out: Vec<Below> = below
            .into_iter()
            .filter(|(_, _, record)| record.kind == EntryKind::File)
            .map(|(entry, path, record)| Below {
                entry,
                record,
                path,
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Fetches and pins every file below the target not pinned yet.
    /// `items` lists the files already kept, `skipped` those that failed.
    fn fetch_below(
        &self,
        device: DeviceId,
        entry: u64,
        progress: &mut dyn FnMut(&FetchProgress),
    ) -> Result<PinReport> {
        let files = self.files_below(device, entry)?;
        let chunks = self.content.chunks();
        let mut state = FetchProgress {
            files: files.len() as u64,
            bytes: files.iter().map(|f| f.record.size).sum(),
            ..FetchProgress::default()
        };
        let mut report = PinReport::default();
        let single = files.len() == 1 && files[0].entry == entry;
        let mut done_bytes = 0;
        for file in &files {
            state.current = String::from_utf8_lossy(&file.path).into_owned();
            progress(&state);
            let known = self.kept_hash(device, file.entry, &file.record)?;
            let done = match known {
                Some(hash) if chunks.is_pinned(&hash)? => Ok((hash, 0)),
                _ => self.fetch_one(device, file.entry, &mut state, progress),
            };
            match done {
                Ok((hash, stored)) => {
                    report.files += 1;
                    report.bytes += file.record.size;
                    report.stored_bytes += stored;
                    report.items.push((state.current.clone(), hash.to_string()));
                }
                // One file of a folder failing does not stop the rest: the
                // next pass tries it again.
                Err(e) if !single => report.skipped.push(format!("{}: {e}", state.current)),
                Err(e) => return Err(e),
            }
            state.files_done += 1;
            done_bytes += file.record.size;
            state.bytes_done = done_bytes;
        }
        progress(&state);
        Ok(report)
    }

    /// Reads one file of another device whole through a verifying reader
    /// that stores each chunk, then pins it. Returns its hash and the
    /// bytes read.
    fn fetch_one(
        &self,
        device: DeviceId,
        entry: u64,
        state: &mut FetchProgress,
        progress: &mut dyn FnMut(&FetchProgress),
    ) -> Result<(sdfs_cas::FileHash, u64)> {
        if self.is_own(device) {
            return self.fetch_one_cloud(entry, state, progress);
        }
        let reader = self.remote_reader_keeping(device, entry)?;
        let manifest = std::sync::Arc::clone(reader.manifest());
        let mut buf = vec![0u8; STEP];
        let mut offset = 0u64;
        let start = state.bytes_done;
        while offset < manifest.size() {
            let n = reader
                .read_at(offset, &mut buf)
                .map_err(|e| Error::fs(ErrorKind::Unavailable, e.to_string()))?;
            if n == 0 {
                break;
            }
            offset += n as u64;
            state.bytes_done = start + offset;
            progress(state);
        }
        // Chunks another reader of the file fetched moments ago come from
        // the hot cache (verified there) and may not be stored yet.
        let chunks = self.content.chunks();
        let ingest = chunks.ingest();
        for chunk in manifest.chunks() {
            if !chunks.contains(&chunk.id)? {
                let bytes = reader
                    .chunk(chunk)
                    .map_err(|e| Error::fs(ErrorKind::Unavailable, e.to_string()))?;
                ingest.add(&chunk.id, &bytes)?;
            }
        }
        ingest.commit()?;
        drop(reader);
        chunks.put_manifest(&manifest)?;
        chunks.pin(&manifest, crate::time::unix_now_secs())?;
        Ok((manifest.hash(), offset))
    }

    /// Fetches one file of a cloud volume whole (checked, kept in the
    /// store) unless the store has it, then pins it.
    fn fetch_one_cloud(
        &self,
        entry: u64,
        state: &mut FetchProgress,
        progress: &mut dyn FnMut(&FetchProgress),
    ) -> Result<(sdfs_cas::FileHash, u64)> {
        let record = self.cloud_entry(entry)?;
        let location = self.cloud_location_of(entry)?;
        let path = self.cloud_path(location, entry)?;
        let volumes = self.content.cloud().ok_or_else(|| {
            Error::fs(
                ErrorKind::Unavailable,
                "cloud volumes are not reachable here",
            )
        })?;
        let backend = volumes.backend(location)?;
        let was_here = !matches!(
            crate::cloud::file_state(&self.content, &record)?,
            Some(crate::content_store::FileState::OnlineOnly)
        );
        let manifest = crate::cloud::stored_or_fetched(&self.content, &*backend, &path, &record)?;
        let chunks = self.content.chunks();
        chunks.put_manifest(&manifest)?;
        chunks.pin(&manifest, crate::time::unix_now_secs())?;
        state.bytes_done += record.size;
        progress(state);
        Ok((manifest.hash(), if was_here { 0 } else { record.size }))
    }

    /// Unpins the files below a target (and forgets the pinned targets at
    /// or below it); with `evict`, drops their bytes too.
    fn release(&self, device: DeviceId, entry: u64, evict: bool) -> Result<PinReport> {
        let files = self.files_below(device, entry)?;
        let mut forget: Vec<u64> = files.iter().map(|f| f.entry).collect();
        forget.push(entry);
        forget.extend(self.pinned_dirs_below(device, entry)?);
        self.forget_pins(device, &forget)?;
        let chunks = self.content.chunks();
        let mut report = PinReport::default();
        for file in files {
            let name = String::from_utf8_lossy(&file.path).into_owned();
            let hash = self.kept_hash(device, file.entry, &file.record)?;
            let Some(hash) = hash else {
                report.skipped.push(format!("{name}: online-only already"));
                continue;
            };
            let unpinned = chunks.unpin(&hash)?;
            let mut freed = 0;
            if evict && let Some(manifest) = chunks.manifest(&hash)? {
                for chunk in manifest.chunks() {
                    self.content.hot().remove(&chunk.id);
                }
                freed = chunks.evict_content(&manifest)?.1;
            }
            if unpinned || freed > 0 {
                report.files += 1;
                report.bytes += file.record.size;
                report.stored_bytes += freed;
                report.items.push((name, hash.to_string()));
            } else if !evict {
                report.skipped.push(format!("{name}: not pinned"));
            }
        }
        Ok(report)
    }

    /// Pinned folders of `device` at or below directory `entry`.
    fn pinned_dirs_below(&self, device: DeviceId, entry: u64) -> Result<Vec<u64>> {
        let d = device.0.as_u128();
        let mut below = Vec::new();
        for (_, id) in self.remote_pins(d..=d)? {
            // Walk up from each pinned entry (bounded, as for paths).
            let mut at = id;
            for _ in 0..4096 {
                if at == entry {
                    below.push(id);
                    break;
                }
                match self.entry_of(device, at)? {
                    Some(record) if record.parent != at => at = record.parent,
                    _ => break,
                }
            }
        }
        Ok(below)
    }

    /// The pinned targets of the devices in `devices` (by their u128 id).
    fn remote_pins(&self, devices: std::ops::RangeInclusive<u128>) -> Result<Vec<(DeviceId, u64)>> {
        let txn = self.lib.db().begin_read()?;
        let table = match txn.open_table(REMOTE_PINS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for row in table.range((*devices.start(), 0)..=(*devices.end(), u64::MAX))? {
            let (device, entry) = row?.0.value();
            out.push((DeviceId(uuid::Uuid::from_u128(device)), entry));
        }
        Ok(out)
    }

    fn forget_pins(&self, device: DeviceId, entries: &[u64]) -> Result<()> {
        let txn = self.lib.db().begin_write()?;
        {
            let mut table = txn.open_table(REMOTE_PINS)?;
            for entry in entries {
                table.remove((device.0.as_u128(), *entry))?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}
