//! `sd cp`, `sd mv`, `sd rm` and `sd log`: previews, runs and the audit log.

use std::io::Write;

use sdfs_core::actions::{ActionKind, ActionRecord, Preview, RunReport};
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
    let verb = p.request.kind.as_str();
    if let Some(change) = &p.tags {
        writeln!(
            out,
            "{verb} {}: {}",
            p.request.sources.join(" "),
            tag_change(change)
        )?;
        return render_issues(p, out);
    }
    if let Some(way) = trash_way(p.request.kind) {
        writeln!(out, "{verb} {}", p.request.sources.join(" "))?;
        writeln!(out, "  {} files, {} {way}", p.files, human_bytes(p.bytes))?;
        return render_issues(p, out);
    }
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
    if p.to_trash > 0 {
        writeln!(out, "  to the trash there: {} files", p.to_trash)?;
    }
    if let Some(secs) = p.estimate_s {
        writeln!(out, "  estimate: {secs:.1} s")?;
    }
    render_issues(p, out)
}

/// Which way a delete or a restore goes (`None`: a transfer).
fn trash_way(kind: ActionKind) -> Option<&'static str> {
    match kind {
        ActionKind::Delete | ActionKind::Dedupe => Some("to the trash"),
        ActionKind::Restore => Some("back from the trash"),
        ActionKind::Copy | ActionKind::Move | ActionKind::Tag | ActionKind::Sync => None,
    }
}

/// A tag action's change: `+added -removed`.
fn tag_change(change: &sdfs_core::actions::TagChange) -> String {
    let added = change.added.iter().map(|t| format!("+{t}"));
    let removed = change.removed.iter().map(|t| format!("-{t}"));
    let all: Vec<String> = added.chain(removed).collect();
    if all.is_empty() {
        "no change".to_owned()
    } else {
        all.join(" ")
    }
}

fn render_issues(p: &Preview, out: &mut dyn Write) -> std::io::Result<()> {
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
        if let Some(change) = &r.tags {
            writeln!(
                out,
                "action {}: {} — {}",
                self.record.id,
                self.record.status.as_str(),
                tag_change(change)
            )?;
            return self.render_problems(out);
        }
        if let Some(way) = trash_way(self.record.request.kind) {
            writeln!(
                out,
                "action {}: {} — {} files ({}) {way}, {:.1} s",
                self.record.id,
                self.record.status.as_str(),
                r.files,
                human_bytes(r.bytes),
                r.secs
            )?;
            return self.render_problems(out);
        }
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
        self.render_problems(out)
    }
}

impl Committed {
    fn render_problems(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for c in &self.preview.conflicts {
            writeln!(out, "  left out: {}: {}", c.uri, c.reason)?;
        }
        for e in &self.result.errors {
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
                "{:>5}  {}  {:<7} {:<9}  {} → {}  ({} files, {}; {} done)",
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
