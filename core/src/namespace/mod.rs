//! The namespace of the mount: `/<device>/<location>/...` plus the hidden
//! `/.content/<content id>`. Kernel adapters (FUSE, ProjFS) call into this;
//! they own inode numbers and errno, this owns what the names mean.

mod attr;
mod live;
pub mod local;
mod remote;
mod tags;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

pub use attr::Attr;
pub use remote::RemoteAccess;
pub use tags::parse_tags;

use crate::error::{Error, Result};
use crate::ids::{ContentId, DeviceId, LocationId};
use crate::library::Library;
use crate::locations;
use crate::model::entry::EntryKind;
use crate::model::location::LocationRecord;
use crate::uri::SdUri;

/// Name of the hidden directory that opens files by content.
pub const CONTENT_DIR: &str = ".content";

/// A node of the namespace. Local nodes are files of this device, addressed
/// by their real path; the rest are virtual and read-only.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// The mount root: one directory per device.
    Root,
    /// A device: one directory per location.
    Device,
    /// `/.content`.
    ContentDir,
    /// `/.content/<id>`: served from a verified local instance.
    Content(ContentId),
    /// A file or directory in a location of this device.
    Local { location: LocationId, path: PathBuf },
    /// A paired device: one directory per location of its replica.
    Peer(DeviceId),
    /// An entry of a paired device, served from the replica of its index.
    Remote { device: DeviceId, entry: u64 },
    /// A file or directory of a paired device that its indexer rules skip,
    /// listed live from it: `path` is below the location's root.
    Live {
        device: DeviceId,
        location: LocationId,
        path: PathBuf,
    },
}

impl Node {
    /// Whether writes to this node make sense at all.
    pub fn is_local(&self) -> bool {
        matches!(self, Node::Local { .. })
    }
}

/// An open file of another device.
#[derive(Debug)]
pub enum Opened {
    /// Read through a reader that verifies every chunk it returns.
    Chunks(sdfs_cas::ContentReader),
    /// A whole copy in the content store, written only after its full
    /// BLAKE3 matched: reads may go straight to it (kernel passthrough).
    Whole(std::fs::File),
}

/// One entry of a directory listing.
#[derive(Clone, Debug)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub node: Node,
    pub attr: Attr,
}

/// Index facts about a local file, for extended attributes.
#[derive(Clone, Debug, Default)]
pub struct IndexFacts {
    pub uri: String,
    pub content_id: Option<ContentId>,
    pub kind: Option<&'static str>,
    pub copies: Option<u32>,
}

/// The namespace over one library.
pub struct Namespace {
    lib: Arc<Library>,
    content: Arc<crate::content_store::ContentStore>,
    locations: RwLock<Vec<LocationRecord>>,
    started: i64,
    /// How reads reach other devices; `None` until the p2p node runs.
    remote: RwLock<Option<RemoteAccess>>,
    /// Recent live listings of other devices' unindexed directories.
    live: live::LiveCache,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("device", &self.lib.device_name())
            .finish_non_exhaustive()
    }
}

impl Namespace {
    pub fn new(content: Arc<crate::content_store::ContentStore>) -> Result<Namespace> {
        let lib = Arc::clone(content.library());
        let all = locations::list(lib.db())?;
        Ok(Namespace {
            lib,
            content,
            locations: RwLock::new(all),
            started: crate::time::unix_now_nanos(),
            remote: RwLock::new(None),
            live: live::LiveCache::default(),
        })
    }

    pub fn library(&self) -> &Arc<Library> {
        &self.lib
    }

    pub fn content_store(&self) -> &Arc<crate::content_store::ContentStore> {
        &self.content
    }

    /// Re-reads the locations (after one is added or removed).
    pub fn reload_locations(&self) -> Result<()> {
        let all = locations::list(self.lib.db())?;
        *self.locations.write().unwrap_or_else(|e| e.into_inner()) = all;
        Ok(())
    }

    fn location(&self, id: LocationId) -> Option<LocationRecord> {
        self.locations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|l| l.id == id)
            .cloned()
    }

    fn location_named(&self, name: &[u8]) -> Option<LocationRecord> {
        self.locations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|l| l.name.as_bytes() == name)
            .cloned()
    }

    /// The location holding `path`, if any (for the watcher's invalidations).
    pub fn location_of_path(&self, path: &std::path::Path) -> Option<LocationRecord> {
        self.locations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|l| path.starts_with(l.root_path()))
            .cloned()
    }

    /// The child `name` of `parent`.
    pub fn lookup(&self, parent: &Node, name: &[u8]) -> Result<(Node, Attr)> {
        let not_found = || {
            Error::io(
                String::from_utf8_lossy(name).into_owned(),
                std::io::Error::from_raw_os_error(libc::ENOENT),
            )
        };
        match parent {
            Node::Root if name == CONTENT_DIR.as_bytes() => {
                Ok((Node::ContentDir, self.getattr(&Node::ContentDir)?))
            }
            Node::Root if name == self.lib.device_name().as_bytes() => {
                Ok((Node::Device, self.getattr(&Node::Device)?))
            }
            Node::Root => {
                let device = self.peer_named(name).ok_or_else(not_found)?;
                Ok((Node::Peer(device.id), Attr::virtual_dir(self.started)))
            }
            Node::Peer(device) => self.lookup_peer(*device, name),
            Node::Remote { device, entry } => self.lookup_remote(*device, *entry, name),
            Node::Live {
                device,
                location,
                path,
            } => self.lookup_live(*device, *location, path, name),
            Node::Device => {
                let location = self.location_named(name).ok_or_else(not_found)?;
                let node = Node::Local {
                    location: location.id,
                    path: location.root_path(),
                };
                let attr = self.getattr(&node)?;
                Ok((node, attr))
            }
            Node::ContentDir => {
                let id: ContentId = std::str::from_utf8(name)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(not_found)?;
                let node = Node::Content(id);
                let attr = self.getattr(&node)?;
                Ok((node, attr))
            }
            Node::Content(_) => Err(Error::io(
                "content",
                std::io::Error::from_raw_os_error(libc::ENOTDIR),
            )),
            Node::Local { location, path } => {
                let child = path.join(OsStr::from_bytes(name));
                let md = std::fs::symlink_metadata(&child).map_err(|e| Error::io(&child, e))?;
                Ok((
                    Node::Local {
                        location: *location,
                        path: child,
                    },
                    Attr::from_metadata(&md),
                ))
            }
        }
    }

    pub fn getattr(&self, node: &Node) -> Result<Attr> {
        match node {
            Node::Root | Node::Device | Node::ContentDir | Node::Peer(_) => {
                Ok(Attr::virtual_dir(self.started))
            }
            Node::Remote { device, entry } => Ok(remote::remote_attr(
                *entry,
                &self.remote_entry(*device, *entry)?,
            )),
            Node::Live {
                device,
                location,
                path,
            } => self.getattr_live(*device, *location, path),
            Node::Content(id) => {
                let record = self.content.content_record(*id)?;
                let mut attr = Attr::virtual_dir(record.first_seen.saturating_mul(1_000_000_000));
                attr.kind = EntryKind::File;
                attr.mode = libc::S_IFREG | 0o444;
                attr.nlink = 1;
                attr.size = record.size;
                attr.blocks = record.size.div_ceil(512);
                Ok(attr)
            }
            Node::Local { path, .. } => {
                let md = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
                Ok(Attr::from_metadata(&md))
            }
        }
    }

    /// Everything in directory `node` (without `.` and `..`), as on disk for
    /// local directories: indexer rules never hide anything here.
    pub fn readdir(&self, node: &Node) -> Result<Vec<DirEntry>> {
        match node {
            Node::Root => {
                let mut out = vec![DirEntry {
                    name: self.lib.device_name().as_bytes().to_vec(),
                    node: Node::Device,
                    attr: Attr::virtual_dir(self.started),
                }];
                out.extend(self.peers().into_iter().map(|d| DirEntry {
                    name: d.name.into_bytes(),
                    node: Node::Peer(d.id),
                    attr: Attr::virtual_dir(self.started),
                }));
                Ok(out)
            }
            Node::Peer(device) => self.readdir_peer(*device),
            Node::Remote { device, entry } => self.readdir_remote(*device, *entry),
            Node::Live {
                device,
                location,
                path,
            } => self.readdir_live(*device, *location, path),
            Node::Device => {
                let locations = self
                    .locations
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let mut out = Vec::new();
                for location in locations {
                    let node = Node::Local {
                        location: location.id,
                        path: location.root_path(),
                    };
                    // A location whose directory is gone is not listed.
                    if let Ok(attr) = self.getattr(&node) {
                        out.push(DirEntry {
                            name: location.name.into_bytes(),
                            node,
                            attr,
                        });
                    }
                }
                Ok(out)
            }
            // Content is opened by id, never listed (there may be millions).
            Node::ContentDir => Ok(Vec::new()),
            Node::Content(_) => Err(Error::io(
                "content",
                std::io::Error::from_raw_os_error(libc::ENOTDIR),
            )),
            Node::Local { location, path } => {
                let mut out = Vec::new();
                for item in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
                    let item = item.map_err(|e| Error::io(path, e))?;
                    let Ok(md) = item.metadata() else { continue };
                    out.push(DirEntry {
                        name: item.file_name().as_bytes().to_vec(),
                        node: Node::Local {
                            location: *location,
                            path: item.path(),
                        },
                        attr: Attr::from_metadata(&md),
                    });
                }
                Ok(out)
            }
        }
    }

    /// A reader of content `id`: every chunk it returns was checked against
    /// the manifest of the file whose BLAKE3 is the content's integrity hash.
    pub fn open_content(&self, id: ContentId) -> Result<sdfs_cas::ContentReader> {
        self.content.open_content(id)
    }

    /// What the index knows about a local file (for `user.sd.*` attributes).
    pub fn index_facts(&self, location: LocationId, path: &std::path::Path) -> Result<IndexFacts> {
        let location = self
            .location(location)
            .ok_or_else(|| Error::NotFound("location gone".into()))?;
        let rel = path
            .strip_prefix(location.root_path())
            .map(|p| p.as_os_str().as_bytes().to_vec())
            .unwrap_or_default();
        let uri = SdUri::device(self.lib.device_name(), location.name.as_bytes(), &rel);
        let mut facts = IndexFacts {
            uri: uri.to_string(),
            ..IndexFacts::default()
        };
        if let Ok(stat) = crate::query::stat(&self.lib, &uri)
            && stat.indexed
        {
            facts.content_id = stat.content_id;
            facts.kind = stat.file_kind;
            facts.copies = stat.copies;
        }
        if facts.kind.is_none()
            && std::fs::symlink_metadata(path)
                .map(|m| m.is_dir())
                .unwrap_or(false)
        {
            facts.kind = Some(EntryKind::Directory.as_str());
        }
        Ok(facts)
    }
}
