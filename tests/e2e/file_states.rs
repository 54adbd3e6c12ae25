//! File states of another device's files, as a user sees and changes them:
//! online-only until read or pinned, cached once read, pinned ("always
//! keep on this device") with `sd pin`, a pinned folder fetching what later
//! arrives in it, pinned files readable with their owner offline, and
//! `sd free-up` making them online-only again.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sdfs_tests::{noise, q, sh, wait_for, write_file};
use serde_json::Value;

use crate::remote::setup;

const BIG: usize = 14 * 1024 * 1024;

fn fill(root: &Path) -> Result<()> {
    write_file(root, b"album/a.bin", &noise(1_500_000, 1))?;
    write_file(root, b"album/b.txt", b"a caption\n")?;
    write_file(root, b"other/c.bin", &noise(2_200_000, 2))?;
    // Larger than the read-ahead window: a short read leaves it partial.
    write_file(root, b"video/big.bin", &noise(BIG, 4))?;
    Ok(())
}

/// `user.sd.state` of a file in the mount, as any program reads it.
pub(crate) fn state(path: &Path) -> Result<String> {
    sh(&format!(
        "getfattr --only-values -n user.sd.state {}",
        q(path)
    ))
}

#[test]
fn other_devices_files_are_online_only_cached_pinned_and_freed_up() -> Result<()> {
    let mut pair = setup(fill)?;
    let remote = pair.remote();
    let album = remote.join("album");
    wait_for(Duration::from_secs(30), || album.join("b.txt").exists())
        .context("the nas's files never showed")?;

    // Nothing of them is here yet.
    assert_eq!(state(&album.join("a.bin"))?, "online-only");
    let listed = pair.laptop.json(["ls", "sd://nas/Photos/album"])?;
    let states: Vec<&str> = listed
        .as_array()
        .context("a list")?
        .iter()
        .filter_map(|item| item["state"].as_str())
        .collect();
    assert_eq!(states, ["online-only", "online-only"], "{listed}");
    let long = String::from_utf8(
        pair.laptop
            .ok(["ls", "-l", "sd://nas/Photos/album"])?
            .stdout,
    )?;
    ensure!(
        long.lines()
            .any(|l| l.contains("online-only") && l.ends_with("a.bin")),
        "sd ls -l: {long}"
    );

    // A folder pinned by its path in the mount, with progress as JSON events.
    let out = pair.laptop.ok([
        std::ffi::OsStr::new("--json"),
        "pin".as_ref(),
        album.as_os_str(),
    ])?;
    let lines: Vec<Value> = String::from_utf8(out.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let (result, events) = lines.split_last().context("no output")?;
    assert_eq!(result["files"], 2, "{result}");
    let last = events
        .iter()
        .rfind(|e| e["event"] == "fetch")
        .context("no fetch events")?;
    assert_eq!(last["bytes_done"], last["bytes"], "{last}");
    assert_eq!(last["bytes"], 1_500_010, "{last}");
    assert_eq!(state(&album.join("a.bin"))?, "pinned");
    assert_eq!(state(&album.join("b.txt"))?, "pinned");
    let stat = pair.laptop.json(["stat", "sd://nas/Photos/album/a.bin"])?;
    assert_eq!(stat["state"], "pinned", "{stat}");
    assert_eq!(state(&remote.join("other/c.bin"))?, "online-only");

    // Reading a file caches it (kept, but evictable).
    let c = std::fs::read(remote.join("other/c.bin"))?;
    assert_eq!(c, noise(2_200_000, 2));
    wait_for(Duration::from_secs(10), || {
        state(&remote.join("other/c.bin")).is_ok_and(|s| s == "cached")
    })
    .context("a file read whole never showed as cached")?;

    // A short read of a large file leaves it partial; pinned, it is whole.
    let big = remote.join("video/big.bin");
    sh(&format!(
        "dd if={} bs=64k count=1 status=none | wc -c",
        q(&big)
    ))?;
    wait_for(Duration::from_secs(10), || {
        state(&big).is_ok_and(|s| s == "partial")
    })
    .with_context(|| format!("after a short read big.bin is {:?}", state(&big)))?;
    pair.laptop.json(["pin", "sd://nas/Photos/video/big.bin"])?;
    assert_eq!(state(&big)?, "pinned");

    // What arrives in a pinned folder later is fetched without being opened.
    let arriving = noise(700_000, 3);
    write_file(&pair.photos, b"album/new.bin", &arriving)?;
    let took = wait_for(Duration::from_secs(90), || {
        state(&album.join("new.bin")).is_ok_and(|s| s == "pinned")
    })
    .with_context(|| {
        format!(
            "a file new in a pinned folder was never kept; laptop log:\n{}",
            pair.mount.log()
        )
    })?;
    eprintln!("a file new in a pinned folder was kept after {took:?}");

    // Cache pressure evicts what is cached, never what is pinned.
    pair.laptop.ok(["cache", "budget", "1M"])?;
    pair.laptop.ok(["cache", "gc"])?;
    let c_state = state(&remote.join("other/c.bin"))?;
    ensure!(c_state != "cached", "c.bin survived eviction: {c_state}");
    for pinned in [album.join("a.bin"), album.join("new.bin"), big.clone()] {
        assert_eq!(state(&pinned)?, "pinned", "{}", pinned.display());
    }

    // With its owner gone, pinned files read byte for byte.
    if let Some(nas) = pair.nas_daemon.take() {
        sdfs_tests::kill(nas)?;
    }
    assert_eq!(std::fs::read(album.join("a.bin"))?, noise(1_500_000, 1));
    assert_eq!(std::fs::read(album.join("new.bin"))?, arriving);
    assert_eq!(std::fs::read(&big)?, noise(BIG, 4));

    // Freed up, they are online-only again: nothing of them is left here,
    // so with the owner offline a read fails (b.txt was never read through
    // the mount, so no kernel cache holds it either).
    let freed = pair
        .laptop
        .json([std::ffi::OsStr::new("free-up"), album.as_os_str()])?;
    assert_eq!(freed["files"], 3, "{freed}");
    for name in ["a.bin", "b.txt", "new.bin"] {
        assert_eq!(state(&album.join(name))?, "online-only", "{name}");
    }
    let err = std::fs::read(album.join("b.txt")).expect_err("its bytes are gone");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    pair.laptop
        .json(["free-up", "sd://nas/Photos/other/c.bin"])?;
    assert_eq!(state(&remote.join("other/c.bin"))?, "online-only");
    // Freeing up is for other devices' files only.
    let local = pair.laptop.path("mine");
    std::fs::create_dir_all(&local)?;
    let refused = pair
        .laptop
        .fails([std::ffi::OsStr::new("free-up"), local.as_os_str()])?;
    ensure!(refused.contains("other devices"), "{refused}");
    Ok(())
}
