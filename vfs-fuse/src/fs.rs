//! The FUSE request handlers: translate, call the namespace, answer
//! exactly once. What a node is and what may be done to it is core's
//! answer; this file keeps node ids, handles, TTLs and passthrough.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use fuser::{
    CopyFileRangeFlags, Errno, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyLseek, ReplyOpen, ReplyStatfs,
    ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use sdfs_core::namespace::{Attr, Namespace, Node, OpenFile, SetAttr};
use sdfs_core::{Error, ErrorKind};

use crate::attr::{entry_ttl, file_type, to_fuse, ttl};
use crate::errno::{errno, errno_of};
use crate::handles::{Handle, Handles, IoMode};
use crate::inodes::Inodes;
use crate::translate;

/// Open flags of files whose bytes may change. NOFLUSH: close(2) need not
/// wait for a FLUSH round trip — data is already in the backing file
/// (passthrough or pwrite), and locks are the kernel's own.
const WRITABLE_OPEN: FopenFlags = FopenFlags::FOPEN_NOFLUSH;

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

/// Unwraps a result or answers the request with its error and returns.
macro_rules! tri {
    ($reply:ident, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return $reply.error(e.into_errno()),
        }
    };
}

trait IntoErrno {
    fn into_errno(self) -> Errno;
}

impl IntoErrno for Errno {
    fn into_errno(self) -> Errno {
        self
    }
}

impl IntoErrno for Error {
    fn into_errno(self) -> Errno {
        errno(&self)
    }
}

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

    fn handle(&self, fh: FileHandle) -> Result<Arc<Handle>, Errno> {
        self.handles.get(fh.0).ok_or(Errno::EBADF)
    }

    /// Answers an entry for `node`, named in `parent`, counting the
    /// kernel's lookup.
    fn reply_entry(&self, parent: &Node, (node, attr): (Node, Attr), reply: ReplyEntry) {
        let ino = self.inodes.intern(&node, &attr);
        reply.entry(
            entry_ttl(parent, &node),
            &to_fuse(ino, &attr),
            Generation(0),
        );
    }

    /// Registers `file`, just opened on inode `ino`: its handle, the open
    /// flags for the kernel, and the backing id when the kernel does the
    /// I/O itself. The kernel reads and writes straight to the file core
    /// says may pass through; everything else comes through our `read`,
    /// and unchanging bytes keep their cached pages.
    fn open_handle(
        &self,
        ino: u64,
        file: OpenFile,
        exec: bool,
        open_backing: impl FnOnce(&std::fs::File) -> std::io::Result<fuser::BackingId>,
    ) -> (FileHandle, FopenFlags, Option<Arc<fuser::BackingId>>) {
        let mut mode = None;
        if let Some(backing) = file.passthrough()
            && self.passthrough.load(Ordering::Relaxed)
        {
            match self.handles.passthrough_io(ino, || open_backing(backing)) {
                Ok(m) => mode = Some(m),
                Err(e) => {
                    tracing::warn!("passthrough unavailable ({e}); serving I/O in user space");
                    self.passthrough.store(false, Ordering::Relaxed);
                }
            }
        }
        let mode = mode.unwrap_or_else(|| self.handles.cached_io(ino));
        let (fopen, backing) = match &mode {
            IoMode::Passthrough(backing) => (WRITABLE_OPEN, Some(Arc::clone(backing))),
            IoMode::Cached { .. } if file.immutable() => (FopenFlags::FOPEN_KEEP_CACHE, None),
            // close(2) waits for what core does when the writer is done.
            IoMode::Cached { .. } if file.acts_on_close() => (FopenFlags::empty(), None),
            IoMode::Cached { .. } => (WRITABLE_OPEN, None),
        };
        let running = exec.then(|| self.handles.running(ino));
        let fh = FileHandle(self.handles.insert(Handle::File {
            file,
            _io: mode,
            _running: running,
        }));
        (fh, fopen, backing)
    }

    /// Attributes of `ino` and how long the kernel may keep them.
    fn attr_of(
        &self,
        ino: INodeNo,
        fh: Option<FileHandle>,
    ) -> Result<(Attr, &'static Duration), Errno> {
        let node = self.node(ino)?;
        // fstat through an open handle works even after the name is gone.
        if let Some(fh) = fh
            && let Some(handle) = self.handles.get(fh.0)
            && let Handle::File { file, .. } = &*handle
            && !file.immutable()
            && let Ok(attr) = file.getattr()
        {
            return Ok((attr, ttl(&node)));
        }
        match self.ns.getattr(&node) {
            Ok(attr) => Ok((attr, ttl(&node))),
            // fstat of an open file whose names are all gone: the kernel asks
            // without a handle, but one of ours is still open.
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let open = self.handles.open_file(&node.key());
                match open.as_deref() {
                    Some(Handle::File { file, .. }) => file
                        .getattr()
                        .map(|attr| (attr, ttl(&node)))
                        .map_err(|e| errno(&e)),
                    _ => Err(Errno::ENOENT),
                }
            }
            Err(e) => Err(errno(&e)),
        }
    }

    fn reply_attr(&self, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.attr_of(ino, fh) {
            Ok((attr, ttl)) => reply.attr(ttl, &to_fuse(ino.0, &attr)),
            Err(e) => reply.error(e),
        }
    }

    /// The listing of an open directory, taken on first use.
    fn listing<'h>(
        &self,
        ino: INodeNo,
        handle: &'h Handle,
    ) -> Result<&'h (Attr, sdfs_core::namespace::Listing), Errno> {
        let Handle::Dir(cell) = handle else {
            return Err(Errno::ENOTDIR);
        };
        if let Some(listing) = cell.get() {
            return Ok(listing);
        }
        let node = self.node(ino)?;
        let own = self.ns.getattr(&node).map_err(|e| errno(&e))?;
        let listing = self.ns.open_dir(&node).map_err(|e| errno(&e))?;
        Ok(cell.get_or_init(|| (own, listing)))
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
        // open(O_TRUNC) arrives as one call: another device's file is then
        // staged empty instead of copied first (which needs its owner).
        let _ = config.add_capabilities(InitFlags::FUSE_ATOMIC_O_TRUNC);
        let _ = config.set_max_write(1024 * 1024);
        // Passthrough needs root (CAP_SYS_ADMIN) and a depth; without either,
        // reads and writes come here instead.
        if sdfs_core::sys::is_root()
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
        let parent = tri!(reply, self.node(parent));
        let found = tri!(reply, self.ns.lookup(&parent, name.as_bytes()));
        self.reply_entry(&parent, found, reply);
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.inodes.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        self.reply_attr(ino, fh, reply);
    }

    fn setattr(
        &self,
        req: &Request,
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
        let node = tri!(reply, self.node(ino));
        let change = SetAttr {
            mode,
            uid,
            gid,
            size,
            atime: translate::set_time(atime),
            mtime: translate::set_time(mtime),
        };
        let open = fh.and_then(|fh| self.handles.get(fh.0));
        let file = match open.as_deref() {
            Some(Handle::File { file, .. }) => Some(file),
            _ => None,
        };
        let attr = tri!(
            reply,
            self.ns
                .setattr(&node, &change, file, translate::caller_ids(req))
        );
        reply.attr(ttl(&node), &to_fuse(ino.0, &attr));
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let node = tri!(reply, self.node(ino));
        let target = tri!(reply, self.ns.readlink(&node));
        reply.data(&target);
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
        let parent = tri!(reply, self.node(parent));
        let made = self.ns.mknod(
            &parent,
            name.as_bytes(),
            mode,
            u64::from(rdev),
            translate::caller(req),
        );
        self.reply_entry(&parent, tri!(reply, made), reply);
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
        let parent = tri!(reply, self.node(parent));
        let made = self
            .ns
            .mkdir(&parent, name.as_bytes(), mode, translate::caller(req));
        self.reply_entry(&parent, tri!(reply, made), reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let parent = tri!(reply, self.node(parent));
        let gone = tri!(reply, self.ns.unlink(&parent, name.as_bytes()));
        self.inodes.unlinked(&gone);
        reply.ok();
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let parent = tri!(reply, self.node(parent));
        let gone = tri!(reply, self.ns.rmdir(&parent, name.as_bytes()));
        self.inodes.unlinked(&gone);
        reply.ok();
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let parent = tri!(reply, self.node(parent));
        let made = self.ns.symlink(
            &parent,
            link_name.as_bytes(),
            target.as_os_str().as_bytes(),
            translate::caller(req),
        );
        self.reply_entry(&parent, tri!(reply, made), reply);
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
        let from = tri!(reply, self.node(parent));
        let to = tri!(reply, self.node(newparent));
        let flags = tri!(reply, translate::rename_flags(flags).ok_or(Errno::EINVAL));
        let renamed = tri!(
            reply,
            self.ns
                .rename(&from, name.as_bytes(), &to, newname.as_bytes(), flags)
        );
        self.inodes.renamed(&renamed);
        reply.ok();
    }

    fn link(
        &self,
        req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let node = tri!(reply, self.node(ino));
        let parent = tri!(reply, self.node(newparent));
        let made = self
            .ns
            .link(&node, &parent, newname.as_bytes(), translate::caller(req));
        self.reply_entry(&parent, tri!(reply, made), reply);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let node = tri!(reply, self.node(ino));
        // The kernel refuses a writer of a running program's file before it
        // asks us, but open(O_RDONLY | O_TRUNC) arrives here first (atomic
        // O_TRUNC) and its ETXTBSY check comes after: core would already
        // have truncated the program under its process.
        if flags.0 & libc::O_TRUNC != 0 && self.handles.is_running(ino.0) {
            return reply.error(Errno::ETXTBSY);
        }
        let exec = flags.0 & translate::FMODE_EXEC != 0;
        let file = tri!(reply, self.ns.open(&node, translate::open_flags(flags.0)));
        let (fh, fopen, passthrough) =
            self.open_handle(ino.0, file, exec, |f| reply.open_backing(f));
        match passthrough {
            Some(backing) => reply.opened_passthrough(fh, fopen, &backing),
            None => reply.opened(fh, fopen),
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
        let handle = tri!(reply, self.handle(fh));
        let Handle::File { file, .. } = &*handle else {
            return reply.error(Errno::EISDIR);
        };
        with_read_buffer(size, |buf| match file.read_at(offset, buf) {
            Ok(n) => reply.data(&buf[..n]),
            Err(e) => {
                tracing::warn!("{e}");
                reply.error(errno(&e))
            }
        })
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
        let handle = tri!(reply, self.handle(fh));
        let Handle::File { file, .. } = &*handle else {
            return reply.error(Errno::EBADF);
        };
        let n = tri!(reply, file.write_at(offset, data));
        reply.written(n as u32);
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        if let Ok(handle) = self.handle(fh)
            && let Handle::File { file, .. } = &*handle
        {
            tri!(reply, file.flush());
        }
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
        let handle = tri!(reply, self.handle(fh));
        if let Handle::File { file, .. } = &*handle {
            tri!(reply, file.fsync(datasync));
        }
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let node = tri!(reply, self.node(ino));
        // The kernel may keep listings of watched directories in its page
        // cache: a change through the mount bumps the directory's version,
        // and one underneath is invalidated by the watcher.
        let flags = if node.is_watched() {
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
        let handle = tri!(reply, self.handle(fh));
        let (own, listing) = tri!(reply, self.listing(ino, &handle));
        // Offsets 1 and 2 are `.` and `..`; entry i of the listing is i + 3.
        let mut next = offset;
        while next < 2 {
            let name = if next == 0 { "." } else { ".." };
            next += 1;
            if reply.add(ino, next, file_type(own), name) {
                return reply.ok();
            }
        }
        for entry in listing.starting_at((next - 2) as usize) {
            next += 1;
            let child = self.inodes.peek(&entry.node, &entry.attr);
            if reply.add(
                INodeNo(child),
                next,
                file_type(&entry.attr),
                OsStr::from_bytes(&entry.name),
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
        let handle = tri!(reply, self.handle(fh));
        let (own, listing) = tri!(reply, self.listing(ino, &handle));
        let node = tri!(reply, self.node(ino));
        let mut next = offset;
        while next < 2 {
            let name = if next == 0 { "." } else { ".." };
            next += 1;
            // The kernel takes no lookup for `.` and `..`.
            if reply.add(
                ino,
                next,
                name,
                ttl(&node),
                &to_fuse(ino.0, own),
                Generation(0),
            ) {
                return reply.ok();
            }
        }
        for entry in listing.starting_at((next - 2) as usize) {
            next += 1;
            // The kernel takes a lookup for every other entry it keeps.
            let child = self.inodes.intern(&entry.node, &entry.attr);
            let full = reply.add(
                INodeNo(child),
                next,
                OsStr::from_bytes(&entry.name),
                entry_ttl(&node, &entry.node),
                &to_fuse(child, &entry.attr),
                Generation(0),
            );
            if full {
                self.inodes.forget(child, 1);
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
        let node = tri!(reply, self.node(ino));
        tri!(reply, self.ns.fsyncdir(&node, datasync));
        reply.ok();
    }

    fn statfs(&self, _req: &Request, ino: INodeNo, reply: ReplyStatfs) {
        let node = self.node(ino).unwrap_or_else(|_| Node::root());
        let s = tri!(reply, self.ns.statfs(&node));
        reply.statfs(
            s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.bsize, s.namelen, s.frsize,
        );
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
        let node = tri!(reply, self.node(ino));
        let how = tri!(reply, translate::xattr_set(flags).ok_or(Errno::EINVAL));
        tri!(reply, self.ns.setxattr(&node, name.as_bytes(), value, how));
        reply.ok();
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let node = tri!(reply, self.node(ino));
        let value = tri!(reply, self.ns.getxattr(&node, name.as_bytes()));
        reply_xattr(&value, size, reply);
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let node = tri!(reply, self.node(ino));
        let names = tri!(reply, self.ns.listxattr(&node));
        reply_xattr(&names, size, reply);
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let node = tri!(reply, self.node(ino));
        tri!(reply, self.ns.removexattr(&node, name.as_bytes()));
        reply.ok();
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
        let parent = tri!(reply, self.node(parent));
        let (node, attr, file) = tri!(
            reply,
            self.ns.create(
                &parent,
                name.as_bytes(),
                mode,
                translate::open_flags(flags),
                translate::caller(req),
            )
        );
        let ino = self.inodes.intern(&node, &attr);
        let (fh, fopen, passthrough) =
            self.open_handle(ino, file, false, |f| reply.open_backing(f));
        let entry_ttl = ttl(&node);
        let attr = to_fuse(ino, &attr);
        match passthrough {
            Some(backing) => {
                reply.created_passthrough(entry_ttl, &attr, Generation(0), fh, fopen, &backing)
            }
            None => reply.created(entry_ttl, &attr, Generation(0), fh, fopen),
        }
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
        let handle = tri!(reply, self.handle(fh));
        let Handle::File { file, .. } = &*handle else {
            return reply.error(Errno::EBADF);
        };
        let how = tri!(
            reply,
            translate::fallocate(mode).ok_or(errno_of(ErrorKind::Unsupported))
        );
        tri!(reply, file.fallocate(how, offset, length));
        reply.ok();
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
        let handle = tri!(reply, self.handle(fh));
        let Handle::File { file, .. } = &*handle else {
            return reply.error(Errno::EISDIR);
        };
        let whence = tri!(reply, translate::whence(whence).ok_or(Errno::EINVAL));
        let at = tri!(reply, file.lseek(offset, whence));
        reply.offset(at as i64);
    }

    fn copy_file_range(
        &self,
        _req: &Request,
        _ino_in: INodeNo,
        fh_in: FileHandle,
        offset_in: u64,
        _ino_out: INodeNo,
        fh_out: FileHandle,
        offset_out: u64,
        len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        let from = tri!(reply, self.handle(fh_in));
        let to = tri!(reply, self.handle(fh_out));
        let (Handle::File { file: from, .. }, Handle::File { file: to, .. }) = (&*from, &*to)
        else {
            return reply.error(Errno::EBADF);
        };
        // One reply carries a u32 count.
        let len = len.min(u64::from(u32::MAX) & !0xfff);
        let n = tri!(reply, from.copy_range(offset_in, to, offset_out, len));
        reply.written(n as u32);
    }
}
