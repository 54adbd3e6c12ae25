//! `sdfs-bench`: system benchmarks run by `cargo xtask bench`. Each figure is
//! written beside a baseline measured in the same run.

mod actions;
mod cas;
mod cloud;
mod common;
mod devices;
mod index;
mod mount;
mod noise;
mod search;

use anyhow::{Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("index") => index::run(&args[1..]),
        Some("actions") => actions::run(&args[1..]),
        Some("mount") => mount::run(&args[1..]),
        Some("cas") => cas::run(&args[1..]),
        Some("devices") => devices::run(&args[1..]),
        Some("cloud") => cloud::run(&args[1..]),
        Some("search") => search::run(&args[1..]),
        Some("dbstats") => {
            let dir = args
                .get(1)
                .map(std::path::PathBuf::from)
                .unwrap_or_default();
            let lib = sdfs_core::Library::open(&dir)?;
            for t in lib.table_usage()? {
                println!("{}", serde_json::to_string(&t)?);
            }
            Ok(())
        }
        _ => bail!(
            "usage: sdfs-bench index|mount|cas|devices|cloud|search|actions --sd PATH --work DIR --out BENCHMARKS.md [suite options]"
        ),
    }
}

/// One line naming the machine a table was measured on.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    format!(
        "Machine: {} cores ({cpu}), kernel {}, release build.",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    )
}
