//! Harness for the end-to-end tests: the built `sd` binary, throwaway
//! libraries, daemons that are always stopped, and tree generators.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub mod servers;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The `sd` binary next to the test executable, rebuilt once per test
/// process if a source it is built from is newer: `cargo nextest run`
/// builds the tests, not the binary they drive, and a stale `sd` would
/// test old code.
pub fn sd_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/e2e-<hash> → target/<profile>/sd
        let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
        let bin = profile_dir.join("sd");
        if stale(&bin) {
            let mut build = Command::new(env!("CARGO"));
            build.args(["build", "--quiet", "-p", "sdfs-mountd", "--bin", "sd"]);
            if profile_dir.file_name() == Some(OsStr::new("release")) {
                build.arg("--release");
            }
            let status = build.status().expect("cargo build");
            assert!(status.success(), "building sd failed");
            // Cargo leaves a binary it had no reason to relink as it was:
            // marked fresh, the next test process does not build again.
            let _ = std::fs::File::open(&bin)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()));
        }
        bin
    })
}

/// Whether `bin` is missing or older than the workspace's manifest or lock
/// file, or the manifest or a source of a crate it links. A stat per file:
/// far cheaper than a no-op `cargo build` in every test process.
fn stale(bin: &Path) -> bool {
    let Ok(built) = bin.metadata().and_then(|m| m.modified()) else {
        return true;
    };
    // At run time (cargo and nextest set it), so a test binary built from
    // another checkout sharing the target directory checks this one.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let workspace = manifest_dir
        .parent()
        .expect("the workspace holds the tests");
    let crates = [
        "core", "cas", "p2p", "cloud", "search", "vfs-fuse", "mountd",
    ];
    ["Cargo.toml", "Cargo.lock"]
        .iter()
        .map(|file| workspace.join(file))
        .chain(crates.iter().flat_map(|c| {
            [
                workspace.join(c).join("Cargo.toml"),
                workspace.join(c).join("src"),
            ]
        }))
        .any(|part| newer_than(&part, built))
}

fn newer_than(path: &Path, time: std::time::SystemTime) -> bool {
    let Ok(meta) = path.symlink_metadata() else {
        return false;
    };
    if meta.is_dir() {
        std::fs::read_dir(path)
            .is_ok_and(|items| items.flatten().any(|item| newer_than(&item.path(), time)))
    } else {
        meta.modified().is_ok_and(|m| m > time)
    }
}

/// A library in a temp dir, driven through the `sd` binary.
pub struct Sd {
    pub root: tempfile::TempDir,
    pub lib: PathBuf,
    pub device: String,
}

impl Sd {
    /// A fresh library for a device named `device`.
    pub fn init(device: &str) -> Result<Sd> {
        let root = tempfile::tempdir()?;
        let lib = root.path().join("test.sdlibrary");
        let sd = Sd {
            root,
            lib,
            device: device.to_owned(),
        };
        sd.ok(["init", "--name", device])?;
        Ok(sd)
    }

    /// A path inside this test's temp dir.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(sd_bin());
        cmd.arg("--library")
            .arg(&self.lib)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `sd ARGS`, failing with its stderr unless it succeeds.
    pub fn ok<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.cmd(args).output()?;
        if !out.status.success() {
            bail!(
                "sd failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out)
    }

    /// Runs `sd --json ARGS` and parses the result (the last stdout line).
    pub fn json<I, S>(&self, args: I) -> Result<Value>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<std::ffi::OsString> = vec!["--json".into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        let out = self.ok(all)?;
        let text = String::from_utf8(out.stdout)?;
        let last = text.lines().last().context("no output")?;
        Ok(serde_json::from_str(last)?)
    }

    /// Runs `sd ARGS`, expecting failure; returns stderr.
    pub fn fails<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.cmd(args).output()?;
        if out.status.success() {
            bail!(
                "sd unexpectedly succeeded: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        Ok(String::from_utf8(out.stderr)?)
    }

    /// `sd location add DIR --name NAME`.
    pub fn add_location(&self, dir: &Path, name: &str) -> Result<()> {
        let mut args: Vec<std::ffi::OsString> =
            vec!["location".into(), "add".into(), dir.as_os_str().to_owned()];
        args.extend(["--name".into(), name.into()]);
        self.ok(args)?;
        Ok(())
    }

    /// Every indexed path below `uri` as (relative name bytes, kind, size,
    /// content id), sorted: what must match between two runs.
    pub fn dump(&self, uri: &str) -> Result<Vec<(String, String, u64, String)>> {
        let rows = self.json(["ls", "-R", uri])?;
        let mut out: Vec<_> = rows
            .as_array()
            .context("ls -R returns an array")?
            .iter()
            .map(|r| {
                (
                    r["uri"].as_str().unwrap_or_default().to_owned(),
                    r["kind"].as_str().unwrap_or_default().to_owned(),
                    r["size"].as_u64().unwrap_or_default(),
                    r["content_id"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Starts `sd daemon` on this library and waits for its control socket.
    pub fn daemon(&self) -> Result<Daemon> {
        self.daemon_with(&[])
    }

    /// `sd daemon ARGS...`, waiting for its control socket.
    pub fn daemon_with(&self, args: &[&str]) -> Result<Daemon> {
        self.daemon_in(&[], args)
    }

    /// `WRAPPER... sd daemon ARGS...` (e.g. `ip netns exec NS`), waiting for
    /// its control socket (a file, reachable from any network namespace).
    pub fn daemon_in(&self, wrapper: &[&str], args: &[&str]) -> Result<Daemon> {
        let mut all = vec!["daemon"];
        all.extend_from_slice(args);
        let cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut cmd = Command::new(program);
                cmd.args(rest)
                    .arg(sd_bin())
                    .arg("--library")
                    .arg(&self.lib)
                    .args(&all)
                    .stdin(Stdio::null());
                cmd
            }
            None => self.cmd(all),
        };
        self.spawn_daemon(cmd)
    }

    /// Spawns `cmd` (an `sd daemon` command line, perhaps with its own
    /// environment) and waits for its control socket.
    pub fn spawn_daemon(&self, mut cmd: Command) -> Result<Daemon> {
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn()?;
        let daemon = Daemon { child: Some(child) };
        let socket = self.lib.join("sd.sock");
        wait_for(Duration::from_secs(20), || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        })
        .context("daemon control socket never came up")?;
        Ok(daemon)
    }
}

impl Sd {
    /// Runs `sd mount MOUNTPOINT` (at `<tmp>/mnt`) and waits for the mount.
    pub fn mount(&self) -> Result<Mount> {
        self.mount_with(&[])
    }

    /// Runs `sd daemon --mount <tmp>/mnt ARGS...` when `args` is not empty
    /// (`sd mount <tmp>/mnt` otherwise) and waits for the mount.
    pub fn mount_with(&self, args: &[&str]) -> Result<Mount> {
        let mountpoint = self.path("mnt");
        match std::fs::create_dir_all(&mountpoint) {
            // A stale mount from a killed daemon (`stat` says ENOTCONN, so
            // mkdir is tried and says EEXIST): `sd mount` must clean it.
            Err(e)
                if e.raw_os_error() == Some(libc::ENOTCONN)
                    || e.kind() == std::io::ErrorKind::AlreadyExists => {}
            other => other?,
        }
        let log_path = self.path("mount.log");
        let log = std::fs::File::create(&log_path)?;
        let mut argv: Vec<std::ffi::OsString> = if args.is_empty() {
            vec!["mount".into(), mountpoint.clone().into()]
        } else {
            vec!["daemon".into(), "--mount".into(), mountpoint.clone().into()]
        };
        argv.extend(args.iter().map(std::ffi::OsString::from));
        let child = self
            .cmd(argv)
            .env("SD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let mount = Mount {
            child: Some(child),
            mountpoint,
            log_path,
            device: self.device.clone(),
        };
        // The daemon says when its mount is up; the device directory then
        // answers (the kernel may still cache names of a stale predecessor,
        // so the log line is what tells the two apart).
        let device_dir = mount.mountpoint.join(&mount.device);
        wait_for(Duration::from_secs(20), || {
            mount.log().contains("sd: mounted") && device_dir.is_dir()
        })
        .with_context(|| format!("mount never appeared; log: {}", mount.log()))?;
        Ok(mount)
    }
}

/// Fails if the daemon behind `mount` left a FUSE request unanswered
/// (fuser logs "Reply not sent").
pub fn no_dropped_replies(mount: &Mount) -> Result<()> {
    let log = mount.log();
    anyhow::ensure!(
        !log.contains("Reply not sent"),
        "the daemon dropped a reply:\n{log}"
    );
    Ok(())
}

/// Whether a filesystem is mounted exactly at `path`.
pub fn is_mounted(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let needle = path.as_os_str().as_bytes();
    text.lines()
        .any(|line| line.split(' ').nth(4).map(str::as_bytes) == Some(needle))
}

/// A running `sd mount`. Dropping it stops the daemon (SIGTERM) and, should
/// the mount outlive it, detaches the mount so nothing leaks.
pub struct Mount {
    child: Option<Child>,
    pub mountpoint: PathBuf,
    log_path: PathBuf,
    device: String,
}

impl Mount {
    /// `<mountpoint>/<device>/<location>`.
    pub fn location(&self, name: &str) -> PathBuf {
        self.mountpoint.join(&self.device).join(name)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// What the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGTERM, wait for exit, and report whether the mount is gone.
    pub fn stop(mut self) -> Result<std::process::ExitStatus> {
        let mut child = self.child.take().context("already stopped")?;
        let status = terminate(&mut child)?;
        anyhow::ensure!(
            !is_mounted(&self.mountpoint),
            "still mounted after the daemon exited"
        );
        Ok(status)
    }

    /// SIGKILL: the daemon dies without unmounting, leaving a stale mount.
    pub fn kill(mut self) -> Result<StaleMount> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        let path = std::mem::take(&mut self.mountpoint);
        Ok(StaleMount { path })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = terminate(&mut child);
        }
        if !self.mountpoint.as_os_str().is_empty() && is_mounted(&self.mountpoint) {
            lazy_unmount(&self.mountpoint);
        }
    }
}

/// The mount a killed daemon left behind; detached on drop if still stale.
pub struct StaleMount {
    pub path: PathBuf,
}

impl Drop for StaleMount {
    fn drop(&mut self) {
        if std::fs::read_dir(&self.path)
            .err()
            .and_then(|e| e.raw_os_error())
            == Some(libc::ENOTCONN)
        {
            lazy_unmount(&self.path);
        }
    }
}

/// Detaches whatever is mounted at `path`.
pub fn lazy_unmount(path: &Path) {
    let _ = Command::new("umount").arg("-l").arg(path).status();
    if is_mounted(path) {
        let _ = Command::new("fusermount3")
            .arg("-u")
            .arg("-z")
            .arg(path)
            .status();
    }
}

/// A running `sd daemon`, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Daemon {
    child: Option<Child>,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> Result<std::process::ExitStatus> {
        let mut child = self.child.take().context("already stopped")?;
        terminate(&mut child)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = terminate(&mut child);
        }
    }
}

fn terminate(child: &mut Child) -> Result<std::process::ExitStatus> {
    // SAFETY: signalling a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill()?;
    bail!("daemon ignored SIGTERM for 10 s")
}

/// SIGKILLs a daemon: it dies without a word to anyone.
pub fn kill(mut daemon: Daemon) -> Result<()> {
    if let Some(mut child) = daemon.child.take() {
        child.kill()?;
        child.wait()?;
    }
    Ok(())
}

/// Polls `check` until it holds or `limit` passes.
pub fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> Result<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return Ok(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("condition not met within {limit:?}")
}

/// `len` deterministic incompressible bytes (xorshift), different for
/// every `seed`.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Writes `bytes` at `root/rel` (rel as raw bytes), creating parents.
pub fn write_file(root: &Path, rel: &[u8], bytes: &[u8]) -> Result<PathBuf> {
    let path = root.join(OsStr::from_bytes(rel));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, bytes)?;
    Ok(path)
}

/// A deterministic tree of `dirs` directories with `files_per_dir` small files
/// each (content varies with the index; every 7th file is a duplicate).
pub fn generate_tree(root: &Path, dirs: usize, files_per_dir: usize) -> Result<u64> {
    let mut count = 0;
    for d in 0..dirs {
        let dir = root.join(format!("d{:03}/s{:04}", d % 37, d));
        std::fs::create_dir_all(&dir)?;
        for f in 0..files_per_dir {
            let n = d * files_per_dir + f;
            let body = if n.is_multiple_of(7) {
                "duplicate body\n".to_string()
            } else {
                format!("file {n}\n").repeat(1 + n % 50)
            };
            std::fs::write(dir.join(format!("f{f:03}.txt")), body)?;
            count += 1;
        }
    }
    Ok(count)
}

/// Whether the tests run as root (then permission tests drop capabilities).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a shell pipeline; fails with its stderr.
pub fn sh(script: &str) -> Result<String> {
    let out = Command::new("sh").arg("-c").arg(script).output()?;
    anyhow::ensure!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `path` single-quoted for `sh` (test paths hold no quotes).
pub fn q(path: &Path) -> String {
    format!("'{}'", path.display())
}

/// A file's mtime as `touch -d @...` takes it, to put it back after a write.
pub fn filetime_of(md: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!("{}.{:09}", md.mtime(), md.mtime_nsec())
}

/// A JPEG with nothing but EXIF: `model` and `taken`
/// (`YYYY:MM:DD HH:MM:SS`), little-endian TIFF.
pub fn jpeg_with_exif(model: &str, taken: &str) -> Vec<u8> {
    let mut model = model.as_bytes().to_vec();
    model.push(0);
    let mut taken = taken.as_bytes().to_vec();
    taken.push(0);
    let ifd0 = 8u32;
    let exif_ifd = ifd0 + 2 + 2 * 12 + 4;
    let model_at = exif_ifd + 2 + 12 + 4;
    let taken_at = model_at + model.len() as u32;
    let mut tiff = b"II\x2a\x00".to_vec();
    tiff.extend(ifd0.to_le_bytes());
    let entry = |tiff: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32| {
        tiff.extend(tag.to_le_bytes());
        tiff.extend(kind.to_le_bytes());
        tiff.extend(count.to_le_bytes());
        tiff.extend(value.to_le_bytes());
    };
    tiff.extend(2u16.to_le_bytes());
    entry(&mut tiff, 0x0110, 2, model.len() as u32, model_at);
    entry(&mut tiff, 0x8769, 4, 1, exif_ifd);
    tiff.extend(0u32.to_le_bytes());
    tiff.extend(1u16.to_le_bytes());
    entry(&mut tiff, 0x9003, 2, taken.len() as u32, taken_at);
    tiff.extend(0u32.to_le_bytes());
    tiff.extend(&model);
    tiff.extend(&taken);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(&tiff);
    let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe1];
    jpeg.extend(((app1.len() + 2) as u16).to_be_bytes());
    jpeg.extend(&app1);
    jpeg.extend([0xff, 0xd9]);
    jpeg
}

/// A one-page PDF whose page shows `lines` of text (Helvetica, one line
/// each), with a correct cross-reference table, as a PDF writer makes it.
pub fn pdf_with_text(lines: &[&str]) -> Vec<u8> {
    let escape = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('(', "\\(")
            .replace(')', "\\)")
    };
    let mut content = String::from("BT /F1 12 Tf 72 720 Td 14 TL\n");
    for line in lines {
        content.push_str(&format!("({}) '\n", escape(line)));
    }
    content.push_str("ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_owned(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}
