//! Open files and directories, and the passthrough backing ids they share.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use fuser::BackingId;
use sdfs_core::namespace::{Attr, Listing, NodeKey, OpenFile};

/// What a file handle refers to.
#[derive(Debug)]
pub enum Handle {
    /// An open file; `_io` keeps its inode's I/O mode (and passthrough
    /// backing id) alive while it is open, `_running` marks its inode as a
    /// running program's while an exec holds it.
    File {
        file: OpenFile,
        _io: IoMode,
        _running: Option<Arc<Running>>,
    },
    /// A directory: its own attributes (for `.` and `..`) and its entries,
    /// listed on the first readdir (the kernel may answer from its own
    /// cache and never ask).
    Dir(std::sync::OnceLock<(Attr, Listing)>),
}

/// How the kernel does I/O on an open inode. It allows one way at a time
/// per inode (an open in the other mode fails), so every open of an inode
/// follows the ones still open. Held by the handle while it is open.
#[derive(Debug, Clone)]
pub enum IoMode {
    /// Straight to a backing file.
    Passthrough(Arc<BackingId>),
    /// Through the page cache and our `read`.
    Cached { _token: Arc<CachedIo> },
}

/// A token held by each open of an inode in cached mode.
#[derive(Debug)]
pub struct CachedIo;

/// A token held by each open that an `execve` made: the program runs from
/// the inode until its process exits and the kernel releases the open.
#[derive(Debug)]
pub struct Running;

#[derive(Debug, Default)]
pub struct Handles {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Handle>>>,
    modes: Mutex<Modes>,
}

/// Per inode, the mode of its open handles (entries whose handles all
/// closed are dropped as new ones come).
#[derive(Debug, Default)]
struct Modes {
    /// One backing id per inode while any of its handles is open.
    backings: HashMap<u64, Weak<BackingId>>,
    cached: HashMap<u64, Weak<CachedIo>>,
    running: HashMap<u64, Weak<Running>>,
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

    /// An open handle of the node `key`: how a file whose last name is
    /// gone can still be stat'ed.
    pub fn open_file(&self, key: &NodeKey) -> Option<Arc<Handle>> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.values()
            .find(|h| matches!(&***h, Handle::File { file, .. } if file.key() == key))
            .cloned()
    }

    fn lock_modes(&self) -> std::sync::MutexGuard<'_, Modes> {
        self.modes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The mode of a new open of `ino` that could pass through to the file
    /// `make` registers: passthrough, unless other opens of the inode still
    /// go through the page cache.
    pub fn passthrough_io(
        &self,
        ino: u64,
        make: impl FnOnce() -> std::io::Result<BackingId>,
    ) -> std::io::Result<IoMode> {
        let mut modes = self.lock_modes();
        match modes.current(ino) {
            Some(mode) => Ok(mode),
            None => modes.new_backing(ino, make).map(IoMode::Passthrough),
        }
    }

    /// The mode of a new open of `ino` that only `read` can serve:
    /// cached, unless other opens already pass through to a file with the
    /// same bytes (a whole copy stays readable while they hold it).
    pub fn cached_io(&self, ino: u64) -> IoMode {
        let mut modes = self.lock_modes();
        modes.current(ino).unwrap_or_else(|| {
            let token = Arc::new(CachedIo);
            keep_while_held(&mut modes.cached, ino, &token);
            IoMode::Cached { _token: token }
        })
    }
}

impl Handles {
    /// Marks `ino` as a running program's for as long as the token is held.
    pub fn running(&self, ino: u64) -> Arc<Running> {
        let mut modes = self.lock_modes();
        if let Some(token) = modes.running.get(&ino).and_then(Weak::upgrade) {
            return token;
        }
        let token = Arc::new(Running);
        keep_while_held(&mut modes.running, ino, &token);
        token
    }

    /// Whether a program runs from `ino` (an exec's open of it is held).
    pub fn is_running(&self, ino: u64) -> bool {
        self.lock_modes()
            .running
            .get(&ino)
            .is_some_and(|w| w.strong_count() > 0)
    }
}

impl Modes {
    /// The mode of `ino`'s open handles, if any is open.
    fn current(&self, ino: u64) -> Option<IoMode> {
        if let Some(id) = self.backings.get(&ino).and_then(Weak::upgrade) {
            return Some(IoMode::Passthrough(id));
        }
        let token = self.cached.get(&ino).and_then(Weak::upgrade)?;
        Some(IoMode::Cached { _token: token })
    }

    fn new_backing(
        &mut self,
        ino: u64,
        make: impl FnOnce() -> std::io::Result<BackingId>,
    ) -> std::io::Result<Arc<BackingId>> {
        let id = Arc::new(make()?);
        keep_while_held(&mut self.backings, ino, &id);
        Ok(id)
    }
}

/// Records `held` for `ino`, forgetting entries no handle holds any more.
fn keep_while_held<T>(map: &mut HashMap<u64, Weak<T>>, ino: u64, held: &Arc<T>) {
    map.insert(ino, Arc::downgrade(held));
    map.retain(|_, w| w.strong_count() > 0);
}
