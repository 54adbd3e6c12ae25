//! `sd conduit ls` and `sd conduit rm`.

use std::io::Write;

use sdfs_core::actions::{Conduit, Preview};
use serde::Serialize;

use crate::outcome::{Render, human_bytes};

/// A conduit and what its next run would do (or why it cannot be planned).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    #[serde(flatten)]
    pub conduit: Conduit,
    #[serde(serialize_with = "next_run")]
    pub next: Result<Preview, String>,
}

fn next_run<S: serde::Serializer>(next: &Result<Preview, String>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Next<'a> {
        files: u64,
        bytes: u64,
        to_trash: u64,
        conflicts: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a str>,
    }
    let next = match next {
        Ok(p) => Next {
            files: p.files,
            bytes: p.bytes,
            to_trash: p.to_trash,
            conflicts: p.conflicts.len(),
            error: None,
        },
        Err(e) => Next {
            files: 0,
            bytes: 0,
            to_trash: 0,
            conflicts: 0,
            error: Some(e),
        },
    };
    next.serialize(s)
}

#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct List(pub Vec<Row>);

impl Render for List {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for row in &self.0 {
            let c = &row.conduit;
            let next = match &row.next {
                Ok(p) if p.files == 0 && p.to_trash == 0 => "in step".to_owned(),
                Ok(p) => format!(
                    "next: {} files ({}), {} to the trash",
                    p.files,
                    human_bytes(p.bytes),
                    p.to_trash
                ),
                Err(e) => format!("cannot plan: {e}"),
            };
            writeln!(
                out,
                "{:>4}  {:<9} {} → {}  ({next})",
                c.id,
                c.mode.as_str(),
                c.source,
                c.destination
            )?;
        }
        Ok(())
    }
}

/// A conduit no longer kept.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Removed(pub Conduit);

impl Render for Removed {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "conduit {} removed: {} is no longer kept in step (nothing was deleted)",
            self.0.id, self.0.destination
        )
    }
}
