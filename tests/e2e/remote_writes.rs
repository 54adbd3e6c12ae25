//! Saving to another device's files: a laptop's mount writes into the
//! nas's `Photos` with real programs (`sed -i`, `cp`, python with fsync,
//! `sqlite3`, `vim`, `git commit`), and the nas's disk ends up with the
//! same bytes. Then the hard cases: the writer killed after fsync, the
//! owner offline, both sides editing at once, and an owner that says no.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sdfs_tests::{Sd, kill, q, sh, wait_for, write_file};

use crate::remote::{LOOPBACK, Pair, setup};

/// How long a change may take to reach the owner in these tests (a
/// delivery is a few round trips on loopback; the bound is for slow CI).
const DELIVERED: Duration = Duration::from_secs(60);

fn fill(root: &Path) -> Result<()> {
    write_file(root, b"notes.txt", b"alpha\nbeta\ngamma\n")?;
    write_file(root, b"report.txt", b"draft 1\n")?;
    write_file(root, b"same.txt", b"original\n")?;
    write_file(root, b"vim.txt", b"line one\n")?;
    let repo = root.join("repo");
    write_file(&repo, b"README", b"hello\n")?;
    sh(&format!(
        "cd {} && git init -q -b main && git add -A && \
         git -c user.name=nas -c user.email=nas@example.org commit -qm first",
        q(&repo)
    ))?;
    Ok(())
}

/// Waits until the owner's file at `rel` holds `want`.
fn owner_has(pair: &Pair, rel: &str, want: &[u8]) -> Result<()> {
    let path = pair.photos.join(rel);
    wait_for(DELIVERED, || {
        std::fs::read(&path).ok().as_deref() == Some(want)
    })
    .with_context(|| {
        format!(
            "{rel} never reached the nas: it has {}; laptop log:\n{}",
            match std::fs::read(&path) {
                Ok(b) if b.len() <= 200 => format!("{:?}", String::from_utf8_lossy(&b)),
                Ok(b) => format!("{} bytes, not the {} wanted", b.len(), want.len()),
                Err(e) => e.to_string(),
            },
            pair.mount.log()
        )
    })?;
    Ok(())
}

/// Changes waiting for their owner or their bucket, as `sd status` counts them.
pub(crate) fn pending(sd: &Sd) -> Result<u64> {
    let status = sd.json(["status"])?;
    Ok(status["deliveries"]["outgoing"]
        .as_array()
        .context("deliveries.outgoing")?
        .iter()
        .filter_map(|d| d["pending"].as_u64())
        .sum())
}

#[test]
fn programs_save_to_another_device_and_the_owner_gets_the_same_bytes() -> Result<()> {
    let pair = setup(fill)?;
    let remote = pair.remote();
    wait_for(Duration::from_secs(30), || {
        remote.join("notes.txt").is_file()
    })
    .context("the nas's files never showed")?;

    // sed -i: a temp file beside the target, renamed over it.
    sh(&format!(
        "sed -i 's/beta/BETA/' {}",
        q(&remote.join("notes.txt"))
    ))?;
    // Seen at once here, before the owner has it.
    assert_eq!(
        std::fs::read(remote.join("notes.txt"))?,
        b"alpha\nBETA\ngamma\n"
    );
    // cp over an existing file, and a new one.
    let source = pair.laptop.path("source.bin");
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(&source, &bytes)?;
    sh(&format!(
        "cp {} {}",
        q(&source),
        q(&remote.join("copied.bin"))
    ))?;
    sh(&format!(
        "cp {} {}",
        q(&source),
        q(&remote.join("report.txt"))
    ))?;
    // python: write, fsync, close.
    sh(&format!(
        "python3 -c \"import os; f = open('{}', 'wb'); f.write(b'from python\\n'); \
         f.flush(); os.fsync(f.fileno()); f.close()\"",
        remote.join("py.txt").display()
    ))?;
    // sqlite3: a database created and written through its journal.
    let db = remote.join("data.db");
    sh(&format!(
        "sqlite3 {} 'create table t(x); insert into t values (1), (2), (3);'",
        q(&db)
    ))?;
    assert_eq!(
        sh(&format!("sqlite3 {} 'select sum(x) from t'", q(&db)))?,
        "6\n"
    );
    // vim: an editor's save.
    sh(&format!(
        "vim -es -u NONE -c 'normal Goline two' -c wq {}",
        q(&remote.join("vim.txt"))
    ))?;
    // git: a commit in the nas's repository, from the laptop.
    let repo = remote.join("repo");
    sh(&format!(
        "cd {} && echo world >> README && echo new > added.txt && git add -A && \
         git -c user.name=laptop -c user.email=laptop@example.org commit -qm second",
        q(&repo)
    ))?;
    assert_eq!(
        sh(&format!("git -C {} log --format=%s", q(&repo)))?,
        "second\nfirst\n"
    );

    // Every result reaches the owner's disk, byte for byte.
    owner_has(&pair, "notes.txt", b"alpha\nBETA\ngamma\n")?;
    owner_has(&pair, "copied.bin", &bytes)?;
    owner_has(&pair, "report.txt", &bytes)?;
    owner_has(&pair, "py.txt", b"from python\n")?;
    owner_has(&pair, "vim.txt", b"line one\nline two\n")?;
    owner_has(&pair, "repo/README", b"hello\nworld\n")?;
    owner_has(&pair, "repo/added.txt", b"new\n")?;
    wait_for(DELIVERED, || {
        sh(&format!(
            "git -C {} log --format=%s",
            q(&pair.photos.join("repo"))
        ))
        .is_ok_and(|log| log == "second\nfirst\n")
    })
    .context("the commit never reached the nas")?;
    sh(&format!(
        "git -C {} fsck --strict",
        q(&pair.photos.join("repo"))
    ))?;
    sh(&format!(
        "git -C {} diff --exit-code HEAD",
        q(&pair.photos.join("repo"))
    ))?;
    // git clone: a new repository written into the nas's folder (lock
    // files renamed over names made moments before). Cloned from the
    // owner's repository once the commit above is there, so what it
    // holds is known.
    sh(&format!(
        "git clone -q --no-local {} {}",
        q(&pair.photos.join("repo")),
        q(&remote.join("cloned"))
    ))?;
    owner_has(&pair, "cloned/README", b"hello\nworld\n")?;
    wait_for(DELIVERED, || pending(&pair.laptop).is_ok_and(|n| n == 0))
        .context("the clone is still being delivered")?;
    sh(&format!(
        "git -C {} fsck --strict",
        q(&pair.photos.join("cloned"))
    ))?;
    assert_eq!(
        sh(&format!(
            "git -C {} log --format=%s",
            q(&pair.photos.join("cloned"))
        ))?,
        "second\nfirst\n"
    );
    let owner_db = pair.photos.join("data.db");
    wait_for(DELIVERED, || {
        sh(&format!("sqlite3 {} 'select sum(x) from t'", q(&owner_db))).is_ok_and(|s| s == "6\n")
    })
    .context("the database never reached the nas")?;
    // What the laptop shows is what the nas has.
    for rel in ["notes.txt", "copied.bin", "py.txt", "vim.txt", "data.db"] {
        assert_eq!(
            std::fs::read(remote.join(rel))?,
            std::fs::read(pair.photos.join(rel))?,
            "{rel}"
        );
    }
    // Nothing half-written was left at the owner.
    let strays = sh(&format!(
        "find {} -name '.sd-incoming*' -o -name '*.sync-conflict-*'",
        q(&pair.photos)
    ))?;
    ensure!(strays.is_empty(), "{strays}");
    wait_for(DELIVERED, || pending(&pair.laptop).is_ok_and(|n| n == 0))
        .context("deliveries still pending")?;
    Ok(())
}

#[test]
fn what_fsync_acknowledged_survives_a_killed_writer_and_waits_for_an_offline_owner() -> Result<()> {
    let Pair {
        laptop,
        mount,
        nas,
        nas_daemon,
        photos,
    } = setup(fill)?;
    let remote = mount.mountpoint.join("nas").join("Photos");
    wait_for(Duration::from_secs(30), || {
        remote.join("notes.txt").is_file()
    })
    .context("the nas's files never showed")?;
    // The owner goes away; the laptop writes and fsyncs, then is killed.
    kill(nas_daemon.context("nas daemon")?)?;
    sh(&format!(
        "python3 -c \"import os; f = open('{}', 'wb'); f.write(b'kept\\n'); \
         f.flush(); os.fsync(f.fileno())\"",
        remote.join("offline.txt").display()
    ))?;
    let stale = mount.kill()?;
    let mount = laptop.mount_with(&["--listen", LOOPBACK, "--sync-every", "3600"])?;
    drop(stale);
    // Back, it still shows the change, and says it waits for the nas.
    assert_eq!(std::fs::read(remote.join("offline.txt"))?, b"kept\n");
    assert_eq!(pending(&laptop)?, 1);
    ensure!(!photos.join("offline.txt").exists());
    // Cache pressure never drops a change waiting for its owner.
    laptop.ok(["cache", "budget", "1M"])?;
    laptop.ok(["cache", "gc"])?;
    assert_eq!(std::fs::read(remote.join("offline.txt"))?, b"kept\n");
    // The nas comes back (told where the restarted laptop listens) and
    // gets it.
    let status = laptop.json(["status"])?;
    let addr = status["p2p"]["listen_addrs"][0]
        .as_str()
        .context("laptop address")?
        .to_owned();
    let _nas = nas.daemon_with(&[
        "--listen",
        LOOPBACK,
        "--sync-every",
        "3600",
        "--peer",
        &addr,
    ])?;
    let target = photos.join("offline.txt");
    wait_for(DELIVERED, || {
        std::fs::read(&target).ok().as_deref() == Some(&b"kept\n"[..])
    })
    .with_context(|| format!("never delivered; laptop log:\n{}", mount.log()))?;
    wait_for(DELIVERED, || pending(&laptop).is_ok_and(|n| n == 0))
        .context("the delivery is still pending")?;
    Ok(())
}

/// A program keeps another device's file open for reading (a viewer,
/// `tail -f`) while another appends to it. The reader's verified copy is
/// the content store's: the append must reach a staging copy and the
/// owner, never that copy (it once did, through the reader's passthrough
/// backing file, and the append was lost).
#[test]
fn an_append_while_a_reader_holds_the_file_reaches_the_owner_and_leaves_the_verified_copy_alone()
-> Result<()> {
    let big = sdfs_tests::noise(3_000_000, 7);
    let pair = setup(|root| write_file(root, b"log.bin", &big).map(drop))?;
    let file = pair.remote().join("log.bin");
    wait_for(Duration::from_secs(30), || file.is_file()).context("never showed")?;
    // Read whole, it is assembled into one verified copy, which the next
    // open reads.
    assert_eq!(std::fs::read(&file)?, big);
    let files = pair.laptop.lib.join("chunks/files");
    let assembled = || -> Option<std::path::PathBuf> {
        std::fs::read_dir(&files)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_none())
    };
    wait_for(Duration::from_secs(30), || assembled().is_some())
        .context("the read was never assembled")?;
    let held = std::fs::File::open(&file)?;
    sh(&format!("echo appended >> {}", q(&file)))?;
    let mut want = big.clone();
    want.extend_from_slice(b"appended\n");
    assert_eq!(std::fs::read(&file)?, want, "the append is not shown here");
    owner_has(&pair, "log.bin", &want)?;
    drop(held);
    let copy = assembled().context("the verified copy is gone")?;
    ensure!(
        std::fs::read(&copy)? == big,
        "the verified copy {} was written",
        copy.display()
    );
    Ok(())
}

#[test]
fn edits_on_both_sides_keep_both_and_identical_edits_are_no_conflict() -> Result<()> {
    let mut pair = setup(fill)?;
    let remote = pair.remote();
    wait_for(Duration::from_secs(30), || {
        remote.join("report.txt").is_file()
    })
    .context("the nas's files never showed")?;
    kill(pair.nas_daemon.take().context("nas daemon")?)?;
    // Both devices change the same files while apart.
    std::fs::write(remote.join("report.txt"), b"laptop's draft\n")?;
    std::fs::write(remote.join("same.txt"), b"agreed\n")?;
    std::fs::remove_file(remote.join("notes.txt"))?;
    std::fs::write(pair.photos.join("report.txt"), b"nas's draft\n")?;
    std::fs::write(pair.photos.join("same.txt"), b"agreed\n")?;
    std::fs::write(pair.photos.join("notes.txt"), b"edited on the nas\n")?;
    let nas = pair
        .nas
        .daemon_with(&["--listen", LOOPBACK, "--sync-every", "3600"])?;
    // The owner keeps its version under the name, and the laptop's beside it.
    let copy = || -> Option<std::path::PathBuf> {
        std::fs::read_dir(&pair.photos)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("report.sync-conflict-"))
            })
    };
    wait_for(DELIVERED, || copy().is_some())
        .with_context(|| format!("no conflict copy; laptop log:\n{}", pair.mount.log()))?;
    let copy = copy().context("copy")?;
    let name = copy.file_name().and_then(|n| n.to_str()).context("name")?;
    ensure!(name.ends_with("-laptop.txt"), "{name}");
    assert_eq!(std::fs::read(&copy)?, b"laptop's draft\n");
    assert_eq!(
        std::fs::read(pair.photos.join("report.txt"))?,
        b"nas's draft\n"
    );
    wait_for(DELIVERED, || pending(&pair.laptop).is_ok_and(|n| n == 0))
        .context("deliveries still pending")?;
    // Identical content is no conflict; a delete against an edit keeps it.
    assert_eq!(std::fs::read(pair.photos.join("same.txt"))?, b"agreed\n");
    assert_eq!(
        std::fs::read(pair.photos.join("notes.txt"))?,
        b"edited on the nas\n"
    );
    let copies = sh(&format!(
        "find {} -name '*.sync-conflict-*'",
        q(&pair.photos)
    ))?;
    assert_eq!(copies.lines().count(), 1, "{copies}");
    // Both devices list it, and the laptop's mount shows it.
    for sd in [&pair.nas, &pair.laptop] {
        wait_for(DELIVERED, || {
            sd.json(["conflicts"]).is_ok_and(|list| {
                list.as_array().is_some_and(|l| {
                    l.len() == 1
                        && l[0]["from_device"] == "laptop"
                        && l[0]["device"] == "nas"
                        && l[0]["original"] == "sd://nas/Photos/report.txt"
                })
            })
        })
        .with_context(|| format!("sd conflicts on {}", sd.device))?;
    }
    wait_for(DELIVERED, || {
        std::fs::read(remote.join(name)).ok().as_deref() == Some(&b"laptop's draft\n"[..])
    })
    .context("the conflict copy never showed in the laptop's mount")?;
    drop(nas);
    Ok(())
}

#[test]
fn a_location_that_takes_no_changes_refuses_them_at_once() -> Result<()> {
    let pair = setup(fill)?;
    let remote = pair.remote();
    wait_for(Duration::from_secs(30), || {
        remote.join("notes.txt").is_file()
    })
    .context("the nas's files never showed")?;
    let items = |sd: &Sd| -> Result<u64> {
        Ok(sd.json(["status"])?["p2p"]["sync"]["items_received"]
            .as_u64()
            .unwrap_or(0))
    };
    let before = items(&pair.laptop)?;
    let set = pair
        .nas
        .json(["location", "set", "Photos", "--remote-writes", "off"])?;
    assert_eq!(set["remote_writes"], false);
    // The setting travels as the location's record.
    wait_for(Duration::from_secs(30), || {
        items(&pair.laptop).is_ok_and(|n| n > before)
    })
    .context("the setting never reached the laptop")?;
    let erofs = |result: std::io::Result<()>, what: &str| -> Result<()> {
        let err = result.err().with_context(|| format!("{what} succeeded"))?;
        ensure!(err.raw_os_error() == Some(libc::EROFS), "{what}: {err}");
        Ok(())
    };
    erofs(std::fs::write(remote.join("new.txt"), b"x"), "create")?;
    erofs(std::fs::write(remote.join("notes.txt"), b"x"), "overwrite")?;
    erofs(std::fs::remove_file(remote.join("report.txt")), "unlink")?;
    erofs(std::fs::create_dir(remote.join("dir")), "mkdir")?;
    erofs(
        std::fs::rename(remote.join("notes.txt"), remote.join("moved.txt")),
        "rename",
    )?;
    // Nothing was queued, and the nas's files are as they were.
    assert_eq!(pending(&pair.laptop)?, 0);
    assert_eq!(
        std::fs::read(pair.photos.join("notes.txt"))?,
        b"alpha\nbeta\ngamma\n"
    );
    // Turned back on, the same write goes through.
    let before = items(&pair.laptop)?;
    pair.nas
        .ok(["location", "set", "Photos", "--remote-writes", "on"])?;
    wait_for(Duration::from_secs(30), || {
        items(&pair.laptop).is_ok_and(|n| n > before)
    })
    .context("the setting never reached the laptop")?;
    // Other records may have arrived first: the write goes through once
    // the location's does (a refused one queued nothing meanwhile).
    wait_for(Duration::from_secs(30), || {
        std::fs::write(remote.join("new.txt"), b"now it may\n").is_ok()
    })
    .context("writes stayed refused after the setting was turned on")?;
    owner_has(&pair, "new.txt", b"now it may\n")?;
    Ok(())
}

#[test]
fn an_owner_killed_mid_delivery_has_no_partial_file_and_gets_it_after_a_restart() -> Result<()> {
    let mut pair = setup(fill)?;
    let remote = pair.remote();
    wait_for(Duration::from_secs(30), || {
        remote.join("notes.txt").is_file()
    })
    .context("the nas's files never showed")?;
    // Large enough that its delivery is seen under way.
    let source = pair.laptop.path("big.bin");
    let bytes = sdfs_tests::noise(96 * 1024 * 1024, 2);
    std::fs::write(&source, &bytes)?;
    let want = blake3::hash(&bytes);
    drop(bytes);
    sh(&format!("cp {} {}", q(&source), q(&remote.join("big.bin"))))?;
    let incoming = || -> bool {
        std::fs::read_dir(&pair.photos).is_ok_and(|dir| {
            dir.flatten().any(|e| {
                e.file_name()
                    .as_encoded_bytes()
                    .starts_with(b".sd-incoming")
            })
        })
    };
    wait_for(DELIVERED, incoming).context("the delivery never started")?;
    kill(pair.nas_daemon.take().context("nas daemon")?)?;
    // The target never holds part of the file: it is absent, or (if the
    // last chunk landed before the kill) whole.
    let target = pair.photos.join("big.bin");
    if target.exists() {
        ensure!(
            blake3::hash(&std::fs::read(&target)?) == want,
            "the owner has a file it never finished receiving"
        );
        eprintln!("the delivery finished before the owner was killed");
    }
    let _nas = pair
        .nas
        .daemon_with(&["--listen", LOOPBACK, "--sync-every", "3600"])?;
    wait_for(DELIVERED, || {
        std::fs::read(&target).is_ok_and(|got| blake3::hash(&got) == want)
    })
    .with_context(|| format!("never delivered; laptop log:\n{}", pair.mount.log()))?;
    ensure!(!incoming(), "a half-received file was left behind");
    Ok(())
}
