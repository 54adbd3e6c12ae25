//! Operations on files of this device, done as the caller: creations run
//! with the caller's fsuid/fsgid, so new files belong to whoever made them
//! and the underlying filesystem checks the caller's rights.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Who asked, as the kernel told the adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
}

fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Runs `f` on this thread with the caller's filesystem ids (Linux keeps
/// fsuid/fsgid per thread), then restores the daemon's.
pub fn as_caller<T>(caller: Caller, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    // SAFETY: setfsuid/setfsgid only change this thread's filesystem ids.
    let (old_gid, old_uid) = unsafe { (libc::setfsgid(caller.gid), libc::setfsuid(caller.uid)) };
    let result = f();
    // SAFETY: as above, restoring the previous ids.
    unsafe {
        libc::setfsuid(old_uid as libc::uid_t);
        libc::setfsgid(old_gid as libc::gid_t);
    }
    result
}

pub fn mkdir(caller: Caller, path: &Path, mode: u32) -> io::Result<()> {
    let c = cstr(path)?;
    // SAFETY: valid C string.
    as_caller(caller, || {
        check(unsafe { libc::mkdir(c.as_ptr(), mode as libc::mode_t) })
    })
}

pub fn mknod(caller: Caller, path: &Path, mode: u32, rdev: u64) -> io::Result<()> {
    let c = cstr(path)?;
    // SAFETY: valid C string.
    as_caller(caller, || {
        check(unsafe { libc::mknod(c.as_ptr(), mode as libc::mode_t, rdev as libc::dev_t) })
    })
}

pub fn symlink(caller: Caller, target: &OsStr, path: &Path) -> io::Result<()> {
    let t =
        CString::new(target.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let c = cstr(path)?;
    // SAFETY: valid C strings.
    as_caller(caller, || {
        check(unsafe { libc::symlink(t.as_ptr(), c.as_ptr()) })
    })
}

pub fn link(caller: Caller, from: &Path, to: &Path) -> io::Result<()> {
    let (f, t) = (cstr(from)?, cstr(to)?);
    // SAFETY: valid C strings; no AT_SYMLINK_FOLLOW, like link(2) on Linux.
    as_caller(caller, || {
        check(unsafe { libc::linkat(libc::AT_FDCWD, f.as_ptr(), libc::AT_FDCWD, t.as_ptr(), 0) })
    })
}

/// Creates and opens a regular file with `flags` (which include O_CREAT).
pub fn create(caller: Caller, path: &Path, flags: i32, mode: u32) -> io::Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    let c = cstr(path)?;
    as_caller(caller, || {
        // SAFETY: valid C string; the fd is owned by the File below.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                flags | libc::O_CREAT | libc::O_CLOEXEC,
                mode as libc::c_uint,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh, owned descriptor.
        Ok(unsafe { std::fs::File::from_raw_fd(fd) })
    })
}

/// Opens an existing file with the kernel's open flags.
pub fn open(path: &Path, flags: i32) -> io::Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    let c = cstr(path)?;
    let flags = flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY) | libc::O_CLOEXEC;
    // SAFETY: valid C string; the fd is owned by the File below.
    let fd = unsafe { libc::open(c.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, owned descriptor.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

pub fn unlink(path: &Path) -> io::Result<()> {
    let c = cstr(path)?;
    // SAFETY: valid C string.
    check(unsafe { libc::unlink(c.as_ptr()) })
}

pub fn rmdir(path: &Path) -> io::Result<()> {
    let c = cstr(path)?;
    // SAFETY: valid C string.
    check(unsafe { libc::rmdir(c.as_ptr()) })
}

/// rename(2) with `RENAME_NOREPLACE` / `RENAME_EXCHANGE` passed through.
pub fn rename(from: &Path, to: &Path, flags: u32) -> io::Result<()> {
    let (f, t) = (cstr(from)?, cstr(to)?);
    // SAFETY: valid C strings.
    check(unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            flags,
        )
    })
}

pub fn chmod(path: &Path, mode: u32) -> io::Result<()> {
    let c = cstr(path)?;
    // SAFETY: valid C string.
    check(unsafe { libc::chmod(c.as_ptr(), mode as libc::mode_t) })
}

/// chown without following a final symlink; `None` keeps an id.
pub fn chown(path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let c = cstr(path)?;
    let uid = uid.unwrap_or(u32::MAX);
    let gid = gid.unwrap_or(u32::MAX);
    // SAFETY: valid C string; -1 means "unchanged".
    check(unsafe { libc::lchown(c.as_ptr(), uid, gid) })
}

pub fn truncate(path: &Path, size: u64) -> io::Result<()> {
    let c = cstr(path)?;
    let size = i64::try_from(size).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    // SAFETY: valid C string.
    check(unsafe { libc::truncate(c.as_ptr(), size) })
}

/// A time to set: now, a specific Unix-nanosecond time, or unchanged.
#[derive(Clone, Copy, Debug)]
pub enum SetTime {
    Now,
    At(i64),
    Keep,
}

fn timespec(t: SetTime) -> libc::timespec {
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
    let c = cstr(path)?;
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
    Ok(std::fs::read_link(path)?.into_os_string().into_vec_bytes())
}

trait IntoVecBytes {
    fn into_vec_bytes(self) -> Vec<u8>;
}

impl IntoVecBytes for std::ffi::OsString {
    fn into_vec_bytes(self) -> Vec<u8> {
        std::os::unix::ffi::OsStringExt::into_vec(self)
    }
}

/// Extended attributes of the file itself (never of a symlink's target).
pub mod xattr {
    use super::*;

    pub fn get(path: &Path, name: &[u8]) -> io::Result<Vec<u8>> {
        let (c, n) = (
            cstr(path)?,
            CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
        );
        // SAFETY: a null buffer of size 0 asks for the size.
        let size = unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) };
        if size < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; size as usize];
        // SAFETY: buf has the size just reported.
        let got =
            unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(got as usize);
        Ok(buf)
    }

    pub fn set(path: &Path, name: &[u8], value: &[u8], flags: i32) -> io::Result<()> {
        let (c, n) = (
            cstr(path)?,
            CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
        );
        // SAFETY: valid strings and buffer.
        check(unsafe {
            libc::lsetxattr(
                c.as_ptr(),
                n.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                flags,
            )
        })
    }

    pub fn remove(path: &Path, name: &[u8]) -> io::Result<()> {
        let (c, n) = (
            cstr(path)?,
            CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
        );
        // SAFETY: valid strings.
        check(unsafe { libc::lremovexattr(c.as_ptr(), n.as_ptr()) })
    }

    /// The NUL-separated list of names.
    pub fn list(path: &Path) -> io::Result<Vec<u8>> {
        let c = cstr(path)?;
        // SAFETY: a null buffer of size 0 asks for the size.
        let size = unsafe { libc::llistxattr(c.as_ptr(), std::ptr::null_mut(), 0) };
        if size < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; size as usize];
        // SAFETY: buf has the size just reported.
        let got = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(got as usize);
        Ok(buf)
    }
}

/// Numbers of the filesystem holding `path`, for statfs.
#[derive(Clone, Copy, Debug, Default)]
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

pub fn statfs(path: &Path) -> io::Result<FsStats> {
    let c = cstr(path)?;
    let mut out = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: valid C string and out-pointer.
    check(unsafe { libc::statvfs(c.as_ptr(), out.as_mut_ptr()) })?;
    // SAFETY: statvfs succeeded.
    let s = unsafe { out.assume_init() };
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
