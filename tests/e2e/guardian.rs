//! The Data Guardian across two real daemons: what exists only once, on
//! either device, and how doing what it suggests (a copy through the mount)
//! clears it.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sdfs_tests::{q, sh, wait_for, write_file};
use serde_json::Value;

use crate::remote::setup;

fn fill(root: &std::path::Path) -> Result<()> {
    write_file(root, b"2024/beach.jpg", b"a beach, only on the nas\n")?;
    write_file(root, b"2024/sunset.jpg", b"a sunset, on both\n")?;
    Ok(())
}

fn item<'a>(report: &'a Value, uri: &str) -> Option<&'a Value> {
    report["at_risk"]
        .as_array()?
        .iter()
        .find(|i| i["uri"] == uri)
}

#[test]
fn single_copies_on_every_device_are_flagged_and_cleared_by_the_suggested_copy() -> Result<()> {
    let mut pair = setup(fill)?;
    let docs = pair.laptop.path("docs");
    write_file(&docs, b"Tax/2024.pdf", b"tax return 2024\n")?;
    write_file(&docs, b"Tax/receipts/r1.txt", b"receipt\n")?;
    write_file(&docs, b"sunset copy.jpg", b"a sunset, on both\n")?;
    pair.laptop.add_location(&docs, "Docs")?;
    pair.laptop.ok(["index"])?;
    let guardian = |args: &[&str]| -> Result<Value> {
        let mut all = vec!["guardian", "--limit", "1000"];
        all.extend_from_slice(args);
        pair.laptop.json(all)
    };
    // The nas's index reaches the laptop's replica.
    wait_for(Duration::from_secs(30), || {
        guardian(&[]).is_ok_and(|r| item(&r, "sd://nas/Photos/2024/beach.jpg").is_some())
    })
    .with_context(|| format!("{:?}", guardian(&[])))?;
    let report = guardian(&[])?;
    let tax = item(&report, "sd://laptop/Docs/Tax").context("Tax/ at risk")?;
    assert_eq!(tax["risk"], "single_copy");
    assert_eq!(
        (tax["files"].as_u64(), tax["copies"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(tax["bytes"].as_u64(), Some(16 + 8));
    assert_eq!(tax["suggestion"]["to"], "sd://nas/Photos/Tax");
    let beach = item(&report, "sd://nas/Photos/2024/beach.jpg").context("nas's file")?;
    assert_eq!(
        (beach["risk"].as_str(), beach["on"][0].as_str()),
        (Some("single_copy"), Some("nas"))
    );
    // Kept on both devices: no item says it exists once.
    for both in [
        "sd://laptop/Docs/sunset copy.jpg",
        "sd://nas/Photos/2024/sunset.jpg",
    ] {
        ensure!(
            item(&report, both).is_none_or(|i| i["risk"] == "one_class"),
            "{both}: {:?}",
            item(&report, both)
        );
    }

    // Do what it suggests, as a person would: copy the folder to the nas
    // through the mount.
    let mnt = &pair.mount.mountpoint;
    sh(&format!(
        "cp -r {} {}",
        q(&mnt.join("laptop/Docs/Tax")),
        q(&mnt.join("nas/Photos/"))
    ))?;
    let single = |r: &Value| r["by_risk"][0]["files"].as_u64();
    wait_for(Duration::from_secs(60), || {
        guardian(&["sd://laptop/Docs/Tax"]).is_ok_and(|r| single(&r) == Some(0))
    })
    .with_context(|| format!("{:?}", guardian(&["sd://laptop/Docs/Tax"])))?;
    // The nas's copy is the nas's own file now, in its index.
    let copies = guardian(&["sd://laptop/Docs/Tax/2024.pdf"])?;
    let mut uris: Vec<&str> = copies["copies"]
        .as_array()
        .context("copies")?
        .iter()
        .filter_map(|c| c["uri"].as_str())
        .collect();
    uris.sort();
    assert_eq!(
        uris,
        [
            "sd://laptop/Docs/Tax/2024.pdf",
            "sd://nas/Photos/Tax/2024.pdf"
        ]
    );
    // When this device last read its copy whole and found it right.
    let here = |r: &Value| {
        r["copies"].as_array().and_then(|c| {
            c.iter()
                .find(|c| c["device"] == "laptop")
                .map(|c| c["verified_at"].clone())
        })
    };
    pair.laptop.ok(["validate", "--reverify"])?;
    let checked = here(&guardian(&["sd://laptop/Docs/Tax/2024.pdf"])?).context("laptop's copy")?;
    ensure!(
        checked.as_i64().is_some_and(|t| t > 1_700_000_000),
        "{checked}"
    );

    // With the nas away, the laptop still knows what the nas holds, and a
    // path in the mount names the same folder as its URI.
    drop(pair.nas_daemon.take());
    let offline = guardian(&[&mnt.join("nas/Photos/2024").display().to_string()])?;
    assert_eq!(offline["scope"], "sd://nas/Photos/2024");
    assert_eq!(offline["files"].as_u64(), Some(2));
    assert_eq!(single(&offline), Some(1), "{offline}");
    // `sd dupes` sees the same copies: across devices, a backup, no waste.
    let dupes = pair.laptop.json(["dupes"])?;
    let tax = dupes
        .as_array()
        .context("groups")?
        .iter()
        .find(|g| g["uris"][0] == "sd://laptop/Docs/Tax/2024.pdf")
        .with_context(|| format!("{dupes}"))?;
    assert_eq!(tax["uris"][1], "sd://nas/Photos/Tax/2024.pdf");
    assert_eq!(
        (tax["devices"][1].as_str(), tax["wasted"].as_u64()),
        (Some("nas"), Some(0))
    );
    // People read it too.
    let text = String::from_utf8(pair.laptop.ok(["guardian"])?.stdout)?;
    ensure!(text.contains("one copy only"), "{text}");
    ensure!(text.contains("sd://nas/Photos/2024/beach.jpg"), "{text}");
    Ok(())
}

#[test]
fn a_corrupted_copy_is_reported_and_repaired_from_the_other_device() -> Result<()> {
    let bytes = sdfs_tests::noise(300_000, 9);
    let kept = bytes.clone();
    let mut pair = setup(move |root| {
        write_file(root, b"archive/scan.bin", &kept)?;
        Ok(())
    })?;
    let docs = pair.laptop.path("docs");
    let file = write_file(&docs, b"scan.bin", &bytes)?;
    let solo_bytes = sdfs_tests::noise(200_000, 10);
    let solo = write_file(&docs, b"solo.bin", &solo_bytes)?;
    pair.laptop.add_location(&docs, "Docs")?;
    pair.laptop.ok(["index"])?;
    // The laptop hashes its files once; the nas's copy reaches its replica.
    pair.laptop.ok(["validate"])?;
    let copies = || -> Option<u64> {
        pair.laptop
            .json(["stat", "sd://laptop/Docs/scan.bin"])
            .ok()?["copies"]
            .as_u64()
    };
    wait_for(Duration::from_secs(30), || copies() == Some(2)).context("the nas's copy")?;

    crate::content::corrupt_silently(&file, 123_456)?;
    ensure!(std::fs::read(&file)? != bytes);
    let report = pair.laptop.json(["validate", "--reverify"])?;
    let issues = report["issues"].as_array().context("issues")?;
    assert_eq!(issues.len(), 1, "{report}");
    assert_eq!(issues[0]["kind"], "corruption");
    assert_eq!(
        report["repaired"].as_array().map(Vec::len),
        Some(1),
        "{report}\n{}",
        pair.mount.log()
    );
    // The bytes are back, read from the nas and checked.
    ensure!(std::fs::read(&file)? == bytes, "not repaired");
    let guardian = pair.laptop.json(["guardian", "sd://laptop/Docs"])?;
    assert_eq!(guardian["corrupt"], serde_json::json!([]), "{guardian}");
    let again = pair.laptop.json(["validate", "--reverify"])?;
    assert_eq!(again["issues"], serde_json::json!([]), "{again}");

    // With no good copy anywhere, damage is reported, never "repaired"
    // with other bytes.
    drop(pair.nas_daemon.take());
    crate::content::corrupt_silently(&solo, 7)?;
    let report = pair.laptop.json(["validate", "--reverify"])?;
    assert_eq!(
        report["issues"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(report["repaired"], serde_json::json!([]), "{report}");
    ensure!(std::fs::read(&solo)? != solo_bytes);
    let guardian = pair.laptop.json(["guardian", "sd://laptop/Docs"])?;
    let corrupt = guardian["corrupt"].as_array().context("corrupt")?;
    assert_eq!(corrupt.len(), 1, "{guardian}");
    assert_eq!(corrupt[0]["uri"], "sd://laptop/Docs/solo.bin");
    assert_eq!(corrupt[0]["good_copies"].as_u64(), Some(0), "{guardian}");
    Ok(())
}
