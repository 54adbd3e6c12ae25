//! Read-side queries over the index: resolve a URI, list, stat, duplicates.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;

use redb::{ReadTransaction, ReadableDatabase};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ids::ContentId;
use crate::library::{Library, schema};
use crate::locations;
use crate::model::content::ContentRecord;
use crate::model::entry::{EntryKind, EntryRecord, StatFields};
use crate::model::location::LocationRecord;
use crate::time::rfc3339;
use crate::uri::SdUri;

pub mod extracts;
pub mod files;
pub mod remote;
pub mod target;

/// One row of `sd ls`.
#[derive(Clone, Debug, Serialize)]
pub struct ListItem {
    /// The name, lossily decoded for display; `uri` is exact.
    pub name: String,
    pub uri: String,
    pub kind: &'static str,
    pub size: u64,
    pub modified: String,
    pub content_id: Option<ContentId>,
    /// For directories and locations: files below.
    pub files: Option<u64>,
    /// For another device's files: online-only, partial, cached or pinned
    /// (`null` for this device's own files and for directories).
    pub state: Option<&'static str>,
}

/// What `sd stat` shows.
#[derive(Clone, Debug, Serialize)]
pub struct StatInfo {
    pub uri: String,
    /// The entry's id in its device's index (kept across moves and renames).
    pub entry_id: Option<u64>,
    pub local_path: String,
    pub kind: &'static str,
    pub size: u64,
    pub modified: String,
    pub inode: u64,
    pub mode: String,
    pub indexed: bool,
    pub content_id: Option<ContentId>,
    pub content_hash: Option<String>,
    pub file_kind: Option<&'static str>,
    /// Instances of this content across the library (1 = the only copy).
    pub copies: Option<u32>,
    pub files: Option<u64>,
    pub link_target: Option<String>,
    /// As in [`ListItem::state`].
    pub state: Option<&'static str>,
}

/// A group of identical files.
#[derive(Clone, Debug, Serialize)]
pub struct DupeGroup {
    pub content_id: ContentId,
    pub size: u64,
    pub copies: u32,
    /// Bytes the extra copies on each device take (all but one per
    /// device: a copy on another device is a backup).
    pub wasted: u64,
    /// Devices holding a copy.
    pub devices: Vec<String>,
    pub uris: Vec<String>,
}

/// A resolved device URI: the location and the entry, when indexed.
struct Resolved {
    location: LocationRecord,
    rel_path: Vec<u8>,
    entry: Option<(u64, EntryRecord)>,
}

/// Copies of `content` on every device: this device's files and each
/// paired device's, as its replica says (offline devices included).
pub(crate) fn copies_everywhere(
    lib: &Library,
    txn: &ReadTransaction,
    content: ContentId,
) -> Result<u32> {
    let c = content.0.as_u128();
    let mut copies = 0u32;
    let local = txn.open_table(schema::INSTANCES)?;
    for row in local.range((c, 0)..=(c, u64::MAX))? {
        row?;
        copies = copies.saturating_add(1);
    }
    let replicated = txn.open_table(crate::sync::replica::REPLICA_INSTANCES)?;
    for device in lib.devices()? {
        if device.id == lib.device_id() {
            continue;
        }
        let d = device.id.0.as_u128();
        for row in replicated.range((d, c, 0)..=(d, c, u64::MAX))? {
            row?;
            copies = copies.saturating_add(1);
        }
    }
    Ok(copies)
}

fn check_device(lib: &Library, device: &str) -> Result<()> {
    if device == lib.device_name() || device == lib.device_id().to_string() {
        return Ok(());
    }
    let known = lib
        .devices()?
        .into_iter()
        .any(|d| d.name == device || d.id.to_string() == device);
    if known {
        return Err(Error::NotFound(format!(
            "device {device:?} is paired but its index is not synced yet"
        )));
    }
    Err(Error::NotFound(format!(
        "no device named {device:?} in this library"
    )))
}

fn get_entry(txn: &ReadTransaction, id: u64) -> Result<Option<EntryRecord>> {
    let entries = schema::ENTRIES.read(txn)?;
    entries
        .get(id)?
        .map(|v| EntryRecord::decode(v.value()))
        .transpose()
}

fn resolve(lib: &Library, txn: &ReadTransaction, uri: &SdUri) -> Result<Option<Resolved>> {
    let SdUri::Device { device, .. } = uri else {
        return Err(Error::InvalidInput(format!("{uri} is not a device path")));
    };
    check_device(lib, device)?;
    let Some(location) = uri.location() else {
        return Ok(None);
    };
    let name = std::str::from_utf8(location)
        .map_err(|_| Error::NotFound(format!("no location in {uri}")))?;
    let location = locations::get_by_name(lib.db(), name)?;
    let children = txn.open_table(schema::CHILDREN)?;
    let rel_path = uri.rel_path().to_vec();
    let mut current = location.root.0;
    if !rel_path.is_empty() {
        for component in rel_path.split(|&b| b == b'/') {
            let key = schema::child_key(current, component);
            match children.get(key.as_slice())? {
                Some(id) => current = id.value(),
                None => {
                    return Ok(Some(Resolved {
                        location,
                        rel_path,
                        entry: None,
                    }));
                }
            }
        }
    }
    let entry = get_entry(txn, current)?.map(|r| (current, r));
    Ok(Some(Resolved {
        location,
        rel_path,
        entry,
    }))
}

/// Lists a device (its locations) or a directory of a location; with
/// `recursive`, everything below it, depth first in name order.
pub fn ls(lib: &Library, uri: &SdUri, recursive: bool) -> Result<Vec<ListItem>> {
    let txn = lib.db().begin_read()?;
    let Some(resolved) = resolve(lib, &txn, uri)? else {
        let mut out = Vec::new();
        for location in locations::list(lib.db())? {
            let root = get_entry(&txn, location.root.0)?;
            out.push(location_item(lib.device_name(), location, root));
        }
        return Ok(out);
    };
    let Some((id, record)) = resolved.entry else {
        return Err(Error::NotFound(format!("{uri}: not in the index")));
    };
    if record.kind != EntryKind::Directory {
        return Ok(vec![list_item(uri.clone(), &record)]);
    }
    let children = txn.open_table(schema::CHILDREN)?;
    let entries = schema::ENTRIES.read(&txn)?;
    let mut out = Vec::new();
    // (directory id, its URI, its path relative to the listed directory)
    let mut stack = vec![(id, uri.clone(), Vec::new())];
    while let Some((dir, dir_uri, prefix)) = stack.pop() {
        let (lo, hi) = schema::children_range(dir);
        let mut subdirs = Vec::new();
        for row in children.range(&lo[..]..&hi[..])? {
            let (key, child) = row?;
            let Some(raw) = entries.get(child.value())? else {
                continue;
            };
            let record = EntryRecord::decode(raw.value())?;
            let name = &key.value()[8..];
            let child_uri = dir_uri.join(name);
            let mut item = list_item(child_uri.clone(), &record);
            if recursive {
                let mut rel = prefix.clone();
                if !rel.is_empty() {
                    rel.push(b'/');
                }
                rel.extend_from_slice(name);
                item.name = String::from_utf8_lossy(&rel).into_owned();
                if record.kind == EntryKind::Directory {
                    subdirs.push((child.value(), child_uri, rel));
                }
            }
            out.push(item);
        }
        stack.extend(subdirs.into_iter().rev());
    }
    if recursive {
        out.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(out)
}

/// The row of a location of `device`, with its root directory's totals.
pub(crate) fn location_item(
    device: &str,
    location: LocationRecord,
    root: Option<EntryRecord>,
) -> ListItem {
    ListItem {
        uri: SdUri::device(device, location.name.as_bytes(), b"").to_string(),
        name: location.name,
        kind: "location",
        size: root.as_ref().map_or(0, |r| r.agg_size),
        modified: rfc3339(root.as_ref().map_or(0, |r| r.mtime)),
        content_id: None,
        files: root.map(|r| r.agg_files),
        state: None,
    }
}

pub(crate) fn list_item(uri: SdUri, record: &EntryRecord) -> ListItem {
    let is_dir = record.kind == EntryKind::Directory;
    ListItem {
        name: String::from_utf8_lossy(&record.name).into_owned(),
        uri: uri.to_string(),
        kind: record.kind.as_str(),
        size: if is_dir { record.agg_size } else { record.size },
        modified: rfc3339(record.mtime),
        content_id: record.content,
        files: is_dir.then_some(record.agg_files),
        state: None,
    }
}

/// Describes one file, directory or content.
pub fn stat(lib: &Library, uri: &SdUri) -> Result<StatInfo> {
    let txn = lib.db().begin_read()?;
    if let SdUri::Content { id } = uri {
        return stat_content(lib, &txn, *id, uri);
    }
    let Some(resolved) = resolve(lib, &txn, uri)? else {
        return Err(Error::InvalidInput(format!(
            "{uri}: name a location, e.g. sd://{}/<location>",
            lib.device_name()
        )));
    };
    // A cloud volume's objects have no local path: what its index holds.
    let local = resolved
        .location
        .root_path()
        .map(|root| crate::fsutil::join_bytes(&root, &resolved.rel_path));
    let entry_id = resolved.entry.as_ref().map(|(id, _)| *id);
    let (record, indexed) = match resolved.entry {
        Some((_, record)) => (record, true),
        // Not indexed (left out by a rule, or new): what the disk says.
        None => {
            let Some(local) = &local else {
                return Err(Error::NotFound(format!("{uri}: not in the index")));
            };
            let md = std::fs::symlink_metadata(local).map_err(|e| Error::io(local, e))?;
            let name = resolved
                .rel_path
                .rsplit(|&b| b == b'/')
                .next()
                .unwrap_or_default();
            (
                EntryRecord::new(0, name, &StatFields::from_metadata(&md)),
                false,
            )
        }
    };
    let content = match record.content {
        Some(id) => {
            let table = schema::CONTENT.read(&txn)?;
            table
                .get(id.0.as_u128())?
                .map(|v| ContentRecord::decode(v.value()))
                .transpose()?
        }
        None => None,
    };
    let is_dir = record.kind == EntryKind::Directory;
    Ok(StatInfo {
        uri: uri.to_string(),
        entry_id,
        local_path: local
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default(),
        kind: record.kind.as_str(),
        size: if is_dir { record.agg_size } else { record.size },
        modified: rfc3339(record.mtime),
        inode: record.inode,
        mode: format!("{:o}", record.mode & 0o7777),
        indexed,
        content_id: record.content,
        content_hash: content.as_ref().map(|c| c.hash.to_string()),
        file_kind: content.as_ref().map(|c| c.kind().as_str()),
        copies: match (&content, record.content) {
            (Some(_), Some(id)) => Some(copies_everywhere(lib, &txn, id)?),
            _ => None,
        },
        files: is_dir.then_some(record.agg_files),
        link_target: record
            .link_target
            .as_ref()
            .map(|t| String::from_utf8_lossy(t).into_owned()),
        state: None,
    })
}

fn stat_content(
    lib: &Library,
    txn: &ReadTransaction,
    id: ContentId,
    uri: &SdUri,
) -> Result<StatInfo> {
    let table = schema::CONTENT.read(txn)?;
    let content = table
        .get(id.0.as_u128())?
        .map(|v| ContentRecord::decode(v.value()))
        .transpose()?
        .ok_or_else(|| Error::NotFound(format!("{uri}: no such content in this library")))?;
    let uris = instance_uris(lib, txn, &location_roots(lib)?, id)?;
    Ok(StatInfo {
        uri: uri.to_string(),
        entry_id: None,
        local_path: uris.first().map(|(_, p)| p.clone()).unwrap_or_default(),
        kind: "content",
        size: content.size,
        modified: rfc3339(content.first_seen.saturating_mul(1_000_000_000)),
        inode: 0,
        mode: String::new(),
        indexed: true,
        content_id: Some(id),
        content_hash: Some(content.hash.to_string()),
        file_kind: Some(content.kind().as_str()),
        copies: Some(copies_everywhere(lib, txn, id)?),
        files: None,
        link_target: None,
        state: None,
    })
}

/// Locations by the id of their root entry.
fn location_roots(lib: &Library) -> Result<HashMap<u64, LocationRecord>> {
    Ok(locations::list(lib.db())?
        .into_iter()
        .map(|l| (l.root.0, l))
        .collect())
}

/// The URIs and local paths of every instance of `content`.
fn instance_uris(
    lib: &Library,
    txn: &ReadTransaction,
    roots: &HashMap<u64, LocationRecord>,
    content: ContentId,
) -> Result<Vec<(String, String)>> {
    let instances = txn.open_table(schema::INSTANCES)?;
    let entries = schema::ENTRIES.read(txn)?;
    let key = content.0.as_u128();
    let mut out = Vec::new();
    for row in instances.range((key, 0)..=(key, u64::MAX))? {
        let id = row?.0.value().1;
        let below = crate::model::entry::path_below_root(&entries, id, |e| roots.contains_key(&e))?;
        let Some((location, rel)) = below.and_then(|(root, rel)| Some((roots.get(&root)?, rel)))
        else {
            continue;
        };
        let uri = SdUri::device(lib.device_name(), location.name.as_bytes(), &rel).to_string();
        let local = location
            .root_path()
            .map(|root| crate::fsutil::join_bytes(&root, &rel));
        out.push((
            uri,
            local
                .map(|l| String::from_utf8_lossy(l.as_os_str().as_bytes()).into_owned())
                .unwrap_or_default(),
        ));
    }
    Ok(out)
}

/// Groups of identical content of at least `min_size` bytes on every
/// device and bucket, most waste first (see [`crate::guardian::dupes`]).
pub fn dupes(lib: &Library, min_size: u64) -> Result<Vec<DupeGroup>> {
    crate::guardian::dupes(lib, min_size)
}
