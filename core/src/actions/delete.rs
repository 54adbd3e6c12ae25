//! Deleting as an action (`sd rm`): nothing is unlinked, everything goes
//! to a trash. This device's files and folders move into its library
//! trash, where the mount's `.Trash-<uid>` lists them and `sd undo` puts
//! them back; another device's are removed through the namespace (staged
//! and delivered, as the mount removes them), and their owner keeps them
//! in its own trash for the same retention (`inbox`).

use serde::{Deserialize, Serialize};

use super::preview::Links;
use super::run::Runner;
use super::side::Side;
use super::{ActionKind, ActionRequest, Conflict, Preview};
use crate::error::{Error, Result};
use crate::library::Library;
use crate::model::entry::{EntryKind, EntryRecord};
use crate::uri::SdUri;

/// What a delete's preview and log name as its destination.
pub const TRASH: &str = "trash";

/// Something a delete moved to a trash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trashed {
    /// Where it was.
    pub uri: String,
    /// Its name in this device's trash of `uid`; `None`: another
    /// device's, kept in its owner's trash.
    pub name: Option<Vec<u8>>,
    pub uid: u32,
    pub files: u64,
    pub bytes: u64,
}

/// One item a restore puts back.
#[derive(Clone, Debug)]
pub struct Restore {
    pub name: Vec<u8>,
    pub uid: u32,
    pub to: SdUri,
    pub files: u64,
    pub bytes: u64,
}

/// Plans moving `sources` to the trash, from the index alone.
pub fn preview_delete(lib: &Library, sources: &[SdUri], links: &dyn Links) -> Result<Preview> {
    if sources.is_empty() {
        return Err(Error::InvalidInput("name at least one path".into()));
    }
    let mut preview = empty(ActionKind::Delete, sources);
    for source in sources {
        let side = Side::of(lib, source)?;
        let spot = side.spot(source)?;
        let Some((_, record)) = spot.entry else {
            return Err(Error::NotFound(format!(
                "{source}: not in {}'s index",
                side.device_name
            )));
        };
        let conflict = if spot.rel.is_empty() {
            Some("a whole location: remove it with `sd location rm`".to_owned())
        } else if spot.location.root_path().is_none() {
            Some("a bucket keeps no trash: remove it through the mount".to_owned())
        } else if !side.local && !spot.location.remote_writes {
            Some(format!(
                "{} takes no changes from other devices here",
                spot.location.name
            ))
        } else {
            None
        };
        if let Some(reason) = conflict {
            preview.conflicts.push(Conflict {
                uri: source.to_string(),
                reason,
            });
            continue;
        }
        if !side.local && !links.online(side.device) {
            preview.warnings.push(format!(
                "{} is offline: {source} is removed there when it is back",
                side.device_name
            ));
        }
        let (files, bytes) = size_of(&record);
        preview.files += files;
        preview.bytes += bytes;
        if !preview.plan.from_device.contains(&side.device) {
            preview.plan.from_device.push(side.device);
        }
        preview.plan.removals.push(source.clone());
    }
    Ok(preview)
}

/// Plans putting back what the delete `trashed` moved to this device's
/// trash (another device's items are restored from its own trash).
pub fn preview_restore(lib: &Library, sources: &[Trashed]) -> Result<Preview> {
    let uris = sources
        .iter()
        .map(|t| {
            t.uri
                .parse::<SdUri>()
                .map_err(|e| Error::InvalidInput(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut preview = empty(ActionKind::Restore, &uris);
    for (item, uri) in sources.iter().zip(uris) {
        let reason = match &item.name {
            None => Some(format!(
                "in {}'s trash: restore it there",
                match &uri {
                    SdUri::Device { device, .. } => device.as_str(),
                    _ => "its owner",
                }
            )),
            Some(name) if !crate::trash::holds(lib.dir(), item.uid, name) => {
                Some("no longer in the trash (restored or purged)".to_owned())
            }
            Some(_) if Side::of(lib, &uri)?.spot(&uri)?.entry.is_some() => {
                Some("something else has that name now".to_owned())
            }
            Some(_) => None,
        };
        if let Some(reason) = reason {
            preview.conflicts.push(Conflict {
                uri: uri.to_string(),
                reason,
            });
            continue;
        }
        preview.files += item.files;
        preview.bytes += item.bytes;
        preview.plan.restores.push(Restore {
            name: item.name.clone().unwrap_or_default(),
            uid: item.uid,
            to: uri,
            files: item.files,
            bytes: item.bytes,
        });
    }
    preview.plan.to_device = Some(lib.device_id());
    Ok(preview)
}

fn empty(kind: ActionKind, sources: &[SdUri]) -> Preview {
    Preview::empty(ActionRequest {
        kind,
        sources: sources.iter().map(ToString::to_string).collect(),
        destination: TRASH.to_owned(),
    })
}

/// Files and bytes below an entry (itself, for a file).
fn size_of(record: &EntryRecord) -> (u64, u64) {
    match record.kind {
        EntryKind::Directory => (record.agg_files, record.agg_size),
        _ => (1, record.size),
    }
}

impl Runner<'_> {
    /// Moves each of `tops` to a trash.
    pub(super) fn trash_all(&mut self, tops: &[SdUri]) {
        for top in tops {
            let errors = self.report.errors.len();
            match self.trash_one(top) {
                Ok(trashed) if self.report.errors.len() == errors => {
                    self.report.removed += 1;
                    self.report.trashed.push(trashed);
                }
                Ok(_) => {}
                Err(e) => self.report.errors.push(format!("{top}: {e}")),
            }
        }
    }

    fn trash_one(&mut self, top: &SdUri) -> Result<Trashed> {
        let lib = self.ns.library();
        let side = Side::of(lib, top)?;
        let spot = side.spot(top)?;
        let (_, record) = spot
            .entry
            .ok_or_else(|| Error::NotFound(format!("{top}: not there any more")))?;
        let (files, bytes) = size_of(&record);
        let uid = crate::sys::process_ids().0;
        let mut trashed = Trashed {
            uri: top.to_string(),
            name: None,
            uid,
            files,
            bytes,
        };
        let root = spot.location.root_path().filter(|_| side.local);
        let Some(root) = root else {
            // Another device's: removed as the mount removes it; its owner
            // keeps it in its own trash.
            self.remove_tree(top, None);
            return Ok(trashed);
        };
        let path = crate::fsutil::join_bytes(&root, &spot.rel);
        let name = spot.rel.rsplit(|&b| b == b'/').next().unwrap_or_default();
        let shown = [
            side.device_name.as_bytes(),
            spot.location.name.as_bytes(),
            &spot.rel,
        ]
        .join(&b'/');
        let now = crate::time::unix_now_secs();
        let taken = crate::trash::put(lib.dir(), uid, name, &shown, now, |dir, free| {
            crate::trash::move_path(&path, &dir.join(crate::sys::os_str(free)))
        })?;
        trashed.name = Some(taken);
        Ok(trashed)
    }

    /// Puts each of `items` back from this device's trash.
    pub(super) fn restore_all(&mut self, items: &[Restore]) {
        for item in items {
            match self.restore_one(item) {
                Ok(()) => {
                    self.report.files += item.files;
                    self.report.bytes += item.bytes;
                }
                Err(e) => self.report.errors.push(format!("{}: {e}", item.to)),
            }
        }
    }

    fn restore_one(&mut self, item: &Restore) -> Result<()> {
        let lib = self.ns.library();
        let spot = Side::of(lib, &item.to)?.spot(&item.to)?;
        let root = spot
            .location
            .root_path()
            .ok_or_else(|| Error::InvalidInput(format!("{}: not on a disk here", item.to)))?;
        let path = crate::fsutil::join_bytes(&root, &spot.rel);
        crate::trash::restore(lib.dir(), item.uid, &item.name, &path)
    }
}
