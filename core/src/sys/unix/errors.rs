//! Raw OS error codes as kinds: the only place core reads one.

use std::io;

use crate::error::ErrorKind;

/// The kind of an OS error. Codes with no kind of their own are `Io`.
pub fn error_kind(e: &io::Error) -> ErrorKind {
    let Some(code) = e.raw_os_error() else {
        return from_std(e.kind());
    };
    match code {
        libc::ENOENT => ErrorKind::NotFound,
        libc::EEXIST => ErrorKind::AlreadyExists,
        libc::EACCES => ErrorKind::PermissionDenied,
        libc::EPERM => ErrorKind::NotPermitted,
        libc::ENOTDIR => ErrorKind::NotADirectory,
        libc::EISDIR => ErrorKind::IsADirectory,
        libc::ENOTEMPTY => ErrorKind::DirectoryNotEmpty,
        libc::EROFS => ErrorKind::ReadOnly,
        libc::EXDEV => ErrorKind::CrossDevice,
        libc::ENAMETOOLONG => ErrorKind::NameTooLong,
        libc::ELOOP => ErrorKind::SymlinkLoop,
        libc::EMLINK => ErrorKind::TooManyLinks,
        libc::ENOSPC | libc::EDQUOT => ErrorKind::NoSpace,
        libc::EFBIG => ErrorKind::FileTooLarge,
        libc::EOVERFLOW => ErrorKind::Overflow,
        libc::EBUSY => ErrorKind::Busy,
        libc::ETXTBSY => ErrorKind::FileBusy,
        libc::EAGAIN => ErrorKind::WouldBlock,
        libc::ETIMEDOUT => ErrorKind::TimedOut,
        libc::ENOTCONN | libc::EHOSTUNREACH | libc::ENETUNREACH | libc::ECONNREFUSED => {
            ErrorKind::Unavailable
        }
        libc::EINVAL | libc::EFAULT => ErrorKind::InvalidInput,
        libc::ENODATA => ErrorKind::NoAttribute,
        libc::ERANGE => ErrorKind::BufferTooSmall,
        libc::E2BIG => ErrorKind::ArgumentTooLarge,
        libc::EBADF => ErrorKind::BadHandle,
        libc::ENXIO => ErrorKind::NoSuchOffset,
        libc::EINTR => ErrorKind::Interrupted,
        libc::ENOTSUP | libc::ENOSYS | libc::ENOTTY => ErrorKind::Unsupported,
        libc::ESPIPE => ErrorKind::NotSeekable,
        _ => ErrorKind::Io,
    }
}

/// Errors made by std or by us without an OS code.
fn from_std(kind: io::ErrorKind) -> ErrorKind {
    match kind {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
        io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => ErrorKind::InvalidInput,
        io::ErrorKind::TimedOut => ErrorKind::TimedOut,
        io::ErrorKind::WouldBlock => ErrorKind::WouldBlock,
        io::ErrorKind::Interrupted => ErrorKind::Interrupted,
        io::ErrorKind::Unsupported => ErrorKind::Unsupported,
        io::ErrorKind::UnexpectedEof => ErrorKind::Io,
        _ => ErrorKind::Io,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_and_not_permitted_stay_apart() {
        let kind = |c| error_kind(&io::Error::from_raw_os_error(c));
        assert_eq!(kind(libc::EACCES), ErrorKind::PermissionDenied);
        assert_eq!(kind(libc::EPERM), ErrorKind::NotPermitted);
        assert_eq!(kind(libc::ENAMETOOLONG), ErrorKind::NameTooLong);
        assert_eq!(kind(libc::EXDEV), ErrorKind::CrossDevice);
        assert_eq!(kind(libc::ENODATA), ErrorKind::NoAttribute);
        assert_eq!(kind(libc::EHWPOISON), ErrorKind::Io);
    }
}
