//! Saving into a bucket through the mount, against a real S3 server
//! (SeaweedFS) checked with the service's own client (rclone): programs
//! create, edit, rename and delete, see each change at once, and the
//! bucket ends up with the same bytes. Then the hard cases: objects
//! changed in the bucket meanwhile (a conflict copy, nothing lost), and
//! the server dead while a program saves, with the daemon killed too.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sdfs_tests::servers::SeaweedFs;
use sdfs_tests::{noise, q, sh, wait_for};

use crate::cloud::{LISTEN, archive, indexed, paired_laptop};
use crate::file_states::state;
use crate::remote_writes::pending;

/// How long an upload may take to reach the bucket in these tests.
const UPLOADED: Duration = Duration::from_secs(90);

/// Waits until object `key` of bucket `archive` holds `want` (`None`:
/// until it is gone).
fn bucket_has(s3: &SeaweedFs, key: &str, want: Option<&[u8]>, log: &str) -> Result<()> {
    let (dir, name) = key.rsplit_once('/').unwrap_or(("", key));
    wait_for(UPLOADED, || match want {
        Some(want) => s3.object("archive", key).is_ok_and(|now| now == want),
        // `rclone cat` of nothing is no error: the listing tells.
        None => s3
            .rclone(&["lsf", "--files-only", &format!("sw:archive/{dir}")])
            .is_ok_and(|listed| !listed.lines().any(|l| l == name)),
    })
    .with_context(|| {
        format!(
            "{key} never became {:?} in the bucket; it lists:\n{}\ndaemon log:\n{log}",
            want.map(|w| w.len()),
            s3.rclone(&["lsf", "-R", "sw:archive"]).unwrap_or_default(),
        )
    })?;
    Ok(())
}

/// Puts `bytes` into the bucket under `key` with the service's own client.
fn put_behind_our_back(s3: &SeaweedFs, key: &str, bytes: &[u8]) -> Result<()> {
    let local = tempfile::NamedTempFile::new()?;
    std::fs::write(local.path(), bytes)?;
    s3.rclone(&[
        "copyto",
        &local.path().display().to_string(),
        &format!("sw:archive/{key}"),
    ])?;
    Ok(())
}

#[test]
fn programs_save_into_a_bucket_and_each_save_reaches_it_whole() -> Result<()> {
    let (s3, src) = archive(|_| Ok(()))?;
    let sd = indexed("laptop", &s3)?;
    let mount = sd.mount()?;
    let volume = mount.mountpoint.join("archive");
    let photo = std::fs::read(src.path().join("photos/big.bin"))?;
    let big = noise(20 * 1024 * 1024 + 3, 11);
    let big_file = tempfile::NamedTempFile::new()?;
    std::fs::write(big_file.path(), &big)?;

    // Every change shows at once, to every program here.
    sh(&format!(
        "cd {v} && echo hello > new.txt && mkdir drafts && printf x > drafts/one.txt && \
         cp {big} photos/upload.bin && sed -i s/readme/README/ readme.txt && \
         mv '100% done.txt' 'dir one/moved.txt' && mv photos/big.bin photos/renamed.bin && \
         rm empty.bin",
        v = q(&volume),
        big = q(big_file.path()),
    ))?;
    assert_eq!(std::fs::read(volume.join("new.txt"))?, b"hello\n");
    assert_eq!(
        std::fs::read(volume.join("readme.txt"))?,
        b"the bucket's README\n"
    );
    ensure!(std::fs::read(volume.join("photos/upload.bin"))? == big);
    let top = sh(&format!("cd {} && ls", q(&volume)))?;
    ensure!(
        top.lines().any(|l| l == "new.txt")
            && top.lines().any(|l| l == "drafts")
            && !top
                .lines()
                .any(|l| l == "empty.bin" || l == "100% done.txt"),
        "{top}"
    );

    // The bucket gets each one whole (the big file in parts).
    let log = mount.log();
    bucket_has(&s3, "new.txt", Some(b"hello\n"), &log)?;
    bucket_has(&s3, "drafts/one.txt", Some(b"x"), &log)?;
    bucket_has(&s3, "readme.txt", Some(b"the bucket's README\n"), &log)?;
    bucket_has(&s3, "dir one/moved.txt", Some(b"percent\n"), &log)?;
    bucket_has(&s3, "100% done.txt", None, &log)?;
    bucket_has(&s3, "empty.bin", None, &log)?;
    bucket_has(&s3, "photos/upload.bin", Some(&big), &mount.log())?;
    bucket_has(&s3, "photos/renamed.bin", Some(&photo), &mount.log())?;
    bucket_has(&s3, "photos/big.bin", None, &mount.log())?;
    // No editor's temp file, no conflict copy: only what was saved.
    let objects = s3.rclone(&["lsf", "-R", "--files-only", "sw:archive"])?;
    ensure!(
        !objects.contains("sed") && !objects.contains("sync-conflict"),
        "{objects}"
    );
    wait_for(UPLOADED, || pending(&sd).is_ok_and(|n| n == 0)).with_context(|| {
        format!(
            "uploads still pending: {:?}\n{}",
            sd.json(["status"]).map(|s| s["deliveries"].clone()),
            mount.log()
        )
    })?;

    // The index was kept in step: a full index finds nothing new, and the
    // mount reads the uploaded bytes back from the bucket's listing.
    let again = sd.json(["index", "archive"])?;
    ensure!(
        again[0]["created"] == 0 && again[0]["updated"] == 0 && again[0]["removed"] == 0,
        "the index missed uploads: {again}"
    );
    assert_eq!(std::fs::read(volume.join("drafts/one.txt"))?, b"x");
    ensure!(std::fs::read(volume.join("photos/upload.bin"))? == big);
    let uri = sh(&format!(
        "getfattr --only-values -n user.sd.uri {}",
        q(&volume.join("drafts/one.txt"))
    ))?;
    assert_eq!(uri, "sd://cloud/archive/drafts/one.txt");
    // A rename is the service's own copy: the photo never came here. (Its
    // name shows the state once the change has settled into the index:
    // uploaded is not yet settled.)
    let state = || state(&volume.join("photos/renamed.bin"));
    wait_for(Duration::from_secs(30), || state().is_ok())
        .context("the renamed photo never showed a state")?;
    assert_eq!(state()?, "online-only");
    ensure!(std::fs::read(volume.join("photos/renamed.bin"))? == photo);
    drop(mount);
    Ok(())
}

#[test]
fn an_object_changed_in_the_bucket_meanwhile_is_never_overwritten() -> Result<()> {
    let (s3, _src) = archive(|_| Ok(()))?;
    let sd = indexed("laptop", &s3)?;
    let mount = sd.mount()?;
    let volume = mount.mountpoint.join("archive");

    // Someone else changes three objects in the bucket; the index has the
    // old versions.
    put_behind_our_back(&s3, "readme.txt", b"changed in the bucket, longer\n")?;
    put_behind_our_back(&s3, "dir one/notes.txt", b"the same either way\n")?;
    put_behind_our_back(&s3, "a/b/c/d/e/deep.txt", b"edited there\n")?;
    // This device edits, writes the same bytes, and deletes them.
    sh(&format!(
        "cd {v} && echo ours > readme.txt && echo 'the same either way' > 'dir one/notes.txt' && \
         rm a/b/c/d/e/deep.txt",
        v = q(&volume)
    ))?;
    wait_for(UPLOADED, || pending(&sd).is_ok_and(|n| n == 0))
        .with_context(|| format!("changes still pending; log:\n{}", mount.log()))?;

    // Their edit keeps the name; ours is beside it as a conflict copy.
    assert_eq!(
        s3.object("archive", "readme.txt")?,
        b"changed in the bucket, longer\n"
    );
    let copies: Vec<String> = s3
        .rclone(&["lsf", "-R", "--files-only", "sw:archive"])?
        .lines()
        .filter(|l| l.contains(".sync-conflict-"))
        .map(str::to_owned)
        .collect();
    ensure!(copies.len() == 1, "conflict copies: {copies:?}");
    ensure!(
        copies[0].starts_with("readme.sync-conflict-") && copies[0].ends_with("-laptop.txt"),
        "{copies:?}"
    );
    assert_eq!(s3.object("archive", &copies[0])?, b"ours\n");
    // Identical content is no conflict; a delete against an edit keeps it.
    assert_eq!(
        s3.object("archive", "dir one/notes.txt")?,
        b"the same either way\n"
    );
    assert_eq!(
        s3.object("archive", "a/b/c/d/e/deep.txt")?,
        b"edited there\n"
    );

    // `sd conflicts` and the mount show the copy like any file.
    let listed = sd.json(["conflicts"])?;
    ensure!(
        listed.to_string().contains("readme.sync-conflict-"),
        "{listed}"
    );
    wait_for(Duration::from_secs(30), || {
        std::fs::read(volume.join(&copies[0])).is_ok_and(|b| b == b"ours\n")
    })
    .context("the conflict copy never showed in the mount")?;
    drop(mount);
    Ok(())
}

#[test]
fn a_save_while_the_server_is_dead_survives_a_killed_daemon_and_arrives_whole() -> Result<()> {
    let (mut s3, _src) = archive(|_| Ok(()))?;
    let sd = indexed("laptop", &s3)?;
    let mount = sd.mount()?;
    let volume = mount.mountpoint.join("archive");
    let big = noise(12 * 1024 * 1024 + 5, 21);
    let big_file = tempfile::NamedTempFile::new()?;
    std::fs::write(big_file.path(), &big)?;

    s3.kill()?;
    // Saved, and fsynced, with nowhere to upload to: the program is done
    // at once and reads its bytes back.
    sh(&format!(
        "dd if={} of={} bs=1M conv=fsync status=none && \
         python3 -c 'import os,sys; f=open(sys.argv[1],\"w\"); f.write(\"offline\\n\"); f.flush(); os.fsync(f.fileno())' {}",
        q(big_file.path()),
        q(&volume.join("photos/offline.bin")),
        q(&volume.join("offline.txt")),
    ))?;
    ensure!(std::fs::read(volume.join("photos/offline.bin"))? == big);
    ensure!(pending(&sd)? >= 2, "nothing pending with the server dead");
    // Removing the volume would lose them: refused, saying how.
    let refused = sd.fails(["cloud", "rm", "archive", "--yes"])?;
    ensure!(
        refused.contains("not uploaded yet") && refused.contains("--discard-pending"),
        "{refused}"
    );

    // The daemon dies hard; the server comes back; a new daemon uploads
    // what fsync acknowledged, whole.
    let stale = mount.kill()?;
    drop(stale);
    s3.restart()?;
    wait_for(Duration::from_secs(60), || {
        s3.rclone(&["lsf", "sw:archive"]).is_ok()
    })
    .with_context(|| format!("SeaweedFS never served again:\n{}", s3.log()))?;
    let mount = sd.mount()?;
    let log = mount.log();
    bucket_has(&s3, "offline.txt", Some(b"offline\n"), &log)?;
    bucket_has(&s3, "photos/offline.bin", Some(&big), &mount.log())?;
    drop(mount);
    Ok(())
}

/// The bucket is the nas's; the laptop, paired and without its keys, saves
/// into it through its own mount. The nas stages each change for its
/// bucket and uploads it; a change the nas made itself and has not
/// uploaded yet is never overwritten by the laptop's (a conflict copy).
#[test]
fn a_paired_device_saves_into_the_owners_bucket() -> Result<()> {
    let (mut s3, _src) = archive(|_| Ok(()))?;
    let nas = indexed("nas", &s3)?;
    let nas_mount = nas.mount_with(LISTEN)?;
    let (_laptop, mount) = paired_laptop(&nas)?;
    let volume = mount.mountpoint.join("archive");
    let big = noise(2 * 1024 * 1024 + 9, 31);
    let big_file = tempfile::NamedTempFile::new()?;
    std::fs::write(big_file.path(), &big)?;

    sh(&format!(
        "printf 'from the laptop\\n' > {new} && sed -i 's/readme/README/' {readme} && \
         mkdir {dir} && cp {big} {dir}/big.bin && rm {gone}",
        new = q(&volume.join("laptop.txt")),
        readme = q(&volume.join("readme.txt")),
        dir = q(&volume.join("new dir")),
        big = q(big_file.path()),
        gone = q(&volume.join("100% done.txt")),
    ))
    .with_context(|| format!("saving on the laptop:\n{}", mount.log()))?;
    // Seen at once on the laptop.
    ensure!(std::fs::read(volume.join("laptop.txt"))? == b"from the laptop\n");
    let readme = std::fs::read(volume.join("readme.txt"))?;
    ensure!(
        readme == b"the bucket's README\n",
        "readme.txt on the laptop: {:?}\n{}",
        String::from_utf8_lossy(&readme),
        mount.log()
    );
    let logs = || format!("laptop:\n{}\nnas:\n{}", mount.log(), nas_mount.log());
    bucket_has(&s3, "laptop.txt", Some(b"from the laptop\n"), &logs())?;
    bucket_has(&s3, "readme.txt", Some(b"the bucket's README\n"), &logs())?;
    bucket_has(&s3, "new dir/big.bin", Some(&big), &logs())?;
    bucket_has(&s3, "100% done.txt", None, &logs())?;
    // The nas's own mount shows what its bucket now holds.
    let on_nas = nas_mount.mountpoint.join("archive");
    ensure!(std::fs::read(on_nas.join("new dir/big.bin"))? == big);
    ensure!(!on_nas.join("100% done.txt").exists());

    // The server is down; the nas saves readme.txt, then the laptop does:
    // the nas's version keeps the name, the laptop's goes beside it.
    s3.kill()?;
    std::fs::write(on_nas.join("readme.txt"), b"the nas's version\n")?;
    std::fs::write(volume.join("readme.txt"), b"the laptop's version\n")?;
    let conflict_copy = || -> Option<String> {
        std::fs::read_dir(&on_nas)
            .ok()?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .find(|n| n.starts_with("readme.sync-conflict-") && n.ends_with("-laptop.txt"))
    };
    wait_for(Duration::from_secs(60), || conflict_copy().is_some())
        .with_context(|| format!("no conflict copy on the nas:\n{}", logs()))?;
    let copy = conflict_copy().context("the conflict copy")?;
    ensure!(std::fs::read(on_nas.join(&copy))? == b"the laptop's version\n");
    ensure!(std::fs::read(on_nas.join("readme.txt"))? == b"the nas's version\n");
    s3.restart()?;
    wait_for(Duration::from_secs(60), || {
        s3.rclone(&["lsf", "sw:archive"]).is_ok()
    })
    .with_context(|| format!("SeaweedFS never served again:\n{}", s3.log()))?;
    bucket_has(&s3, "readme.txt", Some(b"the nas's version\n"), &logs())?;
    bucket_has(&s3, &copy, Some(b"the laptop's version\n"), &logs())?;
    drop(mount);
    drop(nas_mount);
    Ok(())
}
