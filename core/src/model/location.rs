//! Locations: directories the user added to the library.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{EntryId, LocationId, VolumeId};
use crate::indexer::rules::IndexRules;

/// How deeply a location is indexed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IndexMode {
    /// Names and metadata only.
    Shallow,
    /// Plus content identity (the sampled hash) and file kind.
    #[default]
    Content,
    /// Plus full-file integrity hashes and derived data.
    Deep,
}

impl IndexMode {
    pub fn as_str(self) -> &'static str {
        match self {
            IndexMode::Shallow => "shallow",
            IndexMode::Content => "content",
            IndexMode::Deep => "deep",
        }
    }
}

impl std::str::FromStr for IndexMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "shallow" => Ok(IndexMode::Shallow),
            "content" => Ok(IndexMode::Content),
            "deep" => Ok(IndexMode::Deep),
            other => Err(Error::InvalidInput(format!(
                "unknown index mode {other:?} (shallow, content, deep)"
            ))),
        }
    }
}

/// A directory of this device added to the library.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationRecord {
    pub id: LocationId,
    pub name: String,
    /// Absolute path on this device, as bytes.
    pub path: Vec<u8>,
    /// The entry of the location's root directory.
    pub root: EntryId,
    pub mode: IndexMode,
    pub rules: IndexRules,
    pub volume: Option<VolumeId>,
    /// Unix nanoseconds.
    pub created_at: i64,
    /// Unix nanoseconds of the last completed index, if any.
    pub last_indexed: Option<i64>,
    /// Whether paired devices may change files here through their mounts
    /// (on by default: pairing is the trust; `sd location set NAME
    /// --remote-writes off` makes the location read-only to them).
    pub remote_writes: bool,
}

/// A record written before `remote_writes` existed (read, never written).
#[derive(Deserialize)]
struct LocationRecordV1 {
    id: LocationId,
    name: String,
    path: Vec<u8>,
    root: EntryId,
    mode: IndexMode,
    rules: IndexRules,
    volume: Option<VolumeId>,
    created_at: i64,
    last_indexed: Option<i64>,
}

impl LocationRecord {
    pub fn encode(&self) -> Vec<u8> {
        super::encode(self)
    }

    /// Decodes a record of this version or the one before it (postcard
    /// records carry no field names: a shorter record is an older one).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        super::decode("locations", bytes).or_else(|e| {
            let Ok(old) = super::decode::<LocationRecordV1>("locations", bytes) else {
                return Err(e);
            };
            Ok(LocationRecord {
                id: old.id,
                name: old.name,
                path: old.path,
                root: old.root,
                mode: old.mode,
                rules: old.rules,
                volume: old.volume,
                created_at: old.created_at,
                last_indexed: old.last_indexed,
                remote_writes: true,
            })
        })
    }

    /// The location's root directory on its device; `None` for a cloud
    /// volume, whose files are a bucket's objects, not a directory's.
    pub fn root_path(&self) -> Option<std::path::PathBuf> {
        use std::os::unix::ffi::OsStrExt;
        (!self.is_cloud())
            .then(|| std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&self.path)))
    }

    /// A cloud volume (a bucket or share), indexed like a directory: its
    /// `path` is empty, and its volume record says where it lives.
    pub fn is_cloud(&self) -> bool {
        self.path.is_empty()
    }
}

/// Location names become mount directories and URI components.
pub fn validate_location_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > 255
        || name == "."
        || name == ".."
        || name.starts_with('.')
        || name.contains(['/', '\0'])
        || name.chars().any(char::is_control);
    if bad {
        return Err(Error::InvalidInput(format!(
            "invalid location name {name:?}: use 1-255 characters, no '/', no leading '.'"
        )));
    }
    Ok(())
}
