//! `sd guardian`: copies and risk, rendered.

use std::io::Write;

use sdfs_core::guardian::{GuardianReport, Risk};
use serde::Serialize;

use crate::outcome::{Render, human_bytes};

#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Guardian(pub GuardianReport);

fn said(risk: Risk) -> &'static str {
    match risk {
        Risk::SingleCopy => "one copy only",
        Risk::OneVolume => "all copies on one volume",
        Risk::OneClass => "all copies on one kind of disk",
        Risk::Safe => "safe",
    }
}

impl Render for Guardian {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let r = &self.0;
        writeln!(
            out,
            "{}: {} files, {}; at risk: {} files, {}",
            r.scope,
            r.files,
            human_bytes(r.bytes),
            r.at_risk_files,
            human_bytes(r.at_risk_bytes)
        )?;
        for total in r.by_risk.iter().filter(|t| t.files > 0) {
            writeln!(
                out,
                "  {:<32} {:>8} files  {:>10}",
                said(total.risk),
                total.files,
                human_bytes(total.bytes)
            )?;
        }
        if !r.locations.is_empty() {
            writeln!(out, "\nLocations:")?;
            for l in &r.locations {
                writeln!(
                    out,
                    "  {:<40} {:>8} files {:>10}   at risk {:>8} files {:>10}",
                    l.uri,
                    l.files,
                    human_bytes(l.bytes),
                    l.at_risk_files,
                    human_bytes(l.at_risk_bytes)
                )?;
            }
        }
        if !r.at_risk.is_empty() {
            writeln!(out, "\nAt risk:")?;
            for item in &r.at_risk {
                let slash = if item.kind == "dir" { "/" } else { "" };
                writeln!(
                    out,
                    "  {:>10}  {}{slash}  ({} file{}, {} on {})",
                    human_bytes(item.bytes),
                    item.uri,
                    item.files,
                    if item.files == 1 { "" } else { "s" },
                    said(item.risk),
                    item.on.join(", ")
                )?;
                if let Some(s) = &item.suggestion {
                    writeln!(out, "              → copy to {}: {}", s.device, s.command)?;
                }
            }
            if r.more_at_risk > 0 {
                writeln!(out, "  … and {} more (--limit)", r.more_at_risk)?;
            }
        }
        if !r.copies.is_empty() {
            writeln!(out, "\nCopies:")?;
            for c in &r.copies {
                let state = match (c.damaged, c.verified) {
                    (true, _) => "damaged",
                    (false, true) => "verified",
                    (false, false) => "not verified yet",
                };
                writeln!(out, "  {}  ({state})", c.uri)?;
            }
        }
        if !r.corrupt.is_empty() {
            writeln!(out, "\nDamaged on this device:")?;
            for d in &r.corrupt {
                writeln!(
                    out,
                    "  {}  {:?}: expected {}, read {}; {} good cop{} elsewhere",
                    d.uri.as_deref().unwrap_or(&d.path),
                    d.kind,
                    d.expected,
                    d.actual,
                    d.good_copies,
                    if d.good_copies == 1 { "y" } else { "ies" }
                )?;
            }
        }
        Ok(())
    }
}
