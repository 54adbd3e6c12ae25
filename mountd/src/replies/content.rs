//! `sd pin|unpin`, `sd cache stats|gc|verify|budget`, `sd validate`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use sdfs_core::content_store::{ContentStore, PinReport, ValidateReport};
use serde::Serialize;

use crate::outcome::{Render, human_bytes};

/// `sd pin` or `sd unpin`.
#[derive(Debug, Clone, Serialize)]
pub struct Pinned {
    #[serde(flatten)]
    pub report: PinReport,
    #[serde(skip)]
    pub unpinned: bool,
}

impl Render for Pinned {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let verb = if self.unpinned { "unpinned" } else { "pinned" };
        let r = &self.report;
        writeln!(
            out,
            "{verb} {} files ({}; {} newly stored)",
            r.files,
            human_bytes(r.bytes),
            human_bytes(r.stored_bytes)
        )?;
        for skipped in &r.skipped {
            writeln!(out, "skipped {skipped}")?;
        }
        Ok(())
    }
}

/// `sd free-up`: files made online-only, and the bytes dropped here.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct FreedUp(pub PinReport);

impl Render for FreedUp {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let r = &self.0;
        writeln!(
            out,
            "freed up {} files ({}; {} dropped from this device); they are online-only now",
            r.files,
            human_bytes(r.bytes),
            human_bytes(r.stored_bytes)
        )?;
        for skipped in &r.skipped {
            writeln!(out, "skipped {skipped}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PinRow {
    pub hash: String,
    pub size: u64,
    pub pinned_at: String,
}

/// `sd cache stats` (and `sd cache budget`).
#[derive(Debug, Clone, Serialize)]
pub struct CacheStats {
    pub dir: PathBuf,
    pub budget: u64,
    pub chunks: u64,
    pub logical_bytes: u64,
    pub chunk_bytes: u64,
    pub stored_bytes: u64,
    pub dedup_ratio: f64,
    pub manifests: u64,
    pub packs: u64,
    pub assembled: u64,
    pub assembled_bytes: u64,
    pub pinned: u64,
    pub pinned_bytes: u64,
    pub hot_bytes: u64,
    pub hot_hits: u64,
    pub disk_hits: u64,
    pub fetched: u64,
    pub hit_rate: f64,
    pub pins: Vec<PinRow>,
}

impl CacheStats {
    pub fn of(content: &ContentStore) -> Result<CacheStats> {
        let stats = content.chunks().stats()?;
        let counts = content.hot().counts();
        let pins = content
            .chunks()
            .pinned()?
            .iter()
            .map(|p| PinRow {
                hash: p.hash.to_string(),
                size: p.size,
                pinned_at: sdfs_core::time::rfc3339(p.pinned_at.saturating_mul(1_000_000_000)),
            })
            .collect();
        Ok(CacheStats {
            dir: content.chunks().dir().to_owned(),
            budget: stats.budget,
            chunks: stats.chunks,
            logical_bytes: stats.logical_bytes,
            chunk_bytes: stats.chunk_bytes,
            stored_bytes: stats.stored_bytes,
            dedup_ratio: if stats.chunk_bytes > 0 {
                stats.logical_bytes as f64 / stats.chunk_bytes as f64
            } else {
                0.0
            },
            manifests: stats.manifests,
            packs: stats.packs,
            assembled: stats.assembled,
            assembled_bytes: stats.assembled_bytes,
            pinned: stats.pinned,
            pinned_bytes: stats.pinned_bytes,
            hot_bytes: content.hot().bytes(),
            hot_hits: counts.hot_hits,
            disk_hits: counts.disk_hits,
            fetched: counts.fetched,
            hit_rate: counts.hit_rate(),
            pins,
        })
    }
}

impl Render for CacheStats {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "{} logical in {} of chunks ({:.1}x dedup), {} on disk of a {} budget\n\
             {} whole files assembled ({})\n\
             {} pinned contents hold {}\n\
             hit rate {:.1}% ({} memory, {} disk, {} fetched); hot cache {}",
            human_bytes(self.logical_bytes),
            human_bytes(self.chunk_bytes),
            self.dedup_ratio,
            human_bytes(self.stored_bytes),
            human_bytes(self.budget),
            self.assembled,
            human_bytes(self.assembled_bytes),
            self.pinned,
            human_bytes(self.pinned_bytes),
            self.hit_rate * 100.0,
            self.hot_hits,
            self.disk_hits,
            self.fetched,
            human_bytes(self.hot_bytes),
        )
    }
}

/// `sd cache gc`.
#[derive(Debug, Clone, Serialize)]
pub struct Collected {
    pub evicted_chunks: u64,
    pub evicted_bytes: u64,
    pub packs_deleted: u64,
    pub packs_compacted: u64,
    pub evicted_files: u64,
    pub evicted_file_bytes: u64,
    pub stored_before: u64,
    pub stored_after: u64,
}

impl Collected {
    pub fn run(content: &ContentStore) -> Result<Collected> {
        let r = content.chunks().gc()?;
        Ok(Collected {
            evicted_chunks: r.evicted_chunks,
            evicted_bytes: r.evicted_bytes,
            packs_deleted: r.packs_deleted,
            packs_compacted: r.packs_compacted,
            evicted_files: r.evicted_files,
            evicted_file_bytes: r.evicted_file_bytes,
            stored_before: r.stored_before,
            stored_after: r.stored_after,
        })
    }
}

impl Render for Collected {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "evicted {} chunks ({}) and {} whole files ({}), deleted {} and compacted {} packs: {} -> {} on disk",
            self.evicted_chunks,
            human_bytes(self.evicted_bytes),
            self.evicted_files,
            human_bytes(self.evicted_file_bytes),
            self.packs_deleted,
            self.packs_compacted,
            human_bytes(self.stored_before),
            human_bytes(self.stored_after),
        )
    }
}

/// `sd cache verify`: everything re-hashed, then pins that lost chunks
/// refilled from local files that still hold their content.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub chunks: u64,
    pub bytes: u64,
    pub corrupt: Vec<String>,
    pub repaired_pins: Vec<String>,
    pub incomplete_pins: Vec<String>,
    pub assembled: u64,
    pub corrupt_assembled: Vec<String>,
}

impl Verified {
    pub fn run(content: &ContentStore) -> Result<Verified> {
        let report = content.chunks().verify()?;
        let repaired = content.repair_pins(&report.incomplete_pins)?;
        let texts = |v: &[sdfs_cas::FileHash]| v.iter().map(|h| h.to_string()).collect();
        Ok(Verified {
            chunks: report.chunks,
            bytes: report.bytes,
            corrupt: report.corrupt.iter().map(|c| c.to_string()).collect(),
            repaired_pins: texts(&repaired),
            incomplete_pins: report
                .incomplete_pins
                .iter()
                .filter(|h| !repaired.contains(h))
                .map(|h| h.to_string())
                .collect(),
            assembled: report.assembled,
            corrupt_assembled: texts(&report.corrupt_assembled),
        })
    }
}

impl Render for Verified {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "checked {} chunks ({}): {} corrupt (dropped), {} pins refilled, {} pins incomplete; \
             {} whole files, {} corrupt (deleted)",
            self.chunks,
            human_bytes(self.bytes),
            self.corrupt.len(),
            self.repaired_pins.len(),
            self.incomplete_pins.len(),
            self.assembled,
            self.corrupt_assembled.len(),
        )
    }
}

/// `sd validate`.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Validated(pub ValidateReport);

impl Render for Validated {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let r = &self.0;
        writeln!(
            out,
            "hashed {} files ({}) of {} contents; {} integrity hashes set, {} contents left",
            r.files_hashed,
            human_bytes(r.bytes_hashed),
            r.contents,
            r.integrity_set,
            r.remaining,
        )?;
        for issue in &r.issues {
            let kind = serde_json::to_value(issue.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            writeln!(
                out,
                "{kind}: {} (expected {}, read {})",
                issue.path, issue.expected, issue.actual
            )?;
        }
        for path in &r.repaired {
            writeln!(out, "repaired from a good copy: {path}")?;
        }
        Ok(())
    }
}
