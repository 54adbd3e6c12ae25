//! The index of a tree whose changes are staged here and delivered by the
//! courier: a paired device's tree (its replica of that device's index) or
//! one of this device's cloud volumes (this device's own index; the bucket
//! is what the change is delivered to). `outgoing` reads both through this
//! one view, so a bucket takes writes exactly as another device does.

use redb::{ReadTransaction, ReadableDatabase};

use super::node::Kind;
use super::{Attr, Namespace, Node};
use crate::error::{Error, ErrorKind, Result};
use crate::ids::{ContentId, DeviceId, LocationId};
use crate::library::schema;
use crate::model::content::ContentRecord;
use crate::model::entry::EntryRecord;
use crate::sync::replica::ReplicaView;

/// Read access to the index of the tree a change is for.
pub(super) enum OwnerIndex {
    /// A paired device's replica.
    Replica(ReplicaView),
    /// This device's index of its cloud volumes: (location, root entry).
    Cloud {
        txn: ReadTransaction,
        roots: Vec<(LocationId, u64)>,
    },
}

impl OwnerIndex {
    /// The entry at `path` below location `location` (its root for an
    /// empty path).
    pub(super) fn entry_at(
        &self,
        location: LocationId,
        path: &[u8],
    ) -> Result<Option<(u64, EntryRecord)>> {
        match self {
            OwnerIndex::Replica(view) => view.entry_at(location, path),
            OwnerIndex::Cloud { txn, roots } => {
                let Some(&(_, root)) = roots.iter().find(|(l, _)| *l == location) else {
                    return Ok(None);
                };
                crate::cloud::entry_below(txn, root, path)
            }
        }
    }

    /// The full BLAKE3 recorded for a content, once known.
    pub(super) fn integrity(&self, content: ContentId) -> Result<Option<[u8; 32]>> {
        let record = match self {
            OwnerIndex::Replica(view) => view.content(content)?,
            OwnerIndex::Cloud { txn, .. } => schema::CONTENT
                .read(txn)?
                .get(content.0.as_u128())?
                .map(|v| ContentRecord::decode(v.value()))
                .transpose()?,
        };
        Ok(record.and_then(|c| c.integrity))
    }

    /// Whether the location takes changes from this device; why not if not.
    pub(super) fn refusal(&self, location: LocationId) -> Result<Option<String>> {
        match self {
            OwnerIndex::Replica(view) => {
                let location = view
                    .location(location)?
                    .ok_or_else(|| Error::fs(ErrorKind::NotFound, "the location is gone"))?;
                Ok((!location.remote_writes)
                    .then(|| format!("{} does not take changes from other devices", location.name)))
            }
            OwnerIndex::Cloud { roots, .. } => {
                if roots.iter().any(|(l, _)| *l == location) {
                    Ok(None)
                } else {
                    Err(Error::fs(ErrorKind::NotFound, "the volume is gone"))
                }
            }
        }
    }

    pub(super) fn is_cloud(&self) -> bool {
        matches!(self, OwnerIndex::Cloud { .. })
    }
}

impl Namespace {
    /// The index of `device`'s trees: this device's own for its cloud
    /// volumes, else the replica.
    pub(super) fn owner_index(&self, device: DeviceId) -> Result<OwnerIndex> {
        if device == self.lib.device_id() {
            let roots = self
                .cloud_volumes()
                .into_iter()
                .map(|l| (l.id, l.root.0))
                .collect();
            return Ok(OwnerIndex::Cloud {
                txn: self.lib.db().begin_read()?,
                roots,
            });
        }
        Ok(OwnerIndex::Replica(ReplicaView::new(
            self.lib.db(),
            device,
        )?))
    }

    /// The node and attributes of entry `entry` of the tree `device` owns.
    pub(super) fn owned_node(
        &self,
        device: DeviceId,
        location: LocationId,
        entry: u64,
        record: &EntryRecord,
    ) -> (Node, Attr) {
        if device == self.lib.device_id() {
            (
                Node(Kind::Cloud { location, entry }),
                super::cloud::cloud_attr(location, entry, record),
            )
        } else {
            (
                Node(Kind::Remote { device, entry }),
                super::remote::remote_attr(device, entry, record),
            )
        }
    }
}
