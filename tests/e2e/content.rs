//! The content store end to end: manifests checked by an outside tool,
//! `.content/` reads verified chunk by chunk, pins, a corrupt store, a
//! `kill -9` while storing, and the integrity job.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sdfs_tests::{Sd, filetime_of, q, sh, wait_for};
use serde_json::Value;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Deterministic incompressible bytes (BLAKE3 in XOF mode).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut reader = blake3::Hasher::new()
        .update(&seed.to_le_bytes())
        .finalize_xof();
    reader.fill(&mut out);
    out
}

fn b3sum(path: &Path) -> Result<String> {
    Ok(sh(&format!("b3sum --no-names {}", q(path)))?
        .trim()
        .to_owned())
}

/// Flips a byte silently: same size, mtime put back, so nothing but a
/// content check can tell.
pub(crate) fn corrupt_silently(path: &Path, offset: usize) -> Result<()> {
    let md = std::fs::metadata(path)?;
    let mut bytes = std::fs::read(path)?;
    bytes[offset] ^= 0x5a;
    std::fs::write(path, &bytes)?;
    sh(&format!("touch -d @{} {}", filetime_of(&md), q(path)))?;
    Ok(())
}

fn content_id(sd: &Sd, uri: &str) -> Result<String> {
    Ok(sd.json(["stat", uri])?["content_id"]
        .as_str()
        .context("identified")?
        .to_owned())
}

fn packs(sd: &Sd) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(sd.lib.join("chunks/packs"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    out.sort();
    Ok(out)
}

fn packs_size(sd: &Sd) -> u64 {
    packs(sd)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

#[test]
fn manifests_check_out_with_b3sum() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let sizes = [
        1,
        16 * KIB - 1,
        16 * KIB,
        64 * KIB,
        100 * KIB - 1,
        100 * KIB + 1,
        256 * KIB,
        256 * KIB + 1,
        3 * MIB + 7,
    ];
    for (i, size) in sizes.into_iter().enumerate() {
        let path = sd.path(&format!("file-{size}"));
        std::fs::write(&path, noise(size, i as u64))?;
        let m = sd.json([OsStr::new("manifest"), path.as_os_str()])?;
        assert_eq!(m["size"].as_u64(), Some(size as u64));
        assert_eq!(
            m["hash"].as_str(),
            Some(b3sum(&path)?.as_str()),
            "size {size}"
        );
        let max = m["chunker"]["max"].as_u64().context("max")?;
        let mut offset = 0;
        for chunk in m["chunks"].as_array().context("chunks")? {
            let (at, len) = (chunk["offset"].as_u64(), chunk["length"].as_u64());
            let (at, len) = (at.context("offset")?, len.context("length")?);
            assert_eq!(at, offset, "size {size}: chunks are contiguous");
            ensure!(len > 0 && len <= max, "size {size}: chunk length {len}");
            let id = sh(&format!(
                "tail -c +{} {} | head -c {len} | b3sum --no-names",
                at + 1,
                q(&path)
            ))?;
            assert_eq!(chunk["id"].as_str(), Some(id.trim()), "size {size} at {at}");
            offset += len;
        }
        assert_eq!(offset, size as u64);
    }
    Ok(())
}

#[test]
fn content_reads_are_verified_and_pins_outlive_the_file() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let data = sd.path("data");
    std::fs::create_dir_all(&data)?;
    let original = noise(3 * MIB + 12_345, 1);
    std::fs::write(data.join("big.bin"), &original)?;
    sd.add_location(&data, "Docs")?;
    sd.ok(["index"])?;
    let id = content_id(&sd, "sd://laptop/Docs/big.bin")?;

    let mount = sd.mount()?;
    let by_id = mount.mountpoint.join(".content").join(&id);
    assert!(std::fs::read(&by_id)? == original, "read by id");
    // A ranged read in the middle.
    let mut file = std::fs::File::open(&by_id)?;
    let mut part = vec![0u8; 100_000];
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(1_500_000))?;
    file.read_exact(&mut part)?;
    assert!(part == original[1_500_000..1_600_000]);

    // Pinned through the mount's own path, via the daemon.
    let pin = sd.json([
        OsStr::new("pin"),
        mount.location("Docs").join("big.bin").as_os_str(),
    ])?;
    assert_eq!(pin["files"].as_u64(), Some(1));
    let stats = sd.json(["cache", "stats"])?;
    assert_eq!(stats["pinned"].as_u64(), Some(1));
    assert_eq!(stats["pinned_bytes"].as_u64(), Some(original.len() as u64));
    mount.stop()?;

    // The file changes without a trace; the pinned bytes are still served.
    corrupt_silently(&data.join("big.bin"), 2 * MIB)?;
    let mount = sd.mount()?;
    assert!(std::fs::read(&by_id)? == original, "pinned bytes served");
    mount.stop()?;

    // Unpinned and evicted: no verified source is left, so the read fails
    // rather than hand out the changed bytes.
    let unpin = sd.json(["unpin", &format!("sd://content/{id}")])?;
    assert_eq!(unpin["files"].as_u64(), Some(1));
    sd.ok(["cache", "budget", "1"])?;
    assert_eq!(sd.json(["cache", "stats"])?["chunks"].as_u64(), Some(0));
    let mount = sd.mount()?;
    let err = std::fs::read(&by_id).expect_err("unverified bytes served");
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    sdfs_tests::no_dropped_replies(&mount)
}

#[test]
fn a_corrupt_chunk_in_the_store_is_dropped_and_fetched_again() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let data = sd.path("data");
    std::fs::create_dir_all(&data)?;
    let original = noise(2 * MIB, 2);
    std::fs::write(data.join("f.bin"), &original)?;
    sd.add_location(&data, "Docs")?;
    sd.ok(["index"])?;
    sd.ok([OsStr::new("pin"), data.join("f.bin").as_os_str()])?;
    let hash = b3sum(&data.join("f.bin"))?;
    let flip = |sd: &Sd| -> Result<()> {
        let pack = packs(sd)?.pop().context("a pack")?;
        // Inside the last record appended, which is always a live chunk.
        let mut raw = std::fs::read(&pack)?;
        let at = raw.len() - 100;
        raw[at] ^= 1;
        std::fs::write(&pack, raw)?;
        Ok(())
    };

    // Through the mount: the corrupt chunk is refused and the intact local
    // file serves it instead.
    flip(&sd)?;
    let id = content_id(&sd, "sd://laptop/Docs/f.bin")?;
    let mount = sd.mount()?;
    assert!(std::fs::read(mount.mountpoint.join(".content").join(&id))? == original);
    ensure!(
        mount.log().contains("corrupt"),
        "the drop is logged: {}",
        mount.log()
    );
    mount.stop()?;
    // The read dropped it; verify refills the pin from the file.
    let report = sd.json(["cache", "verify"])?;
    assert_eq!(report["repaired_pins"], serde_json::json!([hash]));
    let report = sd.json(["cache", "verify"])?;
    assert_eq!(report["corrupt"], serde_json::json!([]));
    assert_eq!(report["incomplete_pins"], serde_json::json!([]));

    // With the file's copy of that chunk changed too, nothing can refill
    // it: reported, not served. (The last chunk was re-appended last.)
    flip(&sd)?;
    corrupt_silently(&data.join("f.bin"), original.len() - 10)?;
    let report = sd.json(["cache", "verify"])?;
    assert_eq!(report["corrupt"].as_array().map(Vec::len), Some(1));
    assert_eq!(report["incomplete_pins"], serde_json::json!([hash]));
    let mount = sd.mount()?;
    let err = std::fs::read(mount.mountpoint.join(".content").join(&id))
        .expect_err("corrupt bytes served");
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    Ok(())
}

#[test]
fn kill_9_while_pinning_leaves_no_chunk_without_bytes() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let data = sd.path("data");
    std::fs::create_dir_all(&data)?;
    let big = data.join("big.bin");
    sh(&format!("head -c 1G /dev/urandom > {}", q(&big)))?;
    sd.add_location(&data, "Docs")?;

    let mut pin = sd
        .cmd([OsStr::new("pin"), big.as_os_str()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    // Past the first automatic commit (256 MiB), well before the end.
    let waited = wait_for(Duration::from_secs(120), || {
        packs_size(&sd) > 400 * MIB as u64
    });
    let finished = pin.try_wait()?.is_some();
    pin.kill()?;
    pin.wait()?;
    waited.context("the pin never got going")?;
    ensure!(!finished, "the pin finished before it could be killed");
    let on_disk_before = packs_size(&sd);

    // Reopening repairs; every indexed chunk has its bytes, none differs.
    let report = sd.json(["cache", "verify"])?;
    let corrupt = report["corrupt"].as_array().map(Vec::len);
    assert_eq!(corrupt, Some(0), "indexed chunks without their bytes");
    let chunks = report["chunks"].as_u64().context("chunks")?;
    ensure!(chunks > 0, "an automatic commit happened before the kill");
    let stats = sd.json(["cache", "stats"])?;
    assert_eq!(stats["chunks"].as_u64(), Some(chunks));
    assert_eq!(stats["pinned"].as_u64(), Some(0), "the pin never completed");
    // Bytes past the last commit were cut off; what is on disk is what the
    // index records, plus at most the 8-byte header of a fresh open pack.
    let recorded = stats["stored_bytes"].as_u64().context("stored")?;
    let on_disk = packs_size(&sd);
    ensure!(
        on_disk >= recorded && on_disk <= recorded + 8,
        "{on_disk} bytes on disk, {recorded} recorded ({on_disk_before} before the reopen)"
    );
    ensure!(on_disk < on_disk_before, "the unindexed tail was cut");

    // Pinning again completes, reusing what survived.
    let pinned = sd.json([OsStr::new("pin"), big.as_os_str()])?;
    assert!(pinned["stored_bytes"].as_u64() < Some(1 << 30));
    let stats = sd.json(["cache", "stats"])?;
    assert_eq!(
        stats["pins"][0]["hash"].as_str(),
        Some(b3sum(&big)?.as_str())
    );
    assert_eq!(stats["pinned_bytes"].as_u64(), Some(1 << 30));
    let report = sd.json(["cache", "verify"])?;
    assert_eq!(report["corrupt"], serde_json::json!([]));
    assert_eq!(report["incomplete_pins"], serde_json::json!([]));
    Ok(())
}

/// Two files of 200,000 bytes that differ only at byte 30,000, outside every
/// sample of the content hash, so they share a content id.
fn sampled_twins(dir: &Path) -> Result<()> {
    let a = noise(200_000, 3);
    let mut b = a.clone();
    b[30_000] ^= 0xff;
    std::fs::write(dir.join("a.bin"), a)?;
    std::fs::write(dir.join("b.bin"), b)?;
    Ok(())
}

fn issues(report: &Value, kind: &str) -> Vec<String> {
    report["issues"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["kind"] == kind)
        .map(|i| i["path"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn the_integrity_job_reports_collisions_and_corruption() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let data = sd.path("data");
    std::fs::create_dir_all(&data)?;
    sampled_twins(&data)?;
    std::fs::write(data.join("c.bin"), noise(300_000, 4))?;
    sd.add_location(&data, "Docs")?;
    sd.ok(["index"])?;
    let id = content_id(&sd, "sd://laptop/Docs/a.bin")?;
    assert_eq!(
        content_id(&sd, "sd://laptop/Docs/b.bin")?,
        id,
        "sampled twins"
    );

    let report = sd.json(["validate"])?;
    assert_eq!(report["integrity_set"].as_u64(), Some(2));
    assert_eq!(report["remaining"].as_u64(), Some(0));
    let collisions = issues(&report, "collision");
    assert_eq!(collisions.len(), 1, "{report}");
    // Never merged: the content is the bytes of one file, the other is named.
    let a = b3sum(&data.join("a.bin"))?;
    let b = b3sum(&data.join("b.bin"))?;
    let issue = &report["issues"][0];
    assert_eq!(
        issue["expected"].as_str().map(|e| e == a || e == b),
        Some(true)
    );
    assert_ne!(issue["expected"], issue["actual"]);
    let mount = sd.mount()?;
    let served = mount.mountpoint.join(".content").join(&id);
    assert_eq!(
        Some(b3sum(&served)?),
        issue["expected"].as_str().map(String::from)
    );
    mount.stop()?;

    // Done work is not redone.
    let again = sd.json(["validate"])?;
    assert_eq!(again["contents"].as_u64(), Some(0));

    // A silent change under an unchanged stamp is corruption.
    corrupt_silently(&data.join("c.bin"), 50_000)?;
    let report = sd.json(["validate", "--reverify"])?;
    let corrupt = issues(&report, "corruption");
    assert_eq!(corrupt.len(), 1, "{report}");
    ensure!(corrupt[0].ends_with("c.bin"));
    // Recorded until the file is dealt with: a second pass says it again.
    let report = sd.json(["validate", "--reverify"])?;
    assert_eq!(issues(&report, "corruption").len(), 1, "{report}");
    // And `sd status` shows it, as data and to a person.
    let status = sd.json(["status"])?;
    let found = issues(
        &serde_json::json!({ "issues": status["integrity"] }),
        "corruption",
    );
    assert_eq!(found, corrupt, "{status:#}");
    let shown = String::from_utf8(sd.ok(["status"])?.stdout)?;
    ensure!(
        shown.contains("corrupted:") && shown.contains("c.bin"),
        "{shown}"
    );
    Ok(())
}

#[test]
fn the_integrity_job_resumes_where_it_was_killed() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let data = sd.path("data");
    std::fs::create_dir_all(&data)?;
    for i in 0..6 {
        std::fs::write(data.join(format!("f{i}.bin")), noise(MIB, 10 + i))?;
    }
    sd.add_location(&data, "Docs")?;
    sd.ok(["index"])?;
    // Throttled to 1 MiB/s, six 1 MiB files take about six seconds: killed
    // partway, some contents have their integrity hash committed, some not.
    let mut job = sd
        .cmd(["validate", "--rate", "1"])
        .stdout(std::process::Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(2500));
    let finished = job.try_wait()?.is_some();
    job.kill()?;
    job.wait()?;
    ensure!(!finished, "the throttled job finished early");
    let report = sd.json(["validate"])?;
    let left = report["contents"].as_u64().context("contents")?;
    ensure!(
        (1..6).contains(&left),
        "{left} of 6 contents were left to do"
    );
    assert_eq!(report["remaining"].as_u64(), Some(0));
    assert_eq!(sd.json(["validate"])?["contents"].as_u64(), Some(0));
    Ok(())
}
