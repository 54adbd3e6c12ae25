//! The library trash: `<library>/trash/<uid>/{files,info}`, laid out as
//! the freedesktop.org trash specification lays out a trash directory, so
//! the mount can show it as `<mount>/.Trash-<uid>` to file managers and
//! every way of deleting lands in the one place:
//!
//! - a file manager's Delete or `gio trash` through the mount (rename(2)
//!   into `.Trash-<uid>/files`, see `namespace/trash.rs`);
//! - `sd rm`, an action (`actions/delete.rs`), undone by `sd undo`;
//! - another device deleting one of this device's files: its owner keeps
//!   it here (`inbox`), so nothing another device asks to delete is lost
//!   before its retention ends.
//!
//! An item is claimed by creating its `info/<name>.trashinfo` exclusively
//! (as the specification asks, so two deleters never take one name), then
//! moved into `files/<name>`; items are kept [`RETENTION_SECS`], then
//! purged by [`purge_expired`].

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// How long a trashed item is kept before it is purged: 30 days.
pub const RETENTION_SECS: i64 = 30 * 24 * 3600;

/// The library's directory holding every uid's trash.
pub fn trash_root(lib_dir: &Path) -> PathBuf {
    lib_dir.join("trash")
}

/// `uid`'s trash, created on first use: mode 0700 and owned by `uid`, as
/// the specification asks, with `files/` and `info/`.
pub fn user_trash(lib_dir: &Path, uid: u32) -> Result<PathBuf> {
    let root = trash_root(lib_dir);
    std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
    let dir = root.join(uid.to_string());
    for path in [dir.clone(), dir.join("files"), dir.join("info")] {
        match std::fs::create_dir(&path) {
            Ok(()) => std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
                .and_then(|()| std::os::unix::fs::chown(&path, Some(uid), None))
                .map_err(|e| Error::io(&path, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    Ok(dir)
}

/// Moves something into `uid`'s trash under a free name like `name`.
/// `shown` is where it was, as the trash lists it (`laptop/Docs/a.txt`);
/// `now` is unix seconds. `move_in(files_dir, free_name)` does the move
/// (a rename where it can): if it fails, the claim is given back and
/// nothing changed. Returns the name it has in `files/`.
pub fn put(
    lib_dir: &Path,
    uid: u32,
    name: &[u8],
    shown: &[u8],
    now: i64,
    move_in: impl FnOnce(&Path, &[u8]) -> std::io::Result<()>,
) -> Result<Vec<u8>> {
    let dir = user_trash(lib_dir, uid)?;
    let (taken, info) = claim(&dir, name, shown, now)?;
    let files = dir.join("files");
    if let Err(e) = move_in(&files, &taken) {
        let _ = std::fs::remove_file(&info);
        return Err(Error::io(files.join(OsStr::from_bytes(&taken)), e));
    }
    sync_dir(&files);
    Ok(taken)
}

/// Writes `info/<name>.trashinfo` for the first free `name`, `name.2`,
/// `name.3`, ...; returns the name and the info file.
fn claim(dir: &Path, name: &[u8], shown: &[u8], now: i64) -> Result<(Vec<u8>, PathBuf)> {
    let text = format!(
        "[Trash Info]\nPath={}\nDeletionDate={}\n",
        escape_path(shown),
        format_date(now)
    );
    for n in 1..10_000u32 {
        let mut taken = name.to_vec();
        if n > 1 {
            taken.extend_from_slice(format!(".{n}").as_bytes());
        }
        let mut info_name = taken.clone();
        info_name.extend_from_slice(b".trashinfo");
        let info = dir.join("info").join(OsStr::from_bytes(&info_name));
        // A name still in files/ without its info (a crash between the two
        // steps of an earlier put) is not reused either.
        if dir.join("files").join(OsStr::from_bytes(&taken)).exists() {
            continue;
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&info)
        {
            Ok(mut file) => {
                file.write_all(text.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| Error::io(&info, e))?;
                return Ok((taken, info));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&info, e)),
        }
    }
    Err(Error::InvalidInput(format!(
        "{}: too many items of that name in the trash",
        String::from_utf8_lossy(name)
    )))
}

/// Moves item `name` of `uid`'s trash back to `to` (never over anything),
/// and drops its info.
pub fn restore(lib_dir: &Path, uid: u32, name: &[u8], to: &Path) -> Result<()> {
    let dir = trash_root(lib_dir).join(uid.to_string());
    let from = dir.join("files").join(OsStr::from_bytes(name));
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(Error::AlreadyExists(format!(
            "{}: something else has that name now",
            to.display()
        )));
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    move_path(&from, to).map_err(|e| Error::io(&from, e))?;
    let mut info_name = name.to_vec();
    info_name.extend_from_slice(b".trashinfo");
    let info = dir.join("info").join(OsStr::from_bytes(&info_name));
    if let Err(e) = std::fs::remove_file(&info) {
        tracing::warn!("trash: {}: {e}", info.display());
    }
    Ok(())
}

/// Whether item `name` is still in `uid`'s trash.
pub fn holds(lib_dir: &Path, uid: u32, name: &[u8]) -> bool {
    trash_root(lib_dir)
        .join(uid.to_string())
        .join("files")
        .join(OsStr::from_bytes(name))
        .symlink_metadata()
        .is_ok()
}

/// Renames `from` to `to`; across filesystems, copies the tree (files
/// flushed to disk), then removes the original.
pub fn move_path(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if crate::sys::error_kind(&e) == crate::error::ErrorKind::CrossDevice => {
            copy_tree(from, to)?;
            let md = std::fs::symlink_metadata(from)?;
            if md.is_dir() {
                std::fs::remove_dir_all(from)
            } else {
                std::fs::remove_file(from)
            }
        }
        other => other,
    }
}

/// Copies a file, a symlink or a whole folder, keeping modes and
/// modification times; every file is on disk before this returns.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let md = std::fs::symlink_metadata(from)?;
    if md.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
        return Ok(());
    }
    if md.is_dir() {
        std::fs::create_dir(to)?;
        for child in std::fs::read_dir(from)? {
            let child = child?;
            copy_tree(&child.path(), &to.join(child.file_name()))?;
        }
    } else {
        std::fs::copy(from, to)?;
        std::fs::File::open(to)?.sync_all()?;
    }
    std::fs::set_permissions(to, md.permissions())?;
    let mtime = std::fs::FileTimes::new().set_modified(md.modified()?);
    std::fs::File::open(to)?.set_times(mtime)
}

fn sync_dir(dir: &Path) {
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!("trash: syncing {}: {e}", dir.display());
    }
}

/// Removes what was trashed more than [`RETENTION_SECS`] before `now`
/// (unix seconds): each item of `files/` whose `info/<name>.trashinfo`
/// says when it was deleted (its modification time when it says nothing
/// readable), with its info file. Returns how many items went.
pub fn purge_expired(lib_dir: &Path, now: i64) -> Result<u64> {
    let root = trash_root(lib_dir);
    let Ok(uids) = std::fs::read_dir(&root) else {
        return Ok(0);
    };
    let mut purged = 0;
    for uid in uids.flatten() {
        let info_dir = uid.path().join("info");
        let Ok(infos) = std::fs::read_dir(&info_dir) else {
            continue;
        };
        for info in infos.flatten() {
            let path = info.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.as_bytes().strip_suffix(b".trashinfo"))
                .map(<[u8]>::to_vec)
            else {
                continue;
            };
            let deleted = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| deletion_date(&text))
                .or_else(|| {
                    let md = info.metadata().ok()?;
                    Some(std::os::unix::fs::MetadataExt::mtime(&md))
                });
            if deleted.is_none_or(|at| now - at < RETENTION_SECS) {
                continue;
            }
            let item = uid.path().join("files").join(OsStr::from_bytes(&name));
            let gone = match std::fs::symlink_metadata(&item) {
                Ok(md) if md.is_dir() => std::fs::remove_dir_all(&item),
                Ok(_) => std::fs::remove_file(&item),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            };
            match gone.and_then(|()| std::fs::remove_file(&path)) {
                Ok(()) => purged += 1,
                Err(e) => tracing::warn!("trash: purging {}: {e}", item.display()),
            }
        }
    }
    Ok(purged)
}

/// `DeletionDate=YYYY-MM-DDThh:mm:ss` of a `.trashinfo`, as unix seconds
/// (the local time the spec writes, read as UTC: a day's error at most
/// against a 30-day retention).
fn deletion_date(text: &str) -> Option<i64> {
    let value = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("DeletionDate="))?
        .trim();
    let (date, time) = value.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time
        .splitn(3, ':')
        .map(|p| p.get(..2).unwrap_or(p).parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let day = u32::try_from(day).ok()?;
    let m = u32::try_from(m).ok()?;
    Some(crate::time::days_from_civil(y, m, day) * 86400 + hh * 3600 + mm * 60 + ss)
}

/// Unix seconds as a `DeletionDate` (UTC, as [`deletion_date`] reads it).
fn format_date(secs: i64) -> String {
    let (y, m, d) = crate::time::civil_from_days(secs.div_euclid(86400));
    let s = secs.rem_euclid(86400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// A path as a `.trashinfo` writes it: percent-escaped bytes, `/` kept.
fn escape_path(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletion_dates_parse_strictly_and_round_trip() {
        let info = "[Trash Info]\nPath=laptop/Docs/a.txt\nDeletionDate=2024-03-01T12:30:05\n";
        assert_eq!(deletion_date(info), Some(1_709_296_205));
        assert_eq!(deletion_date("[Trash Info]\nDeletionDate=garbage\n"), None);
        let text = format!("DeletionDate={}", format_date(1_709_296_205));
        assert_eq!(deletion_date(&text), Some(1_709_296_205));
    }

    #[test]
    fn paths_are_escaped_byte_for_byte() {
        assert_eq!(
            escape_path(b"laptop/My Docs/a.txt"),
            "laptop/My%20Docs/a.txt"
        );
        assert_eq!(escape_path(b"x/\xff%"), "x/%FF%25");
    }

    #[test]
    fn items_go_only_after_the_retention() {
        let tmp = tempfile::tempdir().expect("tmp");
        let trash = trash_root(tmp.path()).join("0");
        std::fs::create_dir_all(trash.join("files/old-dir")).expect("mkdir");
        std::fs::create_dir_all(trash.join("info")).expect("mkdir");
        std::fs::write(trash.join("files/old-dir/x"), b"x").expect("write");
        std::fs::write(trash.join("files/new.txt"), b"y").expect("write");
        let info = |date: &str| format!("[Trash Info]\nPath=a\nDeletionDate={date}\n");
        std::fs::write(
            trash.join("info/old-dir.trashinfo"),
            info("2024-01-01T00:00:00"),
        )
        .expect("write");
        std::fs::write(
            trash.join("info/new.txt.trashinfo"),
            info("2024-01-30T00:00:00"),
        )
        .expect("write");
        // 2024-02-01: the old one is 31 days gone, the new one 2.
        let now = crate::time::days_from_civil(2024, 2, 1) * 86400;
        assert_eq!(purge_expired(tmp.path(), now).expect("purge"), 1);
        assert!(!trash.join("files/old-dir").exists());
        assert!(!trash.join("info/old-dir.trashinfo").exists());
        assert!(trash.join("files/new.txt").exists());
        assert_eq!(purge_expired(tmp.path(), now).expect("purge"), 0);
    }

    #[test]
    fn put_takes_a_free_name_and_restore_puts_it_back() {
        let tmp = tempfile::tempdir().expect("tmp");
        let lib = tmp.path().join("lib");
        let docs = tmp.path().join("docs");
        std::fs::create_dir_all(docs.join("dir")).expect("mkdir");
        std::fs::write(docs.join("a.txt"), b"first").expect("write");
        std::fs::write(docs.join("dir/b"), b"inner").expect("write");
        let uid = 0;
        let mover = |from: PathBuf| {
            move |dir: &Path, name: &[u8]| move_path(&from, &dir.join(OsStr::from_bytes(name)))
        };
        let first = put(
            &lib,
            uid,
            b"a.txt",
            b"laptop/docs/a.txt",
            100,
            mover(docs.join("a.txt")),
        )
        .expect("put");
        assert_eq!(first, b"a.txt");
        std::fs::write(docs.join("a.txt"), b"second").expect("write");
        let second = put(
            &lib,
            uid,
            b"a.txt",
            b"laptop/docs/a.txt",
            100,
            mover(docs.join("a.txt")),
        )
        .expect("put");
        assert_eq!(second, b"a.txt.2");
        let dir = put(
            &lib,
            uid,
            b"dir",
            b"laptop/docs/dir",
            100,
            mover(docs.join("dir")),
        )
        .expect("put");
        assert!(!docs.join("a.txt").exists() && !docs.join("dir").exists());
        let info = std::fs::read_to_string(trash_root(&lib).join("0/info/a.txt.2.trashinfo"))
            .expect("info");
        assert!(info.contains("Path=laptop/docs/a.txt\n"), "{info}");

        // A failed move gives its claim back.
        let failed = put(
            &lib,
            uid,
            b"gone",
            b"laptop/docs/gone",
            100,
            mover(docs.join("gone")),
        );
        assert!(failed.is_err());
        assert!(!trash_root(&lib).join("0/info/gone.trashinfo").exists());

        restore(&lib, uid, &second, &docs.join("a.txt")).expect("restore");
        assert_eq!(std::fs::read(docs.join("a.txt")).expect("read"), b"second");
        assert!(!holds(&lib, uid, &second));
        // Never over what took the name meanwhile.
        assert!(restore(&lib, uid, &first, &docs.join("a.txt")).is_err());
        assert!(holds(&lib, uid, &first));
        restore(&lib, uid, &dir, &docs.join("again/dir")).expect("restore");
        assert_eq!(
            std::fs::read(docs.join("again/dir/b")).expect("read"),
            b"inner"
        );
    }
}
