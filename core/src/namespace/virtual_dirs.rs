//! The directories the mount makes up: the root (one directory per
//! device), this device (one per location), `.content` and the files in it
//! (content by id, never listed: there may be millions), and `.search`
//! (a directory per query, named by it; see `search`) and `.tags` (a
//! directory per tag; see `tag_dirs`).

use super::node::{Kind, ino};
use super::types::mode;
use super::{Attr, CONTENT_DIR, DirEntry, Namespace, Node, SEARCH_DIR, TAGS_DIR};
use crate::error::{Error, ErrorKind, Result};
use crate::ids::ContentId;
use crate::model::entry::EntryKind;

impl Namespace {
    fn not_found(name: &[u8]) -> Error {
        Error::fs(ErrorKind::NotFound, String::from_utf8_lossy(name))
    }

    pub(super) fn lookup_virtual(&self, parent: &Node, name: &[u8]) -> Result<(Node, Attr)> {
        let node = match &parent.0 {
            Kind::Root if name == CONTENT_DIR.as_bytes() => Node(Kind::ContentDir),
            Kind::Root if name == SEARCH_DIR.as_bytes() => Node(Kind::SearchRoot),
            Kind::Root if name == TAGS_DIR.as_bytes() => Node(Kind::TagsRoot),
            // Any tag names a directory (an unused one is empty).
            Kind::TagsRoot => {
                let tag = std::str::from_utf8(name)
                    .ok()
                    .filter(|t| super::tag_dirs::nameable(t))
                    .ok_or_else(|| Self::not_found(name))?;
                Node(Kind::Tag(tag.to_owned()))
            }
            // Every name is a query.
            Kind::SearchRoot => Node(Kind::Search(name.to_vec())),
            Kind::Root if name == self.lib.device_name().as_bytes() => Node(Kind::Device),
            Kind::Root if let Some(uid) = super::trash::trash_uid(name) => {
                return self.trash_dir(uid);
            }
            Kind::Root if let Some(volume) = self.cloud_volume_named(name) => {
                let attr = self.getattr(&volume)?;
                return Ok((volume, attr));
            }
            Kind::Root => {
                let device = self.peer_named(name).ok_or_else(|| Self::not_found(name))?;
                Node(Kind::Peer(device.id))
            }
            Kind::Device => {
                let location = self
                    .locations
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .find(|l| l.name.as_bytes() == name)
                    .cloned()
                    .ok_or_else(|| Self::not_found(name))?;
                // A cloud volume is shown at the mount's top level.
                let root = location.root_path().ok_or_else(|| Self::not_found(name))?;
                let md = std::fs::symlink_metadata(&root).map_err(|e| Error::io(&root, e))?;
                let attr = Attr::from_metadata(&md);
                return Ok((Node::local(location.id, root, &md), attr));
            }
            Kind::ContentDir => {
                let id: ContentId = std::str::from_utf8(name)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| Self::not_found(name))?;
                Node(Kind::Content(id))
            }
            _ => return Err(Error::fs(ErrorKind::NotADirectory, "content")),
        };
        let attr = self.getattr_virtual(&node)?;
        Ok((node, attr))
    }

    pub(super) fn getattr_virtual(&self, node: &Node) -> Result<Attr> {
        match &node.0 {
            Kind::Content(id) => {
                // This device's record, else a paired device's.
                let record = match self.content.content_record(*id) {
                    Ok(record) => record,
                    Err(_) => self
                        .content_elsewhere(*id)?
                        .into_iter()
                        .next()
                        .map(|(_, _, record)| record)
                        .ok_or_else(|| Error::fs(ErrorKind::NotFound, id.to_string()))?,
                };
                let mut attr = Attr::virtual_dir(
                    record.first_seen.saturating_mul(1_000_000_000),
                    ino::content(*id),
                );
                attr.kind = EntryKind::File;
                attr.mode = mode::FILE | 0o444;
                attr.nlink = 1;
                attr.size = record.size;
                attr.blocks = record.size.div_ceil(512);
                Ok(attr)
            }
            _ => Ok(Attr::virtual_dir(self.started, node.key().ino())),
        }
    }

    pub(super) fn readdir_virtual(&self, node: &Node) -> Result<Vec<DirEntry>> {
        let dir = |node: Node| DirEntry {
            name: Vec::new(),
            attr: Attr::virtual_dir(self.started, node.key().ino()),
            node,
        };
        match &node.0 {
            Kind::Root => {
                let mut out = vec![DirEntry {
                    name: self.lib.device_name().as_bytes().to_vec(),
                    ..dir(Node(Kind::Device))
                }];
                out.extend(self.peers().into_iter().map(|d| DirEntry {
                    name: d.name.into_bytes(),
                    ..dir(Node(Kind::Peer(d.id)))
                }));
                out.extend(self.cloud_volume_dirs());
                Ok(out)
            }
            Kind::Device => {
                let locations = self
                    .locations
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let mut out = Vec::new();
                for location in locations {
                    // A location whose directory is gone is not listed; a
                    // cloud volume is listed at the mount's top level.
                    let Some(root) = location.root_path() else {
                        continue;
                    };
                    if let Ok(md) = std::fs::symlink_metadata(&root) {
                        out.push(DirEntry {
                            name: location.name.into_bytes(),
                            attr: Attr::from_metadata(&md),
                            node: Node::local(location.id, root, &md),
                        });
                    }
                }
                Ok(out)
            }
            // Content ids and queries are named, never listed.
            Kind::ContentDir | Kind::SearchRoot => Ok(Vec::new()),
            Kind::TagsRoot => self.readdir_tags_root(),
            _ => Err(Error::fs(ErrorKind::NotADirectory, "content")),
        }
    }
}
