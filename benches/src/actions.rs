//! The actions benchmark: `sd guardian`
//! over a library of a million identified files (a third with one copy
//! only, the rest in pairs), against what a person would run instead to
//! find files that exist once: listing the same tree with `find`, and
//! `rmlint`'s duplicate search over it (which reads the files); and the
//! preview of a copy of the whole tree; and `sd cp` between two daemons
//! against `rsync -a` over ssh (`copy.rs`), in the same run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};

mod copy;

/// Runs of each timed command.
const RUNS: usize = 5;

/// `files` small files in directories of 1,000; file `i` holds `i` modulo
/// two thirds of `files`: a third of the files have one copy only, the
/// others are pairs.
fn generate(root: &Path, files: usize) -> Result<()> {
    let marker = root.join(format!(".generated-{files}"));
    if marker.exists() {
        return Ok(());
    }
    if root.exists() {
        std::fs::remove_dir_all(root)?;
    }
    let distinct = (files * 2 / 3).max(1);
    for i in 0..files {
        let dir = root.join(format!("folder-{:04}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&dir)?;
        }
        std::fs::write(
            dir.join(format!("file-{i}.txt")),
            format!("content {}\n", i % distinct),
        )?;
    }
    std::fs::write(marker, [])?;
    Ok(())
}

/// Seconds of each run of `cmd`, which must succeed.
fn times(mut cmd: impl FnMut() -> Command) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let status = cmd().stdout(Stdio::null()).stderr(Stdio::null()).status()?;
        out.push(start.elapsed().as_secs_f64());
        ensure!(status.success(), "{status}");
    }
    out.sort_by(f64::total_cmp);
    Ok(out)
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn run(args: &[String]) -> Result<()> {
    let mut files = 1_000_000usize;
    let (mut copy_files, mut copy_mib, mut copy) = (10_000u64, 2048u64, true);
    let common = crate::common::parse(args, |flag, value| {
        match flag {
            "--files" => files = value()?.parse()?,
            "--copy-files" => copy_files = value()?.parse()?,
            "--copy-mib" => copy_mib = value()?.parse()?,
            "--no-copy" => copy = false,
            other => bail!("unknown flag {other}"),
        }
        Ok(())
    })?;
    let tree = common.work.join(format!("guardian-tree-{files}"));
    generate(&tree, files)?;
    let lib = common.work.join(format!("guardian-lib-{files}"));
    let sd = |args: &[&str]| {
        let mut cmd = Command::new(&common.sd);
        cmd.arg("--library").arg(&lib).args(args);
        cmd
    };
    // The library is kept between runs of the suite: indexing a million
    // files is not what this measures.
    if !lib.join(".indexed").exists() {
        let _ = std::fs::remove_dir_all(&lib);
        ensure!(sd(&["init", "--name", "bench"]).status()?.success());
        let tree_arg = tree.to_string_lossy().into_owned();
        ensure!(
            sd(&["location", "add", &tree_arg, "--name", "Tree"])
                .stdout(Stdio::null())
                .status()?
                .success()
        );
        ensure!(sd(&["index"]).stdout(Stdio::null()).status()?.success());
        std::fs::write(lib.join(".indexed"), [])?;
    }
    // An empty second location: a copy of the whole tree into it is
    // previewed (a walk of every entry, each name looked up there).
    let dest = common.work.join(format!("guardian-dest-{files}"));
    if !lib.join(".dest").exists() {
        std::fs::create_dir_all(&dest)?;
        let dest_arg = dest.to_string_lossy().into_owned();
        ensure!(
            sd(&["location", "add", &dest_arg, "--name", "Dest"])
                .stdout(Stdio::null())
                .status()?
                .success()
        );
        std::fs::write(lib.join(".dest"), [])?;
    }
    let preview = sd(&[
        "cp",
        "sd://bench/Tree",
        "sd://bench/Dest",
        "--preview",
        "--json",
    ])
    .output()?;
    ensure!(preview.status.success(), "sd cp --preview failed");
    let preview: serde_json::Value = serde_json::from_slice(&preview.stdout)?;
    ensure!(
        preview["files"].as_u64() == Some(files as u64),
        "the preview planned {} of {files} files",
        preview["files"]
    );
    let previews = times(|| {
        sd(&[
            "cp",
            "sd://bench/Tree",
            "sd://bench/Dest",
            "--preview",
            "--json",
        ])
    })?;
    let report = sd(&["guardian", "--json"]).output()?;
    ensure!(report.status.success(), "sd guardian failed");
    let report: serde_json::Value = serde_json::from_slice(&report.stdout)?;
    let seen = report["files"].as_u64().context("files")?;
    ensure!(
        seen == files as u64,
        "the guardian saw {seen} of {files} files"
    );
    let single = report["by_risk"][0]["files"].as_u64().unwrap_or(0);

    let guardian = times(|| sd(&["guardian", "--json"]))?;
    let tree_s = tree.to_string_lossy().into_owned();
    let find = times(|| {
        let mut cmd = Command::new("find");
        cmd.args([&tree_s, "-type", "f", "-printf", "%s %p\\n"]);
        cmd
    })?;
    let rmlint = if have("rmlint") {
        // One run: it reads every file. Its report goes to a file of its
        // own: rmlint replaces an output path by rename, so given
        // /dev/null it leaves a regular file there, which breaks every
        // later program on the machine that reads /dev/null (rustc's
        // target probe among them).
        let report = common.work.join("rmlint.json");
        let report_arg = format!("json:{}", report.display());
        let start = Instant::now();
        let status = Command::new("rmlint")
            .args(["-o", &report_arg, "-T", "duplicates", &tree_s])
            .current_dir(&common.work)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        ensure!(status.code().is_some_and(|c| c <= 1), "rmlint: {status}");
        Some(start.elapsed().as_secs_f64())
    } else {
        None
    };
    let (g50, gmax) = (guardian[RUNS / 2], guardian[RUNS - 1]);
    let (p50, pmax) = (previews[RUNS / 2], previews[RUNS - 1]);
    let f50 = find[RUNS / 2];
    let rmlint_cell = rmlint.map_or_else(
        || "`rmlint` not installed".to_owned(),
        |s| format!("`rmlint -T duplicates` {s:.2} s"),
    );
    let rmlint_ratio = rmlint.map_or_else(String::new, |s| format!("; {:.1}× rmlint", s / g50));
    let copy_rows = if copy {
        let rows = copy::measure(&common.sd, &common.work, copy_files, copy_mib);
        let _ = std::fs::remove_dir_all(common.work.join("copy"));
        rows?.render()
    } else {
        String::new()
    };
    let body = format!(
        "{machine}\n\n\
{files} files of a few bytes in {dirs} folders, {distinct} distinct contents, indexed by `sd \
index`. `sd guardian --json` over the whole library ({single} files found with one copy only), \
{RUNS} runs, timed as whole commands (process start, opening the library, the report). \
Baselines in the same run: `find` listing the same tree (warm), and `rmlint`'s duplicate search \
over it (one run). The transfer rows (when run) copy a separate tree of distinct noise files \
between two daemons paired on loopback; rsync goes to an sshd on the same loopback. Syncthing \
is not measured yet.\n\n\
| measurement | sdfs | baseline | ratio | target |\n|---|---|---|---|---|\n\
| `sd guardian` over {files} files, p50 / max of {RUNS} | {g50:.2} / {gmax:.2} s | `find -printf` {f50:.2} s; {rmlint_cell} | {rf:.2}× find{rmlint_ratio} | ≤ 1 s |\n\
| preview of a copy of all {files} files to another location (`sd cp --preview`), p50 / max of {RUNS} | {pms50:.0} / {pmsmax:.0} ms | `find -printf` {fms:.0} ms | {rp:.2}× find | ≤ 100 ms for 100k |\n\
{copy_rows}",
        machine = crate::machine(),
        dirs = files.div_ceil(1000),
        distinct = (files * 2 / 3).max(1),
        rf = f50 / g50,
        pms50 = p50 * 1000.0,
        pmsmax = pmax * 1000.0,
        fms = f50 * 1000.0,
        rp = f50 / p50,
    );
    crate::index::write_section(&common.out, &format!("actions-{files}"), &body)?;
    print!("{body}");
    Ok(())
}
