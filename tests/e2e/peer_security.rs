//! What other devices may and may not get: nothing for a stranger, only
//! regular files inside shared locations for a paired device, no harm from
//! malformed messages, nothing after revocation, and no wrong byte from a
//! lying device. The client is `sd debug probe`, which speaks the real
//! protocols (or raw bytes) with a library's real identity.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sdfs_tests::{Sd, wait_for, write_file};
use serde_json::Value;

use crate::remote::{self, LOOPBACK, Pair, setup};

/// The nas's dialable address, `/ip4/.../tcp/PORT/p2p/ID`.
fn address(sd: &Sd) -> Result<String> {
    let status = sd.json(["status"])?;
    Ok(format!(
        "{}/p2p/{}",
        status["p2p"]["listen_addrs"][0]
            .as_str()
            .context("listening")?,
        status["p2p"]["peer_id"].as_str().context("peer id")?
    ))
}

/// `sd debug probe ADDR WHAT...` as `who`.
fn probe(who: &Sd, addr: &str, what: &[&str]) -> Result<Value> {
    let mut args = vec!["debug", "probe", addr];
    args.extend_from_slice(what);
    args.extend_from_slice(&["--timeout", "5"]);
    let out = who.ok(args)?;
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn outcome(v: &Value) -> &str {
    v["outcome"].as_str().unwrap_or_default()
}

fn entry_id(sd: &Sd, uri: &str) -> Result<String> {
    Ok(sd.json(["stat", uri])?["entry_id"]
        .as_u64()
        .context("indexed")?
        .to_string())
}

fn shared(root: &Path) -> Result<()> {
    write_file(root, b"docs/plan.txt", b"the plan\n")?;
    write_file(
        root.parent().context("parent")?,
        b"secret.txt",
        b"not shared\n",
    )?;
    std::os::unix::fs::symlink("../secret.txt", root.join("escape"))?;
    Ok(())
}

fn synced(pair: &Pair) -> Result<()> {
    wait_for(Duration::from_secs(30), || {
        pair.remote().join("docs/plan.txt").exists()
    })
    .context("sync")?;
    Ok(())
}

#[test]
fn a_stranger_that_knows_the_address_gets_no_listing_and_no_bytes() -> Result<()> {
    let pair = setup(shared)?;
    synced(&pair)?;
    let nas = address(&pair.nas)?;
    let file = entry_id(&pair.nas, "sd://nas/Photos/docs/plan.txt")?;
    let stranger = Sd::init("stranger")?;
    let stranger_mount = stranger.mount_with(&["--listen", LOOPBACK, "--peer", &nas])?;

    // Refused at the door.
    for what in [
        &["pull"][..],
        &["changed"],
        &["chunk", &file, "0", "9"],
        &["manifest", &file],
    ] {
        let v = probe(&stranger, &nas, what)?;
        ensure!(outcome(&v) == "closed", "{what:?}: {v}");
    }
    // Even while an invite lets strangers in to pair, they get nothing else.
    pair.nas.json(["pair", "invite"])?;
    for what in [
        &["pull"][..],
        &["changed"],
        &["chunk", &file, "0", "9"],
        &["manifest", &file],
    ] {
        let v = probe(&stranger, &nas, what)?;
        ensure!(outcome(&v) == "refused", "{what:?}: {v}");
        ensure!(v["detail"].as_str() == Some("not paired"), "{v}");
    }
    // The stranger's own daemon dialled the nas and learnt nothing either.
    std::thread::sleep(Duration::from_secs(1));
    let names: Vec<_> = std::fs::read_dir(&stranger_mount.mountpoint)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()?;
    assert_eq!(names, vec![std::ffi::OsString::from("stranger")]);
    // The paired laptop still gets answers.
    let v = probe(&pair.laptop, &nas, &["chunk", &file, "0", "9"])?;
    ensure!(outcome(&v) == "answered" && v["bytes"] == 9, "{v}");
    assert_eq!(
        v["blake3"].as_str(),
        Some(blake3::hash(b"the plan\n").to_hex().as_str())
    );
    Ok(())
}

#[test]
fn a_paired_device_reads_only_regular_files_inside_shared_locations() -> Result<()> {
    let pair = setup(shared)?;
    synced(&pair)?;
    let nas = address(&pair.nas)?;
    let link = entry_id(&pair.nas, "sd://nas/Photos/escape")?;
    let dir = entry_id(&pair.nas, "sd://nas/Photos/docs")?;
    let root = entry_id(&pair.nas, "sd://nas/Photos")?;
    let file = entry_id(&pair.nas, "sd://nas/Photos/docs/plan.txt")?;
    // A symlink pointing out, a directory, the root, an id that is no
    // entry, a chunk over the bound: all refused.
    for what in [
        vec!["chunk", &link, "0", "11"],
        vec!["manifest", &link],
        vec!["chunk", &dir, "0", "11"],
        vec!["manifest", &root],
        vec!["chunk", "999999", "0", "11"],
        vec!["chunk", &file, "0", "999999999"],
    ] {
        let v = probe(&pair.laptop, &nas, &what)?;
        ensure!(outcome(&v) == "refused", "{what:?}: {v}");
    }
    // By path (what the owner's rules skip is read that way): `..`, an
    // absolute path, a symlink on the way, an unknown location: refused.
    let location = pair.nas.json(["location", "list"])?[0]["id"]
        .as_str()
        .context("location id")?
        .to_owned();
    for what in [
        vec!["list", &location, ".."],
        vec!["list", &location, "docs/../.."],
        vec!["list", &location, "/etc"],
        vec!["list", &location, "up"],
        vec!["chunk-at", &location, "../secret.txt", "0", "11"],
        vec!["chunk-at", &location, "docs/../../secret.txt", "0", "11"],
        vec!["chunk-at", &location, "up/secret.txt", "0", "11"],
        vec!["chunk-at", &location, "escape", "0", "11"],
        vec!["chunk-at", &location, "docs", "0", "11"],
        vec!["list", "00000000-0000-4000-8000-000000000000", ""],
    ] {
        let v = probe(&pair.laptop, &nas, &what)?;
        ensure!(outcome(&v) == "refused", "{what:?}: {v}");
    }
    let v = probe(
        &pair.laptop,
        &nas,
        &["chunk-at", &location, "docs/plan.txt", "0", "9"],
    )?;
    ensure!(outcome(&v) == "answered" && v["bytes"] == 9, "{v}");
    // In the mount the link is a link, read as recorded; following it
    // stays inside the laptop's view of the nas, where nothing is shared.
    let remote = pair.remote();
    assert_eq!(
        std::fs::read_link(remote.join("escape"))?,
        Path::new("../secret.txt")
    );
    let err = std::fs::read(remote.join("escape")).expect_err("nothing outside");
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
    Ok(())
}

#[test]
fn malformed_and_oversized_messages_end_the_request_not_the_daemon() -> Result<()> {
    let pair = setup(shared)?;
    synced(&pair)?;
    let nas = address(&pair.nas)?;
    for (protocol, hex) in [
        // A length over the bound: refused before any allocation.
        ("sync", "f0ffffff00"),
        ("chunks", "00000001"),
        // A frame cut short.
        ("chunks", "0a00000001"),
        // A frame whose body is no message.
        ("sync", "03000000ffffff"),
        ("chunks", "0400000009090909"),
        // Nothing at all.
        ("sync", ""),
    ] {
        let v = probe(&pair.laptop, &nas, &["raw", protocol, hex])?;
        ensure!(outcome(&v) == "closed", "{protocol} {hex}: {v}");
    }
    // The daemon is fine: it answers, and keeps syncing.
    let v = probe(&pair.laptop, &nas, &["pull"])?;
    ensure!(
        outcome(&v) == "answered" && v["items"].as_u64() > Some(3),
        "{v}"
    );
    write_file(&pair.photos, b"docs/after.txt", b"still here\n")?;
    wait_for(Duration::from_secs(15), || {
        std::fs::read(pair.remote().join("docs/after.txt"))
            .ok()
            .as_deref()
            == Some(b"still here\n")
    })
    .context("sync after the garbage")?;
    Ok(())
}

#[test]
fn a_revoked_device_loses_access_at_once() -> Result<()> {
    let pair = setup(shared)?;
    synced(&pair)?;
    let nas = address(&pair.nas)?;
    let file = entry_id(&pair.nas, "sd://nas/Photos/docs/plan.txt")?;
    pair.nas.ok(["device", "rm", "laptop"])?;
    let v = probe(&pair.laptop, &nas, &["chunk", &file, "0", "9"])?;
    ensure!(outcome(&v) == "closed", "{v}");
    let err = std::fs::read(pair.remote().join("docs/plan.txt")).expect_err("revoked");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    Ok(())
}

#[test]
fn wrong_bytes_from_a_device_are_refused_and_the_read_served_by_another() -> Result<()> {
    let mut big = vec![0u8; 3 * 1024 * 1024 + 777];
    for (i, b) in big.iter_mut().enumerate() {
        *b = (i.wrapping_mul(2_654_435_761) >> 13) as u8;
    }
    let expected = blake3::hash(&big).to_hex().to_string();
    let content = big.clone();
    let pair = setup(move |root| {
        write_file(root, b"docs/plan.txt", b"the plan\n")?;
        write_file(root, b"film.bin", &content)?;
        Ok(())
    })?;
    // A third device holds the same film.
    let attic = Sd::init("attic")?;
    let store = attic.path("store");
    write_file(&store, b"copy-of-film.bin", &big)?;
    attic.add_location(&store, "Store")?;
    let _attic_daemon = attic.daemon_with(&["--listen", LOOPBACK])?;
    remote::pair(&pair.laptop, &attic)?;
    // Both know the film's full hash (the integrity job).
    pair.nas.ok(["validate"])?;
    attic.ok(["validate"])?;
    let remote = pair.remote();
    wait_for(Duration::from_secs(30), || {
        remote.join("film.bin").exists()
            && pair
                .mount
                .mountpoint
                .join("attic/Store/copy-of-film.bin")
                .exists()
    })
    .context("sync")?;
    // The nas's copy rots in place: same size, same mtime, so its index
    // (and the manifest it serves) still vouch for the old bytes.
    let film = pair.photos.join("film.bin");
    sdfs_tests::sh(&format!(
        "touch -r {f} {r} && printf 'ROT' | dd of={f} bs=1 seek=1000000 conv=notrunc status=none && touch -r {r} {f}",
        f = sdfs_tests::q(&film),
        r = sdfs_tests::q(&pair.nas.path("ref"))
    ))?;
    // The laptop reads the nas's film: the nas's chunk fails its hash, the
    // attic's copy serves it, and what the program gets is the film.
    let got = blake3::hash(&std::fs::read(remote.join("film.bin"))?)
        .to_hex()
        .to_string();
    assert_eq!(got, expected);
    ensure!(
        pair.mount.log().contains("wrong bytes"),
        "the bad chunk went unnoticed: {}",
        pair.mount.log()
    );
    Ok(())
}
