//! The indexer benchmark: a generated tree of files in directories, indexed
//! cold and warm by the release `sd`, beside a bare parallel walk, `find`, and
//! BLAKE3 of the same sampled bytes.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::Value;

struct Opts {
    /// `--sd`, `--work`, `--out`.
    common: crate::common::Common,
    files: usize,
    dirs: usize,
    /// Caps file sizes (for million-file runs that measure memory, not I/O).
    max_size: u64,
}

fn parse(args: &[String]) -> Result<Opts> {
    let (mut files, mut dirs, mut max_size) = (100_000, 5_000, u64::MAX);
    let common = crate::common::parse(args, |flag, value| {
        match flag {
            "--files" => files = value()?.parse()?,
            "--dirs" => dirs = value()?.parse()?,
            "--max-size" => max_size = value()?.parse()?,
            other => bail!("unknown flag {other}"),
        }
        Ok(())
    })?;
    Ok(Opts {
        common,
        files,
        dirs,
        max_size,
    })
}

/// Size of file `n`: mostly small, some medium, a few large (sparse) up to 10 MB.
fn size_of(n: usize) -> u64 {
    let r = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40; // 24 random-ish bits
    match n % 100 {
        0..=79 => r % 4096,
        80..=94 => 4096 + r % (60 * 1024),
        95..=98 => 100 * 1024 + r % (900 * 1024),
        _ => 1024 * 1024 + r % (9 * 1024 * 1024),
    }
}

fn generate(root: &Path, files: usize, dirs: usize, max_size: u64) -> Result<()> {
    let marker = root.join(format!(".generated-{files}-{dirs}-{max_size}"));
    if marker.exists() {
        return Ok(());
    }
    if root.exists() {
        std::fs::remove_dir_all(root)?;
    }
    let per_dir = files.div_ceil(dirs);
    let mut buf = Vec::new();
    for n in 0..files {
        let d = n / per_dir;
        let dir = root.join(format!("g{:02}/d{d:05}", d % 50));
        if n % per_dir == 0 {
            std::fs::create_dir_all(&dir)?;
        }
        let size = size_of(n).min(max_size);
        let mut file = File::create(dir.join(format!("file{n:06}.dat")))?;
        if size > 100 * 1024 {
            // Sparse: a unique head, holes elsewhere.
            file.write_all(format!("large file {n}\n").as_bytes())?;
            file.set_len(size)?;
        } else {
            buf.clear();
            let seed = format!("{n:08}");
            while (buf.len() as u64) < size {
                buf.extend_from_slice(seed.as_bytes());
            }
            buf.truncate(size as usize);
            file.write_all(&buf)?;
        }
    }
    File::create(marker)?;
    Ok(())
}

fn drop_caches() -> bool {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// Runs a command, returning (seconds, peak RSS in KiB, stdout).
fn measure(cmd: &mut Command) -> Result<(f64, u64, String)> {
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.context("stdout")?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut text)?;
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid out-parameter; pid is our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: reaping our own child with valid pointers.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let secs = start.elapsed().as_secs_f64();
    if rc < 0 || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{cmd:?} failed (status {status})");
    }
    Ok((secs, usage.ru_maxrss as u64, text))
}

/// A bare parallel walk (readdir + lstat of every entry) on two threads.
fn parallel_walk(root: &Path) -> Result<u64> {
    let queue = std::sync::Mutex::new(vec![root.to_owned()]);
    let busy = std::sync::atomic::AtomicUsize::new(0);
    let count = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let next = {
                        let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
                        let item = q.pop();
                        if item.is_some() {
                            busy.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        item
                    };
                    let Some(dir) = next else {
                        if busy.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                            return;
                        }
                        std::thread::yield_now();
                        continue;
                    };
                    let mut found = Vec::new();
                    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                        if let Ok(md) = entry.metadata() {
                            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if md.is_dir() {
                                found.push(entry.path());
                            }
                        }
                    }
                    queue
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend(found);
                    busy.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
    });
    Ok(count.load(std::sync::atomic::Ordering::Relaxed))
}

/// BLAKE3 over exactly the bytes the content hash samples, on two threads.
fn blake3_samples(root: &Path) -> Result<(u64, u64)> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let md = entry.metadata()?;
            if md.is_dir() {
                stack.push(entry.path());
            } else if md.is_file() && md.len() > 0 {
                files.push((entry.path(), md.len()));
            }
        }
    }
    let hashed = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for half in files.chunks(files.len().div_ceil(2).max(1)) {
            let hashed = &hashed;
            s.spawn(move || {
                let mut buf = Vec::new();
                for (path, size) in half {
                    let Ok(file) = File::open(path) else { continue };
                    let mut hasher = blake3::Hasher::new();
                    hasher.update(&size.to_le_bytes());
                    for (offset, len) in sdfs_core::content_hash::sample_ranges(*size) {
                        buf.resize(len as usize, 0);
                        if file.read_exact_at(&mut buf, offset).is_ok() {
                            hasher.update(&buf);
                        }
                    }
                    std::hint::black_box(hasher.finalize());
                    hashed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    Ok((
        files.len() as u64,
        hashed.load(std::sync::atomic::Ordering::Relaxed),
    ))
}

fn phase(job: &Value, name: &str) -> f64 {
    job["phase_secs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p[0] == name)
        .and_then(|p| p[1].as_f64())
        .unwrap_or(f64::NAN)
}

struct IndexRun {
    total: f64,
    discovery: f64,
    identify: f64,
    rss_kib: u64,
    job: Value,
}

fn index(sd: &Path, lib: &Path, tree: &Path, fresh: bool) -> Result<IndexRun> {
    if fresh {
        let _ = std::fs::remove_dir_all(lib);
        let ok = Command::new(sd)
            .arg("--library")
            .arg(lib)
            .args(["init", "--name", "bench"])
            .status()?;
        anyhow::ensure!(ok.success(), "sd init failed");
        let ok = Command::new(sd)
            .arg("--library")
            .arg(lib)
            .args(["location", "add"])
            .arg(tree)
            .args(["--name", "tree"])
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(ok.success(), "sd location add failed");
    }
    let (total, rss_kib, out) = measure(
        Command::new(sd)
            .arg("--library")
            .arg(lib)
            .args(["--json", "index", "tree"]),
    )?;
    let last = out.lines().last().context("no result")?;
    let result: Value = serde_json::from_str(last)?;
    let job = result[0].clone();
    anyhow::ensure!(job["state"] == "completed", "index did not complete: {job}");
    Ok(IndexRun {
        total,
        discovery: phase(&job, "discovery"),
        identify: phase(&job, "content_identification"),
        rss_kib,
        job,
    })
}

pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    let tree = opts.common.work.join("tree");
    let lib = opts.common.work.join("bench.sdlibrary");
    eprintln!(
        "generating {} files in {} directories under {}",
        opts.files,
        opts.dirs,
        tree.display()
    );
    generate(&tree, opts.files, opts.dirs, opts.max_size)?;
    let entries = (opts.files + opts.dirs + 50) as f64;

    // Cold: page cache dropped before each of the pair.
    let can_drop = drop_caches();
    let (find_cold, _, _) = measure(Command::new("find").arg(&tree).args(["-printf", ""]))?;
    drop_caches();
    let cold = index(&opts.common.sd, &lib, &tree, true)?;

    // Warm: same tree, page cache hot.
    let (find_warm, _, _) = measure(Command::new("find").arg(&tree).args(["-printf", ""]))?;
    let walk_start = Instant::now();
    let walked = parallel_walk(&tree)?;
    let walk_warm = walk_start.elapsed().as_secs_f64();
    let first_warm = index(&opts.common.sd, &lib, &tree, true)?;
    let db_bytes = std::fs::metadata(lib.join("library.redb"))?.len() as f64;
    let reindex = index(&opts.common.sd, &lib, &tree, false)?;
    anyhow::ensure!(
        reindex.job["counters"]["created"] == 0 && reindex.job["counters"]["updated"] == 0,
        "unchanged re-index changed the index: {}",
        reindex.job
    );
    let b3_start = Instant::now();
    let (b3_files, _) = blake3_samples(&tree)?;
    let b3_secs = b3_start.elapsed().as_secs_f64();
    let identified = first_warm.job["counters"]["identified"]
        .as_u64()
        .unwrap_or(0) as f64;
    let db_bytes_later = std::fs::metadata(lib.join("library.redb"))?.len() as f64;

    let rate = |n: f64, s: f64| n / s;
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let mut table = String::new();
    table.push_str(&format!(
        "Machine: {} cores ({cpu}), {} files in {} directories ({} walked){}, release build. \
         Cold = page cache dropped{}.\n\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        opts.files,
        opts.dirs,
        walked,
        if opts.max_size == u64::MAX {
            String::new()
        } else {
            format!(", sizes capped at {} bytes", opts.max_size)
        },
        if can_drop {
            ""
        } else {
            " (could not drop caches: not root; cold = warm)"
        },
    ));
    table.push_str("| measure | sdfs | baseline (same run) | ratio |\n|---|---|---|---|\n");
    table.push_str(&format!(
        "| discovery + processing, cold (entries/s) | {:.0} | `find` cold {:.0} | {:.2}× |\n",
        rate(entries, cold.discovery),
        rate(entries, find_cold),
        find_cold / cold.discovery
    ));
    table.push_str(&format!(
        "| discovery + processing, first index warm (entries/s) | {:.0} | parallel walk {:.0} | {:.2}× |\n",
        rate(entries, first_warm.discovery),
        rate(entries, walk_warm),
        walk_warm / first_warm.discovery
    ));
    table.push_str(&format!(
        "| discovery + processing, unchanged re-index warm (entries/s) | {:.0} | parallel walk {:.0} / `find` {:.0} | {:.2}× |\n",
        rate(entries, reindex.discovery),
        rate(entries, walk_warm),
        rate(entries, find_warm),
        walk_warm / reindex.discovery
    ));
    table.push_str(&format!(
        "| content identification, warm (files/s; 95% ≤ 100 KiB) | {:.0} | BLAKE3 of the same samples {:.0} | {:.2}× |\n",
        rate(identified, first_warm.identify),
        rate(b3_files as f64, b3_secs),
        (b3_secs / b3_files as f64) / (first_warm.identify / identified)
    ));
    table.push_str(&format!(
        "| whole `sd index`: cold / first warm / unchanged (s) | {:.2} / {:.2} / {:.2} | | |\n",
        cold.total, first_warm.total, reindex.total
    ));
    table.push_str(&format!(
        "| peak RSS (MiB): cold / first warm / unchanged | {:.0} / {:.0} / {:.0} | | |\n",
        cold.rss_kib as f64 / 1024.0,
        first_warm.rss_kib as f64 / 1024.0,
        reindex.rss_kib as f64 / 1024.0
    ));
    table.push_str(&format!(
        "| database bytes per entry (file size after the index) | {:.0} | | |\n",
        db_bytes / entries
    ));
    table.push_str(&format!(
        "| database bytes per entry after one more unchanged re-index (redb grows the file by whole regions; reused by later writes) | {:.0} | | |\n",
        db_bytes_later / entries
    ));
    println!("{table}");
    let section = if opts.files == 100_000 && opts.max_size == u64::MAX {
        "index".to_string()
    } else {
        format!("index-{}", opts.files)
    };
    write_section(&opts.common.out, &section, &table)?;
    Ok(())
}

/// Replaces the section between `<!-- bench:NAME -->` markers in `out`.
pub fn write_section(out: &Path, name: &str, body: &str) -> Result<()> {
    let start = format!("<!-- bench:{name}:start -->");
    let end = format!("<!-- bench:{name}:end -->");
    let text = std::fs::read_to_string(out).unwrap_or_default();
    let section = format!("{start}\n{body}\n{end}");
    let new = match (text.find(&start), text.find(&end)) {
        (Some(a), Some(b)) if b > a => format!("{}{section}{}", &text[..a], &text[b + end.len()..]),
        _ => format!("{text}\n{section}\n"),
    };
    std::fs::write(out, new)?;
    Ok(())
}
