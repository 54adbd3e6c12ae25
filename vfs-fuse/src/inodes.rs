//! The inode table: FUSE node ids for namespace nodes, with lookup counts.
//!
//! fuser answers an entry with `attr.ino` as its node id, so node id and
//! `st_ino` are one number here: the stable number core derives from the
//! node's identity ([`NodeKey::ino`]). A file keeps it across renames,
//! hard links, index refreshes, forgets and remounts. Should two keys ever
//! hash to one number, the second takes the next free one while the first
//! is known (so two files never share a node id).

use std::collections::HashMap;
use std::sync::Mutex;

use sdfs_core::namespace::{Attr, Node, NodeKey, Renamed, Unlinked};

/// Node id of the mount root (FUSE's fixed one).
pub const ROOT: u64 = 1;

#[derive(Debug)]
struct Slot {
    key: NodeKey,
    /// Every name the node was seen under, newest last (several only for
    /// hard links).
    names: Vec<Node>,
    lookups: u64,
}

#[derive(Debug, Default)]
struct Inner {
    by_ino: HashMap<u64, Slot>,
    by_key: HashMap<NodeKey, u64>,
}

/// Thread-safe inode table.
#[derive(Debug)]
pub struct Inodes(Mutex<Inner>);

impl Inodes {
    pub fn new() -> Inodes {
        let root = Node::root();
        let mut inner = Inner::default();
        inner.by_key.insert(root.key(), ROOT);
        inner.by_ino.insert(
            ROOT,
            Slot {
                key: root.key(),
                names: vec![root],
                lookups: 1,
            },
        );
        Inodes(Mutex::new(inner))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node behind `ino`, by a name that still leads to it when one does.
    pub fn node(&self, ino: u64) -> Option<Node> {
        let inner = self.lock();
        let names = &inner.by_ino.get(&ino)?.names;
        match names.as_slice() {
            [only] => Some(only.clone()),
            many => many
                .iter()
                .rev()
                .find(|n| n.still_named())
                .or(many.last())
                .cloned(),
        }
    }

    /// Records one kernel lookup of `node` and returns its id.
    pub fn intern(&self, node: &Node, attr: &Attr) -> u64 {
        let key = node.key();
        let mut inner = self.lock();
        if let Some(&ino) = inner.by_key.get(&key)
            && let Some(slot) = inner.by_ino.get_mut(&ino)
        {
            slot.lookups += 1;
            slot.names.retain(|n| n != node);
            slot.names.push(node.clone());
            return ino;
        }
        let mut ino = attr.ino;
        while ino <= ROOT || inner.by_ino.contains_key(&ino) {
            ino = ino.wrapping_add(1);
        }
        if ino != attr.ino {
            tracing::warn!("inode number {} taken; {key:?} gets {ino}", attr.ino);
        }
        inner.by_key.insert(key.clone(), ino);
        inner.by_ino.insert(
            ino,
            Slot {
                key,
                names: vec![node.clone()],
                lookups: 1,
            },
        );
        ino
    }

    /// The id `node` has or will have (for plain readdir, which takes no
    /// lookup).
    pub fn peek(&self, node: &Node, attr: &Attr) -> u64 {
        self.lock()
            .by_key
            .get(&node.key())
            .copied()
            .unwrap_or(attr.ino)
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

    /// A name went away (unlink, rmdir): a node with other names forgets it.
    pub fn unlinked(&self, gone: &Unlinked) {
        for slot in self.lock().by_ino.values_mut() {
            if slot.names.len() > 1 {
                slot.names.retain(|n| !gone.was(n));
            }
        }
    }

    /// Names moved by a rename, and the one it replaced. A node a rename
    /// turned into another kind (another device's file into this device's
    /// trash, a staged copy) is found by its new key from then on, and its
    /// old key is free: a new file at the old name is another inode.
    pub fn renamed(&self, rename: &Renamed) {
        let mut inner = self.lock();
        let mut rekeyed = Vec::new();
        for (&ino, slot) in inner.by_ino.iter_mut() {
            if slot.names.len() > 1 {
                slot.names.retain(|n| !rename.replaced(n));
            }
            let mut moved = false;
            for name in slot.names.iter_mut() {
                if let Some(now) = rename.apply(name) {
                    *name = now;
                    moved = true;
                }
            }
            if let Some(last) = slot.names.last().filter(|_| moved) {
                let key = last.key();
                if key != slot.key {
                    rekeyed.push((std::mem::replace(&mut slot.key, key.clone()), key, ino));
                }
            }
        }
        for (old, new, ino) in rekeyed {
            if inner.by_key.get(&old) == Some(&ino) {
                inner.by_key.remove(&old);
            }
            inner.by_key.insert(new, ino);
        }
    }

    /// The id of the node with `key`, if the kernel knows it.
    pub fn ino_of(&self, key: &NodeKey) -> Option<u64> {
        self.lock().by_key.get(key).copied()
    }
}

impl Default for Inodes {
    fn default() -> Self {
        Self::new()
    }
}
