//! Delivering staged changes to this device's cloud volumes. A bucket is
//! the owner of its files: the courier hands it each change it would hand
//! a paired device, and the owner's rules hold (SPEC §4), so nothing is
//! lost:
//!
//! - new content is uploaded whole (a large file in parts; the object
//!   appears only once every part arrived), and only over the version the
//!   change was based on: the service's size and time are checked first,
//!   then, where the service can, the write is conditional on the ETag it
//!   just reported, so an edit made there meanwhile is never overwritten;
//! - if the object changed, it keeps its name and this device's version is
//!   uploaded beside it as `name.sync-conflict-<stamp>-<device>.ext`;
//!   identical content is no conflict;
//! - a removal of an object changed there since keeps the object;
//! - modes and times are not a bucket's to keep: such a change settles.
//!
//! Then the directory is listed again, so the index (and every paired
//! device, through sync) shows what the bucket holds now.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::backend::{CloudBackend, CloudObject, Put, WriteIf};
use crate::content_store::ContentStore;
use crate::error::{Error, ErrorKind, Result};
use crate::outbox::{Change, Staged, Target, Version, split};
use crate::remote::DeliveryOutcome;

/// Objects up to this size are read back to tell whether a version that
/// changed there is the same as ours (as after a delivery repeated after a
/// crash); a larger one is kept as a conflict copy instead (it costs
/// space, never work).
const COMPARE_UP_TO: u64 = 256 * 1024 * 1024;
/// Read back in pieces of this size.
const COMPARE_PIECE: u64 = 8 * 1024 * 1024;

/// What a delivery to a bucket did, and whether the staging file was left
/// alone meanwhile (else what went is not the latest).
pub struct Uploaded {
    pub outcome: DeliveryOutcome,
    pub unchanged: bool,
    /// The staging file's (size, mtime) when it went.
    pub sent: Option<(u64, i64)>,
}

/// Delivers `staged` to the volume `target` names; `stamp` gives a staging
/// file's (size, mtime), which a write in between changes.
pub fn deliver(
    content: &ContentStore,
    target: &Target,
    staged: &Staged,
    stamp: &dyn Fn(&File) -> Result<(u64, i64)>,
) -> Result<Uploaded> {
    let lib = content.library();
    let volumes = content
        .cloud()
        .ok_or_else(|| Error::fs(ErrorKind::Unavailable, "cloud volumes are not open here"))?;
    let location = crate::locations::get_by_id(lib.db(), target.location)?;
    if !location.is_cloud() {
        return Err(Error::InvalidInput(format!(
            "{} is not a cloud volume",
            location.name
        )));
    }
    let backend = volumes.backend(location.id)?;
    let bucket = Bucket {
        backend: &*backend,
        path: &target.path,
        base: staged.base,
    };
    let mut unchanged = true;
    let mut sent = None;
    let outcome = match &staged.change {
        Change::File { staged: id, .. } => {
            let path = content.outbox().staged_path(*id);
            let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
            let before = stamp(&file)?;
            let outcome = bucket.put_file(&file, before.0, lib.device_name())?;
            unchanged = stamp(&file).is_ok_and(|after| after == before);
            sent = Some(before);
            outcome
        }
        Change::Attrs { .. } => match bucket.backend.stat(bucket.path)? {
            Some(now) if !now.dir => DeliveryOutcome::Applied(version_of(&now)),
            _ => DeliveryOutcome::KeptEdit,
        },
        Change::Directory { .. } => {
            bucket.backend.create_dir(bucket.path)?;
            DeliveryOutcome::Applied(Version {
                hash: None,
                size: 0,
                mtime: crate::time::unix_now_nanos(),
                directory: true,
            })
        }
        Change::Removed => bucket.remove()?,
        Change::Copied { from, .. } => bucket.copy_from(from, lib.device_name())?,
    };
    let (changed_dir, name) = split(&target.path);
    // The names this change touched: the index reads each one's HEAD, or
    // lists the directory again when that cannot do (a directory).
    let mut names = vec![name];
    if let DeliveryOutcome::Conflict(copy) = &outcome {
        names.push(split(copy).1);
    }
    let by_name = match (&staged.change, &outcome) {
        (Change::Directory { .. }, _) => false,
        (_, DeliveryOutcome::Conflict(copy)) => split(copy).0 == changed_dir,
        _ => true,
    };
    let refreshed = if by_name {
        super::index::refresh_names(lib, &location, &*backend, changed_dir, &names)
    } else {
        Ok(None)
    }
    .and_then(|done| match done {
        Some(done) => Ok(done),
        None => super::index::refresh(lib, &location, &*backend, changed_dir),
    });
    match refreshed {
        Ok(indexed) => volumes.changed(location.id, &indexed.changed),
        // Delivered all the same: the index catches up at the next one.
        Err(e) => tracing::warn!("{}: listing after a change: {e}", location.name),
    }
    Ok(Uploaded {
        outcome,
        unchanged,
        sent,
    })
}

/// The version an object is, as a change to it is based on.
fn version_of(object: &CloudObject) -> Version {
    Version {
        hash: None,
        size: object.size,
        mtime: object.mtime,
        directory: object.dir,
    }
}

/// Whether `now` is still `base`: same size, and the same time to the
/// second (listings and HEAD give times at different precisions).
fn is_version(base: &Version, now: &CloudObject) -> bool {
    !now.dir
        && !base.directory
        && base.size == now.size
        && base.mtime.div_euclid(1_000_000_000) == now.mtime.div_euclid(1_000_000_000)
}

/// One name of a volume, and the version a change to it was based on.
struct Bucket<'a> {
    backend: &'a dyn CloudBackend,
    path: &'a [u8],
    base: Option<Version>,
}

impl Bucket<'_> {
    /// Uploads `file` (`size` bytes) under the name, or beside it as a
    /// conflict copy if the object changed there since `base`.
    fn put_file(&self, file: &File, size: u64, device: &str) -> Result<DeliveryOutcome> {
        let now = self.backend.stat(self.path)?;
        if let Some(now) = &now
            && !now.dir
            && !self.base.is_some_and(|base| is_version(&base, now))
            && self.same_bytes(now, file, size)?
        {
            return Ok(DeliveryOutcome::Applied(version_of(now)));
        }
        if let Some(condition) = self.condition(now.as_ref())
            && let Put::Written(object) = self.backend.put(self.path, file, &condition)?
        {
            return Ok(DeliveryOutcome::Applied(version_of(&object)));
        }
        self.beside(device, |copy| {
            self.backend.put(copy, file, &WriteIf::Absent)
        })
    }

    /// Copies object `from` to the name within the service (a rename done
    /// here), or beside it as a conflict copy if the object there changed
    /// since `base`. What is at `from` now is copied, changed there or not:
    /// the removal of `from` that follows keeps an edit made there.
    fn copy_from(&self, from: &[u8], device: &str) -> Result<DeliveryOutcome> {
        if self.backend.stat(from)?.is_none_or(|source| source.dir) {
            tracing::warn!(
                "{} was removed from the bucket before it could be copied to {}",
                String::from_utf8_lossy(from),
                String::from_utf8_lossy(self.path)
            );
            return Ok(DeliveryOutcome::KeptEdit);
        }
        let now = self.backend.stat(self.path)?;
        if let Some(condition) = self.condition(now.as_ref())
            && let Put::Written(object) = self.backend.copy(from, self.path, &condition)?
        {
            return Ok(DeliveryOutcome::Applied(version_of(&object)));
        }
        self.beside(device, |copy| {
            self.backend.copy(from, copy, &WriteIf::Absent)
        })
    }

    /// What a write over the name must find there, given what is there
    /// `now`; `None` when it changed since `base` (a conflict).
    fn condition(&self, now: Option<&CloudObject>) -> Option<WriteIf> {
        match (&self.base, now) {
            (_, Some(now)) if now.dir => None,
            // Nothing there (or removed there since: the edit is kept).
            (_, None) => Some(WriteIf::Absent),
            (Some(base), Some(now)) if is_version(base, now) => Some(match &now.etag {
                Some(etag) => WriteIf::Matches(etag.clone()),
                None => WriteIf::Any,
            }),
            _ => None,
        }
    }

    /// Writes this device's version beside the name as a conflict copy,
    /// with `write` (to a name that must be free).
    fn beside(
        &self,
        device: &str,
        write: impl Fn(&[u8]) -> Result<Put>,
    ) -> Result<DeliveryOutcome> {
        for copy in crate::conflicts::copy_candidates(self.path, device) {
            if self.backend.stat(&copy)?.is_some() {
                continue;
            }
            if let Put::Written(_) = write(&copy)? {
                return Ok(DeliveryOutcome::Conflict(copy));
            }
        }
        Err(Error::fs(ErrorKind::AlreadyExists, "no free conflict name"))
    }

    /// Whether object `now` holds exactly `file`'s bytes, read back piece
    /// by piece (up to [`COMPARE_UP_TO`]; stops at the first difference).
    fn same_bytes(&self, now: &CloudObject, file: &File, size: u64) -> Result<bool> {
        if now.size != size || size > COMPARE_UP_TO {
            return Ok(false);
        }
        let mut ours = vec![0u8; COMPARE_PIECE.min(size) as usize];
        let mut offset = 0;
        while offset < size {
            let len = COMPARE_PIECE.min(size - offset);
            let theirs = self.backend.read(self.path, offset..offset + len)?;
            let ours = &mut ours[..len as usize];
            file.read_exact_at(ours, offset)
                .map_err(|e| Error::io("a staged file", e))?;
            if theirs != *ours {
                return Ok(false);
            }
            offset += len;
        }
        Ok(true)
    }

    /// Removes the name, unless the object changed there since.
    fn remove(&self) -> Result<DeliveryOutcome> {
        let gone = Version {
            hash: None,
            size: 0,
            mtime: 0,
            directory: false,
        };
        match self.backend.stat(self.path)? {
            None => {}
            Some(now) if now.dir => self.backend.delete(self.path, true)?,
            Some(now) => {
                if !self.base.is_some_and(|base| is_version(&base, &now)) {
                    return Ok(DeliveryOutcome::KeptEdit);
                }
                self.backend.delete(self.path, false)?;
            }
        }
        Ok(DeliveryOutcome::Applied(gone))
    }
}
