//! The inode table: FUSE node ids for namespace nodes, with lookup counts.
//!
//! Local files are identified by their backing (device, inode), so renames
//! and hard links keep one node id; the table remembers every path a node
//! is known under. Node ids are never reused, so generation stays 0.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sdfs_core::ids::{ContentId, LocationId};
use sdfs_core::namespace::{Attr, Node};

/// Node id of the mount root.
pub const ROOT: u64 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Root,
    Device,
    ContentDir,
    Content(ContentId),
    File {
        dev: u64,
        ino: u64,
    },
    Peer(sdfs_core::ids::DeviceId),
    Remote {
        device: sdfs_core::ids::DeviceId,
        entry: u64,
    },
    Live {
        device: sdfs_core::ids::DeviceId,
        location: LocationId,
        path: PathBuf,
    },
}

#[derive(Debug)]
struct Slot {
    key: Key,
    location: Option<LocationId>,
    /// Every path this local node was seen under, newest last.
    paths: Vec<PathBuf>,
    node: Node,
    lookups: u64,
}

#[derive(Debug, Default)]
struct Inner {
    by_ino: HashMap<u64, Slot>,
    by_key: HashMap<Key, u64>,
    next: u64,
}

/// Thread-safe inode table.
#[derive(Debug)]
pub struct Inodes(Mutex<Inner>);

fn key_of(node: &Node, attr: &Attr) -> Key {
    match node {
        Node::Root => Key::Root,
        Node::Device => Key::Device,
        Node::ContentDir => Key::ContentDir,
        Node::Content(id) => Key::Content(*id),
        Node::Peer(device) => Key::Peer(*device),
        Node::Remote { device, entry } => Key::Remote {
            device: *device,
            entry: *entry,
        },
        Node::Live {
            device,
            location,
            path,
        } => Key::Live {
            device: *device,
            location: *location,
            path: path.clone(),
        },
        Node::Local { .. } => Key::File {
            dev: attr.dev,
            ino: attr.ino,
        },
    }
}

impl Inodes {
    pub fn new() -> Inodes {
        let mut inner = Inner {
            next: ROOT + 1,
            ..Inner::default()
        };
        inner.by_key.insert(Key::Root, ROOT);
        inner.by_ino.insert(
            ROOT,
            Slot {
                key: Key::Root,
                location: None,
                paths: Vec::new(),
                node: Node::Root,
                lookups: 1,
            },
        );
        Inodes(Mutex::new(inner))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node behind `ino`, with a path that still exists when one does.
    pub fn node(&self, ino: u64) -> Option<Node> {
        let inner = self.lock();
        let slot = inner.by_ino.get(&ino)?;
        match (&slot.node, slot.location) {
            (Node::Local { .. }, Some(location)) => {
                // Only hard links have several names; then take one that exists.
                let path = match slot.paths.as_slice() {
                    [only] => only,
                    many => many
                        .iter()
                        .rev()
                        .find(|p| p.symlink_metadata().is_ok())
                        .or(many.last())?,
                };
                Some(Node::Local {
                    location,
                    path: path.clone(),
                })
            }
            (node, _) => Some(node.clone()),
        }
    }

    /// Records one kernel lookup of `node` and returns its id.
    pub fn intern(&self, node: &Node, attr: &Attr) -> u64 {
        self.insert(node, attr, 1)
    }

    /// The id of `node` if the kernel knows it, else the backing inode (for
    /// plain readdir, which takes no lookup).
    pub fn peek(&self, node: &Node, attr: &Attr) -> u64 {
        self.lock()
            .by_key
            .get(&key_of(node, attr))
            .copied()
            .unwrap_or(attr.ino.max(2))
    }

    fn insert(&self, node: &Node, attr: &Attr, lookups: u64) -> u64 {
        let key = key_of(node, attr);
        let mut inner = self.lock();
        if let Some(&ino) = inner.by_key.get(&key) {
            if let Some(slot) = inner.by_ino.get_mut(&ino) {
                slot.lookups += lookups;
                if let Node::Local { path, .. } = node {
                    slot.paths.retain(|p| p != path);
                    slot.paths.push(path.clone());
                    slot.node = node.clone();
                }
            }
            return ino;
        }
        let ino = inner.next;
        inner.next += 1;
        let (location, paths) = match node {
            Node::Local { location, path } => (Some(*location), vec![path.clone()]),
            _ => (None, Vec::new()),
        };
        inner.by_key.insert(key.clone(), ino);
        inner.by_ino.insert(
            ino,
            Slot {
                key,
                location,
                paths,
                node: node.clone(),
                lookups,
            },
        );
        ino
    }

    /// The kernel dropped `n` lookups of `ino`.
    pub fn forget(&self, ino: u64, n: u64) {
        if ino == ROOT {
            return;
        }
        let mut inner = self.lock();
        let gone = match inner.by_ino.get_mut(&ino) {
            Some(slot) => {
                slot.lookups = slot.lookups.saturating_sub(n);
                slot.lookups == 0
            }
            None => false,
        };
        if gone && let Some(slot) = inner.by_ino.remove(&ino) {
            inner.by_key.remove(&slot.key);
        }
    }

    /// A name went away (unlink, rmdir): forget that path.
    pub fn unlinked(&self, path: &Path) {
        let mut inner = self.lock();
        for slot in inner.by_ino.values_mut() {
            if slot.paths.len() > 1 {
                slot.paths.retain(|p| p != path);
            }
        }
    }

    /// `from` is now `to` (and everything below moves with it).
    pub fn renamed(&self, from: &Path, to: &Path) {
        let mut inner = self.lock();
        for slot in inner.by_ino.values_mut() {
            for p in slot.paths.iter_mut() {
                if let Ok(rest) = p.strip_prefix(from) {
                    *p = if rest.as_os_str().is_empty() {
                        to.to_owned()
                    } else {
                        to.join(rest)
                    };
                }
            }
        }
    }

    /// `a` and `b` swapped places (RENAME_EXCHANGE).
    pub fn exchanged(&self, a: &Path, b: &Path) {
        let mut inner = self.lock();
        for slot in inner.by_ino.values_mut() {
            for p in slot.paths.iter_mut() {
                if let Ok(rest) = p.strip_prefix(a) {
                    *p = if rest.as_os_str().is_empty() {
                        b.to_owned()
                    } else {
                        b.join(rest)
                    };
                } else if let Ok(rest) = p.strip_prefix(b) {
                    *p = if rest.as_os_str().is_empty() {
                        a.to_owned()
                    } else {
                        a.join(rest)
                    };
                }
            }
        }
    }

    /// The backing (dev, ino) of a local node.
    pub fn backing_key(&self, ino: u64) -> Option<(u64, u64)> {
        match self.lock().by_ino.get(&ino)?.key {
            Key::File { dev, ino } => Some((dev, ino)),
            _ => None,
        }
    }

    /// The id of the local node at `path`, if the kernel knows it.
    pub fn ino_of_local(&self, dev: u64, ino: u64) -> Option<u64> {
        self.lock().by_key.get(&Key::File { dev, ino }).copied()
    }

    /// The id of another device's entry, if the kernel knows it.
    pub fn ino_of_remote(&self, device: sdfs_core::ids::DeviceId, entry: u64) -> Option<u64> {
        self.lock()
            .by_key
            .get(&Key::Remote { device, entry })
            .copied()
    }
}

impl Default for Inodes {
    fn default() -> Self {
        Self::new()
    }
}
