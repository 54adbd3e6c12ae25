//! sdfs content-addressed store: FastCDC chunks identified by BLAKE3,
//! per-file manifests, an on-disk chunk store with a crash-safe write
//! protocol, a moka hot cache bounded by bytes, pins and eviction.
//!
//! Everything that is not a local file reaches a reader through this crate,
//! so it never hands out a byte that was not checked against its hash. It
//! knows nothing of libraries, devices or the mount: `core` decides what to
//! read and where from (through [`ChunkSource`]); this crate makes it safe.
//! The design and its invariants: `docs/design/cas.md`.

pub mod build;
pub mod cache;
pub mod chunker;
pub mod id;
pub mod manifest;
pub mod reader;
pub mod store;

pub use build::{ChunkSink, Discard, build_from_reader, build_from_slice};
pub use cache::{CacheCounts, HotCache};
pub use id::{ChunkId, FileHash};
pub use manifest::{ChunkRef, Manifest, ManifestError};
pub use reader::{ChunkSource, ContentReader, Keep, ReadError};
pub use store::{FsChunkStore, Keeper, StoreError};
