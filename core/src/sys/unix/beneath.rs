//! Calls confined to a location: a name's parent directory is opened
//! beneath the location's root with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)`, and the call itself is the `*at` form on the
//! final name. A directory swapped for a symlink between the kernel's
//! lookup and the call (by anyone who can write in the location) then
//! fails (`ELOOP`, `EXDEV`) instead of reaching outside it. Kernels
//! without `openat2` (before 5.6) resolve relative to the root instead.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::calls::{as_caller, check, cstr, open_flags, set_bits};
use crate::namespace::{Caller, OpenFlags, RenameFlags, SetTime};

const RESOLVE: u64 =
    libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;

/// openat2 of `rel` below `dir`, resolving beneath it without following
/// any symlink; `Ok(None)` where the kernel lacks openat2 (before 5.6).
pub(super) fn try_openat2(
    dir: &File,
    rel: &CString,
    flags: libc::c_int,
    mode: u32,
) -> io::Result<Option<File>> {
    // SAFETY: open_how is plain data; all zeroes is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    if flags & libc::O_CREAT != 0 {
        // openat2, unlike open, refuses type bits (FUSE sends S_IFREG).
        how.mode = u64::from(mode & 0o7777);
    }
    how.resolve = RESOLVE;
    // SAFETY: valid fd, NUL-terminated path and a properly sized `how`.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            rel.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd >= 0 {
        // SAFETY: the kernel just gave us this descriptor.
        return Ok(Some(unsafe { File::from_raw_fd(fd as libc::c_int) }));
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ENOSYS) {
        Ok(None)
    } else {
        Err(err)
    }
}

/// [`try_openat2`], falling back to a plain openat relative to `dir` where
/// the kernel lacks openat2.
fn openat2(dir: &File, rel: &CString, flags: libc::c_int, mode: u32) -> io::Result<File> {
    if let Some(file) = try_openat2(dir, rel, flags, mode)? {
        return Ok(file);
    }
    // SAFETY: valid fd and NUL-terminated path.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            rel.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this descriptor.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Opens the existing file `rel` (non-empty) below `root`.
pub fn open_at(root: &File, rel: &[u8], flags: OpenFlags) -> io::Result<File> {
    openat2(root, &cstr(rel)?, open_flags(flags), 0)
}

/// Creates and opens the regular file `rel` below `root`, as the caller.
pub fn create_at(
    caller: Caller,
    root: &File,
    rel: &[u8],
    flags: OpenFlags,
    mode: u32,
) -> io::Result<File> {
    let rel = cstr(rel)?;
    as_caller(caller, || {
        openat2(root, &rel, open_flags(flags) | libc::O_CREAT, mode)
    })
}

/// A name inside a location: its parent directory, opened beneath the
/// location's root, and the name itself.
#[derive(Debug)]
pub struct At {
    dir: File,
    name: CString,
}

impl At {
    /// `rel` (non-empty, `/`-separated) below `root`.
    pub fn new(root: &File, rel: &[u8]) -> io::Result<At> {
        let (parent, name) = match rel.iter().rposition(|b| *b == b'/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => (&b""[..], rel),
        };
        if name.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let dir = if parent.is_empty() {
            root.try_clone()?
        } else {
            openat2(root, &cstr(parent)?, libc::O_PATH | libc::O_DIRECTORY, 0)?
        };
        Ok(At {
            dir,
            name: cstr(name)?,
        })
    }

    fn fd(&self) -> libc::c_int {
        self.dir.as_raw_fd()
    }

    pub fn mkdir(&self, caller: Caller, mode: u32) -> io::Result<()> {
        // SAFETY: valid fd and C string.
        as_caller(caller, || {
            check(unsafe { libc::mkdirat(self.fd(), self.name.as_ptr(), mode as libc::mode_t) })
        })
    }

    pub fn mknod(&self, caller: Caller, mode: u32, rdev: u64) -> io::Result<()> {
        // SAFETY: valid fd and C string.
        as_caller(caller, || {
            check(unsafe {
                libc::mknodat(
                    self.fd(),
                    self.name.as_ptr(),
                    mode as libc::mode_t,
                    rdev as libc::dev_t,
                )
            })
        })
    }

    pub fn symlink(&self, caller: Caller, target: &[u8]) -> io::Result<()> {
        let target = cstr(target)?;
        // SAFETY: valid fd and C strings.
        as_caller(caller, || {
            check(unsafe { libc::symlinkat(target.as_ptr(), self.fd(), self.name.as_ptr()) })
        })
    }

    /// A new name `self` for the file `from` names (no symlink followed).
    pub fn link(&self, caller: Caller, from: &At) -> io::Result<()> {
        // SAFETY: valid fds and C strings.
        as_caller(caller, || {
            check(unsafe {
                libc::linkat(
                    from.fd(),
                    from.name.as_ptr(),
                    self.fd(),
                    self.name.as_ptr(),
                    0,
                )
            })
        })
    }

    pub fn unlink(&self) -> io::Result<()> {
        // SAFETY: valid fd and C string.
        check(unsafe { libc::unlinkat(self.fd(), self.name.as_ptr(), 0) })
    }

    pub fn rmdir(&self) -> io::Result<()> {
        // SAFETY: valid fd and C string.
        check(unsafe { libc::unlinkat(self.fd(), self.name.as_ptr(), libc::AT_REMOVEDIR) })
    }

    pub fn rename(&self, to: &At, flags: RenameFlags) -> io::Result<()> {
        let raw = set_bits(&[
            (flags.noreplace, libc::RENAME_NOREPLACE),
            (flags.exchange, libc::RENAME_EXCHANGE),
            (flags.whiteout, libc::RENAME_WHITEOUT),
        ]);
        // SAFETY: valid fds and C strings.
        check(unsafe {
            libc::renameat2(
                self.fd(),
                self.name.as_ptr(),
                to.fd(),
                to.name.as_ptr(),
                raw,
            )
        })
    }

    pub fn chmod(&self, mode: u32) -> io::Result<()> {
        // SAFETY: valid fd and C string.
        check(unsafe { libc::fchmodat(self.fd(), self.name.as_ptr(), mode as libc::mode_t, 0) })
    }

    /// chown without following a final symlink; `None` keeps an id.
    pub fn chown(&self, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
        // SAFETY: valid fd and C string; -1 means "unchanged".
        check(unsafe {
            libc::fchownat(
                self.fd(),
                self.name.as_ptr(),
                uid.unwrap_or(u32::MAX),
                gid.unwrap_or(u32::MAX),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
    }

    pub fn set_times(&self, atime: SetTime, mtime: SetTime) -> io::Result<()> {
        let times = [super::calls::timespec(atime), super::calls::timespec(mtime)];
        // SAFETY: valid fd, C string and a two-element array.
        check(unsafe {
            libc::utimensat(
                self.fd(),
                self.name.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
    }

    /// Sets the size of the regular file this names.
    pub fn truncate(&self, size: u64) -> io::Result<()> {
        let file = openat2(&self.dir, &self.name, libc::O_WRONLY | libc::O_NOFOLLOW, 0)?;
        file.set_len(size)
    }

    /// A path to this name through our descriptor of its directory, for the
    /// calls that have no `*at` form (extended attributes): resolution
    /// starts at the directory itself, and the name is the last component.
    pub fn proc_path(&self) -> PathBuf {
        let mut path = PathBuf::from(format!("/proc/self/fd/{}", self.fd()));
        path.push(std::ffi::OsStr::from_bytes(self.name.as_bytes()));
        path
    }
}

/// Opens a location's root directory, the anchor of every call above.
pub fn open_root(path: &std::path::Path) -> io::Result<File> {
    let c = super::calls::cpath(path)?;
    // SAFETY: valid C string; the fd is owned by the File below.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, owned descriptor.
    Ok(unsafe { File::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_beneath_a_root_reaches_outside_it() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root_path = tmp.path().join("loc");
        std::fs::create_dir_all(root_path.join("d")).expect("mkdir");
        std::fs::create_dir(tmp.path().join("outside")).expect("mkdir");
        std::fs::write(tmp.path().join("outside/secret"), b"x").expect("write");
        // A directory of the location swapped for a link out of it.
        std::os::unix::fs::symlink(tmp.path().join("outside"), root_path.join("swapped"))
            .expect("ln");
        let root = open_root(&root_path).expect("root");
        let me = Caller::daemon();
        At::new(&root, b"d/new")
            .expect("at")
            .mkdir(me.clone(), 0o755)
            .expect("mkdir");
        assert!(root_path.join("d/new").is_dir());
        let refused = [
            At::new(&root, b"swapped/new").map(|_| ()),
            At::new(&root, b"../outside/new").map(|_| ()),
            open_at(&root, b"swapped/secret", OpenFlags::read_only()).map(|_| ()),
            create_at(me, &root, b"swapped/made", OpenFlags::read_write(), 0o644).map(|_| ()),
        ];
        for result in refused {
            let kind = crate::sys::error_kind(&result.expect_err("refused"));
            assert!(
                matches!(
                    kind,
                    crate::ErrorKind::SymlinkLoop | crate::ErrorKind::CrossDevice
                ),
                "{kind:?}"
            );
        }
        assert!(!tmp.path().join("outside/new").exists());
        assert!(!tmp.path().join("outside/made").exists());
        // The link itself is a name like any other: it can go.
        At::new(&root, b"swapped")
            .expect("at")
            .unlink()
            .expect("unlink");
    }
}
