//! The kernel's request arguments in core's vocabulary. `None` or an error
//! where the kernel sent something core has no word for.

use fuser::{RenameFlags as FuseRename, Request, TimeOrNow};
use sdfs_core::namespace::{Caller, Fallocate, OpenFlags, RenameFlags, SetTime, Whence, XattrSet};

/// Who asked, without supplementary groups: for requests that create
/// nothing, so no group of the caller's is checked underneath.
pub fn caller_ids(req: &Request) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
        pid: req.pid(),
        groups: None,
    }
}

/// Who asked. FUSE does not send supplementary groups; for requests that
/// create something they are read from the caller's process, as libfuse
/// does (root needs none: no group check stops it).
pub fn caller(req: &Request) -> Caller {
    let groups = (req.uid() != 0)
        .then(|| sdfs_core::sys::groups_of(req.pid()))
        .flatten()
        .map(std::sync::Arc::from);
    Caller {
        groups,
        ..caller_ids(req)
    }
}

/// The open flag the kernel sets on the open an `execve` makes of the
/// program's file (`__FMODE_EXEC` in include/linux/fs.h; not in libc).
pub const FMODE_EXEC: i32 = 0x20;

/// open(2) flags (the kernel has already handled `O_CREAT`, `O_NOCTTY`
/// and friends; bits core does not act on are dropped).
pub fn open_flags(raw: i32) -> OpenFlags {
    let access = raw & libc::O_ACCMODE;
    let has = |bit: i32| raw & bit != 0;
    OpenFlags {
        read: access == libc::O_RDONLY || access == libc::O_RDWR,
        write: access == libc::O_WRONLY || access == libc::O_RDWR,
        append: has(libc::O_APPEND),
        truncate: has(libc::O_TRUNC),
        exclusive: has(libc::O_EXCL),
        // O_SYNC includes O_DSYNC's bit.
        sync: raw & libc::O_SYNC == libc::O_SYNC,
        dsync: has(libc::O_DSYNC),
        direct: has(libc::O_DIRECT),
        noatime: has(libc::O_NOATIME),
        nonblock: has(libc::O_NONBLOCK),
    }
}

pub fn set_time(t: Option<TimeOrNow>) -> SetTime {
    match t {
        None => SetTime::Keep,
        Some(TimeOrNow::Now) => SetTime::Now,
        Some(TimeOrNow::SpecificTime(t)) => SetTime::At(sdfs_core::time::unix_nanos(t)),
    }
}

pub fn rename_flags(flags: FuseRename) -> Option<RenameFlags> {
    if flags.bits() & !FuseRename::all().bits() != 0 {
        return None;
    }
    Some(RenameFlags {
        noreplace: flags.contains(FuseRename::RENAME_NOREPLACE),
        exchange: flags.contains(FuseRename::RENAME_EXCHANGE),
        whiteout: flags.contains(FuseRename::RENAME_WHITEOUT),
    })
}

pub fn xattr_set(flags: i32) -> Option<XattrSet> {
    match flags {
        0 => Some(XattrSet::Either),
        libc::XATTR_CREATE => Some(XattrSet::Create),
        libc::XATTR_REPLACE => Some(XattrSet::Replace),
        _ => None,
    }
}

pub fn fallocate(mode: i32) -> Option<Fallocate> {
    let known = libc::FALLOC_FL_KEEP_SIZE
        | libc::FALLOC_FL_PUNCH_HOLE
        | libc::FALLOC_FL_ZERO_RANGE
        | libc::FALLOC_FL_COLLAPSE_RANGE
        | libc::FALLOC_FL_INSERT_RANGE
        | libc::FALLOC_FL_UNSHARE_RANGE;
    if mode & !known != 0 {
        return None;
    }
    let has = |bit: i32| mode & bit != 0;
    Some(Fallocate {
        keep_size: has(libc::FALLOC_FL_KEEP_SIZE),
        punch_hole: has(libc::FALLOC_FL_PUNCH_HOLE),
        zero_range: has(libc::FALLOC_FL_ZERO_RANGE),
        collapse_range: has(libc::FALLOC_FL_COLLAPSE_RANGE),
        insert_range: has(libc::FALLOC_FL_INSERT_RANGE),
        unshare_range: has(libc::FALLOC_FL_UNSHARE_RANGE),
    })
}

pub fn whence(raw: i32) -> Option<Whence> {
    match raw {
        libc::SEEK_SET => Some(Whence::Set),
        libc::SEEK_CUR => Some(Whence::Current),
        libc::SEEK_END => Some(Whence::End),
        libc::SEEK_DATA => Some(Whence::Data),
        libc::SEEK_HOLE => Some(Whence::Hole),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_keep_the_access_mode() {
        let rw = open_flags(libc::O_RDWR | libc::O_TRUNC);
        assert!(rw.read && rw.write && rw.truncate && !rw.append);
        let ro = open_flags(libc::O_RDONLY);
        assert!(ro.read && !ro.writes());
        let wo = open_flags(libc::O_WRONLY | libc::O_APPEND);
        assert!(!wo.read && wo.write && wo.append);
        let ds = open_flags(libc::O_DSYNC);
        assert!(ds.dsync && !ds.sync);
    }
}
