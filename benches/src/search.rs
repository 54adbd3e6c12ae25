//! The search benchmark: a generated tree of named files indexed by the
//! release `sd`, then name and natural-language queries through `sd
//! search`, against `plocate` over the same names and a plain in-memory
//! substring scan of them, in the same run. Every latency is a whole
//! command, as a person or a script pays it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Result, bail, ensure};

use crate::common::settle;

const WORDS: [&str; 12] = [
    "invoice", "holiday", "beach", "report", "tax", "receipt", "draft", "notes", "budget", "photo",
    "contract", "summary",
];
const EXTS: [&str; 6] = ["pdf", "jpg", "txt", "docx", "png", "md"];

/// Name queries (one word, as `plocate` takes them).
const NAME_QUERIES: [&str; 4] = ["invoice", "beach", "contract", "summary"];
/// Natural-language queries.
const NL_QUERIES: [&str; 3] = [
    "tax documents from last year",
    "photos of the beach",
    "invoices bigger than 1 MB",
];
const RUNS: usize = 5;

fn generate(root: &Path, files: usize, dirs: usize) -> Result<()> {
    let marker = root.join(format!(".generated-{files}-{dirs}"));
    if marker.exists() {
        return Ok(());
    }
    if root.exists() {
        std::fs::remove_dir_all(root)?;
    }
    for i in 0..files {
        let d = i % dirs;
        let dir = root.join(format!("{}-{d:04}", WORDS[(d / 7) % WORDS.len()]));
        if i < dirs {
            std::fs::create_dir_all(&dir)?;
        }
        let name = format!(
            "{} {} {i}.{}",
            WORDS[i % WORDS.len()],
            WORDS[(i / 13) % WORDS.len()],
            EXTS[i % EXTS.len()]
        );
        std::fs::write(dir.join(name), [])?;
    }
    std::fs::write(marker, [])?;
    Ok(())
}

/// Milliseconds of each run of `cmd`, which must succeed.
fn latencies(mut cmd: impl FnMut() -> Command) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let status = cmd().stdout(Stdio::null()).status()?;
        out.push(start.elapsed().as_secs_f64() * 1000.0);
        // plocate exits 1 when nothing matches; anything else is a failure.
        ensure!(status.code().is_some_and(|c| c <= 1), "{status}");
    }
    Ok(out)
}

fn p50_max(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[ms.len() - 1])
}

pub fn run(args: &[String]) -> Result<()> {
    let (mut files, mut dirs) = (100_000usize, 1_000usize);
    let common = crate::common::parse(args, |flag, value| {
        match flag {
            "--files" => files = value()?.parse()?,
            "--dirs" => dirs = value()?.parse()?,
            other => bail!("unknown flag {other}"),
        }
        Ok(())
    })?;
    let tree = common.work.join(format!("search-tree-{files}"));
    generate(&tree, files, dirs.max(1))?;
    let lib = common.work.join("search-lib");
    let _ = std::fs::remove_dir_all(&lib);
    let sd = |args: &[&str]| {
        let mut cmd = Command::new(&common.sd);
        cmd.arg("--library").arg(&lib).args(args);
        cmd
    };
    ensure!(sd(&["init", "--name", "bench"]).status()?.success());
    let tree_arg = tree.to_string_lossy().into_owned();
    ensure!(
        sd(&["location", "add", &tree_arg, "--name", "tree"])
            .stdout(Stdio::null())
            .status()?
            .success()
    );
    settle();
    let start = Instant::now();
    ensure!(
        sd(&["index", "tree"])
            .stdout(Stdio::null())
            .status()?
            .success()
    );
    let sd_index = start.elapsed().as_secs_f64();

    let db = common.work.join("search-plocate.db");
    let start = Instant::now();
    ensure!(
        Command::new("updatedb")
            .args(["-l", "0", "-U"])
            .arg(&tree)
            .arg("-o")
            .arg(&db)
            .status()?
            .success(),
        "updatedb"
    );
    let plocate_index = start.elapsed().as_secs_f64();

    // The substring scan: every name in memory, lower-cased once.
    let mut names = Vec::with_capacity(files);
    for dir in std::fs::read_dir(&tree)? {
        let dir = dir?;
        if dir.file_type()?.is_dir() {
            for file in std::fs::read_dir(dir.path())? {
                names.push(file?.file_name().to_string_lossy().to_lowercase());
            }
        }
    }

    let (mut sd_name, mut plocate, mut scan, mut sd_nl) = (vec![], vec![], vec![], vec![]);
    for q in NAME_QUERIES {
        sd_name.extend(latencies(|| sd(&["search", "--limit", "20", q]))?);
        plocate.extend(latencies(|| {
            let mut cmd = Command::new("plocate");
            cmd.arg("-d").arg(&db).args(["-i", "-l", "20", q]);
            cmd
        })?);
        for _ in 0..RUNS {
            let start = Instant::now();
            let hits = names.iter().filter(|n| n.contains(q)).take(20).count();
            scan.push(start.elapsed().as_secs_f64() * 1e6);
            ensure!(hits > 0, "{q}: no names");
        }
    }
    for q in NL_QUERIES {
        sd_nl.extend(latencies(|| sd(&["search", "--limit", "20", q]))?);
    }
    let (sn50, snmax) = p50_max(sd_name);
    let (pl50, plmax) = p50_max(plocate);
    let (sc50, scmax) = p50_max(scan);
    let (nl50, nlmax) = p50_max(sd_nl);
    let body = format!(
        "{machine}\n\n\
{files} empty files with generated names in {dirs} directories, indexed by `sd index`; \
{nq} name queries and {nl} natural-language queries, {RUNS} runs each, timed as whole commands. \
Baselines in the same run: `plocate -i -l 20` over an `updatedb` database of the same tree, and \
a substring scan of the names already in memory (no process, no I/O). `sd search` today builds \
its index per query from the library (the live index is to come), so its latency is mostly that build.\n\n\
| measurement | sdfs | baseline | ratio | target |\n|---|---|---|---|---|\n\
| name query, p50 / max of {n1} | {sn50:.0} / {snmax:.0} ms | `plocate` {pl50:.1} / {plmax:.1} ms; substring scan {sc50:.0} / {scmax:.0} µs | {r1:.3}× plocate | p99 ≤ 10 ms, faster than plocate |\n\
| natural-language query, p50 / max of {n2} | {nl50:.0} / {nlmax:.0} ms | — | — | p99 ≤ 10 ms |\n\
| building the index | `sd index` {sd_index:.1} s (then per query, above) | `updatedb` {plocate_index:.1} s | — | — |\n",
        machine = crate::machine(),
        nq = NAME_QUERIES.len(),
        nl = NL_QUERIES.len(),
        n1 = NAME_QUERIES.len() * RUNS,
        n2 = NL_QUERIES.len() * RUNS,
        r1 = pl50 / sn50,
    );
    crate::index::write_section(&common.out, "search", &body)?;
    print!("{body}");
    Ok(())
}
