//! This device's cloud volumes at the mount's top level, served from their
//! index (listing and `stat` work without the service); a file is read
//! through `cloud::fetch_verified` (whole, checked, then from the store).
//! Changes are staged and uploaded like changes to another device's files
//! (`outgoing`, `owner`).

use redb::ReadableDatabase;

use super::node::{Kind, ino};
use super::{Attr, DirEntry, Namespace, Node, Opened};
use crate::error::{Error, ErrorKind, Result};
use crate::ids::{DeviceId, LocationId};
use crate::library::schema;
use crate::model::entry::EntryRecord;
use crate::model::location::LocationRecord;
use crate::uri::SdUri;

impl Namespace {
    /// This device's cloud volumes.
    pub(super) fn cloud_volumes(&self) -> Vec<LocationRecord> {
        self.locations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|l| l.is_cloud())
            .cloned()
            .collect()
    }

    /// The top-level directory of volume `name`, if there is one.
    pub(super) fn cloud_volume_named(&self, name: &[u8]) -> Option<Node> {
        self.cloud_volume_dirs()
            .into_iter()
            .find(|d| d.name == name)
            .map(|d| d.node)
    }

    /// The top-level directories of every volume: this device's, then
    /// paired devices' (from their replicas, read through their owners, as
    /// under `<owner>/<volume>`). A name a device or an earlier volume has
    /// is left to it.
    pub(super) fn cloud_volume_dirs(&self) -> Vec<DirEntry> {
        let mut out: Vec<DirEntry> = self
            .cloud_volumes()
            .into_iter()
            .filter_map(|l| {
                let node = Node(Kind::Cloud {
                    location: l.id,
                    entry: l.root.0,
                });
                let attr = self.getattr_cloud(l.id, l.root.0).ok()?;
                Some(DirEntry {
                    name: l.name.into_bytes(),
                    node,
                    attr,
                })
            })
            .collect();
        let peers = self.peers();
        for device in &peers {
            let Ok(view) = self.view(device.id) else {
                continue;
            };
            for location in view.locations().unwrap_or_default() {
                if !location.is_cloud() {
                    continue;
                }
                let name = location.name.into_bytes();
                let taken = name == self.lib.device_name().as_bytes()
                    || peers.iter().any(|d| d.name.as_bytes() == name)
                    || out.iter().any(|d| d.name == name);
                let entry = location.root.0;
                if taken {
                    continue;
                }
                if let Ok(Some(record)) = view.entry(entry) {
                    out.push(DirEntry {
                        name,
                        node: Node(Kind::Remote {
                            device: device.id,
                            entry,
                        }),
                        attr: super::remote::remote_attr(device.id, entry, &record),
                    });
                }
            }
        }
        out
    }

    pub(super) fn cloud_entry(&self, entry: u64) -> Result<EntryRecord> {
        let txn = self.lib.db().begin_read()?;
        let entries = schema::ENTRIES.read(&txn)?;
        entries
            .get(entry)?
            .map(|v| EntryRecord::decode(v.value()))
            .transpose()?
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, "gone from the volume's index"))
    }

    pub(super) fn getattr_cloud(&self, location: LocationId, entry: u64) -> Result<Attr> {
        let record = self.cloud_entry(entry)?;
        Ok(cloud_attr(location, entry, &record))
    }

    pub(super) fn lookup_cloud(
        &self,
        location: LocationId,
        dir: u64,
        name: &[u8],
    ) -> Result<(Node, Attr)> {
        let txn = self.lib.db().begin_read()?;
        let children = txn.open_table(schema::CHILDREN)?;
        let entries = schema::ENTRIES.read(&txn)?;
        let not_found = || Error::fs(ErrorKind::NotFound, String::from_utf8_lossy(name));
        let id = children
            .get(schema::child_key(dir, name).as_slice())?
            .map(|v| v.value())
            .ok_or_else(not_found)?;
        let record = entries
            .get(id)?
            .map(|v| EntryRecord::decode(v.value()))
            .transpose()?
            .ok_or_else(not_found)?;
        Ok((
            Node(Kind::Cloud {
                location,
                entry: id,
            }),
            cloud_attr(location, id, &record),
        ))
    }

    pub(super) fn readdir_cloud(&self, location: LocationId, dir: u64) -> Result<Vec<DirEntry>> {
        let txn = self.lib.db().begin_read()?;
        Ok(children_in(&txn, dir)?
            .into_iter()
            .map(|(name, id, record)| DirEntry {
                name,
                node: Node(Kind::Cloud {
                    location,
                    entry: id,
                }),
                attr: cloud_attr(location, id, &record),
            })
            .collect())
    }

    /// Opens a volume's file for reading: fetched whole and checked first,
    /// unless the content store has it.
    pub(super) fn open_cloud(&self, location: LocationId, entry: u64) -> Result<Opened> {
        let record = self.cloud_entry(entry)?;
        if record.kind != crate::model::entry::EntryKind::File {
            return Err(Error::fs(ErrorKind::IsADirectory, "a directory"));
        }
        let volumes = self.content.cloud().ok_or_else(|| {
            Error::fs(
                ErrorKind::Unavailable,
                "cloud volumes are not reachable here",
            )
        })?;
        let path = self.cloud_path(location, entry)?;
        let backend = volumes.backend(location)?;
        crate::cloud::fetch_verified(
            &self.content,
            &*backend,
            &path,
            &record,
            &crate::cloud::Recorded::Own,
        )
    }

    /// A paired device's cloud file read straight from its bucket, when
    /// this device has keys for that volume (`cloud/shared.rs`); `None`
    /// leaves it to the owner. Checked against the owner's record as any
    /// read of that device's files is.
    pub(super) fn open_shared_cloud(&self, device: DeviceId, entry: u64) -> Result<Option<Opened>> {
        let Some(volumes) = self.content.cloud() else {
            return Ok(None);
        };
        let keyed = volumes.keyed()?;
        if keyed.is_empty() {
            return Ok(None);
        }
        let view = self.view(device)?;
        let Some((location, path)) = view.path_of(entry)? else {
            return Ok(None);
        };
        if !keyed.contains(&location.id) {
            return Ok(None);
        }
        let record = view
            .entry(entry)?
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, format!("entry {entry}")))?;
        if record.kind != crate::model::entry::EntryKind::File {
            return Err(Error::fs(ErrorKind::IsADirectory, "a directory"));
        }
        let backend = volumes.backend(location.id)?;
        crate::cloud::fetch_verified(
            &self.content,
            &*backend,
            &path,
            &record,
            &crate::cloud::Recorded::Replica {
                view: &view,
                device,
                entry,
            },
        )
        .map(Some)
    }

    /// `sd://cloud/<volume>/<path>` of a volume's entry.
    pub(super) fn cloud_uri(&self, location: LocationId, entry: u64) -> Result<SdUri> {
        let volume = self
            .location(location)
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, "the volume is gone"))?
            .name;
        let rel = self.cloud_path(location, entry)?;
        Ok(SdUri::Cloud {
            volume,
            // A URI's path starts with its `/`.
            path: if rel.is_empty() {
                rel
            } else {
                [b"/".as_slice(), &rel].concat()
            },
        })
    }

    /// Where a volume's file stands here (`user.sd.state`).
    pub(super) fn cloud_state(
        &self,
        entry: u64,
    ) -> Result<Option<crate::content_store::FileState>> {
        crate::cloud::file_state(&self.content, &self.cloud_entry(entry)?)
    }

    /// The content identity the index recorded for a volume's file.
    pub(super) fn cloud_content(&self, entry: u64) -> Result<Option<crate::ids::ContentId>> {
        Ok(self.cloud_entry(entry)?.content)
    }

    /// The volume holding entry `entry` of this device's index.
    pub(super) fn cloud_location_of(&self, entry: u64) -> Result<LocationId> {
        let roots: Vec<(LocationId, u64)> = self
            .cloud_volumes()
            .into_iter()
            .map(|l| (l.id, l.root.0))
            .collect();
        let txn = self.lib.db().begin_read()?;
        let entries = schema::ENTRIES.read(&txn)?;
        crate::model::entry::path_below_root(&entries, entry, |e| {
            roots.iter().any(|(_, root)| *root == e)
        })?
        .and_then(|(root, _)| roots.iter().find(|(_, r)| *r == root).map(|(l, _)| *l))
        .ok_or_else(|| Error::fs(ErrorKind::NotFound, "not in a cloud volume"))
    }

    /// Everything below directory `dir` of a volume (itself, if a file) as
    /// (entry, path relative to `dir`, record), depth first.
    pub(super) fn cloud_below(&self, dir: u64) -> Result<Vec<(u64, Vec<u8>, EntryRecord)>> {
        let record = self.cloud_entry(dir)?;
        if record.kind != crate::model::entry::EntryKind::Directory {
            let name = record.name.clone();
            return Ok(vec![(dir, name, record)]);
        }
        let txn = self.lib.db().begin_read()?;
        let mut out = Vec::new();
        let mut stack = vec![(dir, Vec::new())];
        while let Some((at, prefix)) = stack.pop() {
            for (name, id, record) in children_in(&txn, at)? {
                let path = crate::outbox::join(&prefix, &name);
                if record.kind == crate::model::entry::EntryKind::Directory {
                    stack.push((id, path.clone()));
                }
                out.push((id, path, record));
            }
        }
        Ok(out)
    }

    /// Entry `entry`'s path below its volume's root.
    pub(super) fn cloud_path(&self, location: LocationId, entry: u64) -> Result<Vec<u8>> {
        let root = self
            .location(location)
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, "the volume is gone"))?
            .root
            .0;
        let txn = self.lib.db().begin_read()?;
        let entries = schema::ENTRIES.read(&txn)?;
        crate::model::entry::path_below_root(&entries, entry, |e| e == root)?
            .map(|(_, rel)| rel)
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, "not in the volume"))
    }
}

/// The children of directory `dir` of this device's index, by name:
/// (name, entry, record).
fn children_in(txn: &redb::ReadTransaction, dir: u64) -> Result<Vec<(Vec<u8>, u64, EntryRecord)>> {
    let children = txn.open_table(schema::CHILDREN)?;
    let entries = schema::ENTRIES.read(txn)?;
    let (lo, hi) = schema::children_range(dir);
    let mut out = Vec::new();
    for row in children.range(&lo[..]..&hi[..])? {
        let (key, id) = row?;
        let id = id.value();
        if let Some(record) = entries
            .get(id)?
            .map(|v| EntryRecord::decode(v.value()))
            .transpose()?
        {
            out.push((key.value()[8..].to_vec(), id, record));
        }
    }
    Ok(out)
}

pub(super) fn cloud_attr(location: LocationId, entry: u64, record: &EntryRecord) -> Attr {
    super::remote::shown_attr(
        ino::cloud(location, entry),
        record.kind,
        record.mode,
        record.size,
        record.mtime,
    )
}
