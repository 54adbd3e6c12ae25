//! `sd cp`, `sd mv` and `sd log`: previews, runs and the audit log.

use std::io::Write;

use sdfs_core::actions::{ActionRecord, Preview, RunReport};
use serde::Serialize;

use crate::outcome::{Render, human_bytes};

/// A preview, logged under `id`.
#[derive(Debug, Clone, Serialize)]
pub struct Previewed {
    pub id: u64,
    #[serde(flatten)]
    pub preview: Preview,
}

fn render_preview(p: &Preview, out: &mut dyn Write) -> std::io::Result<()> {
    let verb = match p.request.kind {
        sdfs_core::actions::ActionKind::Copy => "copy",
        sdfs_core::actions::ActionKind::Move => "move",
    };
    writeln!(
        out,
        "{verb} {} → {}",
        p.request.sources.join(" "),
        p.request.destination
    )?;
    writeln!(
        out,
        "  {} files, {} ({} new folders)",
        p.files,
        human_bytes(p.bytes),
        p.dirs
    )?;
    if p.skipped > 0 {
        writeln!(
            out,
            "  skipped: {} files ({}) the destination already holds",
            p.skipped,
            human_bytes(p.skipped_bytes)
        )?;
    }
    match p.space_free {
        Some(free) => writeln!(
            out,
            "  space: needs {}, {} free there",
            human_bytes(p.space_needed),
            human_bytes(free)
        )?,
        None => writeln!(out, "  space: needs {}", human_bytes(p.space_needed))?,
    }
    if let Some(secs) = p.estimate_s {
        writeln!(out, "  estimate: {secs:.1} s")?;
    }
    for c in &p.conflicts {
        writeln!(out, "  conflict: {}: {}", c.uri, c.reason)?;
    }
    for w in &p.warnings {
        writeln!(out, "  warning: {w}")?;
    }
    Ok(())
}

impl Render for Previewed {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        render_preview(&self.preview, out)
    }
}

/// A committed action: its log record, what was planned, what was done.
#[derive(Debug, Clone, Serialize)]
pub struct Committed {
    #[serde(flatten)]
    pub record: ActionRecord,
    pub preview: Preview,
    pub result: RunReport,
}

impl Render for Committed {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let r = &self.result;
        writeln!(
            out,
            "action {}: {} — {} files ({}) transferred, {} verified{}{}, {:.1} s",
            self.record.id,
            self.record.status.as_str(),
            r.files,
            human_bytes(r.bytes),
            r.verified,
            if r.removed > 0 {
                format!(", {} sources removed", r.removed)
            } else {
                String::new()
            },
            if self.preview.skipped > 0 {
                format!(", {} already there", self.preview.skipped)
            } else {
                String::new()
            },
            r.secs
        )?;
        for c in &self.preview.conflicts {
            writeln!(out, "  left out: {}: {}", c.uri, c.reason)?;
        }
        for e in &r.errors {
            writeln!(out, "  error: {e}")?;
        }
        Ok(())
    }
}

/// `sd log`.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Log(pub Vec<ActionRecord>);

impl Render for Log {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for r in &self.0 {
            writeln!(
                out,
                "{:>5}  {}  {:<5} {:<9}  {} → {}  ({} files, {}; {} done)",
                r.id,
                sdfs_core::time::rfc3339(r.created_at.saturating_mul(1_000_000_000)),
                r.request.kind.as_str(),
                r.status.as_str(),
                r.request.sources.join(" "),
                r.request.destination,
                r.files,
                human_bytes(r.bytes),
                r.done_files
            )?;
            for e in r.errors.iter().take(3) {
                writeln!(out, "         {e}")?;
            }
        }
        Ok(())
    }
}
