//! Reading a cloud volume's file: the object is fetched whole, in parallel
//! ranged reads, into the library; checked against the sampled hash the
//! index recorded and against the full BLAKE3 the content already has (or
//! records the one it now has); chunked into the content store; and only
//! then opened, from the store. A program never sees a byte the check has
//! not passed, and the next open reads the store, not the bucket.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sdfs_cas::{ContentReader, FileHash, Keep, Manifest};

use super::backend::CloudBackend;
use crate::content_store::ContentStore;
use crate::error::{Error, ErrorKind, Result};
use crate::model::entry::EntryRecord;
use crate::namespace::Opened;

/// Bytes asked for by one ranged read of a whole fetch.
const PART: u64 = 8 << 20;
/// Ranged reads of one fetch in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

/// Opens cloud file `path` (its index record `record`) for reading.
pub fn fetch_verified(
    content: &ContentStore,
    backend: &dyn CloudBackend,
    path: &[u8],
    record: &EntryRecord,
) -> Result<Opened> {
    let manifest = stored_or_fetched(content, backend, path, record)?;
    if let Some(file) = content.chunks().assembled(&manifest) {
        return Ok(Opened::Whole(file));
    }
    Ok(Opened::Chunks(ContentReader::new(
        Arc::new(manifest),
        Vec::new(),
        content.hot().clone(),
        Some(Arc::clone(content.chunks())),
        Keep::No,
    )))
}

/// The manifest of cloud file `path`, once every chunk of it is in the
/// store, checked: from the store when it is there, else fetched.
pub fn stored_or_fetched(
    content: &ContentStore,
    backend: &dyn CloudBackend,
    path: &[u8],
    record: &EntryRecord,
) -> Result<Manifest> {
    if record.size == 0 {
        return Ok(Manifest::of_bytes(b""));
    }
    let Some(id) = record.content else {
        return Err(Error::fs(
            ErrorKind::Unavailable,
            format!(
                "{} is not identified yet (run `sd index`)",
                String::from_utf8_lossy(path)
            ),
        ));
    };
    let known = content.content_record(id)?;
    if let Some(hash) = known.integrity
        && let Some(manifest) = content.chunks().manifest(&FileHash(hash)).map_err(store)?
    {
        if content.chunks().assembled(&manifest).is_some() {
            return Ok(manifest);
        }
        let mut all = true;
        for chunk in manifest.chunks() {
            all &= content.chunks().contains(&chunk.id).map_err(store)?;
        }
        if all {
            return Ok(manifest);
        }
    }
    fetch(content, backend, path, record.size, id)
}

/// Reads the object whole, checks it, and keeps it in the store.
fn fetch(
    content: &ContentStore,
    backend: &dyn CloudBackend,
    path: &[u8],
    size: u64,
    id: crate::ids::ContentId,
) -> Result<Manifest> {
    let incoming = Incoming::create(content.library().dir(), size)?;
    download(backend, path, size, &incoming.file)?;
    let mut buf = Vec::new();
    let sampled = crate::content_hash::content_hash_of_file(&incoming.file, size, &mut buf)
        .map_err(|e| Error::io(&incoming.path, e))?;
    if sampled.hash.map(|h| h.content_id()) != Some(id) {
        return Err(Error::fs(
            ErrorKind::Corrupt,
            format!(
                "{} changed in the bucket since it was indexed (run `sd index`)",
                String::from_utf8_lossy(path)
            ),
        ));
    }
    let ingest = content.chunks().ingest();
    let manifest = sdfs_cas::build_from_reader(&incoming.file, &ingest).map_err(|e| match e {
        sdfs_cas::build::BuildError::Io(e) => Error::io(&incoming.path, e),
        sdfs_cas::build::BuildError::Sink(e) => store(e),
    })?;
    ingest.commit().map_err(store)?;
    let settled = content.settle_integrity(id, manifest.hash().0)?;
    if settled != manifest.hash().0 {
        return Err(Error::fs(
            ErrorKind::Corrupt,
            format!(
                "{} does not match the content it was indexed as (its full BLAKE3 differs)",
                String::from_utf8_lossy(path)
            ),
        ));
    }
    content.chunks().put_manifest(&manifest).map_err(store)?;
    drop(incoming);
    // Whole, when the budget allows: the next open reads one file.
    if let Err(e) = content.chunks().assemble(&manifest) {
        tracing::debug!("assembling {}: {e}", String::from_utf8_lossy(path));
    }
    Ok(manifest)
}

fn store(e: sdfs_cas::store::StoreError) -> Error {
    Error::fs(ErrorKind::Io, format!("content store: {e}"))
}

/// The object's bytes, in parts read side by side, written where they go.
fn download(backend: &dyn CloudBackend, path: &[u8], size: u64, file: &File) -> Result<()> {
    let next = AtomicU64::new(0);
    let failed = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..PARTS_IN_FLIGHT {
            scope.spawn(|| {
                loop {
                    let start = next.fetch_add(PART, Ordering::Relaxed);
                    if start >= size {
                        return;
                    }
                    let end = (start + PART).min(size);
                    let part = backend.read(path, start..end).and_then(|bytes| {
                        if bytes.len() as u64 != end - start {
                            return Err(Error::fs(
                                ErrorKind::Corrupt,
                                format!(
                                    "{} changed in the bucket (a read came back short)",
                                    String::from_utf8_lossy(path)
                                ),
                            ));
                        }
                        file.write_all_at(&bytes, start)
                            .map_err(|e| Error::io("a cloud download", e))
                    });
                    if let Err(e) = part {
                        // The others stop at their next part.
                        next.store(size, Ordering::Relaxed);
                        failed
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    match failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A download in progress: removed when dropped, whatever happened.
struct Incoming {
    path: std::path::PathBuf,
    file: File,
}

impl Incoming {
    fn create(library: &std::path::Path, size: u64) -> Result<Incoming> {
        let dir = library.join("cloud-incoming");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let path = dir.join(format!("{}.part", uuid::Uuid::new_v4()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        file.set_len(size).map_err(|e| Error::io(&path, e))?;
        Ok(Incoming { path, file })
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
