//! `cargo xtask`: how things run here — `ci`, `tidy`, `bench`.

mod bench;
mod compliance;
mod model;
mod tidy;

use std::process::Command;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["ci"] => ci(),
        ["up", rest @ ..] => up(rest),
        ["tidy"] => tidy::check(),
        ["compliance", rest @ ..] => compliance::run(rest),
        ["bench", rest @ ..] => bench::run(rest),
        ["fuzz", target, rest @ ..] => fuzz(target, rest.first().copied()),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  up [PATH]          build sd, create the default library, add PATH (default ~/Documents or ~), index it, mount ~/Spacedrive
  ci                 fmt check, clippy -D warnings, tidy, every test\n  tidy               dependency direction and file hygiene
  compliance [--full] pjdfstest, fsx and fio against a fresh mount\n  bench index [--files N] [--dirs N] [--max-size B] | bench mount [--no-peers] | bench cas [--mib N] | bench devices [--mib N] [--entries N] | bench cloud [--mib N] [--objects N] [--small N] | bench search [--files N] [--dirs N] | bench actions [--files N] [--copy-files N] [--copy-mib M] [--no-copy]   benchmarks into BENCHMARKS.md
  fuzz TARGET [SECONDS]  a fuzz target of fuzz/ (nightly + cargo-fuzz): manifest, pair_messages, sync_messages, chunk_messages, deliver_messages, replica_apply"
            );
            bail!("unknown or missing command")
        }
    }
}

/// `cargo +nightly fuzz run TARGET` in `fuzz/`, for SECONDS (default 60).
fn fuzz(target: &str, seconds: Option<&str>) -> Result<()> {
    let seconds: u64 = seconds.unwrap_or("60").parse().context("SECONDS")?;
    let mut cmd = Command::new("cargo");
    cmd.args([
        "+nightly",
        "fuzz",
        "run",
        "--fuzz-dir",
        "fuzz",
        target,
        "--",
    ])
    .arg(format!("-max_total_time={seconds}"));
    run(&mut cmd).context("needs a nightly toolchain and `cargo install cargo-fuzz`")
}

/// Runs a command from the workspace root, failing if it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let root = workspace_root();
    eprintln!("$ {cmd:?}");
    let status = cmd
        .current_dir(&root)
        .status()
        .with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// The workspace this xtask was run from. Cargo sets `CARGO_MANIFEST_DIR`
/// for `cargo run` too: read at run time, it names this checkout even when
/// a shared target directory holds an xtask built from another one (CI
/// clones into a new folder each run).
pub fn workspace_root() -> std::path::PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    manifest_dir
        .parent()
        .map(ToOwned::to_owned)
        .unwrap_or_default()
}

/// Where cargo puts build output (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(Into::into)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn ci() -> Result<()> {
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The ProjFS binding links only on Windows; here it is type-checked
    // (and linted) against Microsoft's windows-sys.
    run(cargo().args([
        "clippy",
        "-p",
        "sdfs-vfs-projfs",
        "--features",
        "binding",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    tidy::check()?;
    // The end-to-end tests drive the built binary.
    run(cargo().args(["build", "-p", "sdfs-mountd", "--bin", "sd"]))?;
    // Tests run the real embedding model, installed here for them alone.
    let models = target_dir().join("models");
    model::install(&target_dir().join("debug/sd"), Some(&models))?;
    let nextest = Command::new("cargo-nextest")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    // The compliance suites (pjdfstest, fsx, fio) on a real mount.
    compliance::run(&[])?;
    if nextest {
        // nextest does not run doctests; they go first so the run ends on
        // nextest's summary of every test.
        run(cargo().args(["test", "--workspace", "--doc"]))?;
        run(cargo()
            .args(["nextest", "run", "--workspace", "--no-fail-fast"])
            .env("SD_MODELS", &models))
    } else {
        run(cargo()
            .args(["test", "--workspace", "--no-fail-fast"])
            .env("SD_MODELS", &models))
    }
}

/// The README's first command: from a fresh checkout to an indexed library.
fn up(args: &[&str]) -> Result<()> {
    run(cargo().args(["build", "--release", "-p", "sdfs-mountd", "--bin", "sd"]))?;
    let sd = target_dir().join("release/sd");
    let home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/".into());
    let location = match args.first() {
        Some(path) => std::path::PathBuf::from(path),
        None if home.join("Documents").is_dir() => home.join("Documents"),
        None => home,
    };
    run(Command::new(&sd).arg("init"))?;
    // Semantic search; without the model, search is by words.
    if let Err(e) = model::install(&sd, None) {
        eprintln!("semantic search stays off: {e:#}");
    }
    let listed = Command::new(&sd)
        .args(["--json", "location", "list"])
        .output()?;
    let known: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap_or_default();
    let canonical = std::fs::canonicalize(&location)?;
    let already = known
        .as_array()
        .into_iter()
        .flatten()
        .any(|l| l["path"].as_str() == canonical.to_str());
    if !already {
        run(Command::new(&sd).args(["location", "add"]).arg(&location))?;
    }
    run(Command::new(&sd).arg("index"))?;
    run(Command::new(&sd).args(["location", "list"]))?;
    let mountpoint = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/".into())
        .join("Spacedrive");
    eprintln!(
        "\nMounting the VDFS at {} (Ctrl-C unmounts). In another shell: ls {}/*/",
        mountpoint.display(),
        mountpoint.display()
    );
    run(Command::new(&sd).arg("mount").arg(&mountpoint))
}
