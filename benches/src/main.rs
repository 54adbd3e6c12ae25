//! `sdfs-bench`: system benchmarks run by `cargo xtask bench`. Each figure is
//! written beside a baseline measured in the same run.

mod index;

use anyhow::{Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("index") => index::run(&args[1..]),
        _ => bail!(
            "usage: sdfs-bench index --sd PATH --work DIR --out BENCHMARKS.md [--files N] [--dirs N]"
        ),
    }
}
