//! `cargo xtask bench <suite>`: builds release binaries and runs `sdfs-bench`,
//! which writes its table into BENCHMARKS.md.

use std::process::Command;

use anyhow::{Result, bail};

pub fn run(args: &[&str]) -> Result<()> {
    let Some((&suite, rest)) = args.split_first() else {
        bail!("usage: cargo xtask bench index|mount|cas|devices|cloud|search|actions [options]")
    };
    if ![
        "index", "mount", "cas", "devices", "cloud", "search", "actions",
    ]
    .contains(&suite)
    {
        bail!(
            "unknown benchmark suite {suite:?} (available: index, mount, cas, devices, cloud, search, actions)"
        );
    }
    let root = crate::workspace_root();
    crate::run(Command::new("cargo").args([
        "build",
        "--release",
        "-p",
        "sdfs-mountd",
        "-p",
        "sdfs-benches",
    ]))?;
    let release = crate::target_dir().join("release");
    let work = std::env::var("SD_BENCH_DIR")
        .map(Into::into)
        .unwrap_or_else(|_| crate::target_dir().join("bench-work"));
    std::fs::create_dir_all(&work)?;
    let mut cmd = Command::new(release.join("sdfs-bench"));
    cmd.arg(suite)
        .arg("--sd")
        .arg(release.join("sd"))
        .arg("--work")
        .arg(&work)
        .arg("--out")
        .arg(root.join("BENCHMARKS.md"))
        .args(rest);
    crate::run(&mut cmd)
}
