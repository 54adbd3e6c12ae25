//! `sd ls` and `sd stat` of another device's files: its replicated index,
//! read here (the device may be offline), with where each file stands on
//! this device (online-only, partial, cached, pinned).

use crate::content_store::ContentStore;
use crate::error::{Error, Result};
use crate::ids::DeviceId;
use crate::library::Library;
use crate::model::device::DeviceRecord;
use crate::model::entry::{EntryKind, EntryRecord};
use crate::sync::replica::ReplicaView;
use crate::time::rfc3339;
use crate::uri::SdUri;

use super::{ListItem, StatInfo, list_item, location_item};

/// The paired device `uri` names, if it names one other than this.
pub fn peer_of(lib: &Library, uri: &SdUri) -> Result<Option<DeviceRecord>> {
    let SdUri::Device { device, .. } = uri else {
        return Ok(None);
    };
    if device == lib.device_name() || *device == lib.device_id().to_string() {
        return Ok(None);
    }
    let me = lib.device_id();
    Ok(lib
        .devices()?
        .into_iter()
        .find(|d| d.id != me && (d.name == *device || d.id.to_string() == *device)))
}

/// What a URI of `device` names in its replica.
enum Resolved {
    /// The device itself: its locations.
    Device,
    Entry {
        id: u64,
        record: EntryRecord,
        /// The location's root on the owner, and the path below it.
        owner_path: Vec<u8>,
    },
}

fn resolve(view: &ReplicaView, device: &DeviceRecord, uri: &SdUri) -> Result<Resolved> {
    let Some(name) = uri.location() else {
        return Ok(Resolved::Device);
    };
    let location = view
        .locations()?
        .into_iter()
        .find(|l| l.name.as_bytes() == name)
        .ok_or_else(|| {
            Error::NotFound(format!(
                "{} has no location {:?}",
                device.name,
                String::from_utf8_lossy(name)
            ))
        })?;
    let (id, record) = view
        .entry_at(location.id, uri.rel_path())?
        .ok_or_else(|| Error::NotFound(format!("{uri}: not in {}'s index", device.name)))?;
    let root = location
        .root_path()
        .map(|r| crate::fsutil::path_bytes(&r).to_vec())
        .unwrap_or_default();
    let owner_path = if uri.rel_path().is_empty() {
        root
    } else {
        [root.as_slice(), b"/", uri.rel_path()].concat()
    };
    Ok(Resolved::Entry {
        id,
        record,
        owner_path,
    })
}

/// The entry of `device`'s replica a URI names (a location, or a file or
/// folder below one), for commands that act on it (`sd pin`, `sd free-up`).
pub fn entry_of(lib: &Library, device: &DeviceRecord, uri: &SdUri) -> Result<u64> {
    let view = ReplicaView::new(lib.db(), device.id)?;
    match resolve(&view, device, uri)? {
        Resolved::Entry { id, .. } => Ok(id),
        Resolved::Device => Err(Error::InvalidInput(format!(
            "{uri}: name a location of {}",
            device.name
        ))),
    }
}

fn state(
    content: &ContentStore,
    view: &ReplicaView,
    device: DeviceId,
    id: u64,
    record: &EntryRecord,
) -> Result<Option<&'static str>> {
    Ok(content
        .remote_state(view, device, id, record)?
        .map(|s| s.as_str()))
}

/// Lists another device (its locations) or one of its directories; with
/// `recursive`, everything below, with paths relative to `uri`.
pub fn ls(
    content: &ContentStore,
    device: &DeviceRecord,
    uri: &SdUri,
    recursive: bool,
) -> Result<Vec<ListItem>> {
    let view = ReplicaView::new(content.library().db(), device.id)?;
    let (id, record) = match resolve(&view, device, uri)? {
        Resolved::Device => {
            let mut out = Vec::new();
            for location in view.locations()? {
                let root = view.entry(location.root.0)?;
                out.push(location_item(&device.name, location, root));
            }
            return Ok(out);
        }
        Resolved::Entry { id, record, .. } => (id, record),
    };
    if record.kind != EntryKind::Directory {
        let mut item = list_item(uri.clone(), &record);
        item.state = state(content, &view, device.id, id, &record)?;
        return Ok(vec![item]);
    }
    let mut out = Vec::new();
    if recursive {
        for (child, rel, record) in view.below(id)? {
            let mut item = list_item(uri.join(&rel), &record);
            item.state = state(content, &view, device.id, child, &record)?;
            item.name = String::from_utf8_lossy(&rel).into_owned();
            out.push(item);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
    } else {
        for (child, record) in view.children(id)? {
            let mut item = list_item(uri.join(&record.name), &record);
            item.state = state(content, &view, device.id, child, &record)?;
            out.push(item);
        }
    }
    Ok(out)
}

/// Describes one file or directory of another device.
pub fn stat(content: &ContentStore, device: &DeviceRecord, uri: &SdUri) -> Result<StatInfo> {
    let view = ReplicaView::new(content.library().db(), device.id)?;
    let Resolved::Entry {
        id,
        record,
        owner_path,
    } = resolve(&view, device, uri)?
    else {
        return Err(Error::InvalidInput(format!(
            "{uri}: name a location, e.g. sd://{}/<location>",
            device.name
        )));
    };
    let replicated = match record.content {
        Some(c) => view.content(c)?,
        None => None,
    };
    let is_dir = record.kind == EntryKind::Directory;
    Ok(StatInfo {
        uri: uri.to_string(),
        entry_id: Some(id),
        // Where it lives on its own device.
        local_path: String::from_utf8_lossy(&owner_path).into_owned(),
        kind: record.kind.as_str(),
        size: if is_dir { record.agg_size } else { record.size },
        modified: rfc3339(record.mtime),
        inode: record.inode,
        mode: format!("{:o}", record.mode & 0o7777),
        indexed: true,
        content_id: record.content,
        content_hash: replicated.as_ref().map(|c| c.hash.to_string()),
        file_kind: replicated.as_ref().map(|c| c.kind().as_str()),
        copies: match (&replicated, record.content) {
            (Some(_), Some(c)) => {
                let lib = content.library();
                let txn = redb::ReadableDatabase::begin_read(&**lib.db())?;
                Some(super::copies_everywhere(lib, &txn, c)?)
            }
            _ => None,
        },
        files: is_dir.then_some(record.agg_files),
        link_target: record
            .link_target
            .as_ref()
            .map(|t| String::from_utf8_lossy(t).into_owned()),
        state: state(content, &view, device.id, id, &record)?,
    })
}
