//! The owner's change log: `(resource, seq) → key`, plus `(resource, key) →
//! seq` so a key changed again moves to the end instead of piling up.
//! Deletions stay in the log (as keys whose record is gone), so a replica
//! that was away learns of them, for [`TOMBSTONE_WINDOW_SECS`]; then they
//! are pruned, and a replica whose watermark is below a pruned deletion
//! (its floor) resyncs in full instead of catching up.

use redb::{ReadableTable, ReadableTableMetadata, Table, TableDefinition, WriteTransaction};

use super::Resource;
use crate::error::Result;
use crate::library::schema;

/// `(resource, seq)` → key of the changed record.
pub const CHANGES: TableDefinition<'_, (u8, u64), u128> = TableDefinition::new("sync_changes");
/// `(resource, key)` → its latest seq in [`CHANGES`].
pub const CHANGE_KEYS: TableDefinition<'_, (u8, u128), u64> =
    TableDefinition::new("sync_change_keys");

/// `(resource, seq)` → when the deletion logged at `seq` happened (unix
/// seconds): the tombstones, and how old they are.
pub const TOMBSTONES: TableDefinition<'_, (u8, u64), i64> = TableDefinition::new("sync_tombstones");
/// Resource → the highest seq of a pruned deletion: a replica below it
/// may have missed one and must resync in full.
pub const FLOORS: TableDefinition<'_, u8, u64> = TableDefinition::new("sync_floors");

/// How long deletions stay in the log: a device away for longer resyncs in
/// full when it is back (SPEC §4).
pub const TOMBSTONE_WINDOW_SECS: i64 = 30 * 24 * 3600;

/// The change log inside a write transaction.
pub struct ChangeLog<'txn> {
    changes: Table<'txn, (u8, u64), u128>,
    keys: Table<'txn, (u8, u128), u64>,
    tombstones: Table<'txn, (u8, u64), i64>,
}

impl<'txn> ChangeLog<'txn> {
    pub fn open(txn: &'txn WriteTransaction) -> Result<Self> {
        Ok(ChangeLog {
            changes: txn.open_table(CHANGES)?,
            keys: txn.open_table(CHANGE_KEYS)?,
            tombstones: txn.open_table(TOMBSTONES)?,
        })
    }

    /// Records that `key` of `resource` went, at `now` (unix seconds).
    pub fn record_deletion(&mut self, resource: Resource, key: u128, now: i64) -> Result<()> {
        let seq = self.record(resource, key)?;
        self.tombstones.insert((resource.code(), seq), now)?;
        Ok(())
    }

    /// Records that `key` of `resource` changed; returns its new seq.
    pub fn record(&mut self, resource: Resource, key: u128) -> Result<u64> {
        let r = resource.code();
        let next = self
            .changes
            .range((r, 0)..=(r, u64::MAX))?
            .next_back()
            .transpose()?
            .map_or(1, |(k, _)| k.value().1 + 1);
        if let Some(old) = self.keys.insert((r, key), next)? {
            let old = old.value();
            self.changes.remove((r, old))?;
            self.tombstones.remove((r, old))?;
        }
        self.changes.insert((r, next), key)?;
        Ok(next)
    }
}

/// Drops deletions logged before `before` (unix seconds) and raises each
/// resource's floor to the newest one dropped. Returns how many went.
pub fn prune_tombstones(db: &redb::Database, before: i64) -> Result<u64> {
    let txn = db.begin_write()?;
    let pruned = {
        let mut log = ChangeLog::open(&txn)?;
        let mut floors = txn.open_table(FLOORS)?;
        let old: Vec<(u8, u64)> = log
            .tombstones
            .iter()?
            .filter_map(|row| match row {
                Ok((k, at)) if at.value() < before => Some(Ok(k.value())),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<std::result::Result<_, _>>()?;
        for &(r, seq) in &old {
            log.tombstones.remove((r, seq))?;
            if let Some(key) = log.changes.remove((r, seq))? {
                let key = key.value();
                log.keys.remove((r, key))?;
            }
            let floor = floors.get(r)?.map_or(0, |v| v.value());
            if seq > floor {
                floors.insert(r, seq)?;
            }
        }
        old.len() as u64
    };
    txn.commit()?;
    Ok(pruned)
}

/// Each resource's floor, in [`Resource::ALL`] order (0: nothing pruned).
pub fn floors(txn: &redb::ReadTransaction) -> Result<super::Watermarks> {
    let table = match txn.open_table(FLOORS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Default::default()),
        Err(e) => return Err(e.into()),
    };
    let mut out: super::Watermarks = Default::default();
    for (slot, resource) in out.iter_mut().zip(Resource::ALL) {
        *slot = super::Watermark(table.get(resource.code())?.map_or(0, |v| v.value()));
    }
    Ok(out)
}

/// The newest sequence number of each resource's log, in
/// [`Resource::ALL`] order (0 for none): it moves whenever this device
/// records a change, which is when paired devices are told to pull.
pub fn heads(db: &redb::Database) -> Result<[u64; Resource::ALL.len()]> {
    use redb::ReadableDatabase;
    let txn = db.begin_read()?;
    let changes = match txn.open_table(CHANGES) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok([0; Resource::ALL.len()]),
        Err(e) => return Err(e.into()),
    };
    let mut out = [0; Resource::ALL.len()];
    for (head, resource) in out.iter_mut().zip(Resource::ALL) {
        let r = resource.code();
        *head = changes
            .range((r, 0)..=(r, u64::MAX))?
            .next_back()
            .transpose()?
            .map_or(0, |(k, _)| k.value().1);
    }
    Ok(out)
}

/// Keys of `resource` changed (or deleted) after `after`, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changed {
    /// At most the `limit` asked for.
    pub keys: Vec<u128>,
    /// The seq of the last key listed (`after` when none): where to go on
    /// from.
    pub next: u64,
    /// More changes follow `next`.
    pub more: bool,
    /// `after` is below a pruned deletion: a follower there may have
    /// missed one and must start again from the records themselves.
    pub behind_floor: bool,
}

/// What changed in `resource` after seq `after`: for followers of this
/// device's own changes (the search index) as replicas follow them.
pub fn changed_since(
    db: &redb::Database,
    resource: Resource,
    after: u64,
    limit: usize,
) -> Result<Changed> {
    use redb::ReadableDatabase;
    let txn = db.begin_read()?;
    let floor = floors(&txn)?[resource.slot()].0;
    let mut out = Changed {
        next: after,
        behind_floor: after < floor,
        ..Changed::default()
    };
    let changes = match txn.open_table(CHANGES) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(out),
        Err(e) => return Err(e.into()),
    };
    let r = resource.code();
    for row in changes.range((r, after.saturating_add(1))..=(r, u64::MAX))? {
        let (seq, key) = row?;
        if out.keys.len() == limit {
            out.more = true;
            break;
        }
        out.next = seq.value().1;
        out.keys.push(key.value());
    }
    Ok(out)
}

/// Creates the tables. A library indexed before sync existed gets every
/// record it holds logged once, so replicas see all of it.
pub(crate) fn initialise(txn: &WriteTransaction) -> Result<()> {
    let mut log = ChangeLog::open(txn)?;
    if !log.keys.is_empty()? {
        return Ok(());
    }
    let keys = |table: &schema::Synced<u128>| -> Result<Vec<u128>> {
        let table = txn.open_table(table.raw_definition())?;
        let mut out = Vec::new();
        for row in table.iter()? {
            out.push(row?.0.value());
        }
        Ok(out)
    };
    for key in keys(&schema::VOLUMES)? {
        log.record(Resource::Volume, key)?;
    }
    for key in keys(&schema::LOCATIONS)? {
        log.record(Resource::Location, key)?;
    }
    for key in keys(&schema::CONTENT)? {
        log.record(Resource::Content, key)?;
    }
    for key in keys(&schema::EXTRACTS)? {
        log.record(Resource::Extract, key)?;
    }
    let entries = txn.open_table(schema::ENTRIES.raw_definition())?;
    for row in entries.iter()? {
        log.record(Resource::Entry, u128::from(row?.0.value()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::Library;
    use crate::sync::DeviceData;

    fn write(lib: &Library, f: impl FnOnce(&mut DeviceData<'_>)) {
        let txn = lib.db().begin_write().expect("begin");
        {
            let mut data = DeviceData::open(&txn).expect("open");
            f(&mut data);
        }
        txn.commit().expect("commit");
    }

    #[test]
    fn changed_since_lists_each_key_once_in_order_and_pages() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lib = Library::create(&dir.path().join("lib"), "here").expect("library");
        let start = changed_since(lib.db(), Resource::Entry, 0, usize::MAX).expect("changes");
        let after = start.next;
        write(&lib, |d| {
            for id in [1001u64, 1002, 1003] {
                d.put_entry(id, b"x").expect("put");
            }
        });
        // Changed again: it moves to the end instead of showing twice.
        write(&lib, |d| {
            d.put_entry(1001, b"y").expect("put");
            d.remove_entry(1002).expect("remove");
        });
        let all = changed_since(lib.db(), Resource::Entry, after, 10).expect("changes");
        assert_eq!(all.keys, vec![1003, 1001, 1002]);
        assert!(!all.more && !all.behind_floor);
        let first = changed_since(lib.db(), Resource::Entry, after, 2).expect("page");
        assert_eq!(first.keys, vec![1003, 1001]);
        assert!(first.more);
        let rest = changed_since(lib.db(), Resource::Entry, first.next, 2).expect("page");
        assert_eq!(rest.keys, vec![1002]);
        assert_eq!(rest.next, all.next);
        let none = changed_since(lib.db(), Resource::Entry, all.next, 2).expect("none");
        assert!(none.keys.is_empty());
        assert_eq!(none.next, all.next);
        // Once the deletion is pruned, a follower from before it must
        // start again; one past it need not.
        prune_tombstones(lib.db(), i64::MAX).expect("prune");
        assert!(
            changed_since(lib.db(), Resource::Entry, after, 10)
                .expect("changes")
                .behind_floor
        );
        assert!(
            !changed_since(lib.db(), Resource::Entry, all.next, 10)
                .expect("changes")
                .behind_floor
        );
    }
}
