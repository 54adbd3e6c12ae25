//! `sdfs-bench`: system benchmarks run by `cargo xtask bench`. Each figure is
//! written beside a baseline measured in the same run.

mod index;
mod mount;

use anyhow::{Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("index") => index::run(&args[1..]),
        Some("mount") => mount::run(&args[1..]),
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
            "usage: sdfs-bench index --sd PATH --work DIR --out BENCHMARKS.md [--files N] [--dirs N]"
        ),
    }
}
