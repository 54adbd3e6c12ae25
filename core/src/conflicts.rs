//! Conflict copies (SPEC §4): when a device's change meets a file its owner
//! changed meanwhile, the owner keeps its version under the name and saves
//! the incoming one beside it as `name.sync-conflict-<stamp>-<device>.ext`.
//! They are ordinary files, indexed and synced like any; this finds them on
//! every device, from this device's index and the replicas.

use redb::{ReadableDatabase, ReadableTable};
use serde::Serialize;

use crate::error::Result;
use crate::library::{Library, schema};
use crate::model::entry::{EntryKind, EntryRecord};
use crate::sync::replica::ReplicaView;
use crate::uri::SdUri;

/// What marks a conflict copy's name.
pub const MARKER: &[u8] = b".sync-conflict-";

/// A conflict copy's name, taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictName {
    /// The name it is a copy of.
    pub original: Vec<u8>,
    /// `YYYYMMDD-HHMMSS`, UTC, when the owner saved it.
    pub stamp: String,
    /// The device whose change it holds.
    pub device: String,
}

/// `name.sync-conflict-<YYYYMMDD-HHMMSS>-<device>[-n].ext` → its parts.
pub fn parse(name: &[u8]) -> Option<ConflictName> {
    let at = name.windows(MARKER.len()).position(|w| w == MARKER)?;
    let (stem, rest) = (&name[..at], &name[at + MARKER.len()..]);
    let stamp = rest.get(..15)?;
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if !(digits(&stamp[..8]) && stamp[8] == b'-' && digits(&stamp[9..])) {
        return None;
    }
    let tail = rest.get(15..)?.strip_prefix(b"-")?;
    let (device, ext) = match tail.iter().rposition(|b| *b == b'.') {
        Some(i) => (&tail[..i], &tail[i..]),
        None => (tail, &b""[..]),
    };
    if device.is_empty() {
        return None;
    }
    Some(ConflictName {
        original: [stem, ext].concat(),
        stamp: String::from_utf8_lossy(stamp).into_owned(),
        device: String::from_utf8_lossy(device).into_owned(),
    })
}

/// `YYYYMMDD-HHMMSS` (UTC) of Unix nanoseconds.
pub(crate) fn stamp(nanos: i64) -> String {
    let iso = crate::time::rfc3339(nanos); // 2024-05-01T12:00:00Z
    let digits: String = iso.chars().filter(char::is_ascii_digit).collect();
    format!("{}-{}", &digits[..8], &digits[8..14])
}

/// `report.odt` → `report.<tag>.odt`; a name without an extension (or a
/// dot file) gets the tag at the end.
pub(crate) fn copy_name(name: &[u8], tag: &str) -> Vec<u8> {
    let dot = name.iter().rposition(|b| *b == b'.').filter(|&i| i > 0);
    match dot {
        Some(i) => [&name[..i], b".", tag.as_bytes(), &name[i..]].concat(),
        None => [name, b".", tag.as_bytes()].concat(),
    }
}

/// The names a conflict copy of `path` (`/`-separated) holding `device`'s
/// version may take now, best first: `name.sync-conflict-<stamp>-<device>.ext`,
/// then the same with `-1` … `-99` after the device. The caller takes the
/// first one free where the copy goes.
pub(crate) fn copy_candidates(path: &[u8], device: &str) -> impl Iterator<Item = Vec<u8>> {
    let (parent, name) = crate::outbox::split(path);
    let (parent, name) = (parent.to_vec(), name.to_vec());
    let stamp = stamp(crate::time::unix_now_nanos());
    let device: String = device
        .chars()
        .map(|c| if c == '/' || c.is_control() { '_' } else { c })
        .collect();
    (0..100).map(move |n| {
        let tag = if n == 0 {
            format!("sync-conflict-{stamp}-{device}")
        } else {
            format!("sync-conflict-{stamp}-{device}-{n}")
        };
        crate::outbox::join(&parent, &copy_name(&name, &tag))
    })
}

/// One conflict copy, as `sd conflicts` lists it.
#[derive(Clone, Debug, Serialize)]
pub struct ConflictCopy {
    pub uri: String,
    /// The device that holds it (the owner of the original).
    pub device: String,
    /// Its path under the mount: `<device>/<location>/<path>`.
    pub path: String,
    /// The URI of the file it is a copy of.
    pub original: String,
    /// The device whose change it holds.
    pub from_device: String,
    pub saved: String,
    pub size: u64,
    pub modified: String,
}

fn copy(device: &str, location: &str, rel: &[u8], record: &EntryRecord) -> Option<ConflictCopy> {
    let name = parse(&record.name)?;
    let parent = crate::outbox::split(rel).0;
    let original = crate::outbox::join(parent, &name.original);
    Some(ConflictCopy {
        uri: SdUri::device(device, location.as_bytes(), rel).to_string(),
        device: device.to_owned(),
        path: format!("{device}/{location}/{}", String::from_utf8_lossy(rel)),
        original: SdUri::device(device, location.as_bytes(), &original).to_string(),
        from_device: name.device,
        saved: name.stamp,
        size: record.size,
        modified: crate::time::rfc3339(record.mtime),
    })
}

/// Every conflict copy on every device this library knows, by path.
pub fn list(lib: &Library) -> Result<Vec<ConflictCopy>> {
    let mut out = Vec::new();
    let roots: std::collections::HashMap<u64, String> = crate::locations::list(lib.db())?
        .into_iter()
        .map(|l| (l.root.0, l.name))
        .collect();
    {
        let txn = lib.db().begin_read()?;
        let entries = schema::ENTRIES.read(&txn)?;
        for row in entries.iter()? {
            let (id, value) = row?;
            let record = EntryRecord::decode(value.value())?;
            if record.kind != EntryKind::File || parse(&record.name).is_none() {
                continue;
            }
            let below = crate::model::entry::path_below_root(&entries, id.value(), |e| {
                roots.contains_key(&e)
            })?;
            if let Some((root, rel)) = below
                && let Some(location) = roots.get(&root)
                && let Some(found) = copy(lib.device_name(), location, &rel, &record)
            {
                out.push(found);
            }
        }
    }
    let me = lib.device_id();
    for device in lib.devices()?.into_iter().filter(|d| d.id != me) {
        let view = ReplicaView::new(lib.db(), device.id)?;
        for (id, record) in view.find_entries(|r| {
            r.kind == EntryKind::File && r.name.windows(MARKER.len()).any(|w| w == MARKER)
        })? {
            if let Some((location, rel)) = view.path_of(id)?
                && let Some(found) = copy(&device.name, &location.name, &rel, &record)
            {
                out.push(found);
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_apart_as_the_owner_made_them() {
        let found = parse(b"report.sync-conflict-20261206-130501-laptop.odt").expect("parsed");
        assert_eq!(found.original, b"report.odt");
        assert_eq!(found.stamp, "20261206-130501");
        assert_eq!(found.device, "laptop");
        let bare = parse(b"Makefile.sync-conflict-20261206-130501-nas-2").expect("parsed");
        assert_eq!(bare.original, b"Makefile");
        assert_eq!(bare.device, "nas-2");
        for not in [
            &b"report.odt"[..],
            b"a.sync-conflict-2026-laptop.txt",
            b"a.sync-conflict-20261206-130501.txt",
            b"a.sync-conflict-20261206x130501-laptop.txt",
        ] {
            assert_eq!(parse(not), None, "{}", String::from_utf8_lossy(not));
        }
    }

    #[test]
    fn conflict_names_keep_the_extension() {
        let tag = "sync-conflict-20261206-073000-laptop";
        assert_eq!(
            copy_name(b"report.odt", tag),
            b"report.sync-conflict-20261206-073000-laptop.odt"
        );
        assert_eq!(
            copy_name(b"Makefile", tag),
            b"Makefile.sync-conflict-20261206-073000-laptop"
        );
        assert_eq!(
            copy_name(b".bashrc", tag),
            b".bashrc.sync-conflict-20261206-073000-laptop"
        );
        assert_eq!(
            copy_name(b"a.tar.gz", tag),
            b"a.tar.sync-conflict-20261206-073000-laptop.gz"
        );
    }

    #[test]
    fn stamps_are_utc_digits() {
        // 2024-05-01T12:34:56Z
        assert_eq!(stamp(1_714_566_896_000_000_000), "20240501-123456");
    }
}
