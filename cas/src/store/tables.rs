//! The chunk index (`chunks/index.redb`). All integers little endian.
//!
//! Architecture Invariant: every row of [`CHUNKS`] points at bytes that were
//! fdatasync'ed before the row was committed, so after any crash the index
//! never names a chunk without bytes.

use redb::TableDefinition;

/// Chunk id → [`ChunkLoc`] (28 bytes).
pub const CHUNKS: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("chunks");
/// (pack, offset) → chunk id: a pack's contents in file order (compaction, verify).
pub const PACK_CONTENTS: TableDefinition<'_, (u32, u64), &[u8; 32]> =
    TableDefinition::new("pack_contents");
/// Pack number → (bytes committed, bytes of live chunks).
pub const PACKS: TableDefinition<'_, u32, (u64, u64)> = TableDefinition::new("packs");
/// (last use tick, chunk id) → (): eviction order of the unpinned chunks.
pub const LRU: TableDefinition<'_, (u64, &[u8; 32]), ()> = TableDefinition::new("lru");
/// File hash → encoded manifest, for content the store holds.
pub const MANIFESTS: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("manifests");
/// File hash → unix seconds when pinned. Pinned content is never evicted.
pub const PINS: TableDefinition<'_, &[u8; 32], i64> = TableDefinition::new("pins");
/// Counters and settings: next pack number, use tick, budget.
pub const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

pub const META_NEXT_PACK: &str = "next_pack";
pub const META_TICK: &str = "tick";
/// The disk budget, once set by the user (else the caller's default).
pub const META_BUDGET: &str = "budget";

/// Where a chunk's bytes are, and how it is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkLoc {
    pub pack: u32,
    /// Offset of the chunk's bytes (after its record header).
    pub offset: u64,
    pub length: u32,
    /// Pinned manifests that contain this chunk. Zero means evictable.
    pub pins: u32,
    /// Tick of the last use; the chunk's key in [`LRU`] while unpinned.
    pub tick: u64,
}

impl ChunkLoc {
    pub const ENCODED: usize = 4 + 8 + 4 + 4 + 8;

    pub fn encode(&self) -> [u8; Self::ENCODED] {
        let mut out = [0u8; Self::ENCODED];
        out[..4].copy_from_slice(&self.pack.to_le_bytes());
        out[4..12].copy_from_slice(&self.offset.to_le_bytes());
        out[12..16].copy_from_slice(&self.length.to_le_bytes());
        out[16..20].copy_from_slice(&self.pins.to_le_bytes());
        out[20..28].copy_from_slice(&self.tick.to_le_bytes());
        out
    }

    /// `None` for bytes that are not a location (a damaged index).
    pub fn decode(bytes: &[u8]) -> Option<ChunkLoc> {
        if bytes.len() != Self::ENCODED {
            return None;
        }
        let u32_at =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(b)
        };
        Some(ChunkLoc {
            pack: u32_at(0),
            offset: u64_at(4),
            length: u32_at(12),
            pins: u32_at(16),
            tick: u64_at(20),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_round_trips() {
        let loc = ChunkLoc {
            pack: 7,
            offset: u64::MAX - 3,
            length: 65536,
            pins: 2,
            tick: 99,
        };
        assert_eq!(ChunkLoc::decode(&loc.encode()), Some(loc));
        assert_eq!(ChunkLoc::decode(&[0; 5]), None);
    }
}
