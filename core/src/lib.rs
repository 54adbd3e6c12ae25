//! sdfs core: the platform-neutral heart of the Virtual Distributed File System.
//!
//! It owns the library (a portable directory with a redb database), the data
//! model of SPEC §2 (devices, volumes, locations, entries, content identities),
//! the content hash, `sd://` URIs, the indexer and its durable jobs, the
//! watcher and the read-side queries. It knows nothing of FUSE, ProjFS, libp2p
//! or any cloud SDK: adapters depend on it, never the reverse.

pub mod actions;
pub mod cloud;
pub mod conflicts;
pub mod content_hash;
pub mod content_store;
pub mod error;
pub mod fsutil;
pub mod guardian;
pub mod ids;
pub mod inbox;
pub mod indexer;
pub mod jobs;
pub mod kind;
pub mod library;
pub mod locations;
pub mod model;
pub mod namespace;
pub mod outbox;
pub mod pairing;
pub mod query;
pub mod remote;
pub mod shared;
pub mod sync;
pub mod sys;
pub mod time;
pub mod trash;
pub mod uri;
pub mod watcher;

pub use error::{Error, ErrorKind, Result};
pub use library::Library;
