//! Naming the file that shared data is about: a path (real, or inside the
//! mount) or an `sd://` URI, resolved to a device's entry. Other devices'
//! files resolve through the local replica of their index.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::Target;
use crate::error::{Error, Result};
use crate::library::Library;
use crate::uri::SdUri;

/// The `sd://` URI that `arg` names: itself if it is one, else the file at
/// that path inside the mount at `mountpoint` or inside a location.
pub fn uri_of(lib: &Library, arg: &[u8], mountpoint: Option<&Path>) -> Result<SdUri> {
    if arg.starts_with(b"sd://") {
        let text = std::str::from_utf8(arg)
            .map_err(|_| Error::InvalidInput("a URI is UTF-8 text".into()))?;
        return text
            .parse()
            .map_err(|e: crate::uri::UriError| Error::InvalidInput(e.to_string()));
    }
    let given = Path::new(std::ffi::OsStr::from_bytes(arg));
    let path = std::path::absolute(given).map_err(|e| Error::io(given, e))?;
    if let Some(uri) = mountpoint.and_then(|mount| SdUri::in_mount(mount, &path)) {
        return Ok(uri);
    }
    for location in crate::locations::list(lib.db())? {
        if let Some(root) = location.root_path()
            && let Ok(rel) = path.strip_prefix(root)
        {
            return Ok(SdUri::device(
                lib.device_name(),
                location.name.as_bytes(),
                rel.as_os_str().as_bytes(),
            ));
        }
    }
    Err(Error::InvalidInput(format!(
        "{} is not in a location of this library nor in its mount",
        path.display()
    )))
}

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
