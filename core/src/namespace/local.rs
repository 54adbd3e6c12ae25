//! This device's files. Names are looked up and stat'ed by path; every
//! call that opens, creates, changes or removes something goes through the
//! Unix backend's `*at` calls beneath the location's root (`sys::At`), so
//! a directory swapped for a symlink under the kernel's feet cannot lead
//! outside the location. Creations run as the caller, so new files belong
//! to whoever made them and the filesystem underneath checks their rights.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::node::Unlinked;
use super::{
    Attr, Caller, DirEntry, Node, NodeKey, OpenFile, OpenFlags, RenameFlags, Renamed, SetAttr,
};
use crate::error::{Error, ErrorKind, Result};
use crate::ids::LocationId;
use crate::sys;

/// A location's root directory, held open: the anchor of every call.
#[derive(Debug)]
pub(super) struct LocationRoot {
    pub path: PathBuf,
    dir: File,
}

impl LocationRoot {
    pub fn open(path: PathBuf) -> Result<LocationRoot> {
        let dir = sys::open_root(&path).map_err(|e| Error::io(&path, e))?;
        Ok(LocationRoot { path, dir })
    }

    /// `path` below the root, as bytes (empty for the root itself).
    fn rel<'p>(&self, path: &'p Path) -> Result<&'p [u8]> {
        path.strip_prefix(&self.path)
            .map(crate::fsutil::path_bytes)
            .map_err(|_| Error::fs(ErrorKind::InvalidInput, "a path outside its location"))
    }

    /// The name at `path`, for the `*at` calls; `None` for the root.
    fn at(&self, path: &Path) -> Result<Option<sys::At>> {
        let rel = self.rel(path)?;
        if rel.is_empty() {
            return Ok(None);
        }
        sys::At::new(&self.dir, rel)
            .map(Some)
            .map_err(|e| Error::io(path, e))
    }

    fn at_name(&self, path: &Path) -> Result<sys::At> {
        self.at(path)?
            .ok_or_else(|| Error::fs(ErrorKind::Busy, "the root of a location"))
    }
}

fn child(dir: &Path, name: &[u8]) -> Result<PathBuf> {
    if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
        return Err(Error::fs(
            ErrorKind::InvalidInput,
            String::from_utf8_lossy(name),
        ));
    }
    Ok(dir.join(sys::os_str(name)))
}

fn lstat(path: &Path) -> Result<std::fs::Metadata> {
    std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))
}

/// The node and attributes of what is at `path` now.
fn found(location: LocationId, path: PathBuf) -> Result<(Node, Attr)> {
    let md = lstat(&path)?;
    let attr = Attr::from_metadata(&md);
    Ok((Node::local(location, path, &md), attr))
}

pub(super) fn getattr(path: &Path) -> Result<Attr> {
    Ok(Attr::from_metadata(&lstat(path)?))
}

pub(super) fn lookup(location: LocationId, dir: &Path, name: &[u8]) -> Result<(Node, Attr)> {
    found(location, child(dir, name)?)
}

pub(super) fn readdir(location: LocationId, dir: &Path) -> Result<Vec<DirEntry>> {
    let mut out = Vec::new();
    for item in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let item = item.map_err(|e| Error::io(dir, e))?;
        // Gone between the listing and the stat: not listed.
        let Ok(md) = item.metadata() else { continue };
        out.push(DirEntry {
            name: crate::fsutil::path_bytes(Path::new(&item.file_name())).to_vec(),
            attr: Attr::from_metadata(&md),
            node: Node::local(location, item.path(), &md),
        });
    }
    Ok(out)
}

pub(super) fn open(
    root: &LocationRoot,
    key: NodeKey,
    path: &Path,
    flags: OpenFlags,
) -> Result<OpenFile> {
    let rel = root.rel(path)?;
    let file = if rel.is_empty() {
        sys::open(path, flags)
    } else {
        sys::open_at(&root.dir, rel, flags)
    }
    .map_err(|e| Error::io(path, e))?;
    Ok(OpenFile::local(key, file, flags.write || flags.append))
}

/// Where a new name goes: the location, its root, and the parent's path.
pub(super) struct NewName<'a> {
    pub location: LocationId,
    pub root: &'a LocationRoot,
    pub dir: &'a Path,
    pub name: &'a [u8],
}

impl NewName<'_> {
    fn path(&self) -> Result<PathBuf> {
        child(self.dir, self.name)
    }
}

pub(super) fn create(
    at: NewName<'_>,
    mode: u32,
    flags: OpenFlags,
    caller: Caller,
) -> Result<(Node, Attr, OpenFile)> {
    let path = at.path()?;
    let rel = at.root.rel(&path)?;
    let file =
        sys::create_at(caller, &at.root.dir, rel, flags, mode).map_err(|e| Error::io(&path, e))?;
    let md = file.metadata().map_err(|e| Error::io(&path, e))?;
    let attr = Attr::from_metadata(&md);
    let node = Node::local(at.location, path, &md);
    let open = OpenFile::local(node.key(), file, flags.write || flags.append);
    Ok((node, attr, open))
}

/// Makes a new name with `make`, then answers what is there.
fn make(
    at: NewName<'_>,
    make: impl FnOnce(&sys::At) -> std::io::Result<()>,
) -> Result<(Node, Attr)> {
    let path = at.path()?;
    let name = at.root.at_name(&path)?;
    make(&name).map_err(|e| Error::io(&path, e))?;
    found(at.location, path)
}

pub(super) fn mkdir(at: NewName<'_>, mode: u32, caller: Caller) -> Result<(Node, Attr)> {
    make(at, |name| name.mkdir(caller, mode))
}

pub(super) fn mknod(at: NewName<'_>, mode: u32, rdev: u64, caller: Caller) -> Result<(Node, Attr)> {
    make(at, |name| name.mknod(caller, mode, rdev))
}

pub(super) fn symlink(at: NewName<'_>, target: &[u8], caller: Caller) -> Result<(Node, Attr)> {
    make(at, |name| name.symlink(caller, target))
}

pub(super) fn link(
    from_root: &LocationRoot,
    from: &Path,
    at: NewName<'_>,
    caller: Caller,
) -> Result<(Node, Attr)> {
    let from = from_root.at_name(from)?;
    make(at, |name| name.link(caller, &from))
}

pub(super) fn unlink(root: &LocationRoot, dir: &Path, name: &[u8]) -> Result<Unlinked> {
    let path = child(dir, name)?;
    root.at_name(&path)?
        .unlink()
        .map_err(|e| Error::io(&path, e))?;
    Ok(Unlinked(path))
}

pub(super) fn rmdir(root: &LocationRoot, dir: &Path, name: &[u8]) -> Result<Unlinked> {
    let path = child(dir, name)?;
    root.at_name(&path)?
        .rmdir()
        .map_err(|e| Error::io(&path, e))?;
    Ok(Unlinked(path))
}

/// The device number of the filesystem holding `path`.
fn dev_of(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|md| md.dev())
}

pub(super) fn rename(from: NewName<'_>, to: NewName<'_>, flags: RenameFlags) -> Result<Renamed> {
    let from_path = from.path()?;
    let to_path = to.path()?;
    // Locations may sit on different filesystems; say so as rename(2) would
    // (checked only when the source exists, so ENOENT stays ENOENT).
    if from.location != to.location
        && from_path.symlink_metadata().is_ok()
        && dev_of(from.dir) != dev_of(to.dir)
    {
        return Err(Error::fs(
            ErrorKind::CrossDevice,
            "a rename between locations on different filesystems",
        ));
    }
    let source = from.root.at_name(&from_path)?;
    let target = to.root.at_name(&to_path)?;
    source
        .rename(&target, flags)
        .map_err(|e| Error::io(&from_path, e))?;
    Ok(Renamed::local(
        (from.location, from_path),
        (to.location, to_path),
        flags.exchange,
    ))
}

pub(super) fn setattr(
    root: &LocationRoot,
    path: &Path,
    change: &SetAttr,
    open: Option<&OpenFile>,
) -> Result<Attr> {
    let fail = |e| Error::io(path, e);
    let at = root.at(path)?;
    if let Some(mode) = change.mode {
        match &at {
            Some(name) => name.chmod(mode),
            None => sys::chmod(path, mode),
        }
        .map_err(fail)?;
    }
    if change.uid.is_some() || change.gid.is_some() {
        match &at {
            Some(name) => name.chown(change.uid, change.gid),
            None => sys::chown(path, change.uid, change.gid),
        }
        .map_err(fail)?;
    }
    if let Some(size) = change.size {
        match (open, &at) {
            (Some(file), _) if file.can_write() => file.set_len(size)?,
            (_, Some(name)) => name.truncate(size).map_err(fail)?,
            (_, None) => sys::truncate(path, size).map_err(fail)?,
        }
    }
    if change.times() {
        match &at {
            Some(name) => name.set_times(change.atime, change.mtime),
            None => sys::set_times(path, change.atime, change.mtime),
        }
        .map_err(fail)?;
    }
    match open {
        Some(file) => file.getattr(),
        None => getattr(path),
    }
}

/// The path the xattr calls (which have no `*at` form) use for `path`:
/// through our descriptor of its directory, or the root's own path.
pub(super) fn xattr_path(root: &LocationRoot, path: &Path) -> Result<(Option<sys::At>, PathBuf)> {
    let at = root.at(path)?;
    let via = at
        .as_ref()
        .map_or_else(|| path.to_owned(), sys::At::proc_path);
    Ok((at, via))
}

pub(super) fn fsyncdir(path: &Path, datasync: bool) -> Result<()> {
    let dir = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let synced = if datasync {
        dir.sync_data()
    } else {
        dir.sync_all()
    };
    synced.map_err(|e| Error::io(path, e))
}
