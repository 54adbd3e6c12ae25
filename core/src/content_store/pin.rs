//! Pins: content copied into the chunk store and kept there, never evicted,
//! so it stays readable when its device, disk or file is gone or changed.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sdfs_cas::{FileHash, Manifest};
use serde::Serialize;

use super::ContentStore;
use crate::error::{Error, Result};
use crate::ids::ContentId;
use crate::library::Library;
use crate::uri::SdUri;

/// What `sd pin` / `sd unpin` was given, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinTarget {
    /// A file or directory of a location, by its real path.
    Path(PathBuf),
    /// A content by id (`sd://content/<id>`).
    Content(ContentId),
}

impl PinTarget {
    /// Resolves a path (real, or inside the mount at `mountpoint`) or an
    /// `sd://` URI. Paths must lie inside a location of the library.
    pub fn resolve(lib: &Library, arg: &[u8], mountpoint: Option<&Path>) -> Result<PinTarget> {
        let locations = crate::locations::list(lib.db())?;
        let in_location = |path: &Path| -> Option<PathBuf> {
            locations
                .iter()
                .any(|l| l.root_path().is_some_and(|root| path.starts_with(root)))
                .then(|| path.to_owned())
        };
        let from_uri = |uri: &SdUri| -> Result<PinTarget> {
            match uri {
                SdUri::Content { id } => Ok(PinTarget::Content(*id)),
                SdUri::Device { device, .. } if device == lib.device_name() => {
                    let name = uri.location().unwrap_or_default();
                    let location = locations
                        .iter()
                        .find(|l| l.name.as_bytes() == name)
                        .ok_or_else(|| {
                            Error::NotFound(format!(
                                "no location {:?}",
                                String::from_utf8_lossy(name)
                            ))
                        })?;
                    let root = location.root_path().ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "{uri} is in a cloud volume: pinning its objects comes later"
                        ))
                    })?;
                    Ok(PinTarget::Path(crate::fsutil::join_bytes(
                        &root,
                        uri.rel_path(),
                    )))
                }
                _ => Err(Error::InvalidInput(format!(
                    "{uri} is not on this device (pinning other devices' files comes with pairing)"
                ))),
            }
        };
        if arg.starts_with(b"sd://") {
            let text = std::str::from_utf8(arg)
                .map_err(|_| Error::InvalidInput("a URI is UTF-8 text".into()))?;
            let uri: SdUri = text
                .parse()
                .map_err(|e: crate::uri::UriError| Error::InvalidInput(e.to_string()))?;
            return from_uri(&uri);
        }
        let path = std::path::absolute(Path::new(std::ffi::OsStr::from_bytes(arg)))
            .map_err(|e| Error::io(Path::new(std::ffi::OsStr::from_bytes(arg)), e))?;
        if let Some(uri) = mountpoint.and_then(|mount| SdUri::in_mount(mount, &path)) {
            return from_uri(&uri);
        }
        in_location(&path).map(PinTarget::Path).ok_or_else(|| {
            Error::InvalidInput(format!(
                "{} is not in a location of this library",
                path.display()
            ))
        })
    }
}

/// What a pin or unpin did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PinReport {
    /// Contents pinned (or unpinned) by this call.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Bytes newly written to the store (the rest was there already).
    pub stored_bytes: u64,
    /// Files skipped, with why.
    pub skipped: Vec<String>,
    /// `[path or uri, file hash]` for each content.
    pub items: Vec<(String, String)>,
}

impl ContentStore {
    /// Copies the target's content into the store and pins it.
    pub fn pin(&self, target: &PinTarget) -> Result<PinReport> {
        let mut report = PinReport::default();
        match target {
            PinTarget::Content(id) => {
                let reader = self.open_content(*id)?;
                let ingest = self.chunks.ingest();
                for chunk in reader.manifest().chunks() {
                    let bytes = reader.chunk(chunk)?;
                    ingest.add(&chunk.id, &bytes)?;
                }
                ingest.commit()?;
                report.stored_bytes += ingest.stored_bytes();
                let manifest = reader.manifest();
                self.chunks.pin(manifest, crate::time::unix_now_secs())?;
                report.files += 1;
                report.bytes += manifest.size();
                report
                    .items
                    .push((format!("sd://content/{id}"), manifest.hash().to_string()));
            }
            PinTarget::Path(root) => {
                // One ingest and one pin transaction for the whole tree, so
                // a directory of small files is not an fsync per file.
                let ingest = self.chunks.ingest();
                let mut built = Vec::new();
                for path in files_below(root)? {
                    match self.build_local(None, &path, &ingest) {
                        Ok(local) => built.push((path, local.manifest)),
                        Err(e) if path != *root => {
                            report.skipped.push(format!("{}: {e}", path.display()))
                        }
                        Err(e) => return Err(e),
                    }
                }
                ingest.commit()?;
                report.stored_bytes += ingest.stored_bytes();
                let (paths, manifests): (Vec<PathBuf>, Vec<Manifest>) = built.into_iter().unzip();
                self.chunks
                    .pin_all(&manifests, crate::time::unix_now_secs())?;
                for (path, manifest) in paths.into_iter().zip(manifests) {
                    report.files += 1;
                    report.bytes += manifest.size();
                    report
                        .items
                        .push((path.display().to_string(), manifest.hash().to_string()));
                }
            }
        }
        Ok(report)
    }

    /// Removes the pins of the target's content (as it reads now); the
    /// chunks stay cached until the budget needs the room.
    pub fn unpin(&self, target: &PinTarget) -> Result<PinReport> {
        let mut report = PinReport::default();
        let hashes: Vec<(String, FileHash, u64)> = match target {
            PinTarget::Content(id) => {
                let record = self.content_record(*id)?;
                match record.integrity {
                    Some(hash) => vec![(format!("sd://content/{id}"), FileHash(hash), record.size)],
                    None => Vec::new(),
                }
            }
            PinTarget::Path(root) => {
                let mut out = Vec::new();
                for path in files_below(root)? {
                    let local = self.local_manifest(None, &path)?;
                    out.push((
                        path.display().to_string(),
                        local.manifest.hash(),
                        local.manifest.size(),
                    ));
                }
                out
            }
        };
        for (name, hash, size) in hashes {
            if self.chunks.unpin(&hash)? {
                report.files += 1;
                report.bytes += size;
                report.items.push((name, hash.to_string()));
            } else {
                report.skipped.push(format!("{name}: not pinned"));
            }
        }
        Ok(report)
    }
}

/// `root` itself when it is a file, else every regular file below it
/// (symbolic links are not followed).
fn files_below(root: &Path) -> Result<Vec<PathBuf>> {
    let md = std::fs::symlink_metadata(root).map_err(|e| Error::io(root, e))?;
    if md.is_file() {
        return Ok(vec![root.to_owned()]);
    }
    if !md.is_dir() {
        return Err(Error::InvalidInput(format!(
            "{} is neither a file nor a directory",
            root.display()
        )));
    }
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for item in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let item = item.map_err(|e| Error::io(&dir, e))?;
            let kind = item.file_type().map_err(|e| Error::io(item.path(), e))?;
            if kind.is_dir() {
                stack.push(item.path());
            } else if kind.is_file() {
                out.push(item.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

impl ContentStore {
    /// Refills pinned content that lost chunks (dropped as corrupt) from
    /// local files whose manifest has the same file hash. Returns the
    /// hashes made whole again.
    pub fn repair_pins(&self, hashes: &[FileHash]) -> Result<Vec<FileHash>> {
        use redb::{ReadableDatabase, ReadableTable};
        use std::sync::Arc;
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let locations = crate::locations::list(self.lib.db())?;
        let mut candidates: Vec<(FileHash, PathBuf, super::FileStamp)> = Vec::new();
        {
            let txn = self.lib.db().begin_read()?;
            let manifests = txn.open_table(crate::library::schema::MANIFESTS)?;
            let entries = crate::library::schema::ENTRIES.read(&txn)?;
            for row in manifests.iter()? {
                let (entry, raw) = row?;
                let Ok(local) = super::LocalManifest::decode(raw.value()) else {
                    continue;
                };
                if hashes.contains(&local.manifest.hash())
                    && let Some(path) = super::entry_path(&locations, &entries, entry.value())?
                {
                    candidates.push((local.manifest.hash(), path, local.stamp));
                }
            }
        }
        let mut repaired = Vec::new();
        for hash in hashes {
            let Some(manifest) = self.chunks.manifest(hash)? else {
                continue;
            };
            let sources: Vec<Arc<dyn sdfs_cas::ChunkSource>> = candidates
                .iter()
                .filter(|(h, _, _)| h == hash)
                .filter_map(|(_, path, stamp)| super::LocalFile::open(path, *stamp).ok())
                .map(|f| Arc::new(f) as Arc<dyn sdfs_cas::ChunkSource>)
                .collect();
            let reader = sdfs_cas::ContentReader::new(
                Arc::new(manifest),
                sources,
                self.hot.clone(),
                Some(Arc::clone(&self.chunks)),
                sdfs_cas::Keep::Now,
            );
            let whole = reader.manifest().chunks().iter().all(|chunk| {
                self.hot.remove(&chunk.id);
                reader.chunk(chunk).is_ok()
            });
            if whole {
                repaired.push(*hash);
            }
        }
        Ok(repaired)
    }
}
