//! Changes to other devices' trees (SPEC §4, writes to another device's
//! files). A change lands in the outbox (a staging copy in the library and
//! a record of what changed under which name) and is shown at once over the
//! replica of the owner's index, to every program here: sizes, contents,
//! listings. The courier delivers it; the owner decides.
//!
//! The overlay is addressed by path (device, location, path below it), so
//! it covers indexed entries, what the owner's rules skip, and names that
//! exist only here. A changed name keeps its inode number: the owner's
//! entry's when it had one, else the one its path gives.

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use super::node::{Kind, Renamed, Unlinked};
use super::remote::shown_attr;
use super::types::{OpenFlags, RenameFlags, SetAttr, SetTime};
use super::{Attr, DirEntry, Namespace, Node, OpenFile};
use crate::error::{Error, ErrorKind, Result};
use crate::model::entry::{EntryKind, EntryRecord};
use crate::outbox::{Change, Outbox, Staged, Target, Version};

/// What `stat` shows for a staging copy: its size and times, the mode the
/// change carries, and the node's own number.
pub(crate) fn staged_attr(ino: u64, mode: u32, md: &std::fs::Metadata) -> Attr {
    shown_attr(
        ino,
        EntryKind::File,
        mode,
        md.len(),
        crate::time::stat_nanos(md.mtime(), md.mtime_nsec()),
    )
}

fn staged_node(target: &Target, staged: &Staged, cloud: bool) -> Node {
    Node(Kind::Staged {
        cloud,
        device: target.device,
        location: target.location,
        path: target.path.clone(),
        entry: staged.entry,
        file: match staged.change {
            Change::File { staged, .. } => Some(staged),
            _ => None,
        },
    })
}

fn is_plain(name: &[u8]) -> Result<()> {
    if crate::sync::replica::is_plain_name(name) {
        Ok(())
    } else {
        Err(Error::fs(
            ErrorKind::InvalidInput,
            String::from_utf8_lossy(name),
        ))
    }
}

impl Namespace {
    fn outbox(&self) -> &Arc<Outbox> {
        self.content.outbox()
    }

    /// The node of a name with a staged change.
    fn staged_node(&self, target: &Target, staged: &Staged) -> Node {
        staged_node(target, staged, target.device == self.lib.device_id())
    }

    /// Where `node` is, if it belongs to another device's tree (an empty
    /// path is a location's root).
    pub(super) fn outgoing_target(&self, node: &Node) -> Result<Option<Target>> {
        match &node.0 {
            Kind::Remote { device, entry } => {
                let view = self.view(*device)?;
                let (location, path) = view
                    .path_of(*entry)?
                    .ok_or_else(|| Error::fs(ErrorKind::NotFound, format!("entry {entry}")))?;
                Ok(Some(Target::new(*device, location.id, path)))
            }
            Kind::Cloud { location, entry } => Ok(Some(Target::new(
                self.lib.device_id(),
                *location,
                self.cloud_path(*location, *entry)?,
            ))),
            Kind::Live {
                device,
                location,
                path,
            } => Ok(Some(Target::new(
                *device,
                *location,
                crate::fsutil::path_bytes(path).to_vec(),
            ))),
            Kind::Staged {
                device,
                location,
                path,
                ..
            } => Ok(Some(Target::new(*device, *location, path.clone()))),
            _ => Ok(None),
        }
    }

    /// The change staged for the name `node` is, if any. Cheap for a
    /// device with nothing staged.
    pub(super) fn staged_for(&self, node: &Node) -> Result<Option<(Target, Staged)>> {
        let device = match &node.0 {
            Kind::Staged { .. } => None,
            Kind::Remote { device, .. } | Kind::Live { device, .. } => Some(*device),
            Kind::Cloud { .. } => Some(self.lib.device_id()),
            _ => return Ok(None),
        };
        if let Some(device) = device
            && !self.outbox().has_any(device)?
        {
            return Ok(None);
        }
        let Some(target) = self.outgoing_target(node)? else {
            return Ok(None);
        };
        if target.path.is_empty() {
            return Ok(None);
        }
        Ok(self.outbox().get(&target)?.map(|s| (target, s)))
    }

    /// What `stat` shows for a name with a staged change.
    fn staged_attr(&self, node: &Node, target: &Target, staged: &Staged) -> Result<Attr> {
        let ino = node.key().ino();
        match &staged.change {
            Change::File { staged: id, mode } => {
                let path = self.outbox().staged_path(*id);
                let md = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
                Ok(staged_attr(ino, *mode, &md))
            }
            Change::Attrs { mode, mtime } => {
                let size = staged.base.map_or(0, |b| b.size);
                Ok(shown_attr(ino, EntryKind::File, *mode, size, *mtime))
            }
            Change::Directory { mode, mtime } => {
                Ok(shown_attr(ino, EntryKind::Directory, *mode, 0, *mtime))
            }
            Change::Copied { from, mode, .. } => {
                let (_, record) = self.copy_source(target, from)?;
                Ok(shown_attr(
                    ino,
                    EntryKind::File,
                    *mode,
                    record.size,
                    record.mtime,
                ))
            }
            Change::Removed => Err(Error::fs(
                ErrorKind::NotFound,
                String::from_utf8_lossy(target.name()),
            )),
        }
    }

    /// `getattr` of a node of another device's tree with a change staged,
    /// or of a staged node whose change was settled (then as the owner's
    /// index shows it).
    pub(super) fn getattr_outgoing(&self, node: &Node) -> Result<Option<Attr>> {
        if let Some((target, staged)) = self.staged_for(node)?
            && staged.change != Change::Removed
        {
            return self.staged_attr(node, &target, &staged).map(Some);
        }
        if let Kind::Staged { .. } = node.0 {
            let (_, attr) = self.resolve_settled(node)?;
            return Ok(Some(attr));
        }
        Ok(None)
    }

    /// A staged node whose record is gone: the name as the owner has it.
    pub(super) fn resolve_settled(&self, node: &Node) -> Result<(Node, Attr)> {
        let target = self
            .outgoing_target(node)?
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, "gone"))?;
        let (parent, name) = (target.parent().to_vec(), target.name().to_vec());
        let dir = Target::new(target.device, target.location, parent);
        self.lookup_in(&dir, &name)
    }

    /// The child `name` of directory `dir` of another device: the staged
    /// change, else the owner's entry, else what its rules skip.
    fn lookup_in(&self, dir: &Target, name: &[u8]) -> Result<(Node, Attr)> {
        let target = dir.child(name);
        if let Some(staged) = self.outbox().get(&target)? {
            let node = self.staged_node(&target, &staged);
            let attr = self.staged_attr(&node, &target, &staged)?;
            return Ok((node, attr));
        }
        let index = self.owner_index(dir.device)?;
        if let Some((entry, record)) = index.entry_at(dir.location, &target.path)? {
            return Ok(self.owned_node(dir.device, dir.location, entry, &record));
        }
        if index.is_cloud() {
            return Err(Error::fs(
                ErrorKind::NotFound,
                String::from_utf8_lossy(name),
            ));
        }
        drop(index);
        self.find_live(dir.device, dir.location, &dir.path, name)
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, String::from_utf8_lossy(name)))
    }

    /// `lookup` below a directory of another device when something is
    /// staged there; `None` leaves it to the replica.
    pub(super) fn lookup_outgoing(
        &self,
        parent: &Node,
        name: &[u8],
    ) -> Result<Option<(Node, Attr)>> {
        let staged_parent = matches!(parent.0, Kind::Staged { .. });
        let device = match &parent.0 {
            Kind::Remote { device, .. } | Kind::Live { device, .. } => *device,
            Kind::Staged { device, .. } => *device,
            Kind::Cloud { .. } => self.lib.device_id(),
            _ => return Ok(None),
        };
        if !staged_parent && !self.outbox().has_any(device)? {
            return Ok(None);
        }
        let Some(dir) = self.outgoing_target(parent)? else {
            return Ok(None);
        };
        let target = dir.child(name);
        match self.outbox().get(&target)? {
            Some(staged) if staged.change == Change::Removed => Err(Error::fs(
                ErrorKind::NotFound,
                String::from_utf8_lossy(name),
            )),
            Some(staged) => {
                let node = self.staged_node(&target, &staged);
                let attr = self.staged_attr(&node, &target, &staged)?;
                Ok(Some((node, attr)))
            }
            None if staged_parent => self.lookup_in(&dir, name).map(Some),
            None => Ok(None),
        }
    }

    /// Lays the changes staged in directory `dir` over its listing.
    pub(super) fn overlay_listing(&self, dir: &Node, entries: &mut Vec<DirEntry>) -> Result<()> {
        let staged_dir = matches!(dir.0, Kind::Staged { .. });
        let device = match &dir.0 {
            Kind::Remote { device, .. }
            | Kind::Live { device, .. }
            | Kind::Staged { device, .. } => *device,
            Kind::Cloud { .. } => self.lib.device_id(),
            _ => return Ok(()),
        };
        if !staged_dir && !self.outbox().has_any(device)? {
            return Ok(());
        }
        let Some(target) = self.outgoing_target(dir)? else {
            return Ok(());
        };
        for (name, staged) in
            self.outbox()
                .children(target.device, target.location, &target.path)?
        {
            entries.retain(|e| e.name != name);
            if staged.change == Change::Removed {
                continue;
            }
            let child = target.child(&name);
            let node = self.staged_node(&child, &staged);
            match self.staged_attr(&node, &child, &staged) {
                Ok(attr) => entries.push(DirEntry { name, node, attr }),
                Err(e) => tracing::debug!("staged {}: {e}", String::from_utf8_lossy(&name)),
            }
        }
        Ok(())
    }

    /// The listing of a directory that was created here (and, once the
    /// owner has it, what its index shows in it).
    pub(super) fn readdir_staged(&self, node: &Node) -> Result<Vec<DirEntry>> {
        let target = self
            .outgoing_target(node)?
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, "gone"))?;
        let index = self.owner_index(target.device)?;
        let mut entries = match index.entry_at(target.location, &target.path)? {
            Some((entry, record)) if record.kind == EntryKind::Directory => {
                let cloud = index.is_cloud();
                drop(index);
                if cloud {
                    self.readdir_cloud(target.location, entry)?
                } else {
                    self.readdir_remote(target.device, entry)?
                }
            }
            _ => Vec::new(),
        };
        self.overlay_listing(node, &mut entries)?;
        Ok(entries)
    }

    /// The owner's entry a copy staged at `target` copies (`from`, below
    /// the same location).
    fn copy_source(&self, target: &Target, from: &[u8]) -> Result<(u64, EntryRecord)> {
        self.owner_index(target.device)?
            .entry_at(target.location, from)?
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, String::from_utf8_lossy(from)))
    }

    // ---- what the owner has, and whether it takes changes --------------

    /// The owner's version of `target` as this device knows it, and its
    /// entry if indexed.
    fn owner_version(&self, target: &Target) -> Result<(Option<Version>, Option<u64>)> {
        let index = self.owner_index(target.device)?;
        if let Some((entry, record)) = index.entry_at(target.location, &target.path)? {
            let hash = match record.content {
                Some(c) => index.integrity(c)?,
                None => None,
            };
            return Ok((
                Some(Version {
                    hash,
                    size: record.size,
                    mtime: record.mtime,
                    directory: record.kind == EntryKind::Directory,
                }),
                Some(entry),
            ));
        }
        if index.is_cloud() {
            return Ok((None, None));
        }
        drop(index);
        let path = std::path::Path::new(crate::sys::os_str(&target.path));
        let live = self.live_entry(target.device, target.location, path).ok();
        Ok((
            live.map(|e| Version {
                hash: None,
                size: e.size,
                mtime: e.mtime,
                directory: e.kind == EntryKind::Directory,
            }),
            None,
        ))
    }

    /// Refuses at once what the owner would refuse: its location does not
    /// take changes from other devices.
    pub(super) fn check_writable(&self, target: &Target) -> Result<()> {
        match self.owner_index(target.device)?.refusal(target.location)? {
            Some(why) => Err(Error::fs(ErrorKind::ReadOnly, why)),
            None => Ok(()),
        }
    }

    /// The directory `parent` as a place for new names.
    pub(super) fn dir_target(&self, parent: &Node) -> Result<Target> {
        let dir = self
            .outgoing_target(parent)?
            .ok_or_else(|| super::read_only(parent))?;
        self.check_writable(&dir)?;
        Ok(dir)
    }

    /// Whether `target` names something now, as shown here.
    fn exists(&self, target: &Target) -> Result<Option<Attr>> {
        let dir = Target::new(target.device, target.location, target.parent().to_vec());
        match self.lookup_in(&dir, target.name()) {
            Ok((_, attr)) => Ok(Some(attr)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    // ---- files ------------------------------------------------------------

    /// Opens a node of another device's tree whose name has a staged change,
    /// or for writing (which stages one); `None` leaves a plain read to
    /// the replica.
    pub(super) fn open_outgoing(&self, node: &Node, flags: OpenFlags) -> Result<Option<OpenFile>> {
        let staged = self.staged_for(node)?;
        if let Some((
            _,
            Staged {
                change: Change::File { staged: id, mode },
                ..
            },
        )) = &staged
        {
            return self.open_staged(node, *id, *mode, flags, None).map(Some);
        }
        match &staged {
            Some((_, s)) if s.change == Change::Removed => {
                return Err(Error::fs(ErrorKind::NotFound, "removed"));
            }
            Some((
                target,
                Staged {
                    change: Change::Copied { from, .. },
                    ..
                },
            )) if !flags.writes() => {
                let (entry, _) = self.copy_source(target, from)?;
                let opened = self.open_cloud(target.location, entry)?;
                return Ok(Some(OpenFile::read_only(node.key(), opened)));
            }
            Some((_, s)) if matches!(s.change, Change::Directory { .. }) => {
                return Err(Error::fs(ErrorKind::IsADirectory, "a directory"));
            }
            _ => {}
        }
        if !flags.writes() {
            return Ok(None);
        }
        let target = self
            .outgoing_target(node)?
            .ok_or_else(|| super::read_only(node))?;
        self.check_writable(&target)?;
        let (id, mode, ticket) = self.copy_up(node, &target, flags.truncate, true)?;
        self.open_staged(node, id, mode, flags, ticket).map(Some)
    }

    /// Opens staging file `id`; a writer registers (or brings) a ticket,
    /// so the file is not delivered while it may still change.
    fn open_staged(
        &self,
        node: &Node,
        id: u64,
        mode: u32,
        flags: OpenFlags,
        ticket: Option<crate::outbox::WriterTicket>,
    ) -> Result<OpenFile> {
        let path = self.outbox().staged_path(id);
        let writes = flags.writes();
        if writes {
            let target = self
                .outgoing_target(node)?
                .ok_or_else(|| super::read_only(node))?;
            self.check_writable(&target)?;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(writes)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let ticket = match ticket {
            Some(ticket) => Some(ticket),
            None => writes.then(|| self.outbox().open_writer(id)),
        };
        if flags.truncate {
            file.set_len(0).map_err(|e| Error::io(&path, e))?;
            if let Some(t) = &ticket {
                t.wrote();
            }
        }
        Ok(OpenFile::staged(node.key(), file, ticket, mode))
    }

    /// Makes a staging copy of `node`'s current content (none when it is
    /// about to be truncated) and stages it; returns its id and mode, and
    /// with `hold`, a writer's ticket taken before the change was staged
    /// (so the courier never sees it between staging and the open).
    fn copy_up(
        &self,
        node: &Node,
        target: &Target,
        empty: bool,
        hold: bool,
    ) -> Result<(u64, u32, Option<crate::outbox::WriterTicket>)> {
        let attr = self.getattr(node)?;
        if attr.kind != EntryKind::File {
            return Err(Error::fs(ErrorKind::IsADirectory, "not a regular file"));
        }
        let (id, file) = self.outbox().new_staging_file()?;
        let ticket = hold.then(|| self.outbox().open_writer(id));
        if !empty {
            let source = self.open_original(node)?;
            let mut offset = 0u64;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = source.read_at(offset, &mut buf)?;
                if n == 0 {
                    break;
                }
                std::os::unix::fs::FileExt::write_all_at(&file, &buf[..n], offset)
                    .map_err(|e| Error::io("a staging copy", e))?;
                offset += n as u64;
            }
            // The copy keeps the original's mtime until it is written.
            let path = self.outbox().staged_path(id);
            crate::sys::set_times(&path, SetTime::Now, SetTime::At(attr.mtime))
                .map_err(|e| Error::io(&path, e))?;
        }
        let mode = attr.mode & 0o7777;
        let (base, entry) = self.owner_version(target)?;
        self.outbox()
            .stage(target, Change::File { staged: id, mode }, base, entry)?;
        Ok((id, mode, ticket))
    }

    /// The owner's version of `node`, read (verified) from wherever it is.
    fn open_original(&self, node: &Node) -> Result<OpenFile> {
        if let Some((
            target,
            Staged {
                change: Change::Copied { from, .. },
                ..
            },
        )) = self.staged_for(node)?
        {
            let (entry, _) = self.copy_source(&target, &from)?;
            let opened = self.open_cloud(target.location, entry)?;
            return Ok(OpenFile::read_only(node.key(), opened));
        }
        let opened = match &node.0 {
            Kind::Cloud { location, entry }
            | Kind::Staged {
                cloud: true,
                location,
                entry: Some(entry),
                ..
            } => self.open_cloud(*location, *entry)?,
            Kind::Remote { device, entry }
            | Kind::Staged {
                device,
                entry: Some(entry),
                ..
            } => self.open_remote(*device, *entry)?,
            Kind::Live {
                device,
                location,
                path,
            } => self.open_live(*device, *location, path)?,
            _ => {
                let target = self
                    .outgoing_target(node)?
                    .ok_or_else(|| super::read_only(node))?;
                let path = std::path::PathBuf::from(crate::sys::os_str(&target.path));
                self.open_live(target.device, target.location, &path)?
            }
        };
        Ok(OpenFile::read_only(node.key(), opened))
    }

    /// Creates and opens file `name` in directory `parent` of another device.
    pub(super) fn create_outgoing(
        &self,
        parent: &Node,
        name: &[u8],
        mode: u32,
        flags: OpenFlags,
    ) -> Result<(Node, Attr, OpenFile)> {
        is_plain(name)?;
        let dir = self.dir_target(parent)?;
        let target = dir.child(name);
        if self.exists(&target)?.is_some() {
            if flags.exclusive {
                return Err(Error::fs(
                    ErrorKind::AlreadyExists,
                    String::from_utf8_lossy(name),
                ));
            }
            let (node, _) = self.lookup_in(&dir, name)?;
            let file = self.open(&node, flags)?;
            let attr = self.getattr(&node)?;
            return Ok((node, attr, file));
        }
        let (id, file) = self.outbox().new_staging_file()?;
        // Held before the change is staged: the courier must not deliver
        // the empty file between the two.
        let ticket = self.outbox().open_writer(id);
        let (base, entry) = self.owner_version(&target)?;
        let mode = mode & 0o7777;
        let staged =
            self.outbox()
                .stage(&target, Change::File { staged: id, mode }, base, entry)?;
        let node = self.staged_node(&target, &staged);
        let attr = self.staged_attr(&node, &target, &staged)?;
        Ok((
            node.clone(),
            attr,
            OpenFile::staged(node.key(), file, Some(ticket), mode),
        ))
    }

    pub(super) fn mkdir_outgoing(
        &self,
        parent: &Node,
        name: &[u8],
        mode: u32,
    ) -> Result<(Node, Attr)> {
        is_plain(name)?;
        let dir = self.dir_target(parent)?;
        let target = dir.child(name);
        if self.exists(&target)?.is_some() {
            return Err(Error::fs(
                ErrorKind::AlreadyExists,
                String::from_utf8_lossy(name),
            ));
        }
        let (base, entry) = self.owner_version(&target)?;
        let change = Change::Directory {
            mode: mode & 0o7777,
            mtime: crate::time::unix_now_nanos(),
        };
        let staged = self.outbox().stage(&target, change, base, entry)?;
        let node = self.staged_node(&target, &staged);
        let attr = self.staged_attr(&node, &target, &staged)?;
        Ok((node, attr))
    }

    pub(super) fn unlink_outgoing(
        &self,
        parent: &Node,
        name: &[u8],
        directory: bool,
    ) -> Result<Unlinked> {
        let dir = self.dir_target(parent)?;
        let target = dir.child(name);
        let (node, attr) = self.lookup_in(&dir, name)?;
        let is_dir = attr.kind == EntryKind::Directory;
        if directory && !is_dir {
            return Err(Error::fs(
                ErrorKind::NotADirectory,
                String::from_utf8_lossy(name),
            ));
        }
        if !directory && is_dir {
            return Err(Error::fs(
                ErrorKind::IsADirectory,
                String::from_utf8_lossy(name),
            ));
        }
        if directory && !self.readdir(&node)?.is_empty() {
            return Err(Error::fs(
                ErrorKind::DirectoryNotEmpty,
                String::from_utf8_lossy(name),
            ));
        }
        match self.outbox().get(&target)? {
            // Never reached the owner: nothing to tell it.
            Some(staged) if staged.owner_has().is_none() => self.outbox().forget(&target)?,
            Some(_) => {
                self.outbox().stage(&target, Change::Removed, None, None)?;
            }
            None => {
                let (base, entry) = self.owner_version(&target)?;
                self.outbox().stage(&target, Change::Removed, base, entry)?;
            }
        }
        Ok(Unlinked(std::path::PathBuf::new()))
    }

    /// Renames a file within one location of another device. A directory
    /// is refused with `CrossDevice`, so programs copy and delete instead.
    pub(super) fn rename_outgoing(
        &self,
        parent: &Node,
        name: &[u8],
        new_parent: &Node,
        new_name: &[u8],
        flags: RenameFlags,
    ) -> Result<Renamed> {
        is_plain(new_name)?;
        let from_dir = self.dir_target(parent)?;
        let to_dir = match self.outgoing_target(new_parent)? {
            Some(t) if t.device == from_dir.device && t.location == from_dir.location => t,
            _ => return Err(Error::fs(ErrorKind::CrossDevice, "another location")),
        };
        if flags.exchange || flags.whiteout {
            return Err(Error::fs(
                ErrorKind::InvalidInput,
                "exchange across devices",
            ));
        }
        let from = from_dir.child(name);
        let to = to_dir.child(new_name);
        let (node, attr) = self.lookup_in(&from_dir, name)?;
        if attr.kind == EntryKind::Directory {
            return Err(Error::fs(
                ErrorKind::CrossDevice,
                "a directory of another device",
            ));
        }
        if from == to {
            return Ok(Renamed::none());
        }
        if let Some(existing) = self.exists(&to)? {
            if flags.noreplace {
                return Err(Error::fs(
                    ErrorKind::AlreadyExists,
                    String::from_utf8_lossy(new_name),
                ));
            }
            if existing.kind == EntryKind::Directory {
                return Err(Error::fs(
                    ErrorKind::IsADirectory,
                    String::from_utf8_lossy(new_name),
                ));
            }
        }
        // The content moves with the name: its staging copy, or a copy
        // the owner makes (a bucket copies within itself), else a staging
        // copy made now.
        let staged = self.outbox().get(&from)?;
        let movable = matches!(
            staged,
            Some(Staged {
                change: Change::File { .. } | Change::Copied { .. },
                ..
            })
        );
        if !movable {
            if self.owner_index(from.device)?.is_cloud() {
                let (base, entry) = self.owner_version(&from)?;
                let change = Change::Copied {
                    from: from.path.clone(),
                    source: base,
                    mode: attr.mode & 0o7777,
                };
                self.outbox().stage(&from, change, base, entry)?;
            } else {
                self.copy_up(&node, &from, false, false)?;
            }
        }
        let (to_base, to_entry) = self.owner_version(&to)?;
        self.outbox().rename(&from, &to, to_base, to_entry)?;
        let moved = self
            .outbox()
            .get(&to)?
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, String::from_utf8_lossy(new_name)))?;
        Ok(Renamed::outgoing(
            from.device,
            from.location,
            from.path,
            owner_entry(&node),
            self.staged_node(&to, &moved),
        ))
    }

    /// chmod, utimens and truncate of a node of another device's tree.
    pub(super) fn setattr_outgoing(
        &self,
        node: &Node,
        change: &SetAttr,
        open: Option<&OpenFile>,
    ) -> Result<Attr> {
        let target = self
            .outgoing_target(node)?
            .ok_or_else(|| super::read_only(node))?;
        if target.path.is_empty() {
            return Err(Error::fs(ErrorKind::ReadOnly, "the root of a location"));
        }
        self.check_writable(&target)?;
        if let Some(size) = change.size {
            match open {
                Some(file) if file.can_write() => file.set_len(size)?,
                _ => {
                    let file = self.open(
                        node,
                        OpenFlags {
                            write: true,
                            truncate: size == 0,
                            ..OpenFlags::default()
                        },
                    )?;
                    file.set_len(size)?;
                }
            }
        }
        let now = crate::time::unix_now_nanos();
        let mtime_of = |current: i64| match change.mtime {
            SetTime::Keep => current,
            SetTime::Now => now,
            SetTime::At(t) => t,
        };
        if change.mode.is_some() || change.times() {
            let attr = self.getattr(node)?;
            let mode = change.mode.unwrap_or(attr.mode) & 0o7777;
            match self.outbox().get(&target)? {
                Some(Staged {
                    change: Change::File { staged: id, .. },
                    ..
                }) => {
                    if change.times() {
                        let path = self.outbox().staged_path(id);
                        crate::sys::set_times(&path, change.atime, change.mtime)
                            .map_err(|e| Error::io(&path, e))?;
                    }
                    self.outbox()
                        .stage(&target, Change::File { staged: id, mode }, None, None)?;
                }
                // A bucket keeps no times; the copy keeps its new mode.
                Some(Staged {
                    change: Change::Copied { from, source, .. },
                    ..
                }) => {
                    let change = Change::Copied { from, source, mode };
                    self.outbox().stage(&target, change, None, None)?;
                }
                Some(Staged {
                    change: Change::Directory { .. },
                    ..
                }) => {
                    let change = Change::Directory {
                        mode,
                        mtime: mtime_of(attr.mtime),
                    };
                    self.outbox().stage(&target, change, None, None)?;
                }
                _ if attr.kind == EntryKind::File => {
                    let (base, entry) = self.owner_version(&target)?;
                    let change = Change::Attrs {
                        mode,
                        mtime: mtime_of(attr.mtime),
                    };
                    self.outbox().stage(&target, change, base, entry)?;
                }
                // The owner's directories keep their own mode and times.
                _ => {}
            }
        }
        // Ownership is the owner's: its ids mean nothing here.
        match open {
            Some(file) => file.getattr().or_else(|_| self.getattr(node)),
            None => self.getattr(node),
        }
    }
}

/// The owner's entry a node of another device's tree stands for, if any.
pub(super) fn owner_entry(node: &Node) -> Option<u64> {
    match node.0 {
        Kind::Remote { entry, .. } | Kind::Cloud { entry, .. } => Some(entry),
        Kind::Staged { entry, .. } => entry,
        _ => None,
    }
}
