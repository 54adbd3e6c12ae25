//! Core attributes as FUSE attributes.

use std::time::Duration;

use fuser::{FileAttr, FileType, INodeNo};
use sdfs_core::model::entry::EntryKind;
use sdfs_core::namespace::{Attr, mode};

/// How long the kernel may trust names and attributes of local files.
/// Changes through the mount are the kernel's own; changes made underneath
/// are pushed out at once by invalidation (watcher → notifier), so the TTL
/// only bounds staleness when the watcher itself missed something.
pub const LOCAL_TTL: Duration = Duration::from_secs(10);
/// Virtual directories change when locations come and go.
pub const VIRTUAL_TTL: Duration = Duration::from_secs(1);

/// The TTL for a node.
pub fn ttl(node: &sdfs_core::namespace::Node) -> &'static Duration {
    if node.is_watched() {
        &LOCAL_TTL
    } else {
        &VIRTUAL_TTL
    }
}

/// The TTL for the name of `node` in directory `parent`: a watched
/// directory's names are told when they change; any other directory's
/// (a replica's, a search's) are kept briefly, whatever they name.
pub fn entry_ttl(
    parent: &sdfs_core::namespace::Node,
    node: &sdfs_core::namespace::Node,
) -> &'static Duration {
    if parent.is_watched() {
        ttl(node)
    } else {
        &VIRTUAL_TTL
    }
}

pub fn file_type(attr: &Attr) -> FileType {
    match attr.kind {
        EntryKind::File => FileType::RegularFile,
        EntryKind::Directory => FileType::Directory,
        EntryKind::Symlink => FileType::Symlink,
        EntryKind::Special => match attr.mode & mode::TYPE_MASK {
            mode::FIFO => FileType::NamedPipe,
            mode::CHAR_DEVICE => FileType::CharDevice,
            mode::BLOCK_DEVICE => FileType::BlockDevice,
            _ => FileType::Socket,
        },
    }
}

pub fn to_fuse(ino: u64, attr: &Attr) -> FileAttr {
    let time = sdfs_core::time::from_unix_nanos;
    FileAttr {
        ino: INodeNo(ino),
        size: attr.size,
        blocks: attr.blocks,
        atime: time(attr.atime),
        mtime: time(attr.mtime),
        ctime: time(attr.ctime),
        crtime: time(attr.ctime),
        kind: file_type(attr),
        perm: (attr.mode & 0o7777) as u16,
        nlink: attr.nlink,
        uid: attr.uid,
        gid: attr.gid,
        rdev: attr.rdev as u32,
        blksize: attr.blksize,
        flags: 0,
    }
}
