//! Extended attributes of a file itself (never of a symlink's target).

use std::io;
use std::path::Path;

use super::calls::{check, cpath, cstr};
use crate::namespace::XattrSet;

/// Calls `f` with a null buffer for the size, then with a buffer that big.
fn sized(f: impl Fn(*mut libc::c_void, usize) -> libc::ssize_t) -> io::Result<Vec<u8>> {
    let size = f(std::ptr::null_mut(), 0);
    if size < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; size as usize];
    let got = f(buf.as_mut_ptr().cast(), buf.len());
    if got < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(got as usize);
    Ok(buf)
}

pub fn xattr_get(path: &Path, name: &[u8]) -> io::Result<Vec<u8>> {
    let (c, n) = (cpath(path)?, cstr(name)?);
    // SAFETY: valid strings; the buffer pointer and size come from `sized`.
    sized(|buf, size| unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf, size) })
}

pub fn xattr_set(path: &Path, name: &[u8], value: &[u8], how: XattrSet) -> io::Result<()> {
    let (c, n) = (cpath(path)?, cstr(name)?);
    let flags = match how {
        XattrSet::Either => 0,
        XattrSet::Create => libc::XATTR_CREATE,
        XattrSet::Replace => libc::XATTR_REPLACE,
    };
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

pub fn xattr_remove(path: &Path, name: &[u8]) -> io::Result<()> {
    let (c, n) = (cpath(path)?, cstr(name)?);
    // SAFETY: valid strings.
    check(unsafe { libc::lremovexattr(c.as_ptr(), n.as_ptr()) })
}

/// The NUL-separated list of names.
pub fn xattr_list(path: &Path) -> io::Result<Vec<u8>> {
    let c = cpath(path)?;
    // SAFETY: valid string; the buffer pointer and size come from `sized`.
    sized(|buf, size| unsafe { libc::llistxattr(c.as_ptr(), buf.cast(), size) })
}
