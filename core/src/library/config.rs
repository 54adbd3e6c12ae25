//! `library.json`: the human-readable part of a library.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::schema;
use crate::error::{Error, Result};
use crate::ids::{DeviceId, LibraryId};

/// The library's configuration file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LibraryConfig {
    /// Version of the on-disk format that wrote this library.
    pub schema_version: u32,
    pub library_id: LibraryId,
    pub device_id: DeviceId,
    pub device_name: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl LibraryConfig {
    pub(super) fn new(device_name: &str) -> Self {
        Self {
            schema_version: schema::VERSION,
            library_id: LibraryId::new_random(),
            device_id: DeviceId::new_random(),
            device_name: device_name.to_owned(),
            created_at: crate::time::unix_now_secs(),
        }
    }

    pub(super) fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        // Read the version alone first, so a newer format with other fields is
        // still recognised as newer rather than reported as corrupt.
        #[derive(Deserialize)]
        struct Version {
            schema_version: u32,
        }
        let version: Version = serde_json::from_slice(&text).map_err(|e| Error::CorruptRecord {
            table: "library.json",
            detail: e.to_string(),
        })?;
        if version.schema_version > schema::VERSION {
            return Ok(Self {
                schema_version: version.schema_version,
                library_id: LibraryId(uuid::Uuid::nil()),
                device_id: DeviceId(uuid::Uuid::nil()),
                device_name: String::new(),
                created_at: 0,
            });
        }
        serde_json::from_slice(&text).map_err(|e| Error::CorruptRecord {
            table: "library.json",
            detail: e.to_string(),
        })
    }

    /// Writes atomically: a crash leaves the old file or the new one.
    pub(super) fn write(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("json.tmp");
        let text =
            serde_json::to_vec_pretty(self).map_err(|e| Error::InvalidInput(e.to_string()))?;
        crate::fsutil::write_durably(&tmp, &text)?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        Ok(())
    }
}
