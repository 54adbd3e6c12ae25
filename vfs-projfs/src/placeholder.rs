//! What ProjFS is told about a file or directory (`PRJ_FILE_BASIC_INFO`),
//! from the core's attributes.

use sdfs_core::model::entry::EntryKind;
use sdfs_core::namespace::Attr;

pub const FILE_ATTRIBUTE_READONLY: u32 = 0x1;
pub const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
pub const FILE_ATTRIBUTE_NORMAL: u32 = 0x80;

/// Unix nanoseconds to a Windows FILETIME (100 ns ticks since 1601).
pub fn filetime(unix_nanos: i64) -> i64 {
    const EPOCH_DIFF_TICKS: i64 = 116_444_736_000_000_000;
    unix_nanos.div_euclid(100).saturating_add(EPOCH_DIFF_TICKS)
}

/// `PRJ_FILE_BASIC_INFO`, platform-neutral.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BasicInfo {
    pub is_directory: bool,
    pub file_size: i64,
    pub creation_time: i64,
    pub last_access_time: i64,
    pub last_write_time: i64,
    pub change_time: i64,
    pub file_attributes: u32,
}

impl BasicInfo {
    /// The info of a node with attributes `attr`; `read_only` when the
    /// namespace refuses changes to it (another device's file, say).
    pub fn of(attr: &Attr, read_only: bool) -> BasicInfo {
        let is_directory = attr.kind == EntryKind::Directory;
        let mut file_attributes = if is_directory {
            FILE_ATTRIBUTE_DIRECTORY
        } else {
            0
        };
        if read_only && !is_directory {
            file_attributes |= FILE_ATTRIBUTE_READONLY;
        }
        if file_attributes == 0 {
            file_attributes = FILE_ATTRIBUTE_NORMAL;
        }
        BasicInfo {
            is_directory,
            file_size: if is_directory {
                0
            } else {
                i64::try_from(attr.size).unwrap_or(i64::MAX)
            },
            creation_time: filetime(attr.ctime.min(attr.mtime)),
            last_access_time: filetime(attr.atime),
            last_write_time: filetime(attr.mtime),
            change_time: filetime(attr.ctime),
            file_attributes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unix_epoch_is_its_filetime() {
        assert_eq!(filetime(0), 116_444_736_000_000_000);
        assert_eq!(filetime(1_000_000_000), 116_444_736_010_000_000);
    }
}
