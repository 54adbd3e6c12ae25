//! Writes into another device's folder through the mount, until its owner
//! has them, against what a user would do instead in the same run: `rsync
//! -a` of the same tree over ssh to the same loopback, and the same `cp`
//! through `sshfs`. Plus the time from `close` to the file on the owner's
//! disk, and a `git clone` into the peer's folder against one on the local
//! disk.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use super::ssh::Sshd;
use super::{Device, du, wait};
use crate::common::{cores, machine_cpu_secs, settle};

pub struct Rows {
    files: u64,
    bytes: u64,
    /// `cp -r` into the mount returned.
    sdfs_cp: f64,
    /// Every file on the owner's disk.
    sdfs_delivered: f64,
    rsync: Option<f64>,
    sshfs: Option<f64>,
    /// CPU-seconds the whole machine spent on the sdfs writes and on
    /// rsync's.
    sdfs_cpu: f64,
    rsync_cpu: Option<f64>,
    visible: Vec<f64>,
    git_files: u64,
    git_local: f64,
    git_mount: f64,
    git_delivered: f64,
}

/// Changes not yet applied at their owners, as `sd status` counts them.
pub(crate) fn pending(laptop: &Device) -> Result<u64> {
    Ok(laptop.json(&["status"])?["deliveries"]["outgoing"]
        .as_array()
        .context("deliveries")?
        .iter()
        .filter_map(|d| d["pending"].as_u64())
        .sum())
}

fn cp(src: &Path, dest: &Path) -> Result<()> {
    let status = Command::new("cp").arg("-r").arg(src).arg(dest).status()?;
    ensure!(
        status.success(),
        "cp -r {} {}",
        src.display(),
        dest.display()
    );
    Ok(())
}

/// Files and bytes below `dir`.
pub(crate) fn count(dir: &Path) -> u64 {
    let Ok(items) = std::fs::read_dir(dir) else {
        return 0;
    };
    items
        .flatten()
        .map(|i| match i.file_type() {
            Ok(t) if t.is_dir() => count(&i.path()),
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
}

/// `bytes` of incompressible noise, different for every `seed` (equal files
/// would let a deduplicating copy skip work the baselines do).
pub(crate) fn distinct_file(path: &Path, bytes: u64, seed: u64) -> Result<()> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ seed.wrapping_mul(0xd6e8_feb8_6659_fd93) | 1;
    let mut block = vec![0u8; bytes as usize];
    crate::common::noise_into(&mut block, &mut x);
    std::fs::write(path, block)?;
    Ok(())
}

/// `share` is the nas's folder on its disk; `remote` the same folder in the
/// laptop's mount.
pub fn measure(
    laptop: &Device,
    share: &Path,
    remote: &Path,
    work: &Path,
    files: u64,
    mib: u64,
) -> Result<Rows> {
    let src = work.join("wsrc");
    std::fs::create_dir_all(&src)?;
    let per_file = (mib << 20) / files.max(1);
    for i in 0..files {
        let dir = src.join(format!("d{:02}", i % 20));
        std::fs::create_dir_all(&dir)?;
        distinct_file(&dir.join(format!("f{i:04}.bin")), per_file, i)?;
    }
    let bytes = du(&src);

    settle();
    let cpu = machine_cpu_secs()?;
    let start = Instant::now();
    cp(&src, &remote.join("w-sdfs"))?;
    let sdfs_cp = start.elapsed().as_secs_f64();
    let landed = share.join("w-sdfs");
    wait(Duration::from_secs(1800), || {
        count(&landed) == files && du(&landed) == bytes && pending(laptop).is_ok_and(|n| n == 0)
    })
    .context("the writes never all reached the owner")?;
    let sdfs_delivered = start.elapsed().as_secs_f64();
    let sdfs_cpu = machine_cpu_secs()? - cpu;

    let (rsync, rsync_cpu, sshfs) = if Sshd::available() {
        let sshd = Sshd::start(&work.join("ssh"))?;
        settle();
        let dest = work.join("rsync-dest");
        std::fs::create_dir_all(&dest)?;
        let cpu = machine_cpu_secs()?;
        let start = Instant::now();
        sshd.rsync(&src, &dest)?;
        let rsync = start.elapsed().as_secs_f64();
        let rsync_cpu = machine_cpu_secs()? - cpu;
        ensure!(
            du(&dest) == bytes,
            "rsync copied {} of {bytes} bytes",
            du(&dest)
        );
        settle();
        let dest = work.join("sshfs-dest");
        std::fs::create_dir_all(&dest)?;
        let mount = sshd.sshfs(&dest, &work.join("sshfs-mnt"))?;
        let start = Instant::now();
        cp(&src, &work.join("sshfs-mnt/w"))?;
        drop(mount);
        let sshfs = start.elapsed().as_secs_f64();
        ensure!(
            du(&dest) == bytes,
            "sshfs copied {} of {bytes} bytes",
            du(&dest)
        );
        (Some(rsync), Some(rsync_cpu), Some(sshfs))
    } else {
        eprintln!("sshd, ssh, sshfs or rsync missing: no baselines for writes");
        (None, None, None)
    };

    // close → on the owner's disk, one small file at a time.
    settle();
    let mut visible = Vec::new();
    for i in 0..10 {
        let name = format!("saved-{i}.txt");
        std::fs::write(remote.join(&name), b"saved\n")?;
        let start = Instant::now();
        let there = share.join(&name);
        wait(Duration::from_secs(60), || {
            std::fs::read(&there).is_ok_and(|b| b == b"saved\n")
        })?;
        visible.push(start.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_millis(200));
    }
    visible.sort_by(f64::total_cmp);

    // git clone of a many-file repository.
    let repo = work.join("repo");
    let git_files = 20_000u64;
    for i in 0..git_files {
        let dir = repo.join(format!("src/m{:03}", i / 100));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join(format!("f{i:05}.rs")),
            format!("pub const X: u32 = {i};\n"),
        )?;
    }
    let git = |args: &[&str], dir: &Path| -> Result<()> {
        let status = Command::new("git")
            .args([
                "-c",
                "user.name=bench",
                "-c",
                "user.email=bench@example.org",
            ])
            .args(args)
            .current_dir(dir)
            .status()?;
        ensure!(status.success(), "git {args:?}");
        Ok(())
    };
    git(&["init", "-q"], &repo)?;
    git(&["add", "-A"], &repo)?;
    git(&["commit", "-qm", "many files"], &repo)?;
    let url = repo.display().to_string();
    settle();
    let start = Instant::now();
    git(&["clone", "-q", "--no-local", &url, "clone-local"], work)?;
    let git_local = start.elapsed().as_secs_f64();
    settle();
    let start = Instant::now();
    git(&["clone", "-q", "--no-local", &url, "clone"], remote)?;
    let git_mount = start.elapsed().as_secs_f64();
    let cloned = share.join("clone");
    wait(Duration::from_secs(3600), || {
        pending(laptop).is_ok_and(|n| n == 0) && count(&cloned.join("src")) == git_files
    })
    .context("the clone never all reached the owner")?;
    let git_delivered = start.elapsed().as_secs_f64();
    Ok(Rows {
        files,
        bytes,
        sdfs_cp,
        sdfs_delivered,
        rsync,
        sshfs,
        sdfs_cpu,
        rsync_cpu,
        visible,
        git_files,
        git_local,
        git_mount,
        git_delivered,
    })
}

impl Rows {
    /// The table rows.
    pub fn render(&self) -> String {
        let mib = self.bytes as f64 / (1 << 20) as f64;
        let rate = |secs: f64| mib / secs;
        let against = |base: Option<f64>, what: &str| match base {
            Some(b) => (
                format!("{what} {b:.1} s ({:.0} MiB/s)", rate(b)),
                format!("{:.2}×", b / self.sdfs_delivered),
            ),
            None => (format!("{what}: not installed"), "—".into()),
        };
        let (rsync, r_rsync) = against(self.rsync, "`rsync -a` over ssh");
        let (sshfs, r_sshfs) = against(self.sshfs, "`cp -r` through sshfs");
        let gib = self.bytes as f64 / (1u64 << 30) as f64;
        // The work spread perfectly over every core: no schedule does better.
        let cores = cores() as f64;
        let (rsync_cpu, r_cpu) = match (self.rsync_cpu, self.rsync) {
            (Some(cpu), Some(secs)) => (
                format!("`rsync -a` over ssh {:.1} CPU-s per GiB", cpu / gib),
                format!("at most {:.2}×", secs / (self.sdfs_cpu / cores)),
            ),
            _ => ("`rsync -a` over ssh: not installed".into(), "—".into()),
        };
        let median = self.visible[self.visible.len() / 2] * 1000.0;
        let max = self.visible[self.visible.len() - 1] * 1000.0;
        format!(
            "| {files} files / {mib:.0} MiB written into the nas's folder through the mount, until all are on its disk | {d:.1} s ({dr:.0} MiB/s; `cp -r` returned after {c:.1} s) | {rsync} | {r_rsync} | ≥ 1× |\n\
| the same writes, CPU-seconds of the whole machine (every process and the kernel) per GiB, and the ratio to rsync that this work allows on {cores:.0} cores | {cpu:.1} CPU-s per GiB (at best {floor:.1} s) | {rsync_cpu} | {r_cpu} | — |\n\
| the same writes against sshfs | {d:.1} s | {sshfs} | {r_sshfs} | > 1× |\n\
| `close` on the laptop → file on the nas's disk (10 runs) | median {median:.0} ms, max {max:.0} ms | — | — | ≤ 1 s |\n\
| `git clone` of {g} files into the nas's folder through the mount | clone {gm:.1} s, all on the nas after {gd:.1} s | clone to the local disk {gl:.1} s | {rg:.2}× (clone) | — |\n",
            files = self.files,
            d = self.sdfs_delivered,
            dr = rate(self.sdfs_delivered),
            c = self.sdfs_cp,
            cpu = self.sdfs_cpu / gib,
            floor = self.sdfs_cpu / cores,
            g = self.git_files,
            gm = self.git_mount,
            gd = self.git_delivered,
            gl = self.git_local,
            rg = self.git_local / self.git_mount,
        )
    }
}
