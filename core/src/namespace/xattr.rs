//! Extended attributes. `user.sd.*` are the namespace's own:
//!
//! - `user.sd.tags` is data: listed when a file has tags, settable on any
//!   file of any device (a file of this device not yet indexed is indexed
//!   on the spot), so copy tools carry tags from one file to another;
//! - `user.sd.uri`, `content_id`, `kind` and `copies` are computed from the
//!   index, and `user.sd.state` (online-only, partial, cached, pinned) of
//!   another device's file from the content store. They are readable by name but never listed, so `cp -a`, file
//!   managers and `rsync -X` neither try to set them on a copy inside the
//!   mount nor carry stale values to a copy outside it. Setting one is
//!   refused (`NotPermitted`).
//!
//! Every other attribute is the backing file's own, on this device's files;
//! other devices' files have none and are read-only.

use super::node::Kind;
use super::{Namespace, Node, XattrSet, read_only};
use crate::error::{Error, ErrorKind, Result};
use crate::model::entry::EntryKind;
use crate::uri::SdUri;

/// Tags, shared with every paired device.
pub const TAGS: &[u8] = b"user.sd.tags";
const PREFIX: &[u8] = b"user.sd.";

/// What the index says about a local file, for the computed attributes.
#[derive(Clone, Debug, Default)]
struct IndexFacts {
    uri: String,
    content_id: Option<crate::ids::ContentId>,
    kind: Option<&'static str>,
    copies: Option<u32>,
}

fn no_attribute(name: &[u8]) -> Error {
    Error::fs(ErrorKind::NoAttribute, String::from_utf8_lossy(name))
}

/// The refusal to set or remove a computed attribute.
fn refuse_computed(name: &[u8]) -> Error {
    Error::fs(
        ErrorKind::NotPermitted,
        format!(
            "{} is computed from the index",
            String::from_utf8_lossy(name)
        ),
    )
}

impl Namespace {
    /// Runs `call` on the path by which a local node's own attributes are
    /// reached (beneath its location's root); `None` for other kinds, which
    /// have none of their own.
    fn backing_xattrs<T>(
        &self,
        node: &Node,
        call: impl FnOnce(&std::path::Path) -> std::io::Result<T>,
    ) -> Option<Result<T>> {
        let Kind::Local { location, path, .. } = &node.0 else {
            return None;
        };
        Some(self.root(*location).and_then(|root| {
            // `_dir` holds the directory descriptor the path goes through.
            let (_dir, via) = super::local::xattr_path(&root, path)?;
            call(&via).map_err(|e| Error::io(path.as_path(), e))
        }))
    }

    fn has_tags(&self, node: &Node) -> Result<bool> {
        Ok(self.tags(node)?.is_some_and(|t| !t.is_empty()))
    }

    pub fn getxattr(&self, node: &Node, name: &[u8]) -> Result<Vec<u8>> {
        if name == TAGS {
            return match self.tags(node)? {
                Some(tags) if !tags.is_empty() => Ok(tags.join(",").into_bytes()),
                _ => Err(no_attribute(name)),
            };
        }
        if name.starts_with(PREFIX) {
            return self
                .computed(node, name)?
                .map(String::into_bytes)
                .ok_or_else(|| no_attribute(name));
        }
        self.backing_xattrs(node, |path| crate::sys::xattr_get(path, name))
            .unwrap_or_else(|| Err(no_attribute(name)))
    }

    /// The NUL-separated names of `node`'s attributes (computed ones are
    /// not listed; see the module's notes).
    pub fn listxattr(&self, node: &Node) -> Result<Vec<u8>> {
        let mut names = self
            .backing_xattrs(node, crate::sys::xattr_list)
            .transpose()?
            .unwrap_or_default();
        if self.has_tags(node)? {
            names.extend_from_slice(TAGS);
            names.push(0);
        }
        Ok(names)
    }

    pub fn setxattr(&self, node: &Node, name: &[u8], value: &[u8], how: XattrSet) -> Result<()> {
        if name == TAGS {
            let has = self.has_tags(node)?;
            match how {
                XattrSet::Create if has => {
                    return Err(Error::fs(ErrorKind::AlreadyExists, "user.sd.tags"));
                }
                XattrSet::Replace if !has => return Err(no_attribute(name)),
                _ => {}
            }
            return self.set_tags(node, &super::parse_tags(value));
        }
        if name.starts_with(PREFIX) {
            return Err(refuse_computed(name));
        }
        self.backing_xattrs(node, |path| crate::sys::xattr_set(path, name, value, how))
            .unwrap_or_else(|| Err(read_only(node)))
    }

    pub fn removexattr(&self, node: &Node, name: &[u8]) -> Result<()> {
        if name == TAGS {
            if !self.has_tags(node)? {
                return Err(no_attribute(name));
            }
            return self.set_tags(node, &[]);
        }
        if name.starts_with(PREFIX) {
            return Err(refuse_computed(name));
        }
        self.backing_xattrs(node, |path| crate::sys::xattr_remove(path, name))
            .unwrap_or_else(|| Err(read_only(node)))
    }

    /// A computed `user.sd.*` attribute of `node`, if it has that one.
    fn computed(&self, node: &Node, name: &[u8]) -> Result<Option<String>> {
        let device = self.lib.device_name();
        Ok(match &node.0 {
            Kind::Local { location, path, .. } => {
                let facts = self.index_facts(*location, path)?;
                match name {
                    b"user.sd.uri" => Some(facts.uri),
                    b"user.sd.content_id" => facts.content_id.map(|c| c.to_string()),
                    b"user.sd.kind" => facts.kind.map(str::to_owned),
                    b"user.sd.copies" => facts.copies.map(|c| c.to_string()),
                    _ => None,
                }
            }
            Kind::Remote { device, entry } => match name {
                b"user.sd.state" => self
                    .remote_state(*device, *entry)?
                    .map(|state| state.as_str().to_owned()),
                b"user.sd.copies" => self.remote_copies(*device, *entry)?.map(|c| c.to_string()),
                _ => None,
            },
            Kind::Cloud { location, entry } => match name {
                b"user.sd.uri" => Some(self.cloud_uri(*location, *entry)?.to_string()),
                b"user.sd.content_id" => self.cloud_content(*entry)?.map(|c| c.to_string()),
                b"user.sd.state" => self.cloud_state(*entry)?.map(|s| s.as_str().to_owned()),
                _ => None,
            },
            Kind::Staged {
                cloud: true,
                location,
                path,
                ..
            } if name == b"user.sd.uri" => self.location(*location).map(|l| {
                SdUri::Cloud {
                    volume: l.name,
                    path: [b"/".as_slice(), path].concat(),
                }
                .to_string()
            }),
            Kind::Device if name == b"user.sd.uri" => Some(format!("sd://{device}")),
            Kind::Content(id) if name == b"user.sd.uri" => Some(format!("sd://content/{id}")),
            Kind::Content(id) if name == b"user.sd.content_id" => Some(id.to_string()),
            _ => None,
        })
    }

    /// The URI of local file `path` of `location`.
    pub(super) fn local_uri(
        &self,
        location: &crate::model::location::LocationRecord,
        path: &std::path::Path,
    ) -> SdUri {
        let rel = location
            .root_path()
            .and_then(|root| {
                path.strip_prefix(root)
                    .ok()
                    .map(|p| crate::fsutil::path_bytes(p).to_vec())
            })
            .unwrap_or_default();
        SdUri::device(self.lib.device_name(), location.name.as_bytes(), &rel)
    }

    fn index_facts(
        &self,
        location: crate::ids::LocationId,
        path: &std::path::Path,
    ) -> Result<IndexFacts> {
        let location = self
            .location(location)
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, "location gone"))?;
        let uri = self.local_uri(&location, path);
        let mut facts = IndexFacts {
            uri: uri.to_string(),
            ..IndexFacts::default()
        };
        if let Ok(stat) = crate::query::stat(&self.lib, &uri)
            && stat.indexed
        {
            facts.content_id = stat.content_id;
            facts.kind = stat.file_kind;
            facts.copies = stat.copies;
        }
        if facts.kind.is_none()
            && std::fs::symlink_metadata(path)
                .map(|m| m.is_dir())
                .unwrap_or(false)
        {
            facts.kind = Some(EntryKind::Directory.as_str());
        }
        Ok(facts)
    }
}
