//! Carrying out a previewed action through the namespace, verifying each
//! copy where it lands, and recording progress in the audit log.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::log::{ActionRecord, ActionStatus, Actions, LinkSpeeds};
use super::preview::parent_of;
use super::side::Side;
use super::{ActionKind, Item, Preview};
use crate::error::{Error, ErrorKind, Result};
use crate::model::entry::EntryKind;
use crate::namespace::{Caller, Namespace, Node, OpenFile, OpenFlags, RenameFlags};
use crate::uri::SdUri;

/// What a run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunReport {
    pub files: u64,
    pub bytes: u64,
    pub dirs: u64,
    /// Copies read back at their destination with the source's BLAKE3.
    pub verified: u64,
    /// A move's sources removed after their copies were verified.
    pub removed: u64,
    /// Found at the destination with the source's bytes when the run got
    /// there (an earlier run's work the index had not shown yet).
    pub already_there: u64,
    /// Whether every copy has reached the destination device (another
    /// device's copies are delivered by its owner, who checks them too).
    pub delivered: bool,
    /// A delete: what went to a trash (what its undo puts back).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trashed: Vec<super::Trashed>,
    /// A tag action: what the file's tags changed by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<super::TagChange>,
    pub errors: Vec<String>,
    pub secs: f64,
}

/// Where a run stands, for a progress bar.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct RunProgress {
    pub files_done: u64,
    pub files: u64,
    pub bytes_done: u64,
    pub bytes: u64,
    /// The file being written.
    pub current: String,
}

/// How a run goes.
pub struct RunOptions<'a> {
    /// Told where the run stands, a few times a second.
    pub progress: Option<&'a dyn Fn(&RunProgress)>,
    /// Bytes per second at most (`None`: as fast as it goes).
    pub limit: Option<u64>,
    /// How long a move waits for another device to take its copies
    /// before leaving the sources for a later run.
    pub delivery_wait: Duration,
    pub stop: &'a AtomicBool,
}

/// Runs `preview`'s plan, recording it in `record`.
pub fn run(
    ns: &Namespace,
    preview: &Preview,
    record: &mut ActionRecord,
    options: &RunOptions<'_>,
) -> Result<RunReport> {
    let lib = ns.library();
    let log = Actions::new(lib.db().clone());
    let started = Instant::now();
    record.status = ActionStatus::Running;
    record
        .started_at
        .get_or_insert_with(crate::time::unix_now_secs);
    record.runs += 1;
    log.update(record)?;
    let mut runner = Runner {
        ns,
        parents: HashMap::new(),
        sides: HashMap::new(),
        durable: preview.request.kind == ActionKind::Move,
        report: RunReport::default(),
        started,
        limit: options.limit,
        streamed: 0,
        progress: options.progress,
        shown: RunProgress {
            files: preview.files,
            bytes: preview.bytes,
            ..RunProgress::default()
        },
        shown_at: None,
    };
    match preview.request.kind {
        ActionKind::Copy | ActionKind::Move => {
            runner.copy_or_move(preview, options, &log, record)?;
        }
        ActionKind::Delete => {
            runner.trash_all(&preview.plan.removals);
            runner.report.files = runner.report.trashed.iter().map(|t| t.files).sum();
            runner.report.bytes = runner.report.trashed.iter().map(|t| t.bytes).sum();
        }
        ActionKind::Sync => {
            runner.copy_or_move(preview, options, &log, record)?;
            runner.trash_all(&preview.plan.removals);
        }
        ActionKind::Dedupe => runner.dedupe_all(&preview.plan.duplicates),
        ActionKind::Restore => runner.restore_all(&preview.plan.restores),
        ActionKind::Tag => runner.retag(preview),
    }
    runner.show(true);
    // This device's index sees what the run did at once (the watcher
    // would, a moment later): the next preview reads it.
    let touched = preview
        .plan
        .items
        .iter()
        .map(|i| &i.to)
        .chain(&preview.plan.dirs)
        .cloned()
        .chain(
            preview
                .plan
                .renames
                .iter()
                .flat_map(|(a, b)| [a, b])
                .chain(&preview.plan.removals)
                .chain(preview.plan.duplicates.iter().map(|(extra, _)| extra))
                // What went is re-read from the folder that held it.
                .filter_map(parent_of),
        )
        .chain(preview.plan.restores.iter().map(|r| r.to.clone()))
        .chain(preview.plan.updates.iter().map(|i| i.to.clone()));
    if let Err(e) = refresh_local(lib, touched) {
        tracing::warn!("action {}: refreshing the index: {e}", record.id);
    }
    runner.report.secs = started.elapsed().as_secs_f64();
    let transferred = matches!(preview.request.kind, ActionKind::Copy | ActionKind::Move);
    if let (true, Some(to), [from, ..]) = (
        transferred,
        preview.plan.to_device,
        preview.plan.from_device.as_slice(),
    ) {
        LinkSpeeds::new(lib.db().clone()).record(
            *from,
            to,
            runner.report.bytes,
            runner.report.secs,
        )?;
    }
    let unfinished = preview.request.kind == ActionKind::Move && !runner.report.delivered;
    save(&log, record, &runner.report)?;
    record.status = if unfinished {
        ActionStatus::Running
    } else if runner.report.errors.is_empty() {
        ActionStatus::Done
    } else {
        ActionStatus::Failed
    };
    if !unfinished {
        record.finished_at = Some(crate::time::unix_now_secs());
    }
    log.update(record)?;
    Ok(runner.report)
}

impl Runner<'_> {
    /// Copies (and for a move, removes the verified sources of) what
    /// `preview` plans.
    fn copy_or_move(
        &mut self,
        preview: &Preview,
        options: &RunOptions<'_>,
        log: &Actions,
        record: &mut ActionRecord,
    ) -> Result<()> {
        let lib = self.ns.library();
        let mut last_save = Instant::now();
        for dir in &preview.plan.dirs {
            match self.ensure_dir(dir) {
                Ok(()) => self.report.dirs += 1,
                Err(e) => self.report.errors.push(format!("{dir}: {e}")),
            }
        }
        for (from, to) in &preview.plan.renames {
            match self.rename(from, to) {
                Ok(()) => {}
                Err(e) => self.report.errors.push(format!("{from}: {e}")),
            }
        }
        let mut verified: HashSet<String> = HashSet::new();
        let present: &[Item] = if preview.request.kind == ActionKind::Move {
            &preview.plan.present
        } else {
            &[]
        };
        for item in preview.plan.items.iter().chain(present) {
            if options.stop.load(Ordering::Relaxed) {
                self.report.errors.push("stopped".into());
                break;
            }
            self.shown.current = item.to.to_string();
            match self.transfer(item) {
                Ok(Landed::Copied) => {
                    self.report.files += 1;
                    self.report.bytes += item.size;
                    self.report.verified += 1;
                    verified.insert(item.from.to_string());
                }
                Ok(Landed::AlreadyThere) => {
                    self.report.already_there += 1;
                    self.report.verified += 1;
                    verified.insert(item.from.to_string());
                }
                Err(e) => self.report.errors.push(format!("{}: {e}", item.to)),
            }
            self.shown.files_done += 1;
            self.show(false);
            if last_save.elapsed() > Duration::from_secs(1) {
                save(log, record, &self.report)?;
                last_save = Instant::now();
            }
        }
        for item in &preview.plan.updates {
            match self.replace(item) {
                Ok(()) => {
                    self.report.files += 1;
                    self.report.bytes += item.size;
                    self.report.verified += 1;
                }
                Err(e) => self.report.errors.push(format!("{}: {e}", item.to)),
            }
        }
        let to_device = preview.plan.to_device;
        let remote_dest = to_device.is_some_and(|d| d != lib.device_id());
        self.report.delivered = !remote_dest
            || (preview.request.kind == ActionKind::Move
                && wait_delivered(
                    self.ns,
                    preview.plan.items.iter().chain(present),
                    options.delivery_wait,
                )?);
        if preview.request.kind == ActionKind::Move {
            if self.report.delivered {
                for top in &preview.plan.removals {
                    self.remove_tree(top, Some(&verified));
                }
            } else {
                self.report.errors.push(
                    "the destination device has not taken every copy yet: sources kept for a later run"
                        .into(),
                );
            }
        }
        Ok(())
    }
}

fn save(log: &Actions, record: &mut ActionRecord, report: &RunReport) -> Result<()> {
    record.done_files = report.files;
    record.done_bytes = report.bytes;
    record.verified = report.verified;
    record.removed = report.removed;
    record.trashed.clone_from(&report.trashed);
    if report.tags.is_some() {
        record.tags.clone_from(&report.tags);
    }
    record.errors = report.errors.iter().take(20).cloned().collect();
    log.update(record)
}

/// How a file reached its destination.
enum Landed {
    Copied,
    AlreadyThere,
}

pub(super) struct Runner<'a> {
    pub(super) ns: &'a Namespace,
    /// Destination folders walked to, by URI.
    parents: HashMap<String, Node>,
    /// Source devices' indexes, by device name.
    sides: HashMap<String, Side>,
    /// Flush each copy to disk before going on (a move).
    durable: bool,
    pub(super) report: RunReport,
    started: Instant,
    limit: Option<u64>,
    /// Bytes streamed so far, for the limit.
    streamed: u64,
    progress: Option<&'a dyn Fn(&RunProgress)>,
    shown: RunProgress,
    shown_at: Option<Instant>,
}

impl Runner<'_> {
    fn node(&mut self, uri: &SdUri) -> Result<Node> {
        let key = uri.to_string();
        if let Some(node) = self.parents.get(&key) {
            return Ok(node.clone());
        }
        let (node, _) = self.ns.node_at_uri(&key)?;
        self.parents.insert(key, node.clone());
        Ok(node)
    }

    fn parent_and_name(&mut self, uri: &SdUri) -> Result<(Node, Vec<u8>)> {
        let parent = parent_of(uri)
            .ok_or_else(|| Error::InvalidInput(format!("{uri}: a location's root")))?;
        let name = uri
            .rel_path()
            .rsplit(|&b| b == b'/')
            .next()
            .unwrap_or_default()
            .to_vec();
        Ok((self.node(&parent)?, name))
    }

    /// A move within one location: the same bytes under a new name.
    fn rename(&mut self, from: &SdUri, to: &SdUri) -> Result<()> {
        let (parent, name) = self.parent_and_name(from)?;
        let (new_parent, new_name) = self.parent_and_name(to)?;
        let flags = RenameFlags {
            noreplace: true,
            ..RenameFlags::default()
        };
        self.ns
            .rename(&parent, &name, &new_parent, &new_name, flags)?;
        self.parents.remove(&from.to_string());
        Ok(())
    }

    fn ensure_dir(&mut self, uri: &SdUri) -> Result<()> {
        let (parent, name) = self.parent_and_name(uri)?;
        match self.ns.lookup(&parent, &name) {
            Ok((node, attr)) if attr.kind == EntryKind::Directory => {
                self.parents.insert(uri.to_string(), node);
                Ok(())
            }
            Ok(_) => Err(Error::fs(ErrorKind::AlreadyExists, "a file has that name")),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let (node, _) = self.ns.mkdir(&parent, &name, 0o755, Caller::daemon())?;
                self.parents.insert(uri.to_string(), node);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Copies one file, then reads the copy back: its BLAKE3 must be the
    /// source's (and the content's, where its owner recorded one).
    fn transfer(&mut self, item: &Item) -> Result<Landed> {
        let (parent, name) = self.parent_and_name(&item.to)?;
        if let Some(target) = &item.link {
            self.ns.symlink(&parent, &name, target, Caller::daemon())?;
            return Ok(Landed::Copied);
        }
        let (source, _) = self.ns.node_at_uri(&item.from.to_string())?;
        let reader = self.ns.open(&source, OpenFlags::read_only())?;
        let flags = OpenFlags {
            read: true,
            write: true,
            exclusive: true,
            ..OpenFlags::default()
        };
        let created = self
            .ns
            .create(&parent, &name, item.mode & 0o7777, flags, Caller::daemon());
        let (node, writer, skip) = match created {
            Ok((node, _, writer)) => (node, writer, 0),
            // Never overwritten: the same bytes count as done, the start of
            // them is an earlier run cut short here (a crash mid-file) and
            // goes on where it stopped; other bytes are a conflict the index
            // had not shown.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let (there, attr) = self.ns.lookup(&parent, &name)?;
                let held = hash_all(&self.ns.open(&there, OpenFlags::read_only())?)?;
                if attr.size > item.size || hash_prefix(&reader, attr.size)? != held {
                    return Err(Error::fs(
                        ErrorKind::AlreadyExists,
                        "exists with other content",
                    ));
                }
                if attr.size == item.size {
                    return Ok(Landed::AlreadyThere);
                }
                let flags = OpenFlags {
                    read: true,
                    write: true,
                    ..OpenFlags::default()
                };
                let writer = self.ns.open(&there, flags)?;
                (there, writer, attr.size)
            }
            Err(e) => return Err(e),
        };
        let written = self.copy(&reader, &writer, skip);
        let written = written.and_then(|hash| {
            // A move's copy must outlive a crash before its source goes; a
            // copy cut short by one is made again by the next run.
            if self.durable {
                writer.fsync(false)?;
            }
            writer.flush()?;
            Ok(hash)
        });
        drop(writer);
        // An index that cannot be read now leaves the check to the
        // read-back alone (the source's reader verified its chunks).
        let full = item.full.or_else(|| self.full_hash(item).ok().flatten());
        let result = written.and_then(|hash| {
            if let Some(full) = full
                && full != hash
            {
                return Err(Error::fs(
                    ErrorKind::Corrupt,
                    "the bytes read do not hash to the content's BLAKE3",
                ));
            }
            let back = self.ns.open(&node, OpenFlags::read_only())?;
            if hash_all(&back)? != hash {
                return Err(Error::fs(
                    ErrorKind::Corrupt,
                    "the copy does not read back with the source's BLAKE3",
                ));
            }
            Ok(Landed::Copied)
        });
        if result.is_err() {
            // Never leave a copy that did not verify.
            let _ = self.ns.unlink(&parent, &name);
        }
        result
    }

    /// Replaces the file at `item.to` with the source's bytes: written
    /// beside it and verified, then renamed over it, so no reader sees
    /// half a file and a crash leaves the old one (another device's file
    /// is delivered whole to its owner, who keeps both if it changed there).
    fn replace(&mut self, item: &Item) -> Result<()> {
        let (parent, name) = self.parent_and_name(&item.to)?;
        let beside = [b".sd-sync-".as_slice(), &name].concat();
        let dir = parent_of(&item.to)
            .ok_or_else(|| Error::InvalidInput(format!("{}: a location's root", item.to)))?;
        // What a run cut short left.
        let _ = self.ns.unlink(&parent, &beside);
        let staged = Item {
            to: dir.join(&beside),
            ..item.clone()
        };
        self.transfer(&staged)?;
        self.ns
            .rename(&parent, &beside, &parent, &name, RenameFlags::default())?;
        Ok(())
    }

    /// The full BLAKE3 the source's owner recorded for the item's content.
    fn full_hash(&mut self, item: &Item) -> Result<Option<[u8; 32]>> {
        let Some(content) = item.content else {
            return Ok(None);
        };
        let key = match &item.from {
            SdUri::Device { device, .. } => device.clone(),
            _ => String::new(),
        };
        if !self.sides.contains_key(&key) {
            let side = Side::of(self.ns.library(), &item.from)?;
            self.sides.insert(key.clone(), side);
        }
        Ok(self.sides[&key].content(content)?.and_then(|r| r.integrity))
    }

    /// Streams `from` into `to` from byte `skip` on (`to` holds the bytes
    /// before it); returns the BLAKE3 of all of `from`.
    fn copy(&mut self, from: &OpenFile, to: &OpenFile, skip: u64) -> Result<[u8; 32]> {
        from.read_each(|offset, block| {
            let Some(block_skip) = skip.checked_sub(offset) else {
                return self.write_block(to, offset, block);
            };
            match usize::try_from(block_skip) {
                Ok(n) if n < block.len() => self.write_block(to, skip, &block[n..]),
                _ => Ok(()),
            }
        })
    }

    fn write_block(&mut self, to: &OpenFile, offset: u64, block: &[u8]) -> Result<()> {
        // `write_at` writes the whole block.
        to.write_at(offset, block)?;
        self.throttle(block.len() as u64);
        self.shown.bytes_done += block.len() as u64;
        self.show(false);
        Ok(())
    }

    /// Tells the run's watcher where it stands: at most ten times a
    /// second, and always at the end (`last`).
    pub(super) fn show(&mut self, last: bool) {
        let Some(progress) = self.progress else {
            return;
        };
        if !last
            && self
                .shown_at
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.shown_at = Some(Instant::now());
        progress(&self.shown);
    }

    /// Sleeps as long as it takes to keep what this run streamed under its
    /// limit (bytes per second since the run started).
    fn throttle(&mut self, more: u64) {
        self.streamed += more;
        let Some(rate) = self.limit.filter(|&r| r > 0) else {
            return;
        };
        let due = Duration::from_secs_f64(self.streamed as f64 / rate as f64);
        if let Some(wait) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(wait);
        }
    }

    /// Removes what of the tree at `top` was verified at the destination
    /// (`None`: all of it), and the folders that leaves empty.
    pub(super) fn remove_tree(&mut self, top: &SdUri, verified: Option<&HashSet<String>>) {
        let Ok((parent, name)) = self.parent_and_name(top) else {
            return;
        };
        let Ok((node, attr)) = self.ns.lookup(&parent, &name) else {
            return;
        };
        if attr.kind != EntryKind::Directory {
            if verified.is_none_or(|v| v.contains(&top.to_string())) {
                match self.ns.unlink(&parent, &name) {
                    Ok(_) => self.report.removed += 1,
                    Err(e) => self.report.errors.push(format!("{top}: {e}")),
                }
            }
            return;
        }
        self.parents.insert(top.to_string(), node.clone());
        let children = match self.ns.readdir(&node) {
            Ok(children) => children,
            Err(e) => {
                self.report.errors.push(format!("{top}: {e}"));
                return;
            }
        };
        for child in children {
            if child.name == b"." || child.name == b".." {
                continue;
            }
            self.remove_tree(&top.join(&child.name), verified);
        }
        // Kept if anything in it was not moved.
        match self.ns.rmdir(&parent, &name) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty => {}
            Err(e) => self.report.errors.push(format!("{top}: {e}")),
        }
    }
}

/// Re-reads, in this device's index, the folders holding what `uris`
/// name (those of this device's locations).
fn refresh_local(lib: &crate::Library, uris: impl Iterator<Item = SdUri>) -> Result<()> {
    let locations = crate::locations::list(lib.db())?;
    let mut by_location: HashMap<crate::ids::LocationId, Vec<std::path::PathBuf>> = HashMap::new();
    for uri in uris {
        let SdUri::Device { device, .. } = &uri else {
            continue;
        };
        if device != lib.device_name() {
            continue;
        }
        let Some(location) = locations
            .iter()
            .find(|l| Some(l.name.as_bytes()) == uri.location())
        else {
            continue;
        };
        let Some(root) = location.root_path() else {
            continue;
        };
        by_location
            .entry(location.id)
            .or_default()
            .push(crate::fsutil::join_bytes(&root, uri.rel_path()));
    }
    for (id, paths) in by_location {
        if let Some(location) = locations.iter().find(|l| l.id == id) {
            crate::indexer::live::refresh(lib, location, &paths)?;
        }
    }
    Ok(())
}

pub(super) fn hash_all(file: &OpenFile) -> Result<[u8; 32]> {
    file.read_each(|_, _| Ok(()))
}

/// The BLAKE3 of `file`'s first `len` bytes (fewer if it is shorter).
fn hash_prefix(file: &OpenFile, len: u64) -> Result<[u8; 32]> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; (1 << 20).min(usize::try_from(len).unwrap_or(usize::MAX))];
    let mut offset = 0;
    while offset < len {
        let want = usize::try_from(len - offset).map_or(buf.len(), |l| l.min(buf.len()));
        let n = file.read_at(offset, &mut buf[..want])?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        offset += n as u64;
    }
    Ok(*hasher.finalize().as_bytes())
}

/// Waits until the destination device's index (as replicated here) shows
/// every item with its content: its owner has applied and checked it.
fn wait_delivered<'i>(
    ns: &Namespace,
    items: impl Iterator<Item = &'i Item> + Clone,
    wait: Duration,
) -> Result<bool> {
    let lib = ns.library();
    let deadline = Instant::now() + wait;
    loop {
        let mut all = true;
        if let Some(first) = items.clone().next() {
            let side = Side::of(lib, &first.to)?;
            for item in items.clone() {
                let spot = side.spot(&item.to)?;
                let arrived = spot.entry.is_some_and(|(_, r)| {
                    r.size == item.size && (item.content.is_none() || r.content == item.content)
                });
                if !arrived {
                    all = false;
                    break;
                }
            }
        }
        if all {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
