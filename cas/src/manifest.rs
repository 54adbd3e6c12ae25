//! A file's manifest: its chunks in order and the BLAKE3 of the whole file.
//!
//! Encoding (version 1, little endian), the same on disk and on the wire:
//!
//! ```text
//! "SDMF" | version u8 = 1 | size u64 | file hash [32] | count u32 | count × (length u32 | chunk id [32])
//! ```
//!
//! Offsets are not stored: chunk `i` starts where chunk `i - 1` ends. A
//! decoded manifest is checked whole (lengths in range, lengths summing to
//! the size, nothing left over) because manifests also come from peers.

use std::ops::Range;

use crate::chunker::MAX_CHUNK;
use crate::id::{ChunkId, FileHash};

const MAGIC: &[u8; 4] = b"SDMF";
const VERSION: u8 = 1;
const HEADER: usize = 4 + 1 + 8 + 32 + 4;
const PER_CHUNK: usize = 4 + 32;

/// One chunk of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRef {
    pub offset: u64,
    pub length: u32,
    pub id: ChunkId,
}

impl ChunkRef {
    pub fn end(&self) -> u64 {
        self.offset + u64::from(self.length)
    }
}

/// Why bytes are not a manifest. Peers send these bytes, so every variant
/// says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The bytes do not start with the manifest magic.
    #[error("not a manifest (bad magic)")]
    BadMagic,
    /// A manifest version this build does not read.
    #[error("manifest version {0} is not supported")]
    Version(u8),
    /// The bytes end before the manifest does, or go on after it.
    #[error("manifest is {actual} bytes, its header says {expected}")]
    Length { expected: u64, actual: usize },
    /// A chunk of length zero or above [`MAX_CHUNK`].
    #[error("chunk {index} has length {length}, outside 1..={MAX_CHUNK}")]
    ChunkLength { index: usize, length: u32 },
    /// The chunk lengths do not add up to the file size.
    #[error("chunks add up to {sum} bytes, the file has {size}")]
    SizeMismatch { sum: u64, size: u64 },
}

/// A file as chunks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    size: u64,
    hash: FileHash,
    chunks: Vec<ChunkRef>,
}

impl Manifest {
    /// A manifest from chunk lengths and ids in file order.
    pub fn new(
        hash: FileHash,
        chunks: impl IntoIterator<Item = (u32, ChunkId)>,
    ) -> Result<Manifest, ManifestError> {
        let mut offset = 0u64;
        let mut refs = Vec::new();
        for (index, (length, id)) in chunks.into_iter().enumerate() {
            if length == 0 || length > MAX_CHUNK {
                return Err(ManifestError::ChunkLength { index, length });
            }
            refs.push(ChunkRef { offset, length, id });
            offset += u64::from(length);
        }
        Ok(Manifest {
            size: offset,
            hash,
            chunks: refs,
        })
    }

    /// The manifest of `data` taken as a whole file (one thread; see
    /// [`crate::build`] for the pipelined builder).
    pub fn of_bytes(data: &[u8]) -> Manifest {
        let mut offset = 0usize;
        let chunks = crate::chunker::chunk_lengths(data).map(|length| {
            let id = ChunkId::of(&data[offset..offset + length as usize]);
            offset += length as usize;
            (length, id)
        });
        let chunks: Vec<_> = chunks.collect();
        Manifest::new(FileHash::of(data), chunks).expect("FastCDC keeps chunks within bounds")
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn hash(&self) -> FileHash {
        self.hash
    }

    pub fn chunks(&self) -> &[ChunkRef] {
        &self.chunks
    }

    /// Indexes of the chunks that hold bytes `[offset, offset + len)`:
    /// only these need fetching for a ranged read.
    pub fn chunks_for(&self, offset: u64, len: u64) -> Range<usize> {
        let end = offset.saturating_add(len).min(self.size);
        if offset >= end {
            return 0..0;
        }
        let first = self.chunks.partition_point(|c| c.end() <= offset);
        let last = self.chunks.partition_point(|c| c.offset < end);
        first..last
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + PER_CHUNK * self.chunks.len());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(self.hash.as_bytes());
        out.extend_from_slice(&(self.chunks.len() as u32).to_le_bytes());
        for chunk in &self.chunks {
            out.extend_from_slice(&chunk.length.to_le_bytes());
            out.extend_from_slice(chunk.id.as_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        if bytes.len() < HEADER {
            return Err(ManifestError::Length {
                expected: HEADER as u64,
                actual: bytes.len(),
            });
        }
        if &bytes[..4] != MAGIC {
            return Err(ManifestError::BadMagic);
        }
        if bytes[4] != VERSION {
            return Err(ManifestError::Version(bytes[4]));
        }
        let size = u64::from_le_bytes(take(&bytes[5..13]));
        let hash = FileHash(take(&bytes[13..45]));
        let count = u32::from_le_bytes(take(&bytes[45..49])) as u64;
        // Checked before anything is allocated: the count is the peer's word.
        let expected = HEADER as u64 + count * PER_CHUNK as u64;
        if expected != bytes.len() as u64 {
            return Err(ManifestError::Length {
                expected,
                actual: bytes.len(),
            });
        }
        let chunks = bytes[HEADER..].chunks_exact(PER_CHUNK).map(|raw| {
            (
                u32::from_le_bytes(take(&raw[..4])),
                ChunkId(take(&raw[4..])),
            )
        });
        let manifest = Manifest::new(hash, chunks)?;
        if manifest.size != size {
            return Err(ManifestError::SizeMismatch {
                sum: manifest.size,
                size,
            });
        }
        Ok(manifest)
    }
}

/// A fixed-size array from a slice whose length the caller already checked.
fn take<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    out
}
