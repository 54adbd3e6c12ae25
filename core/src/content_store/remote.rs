//! Manifests of other devices' files, remembered per (device, entry) with
//! the size and mtime the entry had, so a cached file reads while its owner
//! is offline even before the owner computed its integrity hash.

use redb::{ReadableDatabase, TableDefinition};
use sdfs_cas::FileHash;

use super::ContentStore;
use crate::error::Result;
use crate::ids::DeviceId;

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
