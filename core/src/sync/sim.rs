//! A seeded simulation of device-owned sync: one owner changing its index
//! and announcing its changes while replicas pull over a network that
//! delays, loses, duplicates and partitions messages, and clocks that
//! disagree. Every seed must end with each replica holding exactly the
//! owner's records: through announcements alone on a clean network, with
//! the periodic pull as the safety net on a faulty one.
//!
//! The libraries are real (redb files in a temp dir); only the network and
//! the clocks are simulated.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use redb::{ReadableDatabase, ReadableTable};

use super::puller::Puller;
use super::{Page, Pull, owner, replica};
use crate::Library;
use crate::indexer::tables::{ApplyCtx, IndexTables};
use crate::library::schema;
use crate::model::entry::{EntryKind, EntryRecord, StatFields};

/// xorshift64*: small, seeded, good enough to pick faults.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone)]
enum Message {
    /// The owner's change log moved: pull now.
    Changed { replica: usize },
    Pull {
        to_owner: usize,
        tag: u64,
        pull: Pull,
    },
    Page {
        replica: usize,
        tag: u64,
        page: Page,
    },
}

struct InFlight {
    at: u64,
    message: Message,
}

struct Faults {
    loss: u64,
    duplicate: u64,
    max_delay: u64,
    /// Between pulls from an owner that announced nothing (ms).
    pull_every: u64,
    /// Chance of a change by the owner every 10 ms, in percent.
    change_percent: u64,
    /// The owner prunes every deletion logged so far this often (ms): a
    /// replica that missed one must resync in full.
    prune_every: Option<u64>,
    /// Replica 1 hears nothing and is heard by no one in this span (ms).
    away: Option<(u64, u64)>,
}

/// Messages on their way, and what happens to them.
struct Network {
    in_flight: Vec<InFlight>,
    rng: Rng,
    faults: Faults,
    partitioned_until: u64,
}

impl Network {
    fn send(&mut self, now: u64, message: Message) {
        if now < self.partitioned_until || self.rng.chance(self.faults.loss) {
            return;
        }
        let to_away = match &message {
            Message::Changed { replica } | Message::Page { replica, .. } => *replica == 1,
            Message::Pull { to_owner, .. } => *to_owner == 1,
        };
        if to_away
            && self
                .faults
                .away
                .is_some_and(|(from, to)| (from..to).contains(&now))
        {
            return;
        }
        if self.rng.chance(self.faults.duplicate) {
            let at = now + self.rng.below(self.faults.max_delay);
            self.in_flight.push(InFlight {
                at,
                message: message.clone(),
            });
        }
        let at = now + self.rng.below(self.faults.max_delay);
        self.in_flight.push(InFlight { at, message });
    }

    /// The messages due by `now`, in no particular order.
    fn due(&mut self, now: u64) -> Vec<Message> {
        let (due, later): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|m| m.at <= now);
        self.in_flight = later;
        due.into_iter().map(|m| m.message).collect()
    }
}

/// Plain metadata of a test entry (the replica's tests use it too).
pub(super) fn stat(kind: EntryKind, size: u64) -> StatFields {
    StatFields {
        kind,
        size,
        mtime: 1,
        dev: 1,
        inode: 1,
        mode: 0o644,
        uid: 0,
        gid: 0,
    }
}

/// The owner's index: a root and changing entries below it.
struct Owner {
    lib: Library,
    live: BTreeSet<u64>,
    dirs: Vec<u64>,
    root: u64,
}

impl Owner {
    fn new(dir: &Path) -> Owner {
        let lib = Library::create(&dir.join("owner.sdlibrary"), "owner").expect("owner");
        let txn = lib.db().begin_write().expect("txn");
        let root = {
            let mut t = IndexTables::open(&txn).expect("tables");
            let root = t.allocate_id().expect("id");
            t.put_entry(
                root,
                &EntryRecord::new(0, b"", &stat(EntryKind::Directory, 0)),
            )
            .expect("root");
            root
        };
        txn.commit().expect("commit");
        Owner {
            lib,
            live: BTreeSet::new(),
            dirs: vec![root],
            root,
        }
    }

    /// A few random creates, edits, moves and deletes in one transaction.
    fn mutate(&mut self, rng: &mut Rng) {
        let txn = self.lib.db().begin_write().expect("txn");
        {
            let mut t = IndexTables::open(&txn).expect("tables");
            let ctx = ApplyCtx {
                job: 0,
                root: self.root,
                root_path: Path::new("/"),
                identify: false,
            };
            for _ in 0..1 + rng.below(8) {
                let pick = self
                    .live
                    .iter()
                    .nth(rng.below(self.live.len() as u64) as usize);
                match (rng.below(10), pick.copied()) {
                    (0..=4, _) | (_, None) => {
                        let id = t.allocate_id().expect("id");
                        let parent = self.dirs[rng.below(self.dirs.len() as u64) as usize];
                        let dir = rng.chance(20);
                        let kind = if dir {
                            EntryKind::Directory
                        } else {
                            EntryKind::File
                        };
                        let name = format!("n{id}");
                        t.put_entry(
                            id,
                            &EntryRecord::new(parent, name.as_bytes(), &stat(kind, 0)),
                        )
                        .expect("create");
                        self.live.insert(id);
                        if dir {
                            self.dirs.push(id);
                        }
                    }
                    (5..=6, Some(id)) => {
                        let mut record = t.get_entry(id).expect("get").expect("live");
                        record.size += 1 + rng.below(1000);
                        t.put_entry(id, &record).expect("edit");
                    }
                    (7, Some(id)) => {
                        // A move: new parent and name (never below itself:
                        // only files move).
                        let mut record = t.get_entry(id).expect("get").expect("live");
                        if record.kind == EntryKind::File {
                            record.parent = self.dirs[rng.below(self.dirs.len() as u64) as usize];
                            record.name = format!("n{id}-{}", rng.below(1000)).into_bytes();
                            t.put_entry(id, &record).expect("move");
                        }
                    }
                    (_, Some(id)) => {
                        let record = t.get_entry(id).expect("get").expect("live");
                        if record.kind == EntryKind::File {
                            t.remove_subtree(&ctx, id).expect("remove");
                            self.live.remove(&id);
                        }
                    }
                }
            }
        }
        txn.commit().expect("commit");
    }

    fn records(&self) -> BTreeMap<u64, Vec<u8>> {
        let txn = self.lib.db().begin_read().expect("read");
        let table = schema::ENTRIES.read(&txn).expect("entries");
        table
            .iter()
            .expect("iter")
            .map(|r| {
                let (k, v) = r.expect("row");
                (k.value(), v.value().to_vec())
            })
            .collect()
    }
}

struct Replica {
    lib: Library,
    puller: Puller,
    /// This replica's clock runs this far ahead of the true time.
    skew: u64,
}

impl Replica {
    fn records(&self, owner: &Library) -> BTreeMap<u64, Vec<u8>> {
        let txn = self.lib.db().begin_read().expect("read");
        let table = txn.open_table(replica::REPLICA_ENTRIES).expect("entries");
        let d = owner.device_id().0.as_u128();
        table
            .range((d, 0)..=(d, u64::MAX))
            .expect("range")
            .map(|r| {
                let (k, v) = r.expect("row");
                (k.value().1, v.value().to_vec())
            })
            .collect()
    }

    /// Every replicated entry is reachable by name from its parent.
    fn tree_is_consistent(&self, owner: &Library) -> bool {
        let view = replica::ReplicaView::new(self.lib.db(), owner.device_id()).expect("view");
        self.records(owner).into_iter().all(|(id, bytes)| {
            let record = EntryRecord::decode(&bytes).expect("decode");
            record.parent == 0
                || view
                    .child(record.parent, &record.name)
                    .expect("child")
                    .is_some_and(|(found, _)| found == id)
        })
    }
}

fn simulate(seed: u64, faults: Faults) {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut rng = Rng(seed | 1);
    let mut owner = Owner::new(tmp.path());
    let mut replicas: Vec<Replica> = (0..2)
        .map(|i| Replica {
            lib: Library::create(
                &tmp.path().join(format!("r{i}.sdlibrary")),
                &format!("r{i}"),
            )
            .expect("replica"),
            // Small pages, so that catching up takes many.
            puller: Puller::new(0, faults.pull_every, 1500).with_limit(7),
            skew: rng.below(5_000),
        })
        .collect();
    let device = owner.lib.device_id();
    let mut net = Network {
        in_flight: Vec::new(),
        rng,
        faults,
        partitioned_until: 0,
    };
    let mut announced = [0; super::Resource::ALL.len()];
    const CHANGING: u64 = 20_000;
    // Faults go on after the changes stop; the replicas must still get there.
    const GIVE_UP: u64 = 3_600_000;
    let mut now = 0;
    let mut expected = BTreeMap::new();
    while now < GIVE_UP {
        if now >= CHANGING && now % 1000 == 0 {
            if expected.is_empty() {
                expected = owner.records();
            }
            if replicas.iter().all(|r| r.records(&owner.lib) == expected) {
                break;
            }
        }
        if now < CHANGING && net.rng.chance(net.faults.change_percent) {
            owner.mutate(&mut net.rng);
        }
        if let Some(every) = net.faults.prune_every
            && now % every == 0
        {
            super::changes::prune_tombstones(owner.lib.db(), i64::MAX).expect("prune");
        }
        if now < CHANGING && now >= net.partitioned_until && net.rng.chance(1) {
            net.partitioned_until = now + net.rng.below(3_000);
        }
        // As the node does on its tick: announce when the log moved.
        if now % 50 == 0 {
            let heads = super::changes::heads(owner.lib.db()).expect("heads");
            if heads != announced {
                announced = heads;
                for replica in 0..replicas.len() {
                    net.send(now, Message::Changed { replica });
                }
            }
        }
        for (i, r) in replicas.iter_mut().enumerate() {
            let local = now + r.skew;
            let lib = &r.lib;
            let marks = || replica::pull_state(lib.db(), device).ok();
            if let Some((tag, (after, resync))) = r.puller.poll(local, marks) {
                let pull = r.puller.pull(after, resync);
                net.send(
                    now,
                    Message::Pull {
                        to_owner: i,
                        tag,
                        pull,
                    },
                );
            }
        }
        for message in net.due(now) {
            match message {
                Message::Changed { replica: i } => {
                    let r = &mut replicas[i];
                    r.puller.poke(now + r.skew);
                }
                Message::Pull {
                    to_owner,
                    tag,
                    pull,
                } => {
                    let page = owner::page(owner.lib.db(), &pull).expect("page");
                    net.send(
                        now,
                        Message::Page {
                            replica: to_owner,
                            tag,
                            page,
                        },
                    );
                }
                Message::Page {
                    replica: i,
                    tag,
                    page,
                } => {
                    let r = &mut replicas[i];
                    replica::apply(r.lib.db(), device, &page).expect("apply");
                    r.puller.on_page(tag, now + r.skew, page.more);
                }
            }
        }
        now += 10;
    }
    assert!(expected.len() > 10, "seed {seed}: the owner did too little");
    for (i, r) in replicas.iter().enumerate() {
        let got = r.records(&owner.lib);
        let wrong: Vec<_> = expected
            .iter()
            .filter(|(k, v)| got.get(k) != Some(v))
            .map(|(k, _)| k)
            .chain(got.keys().filter(|k| !expected.contains_key(k)))
            .take(5)
            .collect();
        assert!(
            wrong.is_empty(),
            "seed {seed}: replica {i} diverged ({} vs {} entries; e.g. {wrong:?})",
            got.len(),
            expected.len()
        );
        assert!(
            r.tree_is_consistent(&owner.lib),
            "seed {seed}: replica {i} tree"
        );
    }
}

/// Seeds to run: `SDFS_SIM_SEEDS`, else `default`.
fn seeds(default: u64) -> u64 {
    std::env::var("SDFS_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn replicas_converge_on_a_lossless_network_by_announcements_alone() {
    for seed in 0..4 {
        simulate(
            0xa11_0000 + seed,
            Faults {
                loss: 0,
                duplicate: 0,
                // Long enough that announcements land while pulls are out.
                max_delay: 800,
                // Never within the run: every change must be announced.
                pull_every: u64::MAX / 2,
                // Changes far apart, so the last often lands while a page
                // built before it is on its way back.
                change_percent: 1,
                prune_every: None,
                away: None,
            },
        );
    }
}

#[test]
fn replicas_converge_despite_loss_duplication_delay_partitions_and_skew() {
    for seed in 0..seeds(8) {
        simulate(
            0x5eed_0000 + seed,
            Faults {
                loss: 15,
                duplicate: 15,
                max_delay: 800,
                // Lost announcements are caught by the periodic pull.
                pull_every: 5_000,
                change_percent: 10,
                prune_every: None,
                away: None,
            },
        );
    }
}

/// A replica away while the owner deletes and prunes those deletions (a
/// device offline for longer than the tombstone window) must resync in
/// full and end with exactly the owner's records: nothing deleted meanwhile
/// lingers. The other replica, pruned under while it pulls, too.
#[test]
fn a_replica_away_past_the_tombstone_window_resyncs_in_full() {
    for seed in 0..seeds(6) {
        simulate(
            0x70b5_0000 + seed,
            Faults {
                loss: 10,
                duplicate: 10,
                max_delay: 800,
                pull_every: 5_000,
                change_percent: 10,
                prune_every: Some(3_000),
                away: Some((2_000, 15_000)),
            },
        );
    }
}
