//! Tag assignments: an observed-remove set per file. `add` is an
//! operation; `remove` names the adds it has seen; the tags of a file are
//! its adds that no remove took away.

use std::collections::{BTreeMap, BTreeSet};

use redb::{Database, ReadableDatabase, ReadableTable};

use super::store::{self, SharedTables, TAG_ADDS, TAG_REMOVED, target_range};
use super::{Hlc, Op, SharedOp, Target, validate_tag};
use crate::error::Result;
use crate::ids::DeviceId;

/// The tags of `target`, sorted.
pub fn tags_of(db: &Database, target: Target) -> Result<Vec<String>> {
    let txn = db.begin_read()?;
    let adds = txn.open_table(TAG_ADDS)?;
    let removed = txn.open_table(TAG_REMOVED)?;
    let (lo, hi) = target_range(target);
    let mut out = BTreeSet::new();
    for row in adds.range(lo..hi)? {
        let (k, _) = row?;
        let (_, _, tag, wall, counter, device) = k.value();
        if removed.get((wall, counter, device))?.is_none() {
            out.insert(tag.to_owned());
        }
    }
    Ok(out.into_iter().collect())
}

/// Every tagged file with its tags.
pub fn all(db: &Database) -> Result<BTreeMap<Target, Vec<String>>> {
    let txn = db.begin_read()?;
    let adds = txn.open_table(TAG_ADDS)?;
    let removed = txn.open_table(TAG_REMOVED)?;
    let mut out: BTreeMap<Target, BTreeSet<String>> = BTreeMap::new();
    for row in adds.iter()? {
        let (k, _) = row?;
        let (device, entry, tag, wall, counter, dot) = k.value();
        if removed.get((wall, counter, dot))?.is_none() {
            let target = Target {
                device: DeviceId(uuid::Uuid::from_u128(device)),
                entry,
            };
            out.entry(target).or_default().insert(tag.to_owned());
        }
    }
    Ok(out
        .into_iter()
        .map(|(t, tags)| (t, tags.into_iter().collect()))
        .collect())
}

/// The live adds of `tag` on `target` (what a remove must name).
fn live_adds(tables: &SharedTables<'_>, target: Target, tag: &str) -> Result<Vec<Hlc>> {
    let d = target.device.0.as_u128();
    let lo = (d, target.entry, tag, 0u64, 0u32, 0u128);
    let hi = (d, target.entry, tag, u64::MAX, u32::MAX, u128::MAX);
    let stamps = tables.adds.range(lo..=hi)?.map(|row| {
        let (_, _, _, wall_ms, counter, device) = row?.0.value();
        Ok((wall_ms, counter, device))
    });
    store::live_stamps(&tables.removed, stamps)
}

/// Makes `target`'s tags exactly `wanted`: adds what is missing, removes
/// what is extra (each remove names the adds this device has seen).
pub fn set(
    db: &Database,
    me: DeviceId,
    target: Target,
    wanted: &[String],
) -> Result<Vec<SharedOp>> {
    for tag in wanted {
        validate_tag(tag)?;
    }
    let current = tags_of(db, target)?;
    let add: Vec<&String> = wanted.iter().filter(|t| !current.contains(t)).collect();
    let remove: Vec<&String> = current.iter().filter(|t| !wanted.contains(t)).collect();
    edit(db, me, target, &add, &remove)
}

/// Adds `tags` to `target`.
pub fn add(db: &Database, me: DeviceId, target: Target, tags: &[String]) -> Result<Vec<SharedOp>> {
    for tag in tags {
        validate_tag(tag)?;
    }
    let add: Vec<&String> = tags.iter().collect();
    edit(db, me, target, &add, &[])
}

/// Removes `tags` from `target`.
pub fn remove(
    db: &Database,
    me: DeviceId,
    target: Target,
    tags: &[String],
) -> Result<Vec<SharedOp>> {
    let remove: Vec<&String> = tags.iter().collect();
    edit(db, me, target, &[], &remove)
}

fn edit(
    db: &Database,
    me: DeviceId,
    target: Target,
    add: &[&String],
    remove: &[&String],
) -> Result<Vec<SharedOp>> {
    store::record_local(db, me, |tables| {
        let mut ops = Vec::new();
        for tag in add {
            ops.push(Op::TagAdd {
                target,
                tag: (*tag).clone(),
            });
        }
        for tag in remove {
            let adds = live_adds(tables, target, tag)?;
            if !adds.is_empty() {
                ops.push(Op::TagRemove {
                    target,
                    tag: (*tag).clone(),
                    adds,
                });
            }
        }
        Ok(ops)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Library;
    use proptest::prelude::*;

    fn libs(n: usize) -> (tempfile::TempDir, Vec<Library>) {
        let tmp = tempfile::tempdir().expect("tmp");
        let libs = (0..n)
            .map(|i| {
                Library::create(
                    &tmp.path().join(format!("l{i}.sdlibrary")),
                    &format!("d{i}"),
                )
                .expect("lib")
            })
            .collect();
        (tmp, libs)
    }

    fn exchange(from: &Library, to: &Library) {
        let have = store::version_vector(to.db()).expect("vv");
        let (ops, _) = store::ops_after(from.db(), &have, usize::MAX).expect("ops");
        store::receive(to.db(), to.device_id(), &ops).expect("receive");
    }

    #[test]
    fn a_device_whose_clock_runs_ahead_is_refused_and_leaves_nothing() {
        let (_tmp, l) = libs(1);
        let target = Target {
            device: l[0].device_id(),
            entry: 7,
        };
        let now = (crate::time::unix_now_nanos() / 1_000_000) as u64;
        let liar = 0xbad_u128;
        let op = |ahead_ms: u64| SharedOp {
            hlc: Hlc {
                wall_ms: now + ahead_ms,
                counter: 0,
                device: liar,
            },
            op: Op::TagAdd {
                target,
                tag: "late".into(),
            },
        };
        // 10 s ahead: refused whole, nothing held, our clock untouched.
        let err = store::receive(l[0].db(), l[0].device_id(), &[op(10_000)]).expect_err("refused");
        assert!(err.to_string().contains("ms ahead"), "{err}");
        assert!(store::version_vector(l[0].db()).expect("vv").is_empty());
        assert!(tags_of(l[0].db(), target).expect("tags").is_empty());
        add(l[0].db(), l[0].device_id(), target, &["mine".into()]).expect("add");
        let vv = store::version_vector(l[0].db()).expect("vv");
        assert!(vv.iter().all(|(_, h)| h.wall_ms < now + 10_000));
        // Within the bound it is taken.
        assert_eq!(
            store::receive(l[0].db(), l[0].device_id(), &[op(100)]).expect("taken"),
            1
        );
    }

    #[test]
    fn concurrent_adds_are_a_union_and_a_remove_takes_only_what_it_saw() {
        let (_tmp, l) = libs(2);
        let target = Target {
            device: l[1].device_id(),
            entry: 42,
        };
        add(l[0].db(), l[0].device_id(), target, &["red".into()]).expect("add");
        add(l[1].db(), l[1].device_id(), target, &["blue".into()]).expect("add");
        exchange(&l[0], &l[1]);
        exchange(&l[1], &l[0]);
        for lib in &l {
            assert_eq!(tags_of(lib.db(), target).expect("tags"), ["blue", "red"]);
        }
        // A removes red while B, unaware, adds red again: B's add survives.
        remove(l[0].db(), l[0].device_id(), target, &["red".into()]).expect("rm");
        add(l[1].db(), l[1].device_id(), target, &["red".into()]).expect("add");
        exchange(&l[0], &l[1]);
        exchange(&l[1], &l[0]);
        for lib in &l {
            assert_eq!(tags_of(lib.db(), target).expect("tags"), ["blue", "red"]);
        }
        // Now a remove that saw both adds takes red away everywhere.
        remove(l[1].db(), l[1].device_id(), target, &["red".into()]).expect("rm");
        exchange(&l[1], &l[0]);
        for lib in &l {
            assert_eq!(tags_of(lib.db(), target).expect("tags"), ["blue"]);
        }
    }

    #[test]
    fn settled_operations_are_pruned_once_every_peer_has_them() {
        let (_tmp, l) = libs(2);
        let target = Target {
            device: l[0].device_id(),
            entry: 1,
        };
        add(
            l[0].db(),
            l[0].device_id(),
            target,
            &["x".into(), "y".into()],
        )
        .expect("add");
        remove(l[0].db(), l[0].device_id(), target, &["x".into()]).expect("rm");
        assert_eq!(store::log_len(l[0].db()).expect("len"), 3);
        let peers = [l[1].device_id()];
        // The peer has not pulled yet: nothing goes.
        let none = store::version_vector(l[1].db()).expect("vv");
        assert_eq!(
            store::acknowledge(l[0].db(), l[1].device_id(), &none, &peers).expect("ack"),
            0
        );
        exchange(&l[0], &l[1]);
        let have = store::version_vector(l[1].db()).expect("vv");
        // The add of x and its remove go; the live add of y stays.
        assert_eq!(
            store::acknowledge(l[0].db(), l[1].device_id(), &have, &peers).expect("ack"),
            2
        );
        assert_eq!(store::log_len(l[0].db()).expect("len"), 1);
        assert_eq!(tags_of(l[0].db(), target).expect("tags"), ["y"]);
        // A device that pairs later still learns y.
        let (_tmp2, late) = libs(1);
        exchange(&l[0], &late[0]);
        assert_eq!(tags_of(late[0].db(), target).expect("tags"), ["y"]);
    }

    #[test]
    fn a_replayed_old_add_never_comes_back_after_its_remove_was_pruned() {
        let (_tmp, l) = libs(2);
        let target = Target {
            device: l[0].device_id(),
            entry: 1,
        };
        add(l[0].db(), l[0].device_id(), target, &["x".into()]).expect("add");
        // The add as it travelled, kept by someone (a relay, a stale peer).
        let (old, _) = store::ops_after(l[0].db(), &Vec::new(), usize::MAX).expect("ops");
        remove(l[0].db(), l[0].device_id(), target, &["x".into()]).expect("rm");
        exchange(&l[0], &l[1]);
        let peers = [l[1].device_id()];
        let have = store::version_vector(l[1].db()).expect("vv");
        store::acknowledge(l[0].db(), l[1].device_id(), &have, &peers).expect("ack");
        assert_eq!(store::log_len(l[0].db()).expect("len"), 0, "both pruned");
        // Replayed to both: the version vector knows it, the tag stays off.
        for lib in &l {
            assert_eq!(
                store::receive(lib.db(), lib.device_id(), &old).expect("receive"),
                0
            );
            assert!(tags_of(lib.db(), target).expect("tags").is_empty());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Whatever three devices do, in whatever order they then exchange
        /// (repeatedly, duplicated, relayed), they end with the same tags:
        /// the merge is commutative, associative and idempotent.
        #[test]
        fn replicas_converge_whatever_the_order(
            edits in proptest::collection::vec((0usize..3, any::<bool>(), 0usize..3), 1..25),
            order in proptest::collection::vec((0usize..3, 0usize..3), 0..30),
        ) {
            let (_tmp, l) = libs(3);
            let target = Target { device: l[0].device_id(), entry: 7 };
            let names = ["a", "b", "c"];
            for (i, (dev, is_add, tag)) in edits.iter().enumerate() {
                let lib = &l[*dev];
                let tag = vec![names[*tag].to_owned()];
                if *is_add {
                    add(lib.db(), lib.device_id(), target, &tag).expect("add");
                } else {
                    remove(lib.db(), lib.device_id(), target, &tag).expect("rm");
                }
                if let Some((from, to)) = order.get(i) && from != to {
                    exchange(&l[*from], &l[*to]);
                }
            }
            // Then everyone talks to everyone, twice.
            for _ in 0..2 {
                for from in 0..3 {
                    for to in 0..3 {
                        if from != to {
                            exchange(&l[from], &l[to]);
                        }
                    }
                }
            }
            let first = tags_of(l[0].db(), target).expect("tags");
            for lib in &l[1..] {
                prop_assert_eq!(&tags_of(lib.db(), target).expect("tags"), &first);
            }
        }
    }
}
