//! Opening a content by id: find the manifest whose file hash is the
//! content's integrity hash, and the sources that hold it.

use std::sync::Arc;

use sdfs_cas::{ChunkSource, ContentReader, FileHash, Manifest};

use super::{ContentStore, LocalFile};
use crate::error::{Error, Result};
use crate::ids::ContentId;

impl ContentStore {
    /// A reader of content `id`. Its bytes are those of the file whose full
    /// BLAKE3 is the content's integrity hash (settled here from the first
    /// readable instance when the integrity job has not run yet), never those
    /// of an instance that merely shares the sampled hash.
    pub fn open_content(&self, id: ContentId) -> Result<ContentReader> {
        let record = self.content_record(id)?;
        let mut target = record.integrity.map(FileHash);
        let mut manifest: Option<Manifest> = None;
        let mut sources: Vec<Arc<dyn ChunkSource>> = Vec::new();
        let damaged: Vec<u64> = self.issues()?.iter().map(|i| i.entry).collect();
        for (entry, path) in self.instances(id)? {
            // Found damaged (or another file's bytes): never a source.
            if damaged.contains(&entry) {
                continue;
            }
            let local = match self.local_manifest(Some(entry), &path) {
                Ok(local) => local,
                Err(e) => {
                    tracing::warn!("instance {} of {id}: {e}", path.display());
                    continue;
                }
            };
            let hash = match target {
                Some(hash) => hash,
                // Only an instance that still has the content's sampled hash
                // may settle its integrity hash.
                None if !super::local::still_matches(&path, local.stamp, &record) => {
                    tracing::warn!(
                        "instance {} of {id} changed since it was indexed",
                        path.display()
                    );
                    continue;
                }
                None => {
                    let settled = FileHash(self.settle_integrity(id, local.manifest.hash().0)?);
                    target = Some(settled);
                    settled
                }
            };
            if local.manifest.hash() != hash {
                tracing::warn!(
                    "instance {} of {id} has other bytes (BLAKE3 {}, content {hash}); not served",
                    path.display(),
                    local.manifest.hash()
                );
                continue;
            }
            match LocalFile::open(&path, local.stamp) {
                Ok(source) => sources.push(Arc::new(source)),
                Err(e) => tracing::warn!("instance {}: {e}", path.display()),
            }
            manifest.get_or_insert(local.manifest);
        }
        // No local copy: the store may hold it (pinned or cached).
        if manifest.is_none()
            && let Some(hash) = target
        {
            manifest = self.chunks.manifest(&hash)?;
        }
        let Some(manifest) = manifest else {
            return Err(Error::fs(
                crate::ErrorKind::Unavailable,
                format!("{id}: no verified copy can be read"),
            ));
        };
        Ok(ContentReader::new(
            Arc::new(manifest),
            sources,
            self.hot.clone(),
            Some(Arc::clone(&self.chunks)),
            sdfs_cas::Keep::No,
        ))
    }
}
