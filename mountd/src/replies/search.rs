//! `sd search`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use sdfs_search::index::Hit;
use serde::Serialize;

use crate::outcome::{Render, human_bytes};

/// The hits, best first; `--json` prints them as a list.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct SearchReply {
    /// With `--explain`: how the query was read.
    #[serde(skip)]
    pub parse: Option<Vec<String>>,
    pub hits: Vec<SearchHit>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    pub uri: String,
    pub name: String,
    /// Its path in the mount (absolute when this daemon serves one; else
    /// relative to the mount's root).
    pub path: String,
    pub device: String,
    pub kind: String,
    pub size: u64,
    pub modified: String,
    pub score: f32,
    /// Places this content is kept (1 = only here).
    pub copies: usize,
    pub other_copies: Vec<String>,
    pub content_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score_parts: Option<BTreeMap<&'static str, f32>>,
}

impl SearchHit {
    pub fn of(hit: Hit, mountpoint: Option<&Path>) -> SearchHit {
        SearchHit {
            path: crate::search::in_mount(mountpoint, &hit.path),
            modified: sdfs_core::time::rfc3339(hit.modified.saturating_mul(1_000_000_000)),
            uri: hit.uri,
            name: hit.name,
            device: hit.device,
            kind: hit.kind,
            size: hit.size,
            score: hit.score,
            copies: hit.copies,
            other_copies: hit.other_copies,
            content_id: hit.content_id,
            score_parts: hit.score_parts,
        }
    }
}

impl Render for SearchReply {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if let Some(parse) = &self.parse {
            writeln!(out, "parsed as:")?;
            for line in parse {
                writeln!(out, "  {line}")?;
            }
            if parse.is_empty() {
                writeln!(out, "  (nothing: every file)")?;
            }
        }
        for hit in &self.hits {
            let copies = match hit.copies {
                1 => String::new(),
                n => format!(", {n} copies"),
            };
            writeln!(
                out,
                "{}  ({}, {}, {}{copies})",
                hit.path,
                hit.kind,
                human_bytes(hit.size),
                hit.modified
            )?;
            if let Some(parts) = &hit.score_parts {
                let parts: Vec<String> = parts.iter().map(|(k, v)| format!("{k} {v:.2}")).collect();
                writeln!(out, "    score {:.2} = {}", hit.score, parts.join(" + "))?;
            }
        }
        if self.hits.is_empty() {
            writeln!(out, "no files found")?;
        }
        Ok(())
    }
}
