//! Reading one directory from the disk: names as bytes, `lstat` of each child,
//! rules applied. Runs on worker threads; knows nothing of the database.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::gitignore::IgnoreStack;
use super::rules::IndexRules;
use crate::model::entry::{EntryKind, StatFields};

/// A child found on disk.
#[derive(Debug, Clone)]
pub struct DiskChild {
    pub name: Vec<u8>,
    pub stat: StatFields,
    pub link_target: Option<Vec<u8>>,
}

/// One directory as read from the disk, children sorted by name.
#[derive(Debug)]
pub struct Listing {
    pub children: Vec<DiskChild>,
    /// The ignore rules in force inside this directory, for its subdirectories.
    pub ignore: Arc<IgnoreStack>,
}

/// Reads `dir`, leaving out what `rules` and `ignore` (the rules of `dir`'s
/// parent chain) skip. Children that vanish between `readdir` and `lstat` are
/// simply not there.
pub fn read_listing(
    dir: &Path,
    rules: &IndexRules,
    ignore: &Arc<IgnoreStack>,
) -> io::Result<Listing> {
    let mut children = Vec::new();
    let mut has_git = false;
    let mut has_gitignore = false;
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let name = item.file_name();
        let name = name.as_bytes();
        has_git |= name == b".git";
        has_gitignore |= name == b".gitignore";
        let md = match item.metadata() {
            Ok(md) => md,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let stat = StatFields::from_metadata(&md);
        if rules
            .skips(name, stat.kind == EntryKind::Directory)
            .is_some()
        {
            continue;
        }
        let link_target = if stat.kind == EntryKind::Symlink {
            std::fs::read_link(item.path())
                .ok()
                .map(|t| t.as_os_str().as_bytes().to_vec())
        } else {
            None
        };
        children.push(DiskChild {
            name: name.to_vec(),
            stat,
            link_target,
        });
    }
    let ignore = if rules.gitignore {
        IgnoreStack::child(ignore, dir, has_git, has_gitignore)
    } else {
        Arc::clone(ignore)
    };
    if rules.gitignore {
        let mut path = PathBuf::from(dir);
        children.retain(|c| {
            path.push(std::ffi::OsStr::from_bytes(&c.name));
            let ignored = ignore.is_ignored(&path, c.stat.kind == EntryKind::Directory);
            path.pop();
            !ignored
        });
    }
    children.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(Listing { children, ignore })
}
