//! `cargo xtask bench cloud`: a bucket through the mount against what a
//! user would pick instead, everything against one local SeaweedFS in the
//! same run: a plain client's parallel ranged GETs (`rclone copyto` with
//! four streams), `rclone mount --vfs-cache-mode full` and `s3fs`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use sdfs_tests::servers::{ACCESS_KEY, SECRET_KEY, SeaweedFs};

use sdfs_tests::{q, sh, wait_for};

use crate::common::{drain, mibps, random_file, settle, timed};

struct Opts {
    common: crate::common::Common,
    /// Size of the big object.
    mib: u64,
    /// Objects listed into the index.
    objects: u64,
    /// Small objects `find` and `grep -r` walk.
    small: u64,
}

fn parse(args: &[String]) -> Result<Opts> {
    let (mut mib, mut objects, mut small) = (1024, 100_000, 10_000);
    let common = crate::common::parse(args, |flag, value| {
        match flag {
            "--mib" => mib = value()?.parse()?,
            "--objects" => objects = value()?.parse()?,
            "--small" => small = value()?.parse()?,
            other => bail!("unknown flag {other}"),
        }
        Ok(())
    })?;
    Ok(Opts {
        common,
        mib,
        objects,
        small,
    })
}

pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    let work = opts.common.work.join("cloud");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let table = measure(&opts, &work);
    let _ = std::fs::remove_dir_all(&work);
    let table = table?;
    println!("{table}");
    crate::index::write_section(&opts.common.out, "cloud", &table)
}

/// Reads `path` to its end; seconds.
fn read_timed(path: &Path) -> Result<f64> {
    timed(|| {
        let n = drain(&mut std::fs::File::open(path)?)?;
        ensure!(n > 0, "{} read empty", path.display());
        Ok(())
    })
}

/// Writes `count` small text files below `dir`, 100 per directory, one in
/// ten holding the word `needle`.
fn small_tree(dir: &Path, count: u64, size: usize) -> Result<()> {
    for i in 0..count {
        let sub = dir.join(format!("d{:04}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&sub)?;
        }
        let mut text = format!("object {i}\n");
        if i % 10 == 0 {
            text.push_str("a needle here\n");
        }
        while text.len() < size {
            text.push_str("filler text for a small object\n");
        }
        std::fs::write(sub.join(format!("f{i:06}.txt")), text)?;
    }
    Ok(())
}

/// Makes bucket `bucket` and copies `src` into it, `transfers` at a time.
fn upload(s3: &SeaweedFs, src: &Path, bucket: &str, transfers: u32) -> Result<()> {
    s3.rclone(&["mkdir", &format!("sw:{bucket}")])?;
    s3.rclone(&[
        "copy",
        &format!("--transfers={transfers}"),
        &src.display().to_string(),
        &format!("sw:{bucket}"),
    ])?;
    Ok(())
}

/// A FUSE mount run by another program, unmounted when dropped.
struct OtherMount {
    child: Option<Child>,
    at: PathBuf,
}

impl Drop for OtherMount {
    fn drop(&mut self) {
        let _ = Command::new("fusermount3").arg("-u").arg(&self.at).status();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("fusermount3")
            .args(["-u", "-z"])
            .arg(&self.at)
            .stderr(Stdio::null())
            .status();
    }
}

fn rclone_mount(s3: &SeaweedFs, bucket: &str, at: &Path) -> Result<OtherMount> {
    std::fs::create_dir_all(at)?;
    let child = Command::new("rclone")
        .arg("mount")
        .arg(format!("sw:{bucket}"))
        .arg(at)
        .args(["--vfs-cache-mode", "full", "--cache-dir"])
        .arg(at.with_extension("cache"))
        .env("RCLONE_CONFIG", "/dev/null")
        .env("RCLONE_CONFIG_SW_TYPE", "s3")
        .env("RCLONE_CONFIG_SW_PROVIDER", "Other")
        .env("RCLONE_CONFIG_SW_ENDPOINT", s3.endpoint())
        .env("RCLONE_CONFIG_SW_ACCESS_KEY_ID", ACCESS_KEY)
        .env("RCLONE_CONFIG_SW_SECRET_ACCESS_KEY", SECRET_KEY)
        .env_remove("AWS_CA_BUNDLE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("rclone mount")?;
    let mount = OtherMount {
        child: Some(child),
        at: at.to_owned(),
    };
    wait_for(Duration::from_secs(30), || sdfs_tests::is_mounted(at))?;
    Ok(mount)
}

fn s3fs_mount(s3: &SeaweedFs, bucket: &str, at: &Path, work: &Path) -> Result<OtherMount> {
    std::fs::create_dir_all(at)?;
    let passwd = work.join("s3fs.passwd");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&passwd)?;
        writeln!(f, "{ACCESS_KEY}:{SECRET_KEY}")?;
    }
    let status = Command::new("s3fs")
        .arg(bucket)
        .arg(at)
        .arg("-o")
        .arg(format!(
            "passwd_file={},url={},use_path_request_style",
            passwd.display(),
            s3.endpoint()
        ))
        .status()
        .context("s3fs (apt-get install s3fs)")?;
    ensure!(status.success(), "s3fs failed");
    let mount = OtherMount {
        child: None,
        at: at.to_owned(),
    };
    wait_for(Duration::from_secs(30), || sdfs_tests::is_mounted(at))?;
    Ok(mount)
}

/// `sd` with the bench's library.
struct Sd {
    bin: PathBuf,
    lib: PathBuf,
}

impl Sd {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--library").arg(&self.lib).args(args);
        c.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
        c
    }

    fn run(&self, args: &[&str]) -> Result<String> {
        let out = self.cmd(args).output()?;
        ensure!(
            out.status.success(),
            "sd {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The mount of `sd`, stopped when dropped.
struct SdMount {
    child: Option<Child>,
    at: PathBuf,
}

impl Drop for SdMount {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
        let _ = Command::new("fusermount3")
            .args(["-u", "-z"])
            .arg(&self.at)
            .stderr(Stdio::null())
            .status();
    }
}

fn measure(opts: &Opts, work: &Path) -> Result<String> {
    let s3 = SeaweedFs::start()?;
    let size = opts.mib << 20;

    // The objects, uploaded with the service's own client.
    let big_src = work.join("src/big.bin");
    std::fs::create_dir_all(work.join("src"))?;
    random_file(&big_src, size)?;
    s3.rclone(&["mkdir", "sw:bench"])?;
    s3.rclone(&["copyto", &big_src.display().to_string(), "sw:bench/big.bin"])?;
    let small_src = work.join("small");
    small_tree(&small_src, opts.small, 2048)?;
    upload(&s3, &small_src, "small", 32)?;
    let many_src = work.join("many");
    small_tree(&many_src, opts.objects, 64)?;
    upload(&s3, &many_src, "many", 64)?;
    let _ = std::fs::remove_dir_all(&many_src);

    let sd = Sd {
        bin: opts.common.sd.clone(),
        lib: work.join("lib.sdlibrary"),
    };
    sd.run(&["init", "--name", "laptop"])?;
    for bucket in ["bench", "small", "many"] {
        sd.run(&[
            "cloud",
            "add",
            bucket,
            "s3",
            "--bucket",
            bucket,
            "--endpoint",
            &s3.endpoint(),
        ])?;
    }

    // Listing into the index, against the plain client's listing.
    settle();
    let listed = timed(|| {
        s3.rclone(&["lsf", "-R", "--files-only", "sw:many"])
            .map(drop)
    })?;
    settle();
    let indexed = timed(|| sd.run(&["index", "many"]).map(drop))?;
    sd.run(&["index", "bench"])?;
    sd.run(&["index", "small"])?;

    // The mount.
    let mnt = work.join("mnt");
    std::fs::create_dir_all(&mnt)?;
    let child = sd
        .cmd(&["mount", &mnt.display().to_string()])
        .env("SD_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.join("mount.log"))?)
        .spawn()?;
    let _sd_mount = SdMount {
        child: Some(child),
        at: mnt.clone(),
    };
    wait_for(Duration::from_secs(30), || {
        mnt.join("bench/big.bin").is_file()
    })?;

    // Cold reads: nothing of the object is on this machine yet.
    settle();
    let plain_dest = work.join("plain.bin");
    let plain = timed(|| {
        s3.rclone(&[
            "copyto",
            "--multi-thread-streams=4",
            "--multi-thread-cutoff=1M",
            "sw:bench/big.bin",
            &plain_dest.display().to_string(),
        ])
        .map(drop)
    })?;
    settle();
    let sdfs_cold = read_timed(&mnt.join("bench/big.bin"))?;
    settle();
    let (rclone_cold, rclone_find, rclone_grep) = {
        let big = rclone_mount(&s3, "bench", &work.join("rclone-big"))?;
        let cold = read_timed(&big.at.join("big.bin"))?;
        drop(big);
        let small = rclone_mount(&s3, "small", &work.join("rclone-small"))?;
        let (find, grep) = walk(&small.at, opts.small)?;
        (cold, find, grep)
    };
    settle();
    let (s3fs_cold, s3fs_find, s3fs_grep) = {
        let big = s3fs_mount(&s3, "bench", &work.join("s3fs-big"), work)?;
        let cold = read_timed(&big.at.join("big.bin"))?;
        drop(big);
        let small = s3fs_mount(&s3, "small", &work.join("s3fs-small"), work)?;
        let (find, grep) = walk(&small.at, opts.small)?;
        (cold, find, grep)
    };

    // Warm: the object again, against the plain client's copy on disk.
    let (mut native, mut warm) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..5 {
        native = native.min(read_timed(&plain_dest)?);
        warm = warm.min(read_timed(&mnt.join("bench/big.bin"))?);
    }
    let (sdfs_find, sdfs_grep) = walk(&mnt.join("small"), opts.small)?;

    // Uploads: the same file saved through the mount (until the object is
    // whole in the bucket), against the plain client and s3fs.
    settle();
    let mut staged = 0.0;
    let sdfs_up = timed(|| {
        staged = timed(|| {
            sh(&format!(
                "cp {} {}",
                q(&big_src),
                q(&mnt.join("bench/up-sdfs.bin"))
            ))
            .map(drop)
        })?;
        wait_for(Duration::from_secs(600), || {
            sd.run(&["status", "--json"])
                .ok()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
                .is_some_and(|s| {
                    s["deliveries"]["outgoing"]
                        .as_array()
                        .is_some_and(Vec::is_empty)
                })
        })
        .map(drop)
        .with_context(|| {
            let log = std::fs::read_to_string(work.join("mount.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            format!(
                "the upload never finished; the daemon's log ends:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        })
    })?;
    ensure!(
        object_size(&s3, "bench/up-sdfs.bin")? == size,
        "the upload through the mount is not whole"
    );
    settle();
    let rclone_up = timed(|| {
        s3.rclone(&[
            "copyto",
            &big_src.display().to_string(),
            "sw:bench/up-rclone.bin",
        ])
        .map(drop)
    })?;
    settle();
    let s3fs_up = {
        let bench = s3fs_mount(&s3, "bench", &work.join("s3fs-up"), work)?;
        let target = bench.at.join("up-s3fs.bin");
        timed(|| sh(&format!("cp {} {}", q(&big_src), q(&target))).map(drop))?
    };
    ensure!(object_size(&s3, "bench/up-s3fs.bin")? == size);

    let ratio = |base: f64, ours: f64| base / ours;
    let mut t = String::new();
    t.push_str(&crate::machine());
    t.push_str(
        "\n\nOne SeaweedFS (`weed mini`) on loopback for every row. Cold reads start with nothing of the object on this machine; \
sdfs fetches it whole (sixteen parallel 8 MiB ranged GETs, hashed as they arrive), checks it against its sampled hash and full BLAKE3, \
serves it and keeps it in the store. `rclone mount` uses `--vfs-cache-mode full`. `find` and `grep -r` run twice through each \
mount; the second run counts.\n\n",
    );
    t.push_str("| measurement | sdfs | baseline | ratio | target |\n|---|---|---|---|---|\n");
    t.push_str(&format!(
        "| cold read, {} MiB object | {:.0} MiB/s | plain client, 4 ranged GETs in parallel (`rclone copyto`) {:.0} MiB/s | {:.2}× | ≥ 0.8× |\n",
        opts.mib,
        mibps(size, sdfs_cold),
        mibps(size, plain),
        ratio(plain, sdfs_cold)
    ));
    t.push_str(&format!(
        "| the same against other mounts | {:.0} MiB/s | `rclone mount` {:.0} MiB/s / `s3fs` {:.0} MiB/s | {:.2}× / {:.2}× | > 1× |\n",
        mibps(size, sdfs_cold),
        mibps(size, rclone_cold),
        mibps(size, s3fs_cold),
        ratio(rclone_cold, sdfs_cold),
        ratio(s3fs_cold, sdfs_cold)
    ));
    t.push_str(&format!(
        "| warm read (best of 5) | {:.0} MiB/s | native {:.0} MiB/s | {:.2}× | ≥ 0.9× |\n",
        mibps(size, warm),
        mibps(size, native),
        ratio(native, warm)
    ));
    t.push_str(&format!(
        "| {} objects listed into the index, with content ids from ranged reads | {:.0} objects/s ({:.1} s) | `rclone lsf -R` {:.0} objects/s ({:.1} s, names only) | {:.2}× | — |\n",
        opts.objects,
        opts.objects as f64 / indexed,
        indexed,
        opts.objects as f64 / listed,
        listed,
        ratio(listed, indexed)
    ));
    t.push_str(&format!(
        "| `find` over {} small objects | {:.3} s | `rclone mount` {:.3} s / `s3fs` {:.3} s | {:.2}× / {:.2}× | > 1× |\n",
        opts.small,
        sdfs_find,
        rclone_find,
        s3fs_find,
        ratio(rclone_find, sdfs_find),
        ratio(s3fs_find, sdfs_find)
    ));
    t.push_str(&format!(
        "| `grep -r` over the same | {:.2} s | `rclone mount` {:.2} s / `s3fs` {:.2} s | {:.2}× / {:.2}× | > 1× |\n",
        sdfs_grep,
        rclone_grep,
        s3fs_grep,
        ratio(rclone_grep, sdfs_grep),
        ratio(s3fs_grep, sdfs_grep)
    ));
    t.push_str(&format!(
        "| upload of {} MiB saved through the mount (`cp` until the object is whole in the bucket; `cp` itself returned after {:.1} s) | {:.0} MiB/s | plain client (`rclone copyto`) {:.0} MiB/s / `s3fs` `cp` {:.0} MiB/s | {:.2}× / {:.2}× | ≥ 0.8× |\n",
        opts.mib,
        staged,
        mibps(size, sdfs_up),
        mibps(size, rclone_up),
        mibps(size, s3fs_up),
        ratio(rclone_up, sdfs_up),
        ratio(s3fs_up, sdfs_up)
    ));
    Ok(t)
}

/// The size of object `key` (`bucket/path`), as the service lists it.
fn object_size(s3: &SeaweedFs, key: &str) -> Result<u64> {
    let listed = s3.rclone(&["lsf", "--format", "s", &format!("sw:{key}")])?;
    listed
        .trim()
        .parse()
        .with_context(|| format!("the size of {key}: {listed:?}"))
}

/// `find` and `grep -r` over `dir` (the second of two runs each);
/// checks they saw every object and every match.
fn walk(dir: &Path, count: u64) -> Result<(f64, f64)> {
    let mut find = f64::INFINITY;
    let mut grep = f64::INFINITY;
    for _ in 0..2 {
        find = timed(|| {
            let n = sh(&format!("find {} -type f | wc -l", q(dir)))?;
            ensure!(n.trim() == count.to_string(), "find saw {n} of {count}");
            Ok(())
        })?;
        grep = timed(|| {
            let n = sh(&format!("grep -rl needle {} | wc -l", q(dir)))?;
            ensure!(n.trim() == count.div_ceil(10).to_string(), "grep found {n}");
            Ok(())
        })?;
    }
    Ok((find, grep))
}
