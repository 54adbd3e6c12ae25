//! This device's files: each operation is the system call on the backing
//! path, run as the caller where it creates something, so new files belong
//! to whoever made them and the filesystem underneath checks their rights.

use std::path::{Path, PathBuf};

use super::node::Unlinked;
use super::{
    Attr, Caller, DirEntry, Node, NodeKey, OpenFile, OpenFlags, RenameFlags, Renamed, SetAttr,
};
use crate::error::{Error, ErrorKind, Result};
use crate::ids::LocationId;
use crate::sys;

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

impl super::Namespace {
    pub(super) fn lookup_local(
        &self,
        location: LocationId,
        dir: &Path,
        name: &[u8],
    ) -> Result<(Node, Attr)> {
        found(location, child(dir, name)?)
    }
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

pub(super) fn open(key: NodeKey, path: &Path, flags: OpenFlags) -> Result<OpenFile> {
    let file = sys::open(path, flags).map_err(|e| Error::io(path, e))?;
    Ok(OpenFile::local(key, file, flags.write || flags.append))
}

pub(super) fn create(
    location: LocationId,
    dir: &Path,
    name: &[u8],
    mode: u32,
    flags: OpenFlags,
    caller: Caller,
) -> Result<(Node, Attr, OpenFile)> {
    let path = child(dir, name)?;
    let file = sys::create(caller, &path, flags, mode).map_err(|e| Error::io(&path, e))?;
    let md = file.metadata().map_err(|e| Error::io(&path, e))?;
    let attr = Attr::from_metadata(&md);
    let node = Node::local(location, path, &md);
    let open = OpenFile::local(node.key(), file, flags.write || flags.append);
    Ok((node, attr, open))
}

pub(super) fn mkdir(
    location: LocationId,
    dir: &Path,
    name: &[u8],
    mode: u32,
    caller: Caller,
) -> Result<(Node, Attr)> {
    let path = child(dir, name)?;
    sys::mkdir(caller, &path, mode).map_err(|e| Error::io(&path, e))?;
    found(location, path)
}

pub(super) fn mknod(
    location: LocationId,
    dir: &Path,
    name: &[u8],
    mode: u32,
    rdev: u64,
    caller: Caller,
) -> Result<(Node, Attr)> {
    let path = child(dir, name)?;
    sys::mknod(caller, &path, mode, rdev).map_err(|e| Error::io(&path, e))?;
    found(location, path)
}

pub(super) fn symlink(
    location: LocationId,
    dir: &Path,
    name: &[u8],
    target: &[u8],
    caller: Caller,
) -> Result<(Node, Attr)> {
    let path = child(dir, name)?;
    sys::symlink(caller, target, &path).map_err(|e| Error::io(&path, e))?;
    found(location, path)
}

pub(super) fn link(
    from: &Path,
    location: LocationId,
    dir: &Path,
    name: &[u8],
    caller: Caller,
) -> Result<(Node, Attr)> {
    let path = child(dir, name)?;
    sys::link(caller, from, &path).map_err(|e| Error::io(&path, e))?;
    found(location, path)
}

pub(super) fn unlink(dir: &Path, name: &[u8]) -> Result<Unlinked> {
    let path = child(dir, name)?;
    sys::unlink(&path).map_err(|e| Error::io(&path, e))?;
    Ok(Unlinked(path))
}

pub(super) fn rmdir(dir: &Path, name: &[u8]) -> Result<Unlinked> {
    let path = child(dir, name)?;
    sys::rmdir(&path).map_err(|e| Error::io(&path, e))?;
    Ok(Unlinked(path))
}

/// The device number of the filesystem holding `path`.
fn dev_of(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|md| md.dev())
}

pub(super) fn rename(
    (from_location, from_dir, name): (LocationId, &Path, &[u8]),
    (to_location, to_dir, new_name): (LocationId, &Path, &[u8]),
    flags: RenameFlags,
) -> Result<Renamed> {
    let from = child(from_dir, name)?;
    let to = child(to_dir, new_name)?;
    // Locations may sit on different filesystems; say so as rename(2) would
    // (checked only when the source exists, so ENOENT stays ENOENT).
    if from_location != to_location
        && from.symlink_metadata().is_ok()
        && dev_of(from_dir) != dev_of(to_dir)
    {
        return Err(Error::fs(
            ErrorKind::CrossDevice,
            "a rename between locations on different filesystems",
        ));
    }
    sys::rename(&from, &to, flags).map_err(|e| Error::io(&from, e))?;
    Ok(Renamed {
        from,
        to,
        exchange: flags.exchange,
    })
}

pub(super) fn setattr(
    path: &Path,
    change: &SetAttr,
    open: Option<&OpenFile>,
    _caller: Caller,
) -> Result<Attr> {
    let fail = |e| Error::io(path, e);
    if let Some(mode) = change.mode {
        sys::chmod(path, mode).map_err(fail)?;
    }
    if change.uid.is_some() || change.gid.is_some() {
        sys::chown(path, change.uid, change.gid).map_err(fail)?;
    }
    if let Some(size) = change.size {
        match open {
            Some(file) if file.can_write() => file.set_len(size)?,
            _ => sys::truncate(path, size).map_err(fail)?,
        }
    }
    if change.times() {
        sys::set_times(path, change.atime, change.mtime).map_err(fail)?;
    }
    match open {
        Some(file) => file.getattr(),
        None => getattr(path),
    }
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
