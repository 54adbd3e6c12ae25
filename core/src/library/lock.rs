//! The library lock: one process at a time, and the others are told who.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// An exclusive flock(2) on the library's `lock` file, released on drop (and by
/// the kernel when the process dies, so a crash never leaves a stale lock).
#[derive(Debug)]
pub(super) struct LockFile {
    _file: File,
}

impl LockFile {
    pub(super) fn acquire(path: &Path) -> Result<LockFile> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        if !crate::sys::try_lock_exclusive(&file).map_err(|e| Error::io(path, e))? {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let pid = text.trim().parse().unwrap_or(0);
            return Err(Error::LibraryInUse {
                pid,
                path: path.parent().unwrap_or(path).to_owned(),
            });
        }
        file.set_len(0).map_err(|e| Error::io(path, e))?;
        file.rewind().map_err(|e| Error::io(path, e))?;
        write!(file, "{}", std::process::id()).map_err(|e| Error::io(path, e))?;
        Ok(LockFile { _file: file })
    }
}
