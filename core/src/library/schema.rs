//! The redb schema. Keys are big-endian where order matters (redb's integer keys
//! already compare numerically); records are postcard (varint, little endian).
//!
//! Bump [`VERSION`] on any incompatible change; an older sd refuses a newer library.

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use crate::error::Result;

/// A device-owned table (SPEC §4): replicas pull every change of it, so it
/// is read through [`Synced::read`] and written only through
/// [`DeviceData`](crate::sync::DeviceData), which logs each change in the
/// same transaction.
pub struct Synced<K: redb::Key + 'static>(TableDefinition<'static, K, &'static [u8]>);

impl<K: redb::Key + 'static> Synced<K> {
    const fn new(name: &'static str) -> Self {
        Synced(TableDefinition::new(name))
    }

    pub fn read(&self, txn: &ReadTransaction) -> Result<ReadOnlyTable<K, &'static [u8]>> {
        Ok(txn.open_table(self.0)?)
    }

    /// The raw definition: for `DeviceData`, the change log's first fill
    /// and maintenance that rewrites a table without changing a record
    /// alone (`cargo xtask tidy` checks no one else opens it).
    pub(crate) fn raw_definition(&self) -> TableDefinition<'static, K, &'static [u8]> {
        self.0
    }
}

/// On-disk format version written by this build.
pub const VERSION: u32 = 1;

/// Counters and versions: `schema_version`, `next_entry_id`, `next_job_id`.
pub const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
/// Device id → [`DeviceRecord`](crate::model::device::DeviceRecord).
pub const DEVICES: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("devices");
/// Volume id → [`VolumeRecord`](crate::model::volume::VolumeRecord).
pub const VOLUMES: Synced<u128> = Synced::new("volumes");
/// Location id → [`LocationRecord`](crate::model::location::LocationRecord).
pub const LOCATIONS: Synced<u128> = Synced::new("locations");
/// Entry id → [`EntryRecord`](crate::model::entry::EntryRecord).
pub const ENTRIES: Synced<u64> = Synced::new("entries");
/// `parent id (u64 BE) ++ name bytes` → child entry id. Lookup by (parent, name)
/// is a point get; listing a directory is a prefix range.
pub const CHILDREN: TableDefinition<'_, &[u8], u64> = TableDefinition::new("children");
/// inode → entry id: recognises moves and renames. Keyed by inode alone to
/// stay small; the entry's own `dev` settles the rare clash across filesystems.
pub const INODES: TableDefinition<'_, u64, u64> = TableDefinition::new("inodes");
/// Content id → [`ContentRecord`](crate::model::content::ContentRecord).
pub const CONTENT: Synced<u128> = Synced::new("content");
/// Content id → [`ExtractRecord`](crate::model::extract::ExtractRecord):
/// what this device's copies of a content say (text, EXIF).
pub const EXTRACTS: Synced<u128> = Synced::new("extracts");
/// (content id, entry id) → (): the instances of each content.
pub const INSTANCES: TableDefinition<'_, (u128, u64), ()> = TableDefinition::new("instances");
/// (location root entry id, entry id) → (): files whose content is not identified yet.
pub const UNIDENTIFIED: TableDefinition<'_, (u64, u64), ()> = TableDefinition::new("unidentified");
/// Job id → [`JobRecord`](crate::jobs::JobRecord) (JSON; small and rare).
pub const JOBS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("jobs");
/// (job id, directory entry id) → (): directories an index job has still to read.
pub const INDEX_QUEUE: TableDefinition<'_, (u64, u64), ()> = TableDefinition::new("index_queue");
/// (job id, entry id) → (): entries gone from their directory, removed at the
/// end of processing unless they turn up elsewhere (a move).
pub const INDEX_REMOVALS: TableDefinition<'_, (u64, u64), ()> =
    TableDefinition::new("index_removals");

/// Entry id → [`LocalManifest`](crate::content_store::LocalManifest): the
/// manifest of a local file, valid while the file keeps the recorded stamp.
pub const MANIFESTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("manifests");
/// Entry id → [`IntegrityIssue`](crate::content_store::IntegrityIssue):
/// sampled-hash collisions and corruption the integrity job found.
pub const INTEGRITY_ISSUES: TableDefinition<'_, u64, &[u8]> =
    TableDefinition::new("integrity_issues");
/// Entry id → unix seconds when the integrity job last read this device's
/// file whole and found the content's full BLAKE3 (the Guardian shows it
/// per copy).
pub const VERIFIED_AT: TableDefinition<'_, u64, i64> = TableDefinition::new("verified_at");

/// Location id → [`CloudConfig`](crate::cloud::CloudConfig) (JSON): how this
/// device reaches its cloud volumes. Local to the device, never synced, and
/// never holding secrets.
pub const CLOUD: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("cloud");

/// Creates the library's own tables and records the schema version (the
/// sync and shared-data modules create theirs in the same transaction; see
/// `Library`'s opening).
pub(super) fn create_tables(txn: &WriteTransaction) -> Result<()> {
    let mut meta = txn.open_table(META)?;
    if meta.get("schema_version")?.is_none() {
        meta.insert("schema_version", u64::from(VERSION))?;
    }
    txn.open_table(DEVICES)?;
    txn.open_table(VOLUMES.0)?;
    txn.open_table(LOCATIONS.0)?;
    txn.open_table(ENTRIES.0)?;
    txn.open_table(CHILDREN)?;
    txn.open_table(INODES)?;
    txn.open_table(CONTENT.0)?;
    txn.open_table(EXTRACTS.0)?;
    txn.open_table(INSTANCES)?;
    txn.open_table(UNIDENTIFIED)?;
    txn.open_table(MANIFESTS)?;
    txn.open_table(INTEGRITY_ISSUES)?;
    txn.open_table(VERIFIED_AT)?;
    txn.open_table(JOBS)?;
    txn.open_table(INDEX_QUEUE)?;
    txn.open_table(INDEX_REMOVALS)?;
    txn.open_table(CLOUD)?;
    Ok(())
}

/// The schema version recorded in the database (0 for a brand-new file).
pub(super) fn stored_version(db: &redb::Database) -> Result<u32> {
    use redb::ReadableDatabase;
    let txn = db.begin_read()?;
    let meta = match txn.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let version = meta.get("schema_version")?.map(|v| v.value()).unwrap_or(0);
    Ok(u32::try_from(version).unwrap_or(u32::MAX))
}

/// Key of a child in [`CHILDREN`].
pub fn child_key(parent: u64, name: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + name.len());
    key.extend_from_slice(&parent.to_be_bytes());
    key.extend_from_slice(name);
    key
}

/// The range of [`CHILDREN`] keys under `parent`: `[parent, parent + 1)`.
pub fn children_range(parent: u64) -> ([u8; 8], [u8; 8]) {
    (parent.to_be_bytes(), (parent + 1).to_be_bytes())
}

/// Takes the next value of a counter in [`META`].
pub fn next_id(meta: &mut redb::Table<'_, &str, u64>, counter: &str) -> Result<u64> {
    let next = meta.get(counter)?.map(|v| v.value()).unwrap_or(1);
    meta.insert(counter, next + 1)?;
    Ok(next)
}
