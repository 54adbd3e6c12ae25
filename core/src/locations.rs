//! Adding, listing and removing locations.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable};

use crate::error::{Error, Result};
use crate::ids::{EntryId, LocationId};
use crate::indexer::rules::IndexRules;
use crate::indexer::tables::{ApplyCtx, IndexTables};
use crate::library::{Library, schema};
use crate::model::entry::{EntryRecord, StatFields};
use crate::model::location::{IndexMode, LocationRecord, validate_location_name};
use crate::model::volume::volume_of;

/// Adds `path` as a location named `name` (default: the directory's name).
pub fn add(
    lib: &Library,
    path: &Path,
    name: Option<&str>,
    mode: IndexMode,
    rules: IndexRules,
) -> Result<LocationRecord> {
    let path = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    let md = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
    if !md.is_dir() {
        return Err(Error::InvalidInput(format!(
            "{} is not a directory",
            path.display()
        )));
    }
    let default_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".into());
    let name = name.map(str::to_owned).unwrap_or(default_name);
    validate_location_name(&name)?;
    let path_bytes = crate::fsutil::path_bytes(&path).to_vec();
    for existing in list(lib.db())? {
        if existing.name == name {
            return Err(Error::AlreadyExists(format!(
                "a location named {name:?} already exists"
            )));
        }
        let Some(other) = existing.root_path() else {
            continue;
        };
        if path.starts_with(&other) || other.starts_with(&path) {
            return Err(Error::AlreadyExists(format!(
                "{} overlaps location {:?} ({})",
                path.display(),
                existing.name,
                other.display()
            )));
        }
    }
    let volume = volume_of(&path, lib.device_id());
    let txn = lib.db().begin_write()?;
    let record = {
        let mut tables = IndexTables::open(&txn)?;
        let root = tables.allocate_id()?;
        let root_record = EntryRecord::new(0, b"", &StatFields::from_metadata(&md));
        tables.put_entry(root, &root_record)?;
        let record = LocationRecord {
            id: LocationId::new_random(),
            name,
            path: path_bytes,
            root: EntryId(root),
            mode,
            rules,
            volume: volume.as_ref().map(|v| v.id),
            created_at: crate::time::unix_now_nanos(),
            last_indexed: None,
            remote_writes: true,
        };
        tables
            .data
            .put_location(record.id.0.as_u128(), record.encode().as_slice())?;
        if let Some(volume) = &volume {
            tables
                .data
                .put_volume(volume.id.0.as_u128(), volume.encode().as_slice())?;
        }
        record
    };
    txn.commit()?;
    Ok(record)
}

/// Every location, by name.
pub fn list(db: &Database) -> Result<Vec<LocationRecord>> {
    let txn = db.begin_read()?;
    let table = schema::LOCATIONS.read(&txn)?;
    let mut out = Vec::new();
    for row in table.iter()? {
        out.push(LocationRecord::decode(row?.1.value())?);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The location with this name.
pub fn get_by_name(db: &Database, name: &str) -> Result<LocationRecord> {
    list(db)?
        .into_iter()
        .find(|l| l.name == name)
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no location named {name:?} (see `sd location list`)"
            ))
        })
}

/// The location with this id.
pub fn get_by_id(db: &Database, id: LocationId) -> Result<LocationRecord> {
    let txn = db.begin_read()?;
    let table = schema::LOCATIONS.read(&txn)?;
    let row = table
        .get(id.0.as_u128())?
        .ok_or_else(|| Error::NotFound(format!("no location {id}")))?;
    LocationRecord::decode(row.value())
}

/// Removes a location and everything indexed under it (the files stay).
pub fn remove(lib: &Library, name: &str) -> Result<LocationRecord> {
    let location = get_by_name(lib.db(), name)?;
    let root_path = location.root_path().unwrap_or_default();
    let txn = lib.db().begin_write()?;
    {
        let mut tables = IndexTables::open(&txn)?;
        let ctx = ApplyCtx {
            job: 0,
            root: location.root.0,
            root_path: &root_path,
            identify: false,
        };
        tables.remove_subtree(&ctx, location.root.0)?;
        tables.data.remove_location(location.id.0.as_u128())?;
        let mut jobs = txn.open_table(schema::JOBS)?;
        let stale: Vec<u64> = jobs
            .iter()?
            .filter_map(|row| {
                let (k, v) = row.ok()?;
                let job: crate::jobs::JobRecord = serde_json::from_slice(v.value()).ok()?;
                (job.location == location.id && job.state.is_active()).then_some(k.value())
            })
            .collect();
        for id in stale {
            jobs.remove(id)?;
            let queue = &mut tables.queue;
            let keys: Vec<(u64, u64)> = queue
                .range((id, 0)..=(id, u64::MAX))?
                .map(|r| r.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()?;
            for key in keys {
                queue.remove(key)?;
            }
        }
    }
    txn.commit()?;
    Ok(location)
}

/// Lets paired devices change files of location `name` through their
/// mounts, or stops them. The setting travels with the location record, so
/// a device refuses a write at once instead of queueing one the owner
/// would refuse.
pub fn set_remote_writes(lib: &Library, name: &str, on: bool) -> Result<LocationRecord> {
    let key = get_by_name(lib.db(), name)?.id.0.as_u128();
    let txn = lib.db().begin_write()?;
    let location = {
        let mut data = crate::sync::DeviceData::open(&txn)?;
        // Read again inside the transaction: an index job may have
        // rewritten the record since.
        let mut location = data
            .locations()
            .get(key)?
            .map(|v| LocationRecord::decode(v.value()))
            .transpose()?
            .ok_or_else(|| Error::NotFound(format!("no location named {name:?}")))?;
        location.remote_writes = on;
        data.put_location(key, location.encode().as_slice())?;
        location
    };
    txn.commit()?;
    Ok(location)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_with_an_unfinished_index_job_can_be_removed() {
        let tmp = tempfile::tempdir().expect("tmp");
        let lib = Library::create(&tmp.path().join("lib"), "laptop").expect("library");
        let dir = tmp.path().join("photos");
        std::fs::create_dir_all(dir.join("2024")).expect("dir");
        let location =
            add(&lib, &dir, None, IndexMode::Content, IndexRules::default()).expect("add");
        // A job prepared and never run: as after a crash mid-index.
        let (job, _) = crate::indexer::prepare_job(&lib, location.id, false).expect("prepare job");
        assert!(job.state.is_active());
        remove(&lib, &location.name).expect("remove");
        assert!(list(lib.db()).expect("list").is_empty());
    }
}
