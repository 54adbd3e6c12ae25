//! Pack files: chunks appended one after another, each behind a record
//! header, so a pack can be read back (and checked) without the index.
//!
//! ```text
//! pack   = "SDPACK01" record*
//! record = "SDCK" | length u32 LE | chunk id [32] | bytes[length]
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::id::ChunkId;

pub const PACK_MAGIC: &[u8; 8] = b"SDPACK01";
pub const RECORD_MAGIC: &[u8; 4] = b"SDCK";
pub const RECORD_HEADER: u64 = 4 + 4 + 32;

/// A new pack is started once the open one reaches this size. Small enough
/// that compacting one pack is quick, large enough that a store holds few.
pub const PACK_TARGET: u64 = 64 * 1024 * 1024;

pub fn pack_path(dir: &Path, pack: u32) -> PathBuf {
    dir.join(format!("{pack:08}.pack"))
}

/// The pack number of a file name like `00000012.pack`.
pub fn parse_pack_name(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".pack")?;
    (digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The pack chunks are appended to.
#[derive(Debug)]
pub struct PackWriter {
    pub pack: u32,
    file: Arc<File>,
    /// Bytes in the file, committed or not.
    pub len: u64,
    buf: Vec<u8>,
}

impl PackWriter {
    /// Creates pack `pack` (which must not exist).
    pub fn create(dir: &Path, pack: u32) -> io::Result<PackWriter> {
        let mut file = OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(pack_path(dir, pack))?;
        file.write_all(PACK_MAGIC)?;
        Ok(PackWriter {
            pack,
            file: Arc::new(file),
            len: PACK_MAGIC.len() as u64,
            buf: Vec::new(),
        })
    }

    /// Reopens pack `pack` to append after its `committed` bytes; anything
    /// past them was written but never indexed, and is cut off.
    pub fn reopen(dir: &Path, pack: u32, committed: u64) -> io::Result<PackWriter> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(pack_path(dir, pack))?;
        file.set_len(committed)?;
        Ok(PackWriter {
            pack,
            file: Arc::new(file),
            len: committed,
            buf: Vec::new(),
        })
    }

    /// Queues a chunk; returns the offset its bytes will have.
    pub fn append(&mut self, id: &ChunkId, bytes: &[u8]) -> u64 {
        let at = self.len + self.buf.len() as u64;
        self.buf.extend_from_slice(RECORD_MAGIC);
        self.buf
            .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(id.as_bytes());
        self.buf.extend_from_slice(bytes);
        at + RECORD_HEADER
    }

    /// Writes the queued records to the file (not yet durable).
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let written = self.file.write_all_at(&self.buf, self.len);
            if written.is_err() {
                self.buf.clear();
            }
            written?;
            self.len += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// A handle on the file, to make it durable after this writer moved on.
    pub fn file(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }

    /// Reserves room for a record of `len` chunk bytes and returns where to
    /// write it, so that the copy happens outside the writer's lock. The
    /// caller writes the record with [`write_record`] before the chunk is
    /// indexed; a reservation never written is dead space, like any
    /// unindexed bytes.
    pub fn reserve(&mut self, len: usize) -> io::Result<(Arc<File>, u64)> {
        self.flush()?;
        let at = self.len;
        self.len += RECORD_HEADER + len as u64;
        Ok((Arc::clone(&self.file), at))
    }

    /// Writes the queued records and makes everything written durable.
    pub fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        self.file.sync_data()
    }

    /// Drops queued records (their batch failed).
    pub fn discard(&mut self) {
        self.buf.clear();
    }
}

/// Writes a record reserved with [`PackWriter::reserve`] at `at`; returns
/// the offset of the chunk's bytes.
pub fn write_record(file: &File, at: u64, id: &ChunkId, bytes: &[u8]) -> io::Result<u64> {
    let mut header = [0u8; RECORD_HEADER as usize];
    header[..4].copy_from_slice(RECORD_MAGIC);
    header[4..8].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
    header[8..].copy_from_slice(id.as_bytes());
    file.write_all_at(&header, at)?;
    file.write_all_at(bytes, at + RECORD_HEADER)?;
    Ok(at + RECORD_HEADER)
}
