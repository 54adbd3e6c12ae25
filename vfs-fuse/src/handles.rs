//! Open files and directories, and the passthrough backing ids they share.

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use fuser::BackingId;
use sdfs_core::namespace::Node;

/// A snapshot of a directory taken at opendir, so offsets stay stable.
#[derive(Debug)]
pub struct DirSnapshot {
    /// (name, node, attr) including `.` and `..`.
    pub entries: Vec<(Vec<u8>, Node, sdfs_core::namespace::Attr)>,
}

/// What a file handle refers to.
#[derive(Debug)]
pub enum Handle {
    /// A local file; `backing` is set (and kept alive for as long as the
    /// handle is open) when the kernel reads and writes the file directly.
    File {
        file: File,
        /// Backing (dev, ino) of the file.
        key: (u64, u64),
        _backing: Option<Arc<BackingId>>,
    },
    /// A content opened by id, read chunk by chunk, each verified.
    Content(sdfs_core::content_store::ContentHandle),
    /// A directory; listed on the first readdir (the kernel may answer from
    /// its own cache and never ask).
    Dir(std::sync::OnceLock<DirSnapshot>),
}

#[derive(Debug, Default)]
pub struct Handles {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Handle>>>,
    /// One backing id per inode while any of its handles is open.
    backings: Mutex<HashMap<u64, Weak<BackingId>>>,
}

impl Handles {
    pub fn insert(&self, handle: Handle) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(fh, Arc::new(handle));
        fh
    }

    pub fn get(&self, fh: u64) -> Option<Arc<Handle>> {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&fh)
            .cloned()
    }

    pub fn remove(&self, fh: u64) {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&fh);
    }

    /// An open local file with backing (dev, ino) `key`: how a file whose
    /// last name is gone can still be stat'ed.
    pub fn open_file(&self, key: (u64, u64)) -> Option<Arc<Handle>> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.values()
            .find(|h| matches!(&***h, Handle::File { key: k, .. } if *k == key))
            .cloned()
    }

    /// The backing id already registered for `ino`, or one made by `make`.
    pub fn backing(
        &self,
        ino: u64,
        make: impl FnOnce() -> std::io::Result<BackingId>,
    ) -> std::io::Result<Arc<BackingId>> {
        let mut backings = self.backings.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = backings.get(&ino).and_then(Weak::upgrade) {
            return Ok(id);
        }
        let id = Arc::new(make()?);
        backings.insert(ino, Arc::downgrade(&id));
        backings.retain(|_, w| w.strong_count() > 0);
        Ok(id)
    }
}
