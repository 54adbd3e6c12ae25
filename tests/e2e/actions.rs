//! Actions across two real daemons: `sd cp` and `sd mv` previewed from the
//! index, committed, verified where they land, and in the audit log.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sdfs_tests::{sh, wait_for, write_file};
use serde_json::Value;

use crate::remote::setup;

fn fill(root: &std::path::Path) -> Result<()> {
    write_file(root, b"2024/beach.jpg", b"a beach\n")?;
    Ok(())
}

#[test]
fn copies_and_moves_between_devices_are_previewed_verified_and_logged() -> Result<()> {
    let pair = setup(fill)?;
    let docs = pair.laptop.path("docs");
    let big = sdfs_tests::noise(3 * 1024 * 1024 + 17, 3);
    write_file(&docs, b"Tax/2024.pdf", b"tax return 2024\n")?;
    write_file(&docs, b"Tax/scans/big.bin", &big)?;
    write_file(&docs, b"Old/letter.txt", b"an old letter\n")?;
    write_file(&docs, b"note.txt", b"a note\n")?;
    pair.laptop.add_location(&docs, "Docs")?;
    pair.laptop.ok(["index"])?;
    let sd = |args: &[&str]| pair.laptop.json(args.iter().copied());
    // The nas's index is here: its locations are destinations.
    wait_for(Duration::from_secs(30), || {
        sd(&["ls", "sd://nas/Photos"]).is_ok_and(|l| l.as_array().is_some_and(|a| !a.is_empty()))
    })?;

    // The preview: from the index alone, as data.
    let preview = sd(&["cp", "sd://laptop/Docs/Tax", "sd://nas/Photos", "--preview"])?;
    for key in [
        "files",
        "bytes",
        "skipped",
        "space_needed",
        "space_free",
        "conflicts",
        "warnings",
        "estimate_s",
    ] {
        ensure!(preview.get(key).is_some(), "no {key}: {preview}");
    }
    let bytes = 16 + big.len() as u64;
    assert_eq!(
        (preview["files"].as_u64(), preview["bytes"].as_u64()),
        (Some(2), Some(bytes))
    );
    assert_eq!(preview["skipped"].as_u64(), Some(0));
    assert_eq!(preview["space_needed"].as_u64(), Some(bytes));
    ensure!(
        preview["space_free"].as_u64().is_some_and(|f| f > bytes),
        "{preview}"
    );
    assert_eq!(preview["conflicts"], serde_json::json!([]));
    // Nothing measured on this link yet: no estimate, and it says so.
    assert_eq!(preview["estimate_s"], Value::Null);
    // Without a terminal and without --yes, a preview is all that happens.
    let shown = pair
        .laptop
        .ok(["cp", "sd://laptop/Docs/Tax", "sd://nas/Photos"])?;
    ensure!(String::from_utf8(shown.stdout)?.contains("2 files"));
    ensure!(!pair.photos.join("Tax").exists(), "a preview copied");

    // Committed: verified where it lands, and on the nas's disk.
    let done = sd(&["cp", "sd://laptop/Docs/Tax", "sd://nas/Photos", "--yes"])?;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["result"]["verified"].as_u64(), Some(2), "{done}");
    assert_eq!(done["result"]["bytes"].as_u64(), Some(bytes));
    wait_for(Duration::from_secs(60), || {
        std::fs::read(pair.photos.join("Tax/scans/big.bin")).is_ok_and(|b| b == big)
    })
    .context("the nas never got the copy")?;
    assert_eq!(
        std::fs::read(pair.photos.join("Tax/2024.pdf"))?,
        b"tax return 2024\n"
    );
    // Once the nas's index says so, the same copy has nothing left to do,
    // and the link has a measured speed for the estimate.
    wait_for(Duration::from_secs(30), || {
        sd(&["cp", "sd://laptop/Docs/Tax", "sd://nas/Photos", "--preview"])
            .is_ok_and(|p| p["skipped"].as_u64() == Some(2) && p["files"].as_u64() == Some(0))
    })?;
    let again = sd(&["cp", "sd://laptop/Docs/Tax", "sd://nas/Photos", "--preview"])?;
    assert_eq!(again["estimate_s"].as_f64(), Some(0.0), "{again}");
    // New bytes on a link with a measured speed get an estimate.
    let one = sd(&[
        "cp",
        "sd://laptop/Docs/Tax/2024.pdf",
        "sd://nas/Photos/2024",
        "--preview",
    ])?;
    ensure!(one["estimate_s"].as_f64().is_some_and(|s| s > 0.0), "{one}");

    // A move: the source goes only once the nas holds the copy.
    let moved = sd(&["mv", "sd://laptop/Docs/Old", "sd://nas/Photos", "--yes"])?;
    assert_eq!(moved["status"], "done", "{moved}");
    assert_eq!(moved["result"]["removed"].as_u64(), Some(1), "{moved}");
    assert_eq!(
        std::fs::read(pair.photos.join("Old/letter.txt"))?,
        b"an old letter\n"
    );
    ensure!(!docs.join("Old/letter.txt").exists(), "the source stayed");
    ensure!(
        !docs.join("Old").exists(),
        "its folder stayed: {:?}",
        std::fs::read_dir(docs.join("Old"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    );
    // Undone: the move back is previewed, then run; the log links both.
    let id = moved["id"].as_u64().context("id")?.to_string();
    // (Previews read the index: once it has seen the source go.)
    pair.laptop.ok(["index"])?;
    let back = sd(&["undo", &id, "--preview"])?;
    assert_eq!(back["sources"][0], "sd://nas/Photos/Old", "{back}");
    assert_eq!(back["destination"], "sd://laptop/Docs");
    assert_eq!(back["files"].as_u64(), Some(1));
    ensure!(
        pair.photos.join("Old/letter.txt").exists(),
        "a preview moved"
    );
    let undone = sd(&["undo", &id, "--yes"])?;
    assert_eq!(undone["status"], "done", "{undone}");
    assert_eq!(undone["undoes"].as_u64(), moved["id"].as_u64());
    assert_eq!(
        std::fs::read(docs.join("Old/letter.txt"))?,
        b"an old letter\n"
    );
    wait_for(Duration::from_secs(30), || {
        !pair.photos.join("Old/letter.txt").exists()
    })
    .context("the nas kept its copy")?;
    ensure!(
        pair.laptop.json(["undo", &id, "--preview"]).is_err(),
        "undone twice"
    );
    // A move within one location is a rename.
    let renamed = sd(&[
        "mv",
        "sd://laptop/Docs/note.txt",
        "sd://laptop/Docs/Tax",
        "--yes",
    ])?;
    assert_eq!(renamed["status"], "done", "{renamed}");
    ensure!(docs.join("Tax/note.txt").exists() && !docs.join("note.txt").exists());
    // A folder into itself is refused, by name.
    let inside = sd(&[
        "cp",
        "sd://laptop/Docs/Tax",
        "sd://laptop/Docs/Tax/scans",
        "--preview",
    ])?;
    assert_eq!(
        inside["conflicts"].as_array().map(Vec::len),
        Some(1),
        "{inside}"
    );

    // The audit log has every one, oldest first.
    let log = sd(&["log"])?;
    let log = log.as_array().context("a list")?;
    let seen: Vec<(&str, &str)> = log
        .iter()
        .map(|a| {
            (
                a["type"].as_str().unwrap_or(""),
                a["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    ensure!(seen.contains(&("copy", "previewed")), "{seen:?}");
    ensure!(seen.contains(&("copy", "done")), "{seen:?}");
    ensure!(seen.contains(&("move", "done")), "{seen:?}");
    ensure!(log.iter().all(|a| a["id"].as_u64().is_some()));
    let text = String::from_utf8(pair.laptop.ok(["log"])?.stdout)?;
    ensure!(text.contains("move") && text.contains("done"), "{text}");
    Ok(())
}

#[test]
fn the_guardian_s_suggestion_is_an_action_that_clears_the_risk() -> Result<()> {
    let pair = setup(fill)?;
    let docs = pair.laptop.path("docs");
    write_file(&docs, b"Tax/2024.pdf", b"tax return 2024\n")?;
    pair.laptop.add_location(&docs, "Docs")?;
    pair.laptop.ok(["index"])?;
    let guardian = || pair.laptop.json(["guardian", "sd://laptop/Docs/Tax"]);
    wait_for(Duration::from_secs(30), || {
        guardian().is_ok_and(|g| g["at_risk"][0]["suggestion"]["command"].is_string())
    })?;
    let command = guardian()?["at_risk"][0]["suggestion"]["command"]
        .as_str()
        .context("command")?
        .to_owned();
    ensure!(command.starts_with("sd cp "), "{command}");
    // Run as printed, committing.
    sh(&format!(
        "SD_LIBRARY={} {} --yes",
        sdfs_tests::q(&pair.laptop.lib),
        command.replacen(
            "sd ",
            &format!("{} ", sdfs_tests::q(sdfs_tests::sd_bin())),
            1
        )
    ))?;
    wait_for(Duration::from_secs(60), || {
        guardian().is_ok_and(|g| g["by_risk"][0]["files"].as_u64() == Some(0))
    })
    .with_context(|| format!("{:?}", guardian()))?;
    Ok(())
}

/// Names below `dir`, with BLAKE3 of each file's bytes, sorted.
fn hashes(dir: &std::path::Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(entry.path())?;
        out.push((name, blake3::hash(&bytes).to_hex().to_string()));
    }
    out.sort();
    Ok(out)
}

/// `kill -9` of the daemon running a copy, mid-transfer, and of the
/// device receiving it: restarted, the sender resumes the action from its
/// log and the receiver takes the rest; every file lands once, whole.
#[test]
fn a_copy_killed_mid_transfer_on_either_side_resumes_and_lands_every_file_once() -> Result<()> {
    let crate::remote::Pair {
        laptop,
        mount,
        nas,
        nas_daemon,
        photos,
    } = setup(fill)?;
    let docs = laptop.path("docs");
    const FILES: usize = 24;
    for i in 0..FILES {
        let bytes = sdfs_tests::noise(1024 * 1024 + i * 4099, i as u64 + 10);
        write_file(&docs, format!("Big/part-{i:02}.bin").as_bytes(), &bytes)?;
    }
    laptop.add_location(&docs, "Docs")?;
    laptop.ok(["index"])?;
    wait_for(Duration::from_secs(30), || {
        laptop
            .json(["ls", "sd://nas/Photos"])
            .is_ok_and(|l| l.as_array().is_some_and(|a| !a.is_empty()))
    })?;
    let landed = || std::fs::read_dir(photos.join("Big")).map_or(0, |d| d.count());

    // Throttled so the kill lands mid-way: some files on the nas, not all.
    let mut cp = laptop
        .cmd([
            "--json",
            "cp",
            "--yes",
            "--limit",
            "2M",
            "sd://laptop/Docs/Big",
            "sd://nas/Photos",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    wait_for(Duration::from_secs(60), || landed() >= 3).context("nothing landed")?;
    let stale = mount.kill()?;
    cp.wait()?;
    ensure!(landed() < FILES, "the copy finished before the kill");

    // The receiver dies too while the sender comes back and resumes.
    sdfs_tests::kill(nas_daemon.context("nas daemon")?)?;
    let mount =
        laptop.mount_with(&["--listen", crate::remote::LOOPBACK, "--sync-every", "3600"])?;
    drop(stale);
    let addr = laptop.json(["status"])?["p2p"]["listen_addrs"][0]
        .as_str()
        .context("laptop address")?
        .to_owned();
    let _nas = nas.daemon_with(&[
        "--listen",
        crate::remote::LOOPBACK,
        "--sync-every",
        "3600",
        "--peer",
        &addr,
    ])?;
    let copy_done = || {
        laptop.json(["log"]).is_ok_and(|log| {
            log.as_array().is_some_and(|l| {
                l.iter().any(|a| {
                    a["type"] == "copy" && a["status"] == "done" && a["runs"].as_u64() > Some(1)
                })
            })
        })
    };
    wait_for(Duration::from_secs(120), copy_done).with_context(|| {
        format!(
            "never resumed: {}\n{}",
            laptop.json(["log"]).unwrap_or_default(),
            mount.log()
        )
    })?;
    let want = hashes(&docs.join("Big"))?;
    wait_for(Duration::from_secs(120), || {
        hashes(&photos.join("Big")).is_ok_and(|h| h == want)
    })
    .with_context(|| {
        format!(
            "the nas holds {:?}",
            hashes(&photos.join("Big")).unwrap_or_default()
        )
    })?;
    // Nothing twice: no conflict copies, no half-written leftovers.
    let all = sh(&format!("find {} -mindepth 1", sdfs_tests::q(&photos)))?;
    ensure!(
        !all.contains("sync-conflict") && !all.contains(".sd-incoming"),
        "{all}"
    );
    Ok(())
}

/// `sd tag` is an action: logged with what it changed, undone by `sd undo`.
#[test]
fn a_tag_change_is_logged_and_undone() -> Result<()> {
    let sd = sdfs_tests::Sd::init("laptop")?;
    let docs = sd.path("docs");
    write_file(&docs, b"2024.pdf", b"tax return\n")?;
    sd.add_location(&docs, "Docs")?;
    sd.ok(["index"])?;
    let file = "sd://laptop/Docs/2024.pdf";
    sd.ok(["tag", "add", file, "tax"])?;
    // Adds one new tag (tax it had already): only that is the change.
    let tagged = sd.json(["tag", "add", file, "tax", "2024"])?;
    assert_eq!(tagged["tags"], serde_json::json!(["2024", "tax"]));
    let action = tagged["action"].as_u64().context("action id")?;
    let id = action.to_string();
    let log = sd.json(["log"])?;
    let entry = log
        .as_array()
        .and_then(|l| l.iter().find(|a| a["id"].as_u64() == Some(action)))
        .context("in the log")?;
    assert_eq!(entry["type"], "tag");
    assert_eq!(
        entry["tags"]["added"],
        serde_json::json!(["2024"]),
        "{entry}"
    );

    let back = sd.json(["undo", &id, "--preview"])?;
    assert_eq!(
        back["tags"]["removed"],
        serde_json::json!(["2024"]),
        "{back}"
    );
    let undone = sd.json(["undo", &id, "--yes"])?;
    assert_eq!(undone["status"], "done", "{undone}");
    assert_eq!(
        sd.json(["tag", "ls", file])?["tags"],
        serde_json::json!(["tax"])
    );

    // A removal comes back the same way.
    let removed = sd.json(["tag", "rm", file, "tax"])?;
    let id = removed["action"].as_u64().context("action id")?.to_string();
    sd.ok(["undo", &id, "--yes"])?;
    assert_eq!(
        sd.json(["tag", "ls", file])?["tags"],
        serde_json::json!(["tax"])
    );
    Ok(())
}

/// A mirror conduit from the laptop to the nas: its first run is
/// previewed and committed; afterwards every change at the source (an
/// edit, a new file, a deletion) reaches the nas by itself.
#[test]
fn a_mirror_conduit_keeps_another_device_s_folder_in_step() -> Result<()> {
    let pair = setup(fill)?;
    let docs = pair.laptop.path("docs");
    let song = sdfs_tests::noise(2 * 1024 * 1024 + 5, 21);
    write_file(&docs, b"Music/song.flac", &song)?;
    write_file(&docs, b"Music/notes.txt", b"setlist\n")?;
    write_file(&docs, b"Music/old.txt", b"to be deleted\n")?;
    pair.laptop.add_location(&docs, "Docs")?;
    pair.laptop.ok(["index"])?;
    let sd = |args: &[&str]| pair.laptop.json(args.iter().copied());
    wait_for(Duration::from_secs(30), || {
        sd(&["ls", "sd://nas/Photos"]).is_ok_and(|l| l.as_array().is_some_and(|a| !a.is_empty()))
    })?;
    let (from, to) = ("sd://laptop/Docs/Music", "sd://nas/Photos/Music");

    let preview = sd(&["conduit", "add", from, to, "--mode", "mirror", "--preview"])?;
    assert_eq!(preview["type"], "sync");
    assert_eq!(preview["files"].as_u64(), Some(3), "{preview}");
    ensure!(
        sd(&["conduit", "ls"])?
            .as_array()
            .is_some_and(Vec::is_empty),
        "kept by a preview"
    );
    let added = sd(&["conduit", "add", from, to, "--mode", "mirror", "--yes"])?;
    assert_eq!(added["status"], "done", "{added}");
    let id = added["conduit"]["id"].as_u64().context("conduit id")?;
    let nas = pair.photos.join("Music");
    wait_for(Duration::from_secs(60), || {
        std::fs::read(nas.join("song.flac")).is_ok_and(|b| b == song)
    })
    .context("the first run never reached the nas")?;

    // Changes at the source travel by themselves.
    let mut edited = song.clone();
    edited[1_000_000..1_000_010].copy_from_slice(b"0123456789");
    std::fs::write(docs.join("Music/song.flac"), &edited)?;
    std::fs::remove_file(docs.join("Music/old.txt"))?;
    write_file(&docs, b"Music/new.txt", b"a new song\n")?;
    wait_for(Duration::from_secs(90), || {
        std::fs::read(nas.join("song.flac")).is_ok_and(|b| b == edited)
            && std::fs::read(nas.join("new.txt")).is_ok_and(|b| b == b"a new song\n")
            && !nas.join("old.txt").exists()
    })
    .with_context(|| {
        format!(
            "the nas never caught up: {}\n{}",
            sh(&format!("ls -la {}", sdfs_tests::q(&nas))).unwrap_or_default(),
            pair.mount.log()
        )
    })?;
    // What the mirror trimmed is in the nas's trash, not gone.
    let trashed = pair
        .nas
        .lib
        .join("trash")
        .join(sh("id -u")?.trim())
        .join("files/old.txt");
    assert_eq!(std::fs::read(trashed)?, b"to be deleted\n");
    assert_eq!(std::fs::read(nas.join("notes.txt"))?, b"setlist\n");
    let listed = sd(&["conduit", "ls"])?;
    assert_eq!(listed[0]["mode"], "mirror", "{listed}");
    let log = sd(&["log"])?;
    ensure!(
        log.as_array().is_some_and(|l| l
            .iter()
            .filter(|a| a["type"] == "sync" && a["status"] == "done")
            .count()
            >= 2),
        "{log}"
    );
    pair.laptop.ok(["conduit", "rm", &id.to_string()])?;
    ensure!(
        sd(&["conduit", "ls"])?
            .as_array()
            .is_some_and(Vec::is_empty)
    );
    Ok(())
}

/// A bidirectional conduit between the laptop and the nas: an edit on
/// the nas, a new file on the laptop and a deletion on the nas each reach
/// the other side by themselves.
#[test]
fn a_bidirectional_conduit_carries_changes_both_ways_between_devices() -> Result<()> {
    let pair = setup(|root| {
        write_file(root, b"Shared/plan.txt", b"plan v1\n")?;
        write_file(root, b"Shared/old.txt", b"to be deleted on the nas\n")?;
        Ok(())
    })?;
    let docs = pair.laptop.path("docs");
    write_file(&docs, b"Shared/mine.txt", b"from the laptop\n")?;
    pair.laptop.add_location(&docs, "Docs")?;
    pair.laptop.ok(["index"])?;
    let sd = |args: &[&str]| pair.laptop.json(args.iter().copied());
    wait_for(Duration::from_secs(30), || {
        sd(&["ls", "sd://nas/Photos/Shared"])
            .is_ok_and(|l| l.as_array().is_some_and(|a| a.len() == 2))
    })?;
    let added = sd(&[
        "conduit",
        "add",
        "sd://laptop/Docs/Shared",
        "sd://nas/Photos/Shared",
        "--mode",
        "bidirectional",
        "--yes",
    ])?;
    assert_eq!(added["status"], "done", "{added}");
    let (here, there) = (docs.join("Shared"), pair.photos.join("Shared"));
    wait_for(Duration::from_secs(60), || {
        std::fs::read(there.join("mine.txt")).is_ok_and(|b| b == b"from the laptop\n")
            && std::fs::read(here.join("plan.txt")).is_ok_and(|b| b == b"plan v1\n")
    })
    .context("the first run never united both sides")?;

    // The nas edits one file and deletes another; the laptop adds one.
    std::fs::write(there.join("plan.txt"), b"plan v2, longer\n")?;
    std::fs::remove_file(there.join("old.txt"))?;
    write_file(&docs, b"Shared/later.txt", b"added later\n")?;
    wait_for(Duration::from_secs(120), || {
        std::fs::read(here.join("plan.txt")).is_ok_and(|b| b == b"plan v2, longer\n")
            && !here.join("old.txt").exists()
            && std::fs::read(there.join("later.txt")).is_ok_and(|b| b == b"added later\n")
    })
    .with_context(|| {
        format!(
            "never in step: laptop {:?}, nas {:?}\n{}\n{}\n{}",
            std::fs::read_dir(&here)
                .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>()),
            std::fs::read_dir(&there)
                .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>()),
            sd(&["log"]).unwrap_or_default(),
            sd(&["conduit", "ls"]).unwrap_or_default(),
            pair.mount.log()
        )
    })?;
    // The deletion reached the laptop as a move to its trash.
    let trash = pair.laptop.lib.join("trash").join(sh("id -u")?.trim());
    assert_eq!(
        std::fs::read(trash.join("files/old.txt"))?,
        b"to be deleted on the nas\n"
    );
    // Still in step a while later: nothing travels back and forth.
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(std::fs::read(there.join("plan.txt"))?, b"plan v2, longer\n");
    assert_eq!(std::fs::read(here.join("mine.txt"))?, b"from the laptop\n");
    Ok(())
}
