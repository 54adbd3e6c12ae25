//! sdfs Windows adapter over ProjFS (to come): maps ProjFS's path callbacks
//! onto the same core namespace API the FUSE adapter uses.
//!
//! Bound through Microsoft's `windows` crate (`Win32_Storage_ProjectedFileSystem`,
//! MIT/Apache-2.0) rather than `windows-projfs`, which is GPL-2.0 and could not
//! ship in one binary beside Apache-2.0 dependencies. The whole crate is
//! Windows-only, so Linux builds compile it to nothing.
#![cfg(windows)]
