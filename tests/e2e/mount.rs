//! The mount with everyday programs: what a user does in `~/Spacedrive`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sdfs_tests::{Mount, Sd, filetime_of, no_dropped_replies, q, sh, wait_for, write_file};

/// A library with one location `Docs` holding a small tree, mounted.
fn mounted() -> Result<(Sd, std::path::PathBuf, Mount)> {
    let sd = Sd::init("laptop")?;
    let data = sd.path("data");
    sdfs_tests::generate_tree(&data, 12, 6)?;
    write_file(&data, b"caf\xe9/\xff.txt", b"bytes, not UTF-8\n")?;
    write_file(
        &data,
        b".hidden/also-listed",
        b"rules never hide files in the mount\n",
    )?;
    std::os::unix::fs::symlink("d001/s0001/f000.txt", data.join("link"))?;
    sd.add_location(&data, "Docs")?;
    sd.ok(["index"])?;
    let mount = sd.mount()?;
    Ok((sd, data, mount))
}

#[test]
fn the_namespace_is_devices_then_locations_then_the_live_tree() -> Result<()> {
    let (_sd, data, mount) = mounted()?;
    let names = |p: &Path| -> Result<Vec<Vec<u8>>> {
        let mut v: Vec<Vec<u8>> = std::fs::read_dir(p)?
            .map(|e| e.map(|e| e.file_name().as_bytes().to_vec()))
            .collect::<Result<_, _>>()?;
        v.sort();
        Ok(v)
    };
    assert_eq!(names(&mount.mountpoint)?, vec![b"laptop".to_vec()]);
    assert_eq!(
        names(&mount.mountpoint.join("laptop"))?,
        vec![b"Docs".to_vec()]
    );
    let docs = mount.location("Docs");
    assert_eq!(names(&docs)?, names(&data)?);
    // Hidden files are listed (rules decide indexing, not visibility), and
    // non-UTF-8 names round-trip byte for byte.
    assert!(docs.join(".hidden/also-listed").is_file());
    let odd = docs.join(OsStr::from_bytes(b"caf\xe9/\xff.txt"));
    assert_eq!(std::fs::read(&odd)?, b"bytes, not UTF-8\n");
    assert_eq!(
        std::fs::read_link(docs.join("link"))?,
        Path::new("d001/s0001/f000.txt")
    );
    // Virtual directories are read-only.
    let err = std::fs::create_dir(mount.mountpoint.join("laptop/new")).expect_err("read-only");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
    no_dropped_replies(&mount)
}

#[test]
fn ls_find_grep_and_du_agree_with_the_disk() -> Result<()> {
    let (_sd, data, mount) = mounted()?;
    let docs = mount.location("Docs");
    let find = |root: &Path| {
        sh(&format!(
            "cd {} && find . -printf '%y %s %m %P\\n' | sort",
            q(root)
        ))
    };
    assert_eq!(find(&docs)?, find(&data)?);
    let grep = |root: &Path| sh(&format!("cd {} && grep -r 'file 3' . | sort", q(root)));
    let hits = grep(&docs)?;
    assert!(!hits.is_empty());
    assert_eq!(hits, grep(&data)?);
    let du = |root: &Path| {
        sh(&format!(
            "du -s --apparent-size --block-size=1 {} | cut -f1",
            q(root)
        ))
    };
    assert_eq!(du(&docs)?, du(&data)?);
    let ls = sh(&format!("ls -laR {} | wc -l", q(&docs)))?;
    assert!(ls.trim().parse::<u64>()? > 80, "{ls}");
    no_dropped_replies(&mount)
}

#[test]
fn cp_rsync_and_tar_both_ways() -> Result<()> {
    let (sd, data, mount) = mounted()?;
    let docs = mount.location("Docs");
    let outside = sd.path("outside");
    // Out of the mount and back in.
    sh(&format!("cp -a {} {}", q(&docs), q(&outside)))?;
    sh(&format!("diff -r {} {}", q(&data), q(&outside)))?;
    sh(&format!(
        "cp -a {} {}",
        q(&outside),
        q(&docs.join("copy-in"))
    ))?;
    sh(&format!(
        "diff -r {} {}",
        q(&outside),
        q(&data.join("copy-in"))
    ))?;
    sh(&format!(
        "rsync -a {}/ {}/",
        q(&outside),
        q(&docs.join("rsynced"))
    ))?;
    sh(&format!(
        "diff -r {} {}",
        q(&outside),
        q(&data.join("rsynced"))
    ))?;
    sh(&format!(
        "tar -C {} -cf - d001 | tar -C {} -xf -",
        q(&docs),
        q(&docs.join("rsynced"))
    ))?;
    sh(&format!(
        "diff -r {} {}",
        q(&data.join("d001")),
        q(&data.join("rsynced/d001"))
    ))?;
    // Modes and times survive cp -a through the mount.
    let a = std::fs::metadata(data.join("d001/s0001/f000.txt"))?;
    let b = std::fs::metadata(data.join("copy-in/d001/s0001/f000.txt"))?;
    assert_eq!(
        (a.mode(), a.mtime(), a.len()),
        (b.mode(), b.mtime(), b.len())
    );
    no_dropped_replies(&mount)
}

#[test]
fn git_and_sqlite_work_inside_the_mount() -> Result<()> {
    let (_sd, data, mount) = mounted()?;
    let repo = mount.location("Docs").join("repo");
    std::fs::create_dir(&repo)?;
    let git = format!(
        "cd {} && git init -q && echo one > a && git add a && git -c user.name=t -c user.email=t@t commit -qm first \
         && echo two >> a && git -c user.name=t -c user.email=t@t commit -qam second && git status --porcelain && git log --oneline | wc -l",
        q(&repo)
    );
    assert_eq!(sh(&git)?.trim(), "2");
    // The repository is real on disk.
    assert_eq!(
        sh(&format!("git -C {} log --format=%s", q(&data.join("repo"))))?,
        "second\nfirst\n"
    );
    let db = mount.location("Docs").join("app.sqlite");
    let out = sh(&format!(
        "sqlite3 {} 'create table t(k integer primary key, v text); insert into t(v) values (\"a\"),(\"b\"),(\"c\"); select count(*), group_concat(v) from t;'",
        q(&db)
    ))?;
    assert_eq!(out.trim(), "3|a,b,c");
    let again = sh(&format!(
        "sqlite3 {} 'pragma integrity_check; select v from t where k = 2;'",
        q(&db)
    ))?;
    assert_eq!(again, "ok\nb\n");
    no_dropped_replies(&mount)
}

#[test]
fn a_large_file_round_trips_and_concurrent_writers_do_not_mix() -> Result<()> {
    let (_sd, data, mount) = mounted()?;
    let docs = mount.location("Docs");
    // 1 GiB written through the mount, read back and hashed on both sides.
    let big = docs.join("big.bin");
    let mut expected = blake3::Hasher::new();
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&big)?);
        let mut block = vec![0u8; 1 << 20];
        for i in 0..1024u32 {
            for (j, chunk) in block.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&(i.wrapping_mul(2_654_435_761) ^ j as u32).to_le_bytes());
            }
            expected.update(&block);
            file.write_all(&block)?;
        }
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    let hash_of = |p: &Path| -> Result<blake3::Hash> {
        let mut h = blake3::Hasher::new();
        h.update_reader(std::fs::File::open(p)?)?;
        Ok(h.finalize())
    };
    assert_eq!(std::fs::metadata(&big)?.len(), 1 << 30);
    assert_eq!(hash_of(&big)?, expected.finalize());
    assert_eq!(hash_of(&data.join("big.bin"))?, expected.finalize());
    std::fs::remove_file(&big)?;

    // Four writers, each its own file plus O_APPEND records into a shared log.
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..4)
            .map(|w| {
                let docs = docs.clone();
                s.spawn(move || -> Result<()> {
                    use std::io::Write;
                    let mut own = std::fs::File::create(docs.join(format!("writer{w}")))?;
                    let mut log = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(docs.join("shared.log"))?;
                    for i in 0..500 {
                        own.write_all(format!("{w}:{i}\n").as_bytes())?;
                        log.write_all(format!("w{w} record {i:04}\n").as_bytes())?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
        }
        Ok(())
    })?;
    let log = std::fs::read_to_string(data.join("shared.log"))?;
    assert_eq!(log.lines().count(), 2000);
    assert!(
        log.lines().all(|l| l.len() == 14 && l.starts_with('w')),
        "interleaved records:\n{log}"
    );
    for w in 0..4 {
        let own = std::fs::read_to_string(data.join(format!("writer{w}")))?;
        assert_eq!(own.lines().count(), 500);
    }
    no_dropped_replies(&mount)
}

#[test]
fn renames_links_xattrs_and_content_by_id() -> Result<()> {
    let (sd, data, mount) = mounted()?;
    let docs = mount.location("Docs");
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).expect("no NUL");
    std::fs::write(docs.join("a"), b"A")?;
    std::fs::write(docs.join("b"), b"B")?;
    // SAFETY: valid C strings.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            c(&docs.join("a")).as_ptr(),
            libc::AT_FDCWD,
            c(&docs.join("b")).as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    assert_eq!(
        (rc, std::io::Error::last_os_error().raw_os_error()),
        (-1, Some(libc::EEXIST))
    );
    // SAFETY: valid C strings.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            c(&docs.join("a")).as_ptr(),
            libc::AT_FDCWD,
            c(&docs.join("b")).as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    assert_eq!(rc, 0);
    assert_eq!(
        (
            std::fs::read(docs.join("a"))?,
            std::fs::read(docs.join("b"))?
        ),
        (b"B".to_vec(), b"A".to_vec())
    );
    std::fs::hard_link(docs.join("a"), docs.join("a2"))?;
    assert_eq!(std::fs::metadata(docs.join("a2"))?.nlink(), 2);
    std::fs::remove_file(docs.join("a"))?;
    assert_eq!(std::fs::read(docs.join("a2"))?, b"B");

    // user.* passes through to the real file; user.sd.* is ours and read-only.
    sh(&format!(
        "setfattr -n user.color -v blue {}",
        q(&docs.join("b"))
    ))?;
    assert_eq!(
        sh(&format!(
            "getfattr --only-values -n user.color {}",
            q(&data.join("b"))
        ))?,
        "blue"
    );
    let file = docs.join("d001/s0001/f001.txt");
    let uri = sh(&format!(
        "getfattr --only-values -n user.sd.uri {}",
        q(&file)
    ))?;
    assert_eq!(uri, "sd://laptop/Docs/d001/s0001/f001.txt");
    let id = sh(&format!(
        "getfattr --only-values -n user.sd.content_id {}",
        q(&file)
    ))?;
    let stat = sd.json(["stat", &uri])?;
    assert_eq!(stat["content_id"].as_str(), Some(id.as_str()));
    assert!(
        Command::new("setfattr")
            .args(["-n", "user.sd.uri", "-v", "x"])
            .arg(&file)
            .status()?
            .code()
            != Some(0)
    );

    // .content/<id> opens the same bytes; an unknown id does not exist.
    let by_id = mount.mountpoint.join(".content").join(&id);
    assert_eq!(
        std::fs::read(&by_id)?,
        std::fs::read(data.join("d001/s0001/f001.txt"))?
    );
    assert!(
        std::fs::write(&by_id, b"x").is_err(),
        "content is read-only"
    );
    let missing = mount
        .mountpoint
        .join(".content/6ba7b810-9dad-11d1-80b4-00c04fd430c8");
    assert_eq!(
        std::fs::metadata(missing)
            .err()
            .and_then(|e| e.raw_os_error()),
        Some(libc::ENOENT)
    );
    no_dropped_replies(&mount)
}

#[test]
fn a_file_whose_bytes_changed_is_not_served_by_content_id() -> Result<()> {
    let (sd, data, mount) = mounted()?;
    // f003 of d002 is unique content (see generate_tree).
    let uri = "sd://laptop/Docs/d002/s0002/f003.txt";
    let id = sd.json(["stat", uri])?["content_id"]
        .as_str()
        .context("identified")?
        .to_owned();
    // Same size, different bytes, mtime put back: the index cannot tell, the
    // verification must.
    let path = data.join("d002/s0002/f003.txt");
    let md = std::fs::metadata(&path)?;
    let mut bytes = std::fs::read(&path)?;
    bytes[0] ^= 0xff;
    std::fs::write(&path, &bytes)?;
    let mtime = filetime_of(&md);
    sh(&format!("touch -d @{mtime} {}", q(&path)))?;
    let err = std::fs::read(mount.mountpoint.join(".content").join(&id))
        .expect_err("unverified bytes served");
    assert_eq!(err.raw_os_error(), Some(libc::EIO));

    // Content with another, intact instance is served from that one.
    let dup_uri = "sd://laptop/Docs/d002/s0002/f002.txt";
    let dup_id = sd.json(["stat", dup_uri])?["content_id"]
        .as_str()
        .context("identified")?
        .to_owned();
    assert!(sd.json(["stat", dup_uri])?["copies"].as_u64() > Some(1));
    let dup = data.join("d002/s0002/f002.txt");
    let md = std::fs::metadata(&dup)?;
    let mut bytes = std::fs::read(&dup)?;
    bytes[0] ^= 0xff;
    std::fs::write(&dup, &bytes)?;
    sh(&format!("touch -d @{} {}", filetime_of(&md), q(&dup)))?;
    assert_eq!(
        std::fs::read(mount.mountpoint.join(".content").join(&dup_id))?,
        b"duplicate body\n"
    );
    Ok(())
}

#[test]
fn changes_underneath_and_through_the_mount_are_seen_everywhere() -> Result<()> {
    let (sd, data, mount) = mounted()?;
    let docs = mount.location("Docs");
    // Warm the kernel caches, then change the file underneath.
    let target = docs.join("d003/s0003/f000.txt");
    let before = std::fs::read(&target)?;
    std::fs::write(
        data.join("d003/s0003/f000.txt"),
        b"changed underneath, longer than before\n",
    )?;
    wait_for(Duration::from_secs(15), || {
        std::fs::read(&target)
            .map(|b| b == b"changed underneath, longer than before\n")
            .unwrap_or(false)
    })?;
    assert_ne!(before, std::fs::read(&target)?);
    // Listings are cached by the kernel; the watcher must invalidate them.
    let listed = |dir: &Path, name: &str| {
        std::fs::read_dir(dir)
            .map(|it| it.flatten().any(|e| e.file_name() == name))
            .unwrap_or(false)
    };
    assert!(!listed(&docs, "native-new.txt"));
    std::fs::write(data.join("native-new.txt"), b"new")?;
    wait_for(Duration::from_secs(15), || listed(&docs, "native-new.txt"))?;
    std::fs::remove_file(data.join("d003/s0003/f001.txt"))?;
    wait_for(Duration::from_secs(15), || {
        !listed(&docs.join("d003/s0003"), "f001.txt")
    })?;

    // Written through the mount: the index follows without `sd index`.
    std::fs::write(docs.join("through-mount.txt"), b"written via ~/Spacedrive")?;
    wait_for(Duration::from_secs(10), || {
        sd.json(["stat", "sd://laptop/Docs/through-mount.txt"])
            .map(|v| v["content_id"].is_string())
            .unwrap_or(false)
    })?;
    no_dropped_replies(&mount)
}

#[test]
fn files_created_through_the_mount_belong_to_the_caller() -> Result<()> {
    let (_sd, data, mount) = mounted()?;
    std::fs::create_dir(data.join("shared"))?;
    std::fs::set_permissions(
        data.join("shared"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )?;
    let dir = mount.location("Docs").join("shared");
    let out = as_nobody(
        &[],
        format!(
            "umask 022 && echo hi > {0}/mine && mkdir {0}/d && ln -s mine {0}/l",
            q(&dir)
        ),
    )?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["mine", "d", "l"] {
        let md = std::fs::symlink_metadata(data.join("shared").join(name))?;
        assert_eq!((md.uid(), md.gid()), (65534, 65534), "{name}");
    }
    assert_eq!(
        std::fs::metadata(data.join("shared/mine"))?.mode() & 0o777,
        0o644
    );
    // Permissions are checked for the caller: nobody cannot write root's files.
    let denied = as_nobody(
        &[],
        format!(
            "echo x >> {}",
            q(&mount.location("Docs").join("d001/s0001/f000.txt"))
        ),
    )?;
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("Permission denied"));
    no_dropped_replies(&mount)
}

#[test]
fn a_caller_s_supplementary_groups_count_as_on_the_disk() -> Result<()> {
    if !sdfs_tests::is_root() {
        return Ok(());
    }
    let (_sd, data, mount) = mounted()?;
    // A team directory only its group may write to; nobody is in the group
    // as a supplementary one, not as its primary group.
    let team = data.join("team");
    std::fs::create_dir(&team)?;
    std::os::unix::fs::chown(&team, Some(0), Some(4242))?;
    std::fs::set_permissions(&team, std::os::unix::fs::PermissionsExt::from_mode(0o770))?;
    let dir = mount.location("Docs").join("team");
    let out = as_nobody(
        &[4242],
        format!(
            "mkdir {0}/made && echo hi > {0}/note && ln -s note {0}/link && mkfifo {0}/pipe",
            q(&dir)
        ),
    )?;
    ensure!(
        out.status.success(),
        "a group member could not create in a group-writable directory: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::metadata(team.join("note"))?;
    assert_eq!((md.uid(), md.gid()), (65534, 65534));
    // Without the group, the same is refused, as on the disk.
    let out = as_nobody(&[], format!("mkdir {}/other", q(&dir)))?;
    assert!(!out.status.success());
    no_dropped_replies(&mount)
}

#[test]
fn every_refusal_reaches_programs_as_the_errno_the_disk_would_give() -> Result<()> {
    let (sd, _data, mount) = mounted()?;
    // A second location on another filesystem, when this machine has one.
    let shm = Path::new("/dev/shm");
    let other_fs = std::fs::metadata(shm)
        .map(|m| {
            m.dev()
                != std::fs::metadata(sd.path("data"))
                    .map(|d| d.dev())
                    .unwrap_or(0)
        })
        .unwrap_or(false);
    let elsewhere = tempfile::tempdir_in(if other_fs { shm } else { sd.root.path() })?;
    // Added through the running daemon: the mount shows it at once.
    sd.add_location(elsewhere.path(), "Other")?;
    let root = mount.mountpoint.display().to_string();
    let docs = mount.location("Docs").display().to_string();
    let other = mount.location("Other").display().to_string();
    // Each line: what was tried, then the errno name it got ("ok" if none).
    let script = format!(
        r#"
import errno, os
def t(what, f):
    try:
        f()
        print(what, "ok")
    except OSError as e:
        print(what, errno.errorcode[e.errno])
root, docs, other = {root:?}, {docs:?}, {other:?}
open(docs + "/file", "w").write("x")
os.mkdir(docs + "/dir"); open(docs + "/dir/inner", "w").write("y")
t("lookup-missing", lambda: os.stat(docs + "/missing"))
t("below-a-file", lambda: os.stat(docs + "/file/x"))
t("name-too-long", lambda: os.stat(docs + "/" + "n" * 300))
t("mkdir-exists", lambda: os.mkdir(docs + "/dir"))
t("rmdir-not-empty", lambda: os.rmdir(docs + "/dir"))
t("rmdir-a-file", lambda: os.rmdir(docs + "/file"))
t("unlink-a-dir", lambda: os.unlink(docs + "/dir"))
t("open-dir-for-write", lambda: os.open(docs + "/dir", os.O_WRONLY))
t("create-excl", lambda: os.open(docs + "/file", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
t("readlink-a-file", lambda: os.readlink(docs + "/file"))
t("xattr-missing", lambda: os.getxattr(docs + "/file", "user.missing"))
t("xattr-computed-set", lambda: os.setxattr(docs + "/file", "user.sd.kind", b"x"))
t("xattr-computed-read", lambda: os.getxattr(docs + "/file", "user.sd.uri"))
t("mkdir-in-root", lambda: os.mkdir(root + "/new-device"))
t("mkdir-in-device", lambda: os.mkdir(root + "/laptop/new-location"))
t("rename-across-locations", lambda: os.rename(docs + "/file", other + "/file"))
t("link-onto-an-existing-name", lambda: os.link(docs + "/file", docs + "/dir/inner"))
"#
    );
    let got: std::collections::BTreeMap<String, String> = python(&script)?
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let expect = [
        ("lookup-missing", "ENOENT"),
        ("below-a-file", "ENOTDIR"),
        ("name-too-long", "ENAMETOOLONG"),
        ("mkdir-exists", "EEXIST"),
        ("rmdir-not-empty", "ENOTEMPTY"),
        ("rmdir-a-file", "ENOTDIR"),
        ("unlink-a-dir", "EISDIR"),
        ("open-dir-for-write", "EISDIR"),
        ("create-excl", "EEXIST"),
        ("readlink-a-file", "EINVAL"),
        ("xattr-missing", "ENODATA"),
        ("xattr-computed-set", "EPERM"),
        ("xattr-computed-read", "ok"),
        ("mkdir-in-root", "EROFS"),
        ("mkdir-in-device", "EROFS"),
        (
            "rename-across-locations",
            if other_fs { "EXDEV" } else { "ok" },
        ),
        ("link-onto-an-existing-name", "EEXIST"),
    ];
    for (what, errno) in expect {
        assert_eq!(
            got.get(what).map(String::as_str),
            Some(errno),
            "{what}: {got:?}"
        );
    }
    no_dropped_replies(&mount)
}

/// Runs `script` in `sh` as nobody (uid and gid 65534), with `groups` as its
/// only supplementary groups.
fn as_nobody(groups: &[u32], script: String) -> Result<std::process::Output> {
    let groups = if groups.is_empty() {
        "--clear-groups".to_owned()
    } else {
        let list: Vec<String> = groups.iter().map(u32::to_string).collect();
        format!("--groups={}", list.join(","))
    };
    Ok(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", &groups, "sh", "-c"])
        .arg(script)
        .output()?)
}

/// Runs a Python snippet (a real program using the syscalls under test).
fn python(script: &str) -> Result<String> {
    let out = Command::new("python3").arg("-c").arg(script).output()?;
    ensure!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn locks_holes_mmap_and_statfs_behave_like_the_disk() -> Result<()> {
    let (_sd, data, mount) = mounted()?;
    let docs = mount.location("Docs");

    // flock(1) and POSIX record locks between processes using the mount.
    let lock = docs.join("lockfile");
    std::fs::write(&lock, b"")?;
    let mut holder = Command::new("flock")
        .arg("-x")
        .arg(&lock)
        .args(["-c", "sleep 3"])
        .spawn()?;
    wait_for(Duration::from_secs(15), || {
        Command::new("flock")
            .args(["-n", "-x"])
            .arg(&lock)
            .arg("true")
            .status()
            .map(|s| !s.success())
            .unwrap_or(false)
    })?;
    holder.wait()?;
    assert!(
        Command::new("flock")
            .args(["-n", "-x"])
            .arg(&lock)
            .arg("true")
            .status()?
            .success()
    );
    let posix = python(&format!(
        "import fcntl, os, subprocess, sys\n\
         f = open({p:?}, 'r+')\n\
         fcntl.lockf(f, fcntl.LOCK_EX)\n\
         r = subprocess.run([sys.executable, '-c', 'import fcntl; f = open({p:?}, \"r+\")\\ntry:\\n fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB); print(\"got\")\\nexcept OSError: print(\"busy\")'], capture_output=True, text=True)\n\
         print(r.stdout.strip())",
        p = lock.display().to_string()
    ))?;
    assert_eq!(posix.trim(), "busy");

    // SEEK_DATA / SEEK_HOLE on a sparse file written through the mount.
    let holes = python(&format!(
        "import os\n\
         fd = os.open({p:?}, os.O_CREAT | os.O_RDWR, 0o644)\n\
         os.pwrite(fd, b'x' * 4096, 1 << 20)\n\
         print(os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 0, os.SEEK_HOLE), os.fstat(fd).st_size)",
        p = docs.join("sparse").display().to_string()
    ))?;
    assert_eq!(holes.trim(), format!("{} 0 {}", 1 << 20, (1 << 20) + 4096));

    // A shared writable mapping reaches the real file.
    python(&format!(
        "import mmap, os\n\
         fd = os.open({p:?}, os.O_CREAT | os.O_RDWR, 0o644)\n\
         os.ftruncate(fd, 8192)\n\
         m = mmap.mmap(fd, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)\n\
         m[4096:4101] = b'hello'\n\
         m.flush(); m.close(); os.close(fd)",
        p = docs.join("mapped").display().to_string()
    ))?;
    assert_eq!(&std::fs::read(data.join("mapped"))?[4096..4101], b"hello");

    // statfs shows the real volume.
    let df = |p: &Path| sh(&format!("stat -f -c '%b %S %c' {}", q(p)));
    assert_eq!(df(&docs)?, df(&data)?);
    // O_TRUNC and O_APPEND.
    std::fs::write(docs.join("t"), b"long content")?;
    std::fs::write(docs.join("t"), b"short")?;
    assert_eq!(std::fs::read(data.join("t"))?, b"short");
    no_dropped_replies(&mount)
}

/// A program running from the mount keeps its file: open(O_RDONLY |
/// O_TRUNC) of it fails with ETXTBSY as on the disk, and the bytes under it
/// are untouched (the kernel checks only after the daemon has opened it).
/// Once the program exits, the same open truncates.
#[test]
fn a_running_program_s_file_is_not_truncated_under_it() -> Result<()> {
    let (_sd, data, mount) = mounted()?;
    let docs = mount.location("Docs").display().to_string();
    let under = data.join("prog").display().to_string();
    let script = format!(
        r#"
import os, shutil, subprocess, time
prog, under = {docs:?} + "/prog", {under:?}
shutil.copy("/usr/bin/sleep", prog); os.chmod(prog, 0o755)
size = os.stat(under).st_size
run = subprocess.Popen([prog, "30"])
try:
    os.close(os.open(prog, os.O_RDONLY | os.O_TRUNC)); print("open ok")
except OSError as e:
    print("open", os.strerror(e.errno))
print("kept", os.stat(under).st_size == size)
time.sleep(0.2)
print("running", run.poll() is None)
run.kill(); run.wait()
for _ in range(100):
    try:
        os.close(os.open(prog, os.O_RDONLY | os.O_TRUNC)); break
    except OSError:
        time.sleep(0.05)
print("after exit", os.stat(under).st_size)
"#
    );
    let out = python(&script)?;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "open Text file busy",
            "kept True",
            "running True",
            "after exit 0"
        ],
        "{out}"
    );
    no_dropped_replies(&mount)
}
