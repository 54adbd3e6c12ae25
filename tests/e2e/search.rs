//! `sd search`: words, typed operators and plain phrases over every file
//! the library knows, this device's and a paired device's (also while it
//! is offline), with copies of one content shown once.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sdfs_tests::{Sd, no_dropped_replies, q, sh, wait_for, write_file};
use serde_json::Value;

use crate::remote::setup;

/// The hits' URIs, best first.
fn uris(hits: &Value) -> Vec<String> {
    hits.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h["uri"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Sets `path`'s modification time (`touch -d`).
fn touch(path: &Path, when: &str) -> Result<()> {
    let status = Command::new("touch")
        .arg("-d")
        .arg(when)
        .arg(path)
        .status()?;
    ensure!(status.success(), "touch -d {when} {}", path.display());
    Ok(())
}

fn this_year() -> Result<i32> {
    let out = Command::new("date").arg("+%Y").output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

#[test]
fn finds_files_by_words_kinds_sizes_and_times_and_shows_copies_once() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let docs = sd.path("docs");
    let last_year = this_year()? - 1;
    let tax = write_file(&docs, b"taxes/Tax Return.pdf", b"%PDF-1.7 a return")?;
    touch(&tax, &format!("{last_year}-04-02 12:00"))?;
    let copy = write_file(&docs, b"backup/Tax Return.pdf", b"%PDF-1.7 a return")?;
    touch(&copy, &format!("{last_year}-04-02 12:00"))?;
    let older = write_file(&docs, b"taxes/tax summary.pdf", b"%PDF-1.4 an old summary")?;
    touch(&older, &format!("{}-01-10 12:00", last_year - 3))?;
    write_file(&docs, b"taxes/receipts.xlsx", b"PK\x03\x04 sheet")?;
    write_file(&docs, b"beach.png", b"\x89PNG\r\n\x1a\n and pixels")?;
    write_file(&docs, b"big.bin", &vec![1u8; 2 << 20])?;
    write_file(&docs, "caf\u{e9} menu.txt".as_bytes(), b"menu")?;
    sd.add_location(&docs, "Docs")?;
    sd.ok(["index"])?;

    // The example: a word, a kind and a time phrase.
    let hits = sd.json(["search", "tax", "documents", "from", "last", "year"])?;
    let first = &hits[0];
    assert_eq!(first["name"], "Tax Return.pdf", "{hits:#}");
    assert_eq!(first["kind"], "document");
    assert_eq!(first["device"], "laptop");
    // Two copies, one hit.
    assert_eq!(first["copies"], 2, "{hits:#}");
    for key in [
        "uri", "name", "path", "device", "kind", "size", "modified", "score", "copies",
    ] {
        ensure!(!first[key].is_null(), "no {key} in {first:#}");
    }
    ensure!(
        first["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("laptop/Docs/")),
        "{first:#}"
    );
    // A bare time ranks, it does not filter: the older document is found,
    // after last year's, and the spreadsheet in the taxes folder (a
    // document, though a zip) after the names that say tax.
    let found = uris(&hits);
    assert_eq!(found.len(), 3, "{hits:#}");
    assert_eq!(found[1], "sd://laptop/Docs/taxes/tax summary.pdf");
    assert_eq!(found[2], "sd://laptop/Docs/taxes/receipts.xlsx");

    // Named times filter.
    let modified = uris(&sd.json(["search", "tax", "modified", "last", "year"])?);
    assert_eq!(modified.len(), 1, "{modified:?}");

    // Typed operators, kinds by content, sizes, names that are not ASCII.
    assert_eq!(
        uris(&sd.json(["search", "ext:xlsx"])?),
        ["sd://laptop/Docs/taxes/receipts.xlsx"]
    );
    assert_eq!(
        uris(&sd.json(["search", "photos"])?),
        ["sd://laptop/Docs/beach.png"]
    );
    assert_eq!(
        uris(&sd.json(["search", "bigger", "than", "1", "MB"])?),
        ["sd://laptop/Docs/big.bin"]
    );
    assert_eq!(
        sd.json(["search", "café"])?[0]["name"],
        "caf\u{e9} menu.txt"
    );
    // A prefix finds the word; nothing found is an empty list.
    assert_eq!(uris(&sd.json(["search", "recei"])?).len(), 1);
    assert_eq!(sd.json(["search", "zebra"])?, serde_json::json!([]));
    assert_eq!(uris(&sd.json(["search", "tax", "--limit", "1"])?).len(), 1);

    // --explain shows the parse and what each score is made of.
    let out = sd.ok([
        "search",
        "--explain",
        "tax",
        "documents",
        "from",
        "last",
        "year",
    ])?;
    let text = String::from_utf8_lossy(&out.stdout);
    for part in [
        "text: tax",
        "kinds: document",
        "(ranks)",
        "score",
        "name",
        "time",
    ] {
        ensure!(text.contains(part), "no {part:?} in:\n{text}");
    }
    Ok(())
}

#[test]
fn finds_a_paired_device_s_files_while_it_is_offline() -> Result<()> {
    let mut pair = setup(|photos| {
        write_file(photos, b"2025/beach sunset.jpg", b"\xff\xd8\xff a photo")?;
        write_file(photos, b"2025/notes.txt", b"words")?;
        let exif = sdfs_tests::jpeg_with_exif("Pixel 7", "2023:07:14 10:00:00");
        write_file(photos, b"2023/IMG_0001.jpg", &exif)?;
        let pdf = sdfs_tests::pdf_with_text(&["Descaling: every three months."]);
        write_file(photos, b"kettle manual.pdf", &pdf)?;
        Ok(())
    })?;
    let remote = pair.remote();
    wait_for(Duration::from_secs(30), || {
        remote.join("2025/beach sunset.jpg").exists()
    })
    .context("the nas's files never reached the laptop's mount")?;
    // What its files say (read on the nas, synced by content) too.
    let found = |words: &[&str]| -> Vec<String> {
        let mut args = vec!["search", "--lexical"];
        args.extend_from_slice(words);
        pair.laptop.json(args).map(|h| uris(&h)).unwrap_or_default()
    };
    wait_for(Duration::from_secs(30), || {
        !found(&["descaling"]).is_empty() && !found(&["pixel"]).is_empty()
    })
    .context("what the nas's files say never reached the laptop")?;
    drop(pair.nas_daemon.take());
    assert_eq!(found(&["descaling"]), ["sd://nas/Photos/kettle manual.pdf"]);
    assert_eq!(
        found(&["photos", "taken", "in", "2023", "on", "nas"]),
        ["sd://nas/Photos/2023/IMG_0001.jpg"]
    );

    let hits = pair.laptop.json(["search", "sunset", "on", "nas"])?;
    assert_eq!(
        uris(&hits),
        ["sd://nas/Photos/2025/beach sunset.jpg"],
        "{hits:#}"
    );
    let hit = &hits[0];
    assert_eq!(hit["device"], "nas");
    assert_eq!(hit["kind"], "image");
    // The daemon serves the mount: `path` is where a program opens it.
    let path = Path::new(hit["path"].as_str().context("path")?);
    let mountpoint = std::fs::canonicalize(&pair.mount.mountpoint)?;
    assert_eq!(path, mountpoint.join("nas/Photos/2025/beach sunset.jpg"));
    ensure!(std::fs::metadata(path)?.len() == 11);
    // Devices the query does not name are not searched.
    assert_eq!(
        pair.laptop.json(["search", "sunset", "on", "laptop"])?,
        serde_json::json!([])
    );
    // The same search as a directory, with the nas still away.
    let dir = pair.mount.mountpoint.join(".search/photos on nas");
    let listed = sh(&format!("ls -1 {}", q(&dir)))?;
    assert_eq!(listed.trim(), "IMG_0001.jpg\nbeach sunset.jpg");
    ensure!(std::fs::metadata(dir.join("beach sunset.jpg"))?.len() == 11);
    Ok(())
}

/// Paths (under the mount) of the hits for `words`.
fn paths(sd: &Sd, words: &[&str]) -> Result<Vec<String>> {
    let mut args = vec!["search", "--json"];
    args.extend_from_slice(words);
    let hits = sd.json(args)?;
    Ok(hits
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h["path"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

#[test]
fn the_daemons_index_follows_changes_on_disk_and_through_the_mount() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let docs = sd.path("docs");
    write_file(&docs, b"plans/garden plan.txt", b"roses")?;
    sd.add_location(&docs, "Docs")?;
    sd.ok(["index"])?;
    let mount = sd.mount()?;
    let root = std::fs::canonicalize(&mount.mountpoint)?;
    let at = |rel: &str| root.join(rel).to_string_lossy().into_owned();
    assert_eq!(
        paths(&sd, &["garden"])?,
        [at("laptop/Docs/plans/garden plan.txt")]
    );

    // Made on disk behind the daemon's back: the watcher brings it.
    write_file(&docs, b"plans/kitchen plan.txt", b"tiles")?;
    wait_for(Duration::from_secs(10), || {
        paths(&sd, &["kitchen"]).is_ok_and(|p| p == [at("laptop/Docs/plans/kitchen plan.txt")])
    })
    .context("a file made on disk never became findable")?;

    // Renamed through the mount, the folder above moved: the new paths
    // are found and the old ones are not.
    std::fs::rename(
        mount.mountpoint.join("laptop/Docs/plans"),
        mount.mountpoint.join("laptop/Docs/house plans"),
    )?;
    wait_for(Duration::from_secs(10), || {
        paths(&sd, &["garden"]).is_ok_and(|p| p == [at("laptop/Docs/house plans/garden plan.txt")])
    })
    .context("a renamed folder's files kept their old paths")?;
    assert_eq!(
        paths(&sd, &["kitchen"])?,
        [at("laptop/Docs/house plans/kitchen plan.txt")]
    );

    // Deleted through the mount: gone from the results.
    std::fs::remove_file(
        mount
            .mountpoint
            .join("laptop/Docs/house plans/kitchen plan.txt"),
    )?;
    wait_for(Duration::from_secs(10), || {
        paths(&sd, &["kitchen"]).is_ok_and(|p| p.is_empty())
    })
    .context("a deleted file was still found")?;

    // The index lives in the library, not beside the user's files, and
    // a restarted daemon goes on from it.
    ensure!(
        sd.path("test.sdlibrary/search").is_dir(),
        "no index in the library"
    );
    mount.stop()?;
    write_file(&docs, b"house plans/attic plan.txt", b"beams")?;
    let mount = sd.mount()?;
    let root = std::fs::canonicalize(&mount.mountpoint)?;
    wait_for(Duration::from_secs(10), || {
        paths(&sd, &["attic"]).is_ok_and(|p| {
            p == [root
                .join("laptop/Docs/house plans/attic plan.txt")
                .to_string_lossy()
                .into_owned()]
        })
    })
    .context("a file made while the daemon was down was never found")?;
    assert_eq!(paths(&sd, &["plan"])?.len(), 2);
    ensure!(
        !docs.join("search").exists(),
        "the index must not be written beside the user's files"
    );
    mount.stop()?;
    Ok(())
}

#[test]
fn search_directories_list_open_and_grep_the_files_themselves() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let docs = sd.path("docs");
    write_file(&docs, b"taxes/Tax Return.pdf", b"%PDF-1.7 refund due")?;
    write_file(&docs, b"old/taxes/Tax Return.pdf", b"%PDF-1.7 an older one")?;
    write_file(&docs, b"taxes/tax notes.txt", b"ask about the refund")?;
    write_file(&docs, b"garden.txt", b"roses")?;
    write_file(&docs, b"caf\xe9 tax.txt", b"latin-1 name")?;
    sd.add_location(&docs, "Docs")?;
    sd.ok(["index"])?;
    let mount = sd.mount()?;
    let dir = mount.mountpoint.join(".search/tax");

    // `ls`: the files' own names; the two returns share one, so each gets
    // its URI's tag; the name that is not UTF-8 comes back as its bytes.
    let out = sh(&format!("ls -1 {}", q(&dir)))?;
    let mut names: Vec<&str> = out.lines().collect();
    names.sort();
    assert_eq!(names.len(), 4, "{out}");
    assert!(names.contains(&"tax notes.txt"), "{out}");
    assert!(!names.contains(&"garden.txt"), "{out}");
    let tagged: Vec<&&str> = names
        .iter()
        .filter(|n| n.starts_with("Tax Return [") && n.ends_with("].pdf"))
        .collect();
    assert_eq!(tagged.len(), 2, "{out}");
    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9 tax.txt");
    ensure!(dir.join(odd).is_file(), "the non-UTF-8 name does not open");

    // A text file is found by its words, not only its name.
    let by_text = sd.json(["search", "refund"])?;
    assert_eq!(
        uris(&by_text),
        ["sd://laptop/Docs/taxes/tax notes.txt"],
        "{by_text:#}"
    );
    ensure!(dir.join("tax notes.txt").is_file());

    // `cat`, `grep -r` and `find` see the real files.
    assert_eq!(
        std::fs::read_to_string(dir.join("tax notes.txt"))?,
        "ask about the refund"
    );
    let grep = sh(&format!("grep -rl refund {} | sort", q(&dir)))?;
    assert_eq!(grep.lines().count(), 2, "{grep}");
    let found = sh(&format!("find {} -type f | wc -l", q(&dir)))?;
    assert_eq!(found.trim(), "4");

    // Each is the file itself: where it lives, and writes reach it.
    let uri = xattr(&dir.join("tax notes.txt"), "user.sd.uri")?;
    assert_eq!(uri, "sd://laptop/Docs/taxes/tax notes.txt");
    std::fs::write(dir.join("tax notes.txt"), "ask about the refund twice")?;
    assert_eq!(
        std::fs::read_to_string(docs.join("taxes/tax notes.txt"))?,
        "ask about the refund twice"
    );

    // Nothing here deletes or moves a real file.
    ensure!(std::fs::remove_file(dir.join("tax notes.txt")).is_err());
    ensure!(std::fs::rename(dir.join("tax notes.txt"), dir.join("x.txt")).is_err());
    ensure!(std::fs::write(dir.join("new.txt"), "x").is_err());
    ensure!(docs.join("taxes/tax notes.txt").is_file());

    // Live: a new file shows up when the directory is read again.
    write_file(&docs, b"2026 tax plan.txt", b"plan")?;
    wait_for(Duration::from_secs(10), || {
        sh(&format!("ls -1 {}", q(&dir))).is_ok_and(|o| o.contains("2026 tax plan.txt"))
    })
    .context("a new file never showed in the search directory")?;
    // Any words name a directory, natural language included.
    let phrase = mount.mountpoint.join(".search/tax documents");
    let out = sh(&format!("ls -1 {}", q(&phrase)))?;
    ensure!(out.contains("].pdf"), "{out}");
    ensure!(!out.contains("tax notes.txt"), "{out}");
    no_dropped_replies(&mount)?;
    mount.stop()?;
    Ok(())
}

/// `name`'s extended attribute `attr`, as text.
fn xattr(path: &Path, attr: &str) -> Result<String> {
    let out = sh(&format!("getfattr --only-values -n {attr} {}", q(path)))?;
    Ok(out)
}

#[test]
fn tags_are_a_hierarchy_and_directories_that_tag_and_untag() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let docs = sd.path("docs");
    write_file(&docs, b"trips/sand.jpg", b"\xff\xd8\xff sand")?;
    write_file(&docs, b"trips/snow.jpg", b"\xff\xd8\xff snow")?;
    write_file(&docs, b"trips/notes.txt", b"packing list: towel")?;
    write_file(&docs, b"other/notes.txt", b"other notes")?;
    sd.add_location(&docs, "Docs")?;
    sd.ok(["index"])?;
    let mount = sd.mount()?;
    let mnt = &mount.mountpoint;
    let trips = mnt.join("laptop/Docs/trips");

    // `sd tag parent`: beach is a kind of holiday; a cycle is refused.
    let edge = sd.json(["tag", "parent", "beach", "holiday"])?;
    assert_eq!(edge["parents"], serde_json::json!(["holiday"]));
    sd.ok(["tag", "parent", "holiday", "travel"])?;
    let refused = sd.fails(["tag", "parent", "travel", "beach"])?;
    ensure!(refused.contains("loop"), "{refused}");

    // `ln -s` (absolute, and relative to the tag's directory) and `mv`
    // into a tag's directory tag the file, which stays where it is.
    sh(&format!(
        "ln -s {} {}",
        q(&trips.join("sand.jpg")),
        q(&mnt.join(".tags/beach/"))
    ))?;
    sh(&format!(
        "cd {} && ln -s ../../laptop/Docs/trips/snow.jpg .",
        q(&mnt.join(".tags/holiday"))
    ))?;
    sh(&format!(
        "mv {} {}",
        q(&trips.join("notes.txt")),
        q(&mnt.join(".tags/travel/"))
    ))?;
    ensure!(docs.join("trips/notes.txt").is_file(), "mv moved the file");
    // `cp` tags the file it copies (found by name and bytes); a copy of
    // something the library does not hold fails and tags nothing.
    sh(&format!(
        "cp {} {}",
        q(&mnt.join("laptop/Docs/other/notes.txt")),
        q(&mnt.join(".tags/winter/"))
    ))?;
    let tags = sd.json([
        "tag",
        "ls",
        &mnt.join("laptop/Docs/other/notes.txt").to_string_lossy(),
    ])?;
    assert_eq!(tags["tags"], serde_json::json!(["winter"]));
    let stranger = sd.path("stranger.txt");
    std::fs::write(&stranger, "not in the library")?;
    ensure!(
        sh(&format!(
            "cp {} {}",
            q(&stranger),
            q(&mnt.join(".tags/winter/"))
        ))
        .is_err(),
        "a copy of an unknown file was taken"
    );
    assert_eq!(
        sh(&format!("ls -1 {}", q(&mnt.join(".tags/winter"))))?.trim(),
        "notes.txt"
    );
    ensure!(trips.join("notes.txt").is_file());
    let tags = sd.json(["tag", "ls", &trips.join("sand.jpg").to_string_lossy()])?;
    assert_eq!(tags["tags"], serde_json::json!(["beach"]));

    // A child tag's files are under every ancestor; `ls`, `find`, `cat`
    // and `grep -r` see the files themselves.
    let ls = |tag: &str| -> Result<Vec<String>> {
        let out = sh(&format!("ls -1 {}", q(&mnt.join(".tags").join(tag))))?;
        let mut names: Vec<String> = out.lines().map(str::to_owned).collect();
        names.sort();
        Ok(names)
    };
    wait_for(Duration::from_secs(5), || {
        ls("beach").is_ok_and(|n| n == ["sand.jpg"])
    })
    .context("beach")?;
    assert_eq!(ls("holiday")?, ["sand.jpg", "snow.jpg"]);
    assert_eq!(ls("travel")?, ["notes.txt", "sand.jpg", "snow.jpg"]);
    // Search knows the hierarchy too, in words and as an operator.
    let names = |words: &[&str]| -> Result<Vec<String>> {
        let mut names: Vec<String> = paths(&sd, words)?
            .iter()
            .filter_map(|p| p.rsplit('/').next().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    };
    assert_eq!(
        names(&["tagged", "travel"])?,
        ["notes.txt", "sand.jpg", "snow.jpg"]
    );
    assert_eq!(names(&["tag:beach"])?, ["sand.jpg"]);
    assert_eq!(
        names(&["photos", "tagged", "holiday"])?,
        ["sand.jpg", "snow.jpg"]
    );
    let roots = sh(&format!("ls -1 {}", q(&mnt.join(".tags"))))?;
    for tag in ["beach", "holiday", "travel"] {
        ensure!(roots.lines().any(|l| l == tag), "{tag} not in {roots}");
    }
    let grep = sh(&format!("grep -r towel {}", q(&mnt.join(".tags/travel"))))?;
    ensure!(grep.contains("notes.txt"), "{grep}");
    let found = sh(&format!(
        "find {} -type f | wc -l",
        q(&mnt.join(".tags/travel"))
    ))?;
    assert_eq!(found.trim(), "3");
    assert_eq!(
        std::fs::read(mnt.join(".tags/holiday/snow.jpg"))?,
        b"\xff\xd8\xff snow"
    );

    // `rm` there takes the tag off (and the child tag that put it there),
    // never the file.
    std::fs::remove_file(mnt.join(".tags/holiday/sand.jpg"))?;
    ensure!(docs.join("trips/sand.jpg").is_file(), "rm deleted the file");
    assert_eq!(ls("holiday")?, ["snow.jpg"]);
    assert!(ls("beach")?.is_empty());
    let tags = sd.json(["tag", "ls", &trips.join("sand.jpg").to_string_lossy()])?;
    assert_eq!(tags["tags"], serde_json::json!([]));

    assert_eq!(names(&["tagged", "holiday"])?, ["snow.jpg"]);

    // Unparented: holiday's files are no longer travel's.
    sd.ok(["tag", "unparent", "holiday", "travel"])?;
    assert_eq!(ls("travel")?, ["notes.txt"]);
    assert_eq!(names(&["tagged", "travel"])?, ["notes.txt"]);
    no_dropped_replies(&mount)?;
    mount.stop()?;
    Ok(())
}

#[test]
fn without_the_model_search_is_by_words_and_says_so_once() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let docs = sd.path("docs");
    write_file(&docs, b"Tax Return.pdf", b"%PDF-1.7 a return")?;
    sd.add_location(&docs, "Docs")?;
    sd.ok(["index"])?;
    let nowhere = sd.path("no-models");
    let mut cmd = sd.cmd(["daemon"]);
    cmd.env("SD_MODELS", &nowhere);
    let daemon = sd.spawn_daemon(cmd)?;
    let say = |words: &str| -> Result<String> {
        let out = sd.ok(["search", words])?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let first = say("tax")?;
    ensure!(first.contains("Tax Return.pdf"), "{first}");
    ensure!(
        first.contains("note: semantic ranking is off") && first.contains("sd model install"),
        "{first}"
    );
    let second = say("return")?;
    ensure!(
        second.contains("Tax Return.pdf") && !second.contains("note:"),
        "{second}"
    );
    drop(daemon);
    Ok(())
}
