//! `cargo xtask compliance`: pjdfstest, fsx and fio against a fresh mount.
//!
//! Needs `pjdfstest` (`cargo install --locked pjdfstest`, with libacl1-dev),
//! `fsx` (`cargo install --locked fsx`) and `fio`; `.ci/run` installs them.
//! `--full` runs fsx for a million operations instead of 100,000.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

struct MountGuard {
    child: Child,
    mountpoint: PathBuf,
    work: PathBuf,
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if is_mounted(&self.mountpoint) {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mountpoint)
                .status();
        }
        // Never delete into a live mount.
        if !is_mounted(&self.mountpoint) {
            let _ = std::fs::remove_dir_all(&self.work);
        }
    }
}

fn is_mounted(path: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == path.to_str())
}

fn need(tool: &str, hint: &str) -> Result<()> {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()?;
    ensure!(found.success(), "{tool} is not installed ({hint})");
    Ok(())
}

fn expected_failures(root: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(root.join("compliance/expected-failures.toml"))?;
    // `expected = ["a", "b", ...]`, possibly over several lines.
    let start = text.find("expected").context("no `expected` list")?;
    let list = &text[start..];
    let open = list.find('[').context("no list")?;
    let close = list.find(']').context("unterminated list")?;
    Ok(list[open + 1..close]
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_owned())
        .filter(|s| !s.is_empty() && !s.starts_with('#'))
        .collect())
}

pub fn run(args: &[&str]) -> Result<()> {
    let full = args.contains(&"--full");
    need(
        "pjdfstest",
        "cargo install --locked pjdfstest; needs libacl1-dev",
    )?;
    need("fsx", "cargo install --locked fsx")?;
    need("fio", "apt-get install fio")?;
    // pjdfstest switches to these users for permission tests.
    if Command::new("id")
        .arg("tests")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?
        .code()
        != Some(0)
    {
        crate::run(Command::new("useradd").args(["-M", "-U", "-s", "/usr/sbin/nologin", "tests"]))?;
    }
    let root = crate::workspace_root();
    crate::run(Command::new("cargo").args(["build", "-p", "sdfs-mountd", "--bin", "sd"]))?;
    let sd = crate::target_dir().join("debug/sd");
    let work = tempdir()?;
    let (lib, data, mnt) = (work.join("lib"), work.join("data"), work.join("m"));
    std::fs::create_dir_all(&data)?;
    std::fs::create_dir_all(&mnt)?;
    std::fs::set_permissions(&work, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let sd_cmd = |args: &[&str]| {
        let mut c = Command::new(&sd);
        c.arg("--library").arg(&lib).args(args);
        c
    };
    crate::run(sd_cmd(&["init", "--name", "laptop"]).stdout(Stdio::null()))?;
    crate::run(
        sd_cmd(&[
            "location",
            "add",
            data.to_str().unwrap_or_default(),
            "--name",
            "T",
        ])
        .stdout(Stdio::null()),
    )?;
    let log = work.join("mount.log");
    let child = sd_cmd(&["mount", mnt.to_str().unwrap_or_default()])
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    let guard = MountGuard {
        child,
        mountpoint: mnt.clone(),
        work: work.clone(),
    };
    let target = mnt.join("laptop/T");
    let start = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("sd: mounted")
        || !target.is_dir()
    {
        ensure!(
            start.elapsed() < Duration::from_secs(30),
            "mount did not come up: {}",
            std::fs::read_to_string(&log)?
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // pjdfstest
    let expected = expected_failures(&root)?;
    let config = work.join("pjdfstest.toml");
    std::fs::write(
        &config,
        format!(
            "[features]\nposix_fallocate = {{}}\nrename_ctime = {{}}\nutime_now = {{}}\nutimensat = {{}}\n\n\
             [settings]\nnaptime = 0.1\nallow_remount = false\nexpected_failures = [{}]\n\n\
             [dummy_auth]\nentries = [[\"nobody\", \"nogroup\"], [\"tests\", \"tests\"]]\n",
            expected
                .iter()
                .map(|e| format!("\"{e}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )?;
    let pjd_dir = target.join("pjdfstest");
    std::fs::create_dir(&pjd_dir)?;
    eprintln!("$ pjdfstest on the mount");
    let out = Command::new("pjdfstest")
        .arg("-c")
        .arg(&config)
        .arg("-p")
        .arg(&pjd_dir)
        .current_dir(&pjd_dir)
        .output()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    std::fs::write(crate::target_dir().join("pjdfstest-mount.log"), &text)?;
    let summary = text
        .lines()
        .find(|l| l.starts_with("Summary:"))
        .unwrap_or("no summary")
        .to_owned();
    let failed: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_end().ends_with("FAILED"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    eprintln!("pjdfstest: {summary}");
    let unexpected: Vec<&&str> = failed
        .iter()
        .filter(|f| !expected.iter().any(|e| e == *f))
        .collect();
    if !unexpected.is_empty() {
        bail!("pjdfstest: unexpected failures {unexpected:?} (log in target/pjdfstest-mount.log)");
    }
    let fixed: Vec<&String> = expected
        .iter()
        .filter(|e| !failed.contains(&e.as_str()))
        .collect();
    if !fixed.is_empty() {
        bail!("pjdfstest: {fixed:?} pass now; remove them from compliance/expected-failures.toml");
    }

    // fsx
    let ops = if full { "1000000" } else { "100000" };
    eprintln!("$ fsx -N {ops} on the mount");
    let fsx_dir = work.join("fsx-artifacts");
    std::fs::create_dir_all(&fsx_dir)?;
    crate::run(
        Command::new("fsx")
            .args(["-N", ops, "-S", "42", "-q", "-f"])
            .arg(root.join("compliance/fsx.toml"))
            .arg("-P")
            .arg(&fsx_dir)
            .arg(target.join("fsx.file")),
    )?;

    // fio with verification
    eprintln!("$ fio --verify=crc32c on the mount");
    crate::run(
        Command::new("fio")
            .args([
                "--name=verify",
                "--rw=randwrite",
                "--bs=4k",
                "--size=64m",
                "--ioengine=psync",
                "--verify=crc32c",
                "--do_verify=1",
                "--verify_fatal=1",
                "--output-format=terse",
            ])
            .arg(format!("--directory={}", target.display()))
            // fio leaves its verify state in the working directory.
            .current_dir(&work)
            .stdout(Stdio::null()),
    )?;
    let mount_log = std::fs::read_to_string(&log)?;
    ensure!(
        !mount_log.contains("Reply not sent"),
        "the daemon dropped replies:\n{mount_log}"
    );
    drop(guard);
    ensure!(!is_mounted(&mnt), "mount leaked");
    eprintln!("compliance: pjdfstest {summary}; fsx {ops} operations ok; fio crc32c verify ok");
    Ok(())
}

/// A short path: pjdfstest binds Unix sockets by path, and sun_path holds
/// only 108 bytes.
fn tempdir() -> Result<PathBuf> {
    let dir = PathBuf::from(format!("/tmp/sdc{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
