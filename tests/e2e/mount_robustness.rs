//! The mount under stress of another kind: signals, crashes, busy unmounts,
//! fsync.

use std::io::Write;
use std::os::unix::fs::FileExt;

use anyhow::Result;
use sdfs_tests::{Sd, is_mounted, write_file};

fn setup() -> Result<(Sd, std::path::PathBuf)> {
    let sd = Sd::init("laptop")?;
    let data = sd.path("data");
    write_file(&data, b"hello.txt", b"hello")?;
    sd.add_location(&data, "Docs")?;
    Ok((sd, data))
}

#[test]
fn sigterm_unmounts_cleanly_and_sd_unmount_too() -> Result<()> {
    let (sd, _data) = setup()?;
    let mount = sd.mount()?;
    let point = mount.mountpoint.clone();
    assert_eq!(
        std::fs::read(mount.location("Docs").join("hello.txt"))?,
        b"hello"
    );
    let status = mount.stop()?;
    assert!(status.success(), "{status}");
    assert!(!is_mounted(&point));

    let mount = sd.mount()?;
    let reply = sd.json(["unmount"])?;
    assert_eq!(reply["stopping"].as_u64(), Some(u64::from(mount.pid())));
    sdfs_tests::wait_for(std::time::Duration::from_secs(10), || !is_mounted(&point))?;
    Ok(())
}

#[test]
fn a_busy_mount_is_detached_lazily_at_shutdown() -> Result<()> {
    let (sd, _data) = setup()?;
    let mount = sd.mount()?;
    // A process sitting inside the mount makes a plain unmount fail with EBUSY.
    let mut busy = std::process::Command::new("sleep")
        .arg("30")
        .current_dir(mount.location("Docs"))
        .spawn()?;
    let point = mount.mountpoint.clone();
    let status = mount.stop();
    let _ = busy.kill();
    let _ = busy.wait();
    assert!(status?.success());
    assert!(!is_mounted(&point));
    Ok(())
}

#[test]
fn after_kill_9_the_stale_mount_is_cleaned_by_the_next_mount() -> Result<()> {
    let (sd, _data) = setup()?;
    let stale = sd.mount()?.kill()?;
    let err = std::fs::read_dir(&stale.path).expect_err("stale");
    assert_eq!(
        err.raw_os_error(),
        Some(libc::ENOTCONN),
        "Transport endpoint is not connected"
    );
    let mount = sd.mount()?;
    assert_eq!(
        std::fs::read(mount.location("Docs").join("hello.txt"))?,
        b"hello"
    );
    assert!(mount.log().contains("stale mount"), "{}", mount.log());
    Ok(())
}

#[test]
fn data_acknowledged_by_fsync_survives_the_daemon_dying() -> Result<()> {
    let (sd, data) = setup()?;
    let mount = sd.mount()?;
    let path = mount.location("Docs").join("journal");
    let mut file = std::fs::File::create(&path)?;
    file.write_all(b"committed record\n")?;
    file.sync_all()?;
    file.write_all_at(b"COMMITTED", 0)?;
    file.sync_data()?;
    drop(file);
    let _stale = mount.kill()?;
    assert_eq!(std::fs::read(data.join("journal"))?, b"COMMITTED record\n");
    Ok(())
}
