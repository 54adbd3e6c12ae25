//! A bidirectional conduit's run: two folders (on any devices) kept in
//! step both ways, from their indexes and the conduit's base — what both
//! sides held when the conduit last saw them agree.
//!
//! Per file, against the base:
//! - changed on one side only: copied to the other (written beside the
//!   old version, verified, renamed over it);
//! - changed on both (or never seen agreeing): the newer keeps the name,
//!   the other is first renamed to `name.sync-conflict-<when>-<device>.ext`
//!   on its side, which the next run carries across like any new file;
//! - on one side only: new there (not in the base) → copied across; gone
//!   from the other side since the sides agreed on it → trashed here
//!   (an edit since then wins over the deletion and is copied back).
//!
//! A deletion or a change is inferred only from a base entry both indexes
//! have shown (`confirmed`): a file a run just copied, which the other
//! device's index has not shown yet, is never taken for one deleted there,
//! nor its stale version for an edit to carry back.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::preview::parent_of;
use super::side::Side;
use super::{ActionKind, ActionRequest, Item, Plan, Preview};
use crate::error::{Error, Result};
use crate::library::Library;
use crate::model::entry::{EntryKind, EntryRecord};
use crate::uri::SdUri;

/// What both sides held of one file when last seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseFile {
    pub size: u64,
    /// The content id (`0`: not identified).
    pub content: u128,
    /// Both indexes have shown it so (else a run copied it and the other
    /// side has not said it holds it yet).
    pub confirmed: bool,
    /// Unconfirmed: the side the run copied it to (0 or 1), and what that
    /// side held before (`None`: nothing), which its index may still show.
    pub to: u8,
    pub before: Option<(u64, u128)>,
}

/// A conduit's base: relative path → what both sides held.
pub type Base = BTreeMap<Vec<u8>, BaseFile>;

/// Plans a bidirectional run between `a` and `b`.
pub fn preview_two_way(lib: &Library, a: &SdUri, b: &SdUri, base: &Base) -> Result<Preview> {
    let sides = [Side::of(lib, a)?, Side::of(lib, b)?];
    let roots = [a, b];
    let mut top = [None, None];
    for (i, side) in sides.iter().enumerate() {
        let spot = side.spot(roots[i])?;
        match spot.entry {
            Some((id, r)) if r.kind == EntryKind::Directory => top[i] = Some(id),
            Some(_) => {
                return Err(Error::InvalidInput(format!(
                    "{}: a conduit keeps folders in step",
                    roots[i]
                )));
            }
            None => {
                return Err(Error::NotFound(format!(
                    "{}: not in {}'s index",
                    roots[i], sides[i].device_name
                )));
            }
        }
    }
    let mut planner = TwoWay {
        roots,
        base,
        preview: Preview {
            estimate_s: None,
            plan: Plan {
                from_device: vec![sides[0].device],
                to_device: Some(sides[1].device),
                ..Plan::default()
            },
            ..Preview::empty(ActionRequest {
                kind: ActionKind::Sync,
                sources: vec![a.to_string()],
                destination: b.to_string(),
            })
        },
        next_base: Base::new(),
        devices: [sides[0].device_name.clone(), sides[1].device_name.clone()],
    };
    // Depth first over the union of both trees.
    let mut stack = vec![(Vec::new(), top[0], top[1])];
    while let Some((rel, dir_a, dir_b)) = stack.pop() {
        let list = |i: usize, dir: Option<u64>| -> Result<BTreeMap<Vec<u8>, (u64, EntryRecord)>> {
            Ok(match dir {
                Some(d) => sides[i]
                    .children(d)?
                    .into_iter()
                    .map(|(id, r)| (r.name.clone(), (id, r)))
                    .collect(),
                None => BTreeMap::new(),
            })
        };
        let (in_a, in_b) = (list(0, dir_a)?, list(1, dir_b)?);
        let names: BTreeSet<&Vec<u8>> = in_a.keys().chain(in_b.keys()).collect();
        for name in names {
            let path = join(&rel, name);
            let (ea, eb) = (in_a.get(name), in_b.get(name));
            let is_dir = |e: Option<&(u64, EntryRecord)>| {
                e.is_some_and(|(_, r)| r.kind == EntryKind::Directory)
            };
            if is_dir(ea) || is_dir(eb) {
                if (ea.is_some() && !is_dir(ea)) || (eb.is_some() && !is_dir(eb)) {
                    planner.conflict(&path, "a folder on one side, a file on the other");
                    continue;
                }
                for (i, e) in [ea, eb].into_iter().enumerate() {
                    if e.is_none() {
                        planner.preview.dirs += 1;
                        let dir = planner.uri(i, &path);
                        planner.preview.plan.dirs.push(dir);
                    }
                }
                stack.push((path, ea.map(|(id, _)| *id), eb.map(|(id, _)| *id)));
                continue;
            }
            let regular =
                |e: Option<&(u64, EntryRecord)>| e.is_none_or(|(_, r)| r.kind == EntryKind::File);
            if !regular(ea) || !regular(eb) {
                // Links and special files are not carried both ways.
                continue;
            }
            planner.file(&path, ea.map(|(_, r)| r), eb.map(|(_, r)| r));
        }
    }
    planner.preview.space_needed = planner.preview.bytes;
    if planner.next_base != *base {
        planner.preview.plan.base = Some(planner.next_base);
    }
    Ok(planner.preview)
}

struct TwoWay<'a> {
    roots: [&'a SdUri; 2],
    base: &'a Base,
    preview: Preview,
    /// What the base becomes once the run has gone through.
    next_base: Base,
    devices: [String; 2],
}

impl TwoWay<'_> {
    fn uri(&self, side: usize, path: &[u8]) -> SdUri {
        let mut uri = self.roots[side].clone();
        for part in path.split(|&b| b == b'/') {
            uri = uri.join(part);
        }
        uri
    }

    fn conflict(&mut self, path: &[u8], reason: &str) {
        let uri = self.uri(0, path);
        self.preview.conflicts.push(super::Conflict {
            uri: uri.to_string(),
            reason: reason.to_owned(),
        });
    }

    /// Copies side `from`'s version of `path` over (or beside) the other's
    /// (`before`: what the other side holds now).
    fn copy(
        &mut self,
        from: usize,
        path: &[u8],
        record: &EntryRecord,
        replace: bool,
        before: Option<&EntryRecord>,
    ) {
        let item = Item {
            from: self.uri(from, path),
            to: self.uri(1 - from, path),
            size: record.size,
            mode: record.mode,
            content: record.content,
            full: None,
            link: None,
        };
        self.preview.files += 1;
        self.preview.bytes += record.size;
        if replace {
            self.preview.plan.updates.push(item);
        } else {
            self.preview.plan.items.push(item);
        }
        let mut copied = state(record, false);
        copied.to = u8::from(from == 0);
        copied.before = before.map(|r| (r.size, content_of(r)));
        self.next_base.insert(path.to_vec(), copied);
    }

    fn file(&mut self, path: &[u8], a: Option<&EntryRecord>, b: Option<&EntryRecord>) {
        let known = self.base.get(path).copied();
        match (a, b) {
            (Some(a), Some(b)) => {
                if a.size == b.size && (a.content.is_none() || b.content.is_none()) {
                    // Not identified on a side yet: the next run decides.
                    if let Some(known) = known {
                        self.next_base.insert(path.to_vec(), known);
                    }
                    return;
                }
                if a.size == b.size && a.content == b.content {
                    self.preview.skipped += 1;
                    self.preview.skipped_bytes += a.size;
                    self.next_base.insert(path.to_vec(), state(a, true));
                    return;
                }
                let records = [a, b];
                // A run copied it and the sides have not shown agreeing
                // since: the copy's target may still show what it held
                // before (its index lags: another device indexes, then
                // syncs); deciding on that could carry it back.
                if let Some(k) = known.filter(|k| !k.confirmed) {
                    let to = usize::from(k.to);
                    let (source, target) = (records[1 - to], records[to]);
                    let target_was = Some((target.size, content_of(target)));
                    if k.same_as(source) {
                        if target_was == k.before {
                            self.next_base.insert(path.to_vec(), k);
                        } else {
                            // Edited there after the copy arrived.
                            self.copy(to, path, target, true, Some(source));
                        }
                    } else if target_was == k.before || k.same_as(target) {
                        self.copy(1 - to, path, source, true, Some(target));
                    } else {
                        self.both_changed(path, records);
                    }
                    return;
                }
                let changed = |r: &EntryRecord| known.is_none_or(|k| !k.same_as(r));
                match (changed(a), changed(b)) {
                    (true, false) => self.copy(0, path, a, true, Some(b)),
                    (false, true) => self.copy(1, path, b, true, Some(a)),
                    _ => self.both_changed(path, records),
                }
            }
            (Some(only), None) | (None, Some(only)) => {
                let here = usize::from(a.is_none());
                match known {
                    // Agreed on before (or copied here by a run), gone from
                    // the other side since, unchanged here: the deletion
                    // is carried over.
                    Some(k) if k.same_as(only) && (k.confirmed || usize::from(k.to) == here) => {
                        self.preview.to_trash += 1;
                        let uri = self.uri(here, path);
                        self.preview.plan.removals.push(uri);
                    }
                    // New here, changed here, or a copy the other side's
                    // index has not shown yet: (again) to the other side.
                    _ => self.copy(here, path, only, false, None),
                }
            }
            (None, None) => {}
        }
    }
}

impl TwoWay<'_> {
    /// Both sides changed `path`: the newer keeps the name; the other is
    /// first renamed beside it, then travels as a new file.
    fn both_changed(&mut self, path: &[u8], records: [&EntryRecord; 2]) {
        let (winner, loser) = if records[1].mtime > records[0].mtime {
            (1, 0)
        } else {
            (0, 1)
        };
        let kept = self.uri(loser, path);
        if let Some(dir) = parent_of(&kept) {
            let name = conflict_name(
                path.rsplit(|&c| c == b'/').next().unwrap_or(path),
                records[loser].mtime,
                &self.devices[loser],
            );
            self.preview.plan.renames.push((kept, dir.join(&name)));
        }
        // The loser's side may still show the loser's version under the
        // name for a while: that is what it held before.
        self.copy(winner, path, records[winner], false, Some(records[loser]));
    }
}

impl BaseFile {
    fn same_as(&self, r: &EntryRecord) -> bool {
        self.size == r.size && self.content == content_of(r)
    }
}

fn state(r: &EntryRecord, confirmed: bool) -> BaseFile {
    BaseFile {
        size: r.size,
        content: content_of(r),
        confirmed,
        to: 0,
        before: None,
    }
}

fn content_of(r: &EntryRecord) -> u128 {
    r.content.map_or(0, |c| c.0.as_u128())
}

fn join(rel: &[u8], name: &[u8]) -> Vec<u8> {
    if rel.is_empty() {
        name.to_vec()
    } else {
        [rel, b"/", name].concat()
    }
}

/// `name.sync-conflict-<YYYYMMDD-HHMMSS>-<device>.ext`, as the inbox names
/// a conflict copy.
fn conflict_name(name: &[u8], mtime_nanos: i64, device: &str) -> Vec<u8> {
    let secs = mtime_nanos.div_euclid(1_000_000_000);
    let (y, m, d) = crate::time::civil_from_days(secs.div_euclid(86400));
    let s = secs.rem_euclid(86400);
    let stamp = format!(
        ".sync-conflict-{y:04}{m:02}{d:02}-{:02}{:02}{:02}-{device}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
    // Before the extension, unless the name is all extension.
    match name.iter().rposition(|&c| c == b'.') {
        Some(dot) if dot > 0 => [&name[..dot], stamp.as_bytes(), &name[dot..]].concat(),
        _ => [name, stamp.as_bytes()].concat(),
    }
}

#[cfg(test)]
mod tests {
    use super::conflict_name;

    #[test]
    fn conflict_copies_are_named_as_the_inbox_names_them() {
        let at = 1_709_296_205 * 1_000_000_000;
        assert_eq!(
            conflict_name(b"notes.txt", at, "nas"),
            b"notes.sync-conflict-20240301-123005-nas.txt"
        );
        assert_eq!(
            conflict_name(b".bashrc", at, "nas"),
            b".bashrc.sync-conflict-20240301-123005-nas"
        );
    }
}
