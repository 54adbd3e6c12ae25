//! `sd cache budget`'s sizes and `sd manifest`, which needs no library.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

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
