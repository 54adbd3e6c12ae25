//! The desktop Trash in the mount: `gio trash` (what file managers call on
//! Delete) moves a file or folder of this device into `<mount>/.Trash-<uid>`,
//! and restoring it (a rename back to the path its info names) brings it
//! back, bytes and all.

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
fn another_device_s_file_is_not_trashed_here_and_stays_whole() -> Result<()> {
    let pair = crate::remote::setup(|root| {
        write_file(root, b"2024/beach.jpg", b"a beach\n")?;
        Ok(())
    })?;
    let remote = pair.remote().join("2024/beach.jpg");
    sdfs_tests::wait_for(std::time::Duration::from_secs(30), || remote.exists())?;
    // Its trash is the nas's to keep: here it is another filesystem, and
    // gio says so rather than deleting it.
    let out = std::process::Command::new("gio")
        .arg("trash")
        .arg(&remote)
        .output()?;
    ensure!(!out.status.success(), "trashed across devices");
    assert_eq!(
        std::fs::read(pair.photos.join("2024/beach.jpg"))?,
        b"a beach\n"
    );
    assert_eq!(std::fs::read(&remote)?, b"a beach\n");
    Ok(())
}
