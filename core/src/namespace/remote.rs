//! Other devices in the mount: `/<device>/<location>/...` of a paired device
//! is served from the local replica of its index (no network for `ls`,
//! `find` or `stat`), and its files' bytes come through the content store:
//! a local copy with the same full hash, chunks already cached, or the
//! owner, each chunk verified.

use std::sync::Arc;
use std::time::Duration;

use sdfs_cas::{ChunkSource, ContentReader, FileHash, Manifest};

use super::node::{Kind, ino};
use super::types::mode;
use super::{Attr, DirEntry, Namespace, Node, Opened};
use crate::content_store::FileState;
use crate::error::{Error, ErrorKind, Result};
use crate::ids::{ContentId, DeviceId};
use crate::model::content::ContentRecord;
use crate::model::device::DeviceRecord;
use crate::model::entry::{EntryKind, EntryRecord};
use crate::remote::{FileRef, PeerLink, PeerSource};
use crate::sync::replica::ReplicaView;

/// Chunks kept fetched or in flight past a read of another device's file
/// (about 8 MiB, as eight batches running side by side).
const READAHEAD_CHUNKS: usize = 128;

/// Where the bytes of another device's file come from.
enum RemoteContent {
    /// A file of this device with the same full hash.
    Local(ContentReader),
    /// The owner's verified manifest, and the devices to fetch from.
    Fetched {
        manifest: Manifest,
        sources: Vec<Arc<dyn ChunkSource>>,
    },
}

/// What a read of another device's file is bound by.
#[derive(Clone)]
pub struct RemoteAccess {
    pub link: Arc<dyn PeerLink>,
    pub timeout: Duration,
}

impl Namespace {
    /// Lets reads reach other devices (set once the p2p node runs).
    pub fn set_remote_access(&self, access: RemoteAccess) {
        *self.remote.write().unwrap_or_else(|e| e.into_inner()) = Some(access);
    }

    /// Paired devices (not this one).
    pub(super) fn peers(&self) -> Vec<DeviceRecord> {
        let me = self.lib.device_id();
        self.lib
            .devices()
            .unwrap_or_default()
            .into_iter()
            .filter(|d| d.id != me)
            .collect()
    }

    pub(super) fn peer_named(&self, name: &[u8]) -> Option<DeviceRecord> {
        self.peers().into_iter().find(|d| d.name.as_bytes() == name)
    }

    pub(super) fn view(&self, device: DeviceId) -> Result<ReplicaView> {
        ReplicaView::new(self.lib.db(), device)
    }

    pub(super) fn remote_entry(&self, device: DeviceId, entry: u64) -> Result<EntryRecord> {
        self.view(device)?
            .entry(entry)?
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, format!("entry {entry}")))
    }

    pub(super) fn lookup_peer(&self, device: DeviceId, name: &[u8]) -> Result<(Node, Attr)> {
        let view = self.view(device)?;
        let location = view
            .locations()?
            .into_iter()
            .find(|l| l.name.as_bytes() == name)
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, String::from_utf8_lossy(name)))?;
        let entry = location.root.0;
        let record = view
            .entry(entry)?
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, location.name.clone()))?;
        Ok((
            Node(Kind::Remote { device, entry }),
            remote_attr(device, entry, &record),
        ))
    }

    pub(super) fn lookup_remote(
        &self,
        device: DeviceId,
        parent: u64,
        name: &[u8],
    ) -> Result<(Node, Attr)> {
        match self.view(device)?.child(parent, name)? {
            Some((entry, record)) => Ok((
                Node(Kind::Remote { device, entry }),
                remote_attr(device, entry, &record),
            )),
            None if self.remote_entry(device, parent)?.kind != EntryKind::Directory => {
                Err(Error::fs(ErrorKind::NotADirectory, "not a directory"))
            }
            // Not indexed there: maybe skipped by the owner's rules.
            None => self
                .lookup_live_below_remote(device, parent, name)
                .ok_or_else(|| Error::fs(ErrorKind::NotFound, String::from_utf8_lossy(name))),
        }
    }

    pub(super) fn readdir_peer(&self, device: DeviceId) -> Result<Vec<DirEntry>> {
        let view = self.view(device)?;
        let mut out = Vec::new();
        for location in view.locations()? {
            let entry = location.root.0;
            if let Some(record) = view.entry(entry)? {
                out.push(DirEntry {
                    name: location.name.into_bytes(),
                    node: Node(Kind::Remote { device, entry }),
                    attr: remote_attr(device, entry, &record),
                });
            }
        }
        Ok(out)
    }

    pub(super) fn readdir_remote(&self, device: DeviceId, entry: u64) -> Result<Vec<DirEntry>> {
        let view = self.view(device)?;
        match view.entry(entry)? {
            Some(r) if r.kind == EntryKind::Directory => {}
            Some(_) => return Err(Error::fs(ErrorKind::NotADirectory, "not a directory")),
            None => return Err(Error::fs(ErrorKind::NotFound, format!("entry {entry}"))),
        }
        let mut out: Vec<DirEntry> = view
            .children(entry)?
            .into_iter()
            .map(|(id, record)| DirEntry {
                attr: remote_attr(device, id, &record),
                name: record.name,
                node: Node(Kind::Remote { device, entry: id }),
            })
            .collect();
        drop(view);
        out.extend(self.live_below_remote(device, entry));
        Ok(out)
    }

    /// Where another device's file `entry` stands here; `None` for what has
    /// no bytes (directories, symlinks).
    pub(super) fn remote_state(&self, device: DeviceId, entry: u64) -> Result<Option<FileState>> {
        let view = self.view(device)?;
        let record = view
            .entry(entry)?
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, format!("entry {entry}")))?;
        self.content.remote_state(&view, device, entry, &record)
    }

    /// Copies of another device's file on every device (none for a file
    /// not identified yet).
    pub(super) fn remote_copies(&self, device: DeviceId, entry: u64) -> Result<Option<u32>> {
        let Some(content) = self.remote_entry(device, entry)?.content else {
            return Ok(None);
        };
        let txn = redb::ReadableDatabase::begin_read(&**self.lib.db())?;
        crate::query::copies_everywhere(&self.lib, &txn, content).map(Some)
    }

    /// Paired devices' files holding content `id`, with each device's
    /// record of it: where `.content/<id>` reads what this device lacks.
    pub(super) fn content_elsewhere(
        &self,
        id: ContentId,
    ) -> Result<Vec<(DeviceId, u64, ContentRecord)>> {
        let me = self.lib.device_id();
        let mut out = Vec::new();
        for device in self.lib.devices()? {
            if device.id == me {
                continue;
            }
            let view = ReplicaView::new(self.lib.db(), device.id)?;
            let Some(record) = view.content(id)? else {
                continue;
            };
            if let Some(&entry) = view.instances(id)?.first() {
                out.push((device.id, entry, record));
            }
        }
        Ok(out)
    }

    /// Content `id` from this device (its files or the store), else from
    /// the first paired device that can serve it, verified as any read of
    /// that device's file is.
    pub(super) fn open_content_anywhere(&self, id: ContentId) -> Result<Opened> {
        let here = match self.content.open_content(id) {
            Ok(reader) => return Ok(Opened::Chunks(reader)),
            Err(e) => e,
        };
        let mut last = here;
        for (device, entry, _) in self.content_elsewhere(id)? {
            match self.open_remote(device, entry) {
                Ok(opened) => return Ok(opened),
                // Bytes that fail the check are never served.
                Err(e) if e.kind() == ErrorKind::Corrupt => return Err(e),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The target of another device's symlink, as recorded there.
    pub(super) fn readlink_remote(&self, device: DeviceId, entry: u64) -> Result<Vec<u8>> {
        self.remote_entry(device, entry)?
            .link_target
            .ok_or_else(|| Error::fs(ErrorKind::InvalidInput, "not a symlink"))
    }

    /// A reader of another device's file. Its bytes are verified chunk by
    /// chunk against the owner's manifest, whose size must be the size we
    /// replicated and whose hash must be the content's integrity hash once
    /// the owner has one. A local file with that same full hash is read
    /// instead of the network; a file read to the end before is opened as
    /// the whole copy assembled from its verified chunks.
    pub(super) fn open_remote(&self, device: DeviceId, entry: u64) -> Result<Opened> {
        match self.open_shared_cloud(device, entry) {
            Ok(Some(opened)) => return Ok(opened),
            Ok(None) => {}
            // Bytes that fail the check are never served, from anywhere.
            Err(e) if e.kind() == ErrorKind::Corrupt => return Err(e),
            // The bucket is not reachable from here: through its owner.
            Err(e) => tracing::info!("reading a paired device's volume directly: {e}"),
        }
        match self.remote_content(device, entry)? {
            RemoteContent::Local(reader) => Ok(Opened::Chunks(reader)),
            RemoteContent::Fetched { manifest, sources } => {
                if let Some(file) = self.content.chunks().assembled(&manifest) {
                    return Ok(Opened::Whole(file));
                }
                Ok(Opened::Chunks(
                    ContentReader::new(
                        Arc::new(manifest),
                        sources,
                        self.content.hot().clone(),
                        Some(Arc::clone(self.content.chunks())),
                        sdfs_cas::Keep::Later(self.content.keeper()?),
                    )
                    .with_readahead(READAHEAD_CHUNKS),
                ))
            }
        }
    }

    /// A reader of another device's file that stores every chunk before
    /// returning it (pins: what was read must be here afterwards).
    pub(super) fn remote_reader_keeping(
        &self,
        device: DeviceId,
        entry: u64,
    ) -> Result<ContentReader> {
        Ok(match self.remote_content(device, entry)? {
            RemoteContent::Local(reader) => reader,
            RemoteContent::Fetched { manifest, sources } => ContentReader::new(
                Arc::new(manifest),
                sources,
                self.content.hot().clone(),
                Some(Arc::clone(self.content.chunks())),
                sdfs_cas::Keep::Now,
            )
            .with_readahead(READAHEAD_CHUNKS),
        })
    }

    /// Where another device's file can be read from: a local file with the
    /// same bytes, or its verified manifest and the devices to ask.
    fn remote_content(&self, device: DeviceId, entry: u64) -> Result<RemoteContent> {
        let record = self.remote_entry(device, entry)?;
        if record.kind != EntryKind::File {
            return Err(Error::fs(ErrorKind::IsADirectory, "not a regular file"));
        }
        let view = self.view(device)?;
        let integrity = record
            .content
            .and_then(|c| view.content(c).ok().flatten())
            .and_then(|c| c.integrity)
            .map(FileHash);
        drop(view);
        // A local instance of the same bytes needs no network.
        if let (Some(content), Some(hash)) = (record.content, integrity)
            && let Ok(local) = self.content.content_record(content)
            && local.integrity == Some(hash.0)
            && let Ok(reader) = self.content.open_content(content)
        {
            return Ok(RemoteContent::Local(reader));
        }
        let access = self
            .remote
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let name = self
            .peers()
            .into_iter()
            .find(|d| d.id == device)
            .map(|d| d.name)
            .unwrap_or_else(|| device.to_string());
        // Other devices holding the same bytes (same full hash).
        let holders = match (record.content, integrity) {
            (Some(content), Some(hash)) => self.holders(content, hash, device),
            _ => Vec::new(),
        };
        let mut sources: Vec<Arc<dyn ChunkSource>> = Vec::new();
        if let Some(access) = &access {
            sources.push(Arc::new(PeerSource {
                link: Arc::clone(&access.link),
                device,
                device_name: name.clone(),
                file: FileRef::Entry(entry),
                timeout: access.timeout,
            }));
            for (other, other_entry) in &holders {
                sources.push(Arc::new(PeerSource {
                    link: Arc::clone(&access.link),
                    device: other.id,
                    device_name: other.name.clone(),
                    file: FileRef::Entry(*other_entry),
                    timeout: access.timeout,
                }));
            }
        }
        let manifest =
            self.remote_manifest(device, entry, &record, integrity, &holders, access.as_ref())?;
        Ok(RemoteContent::Fetched { manifest, sources })
    }

    /// Paired devices other than `except` whose replica holds `content`
    /// with integrity hash `hash`, with one entry each.
    fn holders(
        &self,
        content: crate::ids::ContentId,
        hash: FileHash,
        except: DeviceId,
    ) -> Vec<(DeviceRecord, u64)> {
        let mut out = Vec::new();
        for peer in self.peers().into_iter().filter(|d| d.id != except) {
            let Ok(view) = self.view(peer.id) else {
                continue;
            };
            let same = view
                .content(content)
                .ok()
                .flatten()
                .is_some_and(|c| c.integrity == Some(hash.0));
            if !same {
                continue;
            }
            if let Some(entry) = view
                .instances(content)
                .ok()
                .and_then(|e| e.first().copied())
            {
                out.push((peer, entry));
            }
        }
        out
    }

    /// The manifest of another device's file: known already (by integrity
    /// hash, or remembered for this entry at this size and mtime), else
    /// asked of the owner, then of `holders` (found only when the integrity
    /// hash is known, which is what checks their answer).
    fn remote_manifest(
        &self,
        device: DeviceId,
        entry: u64,
        record: &EntryRecord,
        integrity: Option<FileHash>,
        holders: &[(DeviceRecord, u64)],
        access: Option<&RemoteAccess>,
    ) -> Result<Manifest> {
        let chunks = self.content.chunks();
        let stamp = (record.size, record.mtime);
        let known = match integrity {
            Some(hash) => Some(hash),
            None => self.content.remote_manifest_hash(device, entry, stamp)?,
        };
        if let Some(hash) = known
            && let Some(manifest) = chunks.manifest(&hash)?
        {
            return Ok(manifest);
        }
        let Some(access) = access else {
            return Err(Error::fs(
                ErrorKind::Unavailable,
                "the device is not reachable",
            ));
        };
        // The owner first; then, when the full hash is known (and so can
        // check what they send), the other devices holding the content.
        let mut candidates = vec![(device, entry)];
        candidates.extend(holders.iter().map(|(d, e)| (d.id, *e)));
        let mut found = None;
        for (from, from_entry) in candidates {
            let manifest =
                match access
                    .link
                    .manifest(from, &FileRef::Entry(from_entry), access.timeout)
                {
                    Ok(bytes) => match Manifest::decode(&bytes) {
                        Ok(m) => m,
                        Err(e) => {
                            tracing::warn!("device {from} sent a bad manifest: {e}");
                            continue;
                        }
                    },
                    Err(e) => {
                        tracing::info!("manifest of entry {from_entry} from {from}: {e}");
                        continue;
                    }
                };
            if manifest.size() != record.size || known.is_some_and(|h| h != manifest.hash()) {
                // Changed since we replicated it (or a lie): not these bytes.
                tracing::warn!(
                    "device {from}: entry {from_entry} no longer matches its index record"
                );
                continue;
            }
            found = Some(manifest);
            break;
        }
        let manifest =
            found.ok_or_else(|| Error::fs(ErrorKind::Unavailable, format!("entry {entry}")))?;
        chunks.put_manifest(&manifest)?;
        self.content
            .remember_remote_manifest(device, entry, stamp, manifest.hash())?;
        Ok(manifest)
    }
}

/// What `stat` shows for another device's entry: its size, times, kind and
/// permission bits, owned by whoever runs the mount (the owner's uids mean
/// nothing here). Like a read-only mount, the bits stay as they are and
/// writes fail with EROFS; `user.sd.tags` can still be set (the kernel
/// asks for write permission on the file to set a user xattr).
pub(super) fn remote_attr(device: DeviceId, entry: u64, record: &EntryRecord) -> Attr {
    shown_attr(
        ino::remote(device, entry),
        record.kind,
        record.mode,
        record.size,
        record.mtime,
    )
}

/// The I/O size programs are told to use (`st_blksize`) on another
/// device's files: each read or write of them is a request to the daemon,
/// so `cp` and stdio should make few, large ones (1 MiB, the mount's
/// largest write; NFS reports its transfer size the same way).
const REMOTE_IO_SIZE: u32 = 1 << 20;

/// [`remote_attr`] from the fields it needs.
pub(super) fn shown_attr(ino: u64, kind: EntryKind, mode: u32, size: u64, mtime: i64) -> Attr {
    let record = RemoteFields {
        kind,
        mode,
        size,
        mtime,
    };
    let perm = record.mode & 0o7777;
    let (type_bits, perm) = match record.kind {
        EntryKind::Directory => (mode::DIRECTORY, perm | 0o500),
        EntryKind::Symlink => (mode::SYMLINK, 0o777),
        EntryKind::File => (mode::FILE, perm | 0o400),
        EntryKind::Special => (record.mode & mode::TYPE_MASK, perm),
    };
    let (uid, gid) = crate::sys::process_ids();
    let size = match record.kind {
        EntryKind::Directory => 4096,
        _ => record.size,
    };
    Attr {
        kind: record.kind,
        mode: type_bits | perm,
        size,
        blocks: size.div_ceil(512),
        atime: record.mtime,
        mtime: record.mtime,
        ctime: record.mtime,
        nlink: if record.kind == EntryKind::Directory {
            2
        } else {
            1
        },
        uid,
        gid,
        rdev: 0,
        blksize: REMOTE_IO_SIZE,
        ino,
    }
}

struct RemoteFields {
    kind: EntryKind,
    mode: u32,
    size: u64,
    mtime: i64,
}
