//! The library's content store: the chunk store of `sdfs-cas` opened inside
//! the library (`<library>/chunks/`), the manifests of local files, reading
//! content by id, pins, and the integrity job.
//!
//! Architecture Invariant: bytes of a content reach a reader only through a
//! [`sdfs_cas::ContentReader`], which checks every chunk against the manifest
//! whose file hash is the content's integrity hash.

mod local;
mod open;
mod pin;
mod remote;
mod serve;
pub(crate) mod validate;

use std::path::PathBuf;
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable};
use sdfs_cas::{FsChunkStore, HotCache};

pub use local::{FileStamp, LocalFile, LocalManifest};
pub use pin::{PinReport, PinTarget};
pub use remote::FileState;
pub use validate::{IntegrityIssue, IssueKind, ValidateOptions, ValidateReport};

use crate::error::{Error, Result};
use crate::ids::ContentId;
use crate::library::{Library, schema};
use crate::model::content::ContentRecord;
use crate::model::location::LocationRecord;

/// An open content, shared by the handles that read it.
pub type ContentHandle = Arc<sdfs_cas::ContentReader>;

/// Directory of the chunk store inside a library.
pub const CHUNKS_DIR: &str = "chunks";

/// Content by id, verified; pins; the cache. One per open library.
pub struct ContentStore {
    lib: Arc<Library>,
    chunks: Arc<FsChunkStore>,
    hot: HotCache,
    /// Stores chunks fetched from other devices in the background.
    keeper: std::sync::OnceLock<sdfs_cas::Keeper>,
    /// Changes to other devices' files, until delivered.
    outbox: Arc<crate::outbox::Outbox>,
    /// How this device's cloud volumes are reached, once a connector is
    /// given (their files are read, and served to peers, through it).
    cloud: std::sync::OnceLock<Arc<crate::cloud::Volumes>>,
}

impl std::fmt::Debug for ContentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentStore")
            .field("chunks", &self.chunks)
            .finish_non_exhaustive()
    }
}

impl ContentStore {
    /// Opens the store of `lib`, repairing what a crash left in it.
    pub fn open(lib: Arc<Library>) -> Result<ContentStore> {
        let dir = lib.dir().join(CHUNKS_DIR);
        let chunks = FsChunkStore::open(&dir, default_budget(lib.dir()))?;
        let outbox = crate::outbox::Outbox::open(Arc::clone(lib.db()), lib.dir())?;
        Ok(ContentStore {
            outbox: Arc::new(outbox),
            lib,
            chunks: Arc::new(chunks),
            hot: HotCache::new(sdfs_cas::cache::DEFAULT_HOT_BYTES),
            keeper: std::sync::OnceLock::new(),
            cloud: std::sync::OnceLock::new(),
        })
    }

    /// Lets this store read cloud volumes (once; later calls are ignored),
    /// after clearing what fetches cut short by a crash left.
    pub fn set_cloud(&self, volumes: Arc<crate::cloud::Volumes>) {
        if self.cloud.set(volumes).is_ok() {
            crate::cloud::clean_incoming(self.lib.dir());
        }
    }

    /// This device's cloud volumes, if a connector was given.
    pub fn cloud(&self) -> Option<&Arc<crate::cloud::Volumes>> {
        self.cloud.get()
    }

    pub fn library(&self) -> &Arc<Library> {
        &self.lib
    }

    pub fn chunks(&self) -> &Arc<FsChunkStore> {
        &self.chunks
    }

    /// Staged changes to other devices' files.
    pub fn outbox(&self) -> &Arc<crate::outbox::Outbox> {
        &self.outbox
    }

    pub fn hot(&self) -> &HotCache {
        &self.hot
    }

    /// The background writer of fetched chunks (started on first use).
    pub fn keeper(&self) -> Result<sdfs_cas::Keeper> {
        if let Some(k) = self.keeper.get() {
            return Ok(k.clone());
        }
        let k = sdfs_cas::Keeper::spawn(Arc::clone(&self.chunks))
            .map_err(|e| Error::io("starting the chunk keeper", e))?;
        Ok(self.keeper.get_or_init(|| k).clone())
    }

    pub(crate) fn content_record(&self, id: ContentId) -> Result<ContentRecord> {
        let txn = self.lib.db().begin_read()?;
        let content = schema::CONTENT.read(&txn)?;
        content
            .get(id.0.as_u128())?
            .map(|v| ContentRecord::decode(v.value()))
            .transpose()?
            .ok_or_else(|| Error::fs(crate::ErrorKind::NotFound, id.to_string()))
    }

    /// The entries holding content `id` and their paths on disk now.
    pub(crate) fn instances(&self, id: ContentId) -> Result<Vec<(u64, PathBuf)>> {
        let locations = crate::locations::list(self.lib.db())?;
        let txn = self.lib.db().begin_read()?;
        let instances = txn.open_table(schema::INSTANCES)?;
        let entries = schema::ENTRIES.read(&txn)?;
        let key = id.0.as_u128();
        let mut out = Vec::new();
        for row in instances.range((key, 0)..=(key, u64::MAX))? {
            let entry = row?.0.value().1;
            if let Some(path) = entry_path(&locations, &entries, entry)? {
                out.push((entry, path));
            }
        }
        Ok(out)
    }

    /// Records `hash` as the integrity hash of `id` unless one is known.
    /// Returns the integrity hash in force afterwards.
    pub(crate) fn settle_integrity(&self, id: ContentId, hash: [u8; 32]) -> Result<[u8; 32]> {
        let txn = self.lib.db().begin_write()?;
        let settled = {
            let mut data = crate::sync::DeviceData::open(&txn)?;
            let record = data
                .content()
                .get(id.0.as_u128())?
                .map(|v| ContentRecord::decode(v.value()))
                .transpose()?;
            match record {
                Some(mut record) => match record.integrity {
                    Some(known) => known,
                    None => {
                        record.integrity = Some(hash);
                        data.put_content(id.0.as_u128(), record.encode().as_slice())?;
                        hash
                    }
                },
                None => hash,
            }
        };
        txn.commit()?;
        Ok(settled)
    }
}

/// The disk budget until the user sets one: a tenth of the filesystem
/// holding the library, between 1 and 10 GiB, so a small disk is not
/// filled by cache and a large one does not hoard it.
fn default_budget(dir: &std::path::Path) -> u64 {
    const GIB: u64 = 1024 * 1024 * 1024;
    match crate::model::volume::statvfs(dir) {
        Ok((capacity, _)) if capacity > 0 => (capacity / 10).clamp(GIB, 10 * GIB),
        _ => sdfs_cas::store::DEFAULT_BUDGET,
    }
}

/// The path on disk of entry `id`, if it lies in one of `locations`.
pub(crate) fn entry_path(
    locations: &[LocationRecord],
    entries: &impl redb::ReadableTable<u64, &'static [u8]>,
    id: u64,
) -> Result<Option<PathBuf>> {
    let is_root = |e: u64| locations.iter().any(|l| l.root.0 == e);
    let Some((root, rel)) = crate::model::entry::path_below_root(entries, id, is_root)? else {
        return Ok(None);
    };
    Ok(locations
        .iter()
        .find(|l| l.root.0 == root)
        .and_then(|l| l.root_path())
        .map(|root| crate::fsutil::join_bytes(&root, &rel)))
}
