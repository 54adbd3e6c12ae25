//! Attributes of a node as every kernel adapter needs them.

use std::os::unix::fs::MetadataExt;

use super::types::mode;
use crate::model::entry::EntryKind;

/// What `stat` shows for a node, platform-neutral.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr {
    pub kind: EntryKind,
    /// POSIX mode: type bits and permission bits.
    pub mode: u32,
    pub size: u64,
    /// 512-byte blocks.
    pub blocks: u64,
    /// Unix nanoseconds.
    pub atime: i64,
    pub mtime: i64,
    pub ctime: i64,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub blksize: u32,
    /// The stable inode number (see [`super::NodeKey::ino`]).
    pub ino: u64,
}

impl Attr {
    /// Attributes of a file on this device, from its `lstat`.
    pub fn from_metadata(md: &std::fs::Metadata) -> Attr {
        Attr {
            kind: EntryKind::from_file_type(md.file_type()),
            mode: md.mode(),
            size: md.size(),
            blocks: md.blocks(),
            atime: crate::time::stat_nanos(md.atime(), md.atime_nsec()),
            mtime: crate::time::stat_nanos(md.mtime(), md.mtime_nsec()),
            ctime: crate::time::stat_nanos(md.ctime(), md.ctime_nsec()),
            nlink: md.nlink() as u32,
            uid: md.uid(),
            gid: md.gid(),
            rdev: md.rdev(),
            blksize: md.blksize() as u32,
            ino: super::node::ino::local(md.dev(), md.ino()),
        }
    }

    /// A read-only virtual directory (the root, device and `.content`
    /// directories), owned by whoever runs the mount.
    pub fn virtual_dir(mtime: i64, ino: u64) -> Attr {
        let (uid, gid) = crate::sys::process_ids();
        Attr {
            kind: EntryKind::Directory,
            mode: mode::DIRECTORY | 0o555,
            size: 0,
            blocks: 0,
            atime: mtime,
            mtime,
            ctime: mtime,
            nlink: 2,
            uid,
            gid,
            rdev: 0,
            blksize: 4096,
            ino,
        }
    }
}
