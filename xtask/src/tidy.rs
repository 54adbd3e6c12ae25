//! Architecture checks that a compiler does not make: dependencies point
//! inward, and every Rust file says what it is for.

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Workspace crates each crate may depend on (normal dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("sdfs-cas", &[]),
    ("sdfs-core", &["sdfs-cas"]),
    ("sdfs-p2p", &["sdfs-core", "sdfs-cas"]),
    ("sdfs-cloud", &["sdfs-core"]),
    ("sdfs-vfs-fuse", &["sdfs-core", "sdfs-cas"]),
    ("sdfs-vfs-projfs", &["sdfs-core", "sdfs-cas"]),
    ("sdfs-search", &["sdfs-core", "sdfs-cas"]),
    (
        "sdfs-mountd",
        &[
            "sdfs-core",
            "sdfs-cas",
            "sdfs-p2p",
            "sdfs-cloud",
            "sdfs-vfs-fuse",
            "sdfs-vfs-projfs",
            "sdfs-search",
        ],
    ),
];

/// External crates `core` must never name: adapters' types stay in adapters.
const FORBIDDEN_IN_CORE: &[&str] = &["fuser", "libp2p", "opendal", "windows", "tokio", "tantivy"];

pub fn check() -> Result<()> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(crate::workspace_root())
        .output()
        .context("cargo metadata")?;
    let meta: Value = serde_json::from_slice(&out.stdout)?;
    let mut problems = Vec::new();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    for package in meta["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default();
        let Some(allowed) = allowed.get(name) else {
            continue;
        };
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            if dep["kind"].is_null()
                && dep_name.starts_with("sdfs-")
                && !allowed.contains(&dep_name)
            {
                problems.push(format!(
                    "{name} must not depend on {dep_name} (dependencies point inward)"
                ));
            }
            if name == "sdfs-core" && FORBIDDEN_IN_CORE.contains(&dep_name) {
                problems.push(format!("sdfs-core must not depend on {dep_name}: it defines traits, adapters implement them"));
            }
        }
    }
    let root = crate::workspace_root();
    for file in rust_files(&root)? {
        let text = std::fs::read_to_string(&file)?;
        let rel = file.strip_prefix(&root).unwrap_or(&file);
        problems.extend(seam_problems(rel, &text));
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty() && !l.starts_with("#!"))
            .unwrap_or_default();
        if !first.starts_with("//!") {
            problems.push(format!(
                "{} does not open with a //! line saying what it is for",
                file.display()
            ));
        }
    }
    if !problems.is_empty() {
        bail!("tidy found problems:\n  {}", problems.join("\n  "));
    }
    eprintln!("tidy: ok");
    Ok(())
}

/// The seam between core and the adapters, in the source: core names no
/// `libc` outside its Unix backend, and the FUSE adapter names no errno
/// outside its one match and passes no raw OS error code through.
fn seam_problems(rel: &std::path::Path, text: &str) -> Vec<String> {
    let shown = rel.display();
    let mut out = Vec::new();
    if rel.starts_with("core/src") && !rel.starts_with("core/src/sys") && text.contains("libc::") {
        out.push(format!(
            "{shown} names libc: system calls belong in core/src/sys (the Unix backend)"
        ));
    }
    // Device-owned tables change only through DeviceData, which logs every
    // change for replicas in the same transaction.
    let raw_ok = [
        "core/src/library/schema.rs",
        "core/src/library/maintenance.rs",
        "core/src/sync/device_data.rs",
        "core/src/sync/changes.rs",
    ];
    if rel.starts_with("core/src")
        && !raw_ok.iter().any(|ok| rel == std::path::Path::new(ok))
        && (text.contains("raw_definition()") || text.contains("ChangeLog::open"))
    {
        out.push(format!(
            "{shown} opens a device-owned table or the change log directly: write through sync::DeviceData"
        ));
    }
    if rel.starts_with("vfs-fuse/src") && rel != std::path::Path::new("vfs-fuse/src/errno.rs") {
        if text.contains("libc::E") {
            out.push(format!(
                "{shown} names an errno: errors become errno only in vfs-fuse/src/errno.rs"
            ));
        }
        if text.contains("raw_os_error") || text.contains("from_raw_os_error") {
            out.push(format!(
                "{shown} passes a raw OS error code: map core's ErrorKind instead"
            ));
        }
    }
    out
}

fn rust_files(root: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_workspace_is_tidy() {
        super::check().expect("tidy");
    }
}
