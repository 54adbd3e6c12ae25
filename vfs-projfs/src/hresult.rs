//! The one place where core errors become HRESULTs: by kind, in one match
//! with no catch-all arm, as `vfs-fuse` maps them to errno.

use sdfs_core::{Error, ErrorKind};

/// An HRESULT, as ProjFS's callbacks return it.
pub type HResult = i32;

pub const S_OK: HResult = 0;

/// `HRESULT_FROM_WIN32(code)`.
pub const fn from_win32(code: u32) -> HResult {
    if code == 0 {
        S_OK
    } else {
        ((code & 0xFFFF) | 0x8007_0000) as HResult
    }
}

// Win32 error codes (winerror.h).
const ERROR_FILE_NOT_FOUND: u32 = 2;
const ERROR_ACCESS_DENIED: u32 = 5;
const ERROR_INVALID_HANDLE: u32 = 6;
const ERROR_NOT_SAME_DEVICE: u32 = 17;
const ERROR_WRITE_PROTECT: u32 = 19;
const ERROR_SHARING_VIOLATION: u32 = 32;
const ERROR_HANDLE_EOF: u32 = 38;
const ERROR_NOT_SUPPORTED: u32 = 50;
const ERROR_FILE_EXISTS: u32 = 80;
const ERROR_INVALID_PARAMETER: u32 = 87;
const ERROR_DISK_FULL: u32 = 112;
const ERROR_INSUFFICIENT_BUFFER: u32 = 122;
const ERROR_INVALID_NAME: u32 = 123;
const ERROR_NEGATIVE_SEEK: u32 = 131;
const ERROR_DIR_NOT_EMPTY: u32 = 145;
const ERROR_BUSY: u32 = 170;
const ERROR_FILENAME_EXCED_RANGE: u32 = 206;
const ERROR_FILE_TOO_LARGE: u32 = 223;
const ERROR_NO_MORE_ITEMS: u32 = 259;
const ERROR_DIRECTORY: u32 = 267;
const ERROR_EA_LIST_INCONSISTENT: u32 = 255;
const ERROR_ARITHMETIC_OVERFLOW: u32 = 534;
const ERROR_OPERATION_ABORTED: u32 = 995;
const ERROR_IO_DEVICE: u32 = 1117;
const ERROR_CANT_RESOLVE_FILENAME: u32 = 1921;
const ERROR_TOO_MANY_LINKS: u32 = 1142;
const ERROR_FILE_CORRUPT: u32 = 1392;
const ERROR_TIMEOUT: u32 = 1460;
const ERROR_NETWORK_UNREACHABLE: u32 = 1231;
const ERROR_CANT_ACCESS_FILE: u32 = 1920;
const ERROR_RETRY: u32 = 1237;

/// The HRESULT for an error of `kind`.
pub fn of_kind(kind: ErrorKind) -> HResult {
    from_win32(match kind {
        ErrorKind::NotFound => ERROR_FILE_NOT_FOUND,
        ErrorKind::AlreadyExists => ERROR_FILE_EXISTS,
        ErrorKind::PermissionDenied | ErrorKind::NotPermitted => ERROR_ACCESS_DENIED,
        ErrorKind::InvalidInput => ERROR_INVALID_PARAMETER,
        ErrorKind::NotADirectory => ERROR_DIRECTORY,
        // Windows says "access denied" for opening a directory as a file.
        ErrorKind::IsADirectory => ERROR_ACCESS_DENIED,
        ErrorKind::DirectoryNotEmpty => ERROR_DIR_NOT_EMPTY,
        ErrorKind::ReadOnly => ERROR_WRITE_PROTECT,
        ErrorKind::CrossDevice => ERROR_NOT_SAME_DEVICE,
        ErrorKind::NameTooLong => ERROR_FILENAME_EXCED_RANGE,
        ErrorKind::SymlinkLoop => ERROR_CANT_RESOLVE_FILENAME,
        ErrorKind::TooManyLinks => ERROR_TOO_MANY_LINKS,
        ErrorKind::NoSpace => ERROR_DISK_FULL,
        ErrorKind::FileTooLarge => ERROR_FILE_TOO_LARGE,
        ErrorKind::Overflow => ERROR_ARITHMETIC_OVERFLOW,
        ErrorKind::Busy => ERROR_BUSY,
        ErrorKind::FileBusy => ERROR_SHARING_VIOLATION,
        // Never ERROR_IO_PENDING: that promises a PrjCompleteCommand later,
        // and every callback here answers before it returns.
        ErrorKind::WouldBlock => ERROR_RETRY,
        ErrorKind::TimedOut => ERROR_TIMEOUT,
        ErrorKind::Unavailable => ERROR_NETWORK_UNREACHABLE,
        ErrorKind::Corrupt => ERROR_FILE_CORRUPT,
        ErrorKind::Unsupported => ERROR_NOT_SUPPORTED,
        ErrorKind::NoAttribute => ERROR_EA_LIST_INCONSISTENT,
        ErrorKind::BufferTooSmall => ERROR_INSUFFICIENT_BUFFER,
        ErrorKind::ArgumentTooLarge => ERROR_INVALID_PARAMETER,
        ErrorKind::BadHandle => ERROR_INVALID_HANDLE,
        ErrorKind::NoSuchOffset => ERROR_HANDLE_EOF,
        ErrorKind::NotSeekable => ERROR_NEGATIVE_SEEK,
        ErrorKind::Interrupted => ERROR_OPERATION_ABORTED,
        ErrorKind::Io => ERROR_IO_DEVICE,
    })
}

/// The HRESULT for `e`.
pub fn of(e: &Error) -> HResult {
    of_kind(e.kind())
}

/// What ProjFS expects when an enumeration has nothing more.
pub const NO_MORE_ITEMS: HResult = from_win32(ERROR_NO_MORE_ITEMS);
/// A name Windows gave that the core has no name for.
pub const INVALID_NAME: HResult = from_win32(ERROR_INVALID_NAME);
/// A file that cannot be read (the callback is told so for a placeholder
/// whose bytes no device serves).
pub const CANT_ACCESS_FILE: HResult = from_win32(ERROR_CANT_ACCESS_FILE);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_a_failure_code_of_the_win32_facility() {
        for kind in ErrorKind::ALL {
            let h = of_kind(kind) as u32;
            assert_eq!(h & 0xFFFF_0000, 0x8007_0000, "{kind:?}: {h:#x}");
        }
        assert_eq!(of_kind(ErrorKind::NotFound) as u32, 0x8007_0002);
        assert_eq!(of_kind(ErrorKind::ReadOnly) as u32, 0x8007_0013);
        assert_eq!(NO_MORE_ITEMS as u32, 0x8007_0103);
        // No kind leaves a callback pending: none completes later.
        const ERROR_IO_PENDING: u32 = 997;
        for kind in ErrorKind::ALL {
            assert_ne!(of_kind(kind), from_win32(ERROR_IO_PENDING), "{kind:?}");
        }
    }
}
