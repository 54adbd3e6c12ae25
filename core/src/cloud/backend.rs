//! What core asks of a cloud service. The `cloud` crate implements it with
//! OpenDAL; core never names an SDK.

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
}

/// Opens a [`CloudBackend`] for a volume's settings and secrets.
pub trait Connector: Send + Sync + std::fmt::Debug {
    fn connect(&self, config: &CloudConfig, secrets: &Secrets) -> Result<Arc<dyn CloudBackend>>;
}
