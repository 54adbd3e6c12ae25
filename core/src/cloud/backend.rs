//! What core asks of a cloud service. The `cloud` crate implements it with
//! OpenDAL; core never names an SDK.

use std::fs::File;
use std::ops::Range;
use std::sync::Arc;

use super::config::{CloudConfig, Secrets};
use crate::error::Result;

/// One object (or, where the service lists them, one directory) below a
/// volume's root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudObject {
    /// Its name within the directory listed (no `/`).
    pub name: Vec<u8>,
    pub dir: bool,
    pub size: u64,
    /// Unix nanoseconds; 0 when the service does not say.
    pub mtime: i64,
    /// A change hint only: never trusted as a content hash.
    pub etag: Option<String>,
}

/// A bucket or share, reached with its credentials. Paths are relative to
/// the volume's root, `/`-separated, without a leading `/`; `""` is the root.
/// Calls block (adapters run them on their own runtime) and fail with
/// [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable) or
/// [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut) when the service
/// cannot be reached, never hang.
pub trait CloudBackend: Send + Sync + std::fmt::Debug {
    /// The children of directory `dir`, page by page in the service's order
    /// (`visit` sees each page as it arrives: a directory of millions of
    /// objects is never held whole here).
    fn list_dir(
        &self,
        dir: &[u8],
        visit: &mut dyn FnMut(Vec<CloudObject>) -> Result<()>,
    ) -> Result<()>;

    /// Bytes `range` of object `path`.
    fn read(&self, path: &[u8], range: Range<u64>) -> Result<Vec<u8>>;

    /// What is at `path` now: an object, a directory, or nothing.
    fn stat(&self, path: &[u8]) -> Result<Option<CloudObject>>;

    /// Uploads `file` (all of it) as object `path`, whole or not at all: a
    /// large file goes in parts, and the object appears only once every
    /// part arrived. With `condition`, the object is written only if what
    /// is there still matches it, where the service can check (else the
    /// caller's own check before stands alone).
    fn put(&self, path: &[u8], file: &File, condition: &WriteIf) -> Result<Put>;

    /// Copies object `from` to `to` within the service (no byte passes
    /// through here), with `condition` on what `to` holds as for [`put`].
    ///
    /// [`put`]: CloudBackend::put
    fn copy(&self, from: &[u8], to: &[u8], condition: &WriteIf) -> Result<Put>;

    /// Makes directory `path` (and what leads to it).
    fn create_dir(&self, path: &[u8]) -> Result<()>;

    /// Removes object `path`, or the empty directory `path`; nothing there
    /// is no error.
    fn delete(&self, path: &[u8], dir: bool) -> Result<()>;
}

/// What a write requires of what it replaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteIf {
    /// Nothing is there.
    Absent,
    /// The object has this ETag.
    Matches(String),
    /// No check.
    Any,
}

/// What became of a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Put {
    /// Written; what is there now.
    Written(CloudObject),
    /// Not written: the object changed since the caller looked.
    Changed,
}

/// Opens a [`CloudBackend`] for a volume's settings and secrets.
pub trait Connector: Send + Sync + std::fmt::Debug {
    fn connect(&self, config: &CloudConfig, secrets: &Secrets) -> Result<Arc<dyn CloudBackend>>;
}
