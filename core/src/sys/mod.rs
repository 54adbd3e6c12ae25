//! The operating system underneath: every system call core makes that the
//! standard library does not, and the one place raw OS error codes become
//! [`ErrorKind`](crate::ErrorKind)s. Nothing else in core names `libc`.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;
