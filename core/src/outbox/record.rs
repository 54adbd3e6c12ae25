//! What the outbox stores: one record per name of another device's tree
//! that this device changed and the owner has not confirmed yet, keyed so
//! that a directory's changed children are one range.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{DeviceId, LocationId};

/// A version of a file as its owner has it: what a change was based on, so
/// the owner can tell whether its file changed meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// The whole-file BLAKE3, when known.
    pub hash: Option<[u8; 32]>,
    pub size: u64,
    /// Unix nanoseconds.
    pub mtime: i64,
    pub directory: bool,
}

/// What this device did to a name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// New content, in staging file `staged` of the outbox; its size and
    /// mtime are the staging file's.
    File { staged: u64, mode: u32 },
    /// The owner's content, with a new mode or mtime.
    Attrs { mode: u32, mtime: i64 },
    /// A new directory.
    Directory { mode: u32, mtime: i64 },
    /// Removed (a file, or an empty directory).
    Removed,
    /// The content the owner has at `from` (another name below the same
    /// location), as it was in version `source`: a file renamed here and
    /// not rewritten, which the owner copies itself (a bucket's server-side
    /// copy) instead of this device fetching and sending it. The removal
    /// of `from` is ordered after it. Only cloud volumes take it.
    Copied {
        from: Vec<u8>,
        source: Option<Version>,
        mode: u32,
    },
}

/// One staged change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staged {
    /// Delivery order: the change staged last is delivered last.
    pub seq: u64,
    pub change: Change,
    /// What the owner had under this name before this device's first
    /// change to it (`None`: nothing).
    pub base: Option<Version>,
    /// The owner's entry this name had when first changed, which keeps its
    /// inode number in the mount.
    pub entry: Option<u64>,
    /// Set once the owner applied the change: the version it now has.
    /// The record stays (and shows) until the replica of the owner's index
    /// catches up, so the mount never flickers back to the old version.
    pub delivered: Option<Version>,
    /// Unix nanoseconds of the last change.
    pub changed_at: i64,
}

impl Staged {
    pub fn encode(&self) -> Vec<u8> {
        crate::model::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Staged> {
        crate::model::decode("outbox", bytes)
    }

    /// What the owner has under this name as far as this device knows:
    /// the delivered version, else the base.
    pub fn owner_has(&self) -> Option<Version> {
        self.delivered.or(self.base)
    }
}

/// Where a staged change applies: a name below a location of a device.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub device: DeviceId,
    pub location: LocationId,
    /// Below the location's root, `/`-separated, never empty.
    pub path: Vec<u8>,
}

impl Target {
    pub fn new(device: DeviceId, location: LocationId, path: Vec<u8>) -> Target {
        Target {
            device,
            location,
            path,
        }
    }

    /// The key: device, location, parent path, NUL, name. Names hold no
    /// NUL, so the children of one directory are one key range.
    pub fn key(&self) -> Vec<u8> {
        let (parent, name) = split(&self.path);
        let mut key = dir_prefix(self.device, self.location, parent);
        key.extend_from_slice(name);
        key
    }

    pub fn from_key(key: &[u8]) -> Result<Target> {
        let bad = || Error::CorruptRecord {
            table: "outbox",
            detail: "a malformed key".into(),
        };
        if key.len() < 33 {
            return Err(bad());
        }
        let device = DeviceId::from_bytes(key[..16].try_into().map_err(|_| bad())?);
        let location = LocationId::from_bytes(key[16..32].try_into().map_err(|_| bad())?);
        let rest = &key[32..];
        let nul = rest.iter().position(|b| *b == 0).ok_or_else(bad)?;
        let (parent, name) = (&rest[..nul], &rest[nul + 1..]);
        Ok(Target::new(device, location, join(parent, name)))
    }

    /// The directory holding this name (empty for the location root).
    pub fn parent(&self) -> &[u8] {
        split(&self.path).0
    }

    pub fn name(&self) -> &[u8] {
        split(&self.path).1
    }

    /// The name `name` in this directory.
    pub fn child(&self, name: &[u8]) -> Target {
        Target::new(self.device, self.location, join(&self.path, name))
    }
}

/// The key prefix of the children of `dir`.
pub fn dir_prefix(device: DeviceId, location: LocationId, dir: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(34 + dir.len());
    key.extend_from_slice(&device.to_bytes());
    key.extend_from_slice(&location.to_bytes());
    key.extend_from_slice(dir);
    key.push(0);
    key
}

/// `path` as (parent, name).
pub fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|b| *b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[][..], path),
    }
}

/// `dir/name`, or `name` at the root.
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut path = Vec::with_capacity(dir.len() + 1 + name.len());
    path.extend_from_slice(dir);
    path.push(b'/');
    path.extend_from_slice(name);
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(1u8..=255, 1..12).prop_filter("no slash", |n| !n.contains(&b'/'))
    }

    proptest! {
        #[test]
        fn keys_round_trip(parts in proptest::collection::vec(name(), 1..5)) {
            let path = parts.join(&b'/');
            let target = Target::new(DeviceId::new_random(), LocationId::new_random(), path);
            prop_assert_eq!(Target::from_key(&target.key()).expect("decodes"), target);
        }

        /// A directory's range holds its children and nothing deeper.
        #[test]
        fn children_share_a_prefix_grandchildren_do_not(
            dir in proptest::collection::vec(name(), 0..3),
            a in name(),
            b in name(),
        ) {
            let (d, l) = (DeviceId::new_random(), LocationId::new_random());
            let dir = dir.join(&b'/');
            let prefix = dir_prefix(d, l, &dir);
            let child = Target::new(d, l, join(&dir, &a));
            let grandchild = child.child(&b);
            prop_assert!(child.key().starts_with(&prefix));
            prop_assert!(!grandchild.key().starts_with(&prefix));
        }
    }
}
