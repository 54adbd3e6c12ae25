//! A device whose clock runs 10 s ahead (the whole daemon under
//! libfaketime): its index still syncs (device-owned data carries the
//! owner's sequence, not its clock), but its shared-data changes are
//! refused and logged instead of dragging every other clock forward.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sdfs_tests::{Sd, q, sh, wait_for, write_file};

use crate::remote::{LOOPBACK, pair};

#[test]
fn a_device_ten_seconds_ahead_has_its_shared_changes_refused_and_logged() -> Result<()> {
    // libfaketime preloaded into the daemon itself (`env` execs it, so the
    // test's handle is the daemon's own process; the `faketime` wrapper
    // would fork and leave the daemon behind when stopped).
    let libfaketime = ["x86_64-linux-gnu", "aarch64-linux-gnu", ""]
        .iter()
        .map(|arch| format!("/usr/lib/{arch}/faketime/libfaketime.so.1").replace("//", "/"))
        .find(|p| std::path::Path::new(p).exists())
        .context("this test needs libfaketime (apt-get install faketime)")?;
    let preload = format!("LD_PRELOAD={libfaketime}");
    let laptop = Sd::init("laptop")?;
    let nas = Sd::init("nas")?;
    let photos = nas.path("photos");
    write_file(&photos, b"from-nas.txt", b"tagged on the nas\n")?;
    write_file(&photos, b"from-laptop.txt", b"tagged on the laptop\n")?;
    nas.add_location(&photos, "Photos")?;
    let _nas_daemon = nas.daemon_in(
        &["env", &preload, "FAKETIME=+10s"],
        &["--listen", LOOPBACK, "--sync-every", "3600"],
    )?;
    let mount = laptop.mount_with(&["--listen", LOOPBACK, "--sync-every", "3600"])?;
    pair(&laptop, &nas)?;
    let remote = mount.mountpoint.join("nas").join("Photos");
    wait_for(Duration::from_secs(30), || {
        remote.join("from-laptop.txt").exists()
    })
    .context("the nas's index never arrived: device-owned data must not depend on clocks")?;

    // The nas tags with stamps 10 s ahead of the laptop's clock.
    nas.ok([
        std::ffi::OsStr::new("tag"),
        "add".as_ref(),
        photos.join("from-nas.txt").as_os_str(),
        "future".as_ref(),
    ])?;
    // The laptop's own tags reach the nas (they are behind its clock).
    sh(&format!(
        "setfattr -n user.sd.tags -v present {}",
        q(&remote.join("from-laptop.txt"))
    ))?;
    let nas_tags = || -> Result<String> {
        Ok(nas.json([
            std::ffi::OsStr::new("tag"),
            "ls".as_ref(),
            photos.join("from-laptop.txt").as_os_str(),
        ])?["tags"]
            .to_string())
    };
    wait_for(Duration::from_secs(20), || {
        nas_tags().is_ok_and(|t| t == r#"["present"]"#)
    })
    .with_context(|| format!("the laptop's tag never reached the nas: {:?}", nas_tags()))?;

    // The nas's are refused, and the laptop says why.
    wait_for(Duration::from_secs(20), || {
        mount.log().contains("refused until its clock is right")
    })
    .with_context(|| format!("no refusal logged:\n{}", mount.log()))?;
    let on_laptop = sh(&format!(
        "getfattr --only-values -n user.sd.tags {} 2>/dev/null || true",
        q(&remote.join("from-nas.txt"))
    ))?;
    ensure!(
        !on_laptop.contains("future"),
        "a tag stamped 10 s ahead was adopted: {on_laptop:?}"
    );
    Ok(())
}
