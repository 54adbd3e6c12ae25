//! Planning an action from the index alone: no file is read or stat'ed.

use std::collections::HashMap;

use super::side::{Side, Spot};
use super::{ActionKind, ActionRequest, Conflict, Item, Plan, Preview};
use crate::error::{Error, Result};
use crate::ids::DeviceId;
use crate::library::Library;
use crate::model::entry::{EntryKind, EntryRecord};
use crate::uri::SdUri;

/// What a preview knows of the links between devices.
pub trait Links {
    /// Whether `device` can be reached now (this device always can).
    fn online(&self, device: DeviceId) -> bool;
    /// Bytes per second measured from `from` to `to`, if ever.
    fn speed(&self, from: DeviceId, to: DeviceId) -> Option<f64>;
}

/// Plans `kind` of `sources` to `destination`: into it when it is a
/// folder, else to that name (a single source only).
pub fn preview(
    lib: &Library,
    kind: ActionKind,
    sources: &[SdUri],
    destination: &SdUri,
    links: &dyn Links,
) -> Result<Preview> {
    plan(lib, kind, sources, destination, links, &Shape::steps())
}

/// How a sync (a conduit's run) treats what the destination holds.
#[derive(Clone, Debug, Default)]
pub struct SyncRules {
    /// Files there with other content are replaced (else a conflict).
    pub update: bool,
    /// What the destination holds that the source does not goes to the
    /// trash.
    pub mirror: bool,
    /// Only files whose name or path matches one of these (`*`, `?`).
    pub include: Vec<String>,
}

/// Plans a conduit's run: `source`'s tree into `destination` (a folder
/// that holds the tree's contents, not the tree's own folder).
pub fn preview_sync(
    lib: &Library,
    source: &SdUri,
    destination: &SdUri,
    rules: &SyncRules,
    links: &dyn Links,
) -> Result<Preview> {
    let shape = Shape {
        detail: true,
        sync: Some(rules.clone()),
    };
    plan(
        lib,
        ActionKind::Sync,
        std::slice::from_ref(source),
        destination,
        links,
        &shape,
    )
}

/// What a plan keeps and how it treats the destination.
struct Shape {
    /// Keep each step (else only count).
    detail: bool,
    /// A sync's rules (else a copy or move: never replaces, never trims).
    sync: Option<SyncRules>,
}

impl Shape {
    fn steps() -> Shape {
        Shape {
            detail: true,
            sync: None,
        }
    }
}

/// [`preview`] without the steps: the same figures, conflicts and
/// warnings, for showing (a preview that will not run builds no list of
/// its files).
pub fn preview_counts(
    lib: &Library,
    kind: ActionKind,
    sources: &[SdUri],
    destination: &SdUri,
    links: &dyn Links,
) -> Result<Preview> {
    let shape = Shape {
        detail: false,
        sync: None,
    };
    plan(lib, kind, sources, destination, links, &shape)
}

fn plan(
    lib: &Library,
    kind: ActionKind,
    sources: &[SdUri],
    destination: &SdUri,
    links: &dyn Links,
    shape: &Shape,
) -> Result<Preview> {
    if sources.is_empty() {
        return Err(Error::InvalidInput("name at least one source".into()));
    }
    let dest = Side::of(lib, destination)?;
    let dspot = dest.spot(destination)?;
    let into = matches!(&dspot.entry, Some((_, r)) if r.kind == EntryKind::Directory);
    if !into {
        if sources.len() > 1 {
            return Err(Error::InvalidInput(format!(
                "{destination}: several sources go into an existing folder"
            )));
        }
        let parent = parent_of(destination)
            .filter(|p| p.location().is_some() || matches!(p, SdUri::Cloud { .. }));
        let parent_is_dir = match &parent {
            Some(p) => {
                matches!(dest.spot(p)?.entry, Some((_, r)) if r.kind == EntryKind::Directory)
            }
            None => false,
        };
        if !parent_is_dir {
            return Err(Error::NotFound(format!(
                "{destination}: its folder is not in {}'s index",
                dest.device_name
            )));
        }
    }
    let mut planner = Planner {
        dest: &dest,
        detail: shape.detail,
        sync: shape.sync.as_ref(),
        renamed_bytes: 0,
        preview: Preview {
            space_free: dest.volume(&dspot.location)?.map(|v| v.free),
            estimate_s: None,
            plan: Plan {
                to_device: Some(dest.device),
                ..Plan::default()
            },
            ..Preview::empty(ActionRequest {
                kind,
                sources: sources.iter().map(ToString::to_string).collect(),
                destination: destination.to_string(),
            })
        },
    };
    if !dest.local && !dspot.location.remote_writes {
        planner.conflict(
            destination,
            format!(
                "{} takes no changes from other devices here",
                dspot.location.name
            ),
        );
        return Ok(planner.finish(links));
    }
    let mut sides: HashMap<String, Side> = HashMap::new();
    for source in sources {
        let key = match source {
            SdUri::Device { device, .. } => device.clone(),
            _ => lib.device_name().to_owned(),
        };
        if !sides.contains_key(&key) {
            sides.insert(key.clone(), Side::of(lib, source)?);
        }
        let side = &sides[&key];
        let spot = side.spot(source)?;
        let Some((id, record)) = spot.entry.clone() else {
            return Err(Error::NotFound(format!(
                "{source}: not in {}'s index",
                side.device_name
            )));
        };
        let name = if spot.rel.is_empty() {
            spot.location.name.as_bytes().to_vec()
        } else {
            spot.rel
                .rsplit(|&b| b == b'/')
                .next()
                .unwrap_or_default()
                .to_vec()
        };
        let (target, target_entry) = if kind == ActionKind::Sync {
            // A conduit keeps the destination folder itself in step.
            (destination.clone(), dspot.entry.clone())
        } else if into {
            let dir = dspot.entry.as_ref().map(|(id, _)| *id).unwrap_or_default();
            (destination.join(&name), dest.child(dir, &name)?)
        } else {
            (destination.clone(), dspot.entry.clone())
        };
        if side.device == dest.device && is_within(&spot, &dspot) {
            planner.conflict(source, format!("{destination} is {source} or inside it"));
            continue;
        }
        // A move within one location is a rename: nothing is copied.
        if kind == ActionKind::Move
            && side.device == dest.device
            && spot.location.id == dspot.location.id
        {
            match target_entry {
                Some(_) => planner.conflict(&target, "exists".into()),
                None => {
                    let (files, bytes) = match record.kind {
                        EntryKind::Directory => (record.agg_files, record.agg_size),
                        _ => (1, record.size),
                    };
                    planner.preview.files += files;
                    planner.preview.bytes += bytes;
                    planner.renamed_bytes += bytes;
                    planner.preview.plan.renames.push((source.clone(), target));
                }
            }
            if !planner.preview.plan.from_device.contains(&side.device) {
                planner.preview.plan.from_device.push(side.device);
            }
            continue;
        }
        if !side.local && !links.online(side.device) {
            planner.conflict(source, format!("{} is offline", side.device_name));
            continue;
        }
        if !planner.preview.plan.from_device.contains(&side.device) {
            planner.preview.plan.from_device.push(side.device);
        }
        planner.walk(side, source, id, &record, &target, target_entry)?;
        if kind == ActionKind::Move {
            planner.preview.plan.removals.push(source.clone());
        }
    }
    if !dest.local && !links.online(dest.device) {
        planner.preview.warnings.push(format!(
            "{} is offline: the copy is kept here and delivered when it is back",
            dest.device_name
        ));
    }
    Ok(planner.finish(links))
}

struct Planner<'a> {
    dest: &'a Side,
    /// Keep each step (else only count).
    detail: bool,
    sync: Option<&'a SyncRules>,
    /// Bytes a move renames in place: no new space, nor time.
    renamed_bytes: u64,
    preview: Preview,
}

impl Planner<'_> {
    fn conflict(&mut self, uri: &SdUri, reason: String) {
        self.preview.conflicts.push(Conflict {
            uri: uri.to_string(),
            reason,
        });
    }

    /// Plans `record` (entry `id` of `side` at `from`) to `to`, where the
    /// destination index has `existing`.
    fn walk(
        &mut self,
        side: &Side,
        from: &SdUri,
        id: u64,
        record: &EntryRecord,
        to: &SdUri,
        existing: Option<(u64, EntryRecord)>,
    ) -> Result<()> {
        // Depth first, with an explicit stack: a deep tree is no recursion.
        let mut stack = vec![(from.clone(), id, record.clone(), to.clone(), existing)];
        while let Some((from, id, record, to, existing)) = stack.pop() {
            match record.kind {
                EntryKind::Directory => {
                    let there = match &existing {
                        Some((_, r)) if r.kind != EntryKind::Directory => {
                            self.conflict(&to, "a file has that name".into());
                            continue;
                        }
                        Some((dir, _)) => Some(*dir),
                        None => {
                            self.preview.dirs += 1;
                            self.preview.plan.dirs.push(to.clone());
                            None
                        }
                    };
                    let mut children = side.children(id)?;
                    children.sort_by(|a, b| b.1.name.cmp(&a.1.name));
                    if let Some(dir) = there
                        && self.sync.is_some_and(|r| r.mirror)
                    {
                        self.trim(dir, &children, &to)?;
                    }
                    for (child, child_record) in children {
                        let existing = match there {
                            Some(dir) => self.dest.child(dir, &child_record.name)?,
                            None => None,
                        };
                        // Files are planned here; a file's URIs are made
                        // only when a step or a conflict names it.
                        if child_record.kind == EntryKind::Directory {
                            let name = &child_record.name;
                            let (from, to) = (from.join(name), to.join(name));
                            stack.push((from, child, child_record, to, existing));
                        } else {
                            self.file(&from, &child_record, &to, existing)?;
                        }
                    }
                }
                _ => {
                    // The source itself is a file: it goes to `to` itself.
                    let (Some(parent_from), Some(parent_to)) = (parent_of(&from), parent_of(&to))
                    else {
                        return Err(Error::InvalidInput(format!(
                            "{from}: not a file of a location"
                        )));
                    };
                    let named = Named { from, to };
                    self.file_named(&parent_from, &record, &parent_to, existing, Some(named))?;
                }
            }
        }
        Ok(())
    }

    /// A mirror's destination folder `dir` (at `to`) loses what the
    /// source folder's `children` do not have, to the trash.
    fn trim(&mut self, dir: u64, children: &[(u64, EntryRecord)], to: &SdUri) -> Result<()> {
        let rules = self.sync.cloned().unwrap_or_default();
        for (_, there) in self.dest.children(dir)? {
            if children.iter().any(|(_, c)| c.name == there.name) {
                continue;
            }
            // A selective conduit trims only what it would bring.
            let uri = to.join(&there.name);
            if !rules.include.is_empty()
                && (there.kind == EntryKind::Directory || !included(&rules.include, &uri))
            {
                continue;
            }
            self.preview.to_trash += match there.kind {
                EntryKind::Directory => there.agg_files,
                _ => 1,
            };
            if self.detail {
                self.preview.plan.removals.push(uri);
            }
        }
        Ok(())
    }

    /// Plans the file `record` in folder `from` to folder `to`.
    fn file(
        &mut self,
        from: &SdUri,
        record: &EntryRecord,
        to: &SdUri,
        existing: Option<(u64, EntryRecord)>,
    ) -> Result<()> {
        self.file_named(from, record, to, existing, None)
    }

    /// [`Self::file`], with the file's own URIs when they are not its
    /// folders' joined with its name (a single file copied to a new name).
    fn file_named(
        &mut self,
        from_dir: &SdUri,
        record: &EntryRecord,
        to_dir: &SdUri,
        existing: Option<(u64, EntryRecord)>,
        named: Option<Named>,
    ) -> Result<()> {
        let uris = || match &named {
            Some(n) => (n.from.clone(), n.to.clone()),
            None => (from_dir.join(&record.name), to_dir.join(&record.name)),
        };
        if let Some(rules) = self.sync
            && !rules.include.is_empty()
            && !included(&rules.include, &uris().0)
        {
            return Ok(());
        }
        if record.kind == EntryKind::Special {
            let (from, _) = uris();
            self.preview.warnings.push(format!(
                "{from}: a special file (fifo, socket, device) is not copied"
            ));
            return Ok(());
        }
        if let Some((_, there)) = existing {
            // The content id is a sampled hash: an edit it did not sample
            // shows, to a sync, as a source written after the copy there.
            let newer = self.sync.is_some() && record.mtime > there.mtime;
            let same = there.kind == record.kind
                && there.size == record.size
                && there.content.is_some()
                && there.content == record.content
                && there.link_target == record.link_target
                && !newer;
            // A sync leaves a file the destination has not identified yet
            // (same size) for the run after its index has.
            let unknown = self.sync.is_some()
                && !newer
                && there.size == record.size
                && (there.content.is_none() || record.content.is_none());
            let replaceable = self.sync.is_some_and(|r| r.update)
                && there.kind == EntryKind::File
                && record.kind == EntryKind::File;
            if same || unknown {
                self.preview.skipped += 1;
                self.preview.skipped_bytes += record.size;
                if self.detail {
                    let (from, to) = uris();
                    self.preview.plan.present.push(Item::of(from, to, record));
                }
            } else if replaceable {
                self.preview.files += 1;
                self.preview.bytes += record.size;
                if self.detail {
                    let (from, to) = uris();
                    self.preview.plan.updates.push(Item::of(from, to, record));
                }
            } else {
                let (_, to) = uris();
                self.conflict(&to, "exists with other content".into());
            }
            return Ok(());
        }
        self.preview.files += 1;
        self.preview.bytes += record.size;
        if self.detail {
            let (from, to) = uris();
            self.preview.plan.items.push(Item::of(from, to, record));
        }
        Ok(())
    }

    fn finish(mut self, links: &dyn Links) -> Preview {
        let p = &mut self.preview;
        p.space_needed = p.bytes - self.renamed_bytes;
        if let Some(free) = p.space_free
            && p.space_needed > free
        {
            p.conflicts.push(Conflict {
                uri: p.request.destination.clone(),
                reason: format!("needs {} bytes, {free} free", p.space_needed),
            });
        }
        let to = p.plan.to_device;
        let speed = p
            .plan
            .from_device
            .iter()
            .filter_map(|&from| links.speed(from, to?))
            .reduce(f64::min);
        match speed {
            Some(bps) if bps > 0.0 => p.estimate_s = Some(p.space_needed as f64 / bps),
            _ if p.space_needed == 0 => p.estimate_s = Some(0.0),
            _ => p
                .warnings
                .push("no transfer measured on this link yet: no time estimate".into()),
        }
        self.preview
    }
}

/// Whether `uri`'s name or path below its location matches one of
/// `patterns` (`*` any run of bytes, `?` one byte).
fn included(patterns: &[String], uri: &SdUri) -> bool {
    let rel = uri.rel_path();
    let name = rel.rsplit(|&b| b == b'/').next().unwrap_or(rel);
    patterns
        .iter()
        .any(|p| glob(p.as_bytes(), name) || glob(p.as_bytes(), rel))
}

/// `*` and `?` wildcards over bytes (iterative, with one backtrack point).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// A file's own URIs.
struct Named {
    from: SdUri,
    to: SdUri,
}

/// The URI one level up (`None` at a location's root).
pub(crate) fn parent_of(uri: &SdUri) -> Option<SdUri> {
    let rel = uri.rel_path();
    if rel.is_empty() {
        return None;
    }
    let up = match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => &rel[..i],
        None => &[][..],
    };
    Some(match uri {
        SdUri::Device { device, .. } => SdUri::device(device, uri.location()?, up),
        SdUri::Cloud { volume, .. } => SdUri::Cloud {
            volume: volume.clone(),
            path: if up.is_empty() {
                Vec::new()
            } else {
                [b"/".as_slice(), up].concat()
            },
        },
        SdUri::Content { .. } => return None,
    })
}

/// Whether `dest` (a spot in the same device's index) is `source` or
/// inside it.
fn is_within(source: &Spot, dest: &Spot) -> bool {
    if source.location.id != dest.location.id {
        return false;
    }
    let (s, d) = (&source.rel, &dest.rel);
    s.is_empty() || d == s || (d.starts_with(s) && d.get(s.len()) == Some(&b'/'))
}

#[cfg(test)]
mod glob_tests {
    use super::glob;

    #[test]
    fn wildcards_match_as_a_shell_does() {
        for (p, t, want) in [
            ("*.jpg", "beach.jpg", true),
            ("*.jpg", "beach.jpeg", false),
            ("img-?.txt", "img-1.txt", true),
            ("img-?.txt", "img-10.txt", false),
            ("2024/*", "2024/a/b", true),
            ("*a*b*", "xxaxxbxx", true),
            ("*a*b", "xxaxxbxxa", false),
            ("", "", true),
            ("*", "", true),
        ] {
            assert_eq!(glob(p.as_bytes(), t.as_bytes()), want, "{p} {t}");
        }
    }
}
