//! What the suites share: their command line, timing, reading to the end,
//! and the incompressible bytes they write.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

/// The flags every suite takes (`cargo xtask bench` passes all three).
#[derive(Debug, Default)]
pub struct Common {
    pub sd: PathBuf,
    pub work: PathBuf,
    pub out: PathBuf,
}

/// Parses `--sd`, `--work` and `--out`, each with a value; any other flag
/// goes to `extra`, with a way to take its value if it has one.
pub fn parse(
    args: &[String],
    mut extra: impl FnMut(&str, &mut dyn FnMut() -> Result<String>) -> Result<()>,
) -> Result<Common> {
    let mut common = Common::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--sd" => common.sd = value()?.into(),
            "--work" => common.work = value()?.into(),
            "--out" => common.out = value()?.into(),
            other => extra(other, &mut value)?,
        }
    }
    Ok(common)
}

/// Seconds `f` takes.
pub fn timed(mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64())
}

/// The shortest of `n` timings, each taken by `f` (which knows what to
/// leave out of its clock).
pub fn best_of(n: usize, mut f: impl FnMut() -> Result<f64>) -> Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..n {
        best = best.min(f()?);
    }
    Ok(best)
}

/// Reads `reader` to its end, 1 MiB at a time; returns the bytes read.
pub fn drain(reader: &mut impl Read) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buf)? {
            0 => return Ok(total),
            n => total += n as u64,
        }
    }
}

/// Fills `buf` with xorshift64 noise from `state`: deterministic and
/// incompressible. Carries on where the last call stopped.
pub fn noise_into(buf: &mut [u8], state: &mut u64) {
    for word in buf.chunks_mut(8) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
    }
}

/// Writes `bytes` of noise to `path` (the same bytes every run).
pub fn random_file(path: &Path, bytes: u64) -> Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut x = 0x243f_6a88_85a3_08d3u64;
    let mut block = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        noise_into(&mut block, &mut x);
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(())
}

/// Writes back every dirty page, so that the next measurement does not
/// share the cores (and the disk) with writeback left by the one before.
pub fn settle() {
    // SAFETY: sync(2) has no preconditions.
    unsafe { libc::sync() };
}

pub fn mibps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / (1 << 20) as f64 / secs
}

/// CPU-seconds spent so far by the whole machine (every process, user,
/// system and interrupts), from `/proc/stat`: work that two daemons, a
/// kernel and a baseline's processes share is counted alike.
pub fn machine_cpu_secs() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().unwrap_or_default();
    let mut fields = line.split_ascii_whitespace();
    anyhow::ensure!(fields.next() == Some("cpu"), "/proc/stat: {line}");
    // user nice system idle iowait irq softirq steal: all but idle and
    // iowait are work.
    let ticks: Vec<u64> = fields.take(8).map(|f| f.parse().unwrap_or(0)).collect();
    anyhow::ensure!(ticks.len() == 8, "/proc/stat: {line}");
    let busy: u64 = [0, 1, 2, 5, 6, 7].iter().map(|&i| ticks[i]).sum();
    // SAFETY: sysconf(3) has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(busy as f64 / hz)
}

/// The machine's cores, as the kernel schedules them.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A daemon (or any child) this suite started: stopped with SIGTERM,
/// killed if it does not stop, and its mount (if any) detached, when
/// dropped.
pub struct Daemon(pub std::process::Child, pub Option<PathBuf>);

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while Instant::now() < deadline && !matches!(self.0.try_wait(), Ok(Some(_))) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        if let Some(mnt) = &self.1 {
            lazy_unmount(mnt);
        }
    }
}

/// Waits until `check` holds; returns how long that took.
pub fn wait(
    limit: std::time::Duration,
    mut check: impl FnMut() -> bool,
) -> Result<std::time::Duration> {
    let start = Instant::now();
    while !check() {
        anyhow::ensure!(start.elapsed() < limit, "gave up after {limit:?}");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    Ok(start.elapsed())
}

/// Detaches whatever is mounted at `path` (nothing if nothing is).
pub fn lazy_unmount(path: &Path) {
    let _ = std::process::Command::new("umount")
        .arg("-l")
        .arg(path)
        .stderr(std::process::Stdio::null())
        .status();
}

/// `path`, an empty directory to mount on: a mount a killed run left there
/// is detached first.
pub fn fresh_mountpoint(path: &Path) -> Result<()> {
    lazy_unmount(path);
    std::fs::create_dir_all(path)?;
    Ok(())
}
