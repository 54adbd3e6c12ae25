//! The FUSE request handlers: translate, call core, answer exactly once.
//!
//! Local files are plain syscalls on the backing path, done on fuser's worker
//! threads (none of them can stall on the network); opened files go into
//! kernel passthrough when the kernel allows it.

use std::ffi::OsStr;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, InitFlags, KernelConfig,
    LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyLseek, ReplyOpen, ReplyStatfs, ReplyWrite,
    ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use sdfs_core::model::entry::EntryKind;
use sdfs_core::namespace::local::{self, Caller, SetTime};
use sdfs_core::namespace::{Attr, Namespace, Node, Opened};

use crate::attr::{LOCAL_TTL, file_type, to_fuse, ttl};
use crate::errno::{errno, io_errno};
use crate::handles::{DirSnapshot, Handle, Handles, IoMode};
use crate::inodes::Inodes;

/// Open flags for local files. NOFLUSH: close(2) need not wait for a
/// FLUSH round trip — data is already in the backing file (passthrough or
/// pwrite), and locks are the kernel's own, not forwarded here.
const LOCAL_OPEN: FopenFlags = FopenFlags::FOPEN_NOFLUSH;

thread_local! {
    /// Each FUSE worker's read buffer, kept between reads: a fresh one per
    /// read costs an allocation and zeroing it (128 KiB or more each).
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's read buffer cut to `size` bytes. Its contents
/// are what an earlier read left: callers reply only with what they filled.
fn with_read_buffer<R>(size: u32, f: impl FnOnce(&mut [u8]) -> R) -> R {
    READ_BUFFER.with_borrow_mut(|buf| {
        let size = size as usize;
        if buf.len() < size {
            buf.resize(size, 0);
        }
        f(&mut buf[..size])
    })
}

/// Virtual attributes every local node has.
const SD_XATTRS: [&str; 5] = [
    "user.sd.uri",
    "user.sd.content_id",
    "user.sd.kind",
    "user.sd.copies",
    "user.sd.tags",
];

pub struct SdFs {
    pub(crate) ns: Arc<Namespace>,
    pub(crate) inodes: Arc<Inodes>,
    handles: Handles,
    passthrough: AtomicBool,
}

impl SdFs {
    pub fn new(ns: Arc<Namespace>, inodes: Arc<Inodes>) -> SdFs {
        SdFs {
            ns,
            inodes,
            handles: Handles::default(),
            passthrough: AtomicBool::new(false),
        }
    }

    fn node(&self, ino: INodeNo) -> Result<Node, Errno> {
        self.inodes.node(ino.0).ok_or(Errno::ENOENT)
    }

    fn local_dir(
        &self,
        ino: INodeNo,
    ) -> Result<(sdfs_core::ids::LocationId, std::path::PathBuf), Errno> {
        match self.node(ino)? {
            Node::Local { location, path } => Ok((location, path)),
            // Devices, the root and content are not writable.
            _ => Err(Errno::EROFS),
        }
    }

    fn child(
        &self,
        parent: INodeNo,
        name: &OsStr,
    ) -> Result<(sdfs_core::ids::LocationId, std::path::PathBuf), Errno> {
        let (location, dir) = self.local_dir(parent)?;
        Ok((location, dir.join(name)))
    }

    /// Answers an entry for the local node just created or found at `path`.
    fn reply_local_entry(
        &self,
        location: sdfs_core::ids::LocationId,
        path: std::path::PathBuf,
        reply: ReplyEntry,
    ) {
        match std::fs::symlink_metadata(&path) {
            Ok(md) => {
                let attr = Attr::from_metadata(&md);
                let node = Node::Local { location, path };
                let ino = self.inodes.intern(&node, &attr);
                reply.entry(&LOCAL_TTL, &to_fuse(ino, &attr), Generation(0));
            }
            Err(e) => reply.error(io_errno(&e)),
        }
    }

    /// Replies to the open of a file this device does not own: through the
    /// page cache and `read`, or straight to its whole verified copy.
    fn open_read_only(&self, ino: INodeNo, opened: Opened, reply: ReplyOpen) {
        let mode = match &opened {
            Opened::Whole(file) if self.passthrough.load(Ordering::Relaxed) => {
                match self
                    .handles
                    .passthrough_io(ino.0, || reply.open_backing(file))
                {
                    Ok(mode) => mode,
                    Err(e) => {
                        tracing::warn!(
                            "passthrough unavailable ({e}); serving reads in user space"
                        );
                        self.passthrough.store(false, Ordering::Relaxed);
                        self.handles.cached_io(ino.0)
                    }
                }
            }
            _ => self.handles.cached_io(ino.0),
        };
        let handle = match opened {
            Opened::Chunks(reader) => Handle::Content {
                reader: Arc::new(reader),
                _io: mode.clone(),
            },
            Opened::Whole(file) => Handle::Whole {
                file,
                _io: mode.clone(),
            },
        };
        let fh = FileHandle(self.handles.insert(handle));
        match &mode {
            IoMode::Passthrough(backing) => reply.opened_passthrough(fh, LOCAL_OPEN, backing),
            IoMode::Cached { .. } => reply.opened(fh, FopenFlags::FOPEN_KEEP_CACHE),
        }
    }

    /// Attributes of `ino` and how long the kernel may keep them.
    fn attr_of(
        &self,
        ino: INodeNo,
        fh: Option<FileHandle>,
    ) -> Result<(Attr, &'static Duration), Errno> {
        // fstat through an open handle works even after the name is gone.
        if let Some(fh) = fh
            && let Some(handle) = self.handles.get(fh.0)
            && let Handle::File { file, .. } = &*handle
        {
            let attr = file
                .metadata()
                .map(|md| Attr::from_metadata(&md))
                .map_err(|e| io_errno(&e))?;
            return Ok((attr, &LOCAL_TTL));
        }
        let node = self.node(ino)?;
        let node_ttl = ttl(&node);
        let attr = match self.ns.getattr(&node) {
            Ok(attr) => Ok(attr),
            // fstat of an open file whose names are all gone: the kernel asks
            // without a handle, but one of ours is still open.
            Err(e) if errno(&e) == Errno::ENOENT => {
                let open = self
                    .inodes
                    .backing_key(ino.0)
                    .and_then(|key| self.handles.open_file(key));
                match open.as_deref() {
                    Some(Handle::File { file, .. }) => file
                        .metadata()
                        .map(|md| Attr::from_metadata(&md))
                        .map_err(|e| io_errno(&e)),
                    _ => Err(Errno::ENOENT),
                }
            }
            Err(e) => Err(errno(&e)),
        }?;
        Ok((attr, node_ttl))
    }

    fn reply_attr(&self, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.attr_of(ino, fh) {
            Ok((attr, ttl)) => reply.attr(ttl, &to_fuse(ino.0, &attr)),
            Err(e) => reply.error(e),
        }
    }

    fn snapshot(&self, ino: INodeNo) -> Result<DirSnapshot, Errno> {
        let node = self.node(ino)?;
        let own = self.ns.getattr(&node).map_err(|e| errno(&e))?;
        let mut entries = vec![
            (b".".to_vec(), node.clone(), own),
            (b"..".to_vec(), node.clone(), own),
        ];
        for entry in self.ns.readdir(&node).map_err(|e| errno(&e))? {
            entries.push((entry.name, entry.node, entry.attr));
        }
        if node == Node::Root {
            // Hidden, but reachable by name: .content is not listed.
        }
        Ok(DirSnapshot { entries })
    }

    /// The snapshot of an open directory, taken on first use.
    fn listing<'h>(&self, ino: INodeNo, handle: &'h Handle) -> Result<&'h DirSnapshot, Errno> {
        let Handle::Dir(cell) = handle else {
            return Err(Errno::ENOTDIR);
        };
        if let Some(snapshot) = cell.get() {
            return Ok(snapshot);
        }
        let snapshot = self.snapshot(ino)?;
        Ok(cell.get_or_init(|| snapshot))
    }

    fn virtual_xattr(&self, node: &Node, name: &[u8]) -> Option<Result<Vec<u8>, Errno>> {
        if !name.starts_with(b"user.sd.") {
            return None;
        }
        if name == TAGS_XATTR {
            return Some(match self.ns.tags(node) {
                Ok(Some(tags)) if !tags.is_empty() => Ok(tags.join(",").into_bytes()),
                Ok(_) => Err(Errno::NO_XATTR),
                Err(e) => Err(errno(&e)),
            });
        }
        let device = self.ns.library().device_name();
        let value = match node {
            Node::Local { location, path } => {
                let facts = match self.ns.index_facts(*location, path) {
                    Ok(f) => f,
                    Err(e) => return Some(Err(errno(&e))),
                };
                match name {
                    b"user.sd.uri" => Some(facts.uri),
                    b"user.sd.content_id" => facts.content_id.map(|c| c.to_string()),
                    b"user.sd.kind" => facts.kind.map(str::to_owned),
                    b"user.sd.copies" => facts.copies.map(|c| c.to_string()),
                    _ => None,
                }
            }
            Node::Device if name == b"user.sd.uri" => Some(format!("sd://{device}")),
            Node::Content(id) if name == b"user.sd.uri" => Some(format!("sd://content/{id}")),
            Node::Content(id) if name == b"user.sd.content_id" => Some(id.to_string()),
            _ => None,
        };
        Some(value.map(String::into_bytes).ok_or(Errno::NO_XATTR))
    }
}

/// Tags, shared with every paired device; settable on any indexed file.
const TAGS_XATTR: &[u8] = b"user.sd.tags";

impl SdFs {
    fn write_tags(&self, ino: INodeNo, tags: &[String], reply: ReplyEmpty) {
        let node = match self.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        match self.ns.set_tags(&node, tags) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(&e)),
        }
    }
}

fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
    }
}

fn set_time(t: Option<TimeOrNow>) -> SetTime {
    match t {
        None => SetTime::Keep,
        Some(TimeOrNow::Now) => SetTime::Now,
        Some(TimeOrNow::SpecificTime(t)) => SetTime::At(sdfs_core::time::unix_nanos(t)),
    }
}

fn reply_xattr(value: &[u8], size: u32, reply: ReplyXattr) {
    if size == 0 {
        reply.size(value.len() as u32);
    } else if value.len() > size as usize {
        reply.error(Errno::ERANGE);
    } else {
        reply.data(value);
    }
}

impl Filesystem for SdFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config
            .add_capabilities(InitFlags::FUSE_DO_READDIRPLUS | InitFlags::FUSE_READDIRPLUS_AUTO);
        let _ = config.add_capabilities(InitFlags::FUSE_PARALLEL_DIROPS);
        let _ = config.add_capabilities(InitFlags::FUSE_CACHE_SYMLINKS);
        let _ = config.set_max_write(1024 * 1024);
        // Passthrough needs root (CAP_SYS_ADMIN) and a depth; without either,
        // reads and writes come here instead.
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if root
            && config.add_capabilities(InitFlags::FUSE_PASSTHROUGH).is_ok()
            && config.set_max_stack_depth(1).is_ok()
        {
            self.passthrough.store(true, Ordering::Relaxed);
        }
        tracing::info!(
            "mount ready; passthrough {}",
            self.passthrough.load(Ordering::Relaxed)
        );
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let node = match self.node(parent) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        match self.ns.lookup(&node, name.as_bytes()) {
            Ok((child, attr)) => {
                let ino = self.inodes.intern(&child, &attr);
                reply.entry(ttl(&child), &to_fuse(ino, &attr), Generation(0));
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.inodes.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        self.reply_attr(ino, fh, reply);
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let (_, path) = match self.local_dir(ino) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let result = (|| -> std::io::Result<()> {
            if let Some(mode) = mode {
                local::chmod(&path, mode)?;
            }
            if uid.is_some() || gid.is_some() {
                local::chown(&path, uid, gid)?;
            }
            if let Some(size) = size {
                let open = fh.and_then(|fh| self.handles.get(fh.0));
                match open.as_deref() {
                    Some(Handle::File { file, .. }) => file.set_len(size)?,
                    _ => local::truncate(&path, size)?,
                }
            }
            if atime.is_some() || mtime.is_some() {
                local::set_times(&path, set_time(atime), set_time(mtime))?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            return reply.error(io_errno(&e));
        }
        self.reply_attr(ino, fh, reply);
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.node(ino) {
            Ok(Node::Local { path, .. }) => match local::readlink(&path) {
                Ok(target) => reply.data(&target),
                Err(e) => reply.error(io_errno(&e)),
            },
            Ok(node @ (Node::Remote { .. } | Node::Live { .. })) => match self.ns.readlink(&node) {
                Ok(target) => reply.data(&target),
                Err(e) => reply.error(errno(&e)),
            },
            Ok(_) => reply.error(Errno::EINVAL),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let (location, path) = match self.child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        match local::mknod(caller(req), &path, mode, u64::from(rdev)) {
            Ok(()) => self.reply_local_entry(location, path, reply),
            Err(e) => reply.error(io_errno(&e)),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let (location, path) = match self.child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        match local::mkdir(caller(req), &path, mode) {
            Ok(()) => self.reply_local_entry(location, path, reply),
            Err(e) => reply.error(io_errno(&e)),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let (_, path) = match self.child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        match local::unlink(&path) {
            Ok(()) => {
                self.inodes.unlinked(&path);
                reply.ok();
            }
            Err(e) => reply.error(io_errno(&e)),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let (_, path) = match self.child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        match local::rmdir(&path) {
            Ok(()) => {
                self.inodes.unlinked(&path);
                reply.ok();
            }
            Err(e) => reply.error(io_errno(&e)),
        }
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let (location, path) = match self.child(parent, link_name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        match local::symlink(caller(req), target.as_os_str(), &path) {
            Ok(()) => self.reply_local_entry(location, path, reply),
            Err(e) => reply.error(io_errno(&e)),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let from = self.child(parent, name);
        let to = self.child(newparent, newname);
        let ((from_loc, from), (to_loc, to)) = match (from, to) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return reply.error(e),
        };
        // Locations may sit on different filesystems; say so as rename(2) would.
        if from_loc != to_loc && std::fs::symlink_metadata(&from).is_ok() {
            let same_dev = match (
                std::fs::metadata(from.parent().unwrap_or(&from)),
                std::fs::metadata(to.parent().unwrap_or(&to)),
            ) {
                (Ok(a), Ok(b)) => {
                    std::os::unix::fs::MetadataExt::dev(&a)
                        == std::os::unix::fs::MetadataExt::dev(&b)
                }
                _ => false,
            };
            if !same_dev {
                return reply.error(Errno::EXDEV);
            }
        }
        match local::rename(&from, &to, flags.bits()) {
            Ok(()) => {
                if flags.contains(RenameFlags::RENAME_EXCHANGE) {
                    self.inodes.exchanged(&from, &to);
                } else {
                    self.inodes.unlinked(&to);
                    self.inodes.renamed(&from, &to);
                }
                reply.ok();
            }
            Err(e) => reply.error(io_errno(&e)),
        }
    }

    fn link(
        &self,
        req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let from = match self.local_dir(ino) {
            Ok((_, p)) => p,
            Err(e) => return reply.error(e),
        };
        let (location, to) = match self.child(newparent, newname) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        match local::link(caller(req), &from, &to) {
            Ok(()) => self.reply_local_entry(location, to, reply),
            Err(e) => reply.error(io_errno(&e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let node = match self.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        match node {
            Node::Content(_) | Node::Remote { .. } | Node::Live { .. } => {
                if flags.0 & libc::O_ACCMODE != libc::O_RDONLY {
                    return reply.error(Errno::EROFS);
                }
                let opened = match &node {
                    Node::Remote { device, entry } => self.ns.open_remote(*device, *entry),
                    Node::Live {
                        device,
                        location,
                        path,
                    } => self.ns.open_live(*device, *location, path),
                    Node::Content(id) => self.ns.open_content(*id).map(Opened::Chunks),
                    _ => return reply.error(Errno::EISDIR),
                };
                match opened {
                    Ok(opened) => self.open_read_only(ino, opened, reply),
                    Err(e) => reply.error(errno(&e)),
                }
            }
            Node::Local { path, .. } => {
                let file = match local::open(&path, flags.0) {
                    Ok(f) => f,
                    Err(e) => return reply.error(io_errno(&e)),
                };
                let md = match file.metadata() {
                    Ok(md) => md,
                    Err(e) => return reply.error(io_errno(&e)),
                };
                let is_file = md.is_file();
                let key = (
                    std::os::unix::fs::MetadataExt::dev(&md),
                    std::os::unix::fs::MetadataExt::ino(&md),
                );
                if is_file && self.passthrough.load(Ordering::Relaxed) {
                    match self.handles.backing(ino.0, || reply.open_backing(&file)) {
                        Ok(backing) => {
                            let fh = self.handles.insert(Handle::File {
                                file,
                                key,
                                _backing: Some(Arc::clone(&backing)),
                            });
                            return reply.opened_passthrough(FileHandle(fh), LOCAL_OPEN, &backing);
                        }
                        Err(e) => {
                            tracing::warn!(
                                "passthrough unavailable ({e}); serving reads and writes in user space"
                            );
                            self.passthrough.store(false, Ordering::Relaxed);
                        }
                    }
                }
                let fh = self.handles.insert(Handle::File {
                    file,
                    key,
                    _backing: None,
                });
                reply.opened(FileHandle(fh), LOCAL_OPEN);
            }
            _ => reply.error(Errno::EISDIR),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some(handle) = self.handles.get(fh.0) else {
            return reply.error(Errno::EBADF);
        };
        match &*handle {
            Handle::Content { reader, .. } => {
                with_read_buffer(size, |buf| match reader.read_at(offset, buf) {
                    Ok(n) => reply.data(&buf[..n]),
                    Err(e) => {
                        tracing::warn!("{e}");
                        reply.error(Errno::EIO)
                    }
                })
            }
            Handle::File { file, .. } | Handle::Whole { file, .. } => {
                with_read_buffer(size, |buf| {
                    match sdfs_core::fsutil::read_full_at(file, buf, offset) {
                        Ok(filled) => reply.data(&buf[..filled]),
                        Err(e) => reply.error(io_errno(&e)),
                    }
                })
            }
            Handle::Dir(_) => reply.error(Errno::EISDIR),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let Some(handle) = self.handles.get(fh.0) else {
            return reply.error(Errno::EBADF);
        };
        match &*handle {
            Handle::File { file, .. } => match file.write_all_at(data, offset) {
                Ok(()) => reply.written(data.len() as u32),
                Err(e) => reply.error(io_errno(&e)),
            },
            _ => reply.error(Errno::EBADF),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.handles.remove(fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let Some(handle) = self.handles.get(fh.0) else {
            return reply.error(Errno::EBADF);
        };
        match &*handle {
            Handle::File { file, .. } => {
                let result = if datasync {
                    file.sync_data()
                } else {
                    file.sync_all()
                };
                match result {
                    Ok(()) => reply.ok(),
                    Err(e) => reply.error(io_errno(&e)),
                }
            }
            _ => reply.ok(),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let node = match self.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        // The kernel may keep local listings in its page cache: a change
        // through the mount bumps the directory's version, and one underneath
        // is invalidated by the watcher.
        let flags = if node.is_local() {
            FopenFlags::FOPEN_CACHE_DIR | FopenFlags::FOPEN_KEEP_CACHE
        } else {
            FopenFlags::empty()
        };
        let fh = self.handles.insert(Handle::Dir(std::sync::OnceLock::new()));
        reply.opened(FileHandle(fh), flags);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let Some(handle) = self.handles.get(fh.0) else {
            return reply.error(Errno::EBADF);
        };
        let snapshot = match self.listing(ino, &handle) {
            Ok(s) => s,
            Err(e) => return reply.error(e),
        };
        for (i, (name, node, attr)) in snapshot.entries.iter().enumerate().skip(offset as usize) {
            let child = if i < 2 {
                ino.0
            } else {
                self.inodes.peek(node, attr)
            };
            if reply.add(
                INodeNo(child),
                (i + 1) as u64,
                file_type(attr),
                OsStr::from_bytes(name),
            ) {
                break;
            }
        }
        reply.ok();
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let Some(handle) = self.handles.get(fh.0) else {
            return reply.error(Errno::EBADF);
        };
        let snapshot = match self.listing(ino, &handle) {
            Ok(s) => s,
            Err(e) => return reply.error(e),
        };
        for (i, (name, node, attr)) in snapshot.entries.iter().enumerate().skip(offset as usize) {
            // The kernel takes a lookup for every entry but `.` and `..`.
            let child = if i < 2 {
                ino.0
            } else {
                self.inodes.intern(node, attr)
            };
            let full = reply.add(
                INodeNo(child),
                (i + 1) as u64,
                OsStr::from_bytes(name),
                ttl(node),
                &to_fuse(child, attr),
                Generation(0),
            );
            if full {
                if i >= 2 {
                    self.inodes.forget(child, 1);
                }
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.handles.remove(fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.node(ino) {
            Ok(Node::Local { path, .. }) => {
                let result = std::fs::File::open(&path).and_then(|d| {
                    if datasync {
                        d.sync_data()
                    } else {
                        d.sync_all()
                    }
                });
                match result {
                    Ok(()) => reply.ok(),
                    Err(e) => reply.error(io_errno(&e)),
                }
            }
            Ok(_) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, ino: INodeNo, reply: ReplyStatfs) {
        let path = match self.node(ino) {
            Ok(Node::Local { path, .. }) => path,
            _ => self.ns.library().dir().to_owned(),
        };
        match local::statfs(&path) {
            Ok(s) => reply.statfs(
                s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.bsize, s.namelen, s.frsize,
            ),
            Err(e) => reply.error(io_errno(&e)),
        }
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        if name.as_bytes() == TAGS_XATTR {
            return self.write_tags(ino, &sdfs_core::namespace::parse_tags(value), reply);
        }
        if name.as_bytes().starts_with(b"user.sd.") {
            return reply.error(Errno::EPERM);
        }
        match self.local_dir(ino) {
            Ok((_, path)) => match local::xattr::set(&path, name.as_bytes(), value, flags) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(io_errno(&e)),
            },
            Err(e) => reply.error(e),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let node = match self.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        if let Some(value) = self.virtual_xattr(&node, name.as_bytes()) {
            return match value {
                Ok(v) => reply_xattr(&v, size, reply),
                Err(e) => reply.error(e),
            };
        }
        match node {
            Node::Local { path, .. } => match local::xattr::get(&path, name.as_bytes()) {
                Ok(v) => reply_xattr(&v, size, reply),
                Err(e) => reply.error(io_errno(&e)),
            },
            _ => reply.error(Errno::NO_XATTR),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let node = match self.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        let mut names = match &node {
            Node::Local { path, .. } => match local::xattr::list(path) {
                Ok(list) => list,
                Err(e) => return reply.error(io_errno(&e)),
            },
            _ => Vec::new(),
        };
        for name in SD_XATTRS {
            if let Some(Ok(_)) = self.virtual_xattr(&node, name.as_bytes()) {
                names.extend_from_slice(name.as_bytes());
                names.push(0);
            }
        }
        reply_xattr(&names, size, reply);
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        if name.as_bytes() == TAGS_XATTR {
            return self.write_tags(ino, &[], reply);
        }
        if name.as_bytes().starts_with(b"user.sd.") {
            return reply.error(Errno::EPERM);
        }
        match self.local_dir(ino) {
            Ok((_, path)) => match local::xattr::remove(&path, name.as_bytes()) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(io_errno(&e)),
            },
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let (location, path) = match self.child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let file = match local::create(caller(req), &path, flags, mode) {
            Ok(f) => f,
            Err(e) => return reply.error(io_errno(&e)),
        };
        let md = match file.metadata() {
            Ok(md) => md,
            Err(e) => return reply.error(io_errno(&e)),
        };
        let attr = Attr::from_metadata(&md);
        let key = (attr.dev, attr.ino);
        let node = Node::Local { location, path };
        let ino = self.inodes.intern(&node, &attr);
        if attr.kind == EntryKind::File && self.passthrough.load(Ordering::Relaxed) {
            match self.handles.backing(ino, || reply.open_backing(&file)) {
                Ok(backing) => {
                    let fh = self.handles.insert(Handle::File {
                        file,
                        key,
                        _backing: Some(Arc::clone(&backing)),
                    });
                    return reply.created_passthrough(
                        &LOCAL_TTL,
                        &to_fuse(ino, &attr),
                        Generation(0),
                        FileHandle(fh),
                        LOCAL_OPEN,
                        &backing,
                    );
                }
                Err(e) => {
                    tracing::warn!(
                        "passthrough unavailable ({e}); serving reads and writes in user space"
                    );
                    self.passthrough.store(false, Ordering::Relaxed);
                }
            }
        }
        let fh = self.handles.insert(Handle::File {
            file,
            key,
            _backing: None,
        });
        reply.created(
            &LOCAL_TTL,
            &to_fuse(ino, &attr),
            Generation(0),
            FileHandle(fh),
            LOCAL_OPEN,
        );
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let Some(handle) = self.handles.get(fh.0) else {
            return reply.error(Errno::EBADF);
        };
        let Handle::File { file, .. } = &*handle else {
            return reply.error(Errno::EBADF);
        };
        // SAFETY: a valid descriptor owned by the handle.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), mode, offset as i64, length as i64) };
        if rc < 0 {
            reply.error(io_errno(&std::io::Error::last_os_error()));
        } else {
            reply.ok();
        }
    }

    fn lseek(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        let Some(handle) = self.handles.get(fh.0) else {
            return reply.error(Errno::EBADF);
        };
        match &*handle {
            Handle::File { file, .. } | Handle::Whole { file, .. } => {
                // SAFETY: a valid descriptor owned by the handle.
                let rc = unsafe { libc::lseek(file.as_raw_fd(), offset, whence) };
                if rc < 0 {
                    reply.error(io_errno(&std::io::Error::last_os_error()));
                } else {
                    reply.offset(rc);
                }
            }
            Handle::Content { reader, .. } => match whence {
                libc::SEEK_DATA if (offset as u64) < reader.manifest().size() => {
                    reply.offset(offset)
                }
                libc::SEEK_HOLE => reply.offset(reader.manifest().size() as i64),
                libc::SEEK_DATA => reply.error(Errno::from_i32(libc::ENXIO)),
                _ => reply.offset(offset),
            },
            Handle::Dir(_) => reply.error(Errno::EISDIR),
        }
    }
}
