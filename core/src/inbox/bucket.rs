//! A paired device's change to one of this device's cloud volumes. The
//! bucket owns the name but cannot take a delivery itself, so the change
//! is staged in this device's outbox as if made through this device's
//! mount, and the courier uploads it under the bucket's rules: only over
//! the version the sender's change was based on, else as a conflict copy
//! beside it (`cloud/upload.rs`). The sender hears "applied" once the
//! staging is durable here: what it was told arrived is never lost.
//!
//! A change this device has staged for the same name and not uploaded yet
//! is a version the sender never saw: the sender's goes beside it as a
//! conflict copy, unless it was based on exactly that version (the sender
//! editing again what it delivered before).

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use sdfs_cas::ChunkSource;

use super::incoming::Incoming;
use super::{manifest_of, refused};
use crate::content_store::ContentStore;
use crate::error::{Error, ErrorKind, Result};
use crate::model::entry::{EntryKind, EntryRecord};
use crate::model::location::LocationRecord;
use crate::outbox::{Change, Staged, Target, Version};
use crate::remote::{DeliveredChange, Delivery, DeliveryOutcome};

/// Stages `delivery` from device `from_name` for volume `location`.
pub(super) fn apply(
    content: &ContentStore,
    location: &LocationRecord,
    from_name: &str,
    delivery: &Delivery,
    sender: Arc<dyn ChunkSource>,
) -> Result<DeliveryOutcome> {
    let lib = content.library();
    let name = Name {
        content,
        location,
        target: Target::new(lib.device_id(), location.id, delivery.path.clone()),
    };
    let here = name.here()?;
    let outcome = match &delivery.change {
        DeliveredChange::File { mode, mtime, .. } | DeliveredChange::Whole { mode, mtime, .. } => {
            let incoming = match Incoming::of(&delivery.change, sender) {
                Ok(incoming) => incoming,
                Err(why) => return Ok(refused(why)),
            };
            name.put_file(&here, incoming, *mode, *mtime, delivery.base, from_name)?
        }
        // A bucket keeps neither modes nor times: what it has stays.
        DeliveredChange::Attrs { .. } => DeliveryOutcome::Applied(match &here.indexed {
            Some((_, record)) => version_of(record),
            None => delivery.base.unwrap_or(GONE),
        }),
        DeliveredChange::Directory { mode, mtime } => name.make_dir(&here, *mode, *mtime)?,
        DeliveredChange::Removed => name.remove(&here, delivery.base)?,
    };
    Ok(outcome)
}

/// What an absent name is.
const GONE: Version = Version {
    hash: None,
    size: 0,
    mtime: 0,
    directory: false,
};

/// What this device has under a name: its index of the bucket, and a
/// change staged here and not uploaded yet.
struct Here {
    indexed: Option<(u64, EntryRecord)>,
    pending: Option<Staged>,
}

impl Here {
    fn is_directory(&self) -> bool {
        match &self.pending {
            Some(staged) => matches!(staged.change, Change::Directory { .. }),
            None => self
                .indexed
                .as_ref()
                .is_some_and(|(_, r)| r.kind == EntryKind::Directory),
        }
    }

    fn is_absent(&self) -> bool {
        match &self.pending {
            Some(staged) => staged.change == Change::Removed,
            None => self.indexed.is_none(),
        }
    }
}

/// One name of a volume of this device.
struct Name<'a> {
    content: &'a ContentStore,
    location: &'a LocationRecord,
    target: Target,
}

impl Name<'_> {
    fn here_at(&self, target: &Target) -> Result<Here> {
        let lib = self.content.library();
        Ok(Here {
            indexed: crate::cloud::entry_at(lib, self.location, &target.path)?,
            pending: self
                .content
                .outbox()
                .get(target)?
                .filter(|s| s.delivered.is_none()),
        })
    }

    fn here(&self) -> Result<Here> {
        self.here_at(&self.target)
    }

    /// Whether the change staged here is the version `base` describes:
    /// the sender's change was made over it.
    fn pending_is(&self, staged: &Staged, base: Option<Version>) -> Result<bool> {
        Ok(match (&staged.change, base) {
            (Change::Removed, None) => true,
            (Change::Directory { .. }, Some(base)) => base.directory,
            (Change::File { staged: id, .. }, Some(base)) if !base.directory => {
                let outbox = self.content.outbox();
                if outbox.is_open(*id) {
                    // A program here is still writing it.
                    return Ok(false);
                }
                let path = outbox.staged_path(*id);
                let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
                let md = file.metadata().map_err(|e| Error::io(&path, e))?;
                md.len() == base.size
                    && (crate::time::stat_nanos(md.mtime(), md.mtime_nsec()) == base.mtime
                        || base
                            .hash
                            .is_some_and(|h| manifest_of(&file).is_ok_and(|m| m.hash().0 == h)))
            }
            _ => false,
        })
    }

    fn put_file(
        &self,
        here: &Here,
        incoming: Incoming<'_>,
        mode: u32,
        mtime: i64,
        base: Option<Version>,
        from_name: &str,
    ) -> Result<DeliveryOutcome> {
        let replaceable = match &here.pending {
            Some(staged) => self.pending_is(staged, base)?,
            // The bucket itself is checked against `base` when uploading.
            None => !here.is_directory(),
        };
        let target = if replaceable {
            self.target.clone()
        } else {
            self.conflict_target(from_name)?
        };
        let version = Version {
            hash: Some(incoming.hash().0),
            size: incoming.size(),
            mtime,
            directory: false,
        };
        let staging = self.write_staging(incoming, mtime)?;
        let outbox = self.content.outbox();
        let staged = if target == self.target {
            let entry = here.indexed.as_ref().map(|(id, _)| *id);
            outbox.stage(
                &target,
                Change::File {
                    staged: staging,
                    mode,
                },
                base,
                entry,
            )
        } else {
            outbox.stage(
                &target,
                Change::File {
                    staged: staging,
                    mode,
                },
                None,
                None,
            )
        };
        if let Err(e) = staged {
            let _ = std::fs::remove_file(outbox.staged_path(staging));
            return Err(e);
        }
        outbox.sync()?;
        self.shown(&target)?;
        Ok(if target == self.target {
            DeliveryOutcome::Applied(version)
        } else {
            tracing::info!(
                "{}: changed here and on {from_name}; theirs is kept as {}",
                String::from_utf8_lossy(&self.target.path),
                String::from_utf8_lossy(&target.path)
            );
            DeliveryOutcome::Conflict(target.path)
        })
    }

    /// A new staging file holding the content, checked and flushed, with
    /// the sender's modification time.
    fn write_staging(&self, incoming: Incoming<'_>, mtime: i64) -> Result<u64> {
        let outbox = self.content.outbox();
        let (id, mut file) = outbox.new_staging_file()?;
        let path = outbox.staged_path(id);
        let io = |e| Error::io(&path, e);
        let written = (|| {
            incoming.write_to(self.content, &mut file, &io)?;
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(mtime.max(0) as u64);
            file.set_modified(at).map_err(io)?;
            file.sync_all().map_err(io)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(id)
    }

    /// A free name beside this one for the sender's version.
    fn conflict_target(&self, from_name: &str) -> Result<Target> {
        for candidate in crate::conflicts::copy_candidates(&self.target.path, from_name) {
            let target = Target::new(self.target.device, self.target.location, candidate);
            if self.here_at(&target)?.is_absent() {
                return Ok(target);
            }
        }
        Err(Error::fs(ErrorKind::AlreadyExists, "no free conflict name"))
    }

    fn make_dir(&self, here: &Here, mode: u32, mtime: i64) -> Result<DeliveryOutcome> {
        if !here.is_absent() {
            if !here.is_directory() {
                return Ok(refused("a file of that name exists here"));
            }
        } else {
            let entry = here.indexed.as_ref().map(|(id, _)| *id);
            self.content.outbox().stage(
                &self.target,
                Change::Directory { mode, mtime },
                None,
                entry,
            )?;
            self.content.outbox().sync()?;
            self.shown(&self.target)?;
        }
        Ok(DeliveryOutcome::Applied(Version {
            hash: None,
            size: 0,
            mtime: 0,
            directory: true,
        }))
    }

    fn remove(&self, here: &Here, base: Option<Version>) -> Result<DeliveryOutcome> {
        if here.is_absent() {
            return Ok(DeliveryOutcome::Applied(GONE));
        }
        if let Some(staged) = &here.pending
            && !self.pending_is(staged, base)?
        {
            // Changed here since the sender saw it: the change stays.
            return Ok(DeliveryOutcome::KeptEdit);
        }
        // Whether the bucket still has `base` is checked when uploading.
        let entry = here.indexed.as_ref().map(|(id, _)| *id);
        self.content
            .outbox()
            .stage(&self.target, Change::Removed, base, entry)?;
        self.content.outbox().sync()?;
        self.shown(&self.target)?;
        Ok(DeliveryOutcome::Applied(GONE))
    }

    /// Tells the mount here that the name and its directory changed.
    fn shown(&self, target: &Target) -> Result<()> {
        let Some(volumes) = self.content.cloud() else {
            return Ok(());
        };
        let lib = self.content.library();
        let (parent, _) = crate::outbox::split(&target.path);
        let entries: Vec<u64> = [parent, target.path.as_slice()]
            .into_iter()
            .filter_map(|p| crate::cloud::entry_at(lib, self.location, p).transpose())
            .map(|found| found.map(|(id, _)| id))
            .collect::<Result<_>>()?;
        volumes.changed(self.location.id, &entries);
        Ok(())
    }
}

/// The version of an indexed object.
fn version_of(record: &EntryRecord) -> Version {
    Version {
        hash: None,
        size: record.size,
        mtime: record.mtime,
        directory: record.kind == EntryKind::Directory,
    }
}
