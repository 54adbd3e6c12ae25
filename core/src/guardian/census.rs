//! Every device's files in one pass: this device's index and each paired
//! device's replica, as compact trees, with each file's place (device,
//! location, volume, physical class) and content.
//!
//! Nothing here allocates per entry beyond the decode of its record: the
//! trees are parallel arrays indexed by node, because the Guardian runs
//! over a whole library (1M entries) within a second.

use std::collections::{HashMap, HashSet};

use redb::{ReadTransaction, ReadableTable};

use crate::error::Result;
use crate::ids::{DeviceId, VolumeId};
use crate::library::{Library, schema};
use crate::model::content::ContentRecord;
use crate::model::entry::{EntryKind, EntryRecord};
use crate::model::location::LocationRecord;
use crate::model::volume::{PhysicalClass, VolumeRecord};
use crate::sync::Resource;
use crate::sync::replica::{REPLICA, REPLICA_ENTRIES};
use crate::uri::SdUri;

/// No node, no file.
pub(crate) const NONE: u32 = u32::MAX;

/// Walking up a peer's tree is bounded: its replica is its word.
pub(crate) const MAX_DEPTH: usize = 4096;

pub(crate) struct Device {
    pub id: DeviceId,
    pub name: String,
    pub local: bool,
}

/// A location of some device: where a file lives decides which volume and
/// which physical class its copy is on.
pub(crate) struct Place {
    pub device: u16,
    pub location: LocationRecord,
    /// Index into [`Census::volumes`], or [`NONE`] when not recorded.
    pub volume: u32,
    pub class: PhysicalClass,
    /// The location's root node in its device's tree.
    pub root: u32,
}

/// One device's entries reachable from its locations' roots.
#[derive(Default)]
pub(crate) struct Tree {
    pub ids: Vec<u64>,
    /// The parent node ([`NONE`] for a root or an orphan).
    pub parent: Vec<u32>,
    pub first_child: Vec<u32>,
    pub next_sibling: Vec<u32>,
    pub kind: Vec<EntryKind>,
    /// The node's row in [`Census::files`], for identified files.
    pub file: Vec<u32>,
    /// Nodes in depth-first pre-order, location by location: reversed, a
    /// child always comes before its parent.
    pub order: Vec<u32>,
    index: HashMap<u64, u32>,
}

impl Tree {
    pub fn node(&self, entry: u64) -> Option<u32> {
        self.index.get(&entry).copied()
    }

    pub fn children(&self, node: u32) -> impl Iterator<Item = u32> + '_ {
        let mut next = self.first_child[node as usize];
        std::iter::from_fn(move || {
            (next != NONE).then(|| {
                let this = next;
                next = self.next_sibling[this as usize];
                this
            })
        })
    }
}

/// A file with a content identity: one copy of that content.
#[derive(Clone, Copy)]
pub(crate) struct FileRow {
    pub device: u16,
    pub node: u32,
    pub place: u32,
    pub size: u64,
    pub content: u128,
    /// The first 8 bytes of the full BLAKE3 the owner recorded (0: not
    /// verified yet). 64 bits tell different full hashes apart here.
    pub full: u64,
    /// The owner's integrity job found these bytes corrupt or colliding:
    /// not a good copy of the content.
    pub bad: bool,
}

pub(crate) struct Census {
    pub devices: Vec<Device>,
    pub places: Vec<Place>,
    pub volumes: Vec<VolumeRecord>,
    pub trees: Vec<Tree>,
    pub files: Vec<FileRow>,
    volume_index: HashMap<(u16, VolumeId), u32>,
}

impl Census {
    /// Reads every device in one read transaction.
    pub fn take(lib: &Library, txn: &ReadTransaction, bad: &HashSet<u64>) -> Result<Census> {
        let mut census = Census {
            devices: Vec::new(),
            places: Vec::new(),
            volumes: Vec::new(),
            trees: Vec::new(),
            files: Vec::new(),
            volume_index: HashMap::new(),
        };
        for device in lib.devices()? {
            let local = device.id == lib.device_id();
            let index = u16::try_from(census.devices.len()).unwrap_or(u16::MAX);
            census.devices.push(Device {
                id: device.id,
                name: device.name,
                local,
            });
            if local {
                census.take_local(txn, index, bad)?;
            } else {
                census.take_replica(txn, index, device.id)?;
            }
        }
        Ok(census)
    }

    fn take_local(&mut self, txn: &ReadTransaction, device: u16, bad: &HashSet<u64>) -> Result<()> {
        let volumes = schema::VOLUMES.read(txn)?;
        let mut locations = Vec::new();
        for row in schema::LOCATIONS.read(txn)?.iter()? {
            let location = LocationRecord::decode(row?.1.value())?;
            let volume = match location.volume {
                Some(v) => volumes
                    .get(v.0.as_u128())?
                    .map(|raw| VolumeRecord::decode(raw.value()))
                    .transpose()?,
                None => None,
            };
            locations.push((location, volume));
        }
        let mut full = HashMap::new();
        for row in schema::CONTENT.read(txn)?.iter()? {
            let (key, value) = row?;
            if let Some(hash) = ContentRecord::decode(value.value())?.integrity {
                full.insert(key.value(), prefix(&hash));
            }
        }
        let entries = schema::ENTRIES.read(txn)?;
        let rows = entries.iter()?.map(|row| {
            let (key, value) = row?;
            Ok((key.value(), EntryRecord::decode(value.value())?))
        });
        self.add_tree(device, locations, rows, &full, bad)
    }

    fn take_replica(&mut self, txn: &ReadTransaction, device: u16, id: DeviceId) -> Result<()> {
        let d = id.0.as_u128();
        let replica = txn.open_table(REPLICA)?;
        let records = |resource: Resource| {
            let r = resource.code();
            replica.range((d, r, 0)..=(d, r, u128::MAX))
        };
        let mut volumes = HashMap::new();
        for row in records(Resource::Volume)? {
            let volume = VolumeRecord::decode(row?.1.value())?;
            volumes.insert(volume.id, volume);
        }
        let mut locations = Vec::new();
        for row in records(Resource::Location)? {
            let location = LocationRecord::decode(row?.1.value())?;
            let volume = location.volume.and_then(|v| volumes.get(&v).cloned());
            locations.push((location, volume));
        }
        let mut full = HashMap::new();
        for row in records(Resource::Content)? {
            let (key, value) = row?;
            if let Some(hash) = ContentRecord::decode(value.value())?.integrity {
                full.insert(key.value().2, prefix(&hash));
            }
        }
        let entries = txn.open_table(REPLICA_ENTRIES)?;
        let rows = entries.range((d, 0)..=(d, u64::MAX))?.map(|row| {
            let (key, value) = row?;
            Ok((key.value().1, EntryRecord::decode(value.value())?))
        });
        self.add_tree(device, locations, rows, &full, &HashSet::new())
    }

    /// Builds one device's tree from its entries (any order), then walks
    /// it from each location's root, recording the files it reaches.
    /// Entries no root reaches (a subtree waiting for removal, or a peer's
    /// inconsistent replica) are left out; a cycle is walked once.
    fn add_tree(
        &mut self,
        device: u16,
        locations: Vec<(LocationRecord, Option<VolumeRecord>)>,
        rows: impl Iterator<Item = Result<(u64, EntryRecord)>>,
        full: &HashMap<u128, u64>,
        bad: &HashSet<u64>,
    ) -> Result<()> {
        let mut tree = Tree::default();
        let mut parents = Vec::new();
        let mut sizes = Vec::new();
        let mut contents = Vec::new();
        for row in rows {
            let (id, record) = row?;
            let node = tree.ids.len() as u32;
            tree.index.insert(id, node);
            tree.ids.push(id);
            tree.kind.push(record.kind);
            parents.push(record.parent);
            sizes.push(record.size);
            contents.push(record.content.map_or(0, |c| c.0.as_u128()));
        }
        let n = tree.ids.len();
        tree.first_child = vec![NONE; n];
        tree.next_sibling = vec![NONE; n];
        tree.file = vec![NONE; n];
        tree.parent = vec![NONE; n];
        for node in (0..n).rev() {
            if let Some(&parent) = tree.index.get(&parents[node])
                && parents[node] != 0
                && parent as usize != node
            {
                tree.parent[node] = parent;
                tree.next_sibling[node] = tree.first_child[parent as usize];
                tree.first_child[parent as usize] = node as u32;
            }
        }
        let mut seen = vec![false; n];
        for (location, volume) in locations {
            let Some(root) = tree.node(location.root.0) else {
                continue;
            };
            let place = self.places.len() as u32;
            let (volume, class) = match volume {
                Some(v) => {
                    let class = v.class;
                    let next = self.volumes.len() as u32;
                    let index = *self.volume_index.entry((device, v.id)).or_insert(next);
                    if index == next {
                        self.volumes.push(v);
                    }
                    (index, class)
                }
                None => (NONE, PhysicalClass::Unknown),
            };
            self.places.push(Place {
                device,
                location,
                volume,
                class,
                root,
            });
            let mut stack = vec![root];
            while let Some(node) = stack.pop() {
                if std::mem::replace(&mut seen[node as usize], true) {
                    continue;
                }
                tree.order.push(node);
                let i = node as usize;
                if tree.kind[i] == EntryKind::File && contents[i] != 0 && sizes[i] > 0 {
                    tree.file[i] = self.files.len() as u32;
                    self.files.push(FileRow {
                        device,
                        node,
                        place,
                        size: sizes[i],
                        content: contents[i],
                        full: full.get(&contents[i]).copied().unwrap_or(0),
                        bad: bad.contains(&tree.ids[i]),
                    });
                }
                stack.extend(tree.children(node));
            }
        }
        self.trees.push(tree);
        Ok(())
    }
}

impl Census {
    /// The record of `node` (for its name), read again: names are not kept.
    pub fn record(
        &self,
        txn: &ReadTransaction,
        device: u16,
        node: u32,
    ) -> Result<Option<EntryRecord>> {
        let d = &self.devices[device as usize];
        let id = self.trees[device as usize].ids[node as usize];
        let raw = if d.local {
            schema::ENTRIES
                .read(txn)?
                .get(id)?
                .map(|v| v.value().to_vec())
        } else {
            txn.open_table(REPLICA_ENTRIES)?
                .get((d.id.0.as_u128(), id))?
                .map(|v| v.value().to_vec())
        };
        raw.map(|r| EntryRecord::decode(&r)).transpose()
    }

    /// The URI of `node`, below the root of `place`.
    pub fn uri(&self, txn: &ReadTransaction, place: usize, node: u32) -> Result<SdUri> {
        let p = &self.places[place];
        let tree = &self.trees[p.device as usize];
        let mut names = Vec::new();
        let mut at = node;
        for _ in 0..MAX_DEPTH {
            if at == p.root || at == NONE {
                break;
            }
            if let Some(record) = self.record(txn, p.device, at)? {
                names.push(record.name);
            }
            at = tree.parent[at as usize];
        }
        names.reverse();
        Ok(self.uri_in(p, &names.join(&b'/')))
    }

    /// The URI of `rel` below a place: `sd://cloud/<volume>/...` for this
    /// device's buckets, `sd://<device>/<location>/...` otherwise.
    pub fn uri_in(&self, place: &Place, rel: &[u8]) -> SdUri {
        let device = &self.devices[place.device as usize];
        if device.local && place.class == PhysicalClass::Cloud {
            let mut path = Vec::with_capacity(rel.len() + 1);
            if !rel.is_empty() {
                path.push(b'/');
                path.extend_from_slice(rel);
            }
            return SdUri::Cloud {
                volume: place.location.name.clone(),
                path,
            };
        }
        SdUri::device(&device.name, place.location.name.as_bytes(), rel)
    }
}

fn prefix(hash: &[u8; 32]) -> u64 {
    let mut head = [0u8; 8];
    head.copy_from_slice(&hash[..8]);
    u64::from_le_bytes(head).max(1)
}
