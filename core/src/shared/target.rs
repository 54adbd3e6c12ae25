//! Naming the file that shared data is about: a URI (from a path by
//! `query::target::uri_of`) resolved to a device's entry. Other devices'
//! files resolve through the local replica of their index.

use super::Target;
use crate::error::{Error, Result};
use crate::library::Library;
use crate::uri::SdUri;

/// The entry `uri` names, on this device or (through its replica) on a
/// paired one.
pub fn resolve(lib: &Library, uri: &SdUri) -> Result<Target> {
    let SdUri::Device { device, .. } = uri else {
        return Err(Error::InvalidInput(format!(
            "{uri}: tags go on files of a device (sd://<device>/<location>/...)"
        )));
    };
    let not_indexed = || Error::NotFound(format!("{uri} is not in the index"));
    if device == lib.device_name() {
        let stat = crate::query::stat(lib, uri)?;
        let entry = stat.entry_id.ok_or_else(not_indexed)?;
        return Ok(Target {
            device: lib.device_id(),
            entry,
        });
    }
    let record = lib
        .devices()?
        .into_iter()
        .find(|d| &d.name == device)
        .ok_or_else(|| Error::NotFound(format!("no device named {device:?}")))?;
    let view = crate::sync::replica::ReplicaView::new(lib.db(), record.id)?;
    let name = uri.location().ok_or_else(not_indexed)?;
    let location = view
        .locations()?
        .into_iter()
        .find(|l| l.name.as_bytes() == name)
        .ok_or_else(not_indexed)?;
    let mut entry = location.root.0;
    for part in uri
        .rel_path()
        .split(|b| *b == b'/')
        .filter(|p| !p.is_empty())
    {
        entry = view.child(entry, part)?.ok_or_else(not_indexed)?.0;
    }
    Ok(Target {
        device: record.id,
        entry,
    })
}

/// The URI of `target` as its device's index (or our replica of it) names
/// it now, if it is still there.
pub fn uri_of_target(lib: &Library, target: Target) -> Result<Option<SdUri>> {
    use redb::ReadableDatabase;
    if target.device == lib.device_id() {
        let locations = crate::locations::list(lib.db())?;
        let txn = lib.db().begin_read()?;
        let entries = crate::library::schema::ENTRIES.read(&txn)?;
        let is_root = |e: u64| locations.iter().any(|l| l.root.0 == e);
        let Some((root, rel)) =
            crate::model::entry::path_below_root(&entries, target.entry, is_root)?
        else {
            return Ok(None);
        };
        return Ok(locations
            .iter()
            .find(|l| l.root.0 == root)
            .map(|l| SdUri::device(lib.device_name(), l.name.as_bytes(), &rel)));
    }
    let Some(device) = lib.devices()?.into_iter().find(|d| d.id == target.device) else {
        return Ok(None);
    };
    let view = crate::sync::replica::ReplicaView::new(lib.db(), device.id)?;
    Ok(view
        .path_of(target.entry)?
        .map(|(location, rel)| SdUri::device(&device.name, location.name.as_bytes(), &rel)))
}

/// `target`'s entry as its device's index (or our replica of it) holds
/// it now.
pub fn entry_of(lib: &Library, target: Target) -> Result<Option<crate::model::entry::EntryRecord>> {
    use redb::ReadableDatabase;
    if target.device == lib.device_id() {
        let txn = lib.db().begin_read()?;
        let entries = crate::library::schema::ENTRIES.read(&txn)?;
        return entries
            .get(target.entry)?
            .map(|v| crate::model::entry::EntryRecord::decode(v.value()))
            .transpose();
    }
    crate::sync::replica::ReplicaView::new(lib.db(), target.device)?.entry(target.entry)
}
