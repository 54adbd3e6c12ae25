//! The core error type and its platform-neutral kind.
//!
//! Adapters decide errno (or NTSTATUS) once, from [`ErrorKind`], with an
//! exhaustive match: a new kind fails to compile until every adapter maps it.

use std::io;
use std::path::PathBuf;

/// What went wrong, independent of any kernel's error numbers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    PermissionDenied,
    InvalidInput,
    NotADirectory,
    IsADirectory,
    DirectoryNotEmpty,
    ReadOnly,
    Busy,
    Unsupported,
    Unavailable,
    Corrupt,
    Io,
}

/// Errors of the core library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system call failed on `path`.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// The database failed underneath us.
    #[error("library database: {0}")]
    Db(String),
    /// Another process holds the library open.
    #[error("library in use by pid {pid} ({path})")]
    LibraryInUse { pid: u32, path: PathBuf },
    /// No library at the given directory.
    #[error("no library at {0} (run `sd init` first)")]
    NoLibrary(PathBuf),
    /// The library was written by a newer sdfs; we refuse to touch it.
    #[error(
        "library at {path} has schema version {found}, newer than this sd supports ({supported}); upgrade sd"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// A stored record does not decode: the library is damaged.
    #[error("corrupt library record in {table}: {detail}")]
    CorruptRecord { table: &'static str, detail: String },
    /// A named thing (location, device, job, path) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A thing with that name already exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// The request makes no sense as given.
    #[error("{0}")]
    InvalidInput(String),
    /// Not allowed: a wrong pairing code, an unpaired or revoked peer.
    #[error("{0}")]
    PermissionDenied(String),
    /// The operation would change something read-only.
    #[error("{0}")]
    ReadOnly(String),
    /// The job was cancelled or paused while it ran.
    #[error("job {0}")]
    Interrupted(&'static str),
    /// The chunk store failed (I/O or its index).
    #[error(transparent)]
    Store(#[from] sdfs_cas::StoreError),
    /// No source could serve verified bytes of the content: every copy is
    /// gone, changed, corrupt or unreachable.
    #[error(transparent)]
    Unreadable(#[from] sdfs_cas::ReadError),
    /// A file changed while it was being read whole (for a manifest or a pin).
    #[error("{} changed while it was being read; try again", .0.display())]
    ChangedWhileReading(PathBuf),
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The platform-neutral kind, for adapters that map errors to numbers.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { source, .. } => io_kind(source),
            Error::Db(_) | Error::CorruptRecord { .. } | Error::SchemaTooNew { .. } => {
                ErrorKind::Corrupt
            }
            Error::LibraryInUse { .. } | Error::Interrupted(_) => ErrorKind::Busy,
            Error::NoLibrary(_) | Error::NotFound(_) => ErrorKind::NotFound,
            Error::AlreadyExists(_) => ErrorKind::AlreadyExists,
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::ReadOnly(_) => ErrorKind::ReadOnly,
            Error::PermissionDenied(_) => ErrorKind::PermissionDenied,
            Error::Store(sdfs_cas::StoreError::Incomplete { .. }) => ErrorKind::Unavailable,
            Error::Store(_) | Error::Unreadable(_) => ErrorKind::Io,
            Error::ChangedWhileReading(_) => ErrorKind::Busy,
        }
    }
}

fn io_kind(e: &io::Error) -> ErrorKind {
    match e.raw_os_error() {
        Some(libc::ENOENT) => ErrorKind::NotFound,
        Some(libc::EEXIST) => ErrorKind::AlreadyExists,
        Some(libc::EACCES) | Some(libc::EPERM) => ErrorKind::PermissionDenied,
        Some(libc::ENOTDIR) => ErrorKind::NotADirectory,
        Some(libc::EISDIR) => ErrorKind::IsADirectory,
        Some(libc::ENOTEMPTY) => ErrorKind::DirectoryNotEmpty,
        Some(libc::EROFS) => ErrorKind::ReadOnly,
        Some(libc::EBUSY) => ErrorKind::Busy,
        Some(libc::EINVAL) => ErrorKind::InvalidInput,
        _ => ErrorKind::Io,
    }
}

macro_rules! db_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Db(e.to_string())
            }
        }
    )*};
}

db_error_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Result with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
