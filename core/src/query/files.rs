//! Every file the library knows, on this device and in the replicas of
//! the paired devices, one at a time: what a search index is built from.

use std::collections::HashMap;

use redb::ReadableDatabase;

use crate::error::Result;
use crate::ids::ContentId;
use crate::kind::{self, FileKind};
use crate::library::{Library, schema};
use crate::locations;
use crate::model::content::ContentRecord;
use crate::model::entry::{EntryKind, EntryRecord};
use crate::model::location::LocationRecord;
use crate::outbox::join;
use crate::sync::replica::ReplicaView;
use crate::uri::SdUri;

/// One indexed file.
#[derive(Clone, Debug)]
pub struct FileRow {
    /// `sd://device/location/path`, as `sd stat` takes it.
    pub uri: String,
    /// Its path under the mount: `device/location/path`, or
    /// `volume/path` for one of this device's cloud volumes (which the
    /// mount shows at its top level).
    pub mount_path: Vec<u8>,
    pub name: Vec<u8>,
    /// The device that holds it (or added its volume).
    pub device: String,
    /// Its location or cloud volume.
    pub location: String,
    /// `location` is a cloud volume.
    pub volume: bool,
    pub size: u64,
    /// Unix seconds.
    pub modified: i64,
    pub kind: FileKind,
    pub content: Option<ContentId>,
}

/// Calls `f` with every file of this device's locations and volumes, then
/// with every file of each paired device's replica.
pub fn for_each_file(lib: &Library, mut f: impl FnMut(FileRow)) -> Result<()> {
    let me = lib.device_name().to_owned();
    let txn = lib.db().begin_read()?;
    let entries = schema::ENTRIES.read(&txn)?;
    let children = txn.open_table(schema::CHILDREN)?;
    let content = schema::CONTENT.read(&txn)?;
    let mut kinds: HashMap<ContentId, FileKind> = HashMap::new();
    for location in locations::list(lib.db())? {
        let mut stack = vec![(location.root.0, Vec::new())];
        while let Some((dir, prefix)) = stack.pop() {
            let (lo, hi) = schema::children_range(dir);
            for row in children.range(lo.as_slice()..hi.as_slice())? {
                let id = row?.1.value();
                let Some(value) = entries.get(id)? else {
                    continue;
                };
                let record = EntryRecord::decode(value.value())?;
                let rel = join(&prefix, &record.name);
                match record.kind {
                    EntryKind::Directory => stack.push((id, rel)),
                    EntryKind::File => {
                        let kind = kind_of(&mut kinds, &record, |c| {
                            Ok(match content.get(c.0.as_u128())? {
                                Some(v) => Some(ContentRecord::decode(v.value())?),
                                None => None,
                            })
                        })?;
                        f(row_of(&me, &location, true, rel, record, kind));
                    }
                    _ => {}
                }
            }
        }
    }
    for device in lib.devices()? {
        if device.id == lib.device_id() {
            continue;
        }
        let view = ReplicaView::new(lib.db(), device.id)?;
        let mut kinds: HashMap<ContentId, FileKind> = HashMap::new();
        for location in view.locations()? {
            for (_, rel, record) in view.below(location.root.0)? {
                if record.kind != EntryKind::File {
                    continue;
                }
                let kind = kind_of(&mut kinds, &record, |c| view.content(c))?;
                f(row_of(&device.name, &location, false, rel, record, kind));
            }
        }
    }
    Ok(())
}

/// The kind its content was classed as when identified (from its bytes),
/// else what its name says.
fn kind_of(
    known: &mut HashMap<ContentId, FileKind>,
    record: &EntryRecord,
    content: impl FnOnce(ContentId) -> Result<Option<ContentRecord>>,
) -> Result<FileKind> {
    let by_name = || kind::classify(&record.name, b"");
    let Some(id) = record.content else {
        return Ok(by_name());
    };
    if let Some(kind) = known.get(&id) {
        return Ok(*kind);
    }
    let kind = match content(id)? {
        Some(c) if c.kind() != FileKind::Unknown => c.kind(),
        _ => by_name(),
    };
    known.insert(id, kind);
    Ok(kind)
}

fn row_of(
    device: &str,
    location: &LocationRecord,
    mine: bool,
    rel: Vec<u8>,
    record: EntryRecord,
    kind: FileKind,
) -> FileRow {
    let uri = SdUri::device(device, location.name.as_bytes(), &rel).to_string();
    // This device's volumes sit at the mount's top level; everything else
    // under its device.
    let mut mount_path = Vec::new();
    if !(mine && location.is_cloud()) {
        mount_path.extend_from_slice(device.as_bytes());
        mount_path.push(b'/');
    }
    mount_path.extend_from_slice(location.name.as_bytes());
    mount_path.push(b'/');
    mount_path.extend_from_slice(&rel);
    FileRow {
        uri,
        mount_path,
        name: record.name,
        device: device.to_owned(),
        location: location.name.clone(),
        volume: location.is_cloud(),
        size: record.size,
        modified: record.mtime.div_euclid(1_000_000_000),
        kind,
        content: record.content,
    }
}
