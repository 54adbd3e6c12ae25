//! Path-based calls (a location's root itself, statfs, readlink), the
//! caller's identity on a worker thread, and the flag translations the
//! `*at` calls in `beneath` share.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::namespace::{Caller, FsStats, OpenFlags, SetTime};

pub(super) fn cstr(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

pub(super) fn cpath(path: &Path) -> io::Result<CString> {
    cstr(path.as_os_str().as_bytes())
}

pub(super) fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The real uid and gid of this process.
pub fn process_ids() -> (u32, u32) {
    // SAFETY: getuid/getgid have no preconditions.
    unsafe { (libc::getuid(), libc::getgid()) }
}

/// Whether this process runs as root (what kernel passthrough needs).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `f` on this thread with the caller's filesystem ids and groups
/// (Linux keeps fsuid/fsgid and supplementary groups per thread; the raw
/// setgroups call changes this thread's alone, unlike libc's, which
/// changes every thread's), then restores the daemon's.
pub fn as_caller<T>(caller: Caller, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    let old_groups = caller.groups.as_deref().and_then(|groups| {
        let old = thread_groups()?;
        set_thread_groups(groups).then_some(old)
    });
    // SAFETY: setfsuid/setfsgid only change this thread's filesystem ids.
    let (old_gid, old_uid) = unsafe { (libc::setfsgid(caller.gid), libc::setfsuid(caller.uid)) };
    let result = f();
    // SAFETY: as above, restoring the previous ids.
    unsafe {
        libc::setfsuid(old_uid as libc::uid_t);
        libc::setfsgid(old_gid as libc::gid_t);
    }
    if let Some(old) = old_groups {
        set_thread_groups(&old);
    }
    result
}

/// This thread's supplementary groups.
fn thread_groups() -> Option<Vec<u32>> {
    // SAFETY: a null list of size 0 asks for the count.
    let n = unsafe { libc::syscall(libc::SYS_getgroups, 0, std::ptr::null_mut::<libc::gid_t>()) };
    let mut groups = vec![0 as libc::gid_t; usize::try_from(n).ok()?];
    // SAFETY: the buffer holds `n` entries.
    let got = unsafe { libc::syscall(libc::SYS_getgroups, n, groups.as_mut_ptr()) };
    groups.truncate(usize::try_from(got).ok()?);
    Some(groups)
}

/// Sets this thread's supplementary groups (needs CAP_SETGID); whether it
/// could.
fn set_thread_groups(groups: &[u32]) -> bool {
    // SAFETY: a valid list of `len` group ids.
    unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) == 0 }
}

/// The supplementary groups of process `pid` (from /proc; `None` once it
/// is gone).
pub fn groups_of(pid: u32) -> Option<Vec<u32>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Groups:"))?;
    line.split_whitespace().map(|g| g.parse().ok()).collect()
}

pub(super) fn open_flags(flags: OpenFlags) -> libc::c_int {
    let access = match (flags.read, flags.write || flags.append) {
        (_, false) => libc::O_RDONLY,
        (false, true) => libc::O_WRONLY,
        (true, true) => libc::O_RDWR,
    };
    let bits = [
        (flags.append, libc::O_APPEND),
        (flags.truncate, libc::O_TRUNC),
        (flags.exclusive, libc::O_EXCL),
        (flags.sync, libc::O_SYNC),
        (flags.dsync, libc::O_DSYNC),
        (flags.direct, libc::O_DIRECT),
        (flags.noatime, libc::O_NOATIME),
        (flags.nonblock, libc::O_NONBLOCK),
    ];
    access | libc::O_CLOEXEC | set_bits(&bits)
}

/// The OR of the bits whose flag is on.
pub(super) fn set_bits<T>(flags: &[(bool, T)]) -> T
where
    T: Copy + Default + std::ops::BitOr<Output = T>,
{
    flags
        .iter()
        .filter(|(on, _)| *on)
        .fold(T::default(), |acc, (_, bit)| acc | *bit)
}

/// Opens an existing file by path (a location's root itself; every name
/// below a root opens through `beneath`).
pub fn open(path: &Path, flags: OpenFlags) -> io::Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    let c = cpath(path)?;
    // SAFETY: valid C string; the fd is owned by the File below.
    let fd = unsafe { libc::open(c.as_ptr(), open_flags(flags)) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, owned descriptor.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

pub fn chmod(path: &Path, mode: u32) -> io::Result<()> {
    let c = cpath(path)?;
    // SAFETY: valid C string.
    check(unsafe { libc::chmod(c.as_ptr(), mode as libc::mode_t) })
}

/// chown without following a final symlink; `None` keeps an id.
pub fn chown(path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let c = cpath(path)?;
    let uid = uid.unwrap_or(u32::MAX);
    let gid = gid.unwrap_or(u32::MAX);
    // SAFETY: valid C string; -1 means "unchanged".
    check(unsafe { libc::lchown(c.as_ptr(), uid, gid) })
}

pub fn truncate(path: &Path, size: u64) -> io::Result<()> {
    let c = cpath(path)?;
    let size = i64::try_from(size).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    // SAFETY: valid C string.
    check(unsafe { libc::truncate(c.as_ptr(), size) })
}

pub(super) fn timespec(t: SetTime) -> libc::timespec {
    match t {
        SetTime::Now => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        SetTime::Keep => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        SetTime::At(n) => libc::timespec {
            tv_sec: n.div_euclid(1_000_000_000),
            tv_nsec: n.rem_euclid(1_000_000_000),
        },
    }
}

/// utimensat without following a final symlink.
pub fn set_times(path: &Path, atime: SetTime, mtime: SetTime) -> io::Result<()> {
    let c = cpath(path)?;
    let times = [timespec(atime), timespec(mtime)];
    // SAFETY: valid C string and a two-element array.
    check(unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
}

pub fn readlink(path: &Path) -> io::Result<Vec<u8>> {
    Ok(std::os::unix::ffi::OsStringExt::into_vec(
        std::fs::read_link(path)?.into_os_string(),
    ))
}

/// A byte name as a path component.
pub fn os_str(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

/// Numbers of the filesystem holding `path`.
pub fn statfs(path: &Path) -> io::Result<FsStats> {
    let c = cpath(path)?;
    let mut out = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: valid C string and out-pointer.
    check(unsafe { libc::statvfs(c.as_ptr(), out.as_mut_ptr()) })?;
    // SAFETY: statvfs succeeded.
    let s = unsafe { out.assume_init() };
    // fsblkcnt_t is 32-bit on some targets.
    #[allow(clippy::unnecessary_cast)]
    Ok(FsStats {
        blocks: s.f_blocks as u64,
        bfree: s.f_bfree as u64,
        bavail: s.f_bavail as u64,
        files: s.f_files as u64,
        ffree: s.f_ffree as u64,
        bsize: s.f_bsize as u32,
        namelen: s.f_namemax as u32,
        frsize: s.f_frsize as u32,
    })
}
