//! The daemon keeps locations live: native changes reach the index without
//! `sd index`, and after downtime only changed directories are re-read.

use std::time::Duration;

use anyhow::Result;
use sdfs_tests::{Sd, wait_for, write_file};

fn indexed(sd: &Sd, uri: &str) -> bool {
    sd.json(["stat", uri])
        .map(|v| v["indexed"] == true)
        .unwrap_or(false)
}

#[test]
fn native_changes_reach_the_index_while_the_daemon_runs() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let data = sd.path("data");
    write_file(&data, b"keep.txt", b"keep")?;
    let _daemon = sd.daemon()?;
    sd.add_location(&data, "Live")?;
    sd.ok(["index", "Live"])?;

    let limit = Duration::from_secs(15);
    write_file(&data, b"new/born.txt", b"fresh content")?;
    let took = wait_for(limit, || indexed(&sd, "sd://laptop/Live/new/born.txt"))?;
    eprintln!("create visible after {took:?}");
    assert!(sd.json(["stat", "sd://laptop/Live/new/born.txt"])?["content_id"].is_string());

    let id = sd.json(["stat", "sd://laptop/Live/new/born.txt"])?["entry_id"].clone();
    std::fs::rename(data.join("new/born.txt"), data.join("renamed.txt"))?;
    wait_for(limit, || indexed(&sd, "sd://laptop/Live/renamed.txt"))?;
    assert_eq!(
        sd.json(["stat", "sd://laptop/Live/renamed.txt"])?["entry_id"],
        id
    );
    assert!(sd.fails(["stat", "sd://laptop/Live/new/born.txt"]).is_ok());

    std::fs::remove_file(data.join("renamed.txt"))?;
    wait_for(limit, || {
        sd.fails(["stat", "sd://laptop/Live/renamed.txt"]).is_ok()
    })?;
    let root = sd.json(["stat", "sd://laptop/Live"])?;
    assert_eq!(root["files"], 1);
    assert_eq!(root["size"], 4);
    Ok(())
}

#[test]
fn after_downtime_only_changed_directories_are_read_again() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let data = sd.path("data");
    sdfs_tests::generate_tree(&data, 60, 10)?;
    sd.add_location(&data, "T")?;
    sd.ok(["index", "T"])?;

    // Offline window: one directory gains a file.
    write_file(
        &data,
        b"d010/s0010/offline.txt",
        b"written while no daemon ran",
    )?;
    let _daemon = sd.daemon()?;
    wait_for(Duration::from_secs(15), || {
        indexed(&sd, "sd://laptop/T/d010/s0010/offline.txt")
    })?;
    // The file is indexed at the first checkpoint; the job finishes after.
    let catch_up_done = || {
        sd.json(["jobs"])
            .map(|jobs| jobs[0]["state"] == "completed")
            .unwrap_or(false)
    };
    wait_for(Duration::from_secs(15), catch_up_done)?;
    let jobs = sd.json(["jobs"])?;
    let catch_up = &jobs[0];
    assert_eq!(catch_up["stale_scan"], true);
    // Only s0010 (11 files) was listed again, not the 600 files of the tree.
    assert_eq!(catch_up["counters"]["files"], 11, "{catch_up}");
    assert_eq!(catch_up["counters"]["created"], 1, "{catch_up}");
    Ok(())
}
