//! Nodes of the namespace and their identity.
//!
//! A [`Node`] is opaque outside core: adapters keep it in their inode
//! tables and hand it back, but never look inside, so a new kind of node
//! reaches every adapter without a change there. Its [`NodeKey`] is what
//! stays the same while the node exists (across renames, hard links and
//! index refreshes), and the number `stat` shows is derived from that key
//! alone (see `docs/design/mount.md`).

use std::path::{Path, PathBuf};

use crate::ids::{ContentId, DeviceId, LocationId};

/// A file or directory of the mount.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node(pub(crate) Kind);

/// What a node is. Each kind's operations live in a module of its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// The mount root: one directory per device.
    Root,
    /// This device: one directory per location.
    Device,
    /// `/.content`.
    ContentDir,
    /// `/.content/<id>`: served from a verified local instance.
    Content(ContentId),
    /// `/.search`: a directory for every query, named by it.
    SearchRoot,
    /// `/.search/<query>`: the files the query finds.
    Search(Vec<u8>),
    /// `/.tags`: a directory per tag.
    TagsRoot,
    /// `/.tags/<tag>`: the files tagged with it or a tag below it.
    Tag(String),
    /// A link just made in a tag's directory to tag its target: shown as
    /// the link until the name is looked up again (then as the file).
    TagLink(Vec<u8>),
    /// A copy being written into a tag's directory (see `tag_dirs`).
    TagCopy(Vec<u8>),
    /// A file or directory in a location of this device: its current path
    /// and its backing (dev, ino), which is its identity.
    Local {
        location: LocationId,
        path: PathBuf,
        dev: u64,
        ino: u64,
    },
    /// A paired device: one directory per location of its replica.
    Peer(DeviceId),
    /// A file or directory of one of this device's cloud volumes, served
    /// from the volume's index: `entry` is its entry there.
    Cloud { location: LocationId, entry: u64 },
    /// An entry of a paired device, served from the replica of its index.
    Remote { device: DeviceId, entry: u64 },
    /// A file or directory of a paired device that its indexer rules skip,
    /// listed live from it: `path` is below the location's root.
    Live {
        device: DeviceId,
        location: LocationId,
        path: PathBuf,
    },
    /// A name of another device's tree with a change this device staged
    /// (see `outgoing`): `path` is below the location's root; `entry` is
    /// the owner's entry the name had, which keeps its inode number; else
    /// `file`, the staging file, which keeps it across renames (a path
    /// would not: `config.lock` renamed to `config` and made again is a
    /// new file under the old name).
    /// `cloud`: the tree is one of this device's cloud volumes (`device`
    /// is this device), so `entry` is an entry of its own index.
    Staged {
        cloud: bool,
        device: DeviceId,
        location: LocationId,
        path: Vec<u8>,
        entry: Option<u64>,
        file: Option<u64>,
    },
}

/// The identity of a node: one key for all names of a file, the same
/// before and after a rename or a refresh of the index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeKey(KeyRepr);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum KeyRepr {
    Root,
    Device,
    ContentDir,
    Content(ContentId),
    SearchRoot,
    Search(Vec<u8>),
    TagsRoot,
    Tag(String),
    TagLink(Vec<u8>),
    TagCopy(Vec<u8>),
    File {
        dev: u64,
        ino: u64,
    },
    Peer(DeviceId),
    Remote {
        device: DeviceId,
        entry: u64,
    },
    Cloud {
        location: LocationId,
        entry: u64,
    },
    Live {
        device: DeviceId,
        location: LocationId,
        path: PathBuf,
    },
    StagedFile {
        device: DeviceId,
        file: u64,
    },
}

impl Node {
    /// The mount root.
    pub fn root() -> Node {
        Node(Kind::Root)
    }

    pub fn key(&self) -> NodeKey {
        NodeKey(match &self.0 {
            Kind::Root => KeyRepr::Root,
            Kind::Device => KeyRepr::Device,
            Kind::ContentDir => KeyRepr::ContentDir,
            Kind::Content(id) => KeyRepr::Content(*id),
            Kind::SearchRoot => KeyRepr::SearchRoot,
            Kind::Search(query) => KeyRepr::Search(query.clone()),
            Kind::TagsRoot => KeyRepr::TagsRoot,
            Kind::Tag(tag) => KeyRepr::Tag(tag.clone()),
            Kind::TagLink(target) => KeyRepr::TagLink(target.clone()),
            Kind::TagCopy(name) => KeyRepr::TagCopy(name.clone()),
            Kind::Local { dev, ino, .. } => KeyRepr::File {
                dev: *dev,
                ino: *ino,
            },
            Kind::Peer(d) => KeyRepr::Peer(*d),
            Kind::Cloud { location, entry } => KeyRepr::Cloud {
                location: *location,
                entry: *entry,
            },
            Kind::Remote { device, entry } => KeyRepr::Remote {
                device: *device,
                entry: *entry,
            },
            Kind::Live {
                device,
                location,
                path,
            } => KeyRepr::Live {
                device: *device,
                location: *location,
                path: path.clone(),
            },
            Kind::Staged {
                cloud: true,
                location,
                entry: Some(entry),
                ..
            } => KeyRepr::Cloud {
                location: *location,
                entry: *entry,
            },
            Kind::Staged {
                device,
                entry: Some(entry),
                ..
            } => KeyRepr::Remote {
                device: *device,
                entry: *entry,
            },
            Kind::Staged {
                device,
                entry: None,
                file: Some(file),
                ..
            } => KeyRepr::StagedFile {
                device: *device,
                file: *file,
            },
            Kind::Staged {
                device,
                location,
                path,
                entry: None,
                file: None,
                ..
            } => KeyRepr::Live {
                device: *device,
                location: *location,
                path: PathBuf::from(crate::sys::os_str(path)),
            },
        })
    }

    /// Whether every change to this node reaches the adapter at once: made
    /// through the mount, or pushed by the watcher's invalidations. Such
    /// nodes may be cached by the kernel for long; the rest change when a
    /// sync page arrives or a location comes and goes.
    pub fn is_watched(&self) -> bool {
        matches!(self.0, Kind::Local { .. })
    }

    /// Whether this name of a node still leads to it (a hard link's other
    /// names may have gone underneath).
    pub fn still_named(&self) -> bool {
        match &self.0 {
            Kind::Local { path, .. } => path.symlink_metadata().is_ok(),
            _ => true,
        }
    }

    pub(crate) fn local(location: LocationId, path: PathBuf, md: &std::fs::Metadata) -> Node {
        use std::os::unix::fs::MetadataExt;
        Node(Kind::Local {
            location,
            path,
            dev: md.dev(),
            ino: md.ino(),
        })
    }

    pub(crate) fn local_path(&self) -> Option<&Path> {
        match &self.0 {
            Kind::Local { path, .. } => Some(path),
            _ => None,
        }
    }
}

impl NodeKey {
    /// The key of another device's entry (for invalidation after sync).
    pub fn remote(device: DeviceId, entry: u64) -> NodeKey {
        NodeKey(KeyRepr::Remote { device, entry })
    }

    /// The key of a cloud volume's entry (for invalidation after an index).
    pub fn cloud(location: LocationId, entry: u64) -> NodeKey {
        NodeKey(KeyRepr::Cloud { location, entry })
    }

    /// The key of this device's file at `path` now.
    pub fn of_local_path(path: &Path) -> Option<NodeKey> {
        use std::os::unix::fs::MetadataExt;
        let md = path.symlink_metadata().ok()?;
        Some(NodeKey(KeyRepr::File {
            dev: md.dev(),
            ino: md.ino(),
        }))
    }

    /// The inode number `stat` shows: a function of the key alone, so it
    /// holds across renames, refreshes and remounts.
    pub fn ino(&self) -> u64 {
        match &self.0 {
            KeyRepr::Root => ino::ROOT,
            KeyRepr::Device => ino::DEVICE,
            KeyRepr::ContentDir => ino::CONTENT_DIR,
            KeyRepr::Content(id) => ino::content(*id),
            KeyRepr::SearchRoot => ino::SEARCH_DIR,
            KeyRepr::Search(query) => ino::search(query),
            KeyRepr::TagsRoot => ino::TAGS_DIR,
            KeyRepr::Tag(tag) => ino::tag(tag),
            KeyRepr::TagLink(target) => ino::tag_link(target),
            KeyRepr::TagCopy(name) => ino::tag_copy(name),
            KeyRepr::File { dev, ino } => ino::local(*dev, *ino),
            KeyRepr::Peer(d) => ino::peer(*d),
            KeyRepr::Remote { device, entry } => ino::remote(*device, *entry),
            KeyRepr::Cloud { location, entry } => ino::cloud(*location, *entry),
            KeyRepr::Live {
                device,
                location,
                path,
            } => ino::live(*device, *location, path),
            KeyRepr::StagedFile { device, file } => ino::staged(*device, *file),
        }
    }
}

/// A rename done: which names it changed, for tables that keep names.
#[derive(Clone, Debug)]
pub struct Renamed(Moved);

#[derive(Clone, Debug)]
enum Moved {
    /// Names of this device's files, by path.
    Local {
        from: PathBuf,
        to: PathBuf,
        /// The locations of each side: a name moved into another location
        /// (or into the trash) is that location's from then on.
        from_location: LocationId,
        to_location: LocationId,
        exchange: bool,
    },
    /// A file of another device's tree: every node that named it at
    /// `from` is `to` now.
    Outgoing {
        device: DeviceId,
        location: LocationId,
        from: Vec<u8>,
        from_entry: Option<u64>,
        to: Node,
    },
    Nothing,
}

impl Renamed {
    pub(crate) fn local(
        (from_location, from): (LocationId, PathBuf),
        (to_location, to): (LocationId, PathBuf),
        exchange: bool,
    ) -> Renamed {
        Renamed(Moved::Local {
            from,
            to,
            from_location,
            to_location,
            exchange,
        })
    }

    pub(crate) fn outgoing(
        device: DeviceId,
        location: LocationId,
        from: Vec<u8>,
        from_entry: Option<u64>,
        to: Node,
    ) -> Renamed {
        Renamed(Moved::Outgoing {
            device,
            location,
            from,
            from_entry,
            to,
        })
    }

    /// A rename that changed no name (a name renamed onto itself).
    pub(crate) fn none() -> Renamed {
        Renamed(Moved::Nothing)
    }

    /// `name` as it is called after the rename, if the rename moved it
    /// (it was the source, the target of an exchange, or below either).
    pub fn apply(&self, name: &Node) -> Option<Node> {
        match &self.0 {
            Moved::Local {
                from,
                to,
                from_location,
                to_location,
                exchange,
            } => {
                let Kind::Local {
                    location,
                    path,
                    dev,
                    ino,
                } = &name.0
                else {
                    return None;
                };
                let (moved, now_in) = match rebase(path, from, to) {
                    Some(moved) if location == from_location => (moved, *to_location),
                    _ if *exchange && location == to_location => {
                        (rebase(path, to, from)?, *from_location)
                    }
                    _ => return None,
                };
                Some(Node(Kind::Local {
                    location: now_in,
                    path: moved,
                    dev: *dev,
                    ino: *ino,
                }))
            }
            Moved::Outgoing {
                device,
                location,
                from,
                from_entry,
                to,
            } => {
                let named = match &name.0 {
                    Kind::Staged {
                        device: d,
                        location: l,
                        path,
                        ..
                    } => d == device && l == location && path == from,
                    Kind::Live {
                        device: d,
                        location: l,
                        path,
                    } => {
                        d == device
                            && l == location
                            && crate::fsutil::path_bytes(path) == from.as_slice()
                    }
                    Kind::Remote { device: d, entry } => d == device && Some(*entry) == *from_entry,
                    Kind::Cloud { location: l, entry } => {
                        l == location && Some(*entry) == *from_entry
                    }
                    _ => false,
                };
                named.then(|| to.clone())
            }
            Moved::Nothing => None,
        }
    }

    /// Whether `name` was the target the rename replaced.
    pub fn replaced(&self, name: &Node) -> bool {
        match &self.0 {
            Moved::Local {
                to,
                exchange: false,
                ..
            } => name.local_path() == Some(to.as_path()),
            _ => false,
        }
    }
}

fn rebase(path: &Path, from: &Path, to: &Path) -> Option<PathBuf> {
    let rest = path.strip_prefix(from).ok()?;
    Some(if rest.as_os_str().is_empty() {
        to.to_owned()
    } else {
        to.join(rest)
    })
}

/// A name removed (unlink, rmdir).
#[derive(Clone, Debug)]
pub struct Unlinked(pub(crate) PathBuf);

impl Unlinked {
    /// Whether `name` is the name that went away.
    pub fn was(&self, name: &Node) -> bool {
        name.local_path() == Some(self.0.as_path())
    }
}

/// Stable inode numbers: a deterministic mix of what identifies a node,
/// tagged by kind so kinds never share a number, in [2, 2^63).
pub(crate) mod ino {
    use crate::ids::{ContentId, DeviceId, LocationId};

    pub const ROOT: u64 = 1;
    pub const DEVICE: u64 = 2;
    pub const CONTENT_DIR: u64 = 3;
    pub const SEARCH_DIR: u64 = 4;
    pub const TAGS_DIR: u64 = 5;
    /// Numbers below this are the fixed ones above.
    const FIRST_MIXED: u64 = 16;

    const LOCAL: u64 = 0x6c6f_6361_6c00_0001;
    const REMOTE: u64 = 0x7265_6d6f_7465_0002;
    const LIVE: u64 = 0x6c69_7665_0000_0003;
    const CONTENT: u64 = 0x636f_6e74_656e_0004;
    const PEER: u64 = 0x7065_6572_0000_0005;
    const STAGED: u64 = 0x7374_6167_6564_0006;
    const CLOUD: u64 = 0x636c_6f75_6400_0007;
    const SEARCH: u64 = 0x7365_6172_6368_0008;
    const TAG: u64 = 0x7461_6700_0000_0009;
    const TAG_LINK: u64 = 0x7461_676c_6e6b_000a;
    const TAG_COPY: u64 = 0x7461_6763_7079_000b;

    /// MurmurHash3's 64-bit finaliser: every input bit moves every output bit.
    fn fmix(mut h: u64) -> u64 {
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    fn mix(tag: u64, words: &[u64]) -> u64 {
        let h = words
            .iter()
            .fold(fmix(tag), |h, w| fmix(h ^ fmix(w.wrapping_add(tag))));
        (h >> 1).max(FIRST_MIXED)
    }

    fn uuid(u: uuid::Uuid) -> [u64; 2] {
        let v = u.as_u128();
        [(v >> 64) as u64, v as u64]
    }

    pub fn local(dev: u64, ino: u64) -> u64 {
        mix(LOCAL, &[dev, ino])
    }

    pub fn remote(device: DeviceId, entry: u64) -> u64 {
        let [a, b] = uuid(device.0);
        mix(REMOTE, &[a, b, entry])
    }

    pub fn cloud(location: LocationId, entry: u64) -> u64 {
        let [a, b] = uuid(location.0);
        mix(CLOUD, &[a, b, entry])
    }

    pub fn staged(device: DeviceId, file: u64) -> u64 {
        let [a, b] = uuid(device.0);
        mix(STAGED, &[a, b, file])
    }

    pub fn peer(device: DeviceId) -> u64 {
        let [a, b] = uuid(device.0);
        mix(PEER, &[a, b])
    }

    pub fn content(id: ContentId) -> u64 {
        let [a, b] = uuid(id.0);
        mix(CONTENT, &[a, b])
    }

    /// FNV-1a over `bytes`.
    fn fnv(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, byte| {
            (h ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    pub fn live(device: DeviceId, location: LocationId, path: &std::path::Path) -> u64 {
        let [a, b] = uuid(device.0);
        let [c, d] = uuid(location.0);
        let p = fnv(crate::fsutil::path_bytes(path));
        mix(LIVE, &[a, b, c, d, p])
    }

    pub fn search(query: &[u8]) -> u64 {
        mix(SEARCH, &[fnv(query)])
    }

    pub fn tag(tag: &str) -> u64 {
        mix(TAG, &[fnv(tag.as_bytes())])
    }

    pub fn tag_link(target: &[u8]) -> u64 {
        mix(TAG_LINK, &[fnv(target)])
    }

    pub fn tag_copy(name: &[u8]) -> u64 {
        mix(TAG_COPY, &[fnv(name)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_depend_on_identity_alone_and_kinds_do_not_collide() {
        assert_eq!(ino::local(2049, 12), ino::local(2049, 12));
        assert_ne!(ino::local(2049, 12), ino::local(2049, 13));
        assert_ne!(ino::local(2049, 12), ino::local(2050, 12));
        let device = DeviceId(uuid::Uuid::from_u128(7));
        assert_ne!(ino::remote(device, 12), ino::local(0, 12));
        let mut seen = std::collections::HashSet::new();
        for dev in 0..4 {
            for i in 0..20_000 {
                assert!(seen.insert(ino::local(dev, i)));
                assert!(seen.insert(ino::remote(device, dev * 100_000 + i)));
            }
        }
        assert!(seen.iter().all(|n| *n >= 16 && *n < 1 << 63));
    }

    #[test]
    fn a_rename_moves_the_name_and_everything_below_it() {
        let loc = LocationId(uuid::Uuid::from_u128(1));
        let node = |p: &str| {
            Node(Kind::Local {
                location: loc,
                path: PathBuf::from(p),
                dev: 1,
                ino: 2,
            })
        };
        let r = Renamed::local((loc, "/l/a".into()), (loc, "/l/b".into()), false);
        assert_eq!(r.apply(&node("/l/a/x")), Some(node("/l/b/x")));
        assert_eq!(r.apply(&node("/l/a")), Some(node("/l/b")));
        assert_eq!(r.apply(&node("/l/ab")), None);
        assert!(r.replaced(&node("/l/b")));
        let x = Renamed::local((loc, "/l/a".into()), (loc, "/l/b".into()), true);
        assert_eq!(x.apply(&node("/l/b/y")), Some(node("/l/a/y")));
        assert!(!x.replaced(&node("/l/b")));
        // Into another location (the trash): the name is that location's.
        let trash = LocationId(uuid::Uuid::from_u128(2));
        let t = Renamed::local((loc, "/l/a".into()), (trash, "/t/files/a".into()), false);
        let moved = t.apply(&node("/l/a/x")).expect("moved");
        assert!(matches!(moved.0, Kind::Local { location, .. } if location == trash));
        assert_eq!(moved.local_path(), Some(Path::new("/t/files/a/x")));
    }
}
