//! Storage use per table, and repacking tables that random inserts and
//! growing updates left half-empty.

use redb::{
    ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction,
};
use serde::Serialize;

use super::schema;
use crate::error::Result;

/// How one table uses the database file.
#[derive(Clone, Debug, Serialize)]
pub struct TableUsage {
    pub table: &'static str,
    pub rows: u64,
    pub leaf_pages: u64,
    pub branch_pages: u64,
    /// Bytes of keys and values.
    pub stored_bytes: u64,
    /// Page headers and offsets.
    pub metadata_bytes: u64,
    /// Unused space inside the table's pages.
    pub fragmented_bytes: u64,
}

fn usage<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    def: TableDefinition<'_, K, V>,
    name: &'static str,
) -> Result<TableUsage> {
    let table = txn.open_table(def)?;
    let stats = table.stats()?;
    Ok(TableUsage {
        table: name,
        rows: table.len()?,
        leaf_pages: stats.leaf_pages(),
        branch_pages: stats.branch_pages(),
        stored_bytes: stats.stored_bytes(),
        metadata_bytes: stats.metadata_bytes(),
        fragmented_bytes: stats.fragmented_bytes(),
    })
}

impl super::Library {
    /// Storage use of every table that grows with the index.
    pub fn table_usage(&self) -> Result<Vec<TableUsage>> {
        let txn = self.db().begin_read()?;
        Ok(vec![
            usage(&txn, schema::ENTRIES.raw_definition(), "entries")?,
            usage(&txn, schema::CHILDREN, "children")?,
            usage(&txn, schema::INODES, "inodes")?,
            usage(&txn, schema::CONTENT.raw_definition(), "content")?,
            usage(&txn, schema::INSTANCES, "instances")?,
            usage(&txn, schema::UNIDENTIFIED, "unidentified")?,
            usage(&txn, schema::INDEX_QUEUE, "index_queue")?,
            usage(&txn, schema::INDEX_REMOVALS, "index_removals")?,
        ])
    }
}

/// Tables smaller than this are not worth repacking.
const REPACK_MIN_ROWS: u64 = 4096;
/// Repack when more than this share of a table's pages is unused.
const REPACK_FRAGMENTATION: f64 = 0.2;

/// Rewrites `def` in key order into a fresh table and swaps it in, inside
/// `txn` (atomic: a crash keeps the old table). Sequential inserts fill
/// pages; B-tree splits after random inserts leave them about two-thirds full.
fn repack<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &WriteTransaction,
    def: TableDefinition<'_, K, V>,
    scratch: TableDefinition<'_, K, V>,
) -> Result<bool> {
    {
        let table = txn.open_table(def)?;
        let stats = table.stats()?;
        let page_bytes = (stats.leaf_pages() + stats.branch_pages()) * 4096;
        if table.len()? < REPACK_MIN_ROWS
            || (stats.fragmented_bytes() as f64) < REPACK_FRAGMENTATION * page_bytes as f64
        {
            return Ok(false);
        }
        let mut fresh = txn.open_table(scratch)?;
        for row in table.iter()? {
            let (key, value) = row?;
            fresh.insert(key.value(), value.value())?;
        }
    }
    txn.delete_table(def)?;
    txn.rename_table(scratch, def)?;
    Ok(true)
}

/// Repacks every large, fragmented table of the index. Returns how many
/// tables it rewrote.
pub fn repack_fragmented(db: &redb::Database) -> Result<usize> {
    {
        let txn = db.begin_write()?;
        let mut done = 0;
        done += usize::from(repack(
            &txn,
            schema::ENTRIES.raw_definition(),
            TableDefinition::new("entries.repack"),
        )?);
        done += usize::from(repack(
            &txn,
            schema::CHILDREN,
            TableDefinition::new("children.repack"),
        )?);
        done += usize::from(repack(
            &txn,
            schema::INODES,
            TableDefinition::new("inodes.repack"),
        )?);
        done += usize::from(repack(
            &txn,
            schema::CONTENT.raw_definition(),
            TableDefinition::new("content.repack"),
        )?);
        done += usize::from(repack(
            &txn,
            schema::INSTANCES,
            TableDefinition::new("instances.repack"),
        )?);
        txn.commit()?;
        Ok(done)
    }
}
