//! Serving this device's files to paired devices. A peer names an entry it
//! saw in our index (the path is rebuilt from our own index), or, for what
//! our indexer rules skip, a path below a location whose every component
//! must be a plain name (no `..`, `.`, empty or NUL). Either way the file is
//! opened beneath the location root without following any symlink, so a
//! directory swapped for a link after indexing leads nowhere either, and
//! only regular files are served.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use redb::ReadableDatabase;
use sdfs_cas::chunker::MAX_CHUNK;

use super::ContentStore;
use crate::error::{Error, ErrorKind, Result};
use crate::ids::LocationId;
use crate::library::schema;
use crate::model::entry::{EntryKind, EntryRecord, path_below_root};
use crate::remote::{FileRef, LiveEntry, MAX_LIVE_ENTRIES};

/// A regular file of a location, as a peer may read it.
struct Shared {
    root: PathBuf,
    /// The location root's entry.
    root_entry: u64,
    /// Below `root`, `/`-separated.
    rel: Vec<u8>,
}

impl ContentStore {
    /// The manifest of `file`, encoded. Built from the file as opened
    /// beneath its location (the stored one serves while the opened file
    /// still has its stamp), so a swap of a directory for a symlink cannot
    /// make it describe a file outside. One built for an indexed file is
    /// stored, so the next device to open it does not wait for the hashing.
    pub fn serve_manifest(&self, file: &FileRef) -> Result<Vec<u8>> {
        if let FileRef::Entry(entry) = file
            && let Some(manifest) = self.cloud_file(*entry)?
        {
            return Ok(manifest.encode());
        }
        let (shared, entry) = self.shared(file)?;
        let opened = open_regular(&shared)?;
        if let Some(entry) = entry
            && let Some(stored) = self.stored_manifest(entry)?
        {
            let md = opened.metadata().map_err(|e| Error::io("shared file", e))?;
            if stored.stamp == super::FileStamp::of(&md) {
                return Ok(stored.manifest.encode());
            }
        }
        // Peers see "shared file", never our paths.
        let built =
            self.build_opened(entry, &opened, Path::new("shared file"), &sdfs_cas::Discard)?;
        Ok(built.manifest.encode())
    }

    /// `length` bytes of `file` at `offset` (one chunk; the peer checks
    /// them against the chunk id it expects).
    pub fn serve_chunk(&self, file: &FileRef, offset: u64, length: u32) -> Result<Vec<u8>> {
        let mut all = self.serve_chunks(file, &[(offset, length)])?;
        Ok(all.pop().unwrap_or_default())
    }

    /// Several chunks of `file` as (offset, length), from one opening.
    pub fn serve_chunks(&self, file: &FileRef, ranges: &[(u64, u32)]) -> Result<Vec<Vec<u8>>> {
        if let Some((_, length)) = ranges.iter().find(|(_, l)| *l == 0 || *l > MAX_CHUNK) {
            return Err(Error::InvalidInput(format!(
                "chunk length {length} outside 1..={MAX_CHUNK}"
            )));
        }
        if let FileRef::Entry(entry) = file
            && let Some(manifest) = self.cloud_file(*entry)?
        {
            let mut whole = None;
            return ranges
                .iter()
                .map(|&(offset, length)| self.cloud_chunk(&manifest, &mut whole, offset, length))
                .collect();
        }
        use std::io::{Read, Seek, SeekFrom};
        let (shared, _) = self.shared(file)?;
        let file = open_regular(&shared)?;
        ranges
            .iter()
            .map(|&(offset, length)| {
                // read_to_end fills spare capacity without zeroing it first.
                let mut buf = Vec::with_capacity(length as usize);
                (&file)
                    .seek(SeekFrom::Start(offset))
                    .and_then(|_| (&file).take(u64::from(length)).read_to_end(&mut buf))
                    .map_err(|e| Error::io("shared file", e))?;
                Ok(buf)
            })
            .collect()
    }

    /// The manifest of entry `entry` if it is a file of one of our cloud
    /// volumes, once its chunks are in the store (fetched from the service
    /// and checked first if they are not): a paired device reads a bucket
    /// through the device that has its keys. `None` for any other entry.
    fn cloud_file(&self, entry: u64) -> Result<Option<sdfs_cas::Manifest>> {
        let Some(volumes) = self.cloud() else {
            return Ok(None);
        };
        let roots = volumes.roots()?;
        if roots.is_empty() {
            return Ok(None);
        }
        let (location, rel, record) = {
            let txn = self.lib.db().begin_read()?;
            let entries = schema::ENTRIES.read(&txn)?;
            let is_root = |e: u64| roots.iter().any(|(_, root)| *root == e);
            // Below no cloud volume's root: the walk ends at the top.
            let Some((root, rel)) = path_below_root(&entries, entry, is_root)? else {
                return Ok(None);
            };
            let Some(&(location, _)) = roots.iter().find(|(_, r)| *r == root) else {
                return Ok(None);
            };
            let record = match redb::ReadableTable::get(&entries, entry)? {
                Some(v) => EntryRecord::decode(v.value())?,
                None => return Ok(None),
            };
            (location, rel, record)
        };
        if record.kind != EntryKind::File {
            return Err(Error::PermissionDenied(format!(
                "entry {entry} is not a shared file"
            )));
        }
        let backend = volumes.backend(location)?;
        crate::cloud::stored_or_fetched(self, &*backend, &rel, &record).map(Some)
    }

    /// The chunk of `manifest` at `offset`, `length` bytes long, from the
    /// packs or else from its whole copy (`whole`, opened once per request);
    /// the peer checks it against the id it expects.
    fn cloud_chunk(
        &self,
        manifest: &sdfs_cas::Manifest,
        whole: &mut Option<File>,
        offset: u64,
        length: u32,
    ) -> Result<Vec<u8>> {
        let chunks = manifest.chunks();
        let chunk = chunks
            .binary_search_by_key(&offset, |c| c.offset)
            .ok()
            .map(|at| &chunks[at])
            .filter(|c| c.length == length)
            .ok_or_else(|| {
                Error::InvalidInput(format!("no chunk at {offset} of {length} bytes"))
            })?;
        if let Some(bytes) = self
            .chunks
            .get(&chunk.id)
            .map_err(|e| Error::fs(ErrorKind::Io, format!("content store: {e}")))?
        {
            return Ok(bytes);
        }
        if whole.is_none() {
            *whole = self.chunks.assembled(manifest);
        }
        let file = whole
            .as_ref()
            .ok_or_else(|| Error::fs(ErrorKind::Unavailable, "evicted meanwhile"))?;
        let mut bytes = vec![0u8; length as usize];
        std::os::unix::fs::FileExt::read_exact_at(file, &mut bytes, offset)
            .map_err(|e| Error::io("a kept copy", e))?;
        Ok(bytes)
    }

    /// The children of directory `rel` of `location` that the index does
    /// not have (every child when the directory itself is not indexed):
    /// what the indexer rules skip, as the disk shows it now.
    pub fn serve_listing(&self, location: u128, rel: &[u8]) -> Result<Vec<LiveEntry>> {
        let shared = self.shared_path(location, rel)?;
        let dir = open_beneath(&shared.root, &shared.rel)?;
        let indexed = self.indexed_children(&shared)?;
        let fd_path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
        let mut out = Vec::new();
        for item in std::fs::read_dir(&fd_path).map_err(|e| Error::io("shared directory", e))? {
            let item = item.map_err(|e| Error::io("shared directory", e))?;
            let name = item.file_name().as_bytes().to_vec();
            // A delivery in flight is not a file yet: a program there
            // would open a name about to vanish.
            if indexed.contains(&name) || name.starts_with(crate::inbox::INCOMING_PREFIX) {
                continue;
            }
            let Ok(md) = item.metadata() else { continue };
            let kind = EntryKind::from_file_type(md.file_type());
            let link_target = if kind == EntryKind::Symlink {
                std::fs::read_link(item.path())
                    .ok()
                    .map(|t| t.as_os_str().as_bytes().to_vec())
            } else {
                None
            };
            out.push(LiveEntry {
                name,
                kind,
                size: if kind == EntryKind::Directory {
                    0
                } else {
                    md.len()
                },
                mtime: crate::time::stat_nanos(md.mtime(), md.mtime_nsec()),
                mode: md.mode(),
                link_target,
            });
            if out.len() == MAX_LIVE_ENTRIES {
                break;
            }
        }
        Ok(out)
    }

    /// Names of the indexed children of the directory `shared` names;
    /// empty when the directory is not indexed.
    fn indexed_children(&self, shared: &Shared) -> Result<std::collections::HashSet<Vec<u8>>> {
        let txn = self.lib.db().begin_read()?;
        let children = txn.open_table(schema::CHILDREN)?;
        let mut dir = shared.root_entry;
        for part in shared.rel.split(|b| *b == b'/').filter(|p| !p.is_empty()) {
            match redb::ReadableTable::get(&children, schema::child_key(dir, part).as_slice())? {
                Some(id) => dir = id.value(),
                None => return Ok(Default::default()),
            }
        }
        let (lo, hi) = schema::children_range(dir);
        let mut out = std::collections::HashSet::new();
        for row in redb::ReadableTable::range(&children, &lo[..]..&hi[..])? {
            out.insert(row?.0.value()[8..].to_vec());
        }
        Ok(out)
    }

    /// What `file` names, if it lies in one of our locations; with its
    /// entry id when it is indexed.
    fn shared(&self, file: &FileRef) -> Result<(Shared, Option<u64>)> {
        match file {
            FileRef::Entry(entry) => Ok((self.shared_file(*entry)?, Some(*entry))),
            FileRef::Path { location, path } => Ok((self.shared_path(*location, path)?, None)),
            // Served by the outbox, to the device it is for (see p2p).
            FileRef::Staged(_) => Err(Error::fs(ErrorKind::NotFound, "not a shared file")),
        }
    }

    /// `rel` below location `location`, if every component is a plain name.
    fn shared_path(&self, location: u128, rel: &[u8]) -> Result<Shared> {
        let refused = || Error::PermissionDenied("a path that is not below the location".into());
        if rel
            .split(|b| *b == b'/')
            .any(|part| !crate::sync::replica::is_plain_name(part))
            && !rel.is_empty()
        {
            return Err(refused());
        }
        let location =
            crate::locations::get_by_id(self.lib.db(), LocationId(uuid::Uuid::from_u128(location)))
                .map_err(|_| Error::PermissionDenied("not a shared location".into()))?;
        let root = location.root_path().ok_or_else(|| {
            Error::PermissionDenied("a cloud volume is read from its bucket".into())
        })?;
        Ok(Shared {
            root,
            root_entry: location.root.0,
            rel: rel.to_vec(),
        })
    }

    /// Entry `entry` if it is a regular file inside one of our locations.
    fn shared_file(&self, entry: u64) -> Result<Shared> {
        let locations = crate::locations::list(self.lib.db())?;
        let txn = self.lib.db().begin_read()?;
        let entries = schema::ENTRIES.read(&txn)?;
        let not_shared = || Error::PermissionDenied(format!("entry {entry} is not a shared file"));
        let record = match redb::ReadableTable::get(&entries, entry)? {
            Some(v) => EntryRecord::decode(v.value())?,
            None => return Err(not_shared()),
        };
        if record.kind != EntryKind::File {
            return Err(not_shared());
        }
        let is_root = |e: u64| locations.iter().any(|l| l.root.0 == e);
        let (root, rel) = path_below_root(&entries, entry, is_root)?.ok_or_else(not_shared)?;
        let location = locations
            .iter()
            .find(|l| l.root.0 == root)
            .ok_or_else(not_shared)?;
        Ok(Shared {
            root: location.root_path().ok_or_else(not_shared)?,
            root_entry: location.root.0,
            rel,
        })
    }
}

/// Opens a shared file, refusing anything but a regular file.
fn open_regular(shared: &Shared) -> Result<File> {
    let file = open_beneath(&shared.root, &shared.rel)?;
    let md = file.metadata().map_err(|e| Error::io("shared file", e))?;
    if !md.is_file() {
        return Err(Error::PermissionDenied("not a regular file".into()));
    }
    Ok(file)
}

/// Opens `rel` below `root` read-only, refusing any symlink on the way and
/// any path that would leave `root` (see [`crate::sys::open_beneath`]).
fn open_beneath(root: &Path, rel: &[u8]) -> Result<File> {
    let root_dir = File::open(root).map_err(|e| Error::io(root, e))?;
    if rel.contains(&0) {
        return Err(Error::InvalidInput("a path with a NUL byte".into()));
    }
    crate::sys::open_beneath(&root_dir, rel).map_err(|err| refused(rel, err))
}

fn refused(rel: &[u8], err: std::io::Error) -> Error {
    let shown = String::from_utf8_lossy(rel).into_owned();
    match crate::sys::error_kind(&err) {
        ErrorKind::SymlinkLoop | ErrorKind::CrossDevice => {
            Error::PermissionDenied(format!("{shown}: a symlink on the way; not served"))
        }
        _ => Error::io(shown, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_beneath_refuses_symlinks_and_escapes() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().join("loc");
        std::fs::create_dir_all(root.join("d")).expect("mkdir");
        std::fs::write(root.join("d/f"), b"inside").expect("write");
        std::fs::write(tmp.path().join("secret"), b"outside").expect("write");
        std::os::unix::fs::symlink(tmp.path().join("secret"), root.join("link")).expect("ln");
        std::os::unix::fs::symlink(tmp.path(), root.join("up")).expect("ln");
        assert!(open_beneath(&root, b"d/f").is_ok());
        for bad in [&b"link"[..], b"up/secret", b"../secret", b"d/../../secret"] {
            assert!(
                open_beneath(&root, bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
            let root_dir = File::open(&root).expect("root");
            assert!(crate::sys::open_beneath_by_walk(&root_dir, bad).is_err());
        }
    }

    #[test]
    fn a_manifest_built_to_serve_is_kept_while_the_file_keeps_its_stamp() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().join("share");
        std::fs::create_dir(&root).expect("dir");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(root.join("f.bin"), &data).expect("write");
        let lib = std::sync::Arc::new(
            crate::Library::create(&tmp.path().join("l.sdlibrary"), "nas").expect("library"),
        );
        let location = crate::locations::add(
            &lib,
            &root,
            Some("share"),
            Default::default(),
            Default::default(),
        )
        .expect("location");
        crate::indexer::index_to_end(&lib, location.id, false).expect("index");
        let entry = {
            let txn = lib.db().begin_read().expect("txn");
            let children = txn.open_table(schema::CHILDREN).expect("children");
            redb::ReadableTable::get(
                &children,
                schema::child_key(location.root.0, b"f.bin").as_slice(),
            )
            .expect("get")
            .expect("indexed")
            .value()
        };
        let store = ContentStore::open(std::sync::Arc::clone(&lib)).expect("store");
        assert!(store.stored_manifest(entry).expect("read").is_none());

        let served = store
            .serve_manifest(&FileRef::Entry(entry))
            .expect("manifest");
        let stored = store
            .stored_manifest(entry)
            .expect("read")
            .expect("kept after serving");
        assert_eq!(stored.manifest.encode(), served);
        assert_eq!(stored.manifest.hash().0, *blake3::hash(&data).as_bytes());

        // Rewritten: the kept manifest no longer speaks for the file.
        std::fs::write(root.join("f.bin"), b"other bytes").expect("rewrite");
        let again = sdfs_cas::Manifest::decode(
            &store
                .serve_manifest(&FileRef::Entry(entry))
                .expect("manifest"),
        )
        .expect("decode");
        assert_eq!(again.size(), 11);
        assert_eq!(again.hash().0, *blake3::hash(b"other bytes").as_bytes());
    }
}
