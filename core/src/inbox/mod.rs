//! Changes paired devices made to this device's files (SPEC §4): the
//! owner's side of a delivery. The owner decides (the location's
//! remote-writes setting, names confined beneath the location root), and
//! work is never lost:
//!
//! - new content is written beside its target from chunks checked by
//!   BLAKE3 (taken from the file it replaces where they match, else from
//!   the sender), its whole hash checked, fsynced, and renamed into place,
//!   so no reader ever sees half a file;
//! - if the file changed here since the version the sender's change was
//!   based on, this device's version keeps the name and the incoming one
//!   is saved beside it as `name.sync-conflict-<YYYYMMDD-HHMMSS>-<device>.ext`;
//!   identical content is no conflict;
//! - a removal of a file changed here since keeps the file; any other
//!   removal moves the file into this device's library trash, where it is
//!   kept for the trash's retention (`crate::trash`).
//!
//! A change to one of this device's cloud volumes is staged for the bucket
//! instead (`bucket.rs`).

mod bucket;
mod incoming;

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use sdfs_cas::{ChunkRef, ChunkSource, Manifest};

use incoming::Incoming;

use crate::content_store::ContentStore;
use crate::error::{Error, ErrorKind, Result};
use crate::ids::LocationId;
use crate::locations;
use crate::namespace::{Caller, OpenFlags, RenameFlags, SetTime};
use crate::outbox::{Version, split};
use crate::remote::{DeliveredChange, Delivery, DeliveryOutcome};
use crate::sys;

/// How the name of a delivered file being written beside its target
/// starts: never listed to other devices (it is renamed into place or
/// removed within the delivery).
pub(crate) const INCOMING_PREFIX: &[u8] = b".sd-incoming-";

/// Applies `delivery` from device `from` (named `from_name`, for conflict
/// copies); `sender` serves the chunks of a new content. A refusal is an
/// outcome, not an error: errors are worth retrying, refusals are not.
pub fn apply(
    content: &ContentStore,
    from_name: &str,
    delivery: &Delivery,
    sender: Arc<dyn ChunkSource>,
) -> Result<DeliveryOutcome> {
    let lib = content.library();
    let id = LocationId(uuid::Uuid::from_u128(delivery.location));
    let location = match locations::get_by_id(lib.db(), id) {
        Ok(l) => l,
        Err(_) => return Ok(refused("no such location here")),
    };
    if !location.remote_writes {
        return Ok(refused(&format!(
            "location {} does not take changes from other devices",
            location.name
        )));
    }
    let path = &delivery.path;
    if path.is_empty()
        || !path
            .split(|b| *b == b'/')
            .all(crate::sync::replica::is_plain_name)
    {
        return Ok(refused("not a plain path below the location"));
    }
    let Some(root_path) = location.root_path() else {
        return bucket::apply(content, &location, from_name, delivery, sender);
    };
    let root = sys::open_root(&root_path).map_err(|e| Error::io(&root_path, e))?;
    let place = Place {
        root: &root,
        root_path: &root_path,
        path,
        lib_dir: lib.dir(),
        device: lib.device_name(),
        location: &location.name,
    };
    match &delivery.change {
        DeliveredChange::File { mode, mtime, .. } | DeliveredChange::Whole { mode, mtime, .. } => {
            let incoming = match Incoming::of(&delivery.change, sender) {
                Ok(incoming) => incoming,
                Err(why) => return Ok(refused(why)),
            };
            place.put_file(content, incoming, *mode, *mtime, delivery.base, from_name)
        }
        DeliveredChange::Attrs { mode, mtime } => place.set_attrs(*mode, *mtime, delivery.base),
        DeliveredChange::Directory { mode, .. } => place.make_dir(*mode),
        DeliveredChange::Removed => place.remove(delivery.base),
    }
}

fn refused(why: &str) -> DeliveryOutcome {
    DeliveryOutcome::Refused(why.to_owned())
}

/// What is under the name now.
enum Current {
    Absent,
    File(File, std::fs::Metadata),
    Directory,
    /// A symlink, a fifo, ...: never replaced by a delivery.
    Other,
}

/// A name below a location, reached only beneath its root.
struct Place<'a> {
    root: &'a File,
    root_path: &'a std::path::Path,
    path: &'a [u8],
    /// The library, whose trash keeps files other devices delete.
    lib_dir: &'a std::path::Path,
    device: &'a str,
    location: &'a str,
}

impl Place<'_> {
    fn shown(&self) -> String {
        String::from_utf8_lossy(self.path).into_owned()
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::io(self.root_path.join(self.shown()), e)
    }

    fn current(&self) -> Result<Current> {
        match sys::open_beneath(self.root, self.path) {
            Ok(file) => {
                let md = file.metadata().map_err(|e| self.io(e))?;
                Ok(if md.is_file() {
                    Current::File(file, md)
                } else if md.is_dir() {
                    Current::Directory
                } else {
                    Current::Other
                })
            }
            Err(e) => match sys::error_kind(&e) {
                ErrorKind::NotFound | ErrorKind::NotADirectory => Ok(Current::Absent),
                // A symlink (ours, or swapped in) is not a file to replace.
                ErrorKind::SymlinkLoop | ErrorKind::CrossDevice => Ok(Current::Other),
                _ => Err(self.io(e)),
            },
        }
    }

    /// Whether `file` is still the version `base` describes.
    fn is_version(&self, file: &File, md: &std::fs::Metadata, base: &Version) -> Result<bool> {
        if base.directory || md.len() != base.size {
            return Ok(false);
        }
        if mtime_of(md) == base.mtime {
            return Ok(true);
        }
        // Touched, maybe not changed: the full hash decides.
        match base.hash {
            Some(hash) => Ok(manifest_of(file)?.hash().0 == hash),
            None => Ok(false),
        }
    }

    fn put_file(
        &self,
        content: &ContentStore,
        mut incoming: Incoming<'_>,
        mode: u32,
        mtime: i64,
        base: Option<Version>,
        from_name: &str,
    ) -> Result<DeliveryOutcome> {
        let target = match self.current()? {
            Current::Absent => self.path.to_vec(),
            Current::File(file, md) => {
                let here = manifest_of(&file)?;
                if here.hash() == incoming.hash() {
                    // The same bytes: nothing to write, and no conflict.
                    self.chmod_and_touch(mode, mtime)?;
                    return Ok(DeliveryOutcome::Applied(Version {
                        hash: Some(here.hash().0),
                        size: here.size(),
                        mtime,
                        directory: false,
                    }));
                }
                let replaceable = match &base {
                    Some(base) => self.is_version(&file, &md, base)?,
                    None => false,
                };
                incoming.prefer(Arc::new(ChunksOf::new(file, &here)));
                if replaceable {
                    self.path.to_vec()
                } else {
                    self.conflict_name(from_name)?
                }
            }
            Current::Directory | Current::Other => self.conflict_name(from_name)?,
        };
        self.make_parents()?;
        let written = self.write_beside(content, incoming, mode, mtime, &target)?;
        Ok(if target == self.path {
            DeliveryOutcome::Applied(written)
        } else {
            tracing::info!(
                "{}: changed here and on {from_name}; theirs is kept as {}",
                self.shown(),
                String::from_utf8_lossy(&target)
            );
            DeliveryOutcome::Conflict(target)
        })
    }

    /// Writes the content into a temporary file beside `target`, checks
    /// its whole hash, flushes it and renames it into place.
    fn write_beside(
        &self,
        content: &ContentStore,
        incoming: Incoming<'_>,
        mode: u32,
        mtime: i64,
        target: &[u8],
    ) -> Result<Version> {
        let (parent, name) = split(target);
        let version = Version {
            hash: Some(incoming.hash().0),
            size: incoming.size(),
            mtime,
            directory: false,
        };
        let temp_name = [
            INCOMING_PREFIX,
            &incoming.hash().to_string().as_bytes()[..16],
            b"-",
            name,
        ]
        .concat();
        let temp_name = &temp_name[..temp_name.len().min(255)];
        let temp = crate::outbox::join(parent, temp_name);
        let mut flags = OpenFlags::read_write();
        flags.truncate = true;
        let mut file = sys::create_at(Caller::daemon(), self.root, &temp, flags, 0o600)
            .map_err(|e| self.io(e))?;
        let result = (|| {
            incoming.write_to(content, &mut file, &|e| self.io(e))?;
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode & 0o7777))
                .map_err(|e| self.io(e))?;
            file.sync_all().map_err(|e| self.io(e))?;
            let at = sys::At::new(self.root, &temp).map_err(|e| self.io(e))?;
            at.set_times(SetTime::Now, SetTime::At(mtime))
                .map_err(|e| self.io(e))?;
            let to = sys::At::new(self.root, target).map_err(|e| self.io(e))?;
            at.rename(&to, RenameFlags::default())
                .map_err(|e| self.io(e))?;
            self.sync_dir(parent)
        })();
        if result.is_err()
            && let Ok(at) = sys::At::new(self.root, &temp)
        {
            let _ = at.unlink();
        }
        result?;
        Ok(version)
    }

    /// A free name for the incoming version beside this one.
    fn conflict_name(&self, device: &str) -> Result<Vec<u8>> {
        for candidate in crate::conflicts::copy_candidates(self.path, device) {
            if matches!(
                Place {
                    path: &candidate,
                    ..*self
                }
                .current()?,
                Current::Absent
            ) {
                return Ok(candidate);
            }
        }
        Err(Error::fs(ErrorKind::AlreadyExists, "no free conflict name"))
    }

    fn make_parents(&self) -> Result<()> {
        let (parent, _) = split(self.path);
        let mut at = Vec::new();
        for part in parent.split(|b| *b == b'/').filter(|p| !p.is_empty()) {
            at = crate::outbox::join(&at, part);
            let made = sys::At::new(self.root, &at).and_then(|a| a.mkdir(Caller::daemon(), 0o755));
            match made {
                Ok(()) => {}
                Err(e) if sys::error_kind(&e) == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(self.io(e)),
            }
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &[u8]) -> Result<()> {
        let opened = if dir.is_empty() {
            File::open(self.root_path)
        } else {
            sys::open_beneath(self.root, dir)
        };
        opened.and_then(|d| d.sync_all()).map_err(|e| self.io(e))
    }

    fn chmod_and_touch(&self, mode: u32, mtime: i64) -> Result<()> {
        let at = sys::At::new(self.root, self.path).map_err(|e| self.io(e))?;
        at.chmod(mode & 0o7777).map_err(|e| self.io(e))?;
        at.set_times(SetTime::Now, SetTime::At(mtime))
            .map_err(|e| self.io(e))
    }

    fn set_attrs(&self, mode: u32, mtime: i64, base: Option<Version>) -> Result<DeliveryOutcome> {
        // Our own content with new attributes: only onto the version it
        // was based on (an edit here wins over a chmod there).
        let Current::File(file, md) = self.current()? else {
            return Ok(DeliveryOutcome::KeptEdit);
        };
        let Some(base) = base else {
            return Ok(DeliveryOutcome::KeptEdit);
        };
        // Attributes alone: the size and a touched mtime say nothing of a
        // change, so only a different size or hash is an edit.
        if md.len() != base.size
            || base
                .hash
                .is_some_and(|h| mtime_of(&md) != base.mtime && !same_hash(&file, h))
        {
            return Ok(DeliveryOutcome::KeptEdit);
        }
        self.chmod_and_touch(mode, mtime)?;
        Ok(DeliveryOutcome::Applied(Version { mtime, ..base }))
    }

    fn make_dir(&self, mode: u32) -> Result<DeliveryOutcome> {
        match self.current()? {
            Current::Directory => {}
            Current::Absent => {
                self.make_parents()?;
                let at = sys::At::new(self.root, self.path).map_err(|e| self.io(e))?;
                match at.mkdir(Caller::daemon(), mode & 0o7777) {
                    Ok(()) => {}
                    Err(e) if sys::error_kind(&e) == ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(self.io(e)),
                }
                self.sync_dir(split(self.path).0)?;
            }
            Current::File(..) | Current::Other => {
                return Ok(refused("a file of that name exists here"));
            }
        }
        Ok(DeliveryOutcome::Applied(Version {
            hash: None,
            size: 0,
            mtime: 0,
            directory: true,
        }))
    }

    fn remove(&self, base: Option<Version>) -> Result<DeliveryOutcome> {
        let gone = Version {
            hash: None,
            size: 0,
            mtime: 0,
            directory: false,
        };
        let at = || sys::At::new(self.root, self.path).map_err(|e| self.io(e));
        match self.current()? {
            Current::Absent => return Ok(DeliveryOutcome::Applied(gone)),
            Current::File(file, md) => {
                let unchanged = match &base {
                    Some(base) => self.is_version(&file, &md, base)?,
                    None => false,
                };
                if !unchanged {
                    return Ok(DeliveryOutcome::KeptEdit);
                }
                self.trash(&at()?, &file)?;
            }
            Current::Directory => match at()?.rmdir() {
                Ok(()) => {}
                // Something arrived in it here: it stays.
                Err(e) if sys::error_kind(&e) == ErrorKind::DirectoryNotEmpty => {
                    return Ok(DeliveryOutcome::KeptEdit);
                }
                Err(e) => return Err(self.io(e)),
            },
            Current::Other => at()?.unlink().map_err(|e| self.io(e))?,
        }
        self.sync_dir(split(self.path).0)?;
        Ok(DeliveryOutcome::Applied(gone))
    }
}

impl Place<'_> {
    /// Moves the file another device deleted into this device's trash
    /// (the daemon user's): kept for the trash's retention, restorable
    /// from `<mount>/.Trash-<uid>` like anything deleted here.
    fn trash(&self, at: &sys::At, file: &File) -> Result<()> {
        let (_, name) = split(self.path);
        // Where it was, from the mount's top, as the trash lists it.
        let shown = [self.device.as_bytes(), self.location.as_bytes(), self.path].join(&b'/');
        let uid = sys::process_ids().0;
        let now = crate::time::unix_now_secs();
        crate::trash::put(self.lib_dir, uid, name, &shown, now, |files, free| {
            let into = sys::open_root(files)?;
            let to = sys::At::new(&into, free)?;
            let keep = RenameFlags {
                noreplace: true,
                ..RenameFlags::default()
            };
            match at.rename(&to, keep) {
                // The library on another filesystem: copied, on disk, then
                // unlinked here.
                Err(e) if sys::error_kind(&e) == ErrorKind::CrossDevice => {
                    let mut copy = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(files.join(sys::os_str(free)))?;
                    let mut from = file_from_start(file).map_err(std::io::Error::other)?;
                    std::io::copy(&mut from, &mut copy)?;
                    copy.set_permissions(file.metadata()?.permissions())?;
                    copy.sync_all()?;
                    at.unlink()
                }
                other => other,
            }
        })?;
        Ok(())
    }
}

fn mtime_of(md: &std::fs::Metadata) -> i64 {
    crate::time::stat_nanos(md.mtime(), md.mtime_nsec())
}

/// The manifest of an open local file (its chunks and whole hash).
fn manifest_of(file: &File) -> Result<Manifest> {
    sdfs_cas::build_from_reader(file_from_start(file)?, &sdfs_cas::Discard).map_err(|e| match e {
        sdfs_cas::build::BuildError::Io(e) => Error::io("a file being replaced", e),
        sdfs_cas::build::BuildError::Sink(never) => match never {},
    })
}

fn same_hash(file: &File, hash: [u8; 32]) -> bool {
    manifest_of(file).is_ok_and(|m| m.hash().0 == hash)
}

/// An independent reader of `file` from its first byte.
fn file_from_start(file: &File) -> Result<File> {
    let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(file));
    File::open(&path).map_err(|e| Error::io("a file being replaced", e))
}

/// Chunks of a local file by id, wherever they sit in it: the file being
/// replaced usually shares most of the new content.
struct ChunksOf {
    file: File,
    at: std::collections::HashMap<sdfs_cas::ChunkId, ChunkRef>,
}

impl ChunksOf {
    fn new(file: File, manifest: &Manifest) -> ChunksOf {
        ChunksOf {
            file,
            at: manifest.chunks().iter().map(|c| (c.id, *c)).collect(),
        }
    }
}

impl ChunkSource for ChunksOf {
    fn describe(&self) -> String {
        "the file being replaced".into()
    }

    fn fetch(&self, chunk: &ChunkRef) -> std::io::Result<bytes::Bytes> {
        use std::os::unix::fs::FileExt;
        let here = self
            .at
            .get(&chunk.id)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not in this file"))?;
        let mut buf = vec![0u8; here.length as usize];
        self.file.read_exact_at(&mut buf, here.offset)?;
        Ok(buf.into())
    }
}
