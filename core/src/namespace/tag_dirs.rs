//! `/.tags/`: a directory per tag, listing the files tagged with it or
//! with any tag below it in the hierarchy, each the file itself (as in
//! `.search/`, and named the same way). Tagging through it:
//! `ln -s FILE .tags/<tag>/` and `mv FILE .tags/<tag>/` tag FILE (it stays
//! where it is); `rm .tags/<tag>/NAME` takes the tag off, never the file.

use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::node::Kind;
use super::search::{ListedBy, Names, unique_names};
use super::types::mode;
use super::{Attr, DirEntry, Namespace, Node, Renamed, Unlinked};
use crate::error::{Error, ErrorKind, Result};
use crate::model::entry::EntryKind;
use crate::shared::{tag_tree, tags, target};

/// Name of the directory of tags at the mount's top.
pub const TAGS_DIR: &str = ".tags";

/// Whether `tag` can be a directory's name.
pub(super) fn nameable(tag: &str) -> bool {
    !tag.contains('/') && tag != "." && tag != ".."
}

impl Namespace {
    /// Every tag in use or in the hierarchy, as directories.
    pub(super) fn readdir_tags_root(&self) -> Result<Vec<DirEntry>> {
        let mut all: std::collections::BTreeSet<String> =
            tags::all(self.lib.db())?.into_values().flatten().collect();
        for (child, parents) in tag_tree::parents(self.lib.db())? {
            all.insert(child);
            all.extend(parents);
        }
        Ok(all
            .into_iter()
            .filter(|t| nameable(t))
            .map(|tag| {
                let node = Node(Kind::Tag(tag.clone()));
                DirEntry {
                    name: tag.into_bytes(),
                    attr: Attr::virtual_dir(self.started, node.key().ino()),
                    node,
                }
            })
            .collect())
    }

    /// The files under `tag`: tagged with it or a tag below it.
    fn tag_names(&self, tag: &str) -> Result<Names> {
        let wanted = tag_tree::descendants(&tag_tree::parents(self.lib.db())?, tag);
        let mut uris = Vec::new();
        for (t, has) in tags::all(self.lib.db())? {
            if has.iter().any(|h| wanted.contains(h))
                && let Some(uri) = target::uri_of_target(&self.lib, t)?
            {
                uris.push(uri.to_string());
            }
        }
        uris.sort();
        Ok(self.keep_names(ListedBy::Tag, tag.as_bytes(), unique_names(&uris)))
    }

    pub(super) fn readdir_tag(&self, tag: &str) -> Result<Vec<DirEntry>> {
        let names = self.tag_names(tag)?;
        Ok(self.entries_of(&names))
    }

    pub(super) fn lookup_tag(&self, tag: &str, name: &[u8]) -> Result<(Node, Attr)> {
        let names = match self.recent_names(ListedBy::Tag, tag.as_bytes()) {
            Some(names) => names,
            None => self.tag_names(tag)?,
        };
        self.named_in(&names, name)
    }

    /// Adds `tag` to `node`.
    fn tag_node(&self, node: &Node, tag: &str) -> Result<()> {
        let mut now = self.tags(node)?.unwrap_or_default();
        if !now.iter().any(|t| t == tag) {
            now.push(tag.to_owned());
        }
        self.set_tags(node, &now)
    }

    /// `ln -s TARGET .tags/<tag>/NAME`: tags the file TARGET names (a
    /// path in the mount, absolute or relative to the tag's directory, or
    /// a path in a location). Answers a link to it, which the directory
    /// shows as the file itself from its next lookup on.
    pub(super) fn symlink_tag(&self, tag: &str, target: &[u8]) -> Result<(Node, Attr)> {
        let node = self.node_at_path(tag, target)?;
        self.tag_node(&node, tag)?;
        let link = Node(Kind::TagLink(target.to_vec()));
        let attr = self.getattr_tag_link(&link, target);
        Ok((link, attr))
    }

    /// `mv PARENT/NAME .tags/<tag>/`: tags the file; it stays where it is.
    pub(super) fn rename_into_tag(&self, parent: &Node, name: &[u8], tag: &str) -> Result<Renamed> {
        let (node, attr) = self.lookup(parent, name)?;
        if attr.kind == EntryKind::Directory {
            return Err(Error::fs(
                ErrorKind::IsADirectory,
                "tag a folder's files, or the folder with `sd tag add`",
            ));
        }
        self.tag_node(&node, tag)?;
        Ok(Renamed::none())
    }

    /// `rm .tags/<tag>/NAME`: takes `tag`, and the tags below it that put
    /// the file here, off the file. The file itself stays.
    pub(super) fn unlink_tag(&self, tag: &str, name: &[u8]) -> Result<Unlinked> {
        let (node, _) = self.lookup_tag(tag, name)?;
        let below = tag_tree::descendants(&tag_tree::parents(self.lib.db())?, tag);
        let now = self.tags(&node)?.unwrap_or_default();
        let kept: Vec<String> = now.into_iter().filter(|t| !below.contains(t)).collect();
        self.set_tags(&node, &kept)?;
        // No name of the file itself went away.
        Ok(Unlinked(PathBuf::new()))
    }

    pub(super) fn getattr_tag_link(&self, node: &Node, target: &[u8]) -> Attr {
        let mut attr = Attr::virtual_dir(self.started, node.key().ino());
        attr.kind = EntryKind::Symlink;
        attr.mode = mode::SYMLINK | 0o777;
        attr.size = target.len() as u64;
        attr.nlink = 1;
        attr
    }

    /// The node a symlink's `target` names, made in `.tags/<tag>/`.
    fn node_at_path(&self, tag: &str, target: &[u8]) -> Result<Node> {
        let target = Path::new(std::ffi::OsStr::from_bytes(target));
        let mount = self.mountpoint();
        let full = if target.is_absolute() {
            target.to_path_buf()
        } else {
            let Some(mount) = &mount else {
                return Err(Error::fs(
                    ErrorKind::InvalidInput,
                    "a relative link needs the mount's path",
                ));
            };
            mount.join(TAGS_DIR).join(tag).join(target)
        };
        let full = normalise(&full);
        let uri =
            crate::query::target::uri_of(&self.lib, full.as_os_str().as_bytes(), mount.as_deref())?;
        Ok(self.node_at_uri(&uri.to_string())?.0)
    }
}

/// `path` with `.` and `..` taken out, as the names say (links are not
/// followed: a tag link names a file of the mount or of a location).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// A copy into `.tags/<tag>/NAME`: its bytes go to a scratch file; when
/// the writer closes it, the file of the library with that name and those
/// bytes is tagged. Nothing is kept of the copy itself.
pub(crate) struct TagCopy {
    lib: std::sync::Arc<crate::Library>,
    search: Option<std::sync::Arc<dyn super::SearchFiles>>,
    tag: String,
    name: Vec<u8>,
    done: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for TagCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TagCopy")
            .field("tag", &self.tag)
            .field("name", &String::from_utf8_lossy(&self.name))
            .finish_non_exhaustive()
    }
}

impl TagCopy {
    /// Tags the file this copies (once).
    pub(crate) fn finish(&self, scratch: &std::fs::File) -> Result<()> {
        if self.done.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return Ok(());
        }
        let size = scratch.metadata().map_err(|e| Error::io("fstat", e))?.len();
        let hashed = crate::content_hash::content_hash_of_file(scratch, size, &mut Vec::new())
            .map_err(|e| Error::io("reading the copy", e))?;
        let content = hashed.hash.map(|h| h.content_id());
        let name = String::from_utf8_lossy(&self.name).into_owned();
        let search = self.search.as_ref().ok_or_else(|| {
            Error::fs(
                ErrorKind::Unavailable,
                "copies are matched by the daemon's search",
            )
        })?;
        for uri in search.search(&name, super::SEARCH_DIR_LIMIT)? {
            let Ok(parsed) = uri.parse::<crate::uri::SdUri>() else {
                continue;
            };
            if parsed.rel_path().rsplit(|b| *b == b'/').next() != Some(self.name.as_slice()) {
                continue;
            }
            let Ok(t) = target::resolve(&self.lib, &parsed) else {
                continue;
            };
            let Some(record) = target::entry_of(&self.lib, t)? else {
                continue;
            };
            let same = match (record.content, content) {
                (Some(a), Some(b)) => a == b,
                // Not identified yet (or empty): the size decides.
                _ => record.size == size,
            };
            if same && record.size == size {
                tags::add(
                    self.lib.db(),
                    self.lib.device_id(),
                    t,
                    std::slice::from_ref(&self.tag),
                )?;
                return Ok(());
            }
        }
        Err(Error::fs(
            ErrorKind::InvalidInput,
            format!(
                "no file named {name:?} with these bytes is known: a copy into a tag's directory tags a file of the library"
            ),
        ))
    }
}

impl Namespace {
    /// `cp FILE .tags/<tag>/`: a scratch file the copy is written to.
    pub(super) fn create_in_tag(
        &self,
        tag: &str,
        name: &[u8],
    ) -> Result<(Node, Attr, super::OpenFile)> {
        let dir = self.lib.dir().join("tmp");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let scratch = crate::sys::nameless_file_in(&dir).map_err(|e| Error::io(&dir, e))?;
        let node = Node(Kind::TagCopy(name.to_vec()));
        let attr = self.getattr_tag_copy(&node);
        let copy = TagCopy {
            lib: std::sync::Arc::clone(&self.lib),
            search: self
                .search
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            tag: tag.to_owned(),
            name: name.to_vec(),
            done: std::sync::atomic::AtomicBool::new(false),
        };
        Ok((
            node.clone(),
            attr,
            super::OpenFile::tag_copy(node.key(), scratch, copy),
        ))
    }

    pub(super) fn getattr_tag_copy(&self, node: &Node) -> Attr {
        let mut attr = Attr::virtual_dir(crate::time::unix_now_nanos(), node.key().ino());
        attr.kind = EntryKind::File;
        attr.mode = mode::FILE | 0o644;
        attr.nlink = 1;
        attr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_targets_resolve_lexically() {
        assert_eq!(
            normalise(Path::new("/mnt/.tags/tax/../../laptop/Docs/./a.pdf")),
            PathBuf::from("/mnt/laptop/Docs/a.pdf")
        );
        assert!(nameable("holiday 2025"));
        assert!(!nameable("a/b"));
        assert!(!nameable(".."));
    }
}
