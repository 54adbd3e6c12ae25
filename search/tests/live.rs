//! The live index over a real library: it follows this device's index
//! (new, renamed, moved and deleted files and directories), goes on from
//! its last commit when opened again, and follows a paired device's
//! replica as sync applies pages.

mod common;

use std::sync::Arc;

use sdfs_core::Library;
use sdfs_core::model::device::DeviceRecord;
use sdfs_search::live::{LiveIndex, Ranking};
use sdfs_tests::jpeg_with_exif;

use common::{add_location, index, write};

/// Paths under the mount of the hits for `words`, sorted.
fn find(live: &LiveIndex, words: &str) -> Vec<String> {
    let query = common::query(words);
    let mut paths: Vec<String> = live
        .search(&query, 50, false, Ranking::Words)
        .expect("search")
        .into_iter()
        .map(|h| h.path)
        .collect();
    paths.sort();
    paths
}

/// Pulls every page of `owner`'s index into `replica`; returns the
/// entries the pages changed.
fn sync(owner: &Library, replica: &Library) -> Vec<u64> {
    let device = owner.device_id();
    let mut entries = Vec::new();
    loop {
        let (after, resync) =
            sdfs_core::sync::replica::pull_state(replica.db(), device).expect("watermarks");
        let pull = sdfs_core::sync::Pull {
            after,
            limit: 1000,
            resync,
        };
        let page = sdfs_core::sync::owner::page(owner.db(), &pull).expect("page");
        let applied = sdfs_core::sync::replica::apply(replica.db(), device, &page).expect("apply");
        entries.extend(applied.entries);
        entries.extend(applied.said);
        if !page.more {
            break;
        }
    }
    entries
}

#[test]
fn follows_this_devices_changes_and_goes_on_after_reopening() {
    let tmp = tempfile::tempdir().expect("tmp");
    let docs = tmp.path().join("docs");
    write(&docs.join("reports/alpha report.txt"), "a");
    write(&docs.join("reports/deep/beta notes.md"), "b");
    write(&docs.join("gamma.csv"), "c");
    let lib = Arc::new(Library::create(&tmp.path().join("lib"), "laptop").expect("library"));
    let location = add_location(&lib, &docs, "Documents");

    let live = LiveIndex::open(Arc::clone(&lib)).expect("open");
    assert_eq!(
        find(&live, "alpha"),
        ["laptop/Documents/reports/alpha report.txt"]
    );
    assert_eq!(live.len(), 3);

    // A directory renamed: everything below it has a new path, once.
    std::fs::rename(docs.join("reports"), docs.join("archive")).expect("rename");
    write(&docs.join("delta.txt"), "d");
    std::fs::remove_file(docs.join("gamma.csv")).expect("rm");
    index(&lib, location);
    assert_eq!(
        find(&live, "beta"),
        ["laptop/Documents/archive/deep/beta notes.md"]
    );
    assert_eq!(
        find(&live, "alpha"),
        ["laptop/Documents/archive/alpha report.txt"]
    );
    assert_eq!(find(&live, "delta"), ["laptop/Documents/delta.txt"]);
    assert!(find(&live, "gamma").is_empty());
    assert_eq!(live.len(), 3);
    drop(live);

    // Opened again: it goes on from what it had committed.
    write(&docs.join("archive/epsilon.txt"), "e");
    index(&lib, location);
    let live = LiveIndex::open(Arc::clone(&lib)).expect("reopen");
    let caught = live.catch_up().expect("catch up");
    assert!(
        caught.indexed < 3,
        "only what changed is indexed again: {caught:?}"
    );
    assert_eq!(
        find(&live, "epsilon"),
        ["laptop/Documents/archive/epsilon.txt"]
    );
    assert_eq!(live.len(), 4);

    // Words in a text file find it; an edit changes which.
    write(&docs.join("minutes.md"), "quarterly budget review");
    index(&lib, location);
    assert_eq!(
        find(&live, "quarterly budget"),
        ["laptop/Documents/minutes.md"]
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    write(&docs.join("minutes.md"), "annual plan, revised");
    index(&lib, location);
    assert!(find(&live, "quarterly").is_empty());
    assert_eq!(find(&live, "annual"), ["laptop/Documents/minutes.md"]);
}

#[test]
fn follows_a_paired_devices_replica() {
    let tmp = tempfile::tempdir().expect("tmp");
    let share = tmp.path().join("share");
    write(&share.join("photos/holiday beach.jpg"), "jpeg");
    write(&share.join("music/song.flac"), "flac");
    let laptop = Arc::new(Library::create(&tmp.path().join("l1"), "laptop").expect("library"));
    let nas = Arc::new(Library::create(&tmp.path().join("l2"), "nas").expect("library"));
    laptop
        .add_paired_device(&DeviceRecord::this_device(nas.device_id(), "nas"))
        .expect("pair");
    let location = add_location(&nas, &share, "Share");
    sync(&nas, &laptop);

    let live = LiveIndex::open(Arc::clone(&laptop)).expect("open");
    assert_eq!(find(&live, "beach"), ["nas/Share/photos/holiday beach.jpg"]);

    std::fs::rename(share.join("photos"), share.join("pictures")).expect("rename");
    std::fs::remove_file(share.join("music/song.flac")).expect("rm");
    index(&nas, location);
    let changed = sync(&nas, &laptop);
    live.replica_changed(nas.device_id(), &changed);
    assert_eq!(
        find(&live, "beach"),
        ["nas/Share/pictures/holiday beach.jpg"]
    );
    assert!(find(&live, "song").is_empty());

    // A change the index never heard of (a crash between sync and the
    // index): opened again, it builds that device again.
    write(&share.join("late arrival.txt"), "x");
    index(&nas, location);
    sync(&nas, &laptop);
    drop(live);
    let live = LiveIndex::open(Arc::clone(&laptop)).expect("reopen");
    assert_eq!(find(&live, "late"), ["nas/Share/late arrival.txt"]);
    assert_eq!(live.len(), 2);

    // Unpaired: its files leave the index.
    laptop.remove_device("nas").expect("unpair");
    assert!(find(&live, "beach").is_empty());
    assert_eq!(live.len(), 0);
}

#[test]
fn an_index_that_does_not_read_is_built_again() {
    let tmp = tempfile::tempdir().expect("tmp");
    let docs = tmp.path().join("docs");
    write(&docs.join("kept.txt"), "k");
    let lib = Arc::new(Library::create(&tmp.path().join("lib"), "laptop").expect("library"));
    add_location(&lib, &docs, "Documents");
    let live = LiveIndex::open(Arc::clone(&lib)).expect("open");
    assert_eq!(find(&live, "kept"), ["laptop/Documents/kept.txt"]);
    drop(live);
    // Torn by a failing disk: the index's own files are garbage.
    for entry in std::fs::read_dir(lib.dir().join("search")).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            std::fs::write(&path, b"\xff garbage").expect("scribble");
        }
    }
    let live = LiveIndex::open(Arc::clone(&lib)).expect("reopen");
    assert_eq!(find(&live, "kept"), ["laptop/Documents/kept.txt"]);
}

#[test]
fn photos_are_found_by_when_they_were_taken_and_their_camera() {
    let tmp = tempfile::tempdir().expect("tmp");
    let photos = tmp.path().join("photos");
    std::fs::create_dir_all(&photos).expect("mkdir");
    std::fs::write(
        photos.join("IMG_0001.jpg"),
        jpeg_with_exif("Pixel 7", "2023:07:14 10:00:00"),
    )
    .expect("write");
    std::fs::write(
        photos.join("IMG_0002.jpg"),
        jpeg_with_exif("Pixel 7", "2024:12:24 18:30:00"),
    )
    .expect("write");
    let lib = Arc::new(Library::create(&tmp.path().join("lib"), "laptop").expect("library"));
    add_location(&lib, &photos, "Photos");
    let live = LiveIndex::open(Arc::clone(&lib)).expect("open");
    // Both files were written today: only EXIF says 2023.
    assert_eq!(
        find(&live, "photos taken in 2023"),
        ["laptop/Photos/IMG_0001.jpg"]
    );
    assert_eq!(
        find(&live, "photos taken in december 2024"),
        ["laptop/Photos/IMG_0002.jpg"]
    );
    assert_eq!(find(&live, "pixel").len(), 2);
    assert!(find(&live, "photos taken in 2025").is_empty());
}

#[test]
fn another_devices_files_are_found_by_what_they_say_while_it_is_away() {
    let tmp = tempfile::tempdir().expect("tmp");
    let share = tmp.path().join("share");
    write(&share.join("notes/minutes.md"), "the zebra crossing budget");
    std::fs::create_dir_all(share.join("photos")).expect("mkdir");
    std::fs::write(
        share.join("photos/IMG_0001.jpg"),
        jpeg_with_exif("Pixel 7", "2023:07:14 10:00:00"),
    )
    .expect("write");
    let laptop = Arc::new(Library::create(&tmp.path().join("l1"), "laptop").expect("library"));
    let nas = Arc::new(Library::create(&tmp.path().join("l2"), "nas").expect("library"));
    laptop
        .add_paired_device(&DeviceRecord::this_device(nas.device_id(), "nas"))
        .expect("pair");
    add_location(&nas, &share, "Share");
    let nas_id = nas.device_id();
    sync(&nas, &laptop);
    let on_laptop = LiveIndex::open(Arc::clone(&laptop)).expect("open");
    // The nas's files are known by name, but no one has read them yet.
    assert_eq!(find(&on_laptop, "minutes"), ["nas/Share/notes/minutes.md"]);
    assert!(find(&on_laptop, "zebra").is_empty());

    // The nas's own index reads them and keeps what they say; sync brings
    // it, and the laptop finds the files by it with the nas gone (only its
    // replica is read from here on).
    let on_nas = LiveIndex::open(Arc::clone(&nas)).expect("open");
    on_nas.catch_up().expect("nas catches up");
    let changed = sync(&nas, &laptop);
    assert_eq!(changed.len(), 2, "both files said something: {changed:?}");
    drop(on_nas);
    drop(nas);
    std::fs::remove_dir_all(&share).expect("the nas is away");
    on_laptop.replica_changed(nas_id, &changed);
    assert_eq!(find(&on_laptop, "zebra"), ["nas/Share/notes/minutes.md"]);
    assert_eq!(
        find(&on_laptop, "photos taken in 2023"),
        ["nas/Share/photos/IMG_0001.jpg"]
    );
    assert_eq!(find(&on_laptop, "pixel"), ["nas/Share/photos/IMG_0001.jpg"]);

    // Built again from scratch (a new index format), it reads them from the
    // replica alone.
    drop(on_laptop);
    std::fs::remove_dir_all(laptop.dir().join("search")).expect("drop the index");
    let on_laptop = LiveIndex::open(Arc::clone(&laptop)).expect("reopen");
    assert_eq!(find(&on_laptop, "zebra"), ["nas/Share/notes/minutes.md"]);
}
