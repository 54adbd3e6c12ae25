//! The core error type and its platform-neutral kind.
//!
//! Adapters decide errno (or NTSTATUS) once, from [`ErrorKind`], with an
//! exhaustive match: a new kind fails to compile until every adapter maps it.

use std::io;
use std::path::PathBuf;

/// What went wrong, independent of any kernel's error numbers: every
/// outcome a filesystem adapter must be able to report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    /// The caller lacks the right (EACCES).
    PermissionDenied,
    /// Only the owner or a privileged caller may do this (EPERM).
    NotPermitted,
    InvalidInput,
    NotADirectory,
    IsADirectory,
    DirectoryNotEmpty,
    ReadOnly,
    /// A rename or link between locations on different filesystems.
    CrossDevice,
    NameTooLong,
    /// Too many symlinks on the way, or a symlink where none may be.
    SymlinkLoop,
    /// Too many hard links to one file.
    TooManyLinks,
    NoSpace,
    FileTooLarge,
    /// A value does not fit the type asked for.
    Overflow,
    Busy,
    /// A running program's file cannot be written.
    FileBusy,
    WouldBlock,
    /// A device did not answer in time.
    TimedOut,
    /// A device or service is not reachable at all.
    Unavailable,
    /// Stored or received bytes failed their check.
    Corrupt,
    Unsupported,
    /// The extended attribute does not exist.
    NoAttribute,
    /// The caller's buffer is too small for the value.
    BufferTooSmall,
    /// A value is larger than the filesystem accepts.
    ArgumentTooLarge,
    /// The handle is not open for this.
    BadHandle,
    /// No data (or hole) at or after the offset.
    NoSuchOffset,
    NotSeekable,
    Interrupted,
    Io,
}

impl ErrorKind {
    /// Every kind, for tests that check a mapping is total.
    pub const ALL: [ErrorKind; 31] = [
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::PermissionDenied,
        ErrorKind::NotPermitted,
        ErrorKind::InvalidInput,
        ErrorKind::NotADirectory,
        ErrorKind::IsADirectory,
        ErrorKind::DirectoryNotEmpty,
        ErrorKind::ReadOnly,
        ErrorKind::CrossDevice,
        ErrorKind::NameTooLong,
        ErrorKind::SymlinkLoop,
        ErrorKind::TooManyLinks,
        ErrorKind::NoSpace,
        ErrorKind::FileTooLarge,
        ErrorKind::Overflow,
        ErrorKind::Busy,
        ErrorKind::FileBusy,
        ErrorKind::WouldBlock,
        ErrorKind::TimedOut,
        ErrorKind::Unavailable,
        ErrorKind::Corrupt,
        ErrorKind::Unsupported,
        ErrorKind::NoAttribute,
        ErrorKind::BufferTooSmall,
        ErrorKind::ArgumentTooLarge,
        ErrorKind::BadHandle,
        ErrorKind::NoSuchOffset,
        ErrorKind::NotSeekable,
        ErrorKind::Interrupted,
        ErrorKind::Io,
    ];
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
    /// A filesystem operation refused or failed on `what`, as core decided.
    #[error("{what}: {}", kind_text(*.kind))]
    Fs { kind: ErrorKind, what: String },
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

    /// A filesystem outcome of `kind` about `what` (a name, a path).
    pub fn fs(kind: ErrorKind, what: impl Into<String>) -> Self {
        Error::Fs {
            kind,
            what: what.into(),
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
            Error::Fs { kind, .. } => *kind,
        }
    }
}

fn io_kind(e: &io::Error) -> ErrorKind {
    crate::sys::error_kind(e)
}

/// How an error of `kind` reads in a message.
fn kind_text(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "not found",
        ErrorKind::AlreadyExists => "already exists",
        ErrorKind::PermissionDenied => "permission denied",
        ErrorKind::NotPermitted => "not permitted",
        ErrorKind::InvalidInput => "invalid argument",
        ErrorKind::NotADirectory => "not a directory",
        ErrorKind::IsADirectory => "is a directory",
        ErrorKind::DirectoryNotEmpty => "directory not empty",
        ErrorKind::ReadOnly => "read-only",
        ErrorKind::CrossDevice => "crosses filesystems",
        ErrorKind::NameTooLong => "name too long",
        ErrorKind::SymlinkLoop => "too many symlinks",
        ErrorKind::TooManyLinks => "too many links",
        ErrorKind::NoSpace => "no space left",
        ErrorKind::FileTooLarge => "file too large",
        ErrorKind::Overflow => "value too large",
        ErrorKind::Busy => "busy",
        ErrorKind::FileBusy => "file busy",
        ErrorKind::WouldBlock => "would block",
        ErrorKind::TimedOut => "timed out",
        ErrorKind::Unavailable => "not reachable",
        ErrorKind::Corrupt => "corrupt data",
        ErrorKind::Unsupported => "not supported",
        ErrorKind::NoAttribute => "no such attribute",
        ErrorKind::BufferTooSmall => "buffer too small",
        ErrorKind::ArgumentTooLarge => "argument too large",
        ErrorKind::BadHandle => "bad handle",
        ErrorKind::NoSuchOffset => "no such offset",
        ErrorKind::NotSeekable => "not seekable",
        ErrorKind::Interrupted => "interrupted",
        ErrorKind::Io => "input/output error",
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
    redb::CommitError,
    redb::SetDurabilityError
);

/// Result with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// `ALL` lists every kind once: the texts differ, and a kind missing
    /// from the list has no text in `kind_text`'s exhaustive match either.
    #[test]
    fn all_lists_every_kind_once() {
        let mut texts: Vec<&str> = ErrorKind::ALL.iter().map(|k| kind_text(*k)).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), ErrorKind::ALL.len());
    }
}
