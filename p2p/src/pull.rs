//! Keeping replicas of paired devices current: one [`Puller`] per
//! connected paired device, driven by the node's clock; pages are applied
//! on the blocking pool, one at a time per device.

use std::time::Instant;

use libp2p::PeerId;
use libp2p::request_response::OutboundRequestId;
use sdfs_core::ids::DeviceId;
use sdfs_core::sync::puller::{Millis, Puller};
use sdfs_core::sync::{Page, replica};

use crate::node::{Internal, State};
use crate::protocol::{SyncRequest, SyncResponse};

/// Between pulls from a device that has said nothing changed, by default
/// (`sd daemon --sync-every`). Devices announce their changes
/// ([`SyncRequest::Changed`]), so this is the safety net for an
/// announcement lost on the way, not what makes changes show.
pub const PULL_EVERY: Millis = 5_000;
/// A pull unanswered this long is given up and retried.
const PULL_TIMEOUT: Millis = 30_000;

/// Sync with one connected paired device.
pub(crate) struct PeerSync {
    pub device: DeviceId,
    /// Its device-owned data.
    pub puller: Puller,
    /// Shared data (any origin, relayed).
    pub shared: Puller,
}

/// Which of a device's two schedules a pull belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PullKind {
    Owned,
    Shared,
}

/// What `sd status` shows of sync.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SyncCounters {
    pub pages_received: u64,
    pub items_received: u64,
    pub bytes_received: u64,
    pub pages_served: u64,
    pub bytes_served: u64,
}

impl PeerSync {
    fn schedule(&mut self, kind: PullKind) -> &mut Puller {
        match kind {
            PullKind::Owned => &mut self.puller,
            PullKind::Shared => &mut self.shared,
        }
    }
}

impl State {
    pub(crate) fn millis(&self) -> Millis {
        Instant::now().duration_since(self.started).as_millis() as Millis
    }

    /// Starts syncing with `peer` if it is a paired device.
    pub(crate) fn start_sync(&mut self, peer: PeerId) {
        let Some(device) = self.paired_devices.get(&peer).copied() else {
            return;
        };
        if self.syncing.contains_key(&peer) {
            return;
        }
        let now = self.millis();
        self.syncing.insert(
            peer,
            PeerSync {
                device,
                puller: Puller::new(now, self.pull_every, PULL_TIMEOUT),
                shared: Puller::new(now, self.pull_every, PULL_TIMEOUT),
            },
        );
        // Its first pull may have left before our latest change, announced
        // while it was not syncing with us yet.
        self.announce_to(peer);
    }

    fn announce_to(&mut self, peer: PeerId) {
        self.swarm
            .behaviour_mut()
            .sync
            .send_request(&peer, SyncRequest::Changed);
    }

    /// `peer` announced a change: its pulls are due now.
    pub(crate) fn poke(&mut self, peer: PeerId) {
        let now = self.millis();
        if let Some(sync) = self.syncing.get_mut(&peer) {
            sync.puller.poke(now);
            sync.shared.poke(now);
        }
        self.drive_pulls();
    }

    /// Tells the paired devices syncing with us that something we own or
    /// relay changed since we last told them, so they pull at once. Reads
    /// two small tables; sends nothing while nothing changes.
    pub(crate) fn announce_changes(&mut self) {
        if self.syncing.is_empty() {
            return;
        }
        let db = self.lib.db();
        let heads = match (
            sdfs_core::sync::changes::heads(db),
            sdfs_core::shared::store::version_vector(db),
        ) {
            (Ok(owned), Ok(shared)) => (owned, shared),
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!("p2p: reading what changed: {e}");
                return;
            }
        };
        if self.announced.as_ref() == Some(&heads) {
            return;
        }
        self.announced = Some(heads);
        let peers: Vec<PeerId> = self.syncing.keys().copied().collect();
        for peer in peers {
            self.announce_to(peer);
        }
    }

    /// Sends the pulls that are due.
    pub(crate) fn drive_pulls(&mut self) {
        let now = self.millis();
        let db = std::sync::Arc::clone(self.lib.db());
        let mut due = Vec::new();
        for (peer, sync) in &mut self.syncing {
            if self.applying.contains(&(*peer, PullKind::Owned)) {
                continue;
            }
            let device = sync.device;
            if let Some((tag, after)) = sync
                .puller
                .poll(now, || replica::pull_state(&db, device).ok())
            {
                let (after, resync) = after;
                due.push((
                    *peer,
                    tag,
                    PullKind::Owned,
                    SyncRequest::Pull(sync.puller.pull(after, resync)),
                ));
            }
        }
        for (peer, sync) in &mut self.syncing {
            if self.applying.contains(&(*peer, PullKind::Shared)) {
                continue;
            }
            if let Some((tag, have)) = sync
                .shared
                .poll(now, || sdfs_core::shared::store::version_vector(&db).ok())
            {
                due.push((*peer, tag, PullKind::Shared, SyncRequest::Shared { have }));
            }
        }
        for (peer, tag, kind, request) in due {
            let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
            self.pulls.insert(id, (peer, tag, kind));
        }
    }

    pub(crate) fn on_pull_response(
        &mut self,
        peer: PeerId,
        request_id: OutboundRequestId,
        response: SyncResponse,
    ) {
        let Some((_, tag, kind)) = self.pulls.remove(&request_id) else {
            return;
        };
        let Some(device) = self.syncing.get(&peer).map(|s| s.device) else {
            return;
        };
        let page = match (kind, response) {
            (PullKind::Owned, SyncResponse::Page(page)) => page,
            (PullKind::Shared, SyncResponse::Shared { ops, more }) => {
                self.applying.insert((peer, PullKind::Shared));
                let lib = std::sync::Arc::clone(&self.lib);
                let internal = self.internal.clone();
                tokio::task::spawn_blocking(move || {
                    let result = sdfs_core::shared::store::receive(lib.db(), lib.device_id(), &ops)
                        .map_err(|e| e.to_string());
                    let _ = internal.send(Internal::SharedApplied {
                        peer,
                        tag,
                        more,
                        result,
                    });
                });
                return;
            }
            (_, other) => {
                let why = match other {
                    SyncResponse::Refused(reason) => reason,
                    _ => "an answer of the wrong kind".into(),
                };
                tracing::warn!("p2p: {peer} refused to sync: {why}");
                let now = self.millis();
                if let Some(s) = self.syncing.get_mut(&peer) {
                    s.schedule(kind).on_failure(tag, now);
                }
                return;
            }
        };
        self.counters.pages_received += 1;
        self.counters.items_received += page.items() as u64;
        self.counters.bytes_received += encoded_len(&page);
        self.applying.insert((peer, PullKind::Owned));
        let lib = std::sync::Arc::clone(&self.lib);
        let internal = self.internal.clone();
        if page.resync.is_some() {
            tracing::info!(
                "device {device}: away past its tombstone window (deletions we never saw are pruned); resyncing in full"
            );
        }
        tokio::task::spawn_blocking(move || {
            let more = page.more;
            let result = replica::apply(lib.db(), device, &page).map_err(|e| e.to_string());
            let _ = internal.send(Internal::Applied {
                peer,
                device,
                tag,
                more,
                result,
            });
        });
    }

    pub(crate) fn on_applied(
        &mut self,
        peer: PeerId,
        device: DeviceId,
        tag: u64,
        more: bool,
        result: Result<replica::Applied, String>,
    ) {
        self.applying.remove(&(peer, PullKind::Owned));
        let now = self.millis();
        let Some(sync) = self.syncing.get_mut(&peer) else {
            return;
        };
        match result {
            Ok(applied) => {
                sync.puller.on_page(tag, now, more);
                if applied.items > 0
                    && let Some(observer) = &self.on_applied
                {
                    observer(device, &applied);
                }
            }
            Err(e) => {
                tracing::warn!("p2p: a page from {peer} was refused: {e}");
                sync.puller.on_failure(tag, now);
            }
        }
    }

    pub(crate) fn on_shared_applied(
        &mut self,
        peer: PeerId,
        tag: u64,
        more: bool,
        result: Result<usize, String>,
    ) {
        self.applying.remove(&(peer, PullKind::Shared));
        let now = self.millis();
        let Some(sync) = self.syncing.get_mut(&peer) else {
            return;
        };
        match result {
            Ok(_) => {
                sync.shared.on_page(tag, now, more);
            }
            Err(e) => {
                tracing::warn!("p2p: shared data from {peer} was refused: {e}");
                sync.shared.on_failure(tag, now);
            }
        }
    }

    pub(crate) fn on_pull_failure(&mut self, request_id: OutboundRequestId, error: &str) {
        let Some((peer, tag, kind)) = self.pulls.remove(&request_id) else {
            return;
        };
        tracing::debug!("p2p: pull from {peer} failed: {error}");
        let now = self.millis();
        if let Some(s) = self.syncing.get_mut(&peer) {
            s.schedule(kind).on_failure(tag, now);
        }
    }

    pub(crate) fn count_served(&mut self, response: &SyncResponse) {
        if let SyncResponse::Page(page) = response {
            self.counters.pages_served += 1;
            self.counters.bytes_served += encoded_len(page);
        }
    }
}

fn encoded_len(page: &Page) -> u64 {
    postcard::experimental::serialized_size(page).unwrap_or(0) as u64
}
