//! `sd tag add|rm|ls`: tags are shared data (HLC-stamped, merged as an
//! observed-remove set), so they can be set on any device's files.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use sdfs_core::Library;
use sdfs_core::ids::DeviceId;
use sdfs_core::shared::{tags, target};
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
        let uri = target::uri_of(lib, &arg, mountpoint)?;
        let t = target::resolve(lib, &uri)?;
        if !add.is_empty() {
            tags::add(lib.db(), lib.device_id(), t, add)?;
        }
        if !remove.is_empty() {
            tags::remove(lib.db(), lib.device_id(), t, remove)?;
        }
        Ok(Tags::One(FileTags {
            uri: uri.to_string(),
            tags: tags::tags_of(lib.db(), t)?,
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
