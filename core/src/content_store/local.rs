//! Manifests of local files, built lazily and kept in the library while the
//! file keeps its stamp (size, mtime, inode); and a local file as a chunk
//! source.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use redb::ReadableDatabase;
use sdfs_cas::{ChunkId, ChunkRef, ChunkSink, ChunkSource, Discard, Manifest};

use super::ContentStore;
use crate::error::{Error, Result};
use crate::library::schema;

/// What says a file is still the one a manifest was built from. A change
/// that keeps all three (a same-size write with the mtime put back) is
/// caught by the chunk check on read, and by the integrity job as corruption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    pub size: u64,
    pub mtime_ns: i64,
    pub ino: u64,
}

impl FileStamp {
    pub fn of(md: &std::fs::Metadata) -> FileStamp {
        FileStamp {
            size: md.len(),
            mtime_ns: crate::time::stat_nanos(md.mtime(), md.mtime_nsec()),
            ino: md.ino(),
        }
    }
}

/// A stored manifest row: stamp (24 bytes, LE) then the encoded manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalManifest {
    pub stamp: FileStamp,
    pub manifest: Manifest,
}

impl LocalManifest {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + 49 + 36 * self.manifest.chunks().len());
        out.extend_from_slice(&self.stamp.size.to_le_bytes());
        out.extend_from_slice(&self.stamp.mtime_ns.to_le_bytes());
        out.extend_from_slice(&self.stamp.ino.to_le_bytes());
        out.extend_from_slice(&self.manifest.encode());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<LocalManifest> {
        let corrupt = |detail: String| Error::CorruptRecord {
            table: "manifests",
            detail,
        };
        if bytes.len() < 24 {
            return Err(corrupt(format!("{} bytes", bytes.len())));
        }
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            b
        };
        Ok(LocalManifest {
            stamp: FileStamp {
                size: u64::from_le_bytes(word(0)),
                mtime_ns: i64::from_le_bytes(word(8)),
                ino: u64::from_le_bytes(word(16)),
            },
            manifest: Manifest::decode(&bytes[24..]).map_err(|e| corrupt(e.to_string()))?,
        })
    }
}

impl ContentStore {
    /// The stored manifest of entry `entry`, whatever the file is now.
    pub fn stored_manifest(&self, entry: u64) -> Result<Option<LocalManifest>> {
        let txn = self.lib.db().begin_read()?;
        let table = txn.open_table(schema::MANIFESTS)?;
        table
            .get(entry)?
            .map(|v| LocalManifest::decode(v.value()))
            .transpose()
    }

    /// The manifest of the file at `path` (entry `entry` when indexed): the
    /// stored one while the file keeps its stamp, else built now and stored.
    pub fn local_manifest(&self, entry: Option<u64>, path: &Path) -> Result<LocalManifest> {
        if let Some(entry) = entry {
            let md = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
            if let Some(stored) = self.stored_manifest(entry)?
                && stored.stamp == FileStamp::of(&md)
            {
                return Ok(stored);
            }
        }
        self.build_local(entry, path, &Discard)
    }

    /// Reads `path` whole into a manifest, handing each chunk to `sink`,
    /// and stores the manifest for `entry`.
    pub(crate) fn build_local<S: ChunkSink>(
        &self,
        entry: Option<u64>,
        path: &Path,
        sink: &S,
    ) -> Result<LocalManifest>
    where
        S::Error: Into<Error>,
    {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        self.build_opened(entry, &file, path, sink)
    }

    /// [`build_local`](Self::build_local) for a file already open; `shown`
    /// names it in errors. Refused if the file changed while it was read.
    pub(crate) fn build_opened<S: ChunkSink>(
        &self,
        entry: Option<u64>,
        file: &File,
        shown: &Path,
        sink: &S,
    ) -> Result<LocalManifest>
    where
        S::Error: Into<Error>,
    {
        let stamp = || {
            file.metadata()
                .map(|md| FileStamp::of(&md))
                .map_err(|e| Error::io(shown, e))
        };
        let before = stamp()?;
        let manifest = sdfs_cas::build_from_reader(file, sink).map_err(|e| match e {
            sdfs_cas::build::BuildError::Io(e) => Error::io(shown, e),
            sdfs_cas::build::BuildError::Sink(e) => e.into(),
        })?;
        let after = stamp()?;
        if before != after || manifest.size() != after.size {
            return Err(Error::ChangedWhileReading(shown.to_owned()));
        }
        let local = LocalManifest {
            stamp: after,
            manifest,
        };
        if let Some(entry) = entry {
            self.put_manifest_row(entry, &local)?;
        }
        Ok(local)
    }

    pub(crate) fn put_manifest_row(&self, entry: u64, local: &LocalManifest) -> Result<()> {
        let txn = self.lib.db().begin_write()?;
        txn.open_table(schema::MANIFESTS)?
            .insert(entry, local.encode().as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Forgets the manifest of `entry` (its file no longer matches it).
    pub fn forget_manifest(&self, entry: u64) -> Result<()> {
        let txn = self.lib.db().begin_write()?;
        txn.open_table(schema::MANIFESTS)?.remove(entry)?;
        txn.commit()?;
        Ok(())
    }
}

/// Whether the file at `path` still has `stamp` and the sampled hash and
/// size of `record`: only then may its full hash speak for the content.
pub(crate) fn still_matches(
    path: &Path,
    stamp: FileStamp,
    record: &crate::model::content::ContentRecord,
) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let Ok(md) = file.metadata() else {
        return false;
    };
    if FileStamp::of(&md) != stamp || md.len() != record.size {
        return false;
    }
    let mut buf = Vec::new();
    crate::content_hash::content_hash_of_file(&file, md.len(), &mut buf)
        .is_ok_and(|hashed| hashed.hash == Some(record.hash))
}

impl From<std::convert::Infallible> for Error {
    fn from(never: std::convert::Infallible) -> Error {
        match never {}
    }
}

/// A local file holding a content, as a source of its chunks.
pub struct LocalFile {
    path: PathBuf,
    file: File,
    stamp: FileStamp,
}

impl std::fmt::Debug for LocalFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LocalFile {
    /// Opens `path`, expected to still carry `stamp`.
    pub fn open(path: &Path, stamp: FileStamp) -> std::io::Result<LocalFile> {
        Ok(LocalFile {
            path: path.to_owned(),
            file: File::open(path)?,
            stamp,
        })
    }
}

impl ChunkSource for LocalFile {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn fetch(&self, chunk: &ChunkRef) -> std::io::Result<bytes::Bytes> {
        if FileStamp::of(&self.file.metadata()?) != self.stamp {
            return Err(std::io::Error::other(
                "changed since its manifest was built",
            ));
        }
        let mut buf = vec![0u8; chunk.length as usize];
        self.file.read_exact_at(&mut buf, chunk.offset)?;
        Ok(buf.into())
    }

    fn mismatch(&self, chunk: &ChunkRef, actual: ChunkId) {
        tracing::warn!(
            "{}: bytes at {}..{} no longer match the manifest (chunk {} reads as {actual})",
            self.path.display(),
            chunk.offset,
            chunk.end(),
            chunk.id
        );
    }
}
