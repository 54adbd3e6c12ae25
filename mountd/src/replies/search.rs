//! `sd search`.

use std::io::Write;

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
    /// `path` is absolute when this daemon serves a mount.
    pub hits: Vec<Hit>,
    /// Why search is by words only (said once per daemon).
    #[serde(skip)]
    pub notice: Option<String>,
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
                sdfs_core::time::rfc3339(hit.modified.saturating_mul(1_000_000_000))
            )?;
            if let Some(parts) = &hit.score_parts {
                let parts: Vec<String> = parts.iter().map(|(k, v)| format!("{k} {v:.2}")).collect();
                writeln!(out, "    score {:.2} = {}", hit.score, parts.join(" + "))?;
            }
        }
        if self.hits.is_empty() {
            writeln!(out, "no files found")?;
        }
        if let Some(notice) = &self.notice {
            writeln!(out, "note: {notice}")?;
        }
        Ok(())
    }
}
