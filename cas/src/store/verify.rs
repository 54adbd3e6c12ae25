//! `sd cache verify` and `sd cache stats`: re-hashing every stored chunk,
//! and accounting for what the store holds.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::tables::{CHUNKS, ChunkLoc, MANIFESTS, PACK_CONTENTS, PACKS, PINS};
use super::{FsChunkStore, Result};
use crate::id::{ChunkId, FileHash};
use crate::manifest::Manifest;

/// What a verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub chunks: u64,
    pub bytes: u64,
    /// Chunks whose bytes did not match their id (now dropped).
    pub corrupt: Vec<ChunkId>,
    /// Pinned content that lacks chunks now (a corrupt one was dropped):
    /// the caller refills it from a good source.
    pub incomplete_pins: Vec<FileHash>,
    /// Assembled whole files checked, and those whose bytes no longer hash
    /// to their name (now deleted).
    pub assembled: u64,
    pub corrupt_assembled: Vec<FileHash>,
}

/// What the store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub chunks: u64,
    /// Bytes of chunk data held (each chunk once).
    pub chunk_bytes: u64,
    /// Bytes the pack files take (records, headers and dead space).
    pub stored_bytes: u64,
    /// Bytes of the content whose manifests the store holds, counting each
    /// file whole: what readers see. Over `chunk_bytes`, it is the dedup ratio.
    pub logical_bytes: u64,
    pub manifests: u64,
    pub pinned: u64,
    /// Chunk bytes that pins hold.
    pub pinned_bytes: u64,
    pub packs: u64,
    pub budget: u64,
    /// Whole files assembled from chunks, and the bytes they take.
    pub assembled: u64,
    pub assembled_bytes: u64,
}

impl FsChunkStore {
    /// Re-reads every chunk in pack order and checks it against its id;
    /// corrupt chunks are dropped.
    pub fn verify(&self) -> Result<VerifyReport> {
        let rows: Vec<(u32, u64, ChunkId)> = {
            let txn = self.db.begin_read()?;
            let contents = txn.open_table(PACK_CONTENTS)?;
            contents
                .iter()?
                .map(|row| {
                    row.map(|(k, id)| {
                        let (pack, offset) = k.value();
                        (pack, offset, ChunkId(*id.value()))
                    })
                })
                .collect::<Result<_, _>>()?
        };
        let mut report = VerifyReport::default();
        for (_, _, id) in rows {
            match self.fetch(&id, false) {
                Ok(Some(bytes)) => {
                    report.chunks += 1;
                    report.bytes += bytes.len() as u64;
                }
                Ok(None) => {}
                Err(super::StoreError::Corrupt { chunk, .. }) => report.corrupt.push(chunk),
                Err(e) => return Err(e),
            }
        }
        report.incomplete_pins = self.incomplete_pins()?;
        (report.assembled, report.corrupt_assembled) = self.verify_assembled()?;
        Ok(report)
    }

    /// Pinned content with chunks missing from the store.
    pub fn incomplete_pins(&self) -> Result<Vec<FileHash>> {
        let txn = self.db.begin_read()?;
        let pins = txn.open_table(PINS)?;
        let manifests = txn.open_table(MANIFESTS)?;
        let index = txn.open_table(CHUNKS)?;
        let mut out = Vec::new();
        for row in pins.iter()? {
            let hash = FileHash(*row?.0.value());
            let Some(manifest) = manifests
                .get(hash.as_bytes())?
                .and_then(|m| Manifest::decode(m.value()).ok())
            else {
                out.push(hash);
                continue;
            };
            for chunk in manifest.chunks() {
                if index.get(chunk.id.as_bytes())?.is_none() {
                    out.push(hash);
                    break;
                }
            }
        }
        Ok(out)
    }

    pub fn stats(&self) -> Result<StoreStats> {
        self.flush_touches()?;
        let txn = self.db.begin_read()?;
        let mut stats = StoreStats {
            budget: self.budget(),
            ..StoreStats::default()
        };
        for row in txn.open_table(CHUNKS)?.iter()? {
            let (_, raw) = row?;
            if let Some(loc) = ChunkLoc::decode(raw.value()) {
                stats.chunks += 1;
                stats.chunk_bytes += u64::from(loc.length);
                if loc.pins > 0 {
                    stats.pinned_bytes += u64::from(loc.length);
                }
            }
        }
        // Logical bytes: what readers can get from the store alone, so a
        // partly evicted content counts only its chunks still here.
        let index = txn.open_table(CHUNKS)?;
        for row in txn.open_table(MANIFESTS)?.iter()? {
            let (_, raw) = row?;
            if let Ok(manifest) = Manifest::decode(raw.value()) {
                stats.manifests += 1;
                for chunk in manifest.chunks() {
                    if index.get(chunk.id.as_bytes())?.is_some() {
                        stats.logical_bytes += u64::from(chunk.length);
                    }
                }
            }
        }
        stats.pinned = txn.open_table(PINS)?.len()?;
        for row in txn.open_table(PACKS)?.iter()? {
            stats.packs += 1;
            stats.stored_bytes += row?.1.value().0;
        }
        for (_, size, _) in self.assembled_files()? {
            stats.assembled += 1;
            stats.assembled_bytes += size;
        }
        Ok(stats)
    }
}
