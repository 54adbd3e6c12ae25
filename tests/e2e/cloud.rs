//! A bucket as a directory of the mount, against a real S3 server
//! (SeaweedFS) checked with the service's own client (rclone): added with
//! its keys kept out of the database, indexed without downloading, then
//! `find`, `grep -r` and `diff -r` through the mount equal the objects.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use sdfs_tests::servers::{ACCESS_KEY, SECRET_KEY, SeaweedFs};
use sdfs_tests::{Mount, Sd, noise, q, sh, wait_for, write_file};

use crate::file_states::state;

/// Objects with the names that trip up gateways: spaces, unicode, percent
/// signs, many slashes, an empty object, one of several chunks, and
/// prefixes with no marker object.
fn fill(root: &Path) -> Result<()> {
    write_file(root, b"readme.txt", b"the bucket's readme\n")?;
    write_file(root, b"dir one/notes.txt", b"alpha\nneedle in a bucket\n")?;
    write_file(
        root,
        "caf\u{e9}/na\u{ef}ve r\u{e9}sum\u{e9}.txt".as_bytes(),
        b"unicode\n",
    )?;
    write_file(root, b"100% done.txt", b"percent\n")?;
    write_file(root, b"a/b/c/d/e/deep.txt", b"deep needle\n")?;
    write_file(root, b"empty.bin", b"")?;
    write_file(root, b"photos/big.bin", &noise(3 * 1024 * 1024 + 17, 5))?;
    Ok(())
}

/// `sd cloud add BUCKET s3 ...` with the tests' keys, as it ended.
fn cloud_add_s3(sd: &Sd, s3: &SeaweedFs, bucket: &str) -> Result<std::process::Output> {
    Ok(sd
        .cmd([
            "cloud",
            "add",
            bucket,
            "s3",
            "--bucket",
            bucket,
            "--endpoint",
            &s3.endpoint(),
        ])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .output()?)
}

fn add_bucket(sd: &Sd, s3: &SeaweedFs, bucket: &str) -> Result<()> {
    let out = cloud_add_s3(sd, s3, bucket)?;
    ensure!(
        out.status.success(),
        "sd cloud add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A server whose bucket `archive` holds `fill`'s objects and `more`'s,
/// and the tree they were uploaded from.
pub(crate) fn archive(
    more: impl FnOnce(&Path) -> Result<()>,
) -> Result<(SeaweedFs, tempfile::TempDir)> {
    let s3 = SeaweedFs::start()?;
    let src = tempfile::tempdir()?;
    fill(src.path())?;
    more(src.path())?;
    s3.rclone(&["mkdir", "sw:archive"])?;
    s3.upload(src.path(), "archive")?;
    Ok((s3, src))
}

/// How the devices of a pairing test listen: on loopback, syncing on
/// announcement only.
pub(crate) const LISTEN: &[&str] = &["--listen", crate::remote::LOOPBACK, "--sync-every", "3600"];

/// A laptop paired with `nas` (running with [`LISTEN`]), mounted, once the
/// nas's volume `archive` shows at its top level.
pub(crate) fn paired_laptop(nas: &Sd) -> Result<(Sd, Mount)> {
    let laptop = Sd::init("laptop")?;
    let mount = laptop.mount_with(LISTEN)?;
    crate::remote::pair(&laptop, nas)?;
    let volume = mount.mountpoint.join("archive");
    wait_for(Duration::from_secs(30), || {
        volume.join("readme.txt").is_file()
    })
    .with_context(|| format!("the volume never showed on the laptop:\n{}", mount.log()))?;
    Ok((laptop, mount))
}

/// A device named `device` with the bucket added and indexed.
pub(crate) fn indexed(device: &str, s3: &SeaweedFs) -> Result<Sd> {
    let sd = Sd::init(device)?;
    add_bucket(&sd, s3, "archive")?;
    sd.ok(["index", "archive"])?;
    Ok(sd)
}

#[test]
fn a_bucket_is_a_directory_that_find_grep_and_diff_read_like_its_objects() -> Result<()> {
    let (s3, src) = archive(|_| Ok(()))?;

    let sd = Sd::init("laptop")?;
    add_bucket(&sd, &s3, "archive")?;
    // The keys are in a 0600 file of the library, not in its database.
    let secrets = sh(&format!(
        "find {} -path '*secrets*' -type f -perm 600",
        q(&sd.lib)
    ))?;
    ensure!(secrets.lines().count() == 1, "secrets file: {secrets:?}");
    let leaked = sh(&format!(
        "grep -rl --binary-files=text {SECRET_KEY} {} | grep -v /secrets/ || true",
        q(&sd.lib)
    ))?;
    ensure!(leaked.is_empty(), "the secret key is in {leaked}");
    let listed = sd.json(["cloud", "list"])?;
    ensure!(
        listed[0]["name"] == "archive" && listed[0]["service"] == "s3",
        "{listed}"
    );
    ensure!(!listed.to_string().contains(SECRET_KEY), "{listed}");

    let indexed = sd.json(["index", "archive"])?;
    ensure!(indexed[0]["files"] == 7, "{indexed}");
    // Identified from ranged reads of the samples: every non-empty file.
    ensure!(indexed[0]["identified"] == 6, "{indexed}");

    let mount = sd.mount()?;
    let volume = mount.mountpoint.join("archive");
    // The volume sits beside the device at the top.
    let top = sh(&format!("ls {}", q(&mount.mountpoint)))?;
    ensure!(top.lines().any(|l| l == "archive"), "{top}");
    // find lists what the service's own client lists.
    let found = sh(&format!(
        "cd {} && find . -type f -printf '%P %s\\n' | LC_ALL=C sort",
        q(&volume)
    ))?;
    let objects = s3.rclone(&[
        "lsf",
        "-R",
        "--files-only",
        "--format",
        "ps",
        "--separator",
        " ",
        "sw:archive",
    ])?;
    let mut objects: Vec<&str> = objects.lines().collect();
    objects.sort_unstable();
    assert_eq!(found.lines().collect::<Vec<_>>(), objects);
    // Nothing of the big file is here until it is read; then it is kept.
    let state = |rel: &str| state(&volume.join(rel));
    assert_eq!(state("photos/big.bin")?, "online-only");
    // grep -r reads every file.
    let hits = sh(&format!(
        "cd {} && grep -rl needle . | LC_ALL=C sort",
        q(&volume)
    ))?;
    assert_eq!(hits, "./a/b/c/d/e/deep.txt\n./dir one/notes.txt\n");
    // Every byte equals the source's, twice (the second read is the store's).
    for _ in 0..2 {
        let started = Instant::now();
        sh(&format!("diff -r {} {}", q(src.path()), q(&volume)))
            .context("the mount's bytes differ from the objects")?;
        ensure!(started.elapsed() < Duration::from_secs(60));
    }
    wait_for(Duration::from_secs(30), || {
        state("photos/big.bin").is_ok_and(|s| s == "cached")
    })
    .context("a file read whole never showed as cached")?;
    // Where a file lives, for any program.
    let uri = sh(&format!(
        "getfattr --only-values -n user.sd.uri {}",
        q(&volume.join("a/b/c/d/e/deep.txt"))
    ))?;
    assert_eq!(uri, "sd://cloud/archive/a/b/c/d/e/deep.txt");
    drop(mount);
    Ok(())
}

#[test]
fn a_webdav_share_is_a_directory_too() -> Result<()> {
    use sdfs_tests::servers::{WEBDAV_PASSWORD, WEBDAV_USER, WebDav};
    let dav = WebDav::start()?;
    fill(dav.root.path())?;
    let sd = Sd::init("laptop")?;
    let out = sd
        .cmd([
            "cloud",
            "add",
            "share",
            "webdav",
            "--endpoint",
            &dav.endpoint(),
            "--user",
            WEBDAV_USER,
        ])
        .env("SD_WEBDAV_PASSWORD", WEBDAV_PASSWORD)
        .output()?;
    ensure!(
        out.status.success(),
        "sd cloud add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A wrong password is refused when the volume is added, not later.
    let refused = sd
        .cmd([
            "cloud",
            "add",
            "other",
            "webdav",
            "--endpoint",
            &dav.endpoint(),
            "--user",
            WEBDAV_USER,
        ])
        .env("SD_WEBDAV_PASSWORD", "wrong")
        .output()?;
    ensure!(!refused.status.success(), "a wrong password was accepted");
    let indexed = sd.json(["index", "share"])?;
    ensure!(indexed[0]["files"] == 7, "{indexed}");
    let mount = sd.mount()?;
    sh(&format!(
        "diff -r {} {}",
        q(dav.root.path()),
        q(&mount.mountpoint.join("share"))
    ))
    .context("the mount's bytes differ from the share's")?;

    // Saves reach the share: a new file in a new folder, an edit, a
    // rename and a delete.
    let share = mount.mountpoint.join("share");
    sh(&format!(
        "cd {} && mkdir inbox && echo 'new here' > inbox/new.txt && \
         echo edited > readme.txt && mv '100% done.txt' done.txt && rm empty.bin",
        q(&share)
    ))?;
    let root = dav.root.path();
    wait_for(Duration::from_secs(60), || {
        std::fs::read(root.join("inbox/new.txt")).is_ok_and(|b| b == b"new here\n")
            && std::fs::read(root.join("readme.txt")).is_ok_and(|b| b == b"edited\n")
            && std::fs::read(root.join("done.txt")).is_ok_and(|b| b == b"percent\n")
            && !root.join("100% done.txt").exists()
            && !root.join("empty.bin").exists()
    })
    .with_context(|| {
        format!(
            "the share never got the saves: {}\n{}",
            sh(&format!("cd {} && find . | sort", q(root))).unwrap_or_default(),
            mount.log()
        )
    })?;
    drop(mount);
    Ok(())
}

/// The server dies: a read of a file not fetched yet fails with EIO
/// instead of hanging, and everything the index answers still answers; a
/// read interrupted by the death ends too. Back up, reads work again.
#[test]
fn a_dead_server_fails_reads_promptly_and_its_return_heals_them() -> Result<()> {
    let (mut s3, src) = archive(|root| {
        write_file(root, b"photos/huge.bin", &noise(48 * 1024 * 1024, 9)).map(drop)
    })?;
    let sd = indexed("laptop", &s3)?;
    let mount = sd.mount()?;
    let volume = mount.mountpoint.join("archive");

    // A read under way when the server dies ends (with an error or whole:
    // never a hang, never wrong bytes).
    let huge = volume.join("photos/huge.bin");
    let reader = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cmp {} {}",
            q(&huge),
            q(&src.path().join("photos/huge.bin"))
        ))
        .spawn()?;
    std::thread::sleep(Duration::from_millis(100));
    s3.kill()?;
    let mut reader = reader;
    let ended = Instant::now();
    let status = loop {
        if let Some(status) = reader.try_wait()? {
            break status;
        }
        ensure!(
            ended.elapsed() < Duration::from_secs(90),
            "a read hung after the server died"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // `cmp` exits 0 only on equal bytes; an error is 2, a difference 1.
    ensure!(status.code() != Some(1), "a read returned wrong bytes");

    // A file not fetched yet: EIO, promptly.
    let started = Instant::now();
    let err = std::fs::read(volume.join("dir one/notes.txt"))
        .expect_err("read a file from a dead server");
    ensure!(err.raw_os_error() == Some(libc::EIO), "{err}");
    ensure!(
        started.elapsed() < Duration::from_secs(60),
        "the failing read took {:?}",
        started.elapsed()
    );
    // What the index answers still answers.
    let listing = sh(&format!("ls {}", q(&volume.join("dir one"))))?;
    assert_eq!(listing, "notes.txt\n");
    sh(&format!("ls {}", q(&mount.mountpoint.join("laptop"))))?;

    s3.restart()?;
    // Back once its own client reads objects again (its volume server
    // joins a moment after the S3 gateway answers).
    wait_for(Duration::from_secs(60), || {
        s3.rclone(&["cat", "sw:archive/dir one/notes.txt"]).is_ok()
    })
    .with_context(|| format!("SeaweedFS never served again:\n{}", s3.log()))?;
    sh(&format!("diff -r {} {}", q(src.path()), q(&volume)))
        .context("reads after the server came back")?;
    drop(mount);
    Ok(())
}

/// The bucket changes behind the index: a re-index lists what changed
/// (created, updated, removed), reads the new bytes (never the copy of the
/// old ones kept in the store), and `sd cloud rm` forgets the volume.
#[test]
fn a_reindex_follows_the_bucket_and_rm_forgets_the_volume() -> Result<()> {
    let (s3, src) = archive(|_| Ok(()))?;
    let sd = indexed("laptop", &s3)?;
    let mount = sd.mount()?;
    let volume = mount.mountpoint.join("archive");
    // Read once: the big file is kept whole in the store.
    assert_eq!(
        std::fs::read(volume.join("photos/big.bin"))?,
        std::fs::read(src.path().join("photos/big.bin"))?
    );

    // Change the bucket with its own client: an edit, a removal, an addition.
    let changed = noise(2 * 1024 * 1024 + 3, 77);
    write_file(src.path(), b"photos/big.bin", &changed)?;
    std::fs::remove_file(src.path().join("readme.txt"))?;
    write_file(src.path(), b"dir one/new.txt", b"arrived later\n")?;
    s3.rclone(&["sync", &src.path().display().to_string(), "sw:archive"])?;
    let indexed = sd.json(["index", "archive"])?;
    ensure!(
        indexed[0]["created"] == 1 && indexed[0]["updated"] == 1 && indexed[0]["removed"] == 1,
        "{indexed}"
    );
    // Unchanged files were not read again: only the two new contents.
    ensure!(indexed[0]["identified"] == 2, "{indexed}");
    sh(&format!("diff -r {} {}", q(src.path()), q(&volume)))
        .context("the mount after a re-index")?;

    let out = sd.cmd(["cloud", "rm", "archive"]).output()?;
    ensure!(
        !out.status.success(),
        "rm without --yes and no terminal went ahead"
    );
    sd.ok(["cloud", "rm", "archive", "--yes"])?;
    ensure!(sd.json(["cloud", "list"])? == serde_json::json!([]));
    let secrets = sh(&format!("find {} -path '*secrets*' -type f", q(&sd.lib)))?;
    ensure!(secrets.is_empty(), "secrets left: {secrets}");
    wait_for(Duration::from_secs(10), || !volume.exists())
        .context("the volume is still in the mount")?;
    // The bucket is untouched.
    ensure!(
        s3.rclone(&["lsf", "sw:archive/dir one"])?
            .contains("new.txt")
    );
    drop(mount);
    Ok(())
}

/// The volume is the nas's; the laptop, paired and without its keys, lists
/// it from the synced index and reads it through the nas, chunk by chunk,
/// each chunk checked as for any of the nas's files.
#[test]
fn a_paired_device_reads_the_volume_through_its_owner() -> Result<()> {
    let (s3, src) = archive(|_| Ok(()))?;
    let nas = indexed("nas", &s3)?;
    let _nas_daemon = nas.daemon_with(LISTEN)?;
    let (laptop, mount) = paired_laptop(&nas)?;
    let there = mount.mountpoint.join("nas/archive");
    ensure!(there.join("readme.txt").is_file(), "not under the nas too");
    sh(&format!("diff -r {} {}", q(src.path()), q(&there)))
        .with_context(|| format!("reading through the nas:\n{}", mount.log()))?;
    // Also at the top, beside the devices, as on the nas.
    sh(&format!(
        "diff -r {} {}",
        q(src.path()),
        q(&mount.mountpoint.join("archive"))
    ))
    .context("the volume at the laptop's top level")?;
    let leaked = sh(&format!(
        "grep -rl --binary-files=text {SECRET_KEY} {} || true",
        q(&laptop.lib)
    ))?;
    ensure!(
        leaked.is_empty(),
        "the nas's key reached the laptop: {leaked}"
    );
    drop(mount);
    Ok(())
}

/// The volume is the nas's; the laptop, paired, adds the same bucket with
/// keys of its own: it is connected to the nas's volume (not indexed a
/// second time) and reads the bucket directly, with the nas offline, each
/// object checked against the nas's record. `sd cloud rm` forgets the keys
/// and leaves the volume the nas's.
#[test]
fn a_device_with_keys_reads_a_paired_devices_volume_directly() -> Result<()> {
    let (s3, src) = archive(|_| Ok(()))?;
    let nas = indexed("nas", &s3)?;
    let nas_daemon = nas.daemon_with(LISTEN)?;
    let (laptop, mount) = paired_laptop(&nas)?;
    let volume = mount.mountpoint.join("archive");

    let out = laptop
        .cmd([
            "cloud",
            "add",
            "mine",
            "s3",
            "--bucket",
            "archive",
            "--endpoint",
            &s3.endpoint(),
        ])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .output()?;
    let said = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success() && said.contains("nas's volume archive"),
        "sd cloud add on the laptop: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = laptop.json(["cloud", "list"])?;
    let rows = listed.as_array().context("sd cloud list --json")?;
    ensure!(
        rows.len() == 1 && rows[0]["owner"] == "nas" && rows[0]["name"] == "archive",
        "{listed}"
    );
    // No second volume: the laptop's top level has the nas's alone.
    ensure!(!mount.mountpoint.join("mine").exists());

    drop(nas_daemon);
    for file in ["dir one/notes.txt", "photos/big.bin"] {
        sh(&format!(
            "cmp {} {}",
            q(&volume.join(file)),
            q(&src.path().join(file))
        ))
        .with_context(|| format!("{file} with the nas offline:\n{}", mount.log()))?;
    }
    // Kept in the store once its manifest is cut, behind the reader.
    let big = volume.join("photos/big.bin");
    wait_for(Duration::from_secs(10), || {
        state(&big).is_ok_and(|s| s == "cached")
    })
    .with_context(|| format!("big.bin stayed {:?}", state(&big)))?;

    // Keys forgotten: the volume stays listed, and with its owner offline
    // a file not read before cannot be.
    laptop.ok(["cloud", "rm", "archive", "--yes"])?;
    ensure!(
        laptop
            .json(["cloud", "list"])?
            .as_array()
            .is_some_and(|a| a.is_empty())
    );
    ensure!(volume.join("readme.txt").is_file());
    ensure!(
        std::fs::read(volume.join("readme.txt")).is_err(),
        "read an unread file with neither keys nor its owner"
    );
    drop(mount);
    Ok(())
}

/// `sd pin` keeps a volume's folder on this device (readable with the
/// server dead), and `sd free-up` makes it online-only again.
#[test]
fn pin_keeps_a_volume_folder_here_and_free_up_lets_it_go() -> Result<()> {
    let (mut s3, src) = archive(|_| Ok(()))?;
    let sd = indexed("laptop", &s3)?;
    let mount = sd.mount()?;
    let photos = mount.mountpoint.join("archive/photos");
    let big = photos.join("big.bin");
    let state = || state(&big);
    assert_eq!(state()?, "online-only");
    let pinned = sd.json(["pin", &photos.display().to_string()])?;
    ensure!(pinned.to_string().contains("big.bin"), "{pinned}");
    assert_eq!(state()?, "pinned");

    // Kept here: read whole with the server gone.
    s3.kill()?;
    sh(&format!(
        "cmp {} {}",
        q(&big),
        q(&src.path().join("photos/big.bin"))
    ))
    .context("a pinned file did not read without its server")?;

    sd.ok(["free-up", &photos.display().to_string()])?;
    assert_eq!(state()?, "online-only");
    let err = std::fs::read(&big).expect_err("read an online-only file with the server dead");
    ensure!(err.raw_os_error() == Some(libc::EIO), "{err}");
    drop(mount);
    Ok(())
}

/// A bucket deleted behind the volume's back fails a read with ENOENT,
/// at once; listings still answer from the index.
#[test]
fn a_deleted_bucket_fails_reads_with_enoent() -> Result<()> {
    let (s3, _src) = archive(|_| Ok(()))?;
    let sd = indexed("laptop", &s3)?;
    let mount = sd.mount()?;
    let volume = mount.mountpoint.join("archive");
    ensure!(std::fs::read(volume.join("100% done.txt"))? == b"percent\n");
    s3.rclone(&["purge", "sw:archive"])?;
    let err = std::fs::read(volume.join("readme.txt")).expect_err("read from a deleted bucket");
    ensure!(
        err.raw_os_error() == Some(libc::ENOENT),
        "deleted bucket: {err}\n{}",
        mount.log()
    );
    ensure!(volume.join("dir one/notes.txt").is_file());
    // What was read before is still here.
    ensure!(std::fs::read(volume.join("100% done.txt"))? == b"percent\n");
    drop(mount);
    Ok(())
}

/// Keys the service no longer takes (rotated, revoked) fail a read with
/// EACCES, not EIO or a hang; listings still answer from the index, and
/// adding a bucket with such keys says why it failed.
#[test]
fn refused_keys_fail_reads_with_eacces() -> Result<()> {
    let (mut s3, _src) = archive(|_| Ok(()))?;
    let sd = indexed("laptop", &s3)?;
    let mount = sd.mount()?;
    let volume = mount.mountpoint.join("archive");
    ensure!(std::fs::read(volume.join("100% done.txt"))? == b"percent\n");

    s3.rotate_keys("rotated-key", "rotated-secret")?;
    wait_for(Duration::from_secs(60), || {
        s3.rclone(&["cat", "sw:archive/readme.txt"]).is_ok()
    })
    .with_context(|| format!("SeaweedFS never served the new keys:\n{}", s3.log()))?;

    let err = std::fs::read(volume.join("readme.txt")).expect_err("read with refused keys");
    ensure!(
        err.raw_os_error() == Some(libc::EACCES),
        "refused keys: {err}\n{}",
        mount.log()
    );
    ensure!(volume.join("dir one/notes.txt").is_file());
    // What was read before is still here.
    ensure!(std::fs::read(volume.join("100% done.txt"))? == b"percent\n");

    let out = cloud_add_s3(&Sd::init("desktop")?, &s3, "archive")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "added a bucket with refused keys");
    ensure!(
        stderr.to_lowercase().contains("permission") || stderr.contains("denied"),
        "sd cloud add with refused keys: {stderr}"
    );
    drop(mount);
    Ok(())
}
