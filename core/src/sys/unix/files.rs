//! Calls on open descriptors.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};

use super::calls::{check, cstr};
use crate::namespace::{Fallocate, Whence};

pub fn fallocate(file: &File, how: Fallocate, offset: u64, len: u64) -> io::Result<()> {
    let mode = super::calls::set_bits(&[
        (how.keep_size, libc::FALLOC_FL_KEEP_SIZE),
        (how.punch_hole, libc::FALLOC_FL_PUNCH_HOLE),
        (how.zero_range, libc::FALLOC_FL_ZERO_RANGE),
        (how.collapse_range, libc::FALLOC_FL_COLLAPSE_RANGE),
        (how.insert_range, libc::FALLOC_FL_INSERT_RANGE),
        (how.unshare_range, libc::FALLOC_FL_UNSHARE_RANGE),
    ]);
    let (offset, len) = (signed(offset)?, signed(len)?);
    // SAFETY: a valid descriptor owned by `file`.
    check(unsafe { libc::fallocate(file.as_raw_fd(), mode, offset, len) })
}

fn signed(n: u64) -> io::Result<i64> {
    i64::try_from(n).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))
}

pub fn lseek(file: &File, offset: i64, whence: Whence) -> io::Result<u64> {
    let whence = match whence {
        Whence::Set => libc::SEEK_SET,
        Whence::Current => libc::SEEK_CUR,
        Whence::End => libc::SEEK_END,
        Whence::Data => libc::SEEK_DATA,
        Whence::Hole => libc::SEEK_HOLE,
    };
    // SAFETY: a valid descriptor owned by `file`.
    let rc = unsafe { libc::lseek(file.as_raw_fd(), offset, whence) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as u64)
}

/// copy_file_range(2) between two open files; returns the bytes copied.
pub fn copy_file_range(
    from: &File,
    from_offset: u64,
    to: &File,
    to_offset: u64,
    len: usize,
) -> io::Result<usize> {
    let mut off_in = signed(from_offset)?;
    let mut off_out = signed(to_offset)?;
    // SAFETY: valid descriptors and offset pointers that live across the call.
    let n = unsafe {
        libc::copy_file_range(
            from.as_raw_fd(),
            &mut off_in,
            to.as_raw_fd(),
            &mut off_out,
            len,
            0,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Takes an exclusive flock(2) on `file` without waiting; `Ok(false)` when
/// another process holds it.
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    // SAFETY: flock on a valid, owned descriptor.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Opens `rel` below the directory `root` read-only, refusing any symlink
/// on the way and any path that would leave `root`: Linux `openat2` with
/// `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, or, where the kernel lacks it,
/// a walk opening one component at a time with `O_NOFOLLOW`. A refused
/// symlink or escape is `SymlinkLoop` or `CrossDevice`.
pub fn open_beneath(root: &File, rel: &[u8]) -> io::Result<File> {
    // The root itself (a live listing of a location's top directory).
    if rel.is_empty() {
        return root.try_clone();
    }
    let opened =
        super::beneath::try_openat2(root, &cstr(rel)?, libc::O_RDONLY | libc::O_NOFOLLOW, 0)?;
    if let Some(file) = opened {
        return Ok(file);
    }
    open_beneath_by_walk(root, rel)
}

/// The portable half of [`open_beneath`]: one component at a time, each
/// opened with `O_NOFOLLOW` relative to the last.
pub fn open_beneath_by_walk(root: &File, rel: &[u8]) -> io::Result<File> {
    let parts: Vec<&[u8]> = rel.split(|b| *b == b'/').collect();
    let mut dir: Option<File> = None;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() || *part == b"." || *part == b".." {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        }
        let last = i + 1 == parts.len();
        let c = cstr(part)?;
        let flags = libc::O_RDONLY
            | libc::O_CLOEXEC
            | libc::O_NOFOLLOW
            | if last { 0 } else { libc::O_DIRECTORY };
        let at = dir.as_ref().unwrap_or(root).as_raw_fd();
        // SAFETY: valid directory fd and NUL-terminated name.
        let fd = unsafe { libc::openat(at, c.as_ptr(), flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just gave us this descriptor.
        dir = Some(unsafe { File::from_raw_fd(fd) });
    }
    dir.ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
}

/// A file in directory `dir` with no name (`O_TMPFILE`): it is gone when
/// closed, whatever happens to the process.
pub fn nameless_file_in(dir: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o600)
        .open(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beneath_an_empty_path_is_the_root_itself() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::write(tmp.path().join("f"), b"x").expect("write");
        let root = File::open(tmp.path()).expect("root");
        let same = open_beneath(&root, b"").expect("root again");
        use std::os::unix::fs::MetadataExt;
        let (a, b) = (root.metadata().expect("md"), same.metadata().expect("md"));
        assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()));
        assert!(open_beneath(&root, b"f").is_ok());
        assert!(open_beneath_by_walk(&root, b"../f").is_err());
    }
}
