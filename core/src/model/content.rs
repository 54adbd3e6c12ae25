//! Content identities: one record per unique content, with its instances.

use serde::{Deserialize, Serialize};

use crate::content_hash::ContentHash;
use crate::error::Result;
use crate::kind::FileKind;

/// A unique content, keyed by its content id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentRecord {
    pub hash: ContentHash,
    pub size: u64,
    /// [`FileKind`] code.
    pub kind: u8,
    /// Number of entries with this content (rows in `instances`).
    pub instances: u32,
    /// BLAKE3 of the whole file, once the integrity job has computed it.
    pub integrity: Option<[u8; 32]>,
    /// Unix seconds (seconds keep the record short; it is one per content).
    pub first_seen: i64,
}

impl ContentRecord {
    pub fn kind(&self) -> FileKind {
        FileKind::from_code(self.kind)
    }

    pub fn encode(&self) -> Vec<u8> {
        super::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        super::decode("content", bytes)
    }
}
