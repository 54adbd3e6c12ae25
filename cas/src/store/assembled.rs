//! Whole files assembled from stored chunks. A remote file read to the end
//! is written out once as a plain file, so that later opens can hand it to
//! the kernel (FUSE passthrough) and read at the speed of a local file
//! instead of through the FUSE page cache.
//!
//! ```text
//! chunks/files/<file hash>        BLAKE3 of its bytes is its name; read-only
//! chunks/files/<file hash>.*.part being written; removed on open
//! ```
//!
//! A file is renamed into place only after its full BLAKE3 matched the name
//! and its bytes were made durable, so a name here always means verified
//! bytes. Such a file is a second copy of chunks the store holds: it counts
//! against the budget, and it is the first thing eviction takes (rebuilding
//! it costs a local copy, not a fetch). Its modification time is its last
//! open, which orders eviction.

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use redb::ReadableDatabase;

use super::tables::CHUNKS;
use super::{FsChunkStore, Result, StoreError, sync_dir};
use crate::id::FileHash;
use crate::manifest::Manifest;

/// Below this size a file is not assembled: its reads are few and short,
/// and what they cost is the open, which passthrough does not save.
pub const MIN_ASSEMBLED: u64 = 1024 * 1024;

/// Where assembled files live, below the store's directory.
pub(super) const FILES_DIR: &str = "files";

const PART: &str = "part";

/// Written in aligned blocks this large, not chunk by chunk: the page cache
/// then holds the copy in large folios, which later reads copy out faster
/// (about 12.7 against 11 GB/s here for ~64 KiB unaligned writes).
const WRITE_BLOCK: usize = 8 * 1024 * 1024;

/// What [`FsChunkStore::assemble`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assembly {
    /// The file is there now, verified.
    Written,
    /// It was there already.
    Present,
    /// Not worth it or not possible now: smaller than [`MIN_ASSEMBLED`],
    /// chunks missing, or no room in the budget.
    Skipped,
}

impl FsChunkStore {
    pub(super) fn assembled_path(&self, hash: &FileHash) -> PathBuf {
        self.files_dir.join(hash.to_string())
    }

    /// The assembled copy of `manifest`'s file, opened read-only, if there
    /// is one (never for a file under [`MIN_ASSEMBLED`], which is not looked
    /// for). Opening it counts as a use.
    pub fn assembled(&self, manifest: &Manifest) -> Option<File> {
        if manifest.size() < MIN_ASSEMBLED {
            return None;
        }
        let hash = manifest.hash();
        let file = File::open(self.assembled_path(&hash)).ok()?;
        if let Err(e) = file.set_modified(SystemTime::now()) {
            tracing::debug!("marking assembled {hash} used: {e}");
        }
        Some(file)
    }

    /// Writes the file of `manifest` out whole from the store, if every chunk
    /// is here and it fits the budget. The whole is checked against the
    /// manifest's file hash before it is named.
    pub fn assemble(&self, manifest: &Manifest) -> Result<Assembly> {
        let path = match self.whole_target(manifest)? {
            Ok(path) => path,
            Err(outcome) => return Ok(outcome),
        };
        if !self.holds_all(manifest)? {
            return Ok(Assembly::Skipped);
        }
        // Unique per attempt: two assemblies of one file never share one.
        static ATTEMPT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let attempt = ATTEMPT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let part = self.files_dir.join(format!(
            "{}.{}-{attempt}.{PART}",
            manifest.hash(),
            std::process::id()
        ));
        let written = self.write_part(manifest, &part);
        match written {
            Ok(true) => {}
            Ok(false) | Err(_) => {
                let _ = std::fs::remove_file(&part);
                return written.map(|_| Assembly::Skipped);
            }
        }
        self.name_whole(&part, &path)
    }

    /// Takes `file`, whose bytes `manifest` was built from, as the
    /// assembled copy of `manifest` (renamed in after it is synced, so it
    /// is named only once whole: the same rule as [`Self::assemble`]),
    /// if it is large enough and fits the budget. `file` must be on the
    /// store's filesystem. A file fetched whole from elsewhere is kept so
    /// without being written a second time.
    pub fn adopt(&self, manifest: &Manifest, file: &Path) -> Result<Assembly> {
        let path = match self.whole_target(manifest)? {
            Ok(path) => path,
            Err(outcome) => return Ok(outcome),
        };
        let opened = std::fs::File::open(file).map_err(|e| StoreError::io(file, e))?;
        let len = opened
            .metadata()
            .map_err(|e| StoreError::io(file, e))?
            .len();
        if len != manifest.size() {
            return Ok(Assembly::Skipped);
        }
        opened.sync_data().map_err(|e| StoreError::io(file, e))?;
        std::fs::set_permissions(file, std::os::unix::fs::PermissionsExt::from_mode(0o400))
            .map_err(|e| StoreError::io(file, e))?;
        self.name_whole(file, &path)
    }

    /// Where `manifest`'s whole copy is to be named, or why none is made
    /// now: too small to be worth one, there already, or over the budget.
    fn whole_target(&self, manifest: &Manifest) -> Result<std::result::Result<PathBuf, Assembly>> {
        if manifest.size() < MIN_ASSEMBLED {
            return Ok(Err(Assembly::Skipped));
        }
        let path = self.assembled_path(&manifest.hash());
        if path.exists() {
            return Ok(Err(Assembly::Present));
        }
        let used = self.stored_bytes()? + self.assembled_bytes()?;
        if used + manifest.size() > self.budget() {
            return Ok(Err(Assembly::Skipped));
        }
        Ok(Ok(path))
    }

    /// Names a synced whole copy: from here on it is served.
    fn name_whole(&self, synced: &Path, path: &Path) -> Result<Assembly> {
        std::fs::rename(synced, path).map_err(|e| StoreError::io(path, e))?;
        sync_dir(&self.files_dir)?;
        Ok(Assembly::Written)
    }

    /// Whether the index has every chunk of `manifest` (checked before
    /// writing anything, so a partly read file costs a few lookups).
    fn holds_all(&self, manifest: &Manifest) -> Result<bool> {
        let txn = self.db.begin_read()?;
        let chunks = txn.open_table(CHUNKS)?;
        for chunk in manifest.chunks() {
            if chunks.get(chunk.id.as_bytes())?.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Writes and syncs `part`; `false` if a chunk went missing meanwhile.
    fn write_part(&self, manifest: &Manifest, part: &Path) -> Result<bool> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o400)
            .open(part)
            .map_err(|e| StoreError::io(part, e))?;
        let mut hasher = blake3::Hasher::new();
        let mut block = Vec::with_capacity(WRITE_BLOCK);
        let mut at = 0u64;
        let mut write = |block: &mut Vec<u8>| {
            file.write_all_at(block, at)
                .map_err(|e| StoreError::io(part, e))?;
            at += block.len() as u64;
            block.clear();
            Ok::<_, StoreError>(())
        };
        for chunk in manifest.chunks() {
            // Checked below as part of the whole file: hashing each chunk
            // too would hash every byte twice.
            let Some(bytes) = self.get_unchecked(&chunk.id)? else {
                return Ok(false);
            };
            hasher.update(&bytes);
            let mut rest = bytes.as_slice();
            while !rest.is_empty() {
                let take = rest.len().min(WRITE_BLOCK - block.len());
                block.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if block.len() == WRITE_BLOCK {
                    write(&mut block)?;
                }
            }
        }
        if !block.is_empty() {
            write(&mut block)?;
        }
        let actual = FileHash::from(hasher.finalize());
        if actual != manifest.hash() {
            // A chunk rotted in its pack (reading each checked finds and
            // drops it, to be fetched again) or the manifest itself lies.
            let mut rotten = 0;
            for chunk in manifest.chunks() {
                if let Err(StoreError::Corrupt { .. }) = self.get(&chunk.id) {
                    rotten += 1;
                }
            }
            tracing::warn!(
                "assembling {}: its chunks hash to {actual} ({rotten} corrupt, dropped); not kept",
                manifest.hash()
            );
            return Ok(false);
        }
        file.sync_data().map_err(|e| StoreError::io(part, e))?;
        Ok(true)
    }

    /// (path, size, last use) of every assembled file.
    pub(super) fn assembled_files(&self) -> Result<Vec<(PathBuf, u64, SystemTime)>> {
        let listing =
            std::fs::read_dir(&self.files_dir).map_err(|e| StoreError::io(&self.files_dir, e))?;
        let mut out = Vec::new();
        for item in listing {
            let item = item.map_err(|e| StoreError::io(&self.files_dir, e))?;
            let path = item.path();
            if path.extension().is_some_and(|x| x == PART) {
                continue;
            }
            // Gone since the listing (evicted by another thread): skip it.
            let Ok(md) = item.metadata() else { continue };
            let used = md.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            out.push((path, md.len(), used));
        }
        Ok(out)
    }

    /// Re-hashes every assembled file; one whose bytes no longer hash to
    /// its name is deleted. Returns (files checked, corrupt ones).
    pub(super) fn verify_assembled(&self) -> Result<(u64, Vec<FileHash>)> {
        let mut checked = 0;
        let mut corrupt = Vec::new();
        for (path, _, _) in self.assembled_files()? {
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<FileHash>().ok())
            else {
                continue;
            };
            let mut hasher = blake3::Hasher::new();
            match File::open(&path).and_then(|f| hasher.update_reader(f).map(|_| ())) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io(&path, e)),
            }
            checked += 1;
            let actual = FileHash::from(hasher.finalize());
            if actual != name {
                tracing::warn!("assembled file {name} hashes to {actual}; deleting it");
                std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
                corrupt.push(name);
            }
        }
        Ok((checked, corrupt))
    }

    /// Bytes the assembled files take.
    pub fn assembled_bytes(&self) -> Result<u64> {
        Ok(self.assembled_files()?.iter().map(|f| f.1).sum())
    }

    /// Deletes assembled files, least recently opened first, until at least
    /// `want` bytes are gone or none is left. Returns (files, bytes). A file
    /// open right now stays readable through its descriptor. A pinned
    /// content's copy stays: it may be all the store has of it (a file
    /// fetched whole is kept as such a copy, without its chunks).
    pub(super) fn evict_assembled(&self, want: u64) -> Result<(u64, u64)> {
        let mut files = self.assembled_files()?;
        files.sort_by_key(|f| f.2);
        let (mut count, mut freed) = (0, 0);
        for (path, size, _) in files {
            if freed >= want {
                break;
            }
            let hash = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<FileHash>().ok());
            if let Some(hash) = hash
                && self.is_pinned(&hash)?
            {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    count += 1;
                    freed += size;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(&path, e)),
            }
        }
        Ok((count, freed))
    }
}

/// Creates the directory of assembled files and removes what a crash left
/// half written.
pub(super) fn open_files_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    for item in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let path = item.map_err(|e| StoreError::io(dir, e))?.path();
        if path.extension().is_some_and(|x| x == PART) {
            tracing::info!("removing half-assembled {}", path.display());
            std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
        }
    }
    Ok(())
}
