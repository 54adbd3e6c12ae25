//! The mount benchmark: everyday operations through `~/Spacedrive` against
//! the same directory natively, and through bindfs and rclone mount as peers,
//! all in one run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};

use crate::common::{Daemon, best_of, drain, timed};

struct Opts {
    /// `--sd`, `--work`, `--out`.
    common: crate::common::Common,
    peers: bool,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut peers = true;
    let common = crate::common::parse(args, |flag, _| {
        match flag {
            "--no-peers" => peers = false,
            other => bail!("unknown flag {other}"),
        }
        Ok(())
    })?;
    Ok(Opts { common, peers })
}

const GIB: u64 = 1 << 30;

fn generate(native: &Path) -> Result<()> {
    let marker = native.join(".generated-v1");
    if marker.exists() {
        return Ok(());
    }
    if native.exists() {
        std::fs::remove_dir_all(native)?;
    }
    std::fs::create_dir_all(native)?;
    eprintln!("generating the benchmark tree in {}", native.display());
    // 1 GiB of real (non-sparse) bytes.
    let mut big =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(native.join("big.bin"))?);
    let mut block = vec![0u8; 1 << 20];
    for i in 0..1024u64 {
        for (j, chunk) in block.chunks_mut(8).enumerate() {
            chunk
                .copy_from_slice(&(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ j as u64).to_le_bytes());
        }
        big.write_all(&block)?;
    }
    big.flush()?;
    // 100k small files in 5k directories (find, stat).
    for d in 0..5000 {
        let dir = native.join(format!("tree/g{:02}/d{d:04}", d % 50));
        std::fs::create_dir_all(&dir)?;
        for f in 0..20 {
            std::fs::write(dir.join(format!("f{f:02}")), b"x")?;
        }
    }
    // 10k text files (grep -r).
    for n in 0..10_000 {
        let dir = native.join(format!("text/t{:03}", n / 100));
        if n % 100 == 0 {
            std::fs::create_dir_all(&dir)?;
        }
        let body = format!("line {n} lorem ipsum dolor sit amet\n").repeat(40)
            + if n % 97 == 0 { "needle\n" } else { "" };
        std::fs::write(dir.join(format!("doc{n:05}.txt")), body)?;
    }
    // A 20k-file git repository (git status).
    let repo = native.join("repo");
    for n in 0..20_000 {
        let dir = repo.join(format!("src/m{:03}", n / 100));
        if n % 100 == 0 {
            std::fs::create_dir_all(&dir)?;
        }
        std::fs::write(dir.join(format!("file{n:05}.rs")), format!("// file {n}\n"))?;
    }
    let git = |args: &[&str]| -> Result<()> {
        let ok = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .stdout(Stdio::null())
            .status()?;
        ensure!(ok.success(), "git {args:?}");
        Ok(())
    };
    git(&["init", "-q"])?;
    git(&["add", "-A"])?;
    git(&[
        "-c",
        "user.name=b",
        "-c",
        "user.email=b@b",
        "commit",
        "-qm",
        "bench",
    ])?;
    std::fs::File::create(marker)?;
    Ok(())
}

fn drop_caches() {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "3");
}

/// Best of `n` runs after one warm-up.
fn best_warm(n: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    best_of(n, || timed(&mut f))
}

fn read_all(path: &Path) -> Result<()> {
    let total = drain(&mut std::fs::File::open(path)?)?;
    ensure!(total == GIB, "read {total} bytes");
    Ok(())
}

fn write_gib(path: &Path) -> Result<()> {
    let mut file = std::fs::File::create(path)?;
    let block = vec![0x5au8; 1 << 20];
    for _ in 0..1024 {
        file.write_all(&block)?;
    }
    file.sync_all()?;
    Ok(())
}

fn run_quiet(cmd: &mut Command) -> Result<()> {
    let ok = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status()?;
    ensure!(ok.success(), "{cmd:?} failed");
    Ok(())
}

fn stat_all(root: &Path, rel: &[PathBuf]) -> Result<()> {
    for p in rel {
        std::fs::symlink_metadata(root.join(p))?;
    }
    Ok(())
}

/// One column of the table: a directory showing the same files.
struct Target {
    name: &'static str,
    dir: PathBuf,
}

#[derive(Default, Clone)]
struct Row {
    label: &'static str,
    secs: Vec<f64>,
}

fn measure(targets: &[Target], rel_files: &[PathBuf]) -> Result<Vec<Row>> {
    let mut rows: Vec<Row> = [
        "1 GiB sequential read, cold",
        "1 GiB sequential read, warm",
        "1 GiB sequential write (+fsync)",
        "`find` over 100k files",
        "`stat` of 100k files",
        "`grep -r` over 10k text files",
        "`git status` in a 20k-file repository",
        "4 KiB random reads (fio, 64 MiB of 1 GiB, warm)",
    ]
    .iter()
    .map(|l| Row {
        label: l,
        secs: Vec::new(),
    })
    .collect();
    for t in targets {
        eprintln!("measuring {}", t.name);
        let d = &t.dir;
        drop_caches();
        rows[0].secs.push(timed(|| read_all(&d.join("big.bin")))?);
        rows[1]
            .secs
            .push(best_warm(2, || read_all(&d.join("big.bin")))?);
        rows[2]
            .secs
            .push(timed(|| write_gib(&d.join("write.bin")))?);
        std::fs::remove_file(d.join("write.bin"))?;
        rows[3].secs.push(best_warm(3, || {
            run_quiet(
                Command::new("find")
                    .arg(d.join("tree"))
                    .args(["-printf", ""]),
            )
        })?);
        rows[4]
            .secs
            .push(best_warm(3, || stat_all(&d.join("tree"), rel_files))?);
        rows[5].secs.push(best_warm(3, || {
            let ok = Command::new("grep")
                .arg("-rc")
                .arg("needle")
                .arg(d.join("text"))
                .stdout(Stdio::null())
                .status()?;
            ensure!(ok.code() == Some(0), "grep");
            Ok(())
        })?);
        rows[6].secs.push(best_warm(3, || {
            run_quiet(
                Command::new("git")
                    .arg("-C")
                    .arg(d.join("repo"))
                    .args(["status", "--porcelain"]),
            )
        })?);
        rows[7].secs.push(best_warm(1, || {
            run_quiet(
                Command::new("fio")
                    .args([
                        "--name=rr",
                        "--rw=randread",
                        "--bs=4k",
                        "--io_size=64m",
                        "--invalidate=0",
                        "--ioengine=psync",
                    ])
                    .arg(format!("--filename={}", d.join("big.bin").display()))
                    .arg("--size=1g"),
            )
        })?);
    }
    Ok(rows)
}

fn wait_dir(path: &Path) -> Result<()> {
    let start = Instant::now();
    while !path.join("big.bin").exists() {
        ensure!(
            start.elapsed() < Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    let native = opts.common.work.join("native");
    generate(&native)?;
    let mut rel_files = Vec::new();
    for entry in std::fs::read_dir(native.join("tree"))?.flatten() {
        for sub in std::fs::read_dir(entry.path())?.flatten() {
            for f in std::fs::read_dir(sub.path())?.flatten() {
                rel_files.push(f.path().strip_prefix(native.join("tree"))?.to_owned());
            }
        }
    }

    // sdfs: index first, so the daemon's catch-up scan is quick and quiet.
    let lib = opts.common.work.join("mount-bench.sdlibrary");
    let _ = std::fs::remove_dir_all(&lib);
    let sd = |args: &[&str]| {
        let mut c = Command::new(&opts.common.sd);
        c.arg("--library").arg(&lib).args(args);
        c
    };
    run_quiet(&mut sd(&["init", "--name", "bench"]))?;
    run_quiet(&mut sd(&[
        "location",
        "add",
        native.to_str().unwrap_or_default(),
        "--name",
        "native",
    ]))?;
    run_quiet(&mut sd(&["index"]))?;
    let mnt = opts.common.work.join("mnt-sdfs");
    crate::common::fresh_mountpoint(&mnt)?;
    let _sdfs = Daemon(
        sd(&["mount", mnt.to_str().unwrap_or_default()])
            .stderr(Stdio::null())
            .spawn()?,
        Some(mnt.clone()),
    );
    let sdfs_dir = mnt.join("bench/native");
    wait_dir(&sdfs_dir)?;
    // Steady state: a search waits until the daemon's search index has
    // caught up with the library (built once, on a library's first mount).
    run_quiet(&mut sd(&["search", "--limit", "1", "bench"]))?;
    std::thread::sleep(Duration::from_secs(2));

    let mut targets = vec![
        Target {
            name: "native",
            dir: native.clone(),
        },
        Target {
            name: "sdfs",
            dir: sdfs_dir,
        },
    ];
    let mut peers = Vec::new();
    if opts.peers {
        let bind = opts.common.work.join("mnt-bindfs");
        crate::common::fresh_mountpoint(&bind)?;
        peers.push(Daemon(
            Command::new("bindfs")
                .arg("-f")
                .arg(&native)
                .arg(&bind)
                .stderr(Stdio::null())
                .spawn()?,
            Some(bind.clone()),
        ));
        wait_dir(&bind)?;
        targets.push(Target {
            name: "bindfs",
            dir: bind,
        });
        let rclone = opts.common.work.join("mnt-rclone");
        crate::common::fresh_mountpoint(&rclone)?;
        peers.push(Daemon(
            Command::new("rclone")
                .arg("mount")
                .arg(&native)
                .arg(&rclone)
                .args(["--vfs-cache-mode", "full", "--allow-other", "--cache-dir"])
                .arg(opts.common.work.join("rclone-cache"))
                .stderr(Stdio::null())
                .spawn()?,
            Some(rclone.clone()),
        ));
        wait_dir(&rclone)?;
        targets.push(Target {
            name: "rclone mount (full cache)",
            dir: rclone,
        });
    }
    let rows = measure(&targets, &rel_files)?;
    drop(peers);

    let mut table = format!(
        "{} Run as root (passthrough on). Time relative to native in the same run: lower is \
         better, 1.00× is native speed.\n\n| operation | native |",
        crate::machine(),
    );
    for t in &targets[1..] {
        table.push_str(&format!(" {} |", t.name));
    }
    table.push_str("\n|---|---|");
    for _ in &targets[1..] {
        table.push_str("---|");
    }
    table.push('\n');
    for row in &rows {
        let base = row.secs[0];
        table.push_str(&format!("| {} | {:.3} s |", row.label, base));
        for s in &row.secs[1..] {
            table.push_str(&format!(" {:.2}× ({:.3} s) |", s / base, s));
        }
        table.push('\n');
    }
    println!("{table}");
    crate::index::write_section(&opts.common.out, "mount", &table)?;
    Ok(())
}
