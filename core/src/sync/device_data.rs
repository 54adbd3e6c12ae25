//! The device-owned tables (volumes, locations, entries, content, extracts) opened
//! for writing: the only way to change them, and every change is recorded
//! in the change log in the same transaction, so no write can leave
//! replicas behind. Reads go through [`DeviceData`]'s table accessors here,
//! or through [`Synced::read`](crate::library::schema::Synced::read) in a
//! read transaction.

use redb::{ReadableTable, Table, WriteTransaction};

use super::Resource;
use super::changes::ChangeLog;
use crate::error::Result;
use crate::library::schema;

/// The device-owned tables and the change log, inside one write transaction.
pub struct DeviceData<'txn> {
    volumes: Table<'txn, u128, &'static [u8]>,
    locations: Table<'txn, u128, &'static [u8]>,
    entries: Table<'txn, u64, &'static [u8]>,
    content: Table<'txn, u128, &'static [u8]>,
    extracts: Table<'txn, u128, &'static [u8]>,
    log: ChangeLog<'txn>,
}

/// Inserts `bytes` under `key`, logging the change unless the record was
/// already exactly that (an unchanged re-index sends nothing to replicas).
fn put<K: redb::Key + 'static>(
    table: &mut Table<'_, K, &'static [u8]>,
    log: &mut ChangeLog<'_>,
    resource: Resource,
    key: K::SelfType<'_>,
    logged_key: u128,
    bytes: &[u8],
) -> Result<bool> {
    let same = table
        .insert(key, bytes)?
        .is_some_and(|old| old.value() == bytes);
    if !same {
        log.record(resource, logged_key)?;
    }
    Ok(!same)
}

/// Removes `key`, logging the deletion if there was a record.
fn remove<K: redb::Key + 'static>(
    table: &mut Table<'_, K, &'static [u8]>,
    log: &mut ChangeLog<'_>,
    resource: Resource,
    key: K::SelfType<'_>,
    logged_key: u128,
) -> Result<bool> {
    let existed = table.remove(key)?.is_some();
    if existed {
        log.record_deletion(resource, logged_key, crate::time::unix_now_secs())?;
    }
    Ok(existed)
}

impl<'txn> DeviceData<'txn> {
    pub fn open(txn: &'txn WriteTransaction) -> Result<Self> {
        Ok(DeviceData {
            volumes: txn.open_table(schema::VOLUMES.raw_definition())?,
            locations: txn.open_table(schema::LOCATIONS.raw_definition())?,
            entries: txn.open_table(schema::ENTRIES.raw_definition())?,
            content: txn.open_table(schema::CONTENT.raw_definition())?,
            extracts: txn.open_table(schema::EXTRACTS.raw_definition())?,
            log: ChangeLog::open(txn)?,
        })
    }

    pub fn entries(&self) -> &Table<'txn, u64, &'static [u8]> {
        &self.entries
    }

    pub fn content(&self) -> &Table<'txn, u128, &'static [u8]> {
        &self.content
    }

    pub fn locations(&self) -> &Table<'txn, u128, &'static [u8]> {
        &self.locations
    }

    pub fn volumes(&self) -> &Table<'txn, u128, &'static [u8]> {
        &self.volumes
    }

    /// Writes entry `id`; returns whether it changed.
    pub fn put_entry(&mut self, id: u64, bytes: &[u8]) -> Result<bool> {
        let resource = Resource::Entry;
        put(
            &mut self.entries,
            &mut self.log,
            resource,
            id,
            u128::from(id),
            bytes,
        )
    }

    pub fn remove_entry(&mut self, id: u64) -> Result<bool> {
        let resource = Resource::Entry;
        remove(
            &mut self.entries,
            &mut self.log,
            resource,
            id,
            u128::from(id),
        )
    }

    pub fn put_content(&mut self, key: u128, bytes: &[u8]) -> Result<bool> {
        put(
            &mut self.content,
            &mut self.log,
            Resource::Content,
            key,
            key,
            bytes,
        )
    }

    /// Removes content `key` and what it said.
    pub fn remove_content(&mut self, key: u128) -> Result<bool> {
        remove(
            &mut self.extracts,
            &mut self.log,
            Resource::Extract,
            key,
            key,
        )?;
        remove(
            &mut self.content,
            &mut self.log,
            Resource::Content,
            key,
            key,
        )
    }

    /// Writes what content `key` says; only content this device holds
    /// has one.
    pub fn put_extract(&mut self, key: u128, bytes: &[u8]) -> Result<bool> {
        if self.content.get(key)?.is_none() {
            return Ok(false);
        }
        put(
            &mut self.extracts,
            &mut self.log,
            Resource::Extract,
            key,
            key,
            bytes,
        )
    }

    pub fn put_location(&mut self, key: u128, bytes: &[u8]) -> Result<bool> {
        put(
            &mut self.locations,
            &mut self.log,
            Resource::Location,
            key,
            key,
            bytes,
        )
    }

    pub fn remove_location(&mut self, key: u128) -> Result<bool> {
        remove(
            &mut self.locations,
            &mut self.log,
            Resource::Location,
            key,
            key,
        )
    }

    pub fn put_volume(&mut self, key: u128, bytes: &[u8]) -> Result<bool> {
        put(
            &mut self.volumes,
            &mut self.log,
            Resource::Volume,
            key,
            key,
            bytes,
        )
    }

    pub fn remove_volume(&mut self, key: u128) -> Result<bool> {
        remove(&mut self.volumes, &mut self.log, Resource::Volume, key, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::schema;
    use redb::ReadableDatabase;

    fn heads(lib: &crate::Library) -> [u64; Resource::ALL.len()] {
        crate::sync::changes::heads(lib.db()).expect("heads")
    }

    #[test]
    fn an_extract_lives_and_goes_with_its_content() {
        let tmp = tempfile::tempdir().expect("tmp");
        let lib = crate::Library::create(&tmp.path().join("l"), "laptop").expect("lib");
        let extract = Resource::Extract.slot();
        let txn = lib.db().begin_write().expect("txn");
        {
            let mut data = DeviceData::open(&txn).expect("open");
            assert!(!data.put_extract(9, b"said").expect("no such content"));
            data.put_content(9, b"c").expect("content");
            assert!(data.put_extract(9, b"said").expect("extract"));
        }
        txn.commit().expect("commit");
        let kept = heads(&lib)[extract];
        assert!(kept > 0);
        let txn = lib.db().begin_write().expect("txn");
        DeviceData::open(&txn)
            .expect("open")
            .remove_content(9)
            .expect("remove");
        txn.commit().expect("commit");
        // Its removal is logged, so replicas forget it too.
        assert!(heads(&lib)[extract] > kept);
        let read = lib.db().begin_read().expect("read");
        let extracts = schema::EXTRACTS.read(&read).expect("extracts");
        assert!(
            redb::ReadableTable::get(&extracts, 9)
                .expect("get")
                .is_none()
        );
    }

    #[test]
    fn every_change_and_only_a_change_is_logged() {
        let tmp = tempfile::tempdir().expect("tmp");
        let lib = crate::Library::create(&tmp.path().join("l"), "laptop").expect("lib");
        let before = heads(&lib);
        let txn = lib.db().begin_write().expect("txn");
        {
            let mut data = DeviceData::open(&txn).expect("open");
            assert!(data.put_entry(7, b"one").expect("put"));
            assert!(!data.put_entry(7, b"one").expect("same again"));
            assert!(data.put_content(9, b"c").expect("content"));
            assert!(data.remove_content(9).expect("remove"));
            assert!(!data.remove_content(9).expect("gone already"));
        }
        txn.commit().expect("commit");
        let after = heads(&lib);
        let entry = Resource::ALL
            .iter()
            .position(|r| *r == Resource::Entry)
            .expect("entry");
        let content = Resource::ALL
            .iter()
            .position(|r| *r == Resource::Content)
            .expect("content");
        assert!(after[entry] > before[entry]);
        assert!(after[content] > before[content]);
        let read = lib.db().begin_read().expect("read");
        let entries = schema::ENTRIES.read(&read).expect("entries");
        assert_eq!(
            redb::ReadableTable::get(&entries, 7)
                .expect("get")
                .map(|v| v.value().to_vec()),
            Some(b"one".to_vec())
        );
    }
}
