//! Delivering staged changes to their owners, in the order they were made.
//!
//! One pass walks the outbox in order. Per device, it stops at the first
//! change it cannot deliver now (the owner is offline, a program is still
//! writing the file), so nothing overtakes an earlier change; an owner that
//! failed is retried with a growing pause. A change the owner applied stays
//! shown until the replica of the owner's index has it too.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{Change, Staged, Target, Version};
use crate::content_store::ContentStore;
use crate::error::{Error, Result};
use crate::ids::{DeviceId, LocationId};
use crate::model::entry::EntryKind;
use crate::remote::{DeliveredChange, Delivery, DeliveryOutcome, PeerLink};
use crate::sync::replica::ReplicaView;

/// How long one delivery may take (the owner fetches the content meanwhile).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(600);
/// A delivered change is shown at most this long if the owner's index
/// never shows it (names its indexer rules skip).
const SETTLE_WITHIN: Duration = Duration::from_secs(10);
/// Pauses after a failed delivery to a device: doubling up to the last.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_LAST: Duration = Duration::from_secs(30);
/// An owner that refused a change is asked again this rarely (its setting
/// may change back; the change is kept meanwhile).
const AFTER_REFUSAL: Duration = Duration::from_secs(300);

/// Deliveries of one device's files in flight at once: the owner applies
/// them side by side, and each one's round trips and fsync overlap.
const IN_FLIGHT: usize = 8;

/// Files up to this size are read whole: a new one is sent whole, an edit
/// has its manifest built from the bytes in hand.
const WHOLE_READ: u64 = 8 * 1024 * 1024;

/// What became of one change.
enum Sent {
    /// Applied, kept as a conflict copy, or given way to the owner's edit.
    Done,
    /// Its file is still being written: later, after it.
    NotYet,
    /// The owner takes no changes there (kept here, asked again later).
    Refused,
}

/// What the courier reports of one pass, for `sd status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pending {
    /// Changes waiting for their owner, per device.
    pub by_device: Vec<(DeviceId, usize)>,
    /// Changes waiting to be uploaded, per cloud volume of this device.
    pub by_volume: Vec<(LocationId, usize)>,
}

/// Where changes go, each in its own order and with its own pauses: a
/// paired device, or one of this device's cloud volumes (`Some` location:
/// a bucket that is down holds back only its own changes).
type Lane = (DeviceId, Option<LocationId>);

/// Delivers the outbox of one library through a link to other devices,
/// and to this device's cloud volumes.
pub struct Courier {
    content: Arc<ContentStore>,
    link: Arc<dyn PeerLink>,
    timeout: Duration,
    /// Lanes not to try before the instant, and the pause after it.
    retry: HashMap<Lane, (Instant, Duration)>,
    /// Staging files delivered whole and unwritten since, with their
    /// (size, mtime) when sent: a write after the delivery changes it. (A
    /// peer's owner keeps that mtime, so its version says the same; a
    /// bucket keeps its own time, so only this says what was sent. After a
    /// restart it is gone and such a file goes again, which is harmless.)
    sent: std::sync::Mutex<HashMap<u64, (u64, i64)>>,
}

impl Courier {
    pub fn new(content: Arc<ContentStore>, link: Arc<dyn PeerLink>) -> Courier {
        Courier {
            content,
            link,
            timeout: DELIVERY_TIMEOUT,
            retry: HashMap::new(),
            sent: std::sync::Mutex::default(),
        }
    }

    /// Delivers until `stop`, waking on every staged change.
    pub fn run(mut self, stop: &AtomicBool) {
        let outbox = Arc::clone(self.content.outbox());
        let mut seen = outbox.generation();
        while !stop.load(Ordering::Relaxed) {
            let wait = match self.pass() {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!("delivering changes: {e}");
                    RETRY_LAST
                }
            };
            seen = outbox.wait(seen, wait.min(Duration::from_secs(1)));
        }
    }

    /// One walk over the outbox; returns how soon another is due.
    pub fn pass(&mut self) -> Result<Duration> {
        let outbox = Arc::clone(self.content.outbox());
        for device in outbox.take_reachable() {
            self.retry.retain(|(d, _), _| *d != device);
        }
        let now = Instant::now();
        let mut held: HashSet<Lane> = self
            .retry
            .iter()
            .filter(|(_, (until, _))| *until > now)
            .map(|(d, _)| *d)
            .collect();
        let mut next = Duration::from_secs(1);
        let all = outbox.all()?;
        let mut at = 0;
        while at < all.len() {
            let (target, staged) = &all[at];
            if let Some(version) = staged.delivered {
                self.settle(target, staged, version)?;
                at += 1;
                continue;
            }
            let lane = self.lane(target);
            if held.contains(&lane) {
                at += 1;
                continue;
            }
            let window = self.window(&all[at..], &outbox);
            if window == 0 {
                // Still being written: later, after it.
                held.insert(lane);
                next = next.min(Duration::from_millis(200));
                at += 1;
                continue;
            }
            let results: Vec<Result<Sent>> = if window == 1 {
                vec![self.deliver(target, staged)]
            } else {
                let this = &*self;
                std::thread::scope(|scope| {
                    let running: Vec<_> = all[at..at + window]
                        .iter()
                        .map(|(t, s)| scope.spawn(move || this.deliver(t, s)))
                        .collect();
                    running
                        .into_iter()
                        .map(|h| {
                            h.join().unwrap_or_else(|_| {
                                Err(Error::fs(crate::ErrorKind::Io, "a delivery panicked"))
                            })
                        })
                        .collect()
                })
            };
            for ((target, _), result) in all[at..at + window].iter().zip(results) {
                let lane = self.lane(target);
                match result {
                    Ok(Sent::Done) => {
                        self.retry.remove(&lane);
                    }
                    Ok(Sent::NotYet) => {
                        held.insert(lane);
                        next = next.min(Duration::from_millis(200));
                    }
                    Ok(Sent::Refused) => {
                        self.back_off(lane, Some(AFTER_REFUSAL));
                        held.insert(lane);
                    }
                    Err(e) => {
                        tracing::info!(
                            "delivering {} to {}: {e}",
                            String::from_utf8_lossy(&target.path),
                            self.owner_of(target)
                        );
                        if !held.contains(&lane) {
                            self.back_off(lane, None);
                        }
                        held.insert(lane);
                    }
                }
            }
            at += window;
        }
        outbox.sync()?;
        Ok(next)
    }

    /// How many changes from the start of `rest` go out side by side: new
    /// contents of distinct files of one device, each closed, up to
    /// [`IN_FLIGHT`]. Anything else (a directory, a removal, attributes)
    /// goes alone, after what came before it and before what follows, so
    /// the owner sees a folder before the files in it. 0 when the first
    /// is still being written.
    fn window(&self, rest: &[(Target, Staged)], outbox: &super::Outbox) -> usize {
        let lane = match rest.first() {
            Some((target, _)) => self.lane(target),
            None => return 0,
        };
        let ready = |(target, staged): &(Target, Staged)| match staged.change {
            Change::File { staged: id, .. } => {
                staged.delivered.is_none() && self.lane(target) == lane && outbox.is_settled(id)
            }
            _ => false,
        };
        match rest.first() {
            Some((_, first)) if !matches!(first.change, Change::File { .. }) => 1,
            Some(first) if !ready(first) => 0,
            _ => rest.iter().take(IN_FLIGHT).take_while(|r| ready(r)).count(),
        }
    }

    /// The lane of a change: its device, and for this device's own (cloud
    /// volumes), the volume.
    fn lane(&self, target: &Target) -> Lane {
        let own = target.device == self.content.library().device_id();
        (target.device, own.then_some(target.location))
    }

    /// Who a change goes to, for the log: a device, or a cloud volume.
    fn owner_of(&self, target: &Target) -> String {
        let lib = self.content.library();
        if target.device != lib.device_id() {
            return target.device.to_string();
        }
        match crate::locations::get_by_id(lib.db(), target.location) {
            Ok(location) => format!("cloud volume {}", location.name),
            Err(_) => format!("cloud volume {}", target.location),
        }
    }

    fn back_off(&mut self, lane: Lane, pause: Option<Duration>) {
        let last = self.retry.get(&lane).map(|(_, p)| *p);
        let pause = pause.unwrap_or_else(|| match last {
            Some(p) => (p * 2).min(RETRY_LAST),
            None => RETRY_FIRST,
        });
        self.retry.insert(lane, (Instant::now() + pause, pause));
    }

    /// Delivers one change.
    fn deliver(&self, target: &Target, staged: &Staged) -> Result<Sent> {
        if target.device == self.content.library().device_id() {
            return self.upload(target, staged);
        }
        let outbox = Arc::clone(self.content.outbox());
        let location = target.location.0.as_u128();
        let delivery = |change| Delivery {
            location,
            path: target.path.clone(),
            change,
            base: staged.base,
        };
        let mut sent = None;
        let (outcome, stamp) = match &staged.change {
            // Staged only for cloud volumes (see `Change::Copied`).
            Change::Copied { .. } => {
                return Err(Error::fs(
                    crate::ErrorKind::InvalidInput,
                    "a server-side copy for another device",
                ));
            }
            Change::File { staged: id, mode } => {
                if !outbox.is_settled(*id) {
                    return Ok(Sent::NotYet);
                }
                let path = outbox.staged_path(*id);
                let file = match std::fs::File::open(&path) {
                    Ok(file) => file,
                    // Nothing left to send: never block what follows on it.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        tracing::error!(
                            "the staging file of {} is gone; its change is dropped",
                            String::from_utf8_lossy(&target.path)
                        );
                        outbox.settle(target, staged.seq)?;
                        return Ok(Sent::Done);
                    }
                    Err(e) => return Err(Error::io(&path, e)),
                };
                let before = stamp_of(&file)?;
                let whole = if before.0 <= WHOLE_READ {
                    let mut bytes = Vec::with_capacity(before.0 as usize);
                    std::io::Read::read_to_end(&mut &file, &mut bytes)
                        .map_err(|e| Error::io(&path, e))?;
                    Some(bytes)
                } else {
                    None
                };
                let change = match whole {
                    // A small file, or a new one read whole, travels whole:
                    // its owner has no earlier version to share chunks
                    // with, so neither side cuts it into chunks, and one
                    // BLAKE3 on each side is the check.
                    Some(bytes)
                        if staged.base.is_none()
                            || bytes.len() as u64 <= crate::remote::INLINE_DELIVERY =>
                    {
                        DeliveredChange::Whole {
                            hash: *blake3::hash(&bytes).as_bytes(),
                            mode: *mode,
                            mtime: before.1,
                            bytes,
                        }
                    }
                    // An edit of a larger file sends only its manifest,
                    // and the owner asks for the chunks it lacks.
                    whole => {
                        let built = match &whole {
                            Some(bytes) => sdfs_cas::build_from_slice(bytes, &sdfs_cas::Discard),
                            None => sdfs_cas::build_from_reader(&file, &sdfs_cas::Discard),
                        };
                        let manifest = built.map_err(|e| match e {
                            sdfs_cas::build::BuildError::Io(e) => Error::io(&path, e),
                            sdfs_cas::build::BuildError::Sink(never) => match never {},
                        })?;
                        DeliveredChange::File {
                            manifest: manifest.encode(),
                            staged: *id,
                            mode: *mode,
                            mtime: before.1,
                        }
                    }
                };
                if stamp_of(&file)? != before {
                    return Ok(Sent::NotYet);
                }
                let _offer = outbox.offer(*id, target.device);
                let outcome = self
                    .link
                    .deliver(target.device, &delivery(change), self.timeout);
                // Written meanwhile: what the owner got is not the latest.
                let after = stamp_of(&file).ok();
                sent = Some((*id, before));
                (outcome, after.is_some_and(|a| a == before))
            }
            Change::Attrs { mode, mtime } => (
                self.link.deliver(
                    target.device,
                    &delivery(DeliveredChange::Attrs {
                        mode: *mode,
                        mtime: *mtime,
                    }),
                    self.timeout,
                ),
                true,
            ),
            Change::Directory { mode, mtime } => (
                self.link.deliver(
                    target.device,
                    &delivery(DeliveredChange::Directory {
                        mode: *mode,
                        mtime: *mtime,
                    }),
                    self.timeout,
                ),
                true,
            ),
            Change::Removed => (
                self.link.deliver(
                    target.device,
                    &delivery(DeliveredChange::Removed),
                    self.timeout,
                ),
                true,
            ),
        };
        let outcome =
            outcome.map_err(|e| Error::fs(crate::ErrorKind::Unavailable, e.to_string()))?;
        self.conclude(target, staged, outcome, stamp, sent)
    }

    /// Delivers one change to a cloud volume of this device.
    fn upload(&self, target: &Target, staged: &Staged) -> Result<Sent> {
        let outbox = self.content.outbox();
        if let Change::File { staged: id, .. } = staged.change
            && !outbox.is_settled(id)
        {
            return Ok(Sent::NotYet);
        }
        let uploaded = match crate::cloud::deliver(&self.content, target, staged, &stamp_of) {
            Ok(uploaded) => uploaded,
            Err(e) if e.kind() == crate::ErrorKind::NotFound && !self.staging_exists(staged) => {
                tracing::error!(
                    "the staging file of {} is gone; its change is dropped",
                    String::from_utf8_lossy(&target.path)
                );
                outbox.settle(target, staged.seq)?;
                return Ok(Sent::Done);
            }
            Err(e) => return Err(e),
        };
        let sent = match (&staged.change, uploaded.sent) {
            (Change::File { staged: id, .. }, Some(stamp)) => Some((*id, stamp)),
            _ => None,
        };
        self.conclude(target, staged, uploaded.outcome, uploaded.unchanged, sent)
    }

    /// Whether a change's staging file (if it has one) is still there.
    fn staging_exists(&self, staged: &Staged) -> bool {
        match staged.change {
            Change::File { staged: id, .. } => self.content.outbox().staged_path(id).exists(),
            _ => true,
        }
    }

    /// Records what the owner did with a change; `stamp`: the staging file
    /// was not written during the delivery; `sent`: which staging file
    /// went, as it was then.
    fn conclude(
        &self,
        target: &Target,
        staged: &Staged,
        outcome: DeliveryOutcome,
        stamp: bool,
        sent: Option<(u64, (u64, i64))>,
    ) -> Result<Sent> {
        let outbox = self.content.outbox();
        match outcome {
            DeliveryOutcome::Applied(version) => {
                if outbox.delivered(target, staged.seq, version)? {
                    if !stamp {
                        // Delivered, then written again: the owner now has
                        // `version`, and the rest goes next.
                        outbox.restage(target, staged.seq)?;
                    } else if let Some((id, stamp)) = sent {
                        self.sent_stamps().insert(id, stamp);
                    }
                }
                tracing::info!(
                    "delivered {} to {}",
                    String::from_utf8_lossy(&target.path),
                    self.owner_of(target)
                );
            }
            DeliveryOutcome::Conflict(copy) => {
                tracing::warn!(
                    "{} had changed on {} too: this device's version is kept there as {}",
                    String::from_utf8_lossy(&target.path),
                    self.owner_of(target),
                    String::from_utf8_lossy(&copy)
                );
                if stamp {
                    outbox.settle(target, staged.seq)?;
                } else {
                    // Written during the delivery: the latest goes too (a
                    // conflict again there, never lost here).
                    outbox.restage(target, staged.seq)?;
                }
            }
            DeliveryOutcome::KeptEdit => {
                tracing::info!(
                    "{}: changed on {} since; its version stays",
                    String::from_utf8_lossy(&target.path),
                    self.owner_of(target)
                );
                outbox.settle(target, staged.seq)?;
            }
            DeliveryOutcome::Refused(why) => {
                tracing::warn!(
                    "{} refused a change to {} (kept here): {why}",
                    self.owner_of(target),
                    String::from_utf8_lossy(&target.path)
                );
                return Ok(Sent::Refused);
            }
        }
        Ok(Sent::Done)
    }

    /// Drops a delivered change once the owner's index shows it (or after
    /// [`SETTLE_WITHIN`]).
    fn settle(&self, target: &Target, staged: &Staged, version: Version) -> Result<()> {
        let outbox = self.content.outbox();
        if let Change::File { staged: id, .. } = staged.change {
            // Written since it was delivered: the rest goes too, never
            // dropped with the staging file.
            let path = outbox.staged_path(id);
            let now = std::fs::File::open(&path)
                .map_err(|e| Error::io(&path, e))
                .and_then(|f| stamp_of(&f))?;
            let sent = self.sent_stamps().get(&id).copied();
            if now != sent.unwrap_or((version.size, version.mtime)) {
                self.sent_stamps().remove(&id);
                outbox.restage(target, staged.seq)?;
                return Ok(());
            }
            if outbox.is_open(id) {
                return Ok(());
            }
        }
        let lib = self.content.library();
        let cloud = target.device == lib.device_id();
        // A paired device's cloud volume: that device stages the change for
        // its bucket, which then gives the object a time of its own.
        let mut bucket = false;
        let now = if cloud {
            // A cloud volume's: this device's own index.
            let location = crate::locations::get_by_id(lib.db(), target.location)?;
            crate::cloud::entry_at(lib, &location, &target.path)?
        } else {
            let view = ReplicaView::new(lib.db(), target.device)?;
            bucket = view
                .location(target.location)?
                .is_some_and(|l| l.is_cloud());
            view.entry_at(target.location, &target.path)?
        };
        let shown = match (&staged.change, now) {
            // A paired device's bucket stamps the object with its own time,
            // which cannot tell a same-sized older version from this one:
            // the content identity can.
            (Change::File { staged: id, .. }, Some((_, r))) if bucket => {
                r.kind == EntryKind::File
                    && r.size == version.size
                    && (r.size == 0
                        || r.content
                            .is_some_and(|c| self.staged_content(*id) == Some(c)))
            }
            (Change::Removed, None) => true,
            (Change::Directory { .. }, Some((_, r))) => r.kind == EntryKind::Directory,
            (Change::File { .. } | Change::Attrs { .. } | Change::Copied { .. }, Some((_, r))) => {
                // A bucket's listing and its HEAD give times at different
                // precisions: to the second there.
                let seconds = |t: i64| t.div_euclid(1_000_000_000);
                let same_time = if cloud {
                    seconds(r.mtime) == seconds(version.mtime)
                } else if bucket {
                    // Attributes a bucket does not keep: what it has.
                    true
                } else {
                    r.mtime == version.mtime
                };
                r.kind == EntryKind::File && r.size == version.size && same_time
            }
            _ => false,
        };
        let waited = crate::time::unix_now_nanos().saturating_sub(staged.changed_at);
        if shown || waited > SETTLE_WITHIN.as_nanos() as i64 {
            if let Change::File { staged: id, .. } = staged.change {
                self.sent_stamps().remove(&id);
            }
            self.content.outbox().settle(target, staged.seq)?;
        }
        Ok(())
    }

    /// The content id (sampled hash) of staging file `id`, as an owner's
    /// index records it.
    fn staged_content(&self, id: u64) -> Option<crate::ids::ContentId> {
        let path = self.content.outbox().staged_path(id);
        let file = std::fs::File::open(&path).ok()?;
        let size = file.metadata().ok()?.len();
        crate::content_hash::content_hash_of_file(&file, size, &mut Vec::new())
            .ok()?
            .hash
            .map(|h| h.content_id())
    }

    fn sent_stamps(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (u64, i64)>> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// (size, mtime) of a staging file: a write in between changes it.
fn stamp_of(file: &std::fs::File) -> Result<(u64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let md = file.metadata().map_err(|e| Error::io("a staged file", e))?;
    Ok((
        md.len(),
        crate::time::stat_nanos(md.mtime(), md.mtime_nsec()),
    ))
}

/// Changes waiting per device, and per cloud volume of this device.
pub fn pending(content: &ContentStore) -> Result<Pending> {
    let own = content.library().device_id();
    let mut devices: HashMap<DeviceId, usize> = HashMap::new();
    let mut volumes: HashMap<LocationId, usize> = HashMap::new();
    for (target, staged) in content.outbox().all()? {
        if staged.delivered.is_some() {
            continue;
        }
        if target.device == own {
            *volumes.entry(target.location).or_default() += 1;
        } else {
            *devices.entry(target.device).or_default() += 1;
        }
    }
    let mut by_device: Vec<_> = devices.into_iter().collect();
    by_device.sort();
    let mut by_volume: Vec<_> = volumes.into_iter().collect();
    by_volume.sort();
    Ok(Pending {
        by_device,
        by_volume,
    })
}
