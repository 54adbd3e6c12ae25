//! The one place where core errors become errno values: by kind, with no
//! catch-all arm (a new kind does not compile until it has an errno here)
//! and no raw OS code passed through.

use fuser::Errno;
use sdfs_core::{Error, ErrorKind};

/// The errno for an error of `kind`.
pub fn errno_of(kind: ErrorKind) -> Errno {
    let code = match kind {
        ErrorKind::NotFound => libc::ENOENT,
        ErrorKind::AlreadyExists => libc::EEXIST,
        ErrorKind::PermissionDenied => libc::EACCES,
        ErrorKind::NotPermitted => libc::EPERM,
        ErrorKind::InvalidInput => libc::EINVAL,
        ErrorKind::NotADirectory => libc::ENOTDIR,
        ErrorKind::IsADirectory => libc::EISDIR,
        ErrorKind::DirectoryNotEmpty => libc::ENOTEMPTY,
        ErrorKind::ReadOnly => libc::EROFS,
        ErrorKind::CrossDevice => libc::EXDEV,
        ErrorKind::NameTooLong => libc::ENAMETOOLONG,
        ErrorKind::SymlinkLoop => libc::ELOOP,
        ErrorKind::TooManyLinks => libc::EMLINK,
        ErrorKind::NoSpace => libc::ENOSPC,
        ErrorKind::FileTooLarge => libc::EFBIG,
        ErrorKind::Overflow => libc::EOVERFLOW,
        ErrorKind::Busy => libc::EBUSY,
        ErrorKind::FileBusy => libc::ETXTBSY,
        ErrorKind::WouldBlock => libc::EAGAIN,
        ErrorKind::TimedOut => libc::ETIMEDOUT,
        // What programs expect of a read no device can serve (and what
        // they handle): EIO, not ENOTCONN, which reads as a dead mount.
        ErrorKind::Unavailable => libc::EIO,
        ErrorKind::Corrupt => libc::EIO,
        ErrorKind::Unsupported => libc::EOPNOTSUPP,
        ErrorKind::NoAttribute => libc::ENODATA,
        ErrorKind::BufferTooSmall => libc::ERANGE,
        ErrorKind::ArgumentTooLarge => libc::E2BIG,
        ErrorKind::BadHandle => libc::EBADF,
        ErrorKind::NoSuchOffset => libc::ENXIO,
        ErrorKind::NotSeekable => libc::ESPIPE,
        ErrorKind::Interrupted => libc::EINTR,
        ErrorKind::Io => libc::EIO,
    };
    Errno::from_i32(code)
}

/// The errno for `e`.
pub fn errno(e: &Error) -> Errno {
    errno_of(e.kind())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind has an errno of its own kind: each maps back to itself
    /// through the OS code table core reads, except those that share one
    /// on purpose.
    #[test]
    fn every_kind_maps_to_an_errno_that_means_it() {
        for kind in ErrorKind::ALL {
            let code = errno_of(kind).code();
            let back = sdfs_core::sys::error_kind(&std::io::Error::from_raw_os_error(code));
            let shared = matches!(
                (kind, back),
                (ErrorKind::Unavailable | ErrorKind::Corrupt, ErrorKind::Io)
            );
            assert!(back == kind || shared, "{kind:?} -> {code} -> {back:?}");
        }
    }
}
