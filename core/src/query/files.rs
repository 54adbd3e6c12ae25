//! Every file the library knows, on this device and in the replicas of
//! the paired devices, one at a time: what a search index is built from,
//! whole ([`for_each_file`]) or one changed entry at a time
//! ([`FileTree::for_each_at`]).

use std::collections::{HashMap, HashSet};

use redb::{ReadOnlyTable, ReadableDatabase};

use crate::error::Result;
use crate::ids::{ContentId, DeviceId};
use crate::kind::{self, FileKind};
use crate::library::{Library, schema};
use crate::locations;
use crate::model::content::ContentRecord;
use crate::model::device::DeviceRecord;
use crate::model::entry::{EntryKind, EntryRecord};
use crate::model::location::LocationRecord;
use crate::outbox::join;
use crate::sync::replica::ReplicaView;
use crate::uri::SdUri;

/// Parents walked at most from an entry to its location's root: a
/// replica is a peer's word, and a cycle in it must not hang us.
const MAX_DEPTH: usize = 4096;

/// One indexed file.
#[derive(Clone, Debug)]
pub struct FileRow {
    /// The device whose index holds it (this one for its own volumes).
    pub owner: DeviceId,
    /// Its entry id in the owner's index.
    pub entry: u64,
    /// The directories above it, from its location's root down to its
    /// parent: a change to one of them (a rename) changes its path.
    pub above: Vec<u64>,
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
    /// Where it is on this device's disk (this device's locations only).
    pub disk_path: Option<std::path::PathBuf>,
}

/// Calls `f` with every file of this device's locations and volumes, then
/// with every file of each paired device's replica.
pub fn for_each_file(lib: &Library, mut f: impl FnMut(FileRow)) -> Result<()> {
    FileTree::local(lib)?.for_each(&mut f)?;
    for device in lib.devices()? {
        if device.id != lib.device_id() {
            FileTree::replica(lib, &device)?.for_each(&mut f)?;
        }
    }
    Ok(())
}

/// Where a device's index is read from.
enum Source {
    /// This device's own tables.
    Local(Box<LocalTables>),
    /// A paired device's replica.
    Replica(ReplicaView),
}

struct LocalTables {
    entries: ReadOnlyTable<u64, &'static [u8]>,
    children: ReadOnlyTable<&'static [u8], u64>,
    content: ReadOnlyTable<u128, &'static [u8]>,
}

/// The files of one device's index, as of one read transaction.
pub struct FileTree {
    source: Source,
    owner: DeviceId,
    device: String,
    mine: bool,
    locations: Vec<LocationRecord>,
    /// Kinds by content, looked up once each.
    kinds: HashMap<ContentId, FileKind>,
}

/// An entry's place: its location, path below the location's root, and
/// the directories above it.
struct Place {
    location: usize,
    rel: Vec<u8>,
    above: Vec<u64>,
    record: EntryRecord,
}

impl FileTree {
    /// This device's locations and volumes.
    pub fn local(lib: &Library) -> Result<FileTree> {
        let txn = lib.db().begin_read()?;
        Ok(FileTree {
            source: Source::Local(Box::new(LocalTables {
                entries: schema::ENTRIES.read(&txn)?,
                children: txn.open_table(schema::CHILDREN)?,
                content: schema::CONTENT.read(&txn)?,
            })),
            owner: lib.device_id(),
            device: lib.device_name().to_owned(),
            mine: true,
            locations: locations::list(lib.db())?,
            kinds: HashMap::new(),
        })
    }

    /// The replica of paired `device`.
    pub fn replica(lib: &Library, device: &DeviceRecord) -> Result<FileTree> {
        let view = ReplicaView::new(lib.db(), device.id)?;
        Ok(FileTree {
            locations: view.locations()?,
            source: Source::Replica(view),
            owner: device.id,
            device: device.name.clone(),
            mine: false,
            kinds: HashMap::new(),
        })
    }

    /// Calls `f` with every file of the tree.
    pub fn for_each(&mut self, f: &mut impl FnMut(FileRow)) -> Result<()> {
        for location in 0..self.locations.len() {
            let root = self.locations[location].root.0;
            self.walk(location, root, Vec::new(), vec![root], f)?;
        }
        Ok(())
    }

    /// Calls `f` with `entry` if it is a file, or with every file below it
    /// if it is a directory. False when the tree has no such entry (or it
    /// is not below a location's root): it is gone.
    pub fn for_each_at(&mut self, entry: u64, f: &mut impl FnMut(FileRow)) -> Result<bool> {
        let Some(place) = self.place(entry)? else {
            return Ok(false);
        };
        match place.record.kind {
            EntryKind::File => {
                let row = self.row(place.location, place.above, entry, place.rel, place.record)?;
                f(row);
            }
            EntryKind::Directory => {
                let mut above = place.above;
                above.push(entry);
                self.walk(place.location, entry, place.rel, above, f)?;
            }
            _ => {}
        }
        Ok(true)
    }

    /// Whether `entry` is a directory; `None` when the tree has no such
    /// entry.
    pub fn is_dir(&self, entry: u64) -> Result<Option<bool>> {
        Ok(self.entry(entry)?.map(|r| r.kind == EntryKind::Directory))
    }

    /// The path under the mount of directory (or file) `entry`, if the
    /// tree has it.
    pub fn mount_path(&self, entry: u64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .place(entry)?
            .map(|p| self.mount_path_of(&self.locations[p.location], &p.rel)))
    }

    fn entry(&self, id: u64) -> Result<Option<EntryRecord>> {
        match &self.source {
            Source::Local(t) => t
                .entries
                .get(id)?
                .map(|v| EntryRecord::decode(v.value()))
                .transpose(),
            Source::Replica(view) => view.entry(id),
        }
    }

    fn children(&self, dir: u64) -> Result<Vec<(u64, EntryRecord)>> {
        match &self.source {
            Source::Local(t) => {
                let (lo, hi) = schema::children_range(dir);
                let mut out = Vec::new();
                for row in t.children.range(lo.as_slice()..hi.as_slice())? {
                    let id = row?.1.value();
                    if let Some(value) = t.entries.get(id)? {
                        out.push((id, EntryRecord::decode(value.value())?));
                    }
                }
                Ok(out)
            }
            Source::Replica(view) => view.children(dir),
        }
    }

    fn content(&self, id: ContentId) -> Result<Option<ContentRecord>> {
        match &self.source {
            Source::Local(t) => t
                .content
                .get(id.0.as_u128())?
                .map(|v| ContentRecord::decode(v.value()))
                .transpose(),
            Source::Replica(view) => view.content(id),
        }
    }

    /// Walks parents from `entry` up to a location's root.
    fn place(&self, entry: u64) -> Result<Option<Place>> {
        let Some(record) = self.entry(entry)? else {
            return Ok(None);
        };
        let mut names: Vec<Vec<u8>> = Vec::new();
        let mut above = Vec::new();
        let mut parent = record.parent;
        if let Some(location) = self.locations.iter().position(|l| l.root.0 == entry) {
            return Ok(Some(Place {
                location,
                rel: Vec::new(),
                above,
                record,
            }));
        }
        names.push(record.name.clone());
        for _ in 0..MAX_DEPTH {
            above.push(parent);
            if let Some(location) = self.locations.iter().position(|l| l.root.0 == parent) {
                names.reverse();
                above.reverse();
                return Ok(Some(Place {
                    location,
                    rel: names.join(&b'/'),
                    above,
                    record,
                }));
            }
            let Some(up) = self.entry(parent)? else {
                return Ok(None);
            };
            names.push(up.name);
            if up.parent == parent {
                return Ok(None);
            }
            parent = up.parent;
        }
        Ok(None)
    }

    /// Calls `f` with every file below directory `dir` (at `prefix` in
    /// `location`, with `above` ending in `dir`). An entry met twice (a
    /// cycle in a peer's replica) is not walked again.
    fn walk(
        &mut self,
        location: usize,
        dir: u64,
        prefix: Vec<u8>,
        above: Vec<u64>,
        f: &mut impl FnMut(FileRow),
    ) -> Result<()> {
        let mut seen = HashSet::from([dir]);
        let mut stack = vec![(dir, prefix, above)];
        while let Some((dir, prefix, above)) = stack.pop() {
            for (id, record) in self.children(dir)? {
                if !seen.insert(id) {
                    continue;
                }
                let rel = join(&prefix, &record.name);
                match record.kind {
                    EntryKind::Directory => {
                        let mut below = above.clone();
                        below.push(id);
                        stack.push((id, rel, below));
                    }
                    EntryKind::File => f(self.row(location, above.clone(), id, rel, record)?),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The kind its content was classed as when identified (from its
    /// bytes), else what its name says.
    fn kind_of(&mut self, record: &EntryRecord) -> Result<FileKind> {
        let by_name = || kind::classify(&record.name, b"");
        let Some(id) = record.content else {
            return Ok(by_name());
        };
        if let Some(kind) = self.kinds.get(&id) {
            return Ok(*kind);
        }
        let kind = match self.content(id)? {
            Some(c) if c.kind() != FileKind::Unknown => c.kind(),
            _ => by_name(),
        };
        self.kinds.insert(id, kind);
        Ok(kind)
    }

    fn mount_path_of(&self, location: &LocationRecord, rel: &[u8]) -> Vec<u8> {
        // This device's volumes sit at the mount's top level; everything
        // else under its device.
        let mut out = Vec::new();
        if !(self.mine && location.is_cloud()) {
            out.extend_from_slice(self.device.as_bytes());
            out.push(b'/');
        }
        out.extend_from_slice(location.name.as_bytes());
        if !rel.is_empty() {
            out.push(b'/');
            out.extend_from_slice(rel);
        }
        out
    }

    fn row(
        &mut self,
        location: usize,
        above: Vec<u64>,
        entry: u64,
        rel: Vec<u8>,
        record: EntryRecord,
    ) -> Result<FileRow> {
        let kind = self.kind_of(&record)?;
        let l = &self.locations[location];
        let disk_path = match l.root_path() {
            Some(root) if self.mine => Some(root.join(crate::sys::os_str(&rel))),
            _ => None,
        };
        Ok(FileRow {
            disk_path,
            owner: self.owner,
            entry,
            above,
            uri: SdUri::device(&self.device, l.name.as_bytes(), &rel).to_string(),
            mount_path: self.mount_path_of(l, &rel),
            name: record.name,
            device: self.device.clone(),
            location: l.name.clone(),
            volume: l.is_cloud(),
            size: record.size,
            modified: record.mtime.div_euclid(1_000_000_000),
            kind,
            content: record.content,
        })
    }
}
