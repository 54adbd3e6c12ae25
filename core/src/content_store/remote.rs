//! Manifests of other devices' files, remembered per (device, entry) with
//! the size and mtime the entry had, so a cached file reads while its owner
//! is offline even before the owner computed its integrity hash.

use redb::{ReadableDatabase, TableDefinition};
use sdfs_cas::FileHash;

use super::ContentStore;
use crate::error::Result;
use crate::ids::DeviceId;
use crate::model::entry::{EntryKind, EntryRecord};
use crate::sync::replica::ReplicaView;

/// Where another device's file stands on this device (SPEC §4 file
/// states), as `user.sd.state` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileState {
    /// Nothing of it is here: reads go to a device that has it.
    OnlineOnly,
    /// Some of its chunks are in the content store (being fetched, or
    /// read in part).
    Partial,
    /// Complete and verified in the content store, evictable.
    Cached,
    /// Kept on this device, never evicted.
    Pinned,
}

impl FileState {
    pub fn as_str(self) -> &'static str {
        match self {
            FileState::OnlineOnly => "online-only",
            FileState::Partial => "partial",
            FileState::Cached => "cached",
            FileState::Pinned => "pinned",
        }
    }
}

/// `(device, entry)` → size (8 B LE) ++ mtime (8 B LE) ++ file hash (32 B).
pub const REMOTE_MANIFESTS: TableDefinition<'_, (u128, u64), &[u8]> =
    TableDefinition::new("remote_manifests");

const RECORD: usize = 48;

impl ContentStore {
    /// The file hash of the manifest fetched for `entry` of `device` while
    /// it had `stamp` (size, mtime), if any.
    pub fn remote_manifest_hash(
        &self,
        device: DeviceId,
        entry: u64,
        stamp: (u64, i64),
    ) -> Result<Option<FileHash>> {
        let txn = self.lib.db().begin_read()?;
        let table = match txn.open_table(REMOTE_MANIFESTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(value) = table.get((device.0.as_u128(), entry))? else {
            return Ok(None);
        };
        let bytes = value.value();
        if bytes.len() != RECORD {
            return Ok(None);
        }
        let size = u64::from_le_bytes(bytes[0..8].try_into().unwrap_or_default());
        let mtime = i64::from_le_bytes(bytes[8..16].try_into().unwrap_or_default());
        if (size, mtime) != stamp {
            return Ok(None);
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&bytes[16..]);
        Ok(Some(FileHash(hash)))
    }

    pub fn remember_remote_manifest(
        &self,
        device: DeviceId,
        entry: u64,
        stamp: (u64, i64),
        hash: FileHash,
    ) -> Result<()> {
        let mut record = [0u8; RECORD];
        record[0..8].copy_from_slice(&stamp.0.to_le_bytes());
        record[8..16].copy_from_slice(&stamp.1.to_le_bytes());
        record[16..].copy_from_slice(&hash.0);
        let txn = self.lib.db().begin_write()?;
        txn.open_table(REMOTE_MANIFESTS)?
            .insert((device.0.as_u128(), entry), record.as_slice())?;
        txn.commit()?;
        Ok(())
    }
}

impl ContentStore {
    /// Where file `entry` of `device` (its record as `view` has it) stands
    /// on this device; `None` for what has no bytes (directories, links).
    pub fn remote_state(
        &self,
        view: &ReplicaView,
        device: DeviceId,
        entry: u64,
        record: &EntryRecord,
    ) -> Result<Option<FileState>> {
        if record.kind != EntryKind::File {
            return Ok(None);
        }
        let Some(hash) = self.remote_hash(view, device, entry, record)? else {
            // No manifest known: nothing of it can have been fetched.
            return Ok(Some(FileState::OnlineOnly));
        };
        let chunks = self.chunks();
        if chunks.is_pinned(&hash)? {
            return Ok(Some(FileState::Pinned));
        }
        let Some(manifest) = chunks.manifest(&hash)? else {
            return Ok(Some(FileState::OnlineOnly));
        };
        if chunks.assembled(&manifest).is_some() {
            return Ok(Some(FileState::Cached));
        }
        let mut held = 0;
        for chunk in manifest.chunks() {
            if chunks.contains(&chunk.id)? {
                held += 1;
            }
        }
        Ok(Some(match held {
            0 => FileState::OnlineOnly,
            n if n == manifest.chunks().len() => FileState::Cached,
            _ => FileState::Partial,
        }))
    }

    /// The file hash of `device`'s file `entry` as this device knows it:
    /// the owner's integrity hash, else that of a manifest fetched for it
    /// at its current size and mtime.
    pub fn remote_hash(
        &self,
        view: &ReplicaView,
        device: DeviceId,
        entry: u64,
        record: &EntryRecord,
    ) -> Result<Option<FileHash>> {
        let integrity = match record.content {
            Some(c) => view.content(c)?.and_then(|c| c.integrity),
            None => None,
        };
        match integrity {
            Some(hash) => Ok(Some(FileHash(hash))),
            None => self.remote_manifest_hash(device, entry, (record.size, record.mtime)),
        }
    }
}
