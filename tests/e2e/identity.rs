//! What programs assume of a file's identity and attributes: `st_ino`
//! stays put (tar, git, rsync -H and backup tools depend on it), an archive
//! with links and odd names round-trips, and copies keep their tags
//! without dragging computed attributes along.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use sdfs_tests::{Mount, Sd, no_dropped_replies, q, sh, write_file};

/// A library with one location `Docs`, indexed and mounted.
fn mounted() -> Result<(Sd, std::path::PathBuf, Mount)> {
    let sd = Sd::init("laptop")?;
    let data = sd.path("data");
    write_file(&data, b"readme.txt", b"hello\n")?;
    sd.add_location(&data, "Docs")?;
    sd.ok(["index"])?;
    let mount = sd.mount()?;
    Ok((sd, data, mount))
}

fn ino(path: &Path) -> Result<u64> {
    Ok(std::fs::symlink_metadata(path)?.ino())
}

/// A tree with what archives carry: symlinks (also dangling and to
/// directories), hard links, empty directories, names with spaces,
/// newlines and bytes that are not UTF-8.
fn archive_source(root: &Path) -> Result<()> {
    sdfs_tests::generate_tree(root, 4, 5)?;
    write_file(root, b"odd names/with space.txt", b"space\n")?;
    write_file(root, b"odd names/caf\xe9 \xff.bin", b"latin-1\n")?;
    write_file(root, b"odd names/new\nline", b"newline\n")?;
    std::fs::create_dir_all(root.join("empty/nested-empty"))?;
    std::os::unix::fs::symlink("d001/s0001/f000.txt", root.join("link-to-file"))?;
    std::os::unix::fs::symlink("d002", root.join("link-to-dir"))?;
    std::os::unix::fs::symlink("nowhere/at/all", root.join("dangling"))?;
    std::fs::hard_link(root.join("readme.txt"), root.join("hard-a"))?;
    std::fs::hard_link(root.join("readme.txt"), root.join("odd names/hard-b"))?;
    Ok(())
}

#[test]
fn a_tar_round_trip_through_the_mount_equals_its_source() -> Result<()> {
    let (sd, _data, mount) = mounted()?;
    let source = sd.path("source");
    write_file(&source, b"readme.txt", b"linked three times\n")?;
    archive_source(&source)?;
    let target = mount.location("Docs").join("docs");
    std::fs::create_dir(&target)?;
    // tar checks that a directory it made is still the one it made, and
    // replaces its placeholder of each symlink only if the placeholder's
    // inode is unchanged: both fail when st_ino moves under it.
    sh(&format!(
        "tar cf - -C {} . | tar xf - -C {}",
        q(&source),
        q(&target)
    ))?;
    sh(&format!(
        "diff -r --no-dereference {} {}",
        q(&source),
        q(&target)
    ))?;
    assert!(std::fs::symlink_metadata(target.join("link-to-file"))?.is_symlink());
    assert_eq!(
        std::fs::read_link(target.join("dangling"))?,
        Path::new("nowhere/at/all")
    );
    // Hard links stay one file with one number.
    let a = std::fs::metadata(target.join("hard-a"))?;
    let b = std::fs::metadata(target.join("odd names/hard-b"))?;
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 3));
    // And the archive taken back out of the mount is the same again.
    let back = sd.path("back");
    std::fs::create_dir(&back)?;
    sh(&format!(
        "tar cf - -C {} . | tar xf - -C {}",
        q(&target),
        q(&back)
    ))?;
    sh(&format!(
        "diff -r --no-dereference {} {}",
        q(&source),
        q(&back)
    ))?;
    no_dropped_replies(&mount)
}

#[test]
fn a_file_keeps_its_inode_number_across_refreshes_renames_links_and_remounts() -> Result<()> {
    let (sd, _data, mount) = mounted()?;
    let docs = mount.location("Docs");
    let file = docs.join("made-here");
    std::fs::write(&file, b"x")?;
    std::fs::create_dir(docs.join("dir"))?;
    let (file_ino, dir_ino) = (ino(&file)?, ino(&docs.join("dir"))?);
    // The watcher's refresh of the index reaches it within this.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(ino(&file)?, file_ino, "after the index caught up");
    assert_eq!(ino(&docs.join("dir"))?, dir_ino);
    // Readdir shows the same number stat does.
    let listed = sh(&format!("ls -i {}", q(&docs)))?;
    assert!(
        listed.contains(&format!("{file_ino} made-here")),
        "ls -i: {listed}"
    );
    // Renamed within a directory and into another one.
    std::fs::rename(&file, docs.join("renamed"))?;
    assert_eq!(ino(&docs.join("renamed"))?, file_ino);
    std::fs::rename(docs.join("renamed"), docs.join("dir/moved"))?;
    assert_eq!(ino(&docs.join("dir/moved"))?, file_ino);
    // A hard link is the same file.
    std::fs::hard_link(docs.join("dir/moved"), docs.join("alias"))?;
    assert_eq!(ino(&docs.join("alias"))?, file_ino);
    // The kernel forgets everything it cached; the numbers stay.
    if sdfs_tests::is_root() {
        sh("echo 2 > /proc/sys/vm/drop_caches")?;
    }
    assert_eq!(ino(&docs.join("dir/moved"))?, file_ino);
    // A file indexed before the mount came up, too.
    let readme = ino(&docs.join("readme.txt"))?;
    // Across a remount.
    mount.stop()?;
    let mount = sd.mount()?;
    let docs = mount.location("Docs");
    assert_eq!(ino(&docs.join("dir/moved"))?, file_ino);
    assert_eq!(ino(&docs.join("alias"))?, file_ino);
    assert_eq!(ino(&docs.join("dir"))?, dir_ino);
    assert_eq!(ino(&docs.join("readme.txt"))?, readme);
    // `find -samefile` finds both names.
    let same = sh(&format!(
        "find {} -samefile {} | sort",
        q(&docs),
        q(&docs.join("alias"))
    ))?;
    assert_eq!(same.lines().count(), 2, "{same}");
    no_dropped_replies(&mount)
}

fn xattr(path: &Path, name: &str) -> Result<String> {
    sh(&format!("getfattr --only-values -n {name} {}", q(path)))
}

/// Every `user.sd.*` attribute getfattr lists on `path`.
fn listed_sd_attributes(path: &Path) -> Result<Vec<String>> {
    let dump = sh(&format!("getfattr -d -m - {} 2>/dev/null || true", q(path)))?;
    Ok(dump
        .lines()
        .filter(|l| l.starts_with("user.sd."))
        .map(|l| l.split('=').next().unwrap_or_default().to_owned())
        .collect())
}

#[test]
fn copies_keep_their_tags_and_leave_computed_attributes_behind() -> Result<()> {
    let (sd, _data, mount) = mounted()?;
    let docs = mount.location("Docs");
    let tagged = docs.join("readme.txt");
    sh(&format!(
        "setfattr -n user.sd.tags -v 'holiday, 2024' {}",
        q(&tagged)
    ))?;
    // Computed attributes are readable by name but not listed, so copy
    // tools neither try to set them nor carry them anywhere.
    assert_eq!(
        xattr(&tagged, "user.sd.uri")?,
        "sd://laptop/Docs/readme.txt"
    );
    assert_eq!(listed_sd_attributes(&tagged)?, ["user.sd.tags"]);

    // Within the mount: each tool makes a new file and sets the tags on it
    // before the watcher has indexed it.
    sh(&format!("cp -a {} {}", q(&tagged), q(&docs.join("cp-a"))))?;
    sh(&format!(
        "cp --preserve=xattr {} {}",
        q(&tagged),
        q(&docs.join("cp-xattr"))
    ))?;
    sh(&format!(
        "gio copy --preserve {} {}",
        q(&tagged),
        q(&docs.join("gio-copy"))
    ))?;
    for copy in ["cp-a", "cp-xattr", "gio-copy"] {
        assert_eq!(
            xattr(&docs.join(copy), "user.sd.tags")?,
            "2024,holiday",
            "{copy}"
        );
    }
    // The tags are the library's, seen by `sd tag ls` as well.
    let listed = sd.json(["tag", "ls"])?.to_string();
    assert!(listed.contains("cp-xattr"), "{listed}");

    // Out of the mount: exit 0 and no computed values on the copy.
    let outside = sd.path("outside");
    std::fs::create_dir(&outside)?;
    sh(&format!(
        "cp -a {} {}",
        q(&tagged),
        q(&outside.join("cp-a"))
    ))?;
    sh(&format!(
        "cp --preserve=xattr {} {}",
        q(&tagged),
        q(&outside.join("cp-xattr"))
    ))?;
    for copy in ["cp-a", "cp-xattr"] {
        let sd_attrs = listed_sd_attributes(&outside.join(copy))?;
        assert!(
            sd_attrs.iter().all(|a| a == "user.sd.tags"),
            "{copy}: {sd_attrs:?}"
        );
    }
    // Setting a computed attribute by hand is still refused.
    assert!(
        sh(&format!(
            "setfattr -n user.sd.kind -v text {}",
            q(&docs.join("cp-a"))
        ))
        .is_err()
    );
    no_dropped_replies(&mount)
}
