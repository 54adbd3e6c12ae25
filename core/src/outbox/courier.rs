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
use crate::ids::DeviceId;
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

/// Files up to this size are read whole to build their manifest (and a
/// new one sent inline).
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
}

/// Delivers the outbox of one library through a link to other devices.
pub struct Courier {
    content: Arc<ContentStore>,
    link: Arc<dyn PeerLink>,
    timeout: Duration,
    /// Devices not to try before the instant, and the pause after it.
    retry: HashMap<DeviceId, (Instant, Duration)>,
}

impl Courier {
    pub fn new(content: Arc<ContentStore>, link: Arc<dyn PeerLink>) -> Courier {
        Courier {
            content,
            link,
            timeout: DELIVERY_TIMEOUT,
            retry: HashMap::new(),
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
            self.retry.remove(&device);
        }
        let now = Instant::now();
        let mut held: HashSet<DeviceId> = self
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
            if held.contains(&target.device) {
                at += 1;
                continue;
            }
            let window = self.window(&all[at..], &outbox);
            if window == 0 {
                // Still being written: later, after it.
                held.insert(target.device);
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
                match result {
                    Ok(Sent::Done) => {
                        self.retry.remove(&target.device);
                    }
                    Ok(Sent::NotYet) => {
                        held.insert(target.device);
                        next = next.min(Duration::from_millis(200));
                    }
                    Ok(Sent::Refused) => {
                        self.back_off(target.device, Some(AFTER_REFUSAL));
                        held.insert(target.device);
                    }
                    Err(e) => {
                        tracing::info!(
                            "delivering {} to {}: {e}",
                            String::from_utf8_lossy(&target.path),
                            target.device
                        );
                        if !held.contains(&target.device) {
                            self.back_off(target.device, None);
                        }
                        held.insert(target.device);
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
        let ready = |(target, staged): &(Target, Staged)| match staged.change {
            Change::File { staged: id, .. } => {
                staged.delivered.is_none()
                    && target.device == rest[0].0.device
                    && outbox.is_settled(id)
            }
            _ => false,
        };
        match rest.first() {
            Some((_, first)) if !matches!(first.change, Change::File { .. }) => 1,
            Some(first) if !ready(first) => 0,
            _ => rest.iter().take(IN_FLIGHT).take_while(|r| ready(r)).count(),
        }
    }

    fn back_off(&mut self, device: DeviceId, pause: Option<Duration>) {
        let last = self.retry.get(&device).map(|(_, p)| *p);
        let pause = pause.unwrap_or_else(|| match last {
            Some(p) => (p * 2).min(RETRY_LAST),
            None => RETRY_FIRST,
        });
        self.retry.insert(device, (Instant::now() + pause, pause));
    }

    /// Delivers one change.
    fn deliver(&self, target: &Target, staged: &Staged) -> Result<Sent> {
        let outbox = Arc::clone(self.content.outbox());
        let location = target.location.0.as_u128();
        let delivery = |change| Delivery {
            location,
            path: target.path.clone(),
            change,
            base: staged.base,
        };
        let (outcome, stamp) = match &staged.change {
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
                // Most files are read whole: the manifest is built from the
                // bytes in hand, which then travel with the delivery when
                // the file is new (below), without a second read.
                let whole = if before.0 <= WHOLE_READ {
                    let mut bytes = Vec::with_capacity(before.0 as usize);
                    std::io::Read::read_to_end(&mut &file, &mut bytes)
                        .map_err(|e| Error::io(&path, e))?;
                    Some(bytes)
                } else {
                    None
                };
                let built = match &whole {
                    Some(bytes) => sdfs_cas::build_from_slice(bytes, &sdfs_cas::Discard),
                    None => sdfs_cas::build_from_reader(&file, &sdfs_cas::Discard),
                };
                let manifest = built.map_err(|e| match e {
                    sdfs_cas::build::BuildError::Io(e) => Error::io(&path, e),
                    sdfs_cas::build::BuildError::Sink(never) => match never {},
                })?;
                // Small files go with their delivery, and so does a new
                // file read whole: its owner has no earlier version to
                // share chunks with, so asking for them would only add
                // round trips. An edit of a larger file sends only its
                // manifest, and the owner asks for what it lacks.
                let inline = match whole {
                    Some(bytes)
                        if staged.base.is_none()
                            || bytes.len() as u64 <= crate::remote::INLINE_DELIVERY =>
                    {
                        bytes
                    }
                    _ => Vec::new(),
                };
                if stamp_of(&file)? != before {
                    return Ok(Sent::NotYet);
                }
                let _offer = outbox.offer(*id, target.device);
                let outcome = self.link.deliver(
                    target.device,
                    &delivery(DeliveredChange::File {
                        manifest: manifest.encode(),
                        staged: *id,
                        mode: *mode,
                        mtime: before.1,
                        inline,
                    }),
                    self.timeout,
                );
                // Written meanwhile: what the owner got is not the latest.
                let after = stamp_of(&file).ok();
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
        match outcome {
            DeliveryOutcome::Applied(version) => {
                if outbox.delivered(target, staged.seq, version)? && !stamp {
                    // Delivered, then written again: the owner now has
                    // `version`, and the rest goes next.
                    outbox.restage(target, staged.seq)?;
                }
                tracing::info!(
                    "delivered {} to {}",
                    String::from_utf8_lossy(&target.path),
                    target.device
                );
            }
            DeliveryOutcome::Conflict(copy) => {
                tracing::warn!(
                    "{} had changed on {} too: this device's version is kept there as {}",
                    String::from_utf8_lossy(&target.path),
                    target.device,
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
                    target.device
                );
                outbox.settle(target, staged.seq)?;
            }
            DeliveryOutcome::Refused(why) => {
                tracing::warn!(
                    "{} refused a change to {} (kept here): {why}",
                    target.device,
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
            if now != (version.size, version.mtime) {
                outbox.restage(target, staged.seq)?;
                return Ok(());
            }
            if outbox.is_open(id) {
                return Ok(());
            }
        }
        let view = ReplicaView::new(self.content.library().db(), target.device)?;
        let now = view.entry_at(target.location, &target.path)?;
        let shown = match (&staged.change, now) {
            (Change::Removed, None) => true,
            (Change::Directory { .. }, Some((_, r))) => r.kind == EntryKind::Directory,
            (Change::File { .. } | Change::Attrs { .. }, Some((_, r))) => {
                r.kind == EntryKind::File && r.size == version.size && r.mtime == version.mtime
            }
            _ => false,
        };
        let waited = crate::time::unix_now_nanos().saturating_sub(staged.changed_at);
        if shown || waited > SETTLE_WITHIN.as_nanos() as i64 {
            self.content.outbox().settle(target, staged.seq)?;
        }
        Ok(())
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

/// Changes waiting per device.
pub fn pending(content: &ContentStore) -> Result<Pending> {
    let mut counts: HashMap<DeviceId, usize> = HashMap::new();
    for (target, staged) in content.outbox().all()? {
        if staged.delivered.is_none() {
            *counts.entry(target.device).or_default() += 1;
        }
    }
    let mut by_device: Vec<_> = counts.into_iter().collect();
    by_device.sort();
    Ok(Pending { by_device })
}
