//! The vocabulary of the filesystem API: who asks, how a file is opened,
//! what a setattr changes. Platform-neutral: adapters translate their
//! kernel's flags into these, and the Unix backend translates them back.

/// POSIX file-type bits of a mode, as every Unix and the FUSE protocol
/// number them (they are part of the wire format, not of one libc).
pub mod mode {
    pub const TYPE_MASK: u32 = 0o170_000;
    pub const SOCKET: u32 = 0o140_000;
    pub const SYMLINK: u32 = 0o120_000;
    pub const FILE: u32 = 0o100_000;
    pub const BLOCK_DEVICE: u32 = 0o060_000;
    pub const DIRECTORY: u32 = 0o040_000;
    pub const CHAR_DEVICE: u32 = 0o020_000;
    pub const FIFO: u32 = 0o010_000;
}

/// Who asked, as the kernel told the adapter. Rights are checked by the
/// kernel (`default_permissions`) and by the filesystem underneath, which
/// sees the caller's ids, supplementary groups included, on every call that
/// creates something.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    pub pid: u32,
    /// Supplementary groups; `None` keeps the daemon's (enough for root,
    /// whom no group check stops, and for operations that create nothing).
    pub groups: Option<std::sync::Arc<[u32]>>,
}

impl Caller {
    /// The daemon itself (tests, maintenance).
    pub fn daemon() -> Caller {
        let (uid, gid) = crate::sys::process_ids();
        Caller {
            uid,
            gid,
            pid: std::process::id(),
            groups: None,
        }
    }
}

/// How a file is opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenFlags {
    pub read: bool,
    pub write: bool,
    pub append: bool,
    pub truncate: bool,
    /// With create: fail if the name exists.
    pub exclusive: bool,
    pub sync: bool,
    pub dsync: bool,
    pub direct: bool,
    pub noatime: bool,
    pub nonblock: bool,
}

impl OpenFlags {
    pub fn read_only() -> OpenFlags {
        OpenFlags {
            read: true,
            ..OpenFlags::default()
        }
    }

    pub fn read_write() -> OpenFlags {
        OpenFlags {
            read: true,
            write: true,
            ..OpenFlags::default()
        }
    }

    /// Whether the open could change the file.
    pub fn writes(&self) -> bool {
        self.write || self.append || self.truncate
    }
}

/// A time to set: now, a Unix-nanosecond time, or unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SetTime {
    #[default]
    Keep,
    Now,
    At(i64),
}

/// What a setattr changes; `None` keeps the value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// Permission bits (the type bits are ignored).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: SetTime,
    pub mtime: SetTime,
}

impl SetAttr {
    pub fn times(&self) -> bool {
        self.atime != SetTime::Keep || self.mtime != SetTime::Keep
    }
}

/// rename(2) flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RenameFlags {
    /// Fail with `AlreadyExists` instead of replacing the target.
    pub noreplace: bool,
    /// Swap the two names atomically.
    pub exchange: bool,
    /// Leave a whiteout at the source (overlay filesystems).
    pub whiteout: bool,
}

/// How setxattr treats an existing attribute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XattrSet {
    #[default]
    Either,
    /// Fail if it exists.
    Create,
    /// Fail if it does not.
    Replace,
}

/// Where an lseek offset counts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whence {
    Set,
    Current,
    End,
    /// The next byte at or after the offset that is data.
    Data,
    /// The next hole at or after the offset (the end counts as one).
    Hole,
}

/// fallocate(2) modes; all false allocates (and may extend the file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fallocate {
    pub keep_size: bool,
    pub punch_hole: bool,
    pub zero_range: bool,
    pub collapse_range: bool,
    pub insert_range: bool,
    pub unshare_range: bool,
}

/// Numbers of the filesystem behind a node, for statfs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsStats {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
    pub frsize: u32,
}
