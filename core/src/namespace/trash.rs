//! The desktop Trash in the mount. `<mount>/.Trash-<uid>` — the
//! freedesktop.org trash specification's directory for a mount's top,
//! which `gio trash` and file managers use for any file under the mount —
//! is a real directory of the library, `<library>/trash/<uid>/` with
//! `files/` and `info/`, held like a location of this device. So Delete
//! and Restore are the rename(2) and the small file writes those programs
//! already do: this device's files move into the library and back on one
//! filesystem, keeping their inode, bytes and times. Items are kept for
//! [`RETENTION_SECS`], then purged by [`purge_expired`].

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{Attr, Namespace, Node};
use crate::error::{Error, Result};
use crate::ids::{EntryId, LocationId};
use crate::model::location::{IndexMode, LocationRecord};

/// How a mount's top-level trash directory is named, before the uid.
pub const TRASH_PREFIX: &str = ".Trash-";

/// How long a trashed item is kept before it is purged: 30 days.
pub const RETENTION_SECS: i64 = 30 * 24 * 3600;

/// The uid a top-level name `.Trash-<uid>` is the trash of.
pub(super) fn trash_uid(name: &[u8]) -> Option<u32> {
    let digits = name.strip_prefix(TRASH_PREFIX.as_bytes())?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || digits.len() > 10 {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The library's directory holding every uid's trash.
pub fn trash_root(lib_dir: &Path) -> PathBuf {
    lib_dir.join("trash")
}

impl Namespace {
    /// `uid`'s trash as a node: created (mode 0700, owned by `uid`, with
    /// `files/` and `info/`) on first use, then held as a location.
    pub(super) fn trash_dir(&self, uid: u32) -> Result<(Node, Attr)> {
        let dir = trash_root(self.lib.dir()).join(uid.to_string());
        std::fs::create_dir_all(trash_root(self.lib.dir()))
            .map_err(|e| Error::io(self.lib.dir(), e))?;
        for path in [dir.clone(), dir.join("files"), dir.join("info")] {
            match std::fs::create_dir(&path) {
                // The trash is its user's alone, as the specification asks.
                Ok(()) => std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
                    .and_then(|()| std::os::unix::fs::chown(&path, Some(uid), None))
                    .map_err(|e| Error::io(&path, e))?,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        let id = trash_location(self.lib.device_id().0.as_bytes(), uid);
        let known = self
            .trash
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|l| l.id == id);
        if !known {
            let record = LocationRecord {
                id,
                name: format!("{TRASH_PREFIX}{uid}"),
                path: crate::fsutil::path_bytes(&dir).to_vec(),
                root: EntryId(0),
                mode: IndexMode::Shallow,
                rules: Default::default(),
                volume: None,
                created_at: 0,
                last_indexed: None,
                remote_writes: false,
            };
            self.trash
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .push(record);
        }
        let md = std::fs::symlink_metadata(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok((Node::local(id, dir, &md), Attr::from_metadata(&md)))
    }
}

/// The location id standing for `uid`'s trash on this device.
fn trash_location(device: &[u8], uid: u32) -> LocationId {
    let mut name = device.to_vec();
    name.extend_from_slice(format!("/trash/{uid}").as_bytes());
    LocationId(uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, &name))
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
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".trashinfo"))
                .map(str::to_owned)
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
            if deleted.is_some_and(|at| now - at < RETENTION_SECS) || deleted.is_none() {
                continue;
            }
            let item = uid.path().join("files").join(&name);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trash_names_and_deletion_dates_parse_strictly() {
        assert_eq!(trash_uid(b".Trash-1000"), Some(1000));
        assert_eq!(trash_uid(b".Trash-0"), Some(0));
        for bad in [
            &b".Trash-"[..],
            b".Trash-+1",
            b".Trash-1a",
            b".Trash",
            b"Trash-1",
            b".Trash-99999999999",
        ] {
            assert_eq!(trash_uid(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        let info = "[Trash Info]\nPath=laptop/Docs/a.txt\nDeletionDate=2024-03-01T12:30:05\n";
        assert_eq!(deletion_date(info), Some(1_709_296_205));
        assert_eq!(deletion_date("[Trash Info]\nDeletionDate=garbage\n"), None);
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
}
