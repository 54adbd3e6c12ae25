//! The namespace of the mount, and the filesystem API every kernel adapter
//! calls: `/<device>/<location>/...` plus the hidden `/.content/<id>` and
//! `/.search/<query>/` and `/.tags/<tag>/`.
//!
//! Every operation an adapter needs is a method here, taking opaque
//! [`Node`]s and the [`Caller`], returning [`crate::Error`] whose kind says
//! what to report. What a node is, which operations it supports, and the
//! policy around them (what is read-only, what crosses locations, how
//! another device's file is opened) live with each kind's module:
//! `local` (this device's files), `remote` (another device's replica),
//! `live` (what an owner's rules skip), `outgoing` (changes to another
//! device's files, staged here until its owner has them), `virtual_dirs`
//! (the root, devices, content by id), `search` (a query's hits as a
//! directory), `tag_dirs` (tags as directories). Adapters own inode numbers for the kernel, handles,
//! caching and their error codes, and decide nothing else.

mod attr;
mod cloud;
#[cfg(test)]
mod conformance;
mod keep;
mod live;
mod local;
mod node;
mod open;
mod outgoing;
mod owner;
mod remote;
mod repair;
mod search;
mod tag_dirs;
mod tags;
mod trash;
mod types;
mod virtual_dirs;
mod xattr;

use std::path::Path;
use std::sync::{Arc, RwLock};

pub use crate::content_store::FileState;
pub use attr::Attr;
pub use keep::FetchProgress;
pub use node::{Node, NodeKey, Renamed, Unlinked};
pub use open::{OpenFile, Opened};
pub use remote::RemoteAccess;
pub use search::{SEARCH_DIR, SEARCH_DIR_LIMIT, SearchFiles, unique_names};
pub use tag_dirs::TAGS_DIR;
pub use tags::parse_tags;
pub use trash::TRASH_PREFIX;
pub use types::{
    Caller, Fallocate, FsStats, OpenFlags, RenameFlags, SetAttr, SetTime, Whence, XattrSet, mode,
};

use crate::error::{Error, ErrorKind, Result};
use crate::ids::LocationId;
use crate::library::Library;
use crate::locations;
use crate::model::location::LocationRecord;
use node::Kind;

/// Name of the hidden directory that opens files by content.
pub const CONTENT_DIR: &str = ".content";

/// One entry of a directory listing.
#[derive(Clone, Debug)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub node: Node,
    pub attr: Attr,
}

/// A directory's entries as they were when it was opened: a cursor into
/// it (an index) stays valid however the directory changes meanwhile.
#[derive(Debug, Default)]
pub struct Listing {
    entries: Vec<DirEntry>,
}

impl Listing {
    /// The entries from position `cursor` on.
    pub fn starting_at(&self, cursor: usize) -> &[DirEntry] {
        self.entries.get(cursor..).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
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
    /// Each location's root directory, held open for the calls beneath it.
    roots: RwLock<std::collections::HashMap<LocationId, Arc<local::LocationRoot>>>,
    /// What answers `.search/`; `None` outside the daemon.
    search: RwLock<Option<Arc<dyn SearchFiles>>>,
    /// Queries' and tags' names, listed a moment ago.
    listed: search::ListedNames,
    /// Where the mount is, once mounted (links made in it name its paths).
    mountpoint: RwLock<Option<std::path::PathBuf>>,
    /// Each uid's trash directory (`.Trash-<uid>`), held as a location.
    trash: RwLock<Vec<LocationRecord>>,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("device", &self.lib.device_name())
            .finish_non_exhaustive()
    }
}

/// Whether `node` is in a tree this device does not hold, another
/// device's or a bucket's: its changes are staged and delivered.
fn is_other_device(node: &Node) -> bool {
    matches!(
        node.0,
        Kind::Remote { .. } | Kind::Live { .. } | Kind::Staged { .. } | Kind::Cloud { .. }
    )
}

/// The refusal for a change to a node whose kind cannot change.
fn read_only(node: &Node) -> Error {
    let what = match node.0 {
        Kind::Remote { .. } | Kind::Live { .. } | Kind::Staged { .. } => {
            "this operation is not supported on another device's files"
        }
        Kind::Cloud { .. } => "this operation is not supported on a cloud volume's files",
        Kind::Peer(_) => "a device's locations are its own to add",
        Kind::Content(_) | Kind::ContentDir => "content by id is read-only",
        Kind::SearchRoot | Kind::Search(_) => {
            "search results are the files themselves: change them where they live"
        }
        Kind::TagsRoot | Kind::TagLink(_) | Kind::TagCopy(_) => "tags are made by tagging files",
        Kind::Tag(_) => "tag a file here with `ln -s FILE` or `mv FILE`; `rm` untags it",
        Kind::Root | Kind::Device => "the mount's top directories are read-only",
        Kind::Local { .. } => "read-only",
    };
    Error::fs(ErrorKind::ReadOnly, what)
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
            roots: RwLock::default(),
            search: RwLock::new(None),
            listed: search::ListedNames::default(),
            mountpoint: RwLock::new(None),
            trash: RwLock::default(),
        })
    }

    /// Where the namespace is mounted.
    pub fn set_mountpoint(&self, path: &Path) {
        *self.mountpoint.write().unwrap_or_else(|e| e.into_inner()) = Some(path.to_owned());
    }

    fn mountpoint(&self) -> Option<std::path::PathBuf> {
        self.mountpoint
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
        self.roots
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        Ok(())
    }

    /// Location `id`'s root directory, opened on first use.
    fn root(&self, id: LocationId) -> Result<Arc<local::LocationRoot>> {
        if let Some(root) = self
            .roots
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            return Ok(Arc::clone(root));
        }
        let location = self
            .location(id)
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, "location gone"))?;
        let path = location
            .root_path()
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, "a cloud volume has no local root"))?;
        let root = Arc::new(local::LocationRoot::open(path)?);
        self.roots
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Arc::clone(&root));
        Ok(root)
    }

    fn location(&self, id: LocationId) -> Option<LocationRecord> {
        let find = |all: &[LocationRecord]| all.iter().find(|l| l.id == id).cloned();
        find(&self.locations.read().unwrap_or_else(|e| e.into_inner()))
            .or_else(|| find(&self.trash.read().unwrap_or_else(|e| e.into_inner())))
    }

    /// The location holding `path`, if any (for the watcher's invalidations).
    pub fn location_of_path(&self, path: &Path) -> Option<LocationRecord> {
        self.locations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|l| l.root_path().is_some_and(|root| path.starts_with(root)))
            .cloned()
    }

    // ---- names and attributes -------------------------------------------

    /// The child `name` of `parent`.
    pub fn lookup(&self, parent: &Node, name: &[u8]) -> Result<(Node, Attr)> {
        if let Some(found) = self.lookup_outgoing(parent, name)? {
            return Ok(found);
        }
        match &parent.0 {
            Kind::Local { location, path, .. } => local::lookup(*location, path, name),
            Kind::Peer(device) => self.lookup_peer(*device, name),
            Kind::Remote { device, entry } => self.lookup_remote(*device, *entry, name),
            Kind::Cloud { location, entry } => self.lookup_cloud(*location, *entry, name),
            Kind::Live {
                device,
                location,
                path,
            } => self.lookup_live(*device, *location, path, name),
            // Answered by `lookup_outgoing` above.
            Kind::Staged { .. } => Err(Error::fs(
                ErrorKind::NotFound,
                String::from_utf8_lossy(name),
            )),
            Kind::Search(query) => self.lookup_search(query, name),
            Kind::Tag(tag) => self.lookup_tag(tag, name),
            Kind::Root
            | Kind::Device
            | Kind::ContentDir
            | Kind::Content(_)
            | Kind::SearchRoot
            | Kind::TagsRoot
            | Kind::TagLink(_)
            | Kind::TagCopy(_) => self.lookup_virtual(parent, name),
        }
    }

    pub fn getattr(&self, node: &Node) -> Result<Attr> {
        if let Some(attr) = self.getattr_outgoing(node)? {
            return Ok(attr);
        }
        match &node.0 {
            Kind::Local { path, .. } => local::getattr(path),
            Kind::Remote { device, entry } => Ok(remote::remote_attr(
                *device,
                *entry,
                &self.remote_entry(*device, *entry)?,
            )),
            Kind::Cloud { location, entry } => self.getattr_cloud(*location, *entry),
            Kind::Live {
                device,
                location,
                path,
            } => self.getattr_live(*device, *location, path),
            // Answered by `getattr_outgoing` above.
            Kind::Staged { .. } => Err(Error::fs(ErrorKind::NotFound, "gone")),
            Kind::Root
            | Kind::Device
            | Kind::ContentDir
            | Kind::Content(_)
            | Kind::Peer(_)
            | Kind::SearchRoot
            | Kind::Search(_)
            | Kind::TagsRoot
            | Kind::Tag(_) => self.getattr_virtual(node),
            Kind::TagLink(target) => Ok(self.getattr_tag_link(node, target)),
            Kind::TagCopy(_) => Ok(self.getattr_tag_copy(node)),
        }
    }

    /// Everything in directory `node` (without `.` and `..`), as on disk for
    /// local directories: indexer rules never hide anything here.
    pub fn readdir(&self, node: &Node) -> Result<Vec<DirEntry>> {
        match &node.0 {
            Kind::Local { location, path, .. } => local::readdir(*location, path),
            Kind::Peer(device) => self.readdir_peer(*device),
            Kind::Cloud { location, entry } => {
                let mut entries = self.readdir_cloud(*location, *entry)?;
                self.overlay_listing(node, &mut entries)?;
                Ok(entries)
            }
            Kind::Remote { device, entry } => {
                let mut entries = self.readdir_remote(*device, *entry)?;
                self.overlay_listing(node, &mut entries)?;
                Ok(entries)
            }
            Kind::Live {
                device,
                location,
                path,
            } => {
                let mut entries = self.readdir_live(*device, *location, path)?;
                self.overlay_listing(node, &mut entries)?;
                Ok(entries)
            }
            Kind::Staged { .. } => self.readdir_staged(node),
            Kind::Search(query) => self.readdir_search(query),
            Kind::Tag(tag) => self.readdir_tag(tag),
            Kind::Root
            | Kind::Device
            | Kind::ContentDir
            | Kind::Content(_)
            | Kind::SearchRoot
            | Kind::TagsRoot
            | Kind::TagLink(_)
            | Kind::TagCopy(_) => self.readdir_virtual(node),
        }
    }

    /// A snapshot of directory `node` for a reader to walk with a cursor.
    pub fn open_dir(&self, node: &Node) -> Result<Listing> {
        Ok(Listing {
            entries: self.readdir(node)?,
        })
    }

    pub fn readlink(&self, node: &Node) -> Result<Vec<u8>> {
        match &node.0 {
            Kind::Local { path, .. } => {
                crate::sys::readlink(path).map_err(|e| Error::io(path.as_path(), e))
            }
            Kind::Remote { device, entry } => self.readlink_remote(*device, *entry),
            Kind::Live {
                device,
                location,
                path,
            } => self.readlink_live(*device, *location, path),
            Kind::TagLink(target) => Ok(target.clone()),
            _ => Err(Error::fs(ErrorKind::InvalidInput, "not a symlink")),
        }
    }

    /// Whether `node` can be changed here: this device's files, and
    /// another device's where its owner takes changes (the virtual
    /// directories and content by id never do).
    pub fn takes_changes(&self, node: &Node) -> bool {
        match &node.0 {
            Kind::Local { .. } => true,
            _ if is_other_device(node) => self
                .outgoing_target(node)
                .ok()
                .flatten()
                .is_some_and(|t| self.check_writable(&t).is_ok()),
            _ => false,
        }
    }

    /// Numbers of the filesystem behind `node`: the disk under a location,
    /// or the one holding the library (which caches other devices' files).
    pub fn statfs(&self, node: &Node) -> Result<FsStats> {
        let path = node.local_path().unwrap_or(self.lib.dir());
        crate::sys::statfs(path).map_err(|e| Error::io(path, e))
    }

    // ---- files --------------------------------------------------------------

    /// Opens `node`. Another device's file or content by id opens only for
    /// reading, verified chunk by chunk or as its whole verified copy.
    pub fn open(&self, node: &Node, flags: OpenFlags) -> Result<OpenFile> {
        let read_only = |opened: Result<Opened>| -> Result<OpenFile> {
            if flags.writes() {
                return Err(read_only(node));
            }
            Ok(OpenFile::read_only(node.key(), opened?))
        };
        if is_other_device(node)
            && let Some(file) = self.open_outgoing(node, flags)?
        {
            return Ok(file);
        }
        match &node.0 {
            Kind::Local { location, path, .. } => {
                local::open(&*self.root(*location)?, node.key(), path, flags)
            }
            Kind::Remote { device, entry } => read_only(self.open_remote(*device, *entry)),
            Kind::Cloud { location, entry } => read_only(self.open_cloud(*location, *entry)),
            Kind::Live {
                device,
                location,
                path,
            } => read_only(self.open_live(*device, *location, path)),
            Kind::Staged { .. } => {
                // Delivered and settled: the name as the owner has it now.
                let (now, _) = self.resolve_settled(node)?;
                if matches!(now.0, Kind::Staged { .. }) {
                    return Err(Error::fs(ErrorKind::NotFound, "gone"));
                }
                self.open(&now, flags)
            }
            Kind::Content(id) => read_only(self.open_content_anywhere(*id)),
            Kind::Root
            | Kind::Device
            | Kind::ContentDir
            | Kind::Peer(_)
            | Kind::SearchRoot
            | Kind::Search(_)
            | Kind::TagsRoot
            | Kind::Tag(_) => Err(Error::fs(ErrorKind::IsADirectory, "a directory")),
            Kind::TagLink(_) => Err(Error::fs(ErrorKind::SymlinkLoop, "a link")),
            // Matched and gone once its writer closed it.
            Kind::TagCopy(_) => Err(Error::fs(ErrorKind::NotFound, "a finished copy")),
        }
    }

    /// Changes `node`'s attributes; `open` is the handle the change came
    /// through, if any (ftruncate works on a file whose names are gone).
    pub fn setattr(
        &self,
        node: &Node,
        change: &SetAttr,
        open: Option<&OpenFile>,
        _caller: Caller,
    ) -> Result<Attr> {
        match &node.0 {
            Kind::Local { location, path, .. } => {
                local::setattr(&*self.root(*location)?, path, change, open)
            }
            _ if is_other_device(node) => self.setattr_outgoing(node, change, open),
            _ => Err(read_only(node)),
        }
    }

    /// Makes directory `node`'s entries durable.
    pub fn fsyncdir(&self, node: &Node, datasync: bool) -> Result<()> {
        match &node.0 {
            Kind::Local { path, .. } => local::fsyncdir(path, datasync),
            // Changes staged for other devices are durable from here on.
            _ if is_other_device(node) => self.content.outbox().sync(),
            _ => Ok(()),
        }
    }

    // ---- changes to names ---------------------------------------------------

    /// Where a new name `name` in directory `parent` goes.
    fn new_name<'n>(
        &self,
        root: &'n local::LocationRoot,
        parent: &'n Node,
        name: &'n [u8],
    ) -> Result<local::NewName<'n>> {
        match &parent.0 {
            Kind::Local { location, path, .. } => Ok(local::NewName {
                location: *location,
                root,
                dir: path,
                name,
            }),
            _ => Err(read_only(parent)),
        }
    }

    /// The root of the location directory `parent` is in.
    fn root_of(&self, node: &Node) -> Result<Arc<local::LocationRoot>> {
        match &node.0 {
            Kind::Local { location, .. } => self.root(*location),
            _ => Err(read_only(node)),
        }
    }

    /// Creates and opens regular file `name` in `parent`.
    pub fn create(
        &self,
        parent: &Node,
        name: &[u8],
        mode: u32,
        flags: OpenFlags,
        caller: Caller,
    ) -> Result<(Node, Attr, OpenFile)> {
        if let Kind::Tag(tag) = &parent.0 {
            return self.create_in_tag(tag, name);
        }
        if is_other_device(parent) {
            return self.create_outgoing(parent, name, mode, flags);
        }
        let root = self.root_of(parent)?;
        local::create(self.new_name(&root, parent, name)?, mode, flags, caller)
    }

    pub fn mkdir(
        &self,
        parent: &Node,
        name: &[u8],
        mode: u32,
        caller: Caller,
    ) -> Result<(Node, Attr)> {
        // The trash is always there (what `gio trash` makes first).
        if matches!(parent.0, Kind::Root)
            && let Some(uid) = trash::trash_uid(name)
        {
            self.trash_dir(uid)?;
            return Err(Error::fs(ErrorKind::AlreadyExists, "the trash"));
        }
        if is_other_device(parent) {
            return self.mkdir_outgoing(parent, name, mode);
        }
        let root = self.root_of(parent)?;
        local::mkdir(self.new_name(&root, parent, name)?, mode, caller)
    }

    /// Creates a special file (fifo, socket, device) or an empty regular one.
    pub fn mknod(
        &self,
        parent: &Node,
        name: &[u8],
        mode: u32,
        rdev: u64,
        caller: Caller,
    ) -> Result<(Node, Attr)> {
        if is_other_device(parent) {
            // An empty regular file is a file like any other; special files
            // mean nothing on another device.
            if mode & mode::TYPE_MASK != mode::FILE {
                return Err(read_only(parent));
            }
            let (node, attr, _) = self.create_outgoing(
                parent,
                name,
                mode,
                OpenFlags {
                    write: true,
                    exclusive: true,
                    ..OpenFlags::default()
                },
            )?;
            return Ok((node, attr));
        }
        let root = self.root_of(parent)?;
        local::mknod(self.new_name(&root, parent, name)?, mode, rdev, caller)
    }

    pub fn symlink(
        &self,
        parent: &Node,
        name: &[u8],
        target: &[u8],
        caller: Caller,
    ) -> Result<(Node, Attr)> {
        if let Kind::Tag(tag) = &parent.0 {
            return self.symlink_tag(tag, target);
        }
        let root = self.root_of(parent)?;
        local::symlink(self.new_name(&root, parent, name)?, target, caller)
    }

    /// A new name `name` in `parent` for `node`.
    pub fn link(
        &self,
        node: &Node,
        parent: &Node,
        name: &[u8],
        caller: Caller,
    ) -> Result<(Node, Attr)> {
        let Some(from) = node.local_path() else {
            return Err(read_only(node));
        };
        let from_root = self.root_of(node)?;
        let root = self.root_of(parent)?;
        local::link(
            &from_root,
            from,
            self.new_name(&root, parent, name)?,
            caller,
        )
    }

    pub fn unlink(&self, parent: &Node, name: &[u8]) -> Result<Unlinked> {
        if let Kind::Tag(tag) = &parent.0 {
            return self.unlink_tag(tag, name);
        }
        if is_other_device(parent) {
            return self.unlink_outgoing(parent, name, false);
        }
        let root = self.root_of(parent)?;
        let at = self.new_name(&root, parent, name)?;
        local::unlink(at.root, at.dir, name)
    }

    pub fn rmdir(&self, parent: &Node, name: &[u8]) -> Result<Unlinked> {
        if is_other_device(parent) {
            return self.unlink_outgoing(parent, name, true);
        }
        let root = self.root_of(parent)?;
        let at = self.new_name(&root, parent, name)?;
        local::rmdir(at.root, at.dir, name)
    }

    /// Renames `parent/name` to `new_parent/new_name`. Locations on
    /// different filesystems refuse it as rename(2) would (`CrossDevice`),
    /// so programs fall back to copy and delete.
    pub fn rename(
        &self,
        parent: &Node,
        name: &[u8],
        new_parent: &Node,
        new_name: &[u8],
        flags: RenameFlags,
    ) -> Result<Renamed> {
        if let Kind::Tag(tag) = &new_parent.0
            && !matches!(parent.0, Kind::Tag(_) | Kind::Search(_))
        {
            return self.rename_into_tag(parent, name, tag);
        }
        match (is_other_device(parent), is_other_device(new_parent)) {
            (true, true) => {
                return self.rename_outgoing(parent, name, new_parent, new_name, flags);
            }
            (true, false) if self.in_trash(new_parent) => {
                return self.trash_from_other_device(parent, name, new_parent, new_name, flags);
            }
            (true, false) | (false, true)
                if matches!(parent.0, Kind::Local { .. })
                    || matches!(new_parent.0, Kind::Local { .. }) =>
            {
                return Err(Error::fs(ErrorKind::CrossDevice, "another device"));
            }
            _ => {}
        }
        let from_root = self.root_of(parent)?;
        let to_root = self.root_of(new_parent)?;
        local::rename(
            self.new_name(&from_root, parent, name)?,
            self.new_name(&to_root, new_parent, new_name)?,
            flags,
        )
    }

    // ---- extended attributes: see xattr.rs ----------------------------------
}
