//! The one place where core errors become errno values.

use fuser::Errno;
use sdfs_core::{Error, ErrorKind};

/// The errno for `e`. An error the OS already answered keeps its number;
/// errors core decided map by kind, with no catch-all arm, so a new kind does
/// not compile until it has an errno here.
pub fn errno(e: &Error) -> Errno {
    if let Error::Io { source, .. } = e
        && let Some(code) = source.raw_os_error()
    {
        return Errno::from_i32(code);
    }
    let code = match e.kind() {
        ErrorKind::NotFound => libc::ENOENT,
        ErrorKind::AlreadyExists => libc::EEXIST,
        ErrorKind::PermissionDenied => libc::EACCES,
        ErrorKind::InvalidInput => libc::EINVAL,
        ErrorKind::NotADirectory => libc::ENOTDIR,
        ErrorKind::IsADirectory => libc::EISDIR,
        ErrorKind::DirectoryNotEmpty => libc::ENOTEMPTY,
        ErrorKind::ReadOnly => libc::EROFS,
        ErrorKind::Busy => libc::EBUSY,
        ErrorKind::Unsupported => libc::ENOTSUP,
        ErrorKind::Unavailable => libc::ENOTCONN,
        ErrorKind::Corrupt => libc::EIO,
        ErrorKind::Io => libc::EIO,
    };
    Errno::from_i32(code)
}

/// The errno of an OS error (EIO when it carries none).
pub fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(libc::EIO))
}
