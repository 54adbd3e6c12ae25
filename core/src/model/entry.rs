//! Entries: every file and directory of a location.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::ContentId;
use crate::time::stat_nanos;

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
    /// FIFOs, sockets and device nodes: recorded, never read.
    Special,
}

impl EntryKind {
    pub fn from_file_type(ft: std::fs::FileType) -> Self {
        if ft.is_dir() {
            EntryKind::Directory
        } else if ft.is_file() {
            EntryKind::File
        } else if ft.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::Special
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Directory => "dir",
            EntryKind::Symlink => "symlink",
            EntryKind::Special => "special",
        }
    }
}

/// An indexed file or directory. Compact on purpose: every byte here is paid
/// once per file in the library (see BENCHMARKS.md, bytes per entry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRecord {
    /// Parent entry id; 0 for a location root.
    pub parent: u64,
    /// The name as bytes (never assumed UTF-8); empty for a location root.
    pub name: Vec<u8>,
    pub kind: EntryKind,
    pub size: u64,
    /// Unix nanoseconds.
    pub mtime: i64,
    pub dev: u64,
    pub inode: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Always 16 bytes on disk (zeros for none), so identifying a file rewrites
    /// its record in place instead of growing it and splitting its page.
    #[serde(with = "content_slot")]
    pub content: Option<ContentId>,
    /// Directories: total bytes of the files below.
    pub agg_size: u64,
    /// Directories: number of files below.
    pub agg_files: u64,
    /// Symlinks: the target, recorded and never followed.
    pub link_target: Option<Vec<u8>>,
}

/// Serialises `Option<ContentId>` as a fixed 16-byte slot; the nil UUID
/// (never a UUIDv5) stands for none.
mod content_slot {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::ids::ContentId;

    pub fn serialize<S: Serializer>(value: &Option<ContentId>, s: S) -> Result<S::Ok, S::Error> {
        value.map_or([0u8; 16], |id| id.to_bytes()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ContentId>, D::Error> {
        let bytes = <[u8; 16]>::deserialize(d)?;
        Ok((bytes != [0u8; 16]).then(|| ContentId::from_bytes(bytes)))
    }
}

/// The metadata fields change detection compares (inode, mtime and size
/// first; ctime is not kept: mode and owners are compared directly).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatFields {
    pub kind: EntryKind,
    pub size: u64,
    pub mtime: i64,
    pub dev: u64,
    pub inode: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl StatFields {
    pub fn from_metadata(md: &Metadata) -> Self {
        StatFields {
            kind: EntryKind::from_file_type(md.file_type()),
            // A directory's st_size says nothing useful; aggregates do.
            size: if md.is_file() || md.file_type().is_symlink() {
                md.len()
            } else {
                0
            },
            mtime: stat_nanos(md.mtime(), md.mtime_nsec()),
            dev: md.dev(),
            inode: md.ino(),
            mode: md.mode(),
            uid: md.uid(),
            gid: md.gid(),
        }
    }
}

impl EntryRecord {
    /// A new record from a name and its `lstat`.
    pub fn new(parent: u64, name: &[u8], stat: &StatFields) -> Self {
        EntryRecord {
            parent,
            name: name.to_vec(),
            kind: stat.kind,
            size: stat.size,
            mtime: stat.mtime,
            dev: stat.dev,
            inode: stat.inode,
            mode: stat.mode,
            uid: stat.uid,
            gid: stat.gid,
            content: None,
            agg_size: 0,
            agg_files: 0,
            link_target: None,
        }
    }

    /// The fields change detection compares, as stored.
    pub fn stat(&self) -> StatFields {
        StatFields {
            kind: self.kind,
            size: self.size,
            mtime: self.mtime,
            dev: self.dev,
            inode: self.inode,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
        }
    }

    /// Copies new metadata in; returns whether the content may have changed
    /// (so its identity must be recomputed).
    pub fn apply_stat(&mut self, stat: &StatFields) -> bool {
        let content_changed =
            self.kind != stat.kind || self.size != stat.size || self.mtime != stat.mtime;
        self.kind = stat.kind;
        self.size = stat.size;
        self.mtime = stat.mtime;
        self.dev = stat.dev;
        self.inode = stat.inode;
        self.mode = stat.mode;
        self.uid = stat.uid;
        self.gid = stat.gid;
        content_changed
    }

    pub fn encode(&self) -> Vec<u8> {
        super::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        super::decode("entries", bytes)
    }
}

/// Walks parents from entry `id` up to the first entry `is_root` accepts.
/// Returns that root's id and the path below it (names joined by `/`,
/// empty for the root itself), or `None` for an entry no longer attached
/// to any root.
pub fn path_below_root(
    entries: &impl redb::ReadableTable<u64, &'static [u8]>,
    mut id: u64,
    is_root: impl Fn(u64) -> bool,
) -> Result<Option<(u64, Vec<u8>)>> {
    let mut names: Vec<Vec<u8>> = Vec::new();
    while !is_root(id) {
        let Some(raw) = entries.get(id)? else {
            return Ok(None);
        };
        let record = EntryRecord::decode(raw.value())?;
        if record.parent == 0 {
            return Ok(None);
        }
        names.push(record.name);
        id = record.parent;
    }
    names.reverse();
    Ok(Some((id, names.join(&b'/'))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn entry_records_round_trip(
            parent in any::<u64>(), name in proptest::collection::vec(any::<u8>(), 0..64),
            size in any::<u64>(), mtime in any::<i64>(), inode in any::<u64>(), mode in any::<u32>(),
            content in proptest::option::of(any::<u128>()),
        ) {
            let mut record = EntryRecord::new(parent, &name, &StatFields {
                kind: EntryKind::File, size, mtime, dev: 2049, inode, mode, uid: 1000, gid: 1000,
            });
            record.content = content.map(|c| ContentId(uuid::Uuid::from_u128(c)));
            let decoded = EntryRecord::decode(&record.encode()).expect("decode");
            prop_assert_eq!(decoded, record);
        }
    }

    #[test]
    fn a_typical_record_is_small() {
        let record = EntryRecord::new(
            12_345,
            b"IMG_20240501_120000.jpg",
            &StatFields {
                kind: EntryKind::File,
                size: 3_500_000,
                mtime: 1_714_564_800_123_456_789,
                dev: 2049,
                inode: 1_234_567,
                mode: 0o100644,
                uid: 1000,
                gid: 1000,
            },
        );
        let mut with_content = record.clone();
        with_content.content = Some(ContentId(uuid::Uuid::from_u128(u128::MAX)));
        assert!(
            with_content.encode().len() < 90,
            "{} bytes",
            with_content.encode().len()
        );
    }
}
