//! The desktop Trash in the mount: `gio trash` (what file managers call on
//! Delete) moves a file or folder of this device into `<mount>/.Trash-<uid>`,
//! and restoring it (a rename back to the path its info names) brings it
//! back, bytes and all. `sd rm` is the same trash as an action (previewed,
//! logged, undone by `sd undo`). Another device's file trashed here comes
//! here whole and is kept in its owner's trash too.

use anyhow::{Context, Result, ensure};
use sdfs_tests::{Sd, q, sh, write_file};

#[test]
fn gio_trash_puts_files_and_folders_in_the_mount_s_trash_and_they_come_back() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let docs = sd.path("docs");
    write_file(&docs, b"report.txt", b"quarterly numbers\n")?;
    write_file(&docs, b"Old/a.txt", b"an old note\n")?;
    sd.add_location(&docs, "Docs")?;
    let mount = sd.mount()?;
    let mnt = &mount.mountpoint;
    let uid = sh("id -u")?.trim().to_owned();
    let trash = mnt.join(format!(".Trash-{uid}"));

    sh(&format!(
        "gio trash {}",
        q(&mount.location("Docs").join("report.txt"))
    ))?;
    ensure!(!docs.join("report.txt").exists(), "still on disk");
    ensure!(
        !mount.location("Docs").join("report.txt").exists(),
        "still in the mount"
    );
    // In the trash, as the specification lays it out and file managers read it.
    assert_eq!(
        std::fs::read(trash.join("files/report.txt"))?,
        b"quarterly numbers\n"
    );
    let info = std::fs::read_to_string(trash.join("info/report.txt.trashinfo"))?;
    ensure!(info.contains("Path=laptop/Docs/report.txt"), "{info}");
    ensure!(info.contains("DeletionDate="), "{info}");
    let listed = sh(&format!("ls {}", q(&trash.join("files"))))?;
    assert_eq!(listed.trim(), "report.txt");

    // A folder goes whole.
    sh(&format!(
        "gio trash {}",
        q(&mount.location("Docs").join("Old"))
    ))?;
    ensure!(!docs.join("Old").exists());
    assert_eq!(
        std::fs::read(trash.join("files/Old/a.txt"))?,
        b"an old note\n"
    );

    // Restore, as a file manager does: the item goes back to its Path.
    for name in ["report.txt", "Old"] {
        let info = std::fs::read_to_string(trash.join(format!("info/{name}.trashinfo")))?;
        let path = info
            .lines()
            .find_map(|l| l.strip_prefix("Path="))
            .context("Path=")?;
        sh(&format!(
            "mv {} {} && rm {}",
            q(&trash.join("files").join(name)),
            q(&mnt.join(path)),
            q(&trash.join(format!("info/{name}.trashinfo")))
        ))?;
    }
    assert_eq!(
        std::fs::read(docs.join("report.txt"))?,
        b"quarterly numbers\n"
    );
    assert_eq!(std::fs::read(docs.join("Old/a.txt"))?, b"an old note\n");
    // The index has them again.
    sd.ok(["index"])?;
    let stat = sd.json(["stat", "sd://laptop/Docs/Old/a.txt"])?;
    assert_eq!(stat["size"].as_u64(), Some(12));
    Ok(())
}

#[test]
fn another_device_s_file_is_trashed_here_kept_by_its_owner_and_restored() -> Result<()> {
    let mut pair = crate::remote::setup(|root| {
        write_file(root, b"2024/beach.jpg", b"a beach\n")?;
        write_file(root, b"2024/Album/dunes.jpg", b"some dunes\n")?;
        write_file(root, b"2024/sunset.jpg", b"a sunset\n")?;
        Ok(())
    })?;
    let remote = pair.remote().join("2024/beach.jpg");
    sdfs_tests::wait_for(std::time::Duration::from_secs(30), || remote.exists())?;
    let uid = sh("id -u")?.trim().to_owned();
    let trash = pair.mount.mountpoint.join(format!(".Trash-{uid}"));

    // A file manager's Delete: the bytes come here (verified as any read),
    // then the nas removes its file and keeps it in its own trash.
    sh(&format!("gio trash {}", q(&remote)))?;
    assert_eq!(std::fs::read(trash.join("files/beach.jpg"))?, b"a beach\n");
    let info = std::fs::read_to_string(trash.join("info/beach.jpg.trashinfo"))?;
    ensure!(info.contains("Path=nas/Photos/2024/beach.jpg"), "{info}");
    ensure!(!remote.exists(), "still in the mount");
    sdfs_tests::wait_for(std::time::Duration::from_secs(30), || {
        !pair.photos.join("2024/beach.jpg").exists()
    })?;
    let nas_trash = pair.nas.lib.join("trash").join(&uid);
    assert_eq!(
        std::fs::read(nas_trash.join("files/beach.jpg"))?,
        b"a beach\n"
    );

    // Restored as a file manager does: moved back to its Path (a copy
    // across devices), and the nas has it again.
    sh(&format!(
        "mv {0} {1} && rm {2}",
        q(&trash.join("files/beach.jpg")),
        q(&pair.mount.mountpoint.join("nas/Photos/2024/beach.jpg")),
        q(&trash.join("info/beach.jpg.trashinfo"))
    ))?;
    // (The copy is a new file, not the trashed one's inode under a new
    // name: were it, mv's O_TRUNC would empty what it reads.)
    sdfs_tests::wait_for(std::time::Duration::from_secs(30), || {
        std::fs::read(pair.photos.join("2024/beach.jpg")).is_ok_and(|b| b == b"a beach\n")
    })?;

    // A folder of another device is not carried across the network by a
    // rename: gio says so, and nothing is lost.
    let album = pair.remote().join("2024/Album");
    let out = std::process::Command::new("gio")
        .arg("trash")
        .arg(&album)
        .output()?;
    ensure!(!out.status.success(), "a remote folder trashed by rename");
    assert_eq!(
        std::fs::read(pair.photos.join("2024/Album/dunes.jpg"))?,
        b"some dunes\n"
    );

    // With the nas gone, a file whose bytes are not here cannot be trashed
    // here: the Delete fails at once, and the file stays listed.
    if let Some(nas) = pair.nas_daemon.take() {
        sdfs_tests::kill(nas)?;
    }
    let sunset = pair.remote().join("2024/sunset.jpg");
    let out = std::process::Command::new("timeout")
        .args(["60", "gio", "trash"])
        .arg(&sunset)
        .output()?;
    ensure!(!out.status.success(), "trashed with its bytes away");
    ensure!(!trash.join("files/sunset.jpg").exists(), "half-trashed");
    ensure!(sunset.exists(), "gone from the mount");
    assert_eq!(
        std::fs::read(pair.photos.join("2024/sunset.jpg"))?,
        b"a sunset\n"
    );
    Ok(())
}

#[test]
fn sd_rm_moves_files_to_the_trash_the_mount_shows_and_sd_undo_brings_them_back() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let docs = sd.path("docs");
    write_file(&docs, b"report.txt", b"quarterly numbers\n")?;
    write_file(&docs, b"Old/a.txt", b"an old note\n")?;
    write_file(&docs, b"Old/b.txt", b"another\n")?;
    sd.add_location(&docs, "Docs")?;
    let mount = sd.mount()?;
    let uid = sh("id -u")?.trim().to_owned();
    let trash = mount.mountpoint.join(format!(".Trash-{uid}"));
    let report = mount.location("Docs").join("report.txt");
    let old = mount.location("Docs").join("Old");
    let path = |p: &std::path::Path| p.to_str().map(str::to_owned).context("utf-8");

    // The preview: what goes, from the index; nothing moves.
    let preview = sd.json(["rm", "--preview", &path(&report)?, &path(&old)?])?;
    assert_eq!(preview["type"], "delete");
    assert_eq!(preview["files"].as_u64(), Some(3));
    assert_eq!(preview["bytes"].as_u64(), Some(18 + 12 + 8));
    assert_eq!(preview["conflicts"], serde_json::json!([]));
    ensure!(docs.join("report.txt").exists(), "a preview deleted");
    // A whole location is not `sd rm`'s to take.
    let root = sd.json(["rm", "--preview", "sd://laptop/Docs"])?;
    ensure!(
        root["conflicts"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("location"))
    );

    let done = sd.json(["rm", "--yes", &path(&report)?, &path(&old)?])?;
    assert_eq!(done["status"], "done", "{done}");
    let id = done["id"].as_u64().context("id")?;
    ensure!(!docs.join("report.txt").exists() && !docs.join("Old").exists());
    ensure!(!report.exists(), "still in the mount");
    // Where a file manager's Trash lists it, with its info.
    assert_eq!(std::fs::read(trash.join("files/Old/b.txt"))?, b"another\n");
    let info = std::fs::read_to_string(trash.join("info/report.txt.trashinfo"))?;
    ensure!(info.contains("Path=laptop/Docs/report.txt"), "{info}");
    let log = sd.json(["log"])?;
    let entry = log
        .as_array()
        .and_then(|l| l.iter().find(|r| r["id"].as_u64() == Some(id)))
        .context("the delete in the log")?;
    assert_eq!(
        (&entry["type"], &entry["status"]),
        (&"delete".into(), &"done".into())
    );

    // Undone: previewed, then everything is back where it was.
    let back = sd.json(["undo", &id.to_string(), "--preview"])?;
    assert_eq!(
        (back["type"].as_str(), back["files"].as_u64()),
        (Some("restore"), Some(3))
    );
    ensure!(
        !docs.join("report.txt").exists(),
        "an undo preview restored"
    );
    let undone = sd.json(["undo", &id.to_string(), "--yes"])?;
    assert_eq!(undone["status"], "done", "{undone}");
    assert_eq!(std::fs::read(&report)?, b"quarterly numbers\n");
    assert_eq!(std::fs::read(docs.join("Old/a.txt"))?, b"an old note\n");
    ensure!(!trash.join("files/report.txt").exists());
    let stat = sd.json(["stat", "sd://laptop/Docs/Old/b.txt"])?;
    assert_eq!(stat["size"].as_u64(), Some(8));
    ensure!(
        sd.json(["undo", &id.to_string(), "--yes"]).is_err(),
        "undone twice"
    );
    Ok(())
}

#[test]
fn a_file_another_device_deletes_is_kept_in_its_owner_s_trash() -> Result<()> {
    let pair = crate::remote::setup(|root| {
        write_file(root, b"2024/beach.jpg", b"a beach\n")?;
        write_file(root, b"2024/dunes.jpg", b"some dunes\n")?;
        Ok(())
    })?;
    let remote = pair.remote().join("2024");
    sdfs_tests::wait_for(std::time::Duration::from_secs(30), || {
        remote.join("dunes.jpg").exists()
    })?;
    let nas_trash = pair.nas.lib.join("trash").join(sh("id -u")?.trim());
    // rm through the mount, and `sd rm` of the nas's URI.
    sh(&format!("rm {}", q(&remote.join("beach.jpg"))))?;
    let done = pair
        .laptop
        .json(["rm", "--yes", "sd://nas/Photos/2024/dunes.jpg"])?;
    assert_eq!(done["status"], "done", "{done}");
    sdfs_tests::wait_for(std::time::Duration::from_secs(30), || {
        !pair.photos.join("2024/beach.jpg").exists() && !pair.photos.join("2024/dunes.jpg").exists()
    })?;
    // Gone from the nas's folder, whole in the nas's trash.
    assert_eq!(
        std::fs::read(nas_trash.join("files/beach.jpg"))?,
        b"a beach\n"
    );
    assert_eq!(
        std::fs::read(nas_trash.join("files/dunes.jpg"))?,
        b"some dunes\n"
    );
    let info = std::fs::read_to_string(nas_trash.join("info/dunes.jpg.trashinfo"))?;
    ensure!(info.contains("Path=nas/Photos/2024/dunes.jpg"), "{info}");
    // Its undo here says where it is rather than pretending.
    let id = done["id"].as_u64().context("id")?.to_string();
    let back = pair.laptop.json(["undo", &id, "--preview"])?;
    assert_eq!(back["files"].as_u64(), Some(0));
    ensure!(
        back["conflicts"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("nas's trash")),
        "{back}"
    );
    Ok(())
}

#[test]
fn sd_dedupe_trashes_extra_copies_and_sd_undo_brings_them_back() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let docs = sd.path("docs");
    write_file(&docs, b"Photos/beach.jpg", b"a beach\n")?;
    write_file(&docs, b"Photos/copy of beach.jpg", b"a beach\n")?;
    write_file(&docs, b"Inbox/beach.jpg", b"a beach\n")?;
    write_file(&docs, b"Photos/dunes.jpg", b"some dunes\n")?;
    sd.add_location(&docs, "Docs")?;
    sd.ok(["index"])?;
    let preview = sd.json(["dedupe", "sd://laptop/Docs/Photos", "--preview"])?;
    assert_eq!(preview["type"], "dedupe");
    // Only below the folder asked: Inbox's copy is not its business.
    assert_eq!(preview["files"].as_u64(), Some(1), "{preview}");
    let done = sd.json(["dedupe", "sd://laptop/Docs/Photos", "--yes"])?;
    assert_eq!(done["status"], "done", "{done}");
    let left: Vec<_> = std::fs::read_dir(docs.join("Photos"))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    ensure!(docs.join("Inbox/beach.jpg").exists());
    let id = done["id"].as_u64().context("id")?.to_string();
    sd.ok(["undo", &id, "--yes"])?;
    assert_eq!(std::fs::read_dir(docs.join("Photos"))?.count(), 3);
    Ok(())
}
