//! One device's index, as a preview reads it: this device's own tables or
//! a paired device's replica, through one interface. Nothing here touches
//! a file.

use redb::{ReadTransaction, ReadableDatabase};

use crate::error::{Error, Result};
use crate::ids::{ContentId, DeviceId};
use crate::library::{Library, schema};
use crate::model::content::ContentRecord;
use crate::model::entry::EntryRecord;
use crate::model::location::LocationRecord;
use crate::model::volume::VolumeRecord;
use crate::sync::replica::ReplicaView;
use crate::uri::SdUri;

pub(crate) struct Side {
    pub device: DeviceId,
    pub device_name: String,
    pub local: bool,
    read: Read,
    locations: Vec<LocationRecord>,
}

enum Read {
    Local(ReadTransaction),
    Replica(ReplicaView),
}

/// Where a URI points in an index.
pub(crate) struct Spot {
    pub location: LocationRecord,
    pub rel: Vec<u8>,
    pub entry: Option<(u64, EntryRecord)>,
}

impl Side {
    /// The index of the device `uri` is on (`sd://cloud/...`: this one).
    pub fn of(lib: &Library, uri: &SdUri) -> Result<Side> {
        let me = lib.device_id();
        let device = match uri {
            SdUri::Device { device, .. } => device.as_str(),
            SdUri::Cloud { .. } => lib.device_name(),
            SdUri::Content { .. } => {
                return Err(Error::InvalidInput(format!(
                    "{uri}: name a file or folder of a device (content by id has no place)"
                )));
            }
        };
        let record = lib
            .devices()?
            .into_iter()
            .find(|d| d.name == device || d.id.to_string() == device)
            .ok_or_else(|| {
                Error::NotFound(format!("no device named {device:?} in this library"))
            })?;
        let (read, locations) = if record.id == me {
            (
                Read::Local(lib.db().begin_read()?),
                crate::locations::list(lib.db())?,
            )
        } else {
            let view = ReplicaView::new(lib.db(), record.id)?;
            let locations = view.locations()?;
            (Read::Replica(view), locations)
        };
        Ok(Side {
            device: record.id,
            device_name: record.name,
            local: record.id == me,
            read,
            locations,
        })
    }

    /// Where `uri` points: its location, the path below it, and the entry
    /// there if the index has one.
    pub fn spot(&self, uri: &SdUri) -> Result<Spot> {
        let name: &[u8] = match uri {
            SdUri::Cloud { volume, .. } => volume.as_bytes(),
            _ => uri.location().ok_or_else(|| {
                Error::InvalidInput(format!("{uri}: name a location, folder or file"))
            })?,
        };
        let location = self
            .locations
            .iter()
            .find(|l| l.name.as_bytes() == name)
            .cloned()
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "{} has no location {:?}",
                    self.device_name,
                    String::from_utf8_lossy(name)
                ))
            })?;
        let rel = uri.rel_path().to_vec();
        let mut id = location.root.0;
        let mut found = true;
        for part in rel.split(|&b| b == b'/').filter(|p| !p.is_empty()) {
            match self.child(id, part)? {
                Some((child, _)) => id = child,
                None => {
                    found = false;
                    break;
                }
            }
        }
        let entry = if found {
            self.entry(id)?.map(|r| (id, r))
        } else {
            None
        };
        Ok(Spot {
            location,
            rel,
            entry,
        })
    }

    pub fn entry(&self, id: u64) -> Result<Option<EntryRecord>> {
        match &self.read {
            Read::Local(txn) => schema::ENTRIES
                .read(txn)?
                .get(id)?
                .map(|v| EntryRecord::decode(v.value()))
                .transpose(),
            Read::Replica(view) => view.entry(id),
        }
    }

    pub fn child(&self, parent: u64, name: &[u8]) -> Result<Option<(u64, EntryRecord)>> {
        match &self.read {
            Read::Local(txn) => {
                let children = txn.open_table(schema::CHILDREN)?;
                let Some(id) = children
                    .get(schema::child_key(parent, name).as_slice())?
                    .map(|v| v.value())
                else {
                    return Ok(None);
                };
                Ok(self.entry(id)?.map(|r| (id, r)))
            }
            Read::Replica(view) => view.child(parent, name),
        }
    }

    /// Children of `parent` as (id, record).
    pub fn children(&self, parent: u64) -> Result<Vec<(u64, EntryRecord)>> {
        match &self.read {
            Read::Local(txn) => {
                let children = txn.open_table(schema::CHILDREN)?;
                let entries = schema::ENTRIES.read(txn)?;
                let (lo, hi) = schema::children_range(parent);
                let mut out = Vec::new();
                for row in children.range(lo.as_slice()..hi.as_slice())? {
                    let id = row?.1.value();
                    if let Some(raw) = entries.get(id)? {
                        out.push((id, EntryRecord::decode(raw.value())?));
                    }
                }
                Ok(out)
            }
            Read::Replica(view) => view.children(parent),
        }
    }

    /// The content's record on this device (its full hash, once known).
    pub fn content(&self, id: ContentId) -> Result<Option<ContentRecord>> {
        match &self.read {
            Read::Local(txn) => schema::CONTENT
                .read(txn)?
                .get(id.0.as_u128())?
                .map(|v| ContentRecord::decode(v.value()))
                .transpose(),
            Read::Replica(view) => view.content(id),
        }
    }

    /// The volume under `location`, as the device last recorded it.
    pub fn volume(&self, location: &LocationRecord) -> Result<Option<VolumeRecord>> {
        let Some(id) = location.volume else {
            return Ok(None);
        };
        match &self.read {
            Read::Local(txn) => schema::VOLUMES
                .read(txn)?
                .get(id.0.as_u128())?
                .map(|v| VolumeRecord::decode(v.value()))
                .transpose(),
            Read::Replica(view) => view.volume(id),
        }
    }
}
