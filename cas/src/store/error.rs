//! Errors of the chunk store.

use std::path::PathBuf;

use crate::id::{ChunkId, FileHash};
use crate::manifest::ManifestError;

/// What went wrong in the chunk store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A pack file or the store directory could not be read or written.
    #[error("chunk store: {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The chunk index (redb) failed.
    #[error("chunk index: {0}")]
    Index(#[from] redb::Error),
    /// A chunk's bytes on disk no longer hash to its id. The chunk has been
    /// dropped from the store; fetch it again from a good source.
    #[error("chunk {chunk} is corrupt on disk (its bytes hash to {actual}); dropped")]
    Corrupt { chunk: ChunkId, actual: ChunkId },
    /// A stored manifest does not decode.
    #[error("stored manifest {hash}: {source}")]
    Manifest {
        hash: FileHash,
        source: ManifestError,
    },
    /// Pinning needs every chunk of the content in the store first.
    #[error(
        "content {hash} is missing {missing} of its chunks in the store (evicted before the pin took hold? content larger than the cache budget needs a larger one: `sd cache budget SIZE`)"
    )]
    Incomplete { hash: FileHash, missing: usize },
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Index(e.into())
            }
        }
    )*};
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
