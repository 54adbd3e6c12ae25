//! Content identification of one file: the sampled hash and the file kind.
//! Runs on worker threads; the result is checked against the index before use.

use std::fs::File;
use std::os::unix::fs::MetadataExt;

use crate::content_hash::{ContentHash, content_hash_of_file};
use crate::kind::classify;
use crate::time::stat_nanos;

/// A file to identify, with the metadata the index has for it.
#[derive(Debug)]
pub struct IdentifyTask {
    pub id: u64,
    pub path: std::path::PathBuf,
    pub size: u64,
    pub mtime: i64,
}

/// What identification found.
#[derive(Debug)]
pub enum IdentifyOutcome {
    Identified {
        id: u64,
        hash: ContentHash,
        kind: u8,
        size: u64,
    },
    /// The file changed or vanished since it was indexed; the next processing
    /// pass (or the watcher) brings the index up to date first.
    Changed,
    Failed {
        message: String,
    },
}

/// Hashes one file, refusing a result if the file changed while it was read.
pub fn identify(task: &IdentifyTask, buf: &mut Vec<u8>) -> IdentifyOutcome {
    let id = task.id;
    let file = match File::open(&task.path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return IdentifyOutcome::Changed,
        Err(e) => {
            return IdentifyOutcome::Failed {
                message: format!("{}: {e}", task.path.display()),
            };
        }
    };
    let same = |md: &std::fs::Metadata| {
        md.len() == task.size && stat_nanos(md.mtime(), md.mtime_nsec()) == task.mtime
    };
    match file.metadata() {
        Ok(md) if same(&md) => {}
        Ok(_) => return IdentifyOutcome::Changed,
        Err(e) => {
            return IdentifyOutcome::Failed {
                message: format!("{}: {e}", task.path.display()),
            };
        }
    }
    let hashed = match content_hash_of_file(&file, task.size, buf) {
        Ok(h) => h,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return IdentifyOutcome::Changed,
        Err(e) => {
            return IdentifyOutcome::Failed {
                message: format!("{}: {e}", task.path.display()),
            };
        }
    };
    // A write during hashing shows in mtime or size: never record a hash of
    // bytes the file no longer has.
    match file.metadata() {
        Ok(md) if same(&md) => {}
        _ => return IdentifyOutcome::Changed,
    }
    let Some(hash) = hashed.hash else {
        return IdentifyOutcome::Changed;
    };
    let name = task
        .path
        .file_name()
        .map(std::os::unix::ffi::OsStrExt::as_bytes)
        .unwrap_or_default();
    IdentifyOutcome::Identified {
        id,
        hash,
        kind: classify(name, &hashed.head).code(),
        size: task.size,
    }
}
