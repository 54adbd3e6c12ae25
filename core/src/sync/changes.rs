//! The owner's change log: `(resource, seq) → key`, plus `(resource, key) →
//! seq` so a key changed again moves to the end instead of piling up.
//! Deletions stay in the log (as keys whose record is gone), so a replica
//! that was away learns of them.

use redb::{ReadableTable, ReadableTableMetadata, Table, TableDefinition, WriteTransaction};

use super::Resource;
use crate::error::Result;
use crate::library::schema;

/// `(resource, seq)` → key of the changed record.
pub const CHANGES: TableDefinition<'_, (u8, u64), u128> = TableDefinition::new("sync_changes");
/// `(resource, key)` → its latest seq in [`CHANGES`].
pub const CHANGE_KEYS: TableDefinition<'_, (u8, u128), u64> =
    TableDefinition::new("sync_change_keys");

/// The change log inside a write transaction.
pub struct ChangeLog<'txn> {
    changes: Table<'txn, (u8, u64), u128>,
    keys: Table<'txn, (u8, u128), u64>,
}

impl<'txn> ChangeLog<'txn> {
    pub fn open(txn: &'txn WriteTransaction) -> Result<Self> {
        Ok(ChangeLog {
            changes: txn.open_table(CHANGES)?,
            keys: txn.open_table(CHANGE_KEYS)?,
        })
    }

    /// Records that `key` of `resource` changed (or went).
    pub fn record(&mut self, resource: Resource, key: u128) -> Result<()> {
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
        }
        self.changes.insert((r, next), key)?;
        Ok(())
    }
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
    let entries = txn.open_table(schema::ENTRIES.raw_definition())?;
    for row in entries.iter()? {
        log.record(Resource::Entry, u128::from(row?.0.value()))?;
    }
    Ok(())
}
