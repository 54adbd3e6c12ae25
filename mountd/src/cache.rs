//! `sd cache ...` and `sd manifest`: what the chunk store holds, as JSON.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use sdfs_core::content_store::ContentStore;
use serde_json::{Value, json};

/// `sd cache stats`.
pub fn stats_json(content: &ContentStore) -> Result<Value> {
    let stats = content.chunks().stats()?;
    let counts = content.hot().counts();
    let pins: Vec<Value> = content
        .chunks()
        .pinned()?
        .iter()
        .map(|p| {
            json!({
                "hash": p.hash.to_string(),
                "size": p.size,
                "pinned_at": sdfs_core::time::rfc3339(p.pinned_at.saturating_mul(1_000_000_000)),
            })
        })
        .collect();
    Ok(json!({
        "dir": content.chunks().dir(),
        "budget": stats.budget,
        "chunks": stats.chunks,
        "logical_bytes": stats.logical_bytes,
        "chunk_bytes": stats.chunk_bytes,
        "stored_bytes": stats.stored_bytes,
        "dedup_ratio": if stats.chunk_bytes > 0 { stats.logical_bytes as f64 / stats.chunk_bytes as f64 } else { 0.0 },
        "manifests": stats.manifests,
        "packs": stats.packs,
        "assembled": stats.assembled,
        "assembled_bytes": stats.assembled_bytes,
        "pinned": stats.pinned,
        "pinned_bytes": stats.pinned_bytes,
        "hot_bytes": content.hot().bytes(),
        "hot_hits": counts.hot_hits,
        "disk_hits": counts.disk_hits,
        "fetched": counts.fetched,
        "hit_rate": counts.hit_rate(),
        "pins": pins,
    }))
}

/// `sd cache gc`.
pub fn gc_json(content: &ContentStore) -> Result<Value> {
    let report = content.chunks().gc()?;
    Ok(json!({
        "evicted_chunks": report.evicted_chunks,
        "evicted_bytes": report.evicted_bytes,
        "packs_deleted": report.packs_deleted,
        "packs_compacted": report.packs_compacted,
        "evicted_files": report.evicted_files,
        "evicted_file_bytes": report.evicted_file_bytes,
        "stored_before": report.stored_before,
        "stored_after": report.stored_after,
    }))
}

/// `sd cache verify`: re-hash everything, then refill pins that lost chunks
/// from local files that still hold their content.
pub fn verify_json(content: &ContentStore) -> Result<Value> {
    let report = content.chunks().verify()?;
    let repaired = content.repair_pins(&report.incomplete_pins)?;
    let still_incomplete: Vec<String> = report
        .incomplete_pins
        .iter()
        .filter(|h| !repaired.contains(h))
        .map(|h| h.to_string())
        .collect();
    Ok(json!({
        "chunks": report.chunks,
        "bytes": report.bytes,
        "corrupt": report.corrupt.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "repaired_pins": repaired.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        "incomplete_pins": still_incomplete,
        "assembled": report.assembled,
        "corrupt_assembled": report.corrupt_assembled.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
    }))
}

/// `20G`, `512M`, `64k` or bytes.
pub fn parse_size(text: &str) -> Result<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a size (e.g. 20G, 512M)"))?;
    let scale: u64 = match unit
        .trim()
        .to_ascii_lowercase()
        .trim_end_matches("ib")
        .trim_end_matches('b')
    {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        other => bail!("unknown size unit {other:?} (use K, M, G or T)"),
    };
    Ok((number * scale as f64) as u64)
}

/// `sd manifest FILE`: needs no library; anyone can check the output with
/// `b3sum` over the ranges.
pub fn manifest(path: &Path, json: bool) -> Result<ExitCode> {
    let file = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    let manifest = sdfs_cas::build_from_reader(&file, &sdfs_cas::Discard)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut out = std::io::stdout().lock();
    if json {
        let chunks: Vec<Value> = manifest
            .chunks()
            .iter()
            .map(|c| json!({ "offset": c.offset, "length": c.length, "id": c.id.to_string() }))
            .collect();
        let value = json!({
            "path": path,
            "size": manifest.size(),
            "hash": manifest.hash().to_string(),
            "chunker": {
                "algorithm": "fastcdc-2020",
                "min": sdfs_cas::chunker::MIN_CHUNK,
                "avg": sdfs_cas::chunker::AVG_CHUNK,
                "max": sdfs_cas::chunker::MAX_CHUNK,
            },
            "chunks": chunks,
        });
        writeln!(out, "{value}")?;
    } else {
        writeln!(
            out,
            "{}  {} bytes  {} chunks  {}",
            manifest.hash(),
            manifest.size(),
            manifest.chunks().len(),
            path.display()
        )?;
        for c in manifest.chunks() {
            writeln!(out, "{:>14} {:>8} {}", c.offset, c.length, c.id)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("20G").ok(), Some(20 << 30));
        assert_eq!(parse_size("512MiB").ok(), Some(512 << 20));
        assert_eq!(parse_size("1.5k").ok(), Some(1536));
        assert_eq!(parse_size("4096").ok(), Some(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3X").is_err());
    }
}
