//! The data model of SPEC §2 as stored records.

pub mod content;
pub mod device;
pub mod entry;
pub mod extract;
pub mod location;
pub mod volume;

use serde::{Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};

/// Encodes a record with postcard (compact varints; see `library::schema`).
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain structs into a Vec cannot fail.
    postcard::to_stdvec(value).unwrap_or_default()
}

/// Decodes a record, reporting which table held a damaged one.
pub(crate) fn decode<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| Error::CorruptRecord {
        table,
        detail: e.to_string(),
    })
}
