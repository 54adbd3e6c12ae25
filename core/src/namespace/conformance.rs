//! The conformance suite of the filesystem API: every operation on every
//! kind of node, outcomes and error kinds included, against `Namespace`
//! itself: no mount, no root. The end-to-end tests run the same behaviour
//! through the real mount (and pjdfstest, fsx and fio in CI).
//!
//! Two real libraries: `laptop` (this device, location `Docs`) and `nas`
//! (a paired device, location `share`), whose index reaches the laptop's
//! replica through real sync pages, and whose files are read through an
//! in-process link to the nas's own serving code, so every byte of another
//! device's file is verified here as it is over the network.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::content_store::ContentStore;
use crate::ids::DeviceId;
use crate::model::device::DeviceRecord;
use crate::remote::{FileRef, LiveEntry, PeerLink};

/// Another device, reached in process: its serving code answers directly.
/// Deliveries fetch their chunks from the sender's outbox, as the p2p
/// layer does.
struct InProcess {
    owner: Arc<ContentStore>,
    sender: std::sync::OnceLock<Arc<ContentStore>>,
}

/// The chunks of a staging file being delivered, read from the sender's
/// outbox (which serves it only to the device it is offered to).
struct OutboxSource {
    sender: Arc<ContentStore>,
    to: DeviceId,
    file: u64,
}

impl sdfs_cas::ChunkSource for OutboxSource {
    fn describe(&self) -> String {
        "the sender's outbox".into()
    }

    fn fetch(&self, chunk: &sdfs_cas::ChunkRef) -> std::io::Result<bytes::Bytes> {
        let mut got = self
            .sender
            .outbox()
            .serve(self.to, self.file, &[(chunk.offset, chunk.length)])
            .map_err(std::io::Error::other)?;
        got.pop()
            .map(bytes::Bytes::from)
            .ok_or_else(|| std::io::Error::other("no chunk"))
    }
}

impl PeerLink for InProcess {
    fn manifest(&self, _: DeviceId, file: &FileRef, _: Duration) -> std::io::Result<Vec<u8>> {
        self.owner
            .serve_manifest(file)
            .map_err(std::io::Error::other)
    }

    fn chunks(
        &self,
        _: DeviceId,
        file: &FileRef,
        chunks: &[sdfs_cas::ChunkRef],
        _: Duration,
    ) -> Vec<std::io::Result<bytes::Bytes>> {
        chunks
            .iter()
            .map(|c| {
                self.owner
                    .serve_chunk(file, c.offset, c.length)
                    .map(bytes::Bytes::from)
                    .map_err(std::io::Error::other)
            })
            .collect()
    }

    fn list(
        &self,
        _: DeviceId,
        location: u128,
        path: &[u8],
        _: Duration,
    ) -> std::io::Result<Vec<LiveEntry>> {
        self.owner
            .serve_listing(location, path)
            .map_err(std::io::Error::other)
    }

    fn deliver(
        &self,
        _: DeviceId,
        delivery: &crate::remote::Delivery,
        _: Duration,
    ) -> std::io::Result<crate::remote::DeliveryOutcome> {
        let sender = self.sender.get().expect("sender set");
        let file = match &delivery.change {
            crate::remote::DeliveredChange::File { staged, .. } => *staged,
            _ => 0,
        };
        let source = Arc::new(OutboxSource {
            sender: Arc::clone(sender),
            to: self.owner.library().device_id(),
            file,
        });
        crate::inbox::apply(&self.owner, "laptop", delivery, source).map_err(std::io::Error::other)
    }
}

struct World {
    _tmp: tempfile::TempDir,
    ns: Namespace,
    /// The paired device's library and store.
    nas: Arc<ContentStore>,
    link: Arc<InProcess>,
    /// The laptop's location directory on disk.
    docs: PathBuf,
    /// The nas's location directory on disk.
    share: PathBuf,
}

fn index(lib: &Arc<crate::Library>, dir: &Path, name: &str) -> LocationRecord {
    let location =
        crate::locations::add(lib, dir, Some(name), Default::default(), Default::default())
            .expect("location");
    crate::indexer::index_to_end(lib, location.id, false).expect("index");
    location
}

fn world() -> World {
    let tmp = tempfile::tempdir().expect("tmp");
    let docs = tmp.path().join("docs");
    let share = tmp.path().join("share");
    for (dir, files) in [
        (
            &docs,
            &[("a.txt", &b"alpha\n"[..]), ("sub/b.txt", b"bravo\n")][..],
        ),
        (
            &share,
            &[
                ("report.txt", &b"quarterly numbers\n"[..]),
                ("photos/beach.jpg", &[0xffu8; 300_000][..]),
                ("node_modules/left-pad/index.js", b"module.exports = 1;\n"),
            ][..],
        ),
    ] {
        for (rel, bytes) in files {
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, bytes).expect("write");
        }
    }
    std::os::unix::fs::symlink("report.txt", share.join("latest")).expect("symlink");
    let laptop = Arc::new(
        crate::Library::create(&tmp.path().join("laptop.sdlibrary"), "laptop").expect("lib"),
    );
    let nas_lib =
        Arc::new(crate::Library::create(&tmp.path().join("nas.sdlibrary"), "nas").expect("lib"));
    index(&laptop, &docs, "Docs");
    index(&nas_lib, &share, "share");
    laptop
        .add_paired_device(&DeviceRecord::this_device(nas_lib.device_id(), "nas"))
        .expect("pair");
    crate::sync::pull_all(&nas_lib, &laptop);
    let nas = Arc::new(ContentStore::open(nas_lib).expect("nas store"));
    let store = Arc::new(ContentStore::open(laptop).expect("store"));
    let ns = Namespace::new(Arc::clone(&store)).expect("ns");
    let link = Arc::new(InProcess {
        owner: Arc::clone(&nas),
        sender: store.into(),
    });
    ns.set_remote_access(RemoteAccess {
        link: Arc::clone(&link) as Arc<dyn PeerLink>,
        timeout: Duration::from_secs(3),
    });
    World {
        _tmp: tmp,
        ns,
        nas,
        link,
        docs: std::fs::canonicalize(docs).expect("canonical"),
        share,
    }
}

fn me() -> Caller {
    Caller::daemon()
}

fn kind_of<T: std::fmt::Debug>(r: Result<T>) -> ErrorKind {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.kind(),
    }
}

/// Walks `path` (components separated by `/`) from the root.
fn walk(ns: &Namespace, path: &str) -> Result<(Node, Attr)> {
    let mut at = (Node::root(), ns.getattr(&Node::root())?);
    for name in path.split('/').filter(|n| !n.is_empty()) {
        at = ns.lookup(&at.0, name.as_bytes())?;
    }
    Ok(at)
}

fn names(ns: &Namespace, node: &Node) -> Vec<Vec<u8>> {
    let mut v: Vec<_> = ns
        .readdir(node)
        .expect("readdir")
        .into_iter()
        .map(|e| e.name)
        .collect();
    v.sort();
    v
}

fn read_all(file: &OpenFile) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = file.read_at(out.len() as u64, &mut buf).expect("read");
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

// ---- the virtual directories ------------------------------------------------

#[test]
fn the_root_lists_devices_and_hides_content() {
    let w = world();
    let root = Node::root();
    assert_eq!(names(&w.ns, &root), [b"laptop".to_vec(), b"nas".to_vec()]);
    assert_eq!(w.ns.getattr(&root).expect("attr").ino, 1);
    assert_eq!(
        names(&w.ns, &walk(&w.ns, "laptop").expect("device").0),
        [b"Docs"]
    );
    let (content_dir, _) = walk(&w.ns, ".content").expect("content dir");
    assert!(names(&w.ns, &content_dir).is_empty());
    assert_eq!(kind_of(walk(&w.ns, "nobody")), ErrorKind::NotFound);
    assert_eq!(
        kind_of(walk(&w.ns, ".content/not-an-id")),
        ErrorKind::NotFound
    );
    // Nothing is created, removed or changed up here.
    for dir in [root, walk(&w.ns, "laptop").expect("device").0, content_dir] {
        assert_eq!(
            kind_of(w.ns.mkdir(&dir, b"x", 0o755, me())),
            ErrorKind::ReadOnly
        );
        assert_eq!(
            kind_of(w.ns.create(&dir, b"x", 0o644, OpenFlags::read_write(), me())),
            ErrorKind::ReadOnly
        );
        assert_eq!(kind_of(w.ns.unlink(&dir, b"x")), ErrorKind::ReadOnly);
        assert_eq!(
            kind_of(w.ns.setattr(&dir, &SetAttr::default(), None, me())),
            ErrorKind::ReadOnly
        );
        assert_eq!(
            kind_of(w.ns.open(&dir, OpenFlags::read_only())),
            ErrorKind::IsADirectory
        );
    }
}

#[test]
fn content_by_id_opens_verified_bytes_read_only() {
    let w = world();
    let (file, _) = walk(&w.ns, "laptop/Docs/a.txt").expect("a.txt");
    let id =
        String::from_utf8(w.ns.getxattr(&file, b"user.sd.content_id").expect("id")).expect("utf-8");
    let (content, attr) = walk(&w.ns, &format!(".content/{id}")).expect("content");
    assert_eq!(attr.size, 6);
    assert_eq!(attr.mode & mode::TYPE_MASK, mode::FILE);
    let open = w.ns.open(&content, OpenFlags::read_only()).expect("open");
    assert_eq!(read_all(&open), b"alpha\n");
    assert!(open.immutable());
    assert_eq!(
        kind_of(w.ns.open(&content, OpenFlags::read_write())),
        ErrorKind::ReadOnly
    );
    assert_eq!(kind_of(open.write_at(0, b"x")), ErrorKind::BadHandle);
    assert_eq!(
        kind_of(w.ns.lookup(&content, b"x")),
        ErrorKind::NotADirectory
    );
    assert_eq!(
        String::from_utf8(w.ns.getxattr(&content, b"user.sd.uri").expect("uri")).expect("utf-8"),
        format!("sd://content/{id}")
    );
}

// ---- this device's files ----------------------------------------------------

#[test]
fn local_names_attributes_and_listings_are_the_disk_s() {
    let w = world();
    std::fs::write(w.docs.join(".hidden"), b"listed anyway").expect("write");
    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9 \xff");
    std::fs::write(w.docs.join(odd), b"bytes").expect("write");
    let (docs, attr) = walk(&w.ns, "laptop/Docs").expect("Docs");
    assert_eq!(attr.kind, crate::model::entry::EntryKind::Directory);
    let mut on_disk: Vec<Vec<u8>> = std::fs::read_dir(&w.docs)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().as_bytes().to_vec())
        .collect();
    on_disk.sort();
    assert_eq!(names(&w.ns, &docs), on_disk);
    let (file, attr) = w.ns.lookup(&docs, b"caf\xe9 \xff").expect("odd name");
    assert_eq!(attr.size, 5);
    assert_eq!(w.ns.getattr(&file).expect("attr"), attr);
    assert_eq!(kind_of(w.ns.lookup(&docs, b"missing")), ErrorKind::NotFound);
    assert_eq!(
        kind_of(w.ns.lookup(&file, b"below-a-file")),
        ErrorKind::NotADirectory
    );
    assert_eq!(
        kind_of(w.ns.lookup(&docs, &[b'n'; 300])),
        ErrorKind::NameTooLong
    );
    let listing = w.ns.open_dir(&docs).expect("open dir");
    assert_eq!(listing.len(), on_disk.len());
    assert_eq!(listing.starting_at(1).len(), on_disk.len() - 1);
    assert!(listing.starting_at(on_disk.len() + 5).is_empty());
    let stats = w.ns.statfs(&docs).expect("statfs");
    assert!(stats.blocks > 0 && stats.namelen >= 255);
}

#[test]
fn local_files_are_created_written_read_and_removed() {
    let w = world();
    let (docs, _) = walk(&w.ns, "laptop/Docs").expect("Docs");
    let (node, attr, file) =
        w.ns.create(&docs, b"new.txt", 0o640, OpenFlags::read_write(), me())
            .expect("create");
    assert_eq!(attr.mode & 0o777, 0o640);
    assert_eq!(file.write_at(0, b"hello world").expect("write"), 11);
    file.fsync(true).expect("fsync");
    assert_eq!(read_all(&file), b"hello world");
    assert_eq!(
        std::fs::read(w.docs.join("new.txt")).expect("disk"),
        b"hello world"
    );
    assert_eq!(
        kind_of(w.ns.create(
            &docs,
            b"new.txt",
            0o640,
            OpenFlags {
                exclusive: true,
                ..OpenFlags::read_write()
            },
            me()
        )),
        ErrorKind::AlreadyExists
    );
    // Read-only handles do not write.
    let ro = w.ns.open(&node, OpenFlags::read_only()).expect("open");
    assert_eq!(kind_of(ro.write_at(0, b"x")), ErrorKind::BadHandle);
    assert!(!ro.immutable() && ro.passthrough().is_some());
    // setattr: size, mode, times, through a handle and by name.
    let change = SetAttr {
        size: Some(5),
        mode: Some(0o600),
        mtime: SetTime::At(1_000_000_000_000_000_000),
        ..SetAttr::default()
    };
    let after =
        w.ns.setattr(&node, &change, Some(&file), me())
            .expect("setattr");
    assert_eq!((after.size, after.mode & 0o777), (5, 0o600));
    assert_eq!(after.mtime, 1_000_000_000_000_000_000);
    assert_eq!(after.ino, attr.ino);
    // fallocate and lseek over a hole.
    file.set_len(0).expect("truncate");
    file.write_at(1 << 20, b"end").expect("write past a hole");
    assert_eq!(file.lseek(0, Whence::Data).expect("data"), 1 << 20);
    assert_eq!(file.lseek(0, Whence::Hole).expect("hole"), 0);
    assert_eq!(
        kind_of(file.lseek(2 << 20, Whence::Data)),
        ErrorKind::NoSuchOffset
    );
    file.fallocate(Fallocate::default(), 0, 4096)
        .expect("fallocate");
    // copy_file_range between two local files.
    let (_, _, copy) =
        w.ns.create(&docs, b"copy.txt", 0o644, OpenFlags::read_write(), me())
            .expect("create copy");
    let n = file.copy_range(1 << 20, &copy, 0, 3).expect("copy range");
    assert_eq!((n, read_all(&copy)), (3, b"end".to_vec()));
    // Unlink: the name goes, the open handle still reads and stats.
    let gone = w.ns.unlink(&docs, b"copy.txt").expect("unlink");
    assert!(!gone.was(&node));
    assert_eq!(
        kind_of(w.ns.lookup(&docs, b"copy.txt")),
        ErrorKind::NotFound
    );
    assert_eq!(copy.getattr().expect("fstat").size, 3);
    assert_eq!(
        kind_of(w.ns.unlink(&docs, b"copy.txt")),
        ErrorKind::NotFound
    );
}

#[test]
fn local_directories_links_and_special_files() {
    let w = world();
    let (docs, _) = walk(&w.ns, "laptop/Docs").expect("Docs");
    let (dir, attr) = w.ns.mkdir(&docs, b"made", 0o750, me()).expect("mkdir");
    assert_eq!(attr.mode & 0o777, 0o750);
    assert_eq!(
        kind_of(w.ns.mkdir(&docs, b"made", 0o750, me())),
        ErrorKind::AlreadyExists
    );
    let (fifo, _) =
        w.ns.mknod(&dir, b"fifo", mode::FIFO | 0o600, 0, me())
            .expect("mkfifo");
    // A fifo opens, but only a regular file may pass through to the disk.
    let open =
        w.ns.open(
            &fifo,
            OpenFlags {
                nonblock: true,
                ..OpenFlags::read_only()
            },
        )
        .expect("open fifo");
    assert!(open.passthrough().is_none());
    drop(open);
    assert_eq!(
        kind_of(w.ns.rmdir(&docs, b"made")),
        ErrorKind::DirectoryNotEmpty
    );
    assert_eq!(kind_of(w.ns.rmdir(&dir, b"fifo")), ErrorKind::NotADirectory);
    w.ns.unlink(&dir, b"fifo").expect("unlink fifo");
    w.ns.rmdir(&docs, b"made").expect("rmdir");
    // Symlinks: the target is bytes, as written.
    let (link, attr) =
        w.ns.symlink(&docs, b"link", b"sub/\xffb.txt", me())
            .expect("symlink");
    assert_eq!(attr.mode & mode::TYPE_MASK, mode::SYMLINK);
    assert_eq!(w.ns.readlink(&link).expect("readlink"), b"sub/\xffb.txt");
    let (file, _) = walk(&w.ns, "laptop/Docs/a.txt").expect("a.txt");
    assert_eq!(kind_of(w.ns.readlink(&file)), ErrorKind::InvalidInput);
    // A hard link is the same node: one key, one inode number.
    let (alias, alias_attr) = w.ns.link(&file, &docs, b"alias", me()).expect("link");
    assert_eq!(alias.key(), file.key());
    assert_eq!(alias_attr.ino, w.ns.getattr(&file).expect("attr").ino);
    assert_eq!(alias_attr.nlink, 2);
}

#[test]
fn a_local_node_keeps_its_identity_across_renames() {
    let w = world();
    let (docs, _) = walk(&w.ns, "laptop/Docs").expect("Docs");
    let (sub, _) = w.ns.lookup(&docs, b"sub").expect("sub");
    let (b, b_attr) = w.ns.lookup(&sub, b"b.txt").expect("b");
    let renamed =
        w.ns.rename(
            &sub,
            b"b.txt",
            &docs,
            b"b-moved.txt",
            RenameFlags::default(),
        )
        .expect("rename");
    let moved = renamed.apply(&b).expect("b moved");
    assert_eq!(moved.key(), b.key());
    let (again, attr) = w.ns.lookup(&docs, b"b-moved.txt").expect("lookup");
    assert_eq!((again.key(), attr.ino), (b.key(), b_attr.ino));
    assert_eq!(w.ns.getattr(&moved).expect("attr").ino, b_attr.ino);
    // Moving a directory moves every name below it.
    let (inner, _) =
        w.ns.create(&sub, b"inner", 0o644, OpenFlags::read_write(), me())
            .map(|(n, a, _)| (n, a))
            .expect("create");
    let renamed =
        w.ns.rename(&docs, b"sub", &docs, b"sub2", RenameFlags::default())
            .expect("rename dir");
    let inner_moved = renamed.apply(&inner).expect("inner moved");
    assert!(inner_moved.still_named());
    assert!(!inner.still_named());
    // No replace: the target exists.
    assert_eq!(
        kind_of(w.ns.rename(
            &docs,
            b"a.txt",
            &docs,
            b"b-moved.txt",
            RenameFlags {
                noreplace: true,
                ..RenameFlags::default()
            }
        )),
        ErrorKind::AlreadyExists
    );
    // Exchange swaps the two names.
    let r =
        w.ns.rename(
            &docs,
            b"a.txt",
            &docs,
            b"b-moved.txt",
            RenameFlags {
                exchange: true,
                ..RenameFlags::default()
            },
        )
        .expect("exchange");
    assert!(!r.replaced(&again));
    assert_eq!(std::fs::read(w.docs.join("a.txt")).expect("a"), b"bravo\n");
    assert_eq!(
        kind_of(w.ns.rename(&docs, b"missing", &docs, b"x", RenameFlags::default())),
        ErrorKind::NotFound
    );
}

#[test]
fn local_extended_attributes_and_tags() {
    let w = world();
    let (docs, _) = walk(&w.ns, "laptop/Docs").expect("Docs");
    let (file, _) = w.ns.lookup(&docs, b"a.txt").expect("a.txt");
    // The backing file's own attributes pass through.
    w.ns.setxattr(&file, b"user.color", b"blue", XattrSet::Create)
        .expect("set");
    assert_eq!(w.ns.getxattr(&file, b"user.color").expect("get"), b"blue");
    assert_eq!(
        kind_of(w.ns.setxattr(&file, b"user.color", b"red", XattrSet::Create)),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        kind_of(w.ns.getxattr(&file, b"user.missing")),
        ErrorKind::NoAttribute
    );
    // Computed ones: readable, never listed, never set.
    assert_eq!(
        w.ns.getxattr(&file, b"user.sd.uri").expect("uri"),
        b"sd://laptop/Docs/a.txt"
    );
    assert_eq!(
        w.ns.getxattr(&file, b"user.sd.kind").expect("kind"),
        b"text"
    );
    assert_eq!(
        kind_of(w.ns.setxattr(&file, b"user.sd.uri", b"x", XattrSet::Either)),
        ErrorKind::NotPermitted
    );
    assert_eq!(
        kind_of(w.ns.removexattr(&file, b"user.sd.kind")),
        ErrorKind::NotPermitted
    );
    let listed = |node: &Node| -> Vec<Vec<u8>> {
        w.ns.listxattr(node)
            .expect("list")
            .split(|b| *b == 0)
            .filter(|n| !n.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    };
    assert_eq!(listed(&file), [b"user.color".to_vec()]);
    // Tags on a file made a moment ago, before any watcher saw it.
    let (fresh, _, _) =
        w.ns.create(&docs, b"fresh.txt", 0o644, OpenFlags::read_write(), me())
            .expect("create");
    assert_eq!(w.ns.tags(&fresh).expect("tags"), None);
    w.ns.setxattr(&fresh, b"user.sd.tags", b"holiday, 2024", XattrSet::Either)
        .expect("tags on a fresh file");
    assert_eq!(
        w.ns.getxattr(&fresh, b"user.sd.tags").expect("tags"),
        b"2024,holiday"
    );
    assert_eq!(listed(&fresh), [b"user.sd.tags".to_vec()]);
    w.ns.removexattr(&fresh, b"user.sd.tags").expect("remove");
    assert_eq!(
        kind_of(w.ns.getxattr(&fresh, b"user.sd.tags")),
        ErrorKind::NoAttribute
    );
    w.ns.removexattr(&file, b"user.color").expect("remove");
    assert!(listed(&file).is_empty());
}

#[test]
fn a_rename_between_locations_on_different_filesystems_is_cross_device() {
    let w = world();
    let shm = Path::new("/dev/shm");
    use std::os::unix::fs::MetadataExt;
    let other_fs = std::fs::metadata(shm)
        .map(|m| m.dev() != std::fs::metadata(&w.docs).map(|d| d.dev()).unwrap_or(0))
        .unwrap_or(false);
    let elsewhere =
        tempfile::tempdir_in(if other_fs { shm } else { w.docs.as_path() }).expect("tmp");
    crate::locations::add(
        w.ns.library(),
        elsewhere.path(),
        Some("Other"),
        Default::default(),
        Default::default(),
    )
    .expect("location");
    w.ns.reload_locations().expect("reload");
    let (docs, _) = walk(&w.ns, "laptop/Docs").expect("Docs");
    let (other, _) = walk(&w.ns, "laptop/Other").expect("Other");
    let result =
        w.ns.rename(&docs, b"a.txt", &other, b"a.txt", RenameFlags::default());
    if other_fs {
        assert_eq!(kind_of(result), ErrorKind::CrossDevice);
        assert!(w.docs.join("a.txt").exists());
    } else {
        result.expect("same filesystem");
    }
}

// ---- another device's files -------------------------------------------------

#[test]
fn another_device_lists_and_stats_from_its_replica() {
    let w = world();
    let (nas, _) = walk(&w.ns, "nas").expect("nas");
    assert_eq!(names(&w.ns, &nas), [b"share"]);
    let (share, _) = walk(&w.ns, "nas/share").expect("share");
    let listed = names(&w.ns, &share);
    for name in [&b"latest"[..], b"node_modules", b"photos", b"report.txt"] {
        assert!(listed.iter().any(|n| n == name), "{listed:?}");
    }
    let (report, attr) = w.ns.lookup(&share, b"report.txt").expect("report");
    assert_eq!(attr.size, 18);
    // Read-only bits as a read-only mount shows them, owned by us.
    assert_eq!(attr.mode & mode::TYPE_MASK, mode::FILE);
    assert_eq!((attr.uid, attr.gid), crate::sys::process_ids());
    // The number is the entry's, stable across lookups.
    assert_eq!(w.ns.getattr(&report).expect("attr").ino, attr.ino);
    assert_eq!(
        w.ns.lookup(&share, b"report.txt").expect("again").1.ino,
        attr.ino
    );
    let (latest, _) = w.ns.lookup(&share, b"latest").expect("latest");
    assert_eq!(w.ns.readlink(&latest).expect("readlink"), b"report.txt");
    assert_eq!(
        kind_of(w.ns.lookup(&share, b"missing")),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind_of(w.ns.lookup(&report, b"x")),
        ErrorKind::NotADirectory
    );
}

#[test]
fn another_device_s_files_are_read_verified_and_unchanged_where_it_refuses() {
    let w = world();
    crate::locations::set_remote_writes(w.nas.library(), "share", false).expect("off");
    crate::sync::pull_all(w.nas.library(), w.ns.library());
    let (share, _) = walk(&w.ns, "nas/share").expect("share");
    let (photo_dir, _) = w.ns.lookup(&share, b"photos").expect("photos");
    let (photo, _) = w.ns.lookup(&photo_dir, b"beach.jpg").expect("photo");
    let open = w.ns.open(&photo, OpenFlags::read_only()).expect("open");
    assert_eq!(read_all(&open), vec![0xffu8; 300_000]);
    assert!(open.immutable());
    assert_eq!(open.lseek(10, Whence::Data).expect("data"), 10);
    assert_eq!(open.lseek(10, Whence::Hole).expect("hole"), 300_000);
    // Bytes changed at the owner after indexing are never served as the
    // indexed file: the manifest no longer matches the replicated size.
    let (report, _) = w.ns.lookup(&share, b"report.txt").expect("report");
    std::fs::write(
        w.share.join("report.txt"),
        b"rewritten, longer than before\n",
    )
    .expect("rewrite");
    assert!(w.ns.open(&report, OpenFlags::read_only()).is_err());
    // The owner takes no changes there: every one is refused as
    // read-only at once, and says so.
    assert_eq!(
        kind_of(w.ns.open(&photo, OpenFlags::read_write())),
        ErrorKind::ReadOnly
    );
    for result in [
        w.ns.create(&share, b"x", 0o644, OpenFlags::read_write(), me())
            .map(|_| ()),
        w.ns.mkdir(&share, b"x", 0o755, me()).map(|_| ()),
        w.ns.symlink(&share, b"x", b"y", me()).map(|_| ()),
        w.ns.mknod(&share, b"x", mode::FIFO | 0o644, 0, me())
            .map(|_| ()),
        w.ns.link(&photo, &share, b"x", me()).map(|_| ()),
        w.ns.unlink(&share, b"report.txt").map(|_| ()),
        w.ns.rmdir(&share, b"photos").map(|_| ()),
        w.ns.rename(&share, b"report.txt", &share, b"x", RenameFlags::default())
            .map(|_| ()),
        w.ns.setattr(&photo, &SetAttr::default(), None, me())
            .map(|_| ()),
        w.ns.setxattr(&photo, b"user.color", b"blue", XattrSet::Either),
        w.ns.removexattr(&photo, b"user.color"),
    ] {
        assert_eq!(kind_of(result), ErrorKind::ReadOnly);
    }
    // Tags are shared data: settable on another device's file.
    w.ns.setxattr(&photo, b"user.sd.tags", b"beach", XattrSet::Either)
        .expect("tag");
    assert_eq!(
        w.ns.getxattr(&photo, b"user.sd.tags").expect("tags"),
        b"beach"
    );
    assert_eq!(
        w.ns.listxattr(&photo).expect("list"),
        b"user.sd.tags\0".to_vec()
    );
    // A copy out of another device's file into a local one.
    let (docs, _) = walk(&w.ns, "laptop/Docs").expect("Docs");
    let (_, _, local) =
        w.ns.create(&docs, b"beach.jpg", 0o644, OpenFlags::read_write(), me())
            .expect("create");
    assert_eq!(
        open.copy_range(0, &local, 0, 300_000).expect("copy"),
        300_000
    );
    assert_eq!(read_all(&local), vec![0xffu8; 300_000]);
    assert_eq!(
        kind_of(local.copy_range(0, &open, 0, 10)),
        ErrorKind::BadHandle
    );
}

#[test]
fn what_the_owner_s_rules_skip_is_listed_live_and_read_by_path() {
    let w = world();
    let (modules, attr) = walk(&w.ns, "nas/share/node_modules").expect("live dir");
    assert_eq!(attr.kind, crate::model::entry::EntryKind::Directory);
    assert_eq!(names(&w.ns, &modules), [b"left-pad"]);
    let (file, attr) = walk(&w.ns, "nas/share/node_modules/left-pad/index.js").expect("file");
    assert_eq!(attr.size, 20);
    assert_eq!(w.ns.getattr(&file).expect("attr").ino, attr.ino);
    let open = w.ns.open(&file, OpenFlags::read_only()).expect("open");
    assert_eq!(read_all(&open), b"module.exports = 1;\n");
    // Changed like an indexed file: staged here, delivered by path.
    let (left_pad, _) = w.ns.lookup(&modules, b"left-pad").expect("dir");
    write_all(
        &w.ns.open(&file, truncating()).expect("write"),
        b"module.exports = 2;\n",
    );
    assert_eq!(
        kind_of(w.ns.unlink(&modules, b"left-pad")),
        ErrorKind::IsADirectory
    );
    w.ns.unlink(&left_pad, b"index.js").expect("unlink");
    w.ns.rmdir(&modules, b"left-pad").expect("rmdir");
    assert_eq!(names(&w.ns, &modules), Vec::<Vec<u8>>::new());
    deliver_all(&w);
    assert!(!w.share.join("node_modules/left-pad").exists());
    assert_eq!(
        kind_of(walk(&w.ns, "nas/share/node_modules/nothing")),
        ErrorKind::NotFound
    );
}

#[test]
fn an_offline_device_shows_its_replica_and_its_reads_fail_as_unavailable() {
    let w = world();
    w.ns.set_remote_access(RemoteAccess {
        link: Arc::new(Offline),
        timeout: Duration::from_secs(3),
    });
    let (share, _) = walk(&w.ns, "nas/share").expect("share");
    let listed = names(&w.ns, &share);
    assert!(listed.contains(&b"report.txt".to_vec()), "{listed:?}");
    // What only the live listing showed is gone while the device is.
    assert!(!listed.contains(&b"node_modules".to_vec()), "{listed:?}");
    let (report, attr) = w.ns.lookup(&share, b"report.txt").expect("report");
    assert_eq!(attr.size, 18);
    assert_eq!(
        kind_of(w.ns.open(&report, OpenFlags::read_only())),
        ErrorKind::Unavailable
    );
}

/// The content of the nas's file at `path` of its `share`, as replicated.
fn nas_content(w: &World, path: &[u8]) -> crate::ids::ContentId {
    let lib = w.ns.content_store().library();
    let view = crate::sync::replica::ReplicaView::new(lib.db(), w.nas.library().device_id())
        .expect("view");
    let share = view
        .locations()
        .expect("locations")
        .into_iter()
        .find(|l| l.name == "share")
        .expect("share");
    let (_, entry) = view
        .entry_at(share.id, path)
        .expect("read")
        .expect("indexed");
    entry.content.expect("identified")
}

#[test]
fn content_by_id_reads_what_only_another_device_holds() {
    let w = world();
    let id = nas_content(&w, b"report.txt");
    let (content, attr) = walk(&w.ns, &format!(".content/{id}")).expect("content");
    assert_eq!(attr.size, 18);
    let open = w.ns.open(&content, OpenFlags::read_only()).expect("open");
    assert_eq!(read_all(&open), b"quarterly numbers\n");
    // With the device away and nothing kept here, the read fails at once.
    let id = nas_content(&w, b"photos/beach.jpg");
    w.ns.set_remote_access(RemoteAccess {
        link: Arc::new(Offline),
        timeout: Duration::from_secs(3),
    });
    let (content, attr) = walk(&w.ns, &format!(".content/{id}")).expect("listed offline");
    assert_eq!(attr.size, 300_000);
    assert_eq!(
        kind_of(w.ns.open(&content, OpenFlags::read_only())),
        ErrorKind::Unavailable
    );
}

/// A device that does not answer.
struct Offline;

impl PeerLink for Offline {
    fn manifest(&self, _: DeviceId, _: &FileRef, _: Duration) -> std::io::Result<Vec<u8>> {
        Err(std::io::ErrorKind::NotConnected.into())
    }

    fn chunks(
        &self,
        _: DeviceId,
        _: &FileRef,
        chunks: &[sdfs_cas::ChunkRef],
        _: Duration,
    ) -> Vec<std::io::Result<bytes::Bytes>> {
        chunks
            .iter()
            .map(|_| Err(std::io::ErrorKind::NotConnected.into()))
            .collect()
    }

    fn list(&self, _: DeviceId, _: u128, _: &[u8], _: Duration) -> std::io::Result<Vec<LiveEntry>> {
        Err(std::io::ErrorKind::NotConnected.into())
    }
}

#[test]
fn a_directory_swapped_for_a_symlink_leads_nowhere_outside_the_location() {
    let w = world();
    let (docs, _) = walk(&w.ns, "laptop/Docs").expect("Docs");
    let (sub, _) = w.ns.lookup(&docs, b"sub").expect("sub");
    let (b, _) = w.ns.lookup(&sub, b"b.txt").expect("b");
    // Between the kernel's lookups and the calls, someone who can write in
    // the location replaces the directory with a link to somewhere else.
    let outside = w.docs.parent().expect("parent").join("outside");
    std::fs::create_dir(&outside).expect("mkdir");
    std::fs::write(outside.join("b.txt"), b"not the location's").expect("write");
    std::fs::rename(w.docs.join("sub"), w.docs.join("sub.moved")).expect("move");
    std::os::unix::fs::symlink(&outside, w.docs.join("sub")).expect("ln");
    let refused = |kind: ErrorKind| {
        assert!(
            matches!(kind, ErrorKind::SymlinkLoop | ErrorKind::CrossDevice),
            "{kind:?}"
        )
    };
    refused(kind_of(w.ns.open(&b, OpenFlags::read_only())));
    refused(kind_of(w.ns.create(
        &sub,
        b"new",
        0o644,
        OpenFlags::read_write(),
        me(),
    )));
    refused(kind_of(w.ns.mkdir(&sub, b"new", 0o755, me())));
    refused(kind_of(w.ns.unlink(&sub, b"b.txt")));
    refused(kind_of(w.ns.setattr(
        &b,
        &SetAttr {
            size: Some(0),
            ..SetAttr::default()
        },
        None,
        me(),
    )));
    refused(kind_of(w.ns.setxattr(
        &b,
        b"user.x",
        b"1",
        XattrSet::Either,
    )));
    assert_eq!(
        std::fs::read(outside.join("b.txt")).expect("outside"),
        b"not the location's"
    );
    assert!(!outside.join("new").exists());
}

#[test]
fn another_device_s_file_goes_from_online_only_to_cached_once_read() {
    let w = world();
    let (photo, _) = walk(&w.ns, "nas/share/photos/beach.jpg").expect("photo");
    let state = |ns: &Namespace| {
        String::from_utf8(ns.getxattr(&photo, b"user.sd.state").expect("state")).expect("utf-8")
    };
    assert_eq!(state(&w.ns), "online-only");
    let (dir, _) = walk(&w.ns, "nas/share/photos").expect("dir");
    assert_eq!(
        kind_of(w.ns.getxattr(&dir, b"user.sd.state")),
        ErrorKind::NoAttribute
    );
    let open = w.ns.open(&photo, OpenFlags::read_only()).expect("open");
    assert_eq!(read_all(&open), vec![0xffu8; 300_000]);
    drop(open);
    // The keeper stores what was fetched in the background, then the
    // whole file is assembled: within moments it is cached.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while state(&w.ns) != "cached" && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(state(&w.ns), "cached");
    // This device's own files are held, not cached.
    let (local, _) = walk(&w.ns, "laptop/Docs/a.txt").expect("a.txt");
    assert_eq!(
        kind_of(w.ns.getxattr(&local, b"user.sd.state")),
        ErrorKind::NoAttribute
    );
}

// ---- changes to another device's files --------------------------------------

/// Runs the courier until nothing is left to deliver.
fn deliver_all(w: &World) {
    let mut courier = crate::outbox::courier::Courier::new(
        Arc::clone(w.ns.content_store()),
        Arc::clone(&w.link) as Arc<dyn PeerLink>,
    );
    for _ in 0..20 {
        courier.pass().expect("pass");
        let pending = crate::outbox::courier::pending(w.ns.content_store()).expect("pending");
        if pending.by_device.is_empty() {
            return;
        }
    }
    panic!("changes left undelivered");
}

fn write_all(file: &OpenFile, bytes: &[u8]) {
    assert_eq!(file.write_at(0, bytes).expect("write"), bytes.len());
}

fn truncating() -> OpenFlags {
    OpenFlags {
        truncate: true,
        ..OpenFlags::read_write()
    }
}

#[test]
fn writes_to_another_device_show_at_once_and_reach_its_disk_whole() {
    let w = world();
    let (share, _) = walk(&w.ns, "nas/share").expect("share");
    // A new file: listed, sized and readable here before the owner has it.
    let (new, _, file) =
        w.ns.create(&share, b"new.txt", 0o640, OpenFlags::read_write(), me())
            .expect("create");
    write_all(&file, b"hello nas\n");
    file.fsync(false).expect("fsync");
    drop(file);
    assert_eq!(w.ns.getattr(&new).expect("attr").size, 10);
    assert!(names(&w.ns, &share).iter().any(|n| n == b"new.txt"));
    let (again, attr) = w.ns.lookup(&share, b"new.txt").expect("lookup");
    assert_eq!((attr.size, attr.mode & 0o777), (10, 0o640));
    let opened = w.ns.open(&again, OpenFlags::read_only()).expect("open");
    assert_eq!(read_all(&opened), b"hello nas\n");
    assert!(!w.share.join("new.txt").exists());
    // An O_TRUNC rewrite of the owner's file keeps its inode number.
    let (report, before) = w.ns.lookup(&share, b"report.txt").expect("report");
    write_all(
        &w.ns.open(&report, truncating()).expect("open"),
        b"revised\n",
    );
    let (_, after) = w.ns.lookup(&share, b"report.txt").expect("report");
    assert_eq!((after.ino, after.size), (before.ino, 8));
    // A directory with a file in it, a removal, and a save by rename.
    let (drafts, _) = w.ns.mkdir(&share, b"drafts", 0o755, me()).expect("mkdir");
    let (_, _, d) =
        w.ns.create(&drafts, b"d.txt", 0o644, OpenFlags::read_write(), me())
            .expect("create below");
    write_all(&d, b"draft");
    drop(d);
    assert_eq!(names(&w.ns, &drafts), [b"d.txt"]);
    w.ns.unlink(&share, b"latest").expect("unlink");
    assert_eq!(kind_of(w.ns.lookup(&share, b"latest")), ErrorKind::NotFound);
    let renamed =
        w.ns.rename(
            &share,
            b"new.txt",
            &share,
            b"final.txt",
            RenameFlags::default(),
        )
        .expect("rename");
    // The kernel's node of the old name is the new name's now.
    let moved = renamed.apply(&new).expect("moved");
    assert_eq!(w.ns.getattr(&moved).expect("attr").size, 10);
    assert_eq!(
        kind_of(w.ns.lookup(&share, b"new.txt")),
        ErrorKind::NotFound
    );
    assert_eq!(w.ns.lookup(&share, b"final.txt").expect("final").1.size, 10);
    // A new file under the old name (git's `config.lock` again) is another
    // file: another key, so the kernel never takes one for the other.
    let (again, _, _) =
        w.ns.create(&share, b"new.txt", 0o640, OpenFlags::read_write(), me())
            .expect("create again");
    assert_ne!(again.key(), moved.key());
    assert_ne!(again.key().ino(), moved.key().ino());
    w.ns.unlink(&share, b"new.txt").expect("unlink again");
    // A directory of another device moves only by copy and delete.
    assert_eq!(
        kind_of(w.ns.rename(
            &share,
            b"photos",
            &share,
            b"pictures",
            RenameFlags::default()
        )),
        ErrorKind::CrossDevice
    );
    assert_eq!(
        kind_of(w.ns.rmdir(&share, b"photos")),
        ErrorKind::DirectoryNotEmpty
    );

    deliver_all(&w);
    let disk = |rel: &str| std::fs::read(w.share.join(rel)).ok();
    assert_eq!(disk("report.txt").as_deref(), Some(&b"revised\n"[..]));
    assert_eq!(disk("final.txt").as_deref(), Some(&b"hello nas\n"[..]));
    assert_eq!(disk("drafts/d.txt").as_deref(), Some(&b"draft"[..]));
    assert_eq!(disk("new.txt"), None);
    assert!(w.share.join("latest").symlink_metadata().is_err());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(w.share.join("final.txt"))
        .expect("md")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    // Nothing half-written was left beside the targets.
    for item in std::fs::read_dir(&w.share).expect("ls").flatten() {
        assert!(
            !item.file_name().as_bytes().starts_with(b".sd-incoming"),
            "{item:?}"
        );
    }
    // Until the replica catches up, the mount shows this device's changes,
    // never the old version.
    assert_eq!(
        w.ns.lookup(&share, b"report.txt").expect("report").1.size,
        8
    );
}

#[test]
fn a_change_on_both_sides_keeps_both_and_identical_ones_are_no_conflict() {
    let w = world();
    let (share, _) = walk(&w.ns, "nas/share").expect("share");
    let (report, _) = w.ns.lookup(&share, b"report.txt").expect("report");
    let (photos, _) = w.ns.lookup(&share, b"photos").expect("photos");
    let (beach, _) = w.ns.lookup(&photos, b"beach.jpg").expect("beach");
    write_all(
        &w.ns.open(&report, truncating()).expect("open"),
        b"laptop's numbers\n",
    );
    write_all(
        &w.ns.open(&beach, truncating()).expect("open"),
        b"same on both",
    );
    // Meanwhile the owner changes both files itself, one the same way.
    std::fs::write(w.share.join("report.txt"), b"nas's own numbers\n").expect("nas edit");
    std::fs::write(w.share.join("photos/beach.jpg"), b"same on both").expect("nas edit");
    deliver_all(&w);
    assert_eq!(
        std::fs::read(w.share.join("report.txt")).expect("report"),
        b"nas's own numbers\n"
    );
    let copies: Vec<_> = std::fs::read_dir(&w.share)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().into_string().expect("utf-8"))
        .filter(|n| n.contains(".sync-conflict-"))
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert!(
        copies[0].starts_with("report.sync-conflict-") && copies[0].ends_with("-laptop.txt"),
        "{copies:?}"
    );
    assert_eq!(
        std::fs::read(w.share.join(&copies[0])).expect("copy"),
        b"laptop's numbers\n"
    );
    let photos_now = std::fs::read_dir(w.share.join("photos"))
        .expect("ls")
        .count();
    assert_eq!(photos_now, 1, "identical content is no conflict");
}

#[test]
fn a_removal_against_an_edit_keeps_the_edit() {
    let w = world();
    let (share, _) = walk(&w.ns, "nas/share").expect("share");
    w.ns.unlink(&share, b"report.txt").expect("unlink");
    std::fs::write(w.share.join("report.txt"), b"edited on the nas\n").expect("edit");
    deliver_all(&w);
    assert_eq!(
        std::fs::read(w.share.join("report.txt")).expect("kept"),
        b"edited on the nas\n"
    );
}
