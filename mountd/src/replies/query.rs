//! `sd ls`, `sd stat`, `sd dupes`: the core's query results, rendered.

use std::io::Write;

use sdfs_core::query::{DupeGroup, ListItem, StatInfo};
use serde::Serialize;

use crate::outcome::{Render, human_bytes, or_dash};

/// `sd ls` (`-l`: with each file's state).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Listing {
    pub items: Vec<ListItem>,
    #[serde(skip)]
    pub long: bool,
}

impl Render for Listing {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for row in &self.items {
            if self.long {
                writeln!(
                    out,
                    "{:<8} {:<11} {:>10}  {}  {}",
                    row.kind,
                    row.state.unwrap_or("-"),
                    row.size,
                    row.modified,
                    row.name
                )?;
            } else {
                writeln!(
                    out,
                    "{:<8} {:>10}  {}  {}",
                    row.kind, row.size, row.modified, row.name
                )?;
            }
        }
        Ok(())
    }
}

/// `sd stat`.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Stat(pub StatInfo);

impl Render for Stat {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let s = &self.0;
        let rows: [(&str, Option<String>); 17] = [
            ("uri", Some(s.uri.clone())),
            ("entry_id", s.entry_id.map(|v| v.to_string())),
            ("local_path", Some(s.local_path.clone())),
            ("kind", Some(s.kind.to_owned())),
            ("size", Some(s.size.to_string())),
            ("modified", Some(s.modified.clone())),
            ("changed", None),
            ("inode", Some(s.inode.to_string())),
            ("mode", Some(s.mode.clone())),
            ("indexed", Some(s.indexed.to_string())),
            ("content_id", s.content_id.map(|v| v.to_string())),
            ("content_hash", s.content_hash.clone()),
            ("file_kind", s.file_kind.map(str::to_owned)),
            ("copies", s.copies.map(|v| v.to_string())),
            ("files", s.files.map(|v| v.to_string())),
            ("link_target", s.link_target.clone()),
            ("state", s.state.map(str::to_owned)),
        ];
        for (key, value) in rows {
            if let Some(value) = value {
                writeln!(out, "{key:>12}: {}", or_dash(Some(value)))?;
            }
        }
        Ok(())
    }
}

/// `sd dupes`.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Dupes(pub Vec<DupeGroup>);

impl Render for Dupes {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let wasted: u64 = self.0.iter().map(|g| g.wasted).sum();
        for group in &self.0 {
            writeln!(
                out,
                "{} copies of {} ({}) on {}, wasting {}:",
                group.copies,
                group.content_id,
                human_bytes(group.size),
                group.devices.join(", "),
                human_bytes(group.wasted)
            )?;
            for uri in &group.uris {
                writeln!(out, "  {uri}")?;
            }
        }
        writeln!(
            out,
            "{} groups, {} wasted",
            self.0.len(),
            human_bytes(wasted)
        )
    }
}
