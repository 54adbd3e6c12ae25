//! Reading a cloud volume's file: the object is fetched whole, in parallel
//! ranged reads, into the library, and its full BLAKE3 computed as its
//! parts arrive; checked against the sampled hash the index recorded and
//! against the full BLAKE3 the content already has (or records the one it
//! now has). Only then does a program read it, from that file, while its
//! manifest is cut (FastCDC, chunk hashes: work the check does not need,
//! so it stays off the reader's path) and the file is made durable and kept
//! as the store's whole copy behind the reader's back. Opens meanwhile get
//! the same checked file; the next ones read the store, not the bucket.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use sdfs_cas::{ContentReader, FileHash, Keep, Manifest};

use super::backend::CloudBackend;
use crate::content_store::ContentStore;
use crate::error::{Error, ErrorKind, Result};
use crate::ids::{ContentId, DeviceId};
use crate::model::entry::EntryRecord;
use crate::namespace::Opened;
use crate::sync::replica::ReplicaView;

/// Bytes asked for by one ranged read of a whole fetch.
const PART: u64 = 8 << 20;
/// Ranged reads of one fetch in flight at once.
const PARTS_IN_FLIGHT: usize = 16;
/// Where fetches in progress live, inside the library.
const INCOMING: &str = "cloud-incoming";

/// Whose record of a content a fetched object is checked against.
pub enum Recorded<'a> {
    /// This device's index (its own volumes): the first fetch records the
    /// full hash.
    Own,
    /// A paired device's volume read straight from its bucket: that
    /// device's full hash once it has one, else the one remembered here
    /// for the entry at its size and time (recorded by the first fetch).
    Replica {
        view: &'a ReplicaView,
        device: DeviceId,
        entry: u64,
    },
}

impl Recorded<'_> {
    /// The full BLAKE3 known for the object's content, if any.
    fn known(&self, content: &ContentStore, record: &EntryRecord) -> Result<Option<[u8; 32]>> {
        match self {
            Recorded::Own => match record.content {
                Some(id) => Ok(content.content_record(id)?.integrity),
                None => Ok(None),
            },
            Recorded::Replica {
                view,
                device,
                entry,
            } => Ok(content
                .remote_hash(view, *device, *entry, record)?
                .map(|h| h.0)),
        }
    }

    /// Records `hash` as the content's full hash unless one is known;
    /// returns the one that counts.
    fn settle(
        &self,
        content: &ContentStore,
        id: ContentId,
        record: &EntryRecord,
        hash: [u8; 32],
    ) -> Result<[u8; 32]> {
        match self {
            Recorded::Own => content.settle_integrity(id, hash),
            Recorded::Replica { device, entry, .. } => match self.known(content, record)? {
                Some(known) => Ok(known),
                None => {
                    content.remember_remote_manifest(
                        *device,
                        *entry,
                        (record.size, record.mtime),
                        FileHash(hash),
                    )?;
                    Ok(hash)
                }
            },
        }
    }
}

/// Opens cloud file `path` (its index record `record`) for reading.
pub fn fetch_verified(
    content: &Arc<ContentStore>,
    backend: &dyn CloudBackend,
    path: &[u8],
    record: &EntryRecord,
    recorded: &Recorded<'_>,
) -> Result<Opened> {
    let known = recorded.known(content, record)?;
    if let Some(stored) = stored(content, record, known)? {
        return Ok(open_stored(content, stored));
    }
    let volumes = content.cloud();
    if let (Some(volumes), Some(hash)) = (volumes, known)
        && let Some(file) = volumes.being_kept(&hash)
    {
        return Ok(Opened::Whole(file));
    }
    let fetched = fetch(content, backend, path, record, recorded)?;
    let reader = fetched
        .incoming
        .file
        .try_clone()
        .map_err(|e| Error::io(&fetched.incoming.path, e))?;
    // Made durable and kept while the program reads; until it is, later
    // opens get the same checked file rather than a second download.
    let keeping = volumes.and_then(|v| {
        let file = fetched.incoming.file.try_clone().ok()?;
        Some(v.keeping(fetched.hash, file))
    });
    let store = Arc::clone(content);
    let spawned = std::thread::Builder::new()
        .name("sd-cloud-keep".into())
        .spawn(move || {
            if let Err(e) = keep(&store, fetched) {
                tracing::warn!("keeping a fetched cloud file: {e}");
            }
            drop(keeping);
        });
    if let Err(e) = spawned {
        tracing::warn!("keeping a fetched cloud file: {e}");
    }
    Ok(Opened::Whole(reader))
}

/// The manifest of cloud file `path`, once every chunk of it is in the
/// store, checked: from the store when it is there, else fetched and kept.
pub fn stored_or_fetched(
    content: &ContentStore,
    backend: &dyn CloudBackend,
    path: &[u8],
    record: &EntryRecord,
) -> Result<Manifest> {
    if let Some(stored) = stored(content, record, Recorded::Own.known(content, record)?)? {
        return Ok(stored.manifest);
    }
    let fetched = fetch(content, backend, path, record, &Recorded::Own)?;
    keep(content, fetched)
}

/// Where a cloud file stands here: online-only, cached (whole and checked
/// in the store) or pinned. Directories have no state.
pub fn file_state(
    content: &ContentStore,
    record: &EntryRecord,
) -> Result<Option<crate::content_store::FileState>> {
    use crate::content_store::FileState;
    if record.kind != crate::model::entry::EntryKind::File {
        return Ok(None);
    }
    Ok(Some(
        match stored(content, record, Recorded::Own.known(content, record)?)? {
            None => FileState::OnlineOnly,
            Some(Stored { manifest, .. })
                if content
                    .chunks()
                    .is_pinned(&manifest.hash())
                    .map_err(store)? =>
            {
                FileState::Pinned
            }
            Some(_) => FileState::Cached,
        },
    ))
}

/// Removes what fetches cut short by a crash left (at a daemon's start;
/// the library lock keeps any other process out).
pub fn clean_incoming(library: &std::path::Path) {
    let dir = library.join(INCOMING);
    if let Ok(items) = std::fs::read_dir(&dir) {
        for item in items.flatten() {
            let _ = std::fs::remove_file(item.path());
        }
    }
}

fn open_stored(content: &ContentStore, Stored { manifest, whole }: Stored) -> Opened {
    if let Some(file) = whole {
        return Opened::Whole(file);
    }
    Opened::Chunks(ContentReader::new(
        Arc::new(manifest),
        Vec::new(),
        content.hot().clone(),
        Some(Arc::clone(content.chunks())),
        Keep::No,
    ))
}

/// A content the store has all of: its manifest, and its whole copy,
/// opened, when it has one.
struct Stored {
    manifest: Manifest,
    whole: Option<File>,
}

/// What the store has of the content (its full BLAKE3 `known`, if known),
/// if it has all of it.
fn stored(
    content: &ContentStore,
    record: &EntryRecord,
    known: Option<[u8; 32]>,
) -> Result<Option<Stored>> {
    if record.size == 0 {
        return Ok(Some(Stored {
            manifest: Manifest::of_bytes(b""),
            whole: None,
        }));
    }
    if record.content.is_none() {
        return Ok(None);
    }
    let Some(hash) = known else {
        return Ok(None);
    };
    let Some(manifest) = content.chunks().manifest(&FileHash(hash)).map_err(store)? else {
        return Ok(None);
    };
    if let Some(whole) = content.chunks().assembled(&manifest) {
        return Ok(Some(Stored {
            manifest,
            whole: Some(whole),
        }));
    }
    for chunk in manifest.chunks() {
        if !content.chunks().contains(&chunk.id).map_err(store)? {
            return Ok(None);
        }
    }
    Ok(Some(Stored {
        manifest,
        whole: None,
    }))
}

/// A file fetched whole and checked, not yet kept.
struct Fetched {
    /// Its full BLAKE3.
    hash: FileHash,
    incoming: Incoming,
}

/// Reads the object whole and checks it.
fn fetch(
    content: &ContentStore,
    backend: &dyn CloudBackend,
    path: &[u8],
    record: &EntryRecord,
    recorded: &Recorded<'_>,
) -> Result<Fetched> {
    let shown = || String::from_utf8_lossy(path).into_owned();
    let Some(id) = record.content else {
        return Err(Error::fs(
            ErrorKind::Unavailable,
            format!("{} is not identified yet (run `sd index`)", shown()),
        ));
    };
    let size = record.size;
    let incoming = Incoming::create(content.library().dir(), size)?;
    let hash = download_and_hash(backend, path, size, &incoming.file)?;
    check(content, &incoming, record, id, hash, &shown(), recorded)?;
    Ok(Fetched { hash, incoming })
}

/// The sampled hash must be the one the index recorded, and the full
/// BLAKE3 the content's (recorded now if it had none).
fn check(
    content: &ContentStore,
    incoming: &Incoming,
    record: &EntryRecord,
    id: ContentId,
    hash: FileHash,
    shown: &str,
    recorded: &Recorded<'_>,
) -> Result<()> {
    let mut buf = Vec::new();
    let sampled = crate::content_hash::content_hash_of_file(&incoming.file, record.size, &mut buf)
        .map_err(|e| Error::io(&incoming.path, e))?;
    if sampled.hash.map(|h| h.content_id()) != Some(id) {
        return Err(Error::fs(
            ErrorKind::Corrupt,
            format!("{shown} changed in the bucket since it was indexed (run `sd index`)"),
        ));
    }
    let settled = recorded.settle(content, id, record, hash.0)?;
    if settled != hash.0 {
        return Err(Error::fs(
            ErrorKind::Corrupt,
            format!(
                "{shown} does not match the content it was indexed as (its full BLAKE3 differs)"
            ),
        ));
    }
    Ok(())
}

/// Keeps a checked file: cuts its manifest (checked against the hash the
/// file was checked by), then keeps the file itself as the store's whole
/// copy (synced, then named; not written again), or its chunks in the
/// packs when it is too small for that or over the budget.
fn keep(content: &ContentStore, fetched: Fetched) -> Result<Manifest> {
    let Fetched { hash, incoming } = fetched;
    let manifest = sdfs_cas::build_from_reader(
        File::open(&incoming.path).map_err(|e| Error::io(&incoming.path, e))?,
        &sdfs_cas::Discard,
    )
    .map_err(|e| match e {
        sdfs_cas::build::BuildError::Io(e) => Error::io(&incoming.path, e),
        sdfs_cas::build::BuildError::Sink(never) => match never {},
    })?;
    if manifest.hash() != hash {
        return Err(Error::fs(
            ErrorKind::Corrupt,
            "a fetched file changed on disk before it was kept",
        ));
    }
    content.chunks().put_manifest(&manifest).map_err(store)?;
    match content.chunks().adopt(&manifest, &incoming.path) {
        Ok(sdfs_cas::store::Assembly::Written | sdfs_cas::store::Assembly::Present) => {}
        Ok(sdfs_cas::store::Assembly::Skipped) | Err(_) => {
            let ingest = content.chunks().ingest();
            for chunk in manifest.chunks() {
                let mut bytes = vec![0u8; chunk.length as usize];
                incoming
                    .file
                    .read_exact_at(&mut bytes, chunk.offset)
                    .map_err(|e| Error::io(&incoming.path, e))?;
                ingest.add(&chunk.id, &bytes).map_err(store)?;
            }
            ingest.commit().map_err(store)?;
        }
    }
    Ok(manifest)
}

fn store(e: sdfs_cas::store::StoreError) -> Error {
    Error::fs(ErrorKind::Io, format!("content store: {e}"))
}

/// Which parts of a download are in the file, or why it stopped.
struct Progress {
    state: Mutex<(Vec<bool>, Option<Error>)>,
    changed: Condvar,
}

impl Progress {
    fn finish(&self, part: usize, result: Result<()>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(()) => state.0[part] = true,
            Err(e) => {
                state.1.get_or_insert(e);
            }
        }
        self.changed.notify_all();
    }

    /// Waits until part `part` is in, or the download failed.
    fn wait(&self, part: usize) -> std::io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if state.1.is_some() {
                return Err(std::io::Error::other("the download stopped"));
            }
            if state.0[part] {
                return Ok(());
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Reads the file being downloaded in order, each byte once its part is in.
struct Arriving<'a> {
    file: &'a File,
    progress: &'a Progress,
    at: u64,
    size: u64,
}

impl Read for Arriving<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let part = (self.at / PART) as usize;
        self.progress.wait(part)?;
        let part_end = ((part as u64 + 1) * PART).min(self.size);
        let n = buf.len().min((part_end - self.at) as usize);
        let read = self.file.read_at(&mut buf[..n], self.at)?;
        self.at += read as u64;
        Ok(read)
    }
}

/// Downloads the object into `file`, parts side by side, while this thread
/// hashes the parts in order as they arrive (the whole-file BLAKE3: all the
/// check needs).
fn download_and_hash(
    backend: &dyn CloudBackend,
    path: &[u8],
    size: u64,
    file: &File,
) -> Result<FileHash> {
    let parts = size.div_ceil(PART) as usize;
    let progress = Progress {
        state: Mutex::new((vec![false; parts], None)),
        changed: Condvar::new(),
    };
    let next = AtomicU64::new(0);
    let hashed = std::thread::scope(|scope| {
        for _ in 0..PARTS_IN_FLIGHT.min(parts) {
            scope.spawn(|| {
                loop {
                    let start = next.fetch_add(PART, Ordering::Relaxed);
                    if start >= size {
                        return;
                    }
                    let end = (start + PART).min(size);
                    let result = backend.read(path, start..end).and_then(|bytes| {
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
                    let failed = result.is_err();
                    progress.finish((start / PART) as usize, result);
                    if failed {
                        // The others stop at their next part.
                        next.store(size, Ordering::Relaxed);
                        return;
                    }
                }
            });
        }
        let mut reader = Arriving {
            file,
            progress: &progress,
            at: 0,
            size,
        };
        let mut whole = blake3::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Ok(FileHash(*whole.finalize().as_bytes())),
                Ok(n) => {
                    whole.update(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    });
    let failed = progress
        .state
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .1;
    if let Some(e) = failed {
        return Err(e);
    }
    hashed.map_err(|e| Error::io("a cloud download", e))
}

/// A download in progress: removed when dropped, unless it was kept.
struct Incoming {
    path: std::path::PathBuf,
    file: File,
}

impl Incoming {
    fn create(library: &std::path::Path, size: u64) -> Result<Incoming> {
        let dir = library.join(INCOMING);
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
        // Gone already when it became the store's whole copy.
        let _ = std::fs::remove_file(&self.path);
    }
}
