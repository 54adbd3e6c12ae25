//! Indexing real trees: names as bytes, symlinks, rules, unreadable
//! directories, moves, re-indexing, duplicates.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;

use anyhow::Result;
use sdfs_tests::{Sd, is_root, write_file};
use serde_json::Value;

fn finished(result: &Value) -> &Value {
    &result[0]["counters"]
}

#[test]
fn indexes_names_as_bytes_symlinks_and_follows_the_rules() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let data = sd.path("data");
    write_file(&data, b"plain.txt", b"plain")?;
    write_file(&data, b"caf\xe9/\xff\xfe.bin", b"not utf-8 at all")?;
    write_file(
        &data,
        b"node_modules/pkg/index.js",
        b"skipped by the dev-dir rule",
    )?;
    write_file(&data, b".hidden", b"skipped by the hidden rule")?;
    write_file(&data, b"notes.txt.swp", b"skipped by the temp rule")?;
    write_file(&data, b"repo/.git/HEAD", b"ref: refs/heads/main")?;
    write_file(&data, b"repo/.gitignore", b"*.log\n")?;
    write_file(&data, b"repo/build.log", b"ignored inside the repo")?;
    write_file(&data, b"repo/src/main.rs", b"fn main() {}")?;
    write_file(
        &data,
        b"outside.log",
        b"a .log outside any repository is kept",
    )?;
    let elsewhere = sd.path("elsewhere");
    write_file(&elsewhere, b"secret.txt", b"outside the location")?;
    std::os::unix::fs::symlink(&elsewhere, data.join("link-out"))?;

    sd.ok([
        std::ffi::OsStr::new("location"),
        "add".as_ref(),
        data.as_os_str(),
        "--name".as_ref(),
        "Docs".as_ref(),
    ])?;
    let result = sd.json(["index"])?;
    assert_eq!(result[0]["state"], "completed");

    let names: Vec<String> = sd
        .dump("sd://laptop/Docs")?
        .into_iter()
        .map(|r| r.0)
        .collect();
    let expected = [
        "sd://laptop/Docs/caf%E9",
        "sd://laptop/Docs/caf%E9/%FF%FE.bin",
        "sd://laptop/Docs/link-out",
        "sd://laptop/Docs/outside.log",
        "sd://laptop/Docs/plain.txt",
        "sd://laptop/Docs/repo",
        "sd://laptop/Docs/repo/src",
        "sd://laptop/Docs/repo/src/main.rs",
    ];
    assert_eq!(names, expected);

    // The symlink is recorded, never followed out of the location.
    let link = sd.json(["stat", "sd://laptop/Docs/link-out"])?;
    assert_eq!(link["kind"], "symlink");
    assert_eq!(link["link_target"], elsewhere.to_string_lossy().as_ref());

    // A non-UTF-8 name resolves through its URI and has its content identity.
    let odd = sd.json(["stat", "sd://laptop/Docs/caf%E9/%FF%FE.bin"])?;
    assert_eq!(odd["size"], 16);
    let mut input = 16u64.to_le_bytes().to_vec();
    input.extend_from_slice(b"not utf-8 at all");
    assert_eq!(odd["content_hash"], &blake3::hash(&input).to_hex()[..16]);
    assert_eq!(
        sd.json(["stat", "sd://laptop/Docs/repo/src/main.rs"])?["file_kind"],
        "code"
    );

    // What the rules skip is still visible live, but marked as not indexed.
    let skipped = sd.json(["stat", "sd://laptop/Docs/node_modules/pkg/index.js"])?;
    assert_eq!(skipped["indexed"], false);
    Ok(())
}

#[test]
fn rules_can_be_turned_off_per_location() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let data = sd.path("data");
    write_file(&data, b".hidden", b"h")?;
    write_file(&data, b"node_modules/x.js", b"x")?;
    let args = [
        "location",
        "add",
        data.to_str().unwrap_or_default(),
        "--index-hidden",
        "--index-dev-dirs",
    ];
    sd.ok(args)?;
    sd.ok(["index"])?;
    let names: Vec<String> = sd
        .dump("sd://laptop/data")?
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(
        names,
        [
            "sd://laptop/data/.hidden",
            "sd://laptop/data/node_modules",
            "sd://laptop/data/node_modules/x.js"
        ]
    );
    Ok(())
}

#[test]
fn unchanged_reindex_writes_nothing_and_moves_keep_their_ids() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let data = sd.path("data");
    sdfs_tests::generate_tree(&data, 40, 10)?;
    sd.add_location(&data, "T")?;
    let first = sd.json(["index", "T"])?;
    assert_eq!(finished(&first)["created"], 400 + 40 + 37);
    let before = sd.dump("sd://laptop/T")?;

    let again = sd.json(["index", "T"])?;
    let c = finished(&again);
    for field in ["created", "updated", "moved", "removed", "identified"] {
        assert_eq!(c[field], 0, "{field} on an unchanged tree: {c}");
    }
    assert_eq!(sd.dump("sd://laptop/T")?, before);

    // A rename within a directory and a move across directories keep ids.
    let file = "sd://laptop/T/d001/s0001/f003.txt";
    let id = sd.json(["stat", file])?["entry_id"].clone();
    let content = sd.json(["stat", file])?["content_id"].clone();
    let dir = "sd://laptop/T/d002/s0002";
    let dir_id = sd.json(["stat", dir])?["entry_id"].clone();
    std::fs::rename(
        data.join("d001/s0001/f003.txt"),
        data.join("d005/s0005/moved.txt"),
    )?;
    std::fs::rename(data.join("d002/s0002"), data.join("d003/renamed-dir"))?;
    let moved = sd.json(["index", "T"])?;
    let c = finished(&moved);
    assert_eq!(c["moved"], 2, "{c}");
    assert_eq!(c["removed"], 0, "{c}");
    assert_eq!(c["created"], 0, "{c}");
    let now = sd.json(["stat", "sd://laptop/T/d005/s0005/moved.txt"])?;
    assert_eq!(now["entry_id"], id);
    assert_eq!(now["content_id"], content);
    assert_eq!(
        sd.json(["stat", "sd://laptop/T/d003/renamed-dir"])?["entry_id"],
        dir_id
    );
    assert_eq!(
        sd.json(["stat", "sd://laptop/T/d003/renamed-dir/f000.txt"])?["indexed"],
        true
    );
    assert!(sd.fails(["stat", file])?.contains("No such file"));

    // Deleting and editing are seen too; aggregates follow.
    std::fs::remove_dir_all(data.join("d004"))?;
    std::fs::write(
        data.join("d006/s0006/f000.txt"),
        b"edited, longer than before",
    )?;
    let changed = sd.json(["index", "T"])?;
    let c = finished(&changed);
    assert!(c["removed"].as_u64() > Some(0), "{c}");
    assert_eq!(c["updated"].as_u64().map(|n| n >= 1), Some(true), "{c}");
    assert_eq!(c["identified"], 1, "{c}");
    let root = sd.json(["stat", "sd://laptop/T"])?;
    let on_disk: u64 = walk_sizes(&data);
    assert_eq!(root["size"].as_u64(), Some(on_disk));
    Ok(())
}

fn walk_sizes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(md) = entry.path().symlink_metadata() else {
            continue;
        };
        if md.is_dir() {
            total += walk_sizes(&entry.path());
        } else if md.is_file() {
            total += md.len();
        }
    }
    total
}

#[test]
fn dupes_group_identical_content_and_count_the_waste() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let data = sd.path("data");
    let big = vec![7u8; 300_000];
    write_file(&data, b"a/big.iso", &big)?;
    write_file(&data, b"b/big-copy.iso", &big)?;
    write_file(&data, b"c/big-again.iso", &big)?;
    write_file(&data, b"small1", b"tiny")?;
    write_file(&data, b"small2", b"tiny")?;
    write_file(&data, b"unique", b"only one")?;
    sd.ok(["location", "add", data.to_str().unwrap_or_default()])?;
    sd.ok(["index"])?;
    let groups = sd.json(["dupes"])?;
    let groups = groups.as_array().cloned().unwrap_or_default();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["copies"], 3);
    assert_eq!(groups[0]["wasted"], 600_000);
    assert_eq!(groups[0]["uris"].as_array().map(Vec::len), Some(3));
    assert_eq!(groups[1]["wasted"], 4);
    let big_only = sd.json(["dupes", "--min-size", "1000"])?;
    assert_eq!(big_only.as_array().map(Vec::len), Some(1));
    Ok(())
}

#[test]
fn an_unreadable_directory_is_reported_and_indexing_goes_on() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let data = sd.path("data");
    write_file(&data, b"ok/one.txt", b"1")?;
    write_file(&data, b"locked/secret.txt", b"2")?;
    write_file(&data, b"zz/two.txt", b"3")?;
    sd.ok(["location", "add", data.to_str().unwrap_or_default()])?;
    std::fs::set_permissions(data.join("locked"), std::fs::Permissions::from_mode(0o000))?;
    // Root reads anything; drop the capabilities that let it.
    let out = if is_root() {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--bounding-set", "-dac_override,-dac_read_search", "--"]);
        cmd.arg(sdfs_tests::sd_bin())
            .arg("--library")
            .arg(&sd.lib)
            .args(["--json", "index"]);
        cmd.output()?
    } else {
        sd.cmd(["--json", "index"]).output()?
    };
    std::fs::set_permissions(data.join("locked"), std::fs::Permissions::from_mode(0o755))?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout)?;
    assert!(
        stdout.contains("\"event\":\"warning\"") && stdout.contains("locked"),
        "{stdout}"
    );
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())?;
    assert_eq!(result[0]["state"], "completed");
    assert_eq!(result[0]["counters"]["errors"], 1);
    let names: Vec<String> = sd
        .dump("sd://laptop/data")?
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert!(
        names.contains(&"sd://laptop/data/zz/two.txt".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"sd://laptop/data/locked".to_string()),
        "{names:?}"
    );
    Ok(())
}

#[test]
fn files_changing_while_indexing_end_in_a_consistent_index() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let data = sd.path("data");
    sdfs_tests::generate_tree(&data, 300, 20)?;
    sd.add_location(&data, "T")?;
    let churn_dir = data.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_churn = std::sync::Arc::clone(&stop);
    let churn = std::thread::spawn(move || {
        let mut n = 0u64;
        while !stop_churn.load(std::sync::atomic::Ordering::Relaxed) {
            let dir = churn_dir.join(format!("d{:03}", n % 37));
            let _ = std::fs::write(
                dir.join(format!("churn{}.txt", n % 50)),
                format!("{n}").repeat((n % 900) as usize),
            );
            let _ = std::fs::remove_file(dir.join(format!("churn{}.txt", (n + 25) % 50)));
            let _ = std::fs::rename(
                dir.join(format!("churn{}.txt", (n + 7) % 50)),
                dir.join(format!("moved{}.txt", n % 3)),
            );
            n += 1;
        }
    });
    let during = sd.json(["index", "T"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = churn.join();
    assert_eq!(during?[0]["state"], "completed");
    // Once the tree holds still, one more pass makes the index match the disk.
    sd.ok(["index", "T"])?;
    let indexed: Vec<(String, u64)> = sd
        .dump("sd://laptop/T")?
        .into_iter()
        .filter(|r| r.1 == "file")
        .map(|r| (r.0, r.2))
        .collect();
    let mut on_disk = Vec::new();
    collect_files(&data, &data, &mut on_disk);
    on_disk.sort();
    assert_eq!(indexed, on_disk);
    Ok(())
}

fn collect_files(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<(String, u64)>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let Ok(md) = path.symlink_metadata() else {
            continue;
        };
        if md.is_dir() {
            collect_files(root, &path, out);
        } else if md.is_file() {
            let rel = path
                .strip_prefix(root)
                .map(|p| p.as_os_str().as_bytes().to_vec())
                .unwrap_or_default();
            let uri = sdfs_core_uri(&rel);
            out.push((uri, md.len()));
        }
    }
}

fn sdfs_core_uri(rel: &[u8]) -> String {
    format!("sd://laptop/T/{}", String::from_utf8_lossy(rel))
}
