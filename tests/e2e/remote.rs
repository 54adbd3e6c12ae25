//! Other devices in the mount: a daemon on "laptop" mounts the VDFS, a
//! daemon on "nas" shares a location, both on loopback, paired by code.
//! Real programs (`find`, `grep -r`, `cat`, `b3sum`) run on the laptop's
//! mount over the nas's files.

use std::path::Path;
use std::time::{Duration, Instant};

use std::os::unix::ffi::OsStrExt;

use anyhow::{Context, Result, ensure};
use sdfs_tests::{Daemon, Mount, Sd, q, sh, wait_for, write_file};

pub const LOOPBACK: &str = "/ip4/127.0.0.1/tcp/0";

/// A laptop with a mount and a nas sharing `Photos`, paired.
pub struct Pair {
    pub laptop: Sd,
    pub mount: Mount,
    pub nas: Sd,
    pub nas_daemon: Option<Daemon>,
    /// The nas's shared directory.
    pub photos: std::path::PathBuf,
}

impl Pair {
    /// `<mount>/nas/Photos` on the laptop.
    pub fn remote(&self) -> std::path::PathBuf {
        self.mount.mountpoint.join("nas").join("Photos")
    }
}

/// Pairs `joiner` (running a daemon) with `inviter` (running one).
pub fn pair(inviter: &Sd, joiner: &Sd) -> Result<()> {
    let invite = inviter.json(["pair", "invite"])?;
    let code = invite["code"].as_str().context("code")?.to_owned();
    let addr = invite["addrs"][0].as_str().context("addr")?.to_owned();
    joiner.ok(["pair", "join", &code, "--addr", &addr])?;
    Ok(())
}

pub fn setup(fill: impl FnOnce(&Path) -> Result<()>) -> Result<Pair> {
    let laptop = Sd::init("laptop")?;
    let nas = Sd::init("nas")?;
    let photos = nas.path("photos");
    std::fs::create_dir_all(&photos)?;
    fill(&photos)?;
    nas.add_location(&photos, "Photos")?;
    // Changes travel by announcement: with the fallback pull an hour away,
    // every change these tests wait for was announced and acted on.
    let nas_daemon = nas.daemon_with(&["--listen", LOOPBACK, "--sync-every", "3600"])?;
    let mount = laptop.mount_with(&["--listen", LOOPBACK, "--sync-every", "3600"])?;
    pair(&laptop, &nas)?;
    Ok(Pair {
        laptop,
        mount,
        nas,
        nas_daemon: Some(nas_daemon),
        photos,
    })
}

/// `find DIR -printf '%P %y %s\n'`, sorted: names, kinds and sizes.
pub fn listing(dir: &Path) -> Result<String> {
    sh(&format!(
        "cd {} && find . -mindepth 1 -printf '%P %y %s\\n' | LC_ALL=C sort",
        q(dir)
    ))
}

fn listing_without_dir_sizes(dir: &Path) -> Result<String> {
    sh(&format!(
        "cd {} && find . -mindepth 1 \\( -type d -printf '%P d\\n' \\) -o -printf '%P %y %s\\n' | LC_ALL=C sort",
        q(dir)
    ))
}

fn fill_photos(root: &Path) -> Result<()> {
    for i in 0..30 {
        write_file(
            root,
            format!("2024/trip-{}/img-{i}.txt", i % 4).as_bytes(),
            format!(
                "photo {i}: {}\n",
                if i % 7 == 0 { "sunset" } else { "beach" }
            )
            .as_bytes(),
        )?;
    }
    write_file(root, b"notes/\xff\xfe-latin1.txt", b"bytes in a name\n")?;
    std::os::unix::fs::symlink("2024/trip-0/img-0.txt", root.join("latest"))?;
    // Larger than the read-ahead window, not a multiple of anything.
    let big = sdfs_tests::noise(5 * 1024 * 1024 + 12345, 1);
    write_file(root, b"video/big.bin", &big)?;
    write_file(root, b"video/small.bin", &big[..300_000])?;
    Ok(())
}

fn b3(path: &Path) -> Result<String> {
    Ok(blake3::hash(&std::fs::read(path)?).to_hex().to_string())
}

#[test]
fn another_device_lists_searches_and_reads_in_the_mount() -> Result<()> {
    let pair = setup(fill_photos)?;
    let remote = pair.remote();
    let native = listing_without_dir_sizes(&pair.photos)?;
    // The listing arrives by sync, then `find` runs on the replica.
    wait_for(Duration::from_secs(30), || {
        listing_without_dir_sizes(&remote).ok().as_deref() == Some(native.as_str())
    })
    .with_context(|| {
        format!(
            "find on the laptop never matched the nas:\n{}\n---\n{native}",
            listing_without_dir_sizes(&remote).unwrap_or_default()
        )
    })?;
    // `grep -r` over the other device's files equals grep on the device.
    let grep = |dir: &Path| {
        sh(&format!(
            "cd {} && grep -r sunset . 2>&1 | LC_ALL=C sort",
            q(dir)
        ))
    };
    let here = grep(&remote)?;
    assert_eq!(
        here,
        grep(&pair.photos)?,
        "grep over the mount differs; mount log:\n{}",
        pair.mount.log()
    );
    ensure!(here.lines().count() == 5, "{here}");
    // Bytes: a multi-chunk file, a non-UTF-8 name, a symlink's target.
    assert_eq!(
        b3(&remote.join("video/big.bin"))?,
        b3(&pair.photos.join("video/big.bin"))?
    );
    let odd =
        std::fs::read(remote.join(std::ffi::OsStr::from_bytes(b"notes/\xff\xfe-latin1.txt")))?;
    assert_eq!(odd, b"bytes in a name\n");
    assert_eq!(
        std::fs::read_link(remote.join("latest"))?,
        Path::new("2024/trip-0/img-0.txt")
    );

    // A file created on the nas shows up on the laptop.
    write_file(&pair.photos, b"2024/new-one.txt", b"fresh\n")?;
    wait_for(Duration::from_secs(15), || {
        std::fs::read(remote.join("2024/new-one.txt"))
            .ok()
            .as_deref()
            == Some(b"fresh\n")
    })
    .context("a new file on the nas never reached the laptop")?;
    Ok(())
}

#[test]
fn a_device_that_stops_answering_fails_reads_at_the_configured_deadline() -> Result<()> {
    let laptop = Sd::init("laptop")?;
    let nas = Sd::init("nas")?;
    let photos = nas.path("photos");
    std::fs::create_dir_all(&photos)?;
    fill_photos(&photos)?;
    nas.add_location(&photos, "Photos")?;
    let nas_daemon = nas.daemon_with(&["--listen", LOOPBACK])?;
    let mount = laptop.mount_with(&["--listen", LOOPBACK, "--fetch-timeout", "1"])?;
    pair(&laptop, &nas)?;
    let remote = mount.mountpoint.join("nas/Photos");
    wait_for(Duration::from_secs(30), || {
        remote.join("video/small.bin").exists()
    })
    .context("sync")?;
    // Stopped, not dead: the connection stays up and nothing answers.
    // SAFETY: signalling a daemon this test started.
    unsafe { libc::kill(nas_daemon.pid() as i32, libc::SIGSTOP) };
    let started = Instant::now();
    let result = std::fs::read(remote.join("video/small.bin"));
    let took = started.elapsed();
    // SAFETY: as above.
    unsafe { libc::kill(nas_daemon.pid() as i32, libc::SIGCONT) };
    let err = result.expect_err("a stopped device serves nothing");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    ensure!(
        took < Duration::from_secs(5),
        "a silent device held a read for {took:?}"
    );
    // Awake again, the same read works.
    assert_eq!(
        std::fs::read(remote.join("video/small.bin"))?.len(),
        300_000
    );
    Ok(())
}

#[test]
fn an_offline_device_still_lists_serves_cached_bytes_and_fails_the_rest_fast() -> Result<()> {
    // Enough files that a catch-up's fixed cost (a pull per resource, a
    // page for the entry and one for what it says) is small beside them.
    const NOTES: usize = 200;
    let mut pair = setup(|photos| {
        fill_photos(photos)?;
        for i in 0..NOTES {
            let name = format!("notes/note {i}.txt");
            write_file(
                photos,
                name.as_bytes(),
                format!("zanzibar {i}\n").as_bytes(),
            )?;
        }
        Ok(())
    })?;
    let remote = pair.remote();
    wait_for(Duration::from_secs(30), || {
        remote.join("video/small.bin").exists()
            && pair
                .laptop
                .json(["search", "--lexical", "--limit", "1000", "zanzibar"])
                .is_ok_and(|hits| hits.as_array().map_or(0, Vec::len) == NOTES)
    })
    .context("sync")?;
    let big = b3(&remote.join("video/big.bin"))?;
    let before = listing(&remote)?;

    // SIGKILL: no goodbye on the wire.
    if let Some(d) = pair.nas_daemon.take() {
        sdfs_tests::kill(d)?;
    }
    // Listing and stat come from the replica.
    assert_eq!(listing(&remote)?, before);
    // What was read before is in the content store.
    assert_eq!(b3(&remote.join("video/big.bin"))?, big);
    // What was not fails with EIO, and soon (3 s deadline by default).
    let started = Instant::now();
    let err = std::fs::read(remote.join("video/small.bin")).expect_err("nobody can serve it");
    let took = started.elapsed();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    ensure!(
        took < Duration::from_secs(8),
        "a dead device held a read for {took:?}"
    );

    // Back online: it catches up, moving only what changed.
    let status = |sd: &Sd| -> Result<u64> {
        Ok(sd.json(["status"])?["p2p"]["sync"]["bytes_received"]
            .as_u64()
            .unwrap_or(0))
    };
    let initial = status(&pair.laptop)?;
    write_file(
        &pair.photos,
        b"2024/while-away.txt",
        b"written while offline\n",
    )?;
    let _nas = pair.nas.daemon_with(&["--listen", LOOPBACK])?;
    wait_for(Duration::from_secs(30), || {
        std::fs::read(remote.join("2024/while-away.txt"))
            .ok()
            .as_deref()
            == Some(b"written while offline\n")
    })
    .context("the change made while offline never arrived")?;
    assert_eq!(
        std::fs::read(remote.join("video/small.bin"))?.len(),
        300_000
    );
    let after = status(&pair.laptop)?;
    eprintln!(
        "sync bytes: initial {initial}, catch-up {}; EIO after {took:?}",
        after - initial
    );
    ensure!(
        (after - initial) * 5 < initial,
        "catch-up moved {} bytes after an initial sync of {initial}",
        after - initial
    );
    Ok(())
}

#[test]
fn tags_set_on_two_devices_at_once_converge_to_the_union() -> Result<()> {
    let pair = setup(fill_photos)?;
    let remote = pair.remote();
    let file = remote.join("2024/trip-1/img-1.txt");
    wait_for(Duration::from_secs(30), || file.exists()).context("sync")?;
    let native = pair.photos.join("2024/trip-1/img-1.txt");
    let on_nas = || -> Result<Vec<String>> {
        let v = pair.nas.json([
            std::ffi::OsStr::new("tag"),
            "ls".as_ref(),
            native.as_os_str(),
        ])?;
        Ok(v["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect())
    };
    let on_laptop = || {
        sh(&format!(
            "getfattr --only-values -n user.sd.tags {} 2>/dev/null || true",
            q(&file)
        ))
        .unwrap_or_default()
    };
    // At the same time: the laptop through the mount, the nas by command.
    let laptop_side = {
        let file = file.clone();
        std::thread::spawn(move || {
            sh(&format!(
                "setfattr -n user.sd.tags -v 'blue, trip' {}",
                q(&file)
            ))
        })
    };
    pair.nas.ok([
        std::ffi::OsStr::new("tag"),
        "add".as_ref(),
        native.as_os_str(),
        "red".as_ref(),
    ])?;
    laptop_side
        .join()
        .map_err(|_| anyhow::anyhow!("setfattr thread"))??;
    let union = ["blue", "red", "trip"];
    wait_for(Duration::from_secs(15), || {
        on_nas().ok().as_deref() == Some(&union.map(String::from)[..])
            && on_laptop() == "blue,red,trip"
    })
    .with_context(|| format!("nas {:?}, laptop {:?}", on_nas(), on_laptop()))?;
    // The laptop's own listing names the file by its URI on the nas.
    let all = pair.laptop.json(["tag", "ls"])?;
    ensure!(
        all[0]["uri"].as_str() == Some("sd://nas/Photos/2024/trip-1/img-1.txt"),
        "{all}"
    );
    // A remove travels too.
    pair.laptop.ok([
        std::ffi::OsStr::new("tag"),
        "rm".as_ref(),
        file.as_os_str(),
        "red".as_ref(),
    ])?;
    wait_for(Duration::from_secs(15), || {
        on_nas().ok().as_deref() == Some(&["blue".to_owned(), "trip".to_owned()][..])
    })
    .context("the remove never reached the nas")?;
    Ok(())
}

fn project(root: &Path) -> Result<()> {
    write_file(root, b"proj/src/main.js", b"console.log('main')\n")?;
    write_file(
        root,
        b"proj/node_modules/left-pad/index.js",
        b"module.exports = pad\n",
    )?;
    write_file(
        root,
        b"proj/node_modules/left-pad/lib/deep.js",
        b"// deep\n",
    )?;
    write_file(root, b"proj/target/debug/app", b"\x7fELF")?;
    let big: Vec<u8> = (0..3 * 1024 * 1024 + 7)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    write_file(root, b"proj/target/debug/big.bin", &big)?;
    Ok(())
}

#[test]
fn what_the_owners_rules_skip_is_listed_live_while_it_is_online() -> Result<()> {
    let mut pair = setup(project)?;
    let remote = pair.remote().join("proj");
    let native = pair.photos.join("proj");
    // The premise: the nas's index skips node_modules and target.
    let indexed = pair
        .nas
        .json(["ls", "-R", "sd://nas/Photos/proj"])?
        .to_string();
    ensure!(
        !indexed.contains("node_modules") && !indexed.contains("debug"),
        "{indexed}"
    );
    // While it is up, the laptop sees the whole tree, and reads it.
    let full = listing_without_dir_sizes(&native)?;
    wait_for(Duration::from_secs(30), || {
        listing_without_dir_sizes(&remote).ok().as_deref() == Some(full.as_str())
    })
    .with_context(|| format!("{:?}\n---\n{full}", listing_without_dir_sizes(&remote)))?;
    assert_eq!(
        std::fs::read(remote.join("node_modules/left-pad/lib/deep.js"))?,
        b"// deep\n"
    );
    // A large one read to the end is assembled too, and read from its copy.
    let big = remote.join("target/debug/big.bin");
    let want = b3(&native.join("target/debug/big.bin"))?;
    assert_eq!(b3(&big)?, want);
    wait_assembled(&pair.laptop).context("the live file read to the end was never assembled")?;
    without_chunk_reads(&pair.laptop, || {
        assert_eq!(b3(&big)?, want);
        Ok(())
    })?;
    // Offline, the replica alone: what was indexed, at once.
    if let Some(d) = pair.nas_daemon.take() {
        sdfs_tests::kill(d)?;
    }
    std::thread::sleep(Duration::from_millis(2500));
    let started = Instant::now();
    let offline = listing_without_dir_sizes(&remote)?;
    ensure!(
        started.elapsed() < Duration::from_secs(2),
        "listing waited on a dead device"
    );
    assert_eq!(offline, "src d\nsrc/main.js f 20\n");
    Ok(())
}

/// Sets the kernel's read-ahead for the filesystem mounted at `mountpoint`.
fn set_read_ahead(mountpoint: &Path, kib: u32) -> Result<()> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    // Fields: id, parent, major:minor, root, mount point, ...
    let device = mountinfo
        .lines()
        .map(|line| line.split(' ').collect::<Vec<_>>())
        .find(|f| f.get(4).is_some_and(|m| Path::new(m) == mountpoint))
        .and_then(|f| f.get(2).map(|d| d.to_string()))
        .context("the mount is not in /proc/self/mountinfo")?;
    std::fs::write(
        format!("/sys/class/bdi/{device}/read_ahead_kb"),
        kib.to_string(),
    )
    .context("setting the mount's read-ahead (needs root)")
}

/// `sd cache stats` counters of the laptop.
fn cache_stats(sd: &Sd) -> Result<serde_json::Value> {
    sd.json(["cache", "stats"])
}

/// Waits until `sd`'s store holds one assembled file.
fn wait_assembled(sd: &Sd) -> Result<()> {
    wait_for(Duration::from_secs(30), || {
        cache_stats(sd).is_ok_and(|s| s["assembled"].as_u64() == Some(1))
    })
    .map(|_| ())
}

/// Runs `reads` with the kernel's page cache dropped first, so they reach
/// the mount, and checks that no chunk was read for them (from memory, the
/// store or a device): they were served from a whole copy.
fn without_chunk_reads(sd: &Sd, reads: impl FnOnce() -> Result<()>) -> Result<()> {
    std::fs::write("/proc/sys/vm/drop_caches", "1")
        .context("dropping the page cache (needs root)")?;
    let before = cache_stats(sd)?;
    reads()?;
    let after = cache_stats(sd)?;
    for counter in ["fetched", "disk_hits", "hot_hits"] {
        assert_eq!(
            before[counter], after[counter],
            "{counter}: a read of the whole copy went through chunks"
        );
    }
    Ok(())
}

#[test]
fn a_remote_file_read_to_the_end_rereads_from_its_whole_verified_copy() -> Result<()> {
    let mut pair = setup(fill_photos)?;
    let remote = pair.remote();
    let big = remote.join("video/big.bin");
    wait_for(Duration::from_secs(30), || big.exists()).context("sync")?;
    let native = b3(&pair.photos.join("video/big.bin"))?;

    // Held open across the rest: the kernel keeps one I/O mode per inode,
    // so later opens must follow this one's (cached) instead of failing.
    let held = std::fs::File::open(&big)?;
    // With a 1 MiB read-ahead the kernel keeps several reads of the file in
    // flight at once, beside the reader's own read-ahead batches: still,
    // each chunk is fetched once.
    set_read_ahead(&pair.mount.mountpoint, 1024)?;
    assert_eq!(b3(&big)?, native);
    wait_assembled(&pair.laptop).context("the file read to the end was never assembled")?;
    let stats = cache_stats(&pair.laptop)?;
    assert_eq!(
        stats["fetched"], stats["chunks"],
        "chunks fetched against chunks stored: some were fetched twice"
    );
    assert_eq!(
        stats["assembled_bytes"].as_u64(),
        Some(5 * 1024 * 1024 + 12345)
    );
    assert_eq!(b3(&big)?, native, "an open while another is held");
    drop(held);

    // The owner gone, the copy serves every byte without the chunk store.
    if let Some(d) = pair.nas_daemon.take() {
        sdfs_tests::kill(d)?;
    }
    without_chunk_reads(&pair.laptop, || {
        assert_eq!(b3(&big)?, native);
        assert_eq!(
            sh(&format!("tail -c 12345 {} | b3sum --no-names", q(&big)))?.trim(),
            {
                let bytes = std::fs::read(pair.photos.join("video/big.bin"))?;
                blake3::hash(&bytes[bytes.len() - 12345..])
                    .to_hex()
                    .to_string()
            }
        );
        Ok(())
    })?;
    let after = cache_stats(&pair.laptop)?;

    // A copy whose bytes rot is found and deleted; the chunks still serve.
    let dir = std::path::PathBuf::from(after["dir"].as_str().context("dir")?);
    let copy = std::fs::read_dir(dir.join("files"))?
        .next()
        .context("no assembled file")??
        .path();
    sh(&format!(
        "chmod u+w {0} && printf X | dd of={0} bs=1 seek=1000 conv=notrunc status=none",
        q(&copy)
    ))?;
    let verify = pair.laptop.json(["cache", "verify"])?;
    assert_eq!(verify["assembled"].as_u64(), Some(1), "{verify}");
    assert_eq!(
        verify["corrupt_assembled"].as_array().map(Vec::len),
        Some(1)
    );
    ensure!(!copy.exists(), "a rotten copy was kept");
    assert_eq!(b3(&big)?, native, "served from verified chunks instead");
    Ok(())
}

#[test]
fn copies_are_counted_on_every_device() -> Result<()> {
    let mut pair = setup(fill_photos)?;
    // The laptop keeps a copy of one of the nas's photos, under its own name.
    let docs = pair.laptop.path("docs");
    write_file(&docs, b"kept/sunset copy.txt", b"photo 0: sunset\n")?;
    pair.laptop.add_location(&docs, "Docs")?;
    pair.laptop.ok(["index"])?;
    let remote = pair.remote();
    let copies = |uri: &str| -> Option<u64> {
        pair.laptop
            .json(["stat", uri])
            .ok()
            .and_then(|s| s["copies"].as_u64())
    };
    let theirs = "sd://nas/Photos/2024/trip-0/img-0.txt";
    let mine = "sd://laptop/Docs/kept/sunset copy.txt";
    wait_for(Duration::from_secs(30), || copies(theirs) == Some(2)).with_context(|| {
        format!(
            "{theirs}: {:?} copies; {:?}; {:?}",
            copies(theirs),
            pair.laptop.json(["stat", mine]).ok(),
            pair.laptop.json(["stat", theirs]).ok()
        )
    })?;
    // Both ways, and with the nas away: its replica says what it holds.
    drop(pair.nas_daemon.take());
    assert_eq!(copies(mine), Some(2));
    assert_eq!(copies(theirs), Some(2));
    // A file only one device holds is one copy.
    assert_eq!(copies("sd://nas/Photos/2024/trip-1/img-1.txt"), Some(1));
    // Programs see it too.
    let xattr = |path: &Path| {
        sh(&format!(
            "getfattr --only-values -n user.sd.copies {}",
            q(path)
        ))
    };
    assert_eq!(xattr(&remote.join("2024/trip-0/img-0.txt"))?, "2");
    let docs_in_mount = pair.mount.location("Docs");
    assert_eq!(xattr(&docs_in_mount.join("kept/sunset copy.txt"))?, "2");
    Ok(())
}
