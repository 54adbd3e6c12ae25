//! Replicas of other devices' data, keyed by the owner's device id. The
//! mount and `sd://<device>/...` read these; they never wait on the network.

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, Table, TableDefinition,
    WriteTransaction,
};

use super::{Batch, Page, Resource, Watermark, Watermarks};
use crate::error::{Error, Result};
use crate::ids::{ContentId, DeviceId, LocationId};
use crate::model::content::ContentRecord;
use crate::model::entry::{EntryKind, EntryRecord};
use crate::model::extract::ExtractRecord;
use crate::model::location::LocationRecord;
use crate::model::volume::VolumeRecord;

/// `(device, resource, key)` → record, for volumes, locations and content.
pub const REPLICA: TableDefinition<'_, (u128, u8, u128), &[u8]> = TableDefinition::new("replica");
/// `(device, entry)` → [`EntryRecord`].
pub const REPLICA_ENTRIES: TableDefinition<'_, (u128, u64), &[u8]> =
    TableDefinition::new("replica_entries");
/// `device (16 B) ++ parent (8 B BE) ++ name` → entry id.
pub const REPLICA_CHILDREN: TableDefinition<'_, &[u8], u64> =
    TableDefinition::new("replica_children");
/// `(device, content, entry)` → (): which entries of a device hold a
/// content (to read it from a device other than the one asked).
pub const REPLICA_INSTANCES: TableDefinition<'_, (u128, u128, u64), ()> =
    TableDefinition::new("replica_instances");
/// `(device, resource)` → watermark.
pub const WATERMARKS: TableDefinition<'_, (u128, u8), u64> =
    TableDefinition::new("replica_watermarks");
/// Device → the owner's floors a full resync of it began with (a u64 LE
/// per resource), while one runs.
pub const RESYNC: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("replica_resync");
/// `(device, resource, key)` → (): what a running full resync has
/// received; whatever else the replica holds of the device is swept when
/// the resync reaches the end of the owner's log.
pub const RESYNC_SEEN: TableDefinition<'_, (u128, u8, u128), ()> =
    TableDefinition::new("replica_resync_seen");

pub(crate) fn initialise(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(REPLICA)?;
    txn.open_table(REPLICA_ENTRIES)?;
    txn.open_table(REPLICA_CHILDREN)?;
    txn.open_table(REPLICA_INSTANCES)?;
    txn.open_table(WATERMARKS)?;
    txn.open_table(RESYNC)?;
    txn.open_table(RESYNC_SEEN)?;
    Ok(())
}

fn encode_floors(floors: &Watermarks) -> [u8; 8 * Resource::ALL.len()] {
    let mut out = [0u8; 8 * Resource::ALL.len()];
    for (slot, mark) in out.chunks_exact_mut(8).zip(floors) {
        slot.copy_from_slice(&mark.0.to_le_bytes());
    }
    out
}

/// Floors written before a resource was added have fewer of them: the
/// new ones start at 0.
fn decode_floors(bytes: &[u8]) -> Option<Watermarks> {
    if !bytes.len().is_multiple_of(8) || bytes.len() > 8 * Resource::ALL.len() {
        return None;
    }
    let mut out = Watermarks::default();
    for (mark, slot) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        *mark = Watermark(u64::from_le_bytes(slot.try_into().ok()?));
    }
    Some(out)
}

/// What to pull from `device` next: after these watermarks, and, while a
/// full resync of it runs, the floors it began with.
pub fn pull_state(db: &Database, device: DeviceId) -> Result<(Watermarks, Option<Watermarks>)> {
    let marks = watermarks(db, device)?;
    let txn = db.begin_read()?;
    let resync = txn
        .open_table(RESYNC)?
        .get(device.0.as_u128())?
        .and_then(|v| decode_floors(v.value()));
    Ok((marks, resync))
}

pub(crate) fn child_key(device: DeviceId, parent: u64, name: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(24 + name.len());
    key.extend_from_slice(&device.0.as_u128().to_be_bytes());
    key.extend_from_slice(&parent.to_be_bytes());
    key.extend_from_slice(name);
    key
}

/// What applying a page did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Items written or deleted.
    pub items: usize,
    /// Batches skipped because they did not start at the watermark (late
    /// or duplicated pages).
    pub stale: usize,
    /// Directories whose listing changed (for kernel cache invalidation).
    pub dirs: Vec<u64>,
    /// Entries written or deleted.
    pub entries: Vec<u64>,
    /// Entries whose content's extract (what it says) changed: the
    /// entries themselves did not.
    pub said: Vec<u64>,
}

/// The watermarks this replica holds for `device`.
pub fn watermarks(db: &Database, device: DeviceId) -> Result<Watermarks> {
    let txn = db.begin_read()?;
    let table = txn.open_table(WATERMARKS)?;
    let mut out = [Watermark(0); Resource::ALL.len()];
    for (slot, resource) in out.iter_mut().zip(Resource::ALL) {
        if let Some(v) = table.get((device.0.as_u128(), resource.code()))? {
            *slot = Watermark(v.value());
        }
    }
    Ok(out)
}

/// Applies `page` from `device` in one transaction: records and watermarks
/// move together, so a crash resumes from the last applied page. A batch
/// that does not start at the current watermark is skipped whole. A record
/// that does not decode, or an entry name that is not a plain file name,
/// refuses the page: nothing of it is applied.
///
/// A page marked `resync` starts a full resync: the watermarks go back to
/// the start, and what the resync brings is noted, so that once it reaches
/// the end of the owner's log everything else of the device (deleted while
/// the replica was away, its deletion since pruned) is swept away.
pub fn apply(db: &Database, device: DeviceId, page: &Page) -> Result<Applied> {
    let d = device.0.as_u128();
    let empty = page
        .batches
        .iter()
        .all(|b| b.items.is_empty() && b.next == b.after);
    // The usual answer of a device with nothing new: no write (and no
    // fsync) for it, unless it ends a resync.
    if empty && page.resync.is_none() && !resyncing(db, device)? {
        return Ok(Applied::default());
    }
    let txn = db.begin_write()?;
    let applied = {
        let mut tables = Tables::open(&txn)?;
        let mut resync = txn.open_table(RESYNC)?;
        let mut seen = txn.open_table(RESYNC_SEEN)?;
        if let Some(floors) = &page.resync {
            resync.insert(d, encode_floors(floors).as_slice())?;
            seen.retain_in((d, 0, 0)..=(d, u8::MAX, u128::MAX), |_, _| false)?;
            tables
                .watermarks
                .retain_in((d, 0)..=(d, u8::MAX), |_, _| false)?;
        }
        let resyncing = resync.get(d)?.is_some();
        let mut applied = Applied::default();
        for batch in &page.batches {
            let mark = (d, batch.resource.code());
            let current = tables.watermarks.get(mark)?.map_or(0, |v| v.value());
            if current != batch.after.0 || batch.next < batch.after {
                applied.stale += 1;
                continue;
            }
            tables.apply_batch(device, batch, &mut applied)?;
            tables.watermarks.insert(mark, batch.next.0)?;
            if resyncing {
                for item in &batch.items {
                    let key = (d, batch.resource.code(), item.key);
                    match item.record {
                        Some(_) => seen.insert(key, ())?,
                        None => seen.remove(key)?,
                    };
                }
            }
        }
        // The end of the owner's log, every batch in step: what the resync
        // did not bring is gone at the owner.
        if resyncing && !page.more && applied.stale == 0 && !page.batches.is_empty() {
            tables.sweep(device, &seen, &mut applied)?;
            resync.remove(d)?;
            seen.retain_in((d, 0, 0)..=(d, u8::MAX, u128::MAX), |_, _| false)?;
        }
        applied
    };
    txn.commit()?;
    Ok(applied)
}

/// Whether a full resync of `device` is running.
fn resyncing(db: &Database, device: DeviceId) -> Result<bool> {
    let txn = db.begin_read()?;
    Ok(txn.open_table(RESYNC)?.get(device.0.as_u128())?.is_some())
}

struct Tables<'txn> {
    records: Table<'txn, (u128, u8, u128), &'static [u8]>,
    entries: Table<'txn, (u128, u64), &'static [u8]>,
    children: Table<'txn, &'static [u8], u64>,
    instances: Table<'txn, (u128, u128, u64), ()>,
    watermarks: Table<'txn, (u128, u8), u64>,
}

impl<'txn> Tables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self> {
        Ok(Tables {
            records: txn.open_table(REPLICA)?,
            entries: txn.open_table(REPLICA_ENTRIES)?,
            children: txn.open_table(REPLICA_CHILDREN)?,
            instances: txn.open_table(REPLICA_INSTANCES)?,
            watermarks: txn.open_table(WATERMARKS)?,
        })
    }

    /// Deletes every record of `device` a full resync did not bring.
    fn sweep(
        &mut self,
        device: DeviceId,
        seen: &Table<'_, (u128, u8, u128), ()>,
        applied: &mut Applied,
    ) -> Result<()> {
        let d = device.0.as_u128();
        for resource in Resource::ALL {
            let r = resource.code();
            let mut gone = Vec::new();
            if resource == Resource::Entry {
                for row in self.entries.range((d, 0)..=(d, u64::MAX))? {
                    let id = row?.0.value().1;
                    if seen.get((d, r, u128::from(id)))?.is_none() {
                        gone.push(u128::from(id));
                    }
                }
            } else {
                for row in self.records.range((d, r, 0)..=(d, r, u128::MAX))? {
                    let key = row?.0.value().2;
                    if seen.get((d, r, key))?.is_none() {
                        gone.push(key);
                    }
                }
            }
            if gone.is_empty() {
                continue;
            }
            let batch = Batch {
                resource,
                after: Watermark(0),
                next: Watermark(0),
                items: gone
                    .into_iter()
                    .map(|key| super::Item { key, record: None })
                    .collect(),
            };
            self.apply_batch(device, &batch, applied)?;
        }
        Ok(())
    }

    fn apply_batch(
        &mut self,
        device: DeviceId,
        batch: &Batch,
        applied: &mut Applied,
    ) -> Result<()> {
        let d = device.0.as_u128();
        for item in &batch.items {
            applied.items += 1;
            if batch.resource != Resource::Entry {
                match &item.record {
                    Some(bytes) => {
                        check_record(batch.resource, bytes)?;
                        self.records
                            .insert((d, batch.resource.code(), item.key), bytes.as_slice())?;
                    }
                    None => {
                        self.records.remove((d, batch.resource.code(), item.key))?;
                    }
                }
                if batch.resource == Resource::Extract {
                    // What the files holding it say changed.
                    for row in self
                        .instances
                        .range((d, item.key, 0)..=(d, item.key, u64::MAX))?
                    {
                        applied.said.push(row?.0.value().2);
                    }
                }
                continue;
            }
            let id = u64::try_from(item.key)
                .map_err(|_| Error::InvalidInput("peer sent an entry id over 64 bits".into()))?;
            let new = item
                .record
                .as_deref()
                .map(|bytes| -> Result<EntryRecord> {
                    let record = EntryRecord::decode(bytes)?;
                    check_entry(id, &record)?;
                    Ok(record)
                })
                .transpose()?;
            applied.entries.push(id);
            let old = self
                .entries
                .get((d, id))?
                .map(|v| EntryRecord::decode(v.value()))
                .transpose()?;
            if let Some(old) = &old
                && new
                    .as_ref()
                    .is_none_or(|n| n.parent != old.parent || n.name != old.name)
            {
                self.children
                    .remove(child_key(device, old.parent, &old.name).as_slice())?;
                applied.dirs.push(old.parent);
            }
            if let Some(content) = old.as_ref().and_then(|o| o.content) {
                self.instances.remove((d, content.0.as_u128(), id))?;
            }
            if let Some(content) = new.as_ref().and_then(|n| n.content) {
                self.instances.insert((d, content.0.as_u128(), id), ())?;
            }
            match (&new, &item.record) {
                (Some(record), Some(bytes)) => {
                    self.entries.insert((d, id), bytes.as_slice())?;
                    if record.parent != 0 {
                        self.children.insert(
                            child_key(device, record.parent, &record.name).as_slice(),
                            id,
                        )?;
                    }
                    applied.dirs.push(record.parent);
                }
                _ => {
                    self.entries.remove((d, id))?;
                }
            }
        }
        Ok(())
    }
}

fn bad(what: &str) -> Error {
    Error::InvalidInput(format!("peer sent {what}"))
}

/// Decodes a record as its resource to refuse garbage before storing it.
fn check_record(resource: Resource, bytes: &[u8]) -> Result<()> {
    match resource {
        Resource::Volume => VolumeRecord::decode(bytes).map(drop),
        Resource::Location => {
            let location = LocationRecord::decode(bytes)?;
            if !is_plain_name(location.name.as_bytes()) {
                return Err(bad("a location name that is not a file name"));
            }
            Ok(())
        }
        Resource::Content => ContentRecord::decode(bytes).map(drop),
        Resource::Entry => EntryRecord::decode(bytes).map(drop),
        Resource::Extract => ExtractRecord::decode(bytes).map(drop),
    }
}

/// An entry must fit in a tree: a root has no parent and no name; anything
/// else has a parent other than itself and a name the mount can show.
fn check_entry(id: u64, record: &EntryRecord) -> Result<()> {
    if record.parent == 0 {
        if !record.name.is_empty() || record.kind != EntryKind::Directory {
            return Err(bad("a root entry with a name or of a non-directory kind"));
        }
        return Ok(());
    }
    if record.parent == id {
        return Err(bad("an entry that is its own parent"));
    }
    if !is_plain_name(&record.name) {
        return Err(bad("an entry name that is not a file name"));
    }
    Ok(())
}

/// Not empty, not `.` or `..`, no `/` and no NUL.
pub fn is_plain_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name != b"."
        && name != b".."
        && !name.contains(&b'/')
        && !name.contains(&0)
        && name.len() <= 255
}

/// Forgets everything replicated from `device` (it was removed).
pub fn forget(db: &Database, device: DeviceId) -> Result<()> {
    let d = device.0.as_u128();
    let txn = db.begin_write()?;
    {
        let mut tables = Tables::open(&txn)?;
        tables
            .records
            .retain_in((d, 0, 0)..=(d, u8::MAX, u128::MAX), |_, _| false)?;
        tables
            .entries
            .retain_in((d, 0)..=(d, u64::MAX), |_, _| false)?;
        let lo = d.to_be_bytes();
        let hi = d.checked_add(1).map(u128::to_be_bytes);
        match hi {
            Some(hi) => tables.children.retain_in(&lo[..]..&hi[..], |_, _| false)?,
            None => tables.children.retain_in(&lo[..].., |_, _| false)?,
        }
        tables
            .instances
            .retain_in((d, 0, 0)..=(d, u128::MAX, u64::MAX), |_, _| false)?;
        tables
            .watermarks
            .retain_in((d, 0)..=(d, u8::MAX), |_, _| false)?;
        txn.open_table(RESYNC)?.remove(d)?;
        txn.open_table(RESYNC_SEEN)?
            .retain_in((d, 0, 0)..=(d, u8::MAX, u128::MAX), |_, _| false)?;
    }
    txn.commit()?;
    Ok(())
}

/// Read access to the replica of one device.
pub struct ReplicaView {
    txn: ReadTransaction,
    device: DeviceId,
}

impl ReplicaView {
    pub fn new(db: &Database, device: DeviceId) -> Result<ReplicaView> {
        Ok(ReplicaView {
            txn: db.begin_read()?,
            device,
        })
    }

    fn d(&self) -> u128 {
        self.device.0.as_u128()
    }

    /// The device's locations, by name.
    pub fn locations(&self) -> Result<Vec<LocationRecord>> {
        let table = self.txn.open_table(REPLICA)?;
        let r = Resource::Location.code();
        let mut out = Vec::new();
        for row in table.range((self.d(), r, 0)..=(self.d(), r, u128::MAX))? {
            out.push(LocationRecord::decode(row?.1.value())?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub fn location(&self, id: LocationId) -> Result<Option<LocationRecord>> {
        let table = self.txn.open_table(REPLICA)?;
        let key = (self.d(), Resource::Location.code(), id.0.as_u128());
        table
            .get(key)?
            .map(|v| LocationRecord::decode(v.value()))
            .transpose()
    }

    pub fn volume(&self, id: crate::ids::VolumeId) -> Result<Option<VolumeRecord>> {
        let table = self.txn.open_table(REPLICA)?;
        let key = (self.d(), Resource::Volume.code(), id.0.as_u128());
        table
            .get(key)?
            .map(|v| VolumeRecord::decode(v.value()))
            .transpose()
    }

    pub fn entry(&self, id: u64) -> Result<Option<EntryRecord>> {
        let table = self.txn.open_table(REPLICA_ENTRIES)?;
        table
            .get((self.d(), id))?
            .map(|v| EntryRecord::decode(v.value()))
            .transpose()
    }

    pub fn content(&self, id: ContentId) -> Result<Option<ContentRecord>> {
        let table = self.txn.open_table(REPLICA)?;
        let key = (self.d(), Resource::Content.code(), id.0.as_u128());
        table
            .get(key)?
            .map(|v| ContentRecord::decode(v.value()))
            .transpose()
    }

    /// What `content` says, as this device extracted it.
    pub fn extract(&self, id: ContentId) -> Result<Option<ExtractRecord>> {
        let table = self.txn.open_table(REPLICA)?;
        let key = (self.d(), Resource::Extract.code(), id.0.as_u128());
        table
            .get(key)?
            .map(|v| ExtractRecord::decode(v.value()))
            .transpose()
    }

    /// Entries of this device holding `content`.
    pub fn instances(&self, content: ContentId) -> Result<Vec<u64>> {
        let table = self.txn.open_table(REPLICA_INSTANCES)?;
        let c = content.0.as_u128();
        let mut out = Vec::new();
        for row in table.range((self.d(), c, 0)..=(self.d(), c, u64::MAX))? {
            out.push(row?.0.value().2);
        }
        Ok(out)
    }

    /// The location holding `entry` and its path below the location root,
    /// walking parents (bounded: a replica is a peer's word, and a cycle
    /// must not hang us).
    pub fn path_of(&self, entry: u64) -> Result<Option<(LocationRecord, Vec<u8>)>> {
        let locations = self.locations()?;
        let mut names: Vec<Vec<u8>> = Vec::new();
        let mut id = entry;
        for _ in 0..4096 {
            if let Some(location) = locations.iter().find(|l| l.root.0 == id) {
                names.reverse();
                return Ok(Some((location.clone(), names.join(&b'/'))));
            }
            let Some(record) = self.entry(id)? else {
                return Ok(None);
            };
            names.push(record.name);
            id = record.parent;
        }
        Ok(None)
    }

    /// The entry at `path` below location `location` (its root for an
    /// empty path), walking names from the root.
    pub fn entry_at(
        &self,
        location: LocationId,
        path: &[u8],
    ) -> Result<Option<(u64, EntryRecord)>> {
        let Some(location) = self.location(location)? else {
            return Ok(None);
        };
        let mut id = location.root.0;
        for part in path.split(|b| *b == b'/').filter(|p| !p.is_empty()) {
            match self.child(id, part)? {
                Some((child, _)) => id = child,
                None => return Ok(None),
            }
        }
        Ok(self.entry(id)?.map(|record| (id, record)))
    }

    /// The child `name` of directory `parent`.
    pub fn child(&self, parent: u64, name: &[u8]) -> Result<Option<(u64, EntryRecord)>> {
        let children = self.txn.open_table(REPLICA_CHILDREN)?;
        let Some(id) = children
            .get(child_key(self.device, parent, name).as_slice())?
            .map(|v| v.value())
        else {
            return Ok(None);
        };
        Ok(self.entry(id)?.map(|record| (id, record)))
    }

    /// Every entry `wanted` accepts, as (id, record).
    pub fn find_entries(
        &self,
        wanted: impl Fn(&EntryRecord) -> bool,
    ) -> Result<Vec<(u64, EntryRecord)>> {
        let entries = self.txn.open_table(REPLICA_ENTRIES)?;
        let mut out = Vec::new();
        for row in entries.range((self.d(), 0)..=(self.d(), u64::MAX))? {
            let (key, value) = row?;
            let record = EntryRecord::decode(value.value())?;
            if wanted(&record) {
                out.push((key.value().1, record));
            }
        }
        Ok(out)
    }

    /// Everything below directory `root` as (id, path relative to `root`,
    /// record), depth first. A replica is a peer's word: an entry met twice
    /// (a cycle) is not walked again.
    pub fn below(&self, root: u64) -> Result<Vec<(u64, Vec<u8>, EntryRecord)>> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::from([root]);
        let mut stack = vec![(root, Vec::new())];
        while let Some((dir, prefix)) = stack.pop() {
            for (id, record) in self.children(dir)? {
                if !seen.insert(id) {
                    continue;
                }
                let mut path = prefix.clone();
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(&record.name);
                if record.kind == EntryKind::Directory {
                    stack.push((id, path.clone()));
                }
                out.push((id, path, record));
            }
        }
        Ok(out)
    }

    /// Children of `parent` as (id, record), by name.
    pub fn children(&self, parent: u64) -> Result<Vec<(u64, EntryRecord)>> {
        let children = self.txn.open_table(REPLICA_CHILDREN)?;
        let entries = self.txn.open_table(REPLICA_ENTRIES)?;
        let lo = child_key(self.device, parent, b"");
        let hi = match parent.checked_add(1) {
            Some(next) => child_key(self.device, next, b""),
            None => child_key(
                DeviceId(uuid::Uuid::from_u128(self.d().saturating_add(1))),
                0,
                b"",
            ),
        };
        let mut out = Vec::new();
        for row in children.range(lo.as_slice()..hi.as_slice())? {
            let id = row?.1.value();
            if let Some(v) = entries.get((self.d(), id))? {
                out.push((id, EntryRecord::decode(v.value())?));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::{Item, Watermark};
    use proptest::prelude::*;

    fn entry(parent: u64, name: &[u8], kind: EntryKind) -> Vec<u8> {
        EntryRecord::new(parent, name, &crate::sync::sim::stat(kind, 1)).encode()
    }

    fn page(items: Vec<Item>) -> Page {
        Page {
            batches: vec![Batch {
                resource: Resource::Entry,
                after: Watermark(0),
                next: Watermark(items.len() as u64),
                items,
            }],
            more: false,
            resync: None,
        }
    }

    #[test]
    fn floors_from_before_a_resource_was_added_still_read() {
        let mut marks = Watermarks::default();
        marks[0] = Watermark(7);
        marks[Resource::Entry.slot()] = Watermark(9);
        let old = &encode_floors(&marks)[..32];
        let read = decode_floors(old).expect("four floors");
        assert_eq!(read, marks);
        assert_eq!(decode_floors(&encode_floors(&marks)), Some(marks));
        assert_eq!(decode_floors(&[0; 12]), None);
    }

    #[test]
    fn names_that_would_escape_or_break_the_tree_refuse_the_page() {
        let tmp = tempfile::tempdir().expect("tmp");
        let lib = crate::Library::create(&tmp.path().join("l.sdlibrary"), "me").expect("lib");
        let peer = DeviceId::new_random();
        for (id, record) in [
            (2, entry(1, b"..", EntryKind::File)),
            (2, entry(1, b"a/b", EntryKind::File)),
            (2, entry(1, b"", EntryKind::File)),
            (2, entry(1, b"nul\0", EntryKind::File)),
            (2, entry(2, b"self", EntryKind::Directory)),
            (2, entry(0, b"named-root", EntryKind::Directory)),
            (2, vec![0xff; 7]),
        ] {
            let bad = page(vec![
                Item {
                    key: 1,
                    record: Some(entry(0, b"", EntryKind::Directory)),
                },
                Item {
                    key: id,
                    record: Some(record),
                },
            ]);
            assert!(apply(lib.db(), peer, &bad).is_err());
            // Nothing of a refused page stays, not even its good items.
            let view = ReplicaView::new(lib.db(), peer).expect("view");
            assert!(view.entry(1).expect("read").is_none());
            assert_eq!(
                watermarks(lib.db(), peer).expect("marks")[Resource::Entry.slot()],
                Watermark(0)
            );
        }
    }

    proptest! {
        /// Whatever a peer puts in a page, applying it ends in an error or a
        /// replica that can be read back, never a panic.
        #[test]
        fn arbitrary_pages_never_panic(
            items in proptest::collection::vec((0u128..8, proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64))), 0..16),
            resource in 0usize..Resource::ALL.len(),
        ) {
            let tmp = tempfile::tempdir().expect("tmp");
            let lib = crate::Library::create(&tmp.path().join("l.sdlibrary"), "me").expect("lib");
            let peer = DeviceId::new_random();
            let mut p = page(items.into_iter().map(|(key, record)| Item { key, record }).collect());
            p.batches[0].resource = Resource::ALL[resource];
            let _ = apply(lib.db(), peer, &p);
            let view = ReplicaView::new(lib.db(), peer).expect("view");
            let _ = view.locations();
            let _ = view.children(0);
        }
    }
}
