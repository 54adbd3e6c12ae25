//! The search benchmark: a generated tree of named files indexed by the
//! release `sd`, then name and natural-language queries through `sd
//! search` answered by a running daemon's live index, against `plocate`
//! over the same names and a plain in-memory substring scan of them, in
//! the same run. Every latency is a whole command, as a person or a
//! script pays it. Also: building the index and its size, and how long a
//! new file takes to be found.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::common::{Daemon, settle, wait};

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
/// Queries re-ranked by meaning (the default when the model is installed;
/// the others run with `--lexical`).
const SEMANTIC_QUERIES: [&str; 3] = ["holiday photos", "tax summary", "budget notes"];
/// Runs of each query.
const RUNS: usize = 25;
/// Files made while the daemon runs, each timed until it is found.
const NEW_FILES: usize = 10;

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

/// p50 and p99 (nearest rank).
fn p50_p99(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let rank = |p: f64| ms[((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    (rank(0.50), rank(0.99))
}

/// Bytes of every file below `dir`.
fn du(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let md = entry.metadata()?;
        total += if md.is_dir() {
            du(&entry.path())?
        } else {
            md.len()
        };
    }
    Ok(total)
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

    // The first search builds the index from the library (no daemon yet).
    let start = Instant::now();
    ensure!(
        sd(&[
            "search",
            "--lexical",
            "--limit",
            "1",
            "nothing-matches-this"
        ])
        .stdout(Stdio::null())
        .status()?
        .success()
    );
    let build = start.elapsed().as_secs_f64();
    let index_bytes = du(&lib.join("search"))?;

    let socket = lib.join("sd.sock");
    let mnt = common.work.join("search-mnt");
    crate::common::fresh_mountpoint(&mnt)?;
    let mnt_arg = mnt.to_string_lossy().into_owned();
    let _daemon = Daemon(
        sd(&[
            "daemon",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--mount",
            &mnt_arg,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?,
        Some(mnt.clone()),
    );
    wait(Duration::from_secs(60), || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok() && mnt.join("bench").is_dir()
    })
    .context("the daemon never answered")?;

    let (mut sd_name, mut plocate, mut scan, mut sd_nl) = (vec![], vec![], vec![], vec![]);
    for q in NAME_QUERIES {
        sd_name.extend(latencies(|| {
            sd(&["search", "--lexical", "--limit", "20", q])
        })?);
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
        sd_nl.extend(latencies(|| {
            sd(&["search", "--lexical", "--limit", "20", q])
        })?);
    }
    // Semantic: the first run of a query embeds its candidates (kept for
    // later runs), timed apart from the rest.
    let model = sd(&["model", "status"]).output()?.status.success();
    let (mut sd_sem, mut sem_first) = (vec![], vec![]);
    if model {
        for q in SEMANTIC_QUERIES {
            let start = Instant::now();
            ensure!(
                sd(&["search", "--limit", "20", q])
                    .stdout(Stdio::null())
                    .status()?
                    .success()
            );
            sem_first.push(start.elapsed().as_secs_f64() * 1000.0);
            sd_sem.extend(latencies(|| sd(&["search", "--limit", "20", q]))?);
        }
    }
    // A query's directory through the mount, against `ls` of a native
    // directory holding as many files.
    let (mut ls_search, mut ls_native, mut listed) = (vec![], vec![], 0usize);
    for q in NAME_QUERIES {
        let dir = mnt.join(".search").join(q);
        let n = std::fs::read_dir(&dir)?.count();
        ensure!(n > 0, "{q}: an empty search directory");
        listed = listed.max(n);
        ls_search.extend(latencies(|| {
            let mut cmd = Command::new("ls");
            cmd.arg("-l").arg(&dir);
            cmd
        })?);
    }
    let same_size = common.work.join(format!("search-ls-{listed}"));
    if !same_size.is_dir() {
        std::fs::create_dir_all(&same_size)?;
        for i in 0..listed {
            std::fs::write(same_size.join(format!("file {i}.txt")), [])?;
        }
    }
    ls_native.extend(latencies(|| {
        let mut cmd = Command::new("ls");
        cmd.arg("-l").arg(&same_size);
        cmd
    })?);

    // A new file, made on disk where the daemon watches: how long until
    // `sd search` finds it.
    let mut found_after = Vec::new();
    let some_dir = std::fs::read_dir(&tree)?
        .filter_map(|e| e.ok())
        .find(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .context("no directory in the tree")?
        .path();
    for i in 0..NEW_FILES {
        let word = format!("freshly{i}made{}", std::process::id());
        let start = Instant::now();
        std::fs::write(some_dir.join(format!("{word}.txt")), b"new")?;
        wait(Duration::from_secs(30), || {
            sd(&["search", "--lexical", "--json", &word])
                .output()
                .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"[{"))
        })
        .with_context(|| format!("{word} was never found"))?;
        found_after.push(start.elapsed().as_secs_f64() * 1000.0);
        // The tree is reused by later runs: leave it as generated.
        std::fs::remove_file(some_dir.join(format!("{word}.txt")))?;
    }

    let (sn50, sn99) = p50_p99(sd_name);
    let (pl50, pl99) = p50_p99(plocate);
    let (sc50, sc99) = p50_p99(scan);
    let (nl50, nl99) = p50_p99(sd_nl);
    let semantic_row = if model {
        let (se50, se99) = p50_p99(sd_sem);
        let first = sem_first.iter().copied().fold(0.0, f64::max);
        format!(
            "| semantic query (lexical top 50 re-ranked by all-MiniLM-L6-v2), p50 / p99 of {} | {se50:.1} / {se99:.1} ms (first run of a query, embedding its candidates: up to {first:.0} ms) | — | — | p99 ≤ 50 ms |",
            SEMANTIC_QUERIES.len() * RUNS
        )
    } else {
        "| semantic query | model not installed (`sd model install`) | — | — | p99 ≤ 50 ms |"
            .to_owned()
    };
    let (ls50, ls99) = p50_p99(ls_search);
    let (lsn50, lsn99) = p50_p99(ls_native);
    let (new50, new_max) = {
        let (p50, _) = p50_p99(found_after.clone());
        (p50, found_after.iter().copied().fold(0.0, f64::max))
    };
    let body = format!(
        "{machine}\n\n\
{files} empty files with generated names in {dirs} directories, indexed by `sd index`; \
{nq} name queries and {nl} natural-language queries, {RUNS} runs each, timed as whole commands \
(process start, the control socket, the daemon's live index). \
Baselines in the same run: `plocate -i -l 20` over an `updatedb` database of the same tree, and \
a substring scan of the names already in memory (no process, no I/O).\n\n\
| measurement | sdfs | baseline | ratio | target |\n|---|---|---|---|---|\n\
| name query, p50 / p99 of {n1} | {sn50:.1} / {sn99:.1} ms | `plocate` {pl50:.1} / {pl99:.1} ms; substring scan {sc50:.0} / {sc99:.0} µs | {r1:.2}× plocate (p50) | p99 ≤ 10 ms, faster than plocate |\n\
| natural-language query, p50 / p99 of {n2} | {nl50:.1} / {nl99:.1} ms | — | — | p99 ≤ 10 ms |\n\
{semantic_row}\n\
| `ls -l .search/<query>/` through the mount ({listed} entries), p50 / p99 | {ls50:.1} / {ls99:.1} ms | `ls -l` of a native directory of {listed} files {lsn50:.1} / {lsn99:.1} ms | {rls:.2}× native (p50) | — |\n\
| building the index | first search {build:.1} s after `sd index` {sd_index:.1} s | `updatedb` {plocate_index:.1} s | — | — |\n\
| index size | {per_entry:.0} bytes per file ({mib:.1} MiB) | — | — | — |\n\
| new file → first hit, p50 / max of {NEW_FILES} | {new50:.0} / {new_max:.0} ms | — | — | ≤ 1 s |\n",
        machine = crate::machine(),
        nq = NAME_QUERIES.len(),
        nl = NL_QUERIES.len(),
        n1 = NAME_QUERIES.len() * RUNS,
        n2 = NL_QUERIES.len() * RUNS,
        r1 = pl50 / sn50,
        rls = lsn50 / ls50,
        per_entry = index_bytes as f64 / files as f64,
        mib = index_bytes as f64 / (1 << 20) as f64,
    );
    crate::index::write_section(&common.out, &format!("search-{files}"), &body)?;
    print!("{body}");
    Ok(())
}
