//! Open files: what a read, write or sync on a handle does depends on what
//! was opened, and that is decided here, once, at open.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::types::{Fallocate, Whence};
use super::{Attr, NodeKey};
use crate::content_store::ContentHandle;
use crate::error::{Error, ErrorKind, Result};

/// An open file of the mount.
#[derive(Debug)]
pub struct OpenFile {
    key: NodeKey,
    inner: Inner,
    /// A copy into a tag's directory: tags the file it copies once closed.
    tag_copy: Option<Box<super::tag_dirs::TagCopy>>,
}

#[derive(Debug)]
enum Inner {
    /// A file of this device, opened as the caller asked; `regular` when
    /// it is a regular file (a fifo or a device cannot pass through).
    Local {
        file: File,
        writable: bool,
        regular: bool,
    },
    /// Another device's file (or content by id) whose whole verified copy
    /// is in the content store.
    Whole(File),
    /// Another device's file (or content by id) read chunk by chunk, each
    /// checked against the manifest before it is returned.
    Chunks(ContentHandle),
    /// The staging copy of a change to another device's file. Every call
    /// comes here (no passthrough): the outbox must see writes and fsyncs.
    Staged {
        file: File,
        /// `None` when opened only for reading.
        ticket: Option<crate::outbox::WriterTicket>,
        attr: StagedShape,
    },
}

/// What `fstat` of a staging copy shows besides its size and times: the
/// node's own inode number and mode, not the staging file's.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StagedShape {
    pub ino: u64,
    pub mode: u32,
}

/// Another device's file, as its kind's open found it.
#[derive(Debug)]
pub enum Opened {
    /// Read through a reader that verifies every chunk it returns.
    Chunks(sdfs_cas::ContentReader),
    /// A whole copy in the content store, written only after its full
    /// BLAKE3 matched: read without a check per chunk.
    Whole(File),
}

impl OpenFile {
    pub(crate) fn local(key: NodeKey, file: File, writable: bool) -> OpenFile {
        let regular = file.metadata().is_ok_and(|md| md.is_file());
        OpenFile {
            key,
            inner: Inner::Local {
                file,
                writable,
                regular,
            },
            tag_copy: None,
        }
    }

    pub(crate) fn staged(
        key: NodeKey,
        file: File,
        ticket: Option<crate::outbox::WriterTicket>,
        mode: u32,
    ) -> OpenFile {
        let attr = StagedShape {
            ino: key.ino(),
            mode,
        };
        OpenFile {
            key,
            inner: Inner::Staged { file, ticket, attr },
            tag_copy: None,
        }
    }

    pub(crate) fn read_only(key: NodeKey, opened: Opened) -> OpenFile {
        let inner = match opened {
            Opened::Whole(file) => Inner::Whole(file),
            Opened::Chunks(reader) => Inner::Chunks(std::sync::Arc::new(reader)),
        };
        OpenFile {
            key,
            inner,
            tag_copy: None,
        }
    }

    /// A scratch file written by a copy into a tag's directory.
    pub(crate) fn tag_copy(
        key: NodeKey,
        scratch: File,
        copy: super::tag_dirs::TagCopy,
    ) -> OpenFile {
        OpenFile {
            key,
            inner: Inner::Local {
                file: scratch,
                writable: true,
                // Every write comes here: the copy is matched on close.
                regular: false,
            },
            tag_copy: Some(Box::new(copy)),
        }
    }

    /// Whether closing it does something that must be waited for (see
    /// [`OpenFile::flush`]).
    pub fn acts_on_close(&self) -> bool {
        self.tag_copy.is_some()
    }

    /// The writer closes its descriptor (`close(2)` waits for this): a
    /// copy into a tag's directory tags the file it copies now, or fails.
    pub fn flush(&self) -> Result<()> {
        match (&self.tag_copy, &self.inner) {
            (Some(copy), Inner::Local { file, .. }) => copy.finish(file),
            _ => Ok(()),
        }
    }

    /// The node this was opened from.
    pub fn key(&self) -> &NodeKey {
        &self.key
    }

    /// A file the kernel may read and write directly, bypassing the
    /// adapter: only a file of this device, whose node is that very file.
    /// The kernel keeps one backing file per node while any open of it
    /// passes through, and reopens it with each later open's own flags, so
    /// a node whose bytes may come from different files over its life
    /// (another device's file: a verified copy, then a staging copy of an
    /// edit) never passes through: a write meant for the staging copy
    /// would land in the verified copy. Those are read through the page
    /// cache, which keeps unchanging bytes between opens.
    pub fn passthrough(&self) -> Option<&File> {
        match &self.inner {
            Inner::Local {
                file,
                regular: true,
                ..
            } => Some(file),
            Inner::Local { .. } | Inner::Whole(_) | Inner::Chunks(_) | Inner::Staged { .. } => None,
        }
    }

    /// Whether the bytes can never change while open (another device's
    /// version, content by id): the kernel may keep its cached pages.
    pub fn immutable(&self) -> bool {
        !matches!(self.inner, Inner::Local { .. } | Inner::Staged { .. })
    }

    /// Reads at `offset` until `buf` is full or the file ends.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        match &self.inner {
            Inner::Local { file, .. } | Inner::Whole(file) | Inner::Staged { file, .. } => {
                crate::fsutil::read_full_at(file, buf, offset).map_err(|e| Error::io("read", e))
            }
            Inner::Chunks(reader) => reader.read_at(offset, buf).map_err(Error::Unreadable),
        }
    }

    /// Reads the whole file from the start, 1 MiB at a time, handing each
    /// block and its offset to `sink`; returns the BLAKE3 of all of it.
    pub fn read_each(&self, mut sink: impl FnMut(u64, &[u8]) -> Result<()>) -> Result<[u8; 32]> {
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut offset = 0u64;
        loop {
            let n = self.read_at(offset, &mut buf)?;
            if n == 0 {
                return Ok(*hasher.finalize().as_bytes());
            }
            hasher.update(&buf[..n]);
            sink(offset, &buf[..n])?;
            offset += n as u64;
        }
    }

    /// Writes all of `data` at `offset` (returns its length).
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<usize> {
        let file = self.writable()?;
        file.write_all_at(data, offset)
            .map_err(|e| Error::io("write", e))?;
        self.wrote();
        Ok(data.len())
    }

    /// Whether writes through this handle reach the file.
    pub fn can_write(&self) -> bool {
        self.writable().is_ok()
    }

    fn writable(&self) -> Result<&File> {
        match &self.inner {
            Inner::Local {
                file,
                writable: true,
                ..
            } => Ok(file),
            Inner::Staged {
                file,
                ticket: Some(_),
                ..
            } => Ok(file),
            Inner::Local { .. } | Inner::Staged { .. } => {
                Err(Error::fs(ErrorKind::BadHandle, "not open for writing"))
            }
            _ => Err(Error::fs(ErrorKind::BadHandle, "another device's file")),
        }
    }

    /// Tells the outbox a staging copy changed (the courier waits for it
    /// to settle).
    fn wrote(&self) {
        if let Inner::Staged {
            ticket: Some(ticket),
            ..
        } = &self.inner
        {
            ticket.wrote();
        }
    }

    /// Makes written data durable (`datasync`: the data and the size only).
    /// For a staging copy, also commits its outbox record durably: what
    /// fsync acknowledged reaches the owner whatever crashes afterwards.
    pub fn fsync(&self, datasync: bool) -> Result<()> {
        let (file, ticket) = match &self.inner {
            Inner::Local { file, .. } => (file, None),
            Inner::Staged { file, ticket, .. } => (file, ticket.as_ref()),
            _ => return Ok(()),
        };
        let synced = if datasync {
            file.sync_data()
        } else {
            file.sync_all()
        };
        synced.map_err(|e| Error::io("fsync", e))?;
        if let Some(ticket) = ticket {
            ticket.fsynced()?;
        }
        Ok(())
    }

    pub fn set_len(&self, size: u64) -> Result<()> {
        self.writable()?
            .set_len(size)
            .map_err(|e| Error::io("truncate", e))?;
        self.wrote();
        Ok(())
    }

    /// Attributes through the handle (`fstat`): works after every name of
    /// the file is gone.
    pub fn getattr(&self) -> Result<Attr> {
        match &self.inner {
            Inner::Local { file, .. } => file
                .metadata()
                .map(|md| {
                    let mut attr = Attr::from_metadata(&md);
                    if self.tag_copy.is_some() {
                        attr.ino = self.key.ino();
                    }
                    attr
                })
                .map_err(|e| Error::io("fstat", e)),
            Inner::Staged { file, attr, .. } => {
                let md = file.metadata().map_err(|e| Error::io("fstat", e))?;
                Ok(super::outgoing::staged_attr(attr.ino, attr.mode, &md))
            }
            _ => Err(Error::fs(ErrorKind::Unsupported, "fstat of a copy")),
        }
    }

    pub fn fallocate(&self, how: Fallocate, offset: u64, len: u64) -> Result<()> {
        crate::sys::fallocate(self.writable()?, how, offset, len)
            .map_err(|e| Error::io("fallocate", e))?;
        self.wrote();
        Ok(())
    }

    /// The offset lseek(2) lands on. Another device's file has no holes.
    pub fn lseek(&self, offset: i64, whence: Whence) -> Result<u64> {
        match &self.inner {
            Inner::Local { file, .. } | Inner::Whole(file) | Inner::Staged { file, .. } => {
                crate::sys::lseek(file, offset, whence).map_err(|e| Error::io("lseek", e))
            }
            Inner::Chunks(reader) => {
                let size = reader.manifest().size();
                let at = u64::try_from(offset)
                    .map_err(|_| Error::fs(ErrorKind::InvalidInput, "a negative offset"))?;
                match whence {
                    Whence::Data if at < size => Ok(at),
                    Whence::Data | Whence::Hole if at >= size => {
                        Err(Error::fs(ErrorKind::NoSuchOffset, "past the end"))
                    }
                    Whence::Hole => Ok(size),
                    _ => Ok(at),
                }
            }
        }
    }

    /// Copies up to `len` bytes from this file at `offset` into `to` at
    /// `to_offset`, in the kernel when both are files of this device
    /// (reflinks where the filesystem has them), else by reading verified
    /// bytes here and writing them. Returns the bytes copied.
    pub fn copy_range(&self, offset: u64, to: &OpenFile, to_offset: u64, len: u64) -> Result<u64> {
        let target = to.writable()?;
        if let Inner::Local { file, .. } | Inner::Staged { file, .. } = &self.inner {
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            let copied = crate::sys::copy_file_range(file, offset, target, to_offset, len)
                .map(|n| n as u64)
                .map_err(|e| Error::io("copy_file_range", e))?;
            to.wrote();
            return Ok(copied);
        }
        // Bounded so one request never holds more than 1 MiB here.
        let mut buf = vec![0u8; len.min(1 << 20) as usize];
        let n = self.read_at(offset, &mut buf)?;
        target
            .write_all_at(&buf[..n], to_offset)
            .map_err(|e| Error::io("copy_file_range", e))?;
        to.wrote();
        Ok(n as u64)
    }
}
