//! `sd tag add|rm|ls|parent|unparent`: tags and their hierarchy are shared
//! data (HLC-stamped, merged as observed-remove sets), so they can be set
//! on any device's files, from any device.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use sdfs_core::Library;
use sdfs_core::ids::DeviceId;
use sdfs_core::shared::{tag_tree, tags, target};
use serde::Serialize;

use crate::outcome::{Render, or_dash};

/// A tagged file, on any device.
#[derive(Debug, Clone, Serialize)]
pub struct TagRow {
    pub uri: Option<String>,
    pub device: DeviceId,
    pub entry: u64,
    pub tags: Vec<String>,
}

/// One file's tags after a change.
#[derive(Debug, Clone, Serialize)]
pub struct FileTags {
    pub uri: String,
    pub tags: Vec<String>,
    /// The change's action in the audit log (`sd undo` takes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Tags {
    /// Every tagged file (`sd tag ls` without a target).
    All(Vec<TagRow>),
    One(FileTags),
}

impl Tags {
    /// Adds `add` and removes `remove` on `target`; with neither, lists
    /// its tags (every tagged file when there is no target).
    pub fn run(
        lib: &Library,
        mountpoint: Option<&Path>,
        target: Option<Vec<u8>>,
        add: &[String],
        remove: &[String],
    ) -> Result<Tags> {
        let Some(arg) = target else {
            let mut rows = Vec::new();
            for (t, tags) in tags::all(lib.db())? {
                let uri = target::uri_of_target(lib, t)?.map(|u| u.to_string());
                rows.push(TagRow {
                    uri,
                    device: t.device,
                    entry: t.entry,
                    tags,
                });
            }
            return Ok(Tags::All(rows));
        };
        let uri = sdfs_core::query::target::uri_of(lib, &arg, mountpoint)?;
        let t = target::resolve(lib, &uri)?;
        let action = if add.is_empty() && remove.is_empty() {
            None
        } else {
            Some(sdfs_core::actions::tag(lib, &uri, add, remove)?.id)
        };
        Ok(Tags::One(FileTags {
            uri: uri.to_string(),
            tags: tags::tags_of(lib.db(), t)?,
            action,
        }))
    }
}

impl Render for Tags {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        match self {
            Tags::All(rows) => {
                for row in rows {
                    writeln!(
                        out,
                        "{}  {}",
                        or_dash(row.uri.as_deref()),
                        row.tags.join(", ")
                    )?;
                }
                Ok(())
            }
            Tags::One(file) => writeln!(out, "{}  {}", file.uri, file.tags.join(", ")),
        }
    }
}

/// A tag's place in the hierarchy after a change.
#[derive(Debug, Clone, Serialize)]
pub struct TagParents {
    pub tag: String,
    /// Its parents.
    pub parents: Vec<String>,
    /// Every tag above it.
    pub ancestors: Vec<String>,
}

impl TagParents {
    pub fn run(lib: &Library, child: &str, parent: &str, remove: bool) -> Result<TagParents> {
        if remove {
            tag_tree::remove_parent(lib.db(), lib.device_id(), child, parent)?;
        } else {
            tag_tree::add_parent(lib.db(), lib.device_id(), child, parent)?;
        }
        let all = tag_tree::parents(lib.db())?;
        let mut ancestors = tag_tree::ancestors(&all, child);
        ancestors.remove(child);
        Ok(TagParents {
            tag: child.to_owned(),
            parents: all
                .get(child)
                .map(|p| p.iter().cloned().collect())
                .unwrap_or_default(),
            ancestors: ancestors.into_iter().collect(),
        })
    }
}

impl Render for TagParents {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.parents.is_empty() {
            writeln!(out, "{}: no parent tags", self.tag)
        } else {
            writeln!(
                out,
                "{} is a kind of {} (found under {})",
                self.tag,
                self.parents.join(", "),
                self.ancestors.join(", ")
            )
        }
    }
}
