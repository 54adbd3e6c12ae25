//! The tag hierarchy: "CHILD is a kind of PARENT" edges, an observed-remove
//! set like tag assignments, so concurrent edits merge the same way on
//! every device. A file tagged with a tag is found under every ancestor.
//! Edges made here never close a cycle; edges made concurrently on two
//! devices may, so every walk keeps a visited set.

use std::collections::{BTreeMap, BTreeSet};

use redb::{Database, ReadableDatabase, ReadableTable};

use super::store::{self, SharedTables, TAG_PARENTS, TAG_REMOVED};
use super::{Hlc, Op, SharedOp, validate_tag};
use crate::error::{Error, Result};
use crate::ids::DeviceId;

/// Each tag's parents (tags with none are absent).
pub type Parents = BTreeMap<String, BTreeSet<String>>;

/// Every live edge, by child.
pub fn parents(db: &Database) -> Result<Parents> {
    let txn = db.begin_read()?;
    let edges = txn.open_table(TAG_PARENTS)?;
    let removed = txn.open_table(TAG_REMOVED)?;
    let mut out = Parents::new();
    for row in edges.iter()? {
        let key = row?.0;
        let (child, parent, wall, counter, device) = key.value();
        if removed.get((wall, counter, device))?.is_none() {
            out.entry(child.to_owned())
                .or_default()
                .insert(parent.to_owned());
        }
    }
    Ok(out)
}

/// `tag` and every tag below it.
pub fn descendants(parents: &Parents, tag: &str) -> BTreeSet<String> {
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (child, ps) in parents {
        for p in ps {
            children.entry(p.as_str()).or_default().push(child.as_str());
        }
    }
    let mut out = BTreeSet::from([tag.to_owned()]);
    let mut stack = vec![tag];
    while let Some(t) = stack.pop() {
        for c in children.get(t).into_iter().flatten() {
            if out.insert((*c).to_owned()) {
                stack.push(c);
            }
        }
    }
    out
}

/// `tag` and every tag above it.
pub fn ancestors(parents: &Parents, tag: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::from([tag.to_owned()]);
    let mut stack = vec![tag.to_owned()];
    while let Some(t) = stack.pop() {
        for p in parents.get(&t).into_iter().flatten() {
            if out.insert(p.clone()) {
                stack.push(p.clone());
            }
        }
    }
    out
}

/// Makes `child` a kind of `parent`. Refused when `parent` is `child` or
/// already below it (the hierarchy would loop).
pub fn add_parent(db: &Database, me: DeviceId, child: &str, parent: &str) -> Result<Vec<SharedOp>> {
    validate_tag(child)?;
    validate_tag(parent)?;
    if ancestors(&parents(db)?, parent).contains(child) {
        return Err(Error::InvalidInput(format!(
            "{parent:?} is already {child:?} or below it: the hierarchy would loop"
        )));
    }
    store::record_local(db, me, |_| {
        Ok(vec![Op::TagParent {
            child: child.to_owned(),
            parent: parent.to_owned(),
        }])
    })
}

/// Makes `child` no longer a kind of `parent` (the edges this device has
/// seen).
pub fn remove_parent(
    db: &Database,
    me: DeviceId,
    child: &str,
    parent: &str,
) -> Result<Vec<SharedOp>> {
    store::record_local(db, me, |tables| {
        let adds = live_edges(tables, child, parent)?;
        Ok(if adds.is_empty() {
            Vec::new()
        } else {
            vec![Op::TagUnparent {
                child: child.to_owned(),
                parent: parent.to_owned(),
                adds,
            }]
        })
    })
}

fn live_edges(tables: &SharedTables<'_>, child: &str, parent: &str) -> Result<Vec<Hlc>> {
    let lo = (child, parent, 0u64, 0u32, 0u128);
    let hi = (child, parent, u64::MAX, u32::MAX, u128::MAX);
    let stamps = tables.parents.range(lo..=hi)?.map(|row| {
        let (_, _, wall_ms, counter, device) = row?.0.value();
        Ok((wall_ms, counter, device))
    });
    store::live_stamps(&tables.removed, stamps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::Library;

    fn lib(dir: &std::path::Path, name: &str) -> Library {
        Library::create(&dir.join(name), name).expect("library")
    }

    #[test]
    fn a_hierarchy_merges_across_devices_and_never_loops_here() {
        let tmp = tempfile::tempdir().expect("tmp");
        let a = lib(tmp.path(), "a");
        let b = lib(tmp.path(), "b");
        let ops = add_parent(a.db(), a.device_id(), "beach", "holiday").expect("edge");
        add_parent(a.db(), a.device_id(), "holiday", "travel").expect("edge");
        let err = add_parent(a.db(), a.device_id(), "travel", "beach").expect_err("loop");
        assert!(err.to_string().contains("loop"), "{err}");
        assert!(add_parent(a.db(), a.device_id(), "x", "x").is_err());
        let all = parents(a.db()).expect("parents");
        assert_eq!(
            descendants(&all, "travel"),
            BTreeSet::from(["beach".into(), "holiday".into(), "travel".into()])
        );
        assert_eq!(ancestors(&all, "beach").len(), 3);

        // Another device learns the edges, and takes one away while this
        // one adds it again concurrently: the add it never saw survives.
        let mut ops = ops;
        ops.extend(add_parent(a.db(), a.device_id(), "surf", "beach").expect("edge"));
        store::receive(b.db(), b.device_id(), &ops).expect("receive");
        let removal = remove_parent(b.db(), b.device_id(), "surf", "beach").expect("remove");
        assert_eq!(removal.len(), 1);
        let again = add_parent(a.db(), a.device_id(), "surf", "beach").expect("again");
        store::receive(a.db(), a.device_id(), &removal).expect("receive");
        store::receive(b.db(), b.device_id(), &again).expect("receive");
        for db in [a.db(), b.db()] {
            let p = parents(db).expect("parents");
            assert!(descendants(&p, "beach").contains("surf"));
        }

        // Loops made on two devices at once are walked safely.
        let mut looped = Parents::new();
        looped.entry("x".into()).or_default().insert("y".into());
        looped.entry("y".into()).or_default().insert("x".into());
        assert_eq!(descendants(&looped, "x").len(), 2);
        assert_eq!(ancestors(&looped, "y").len(), 2);
    }
}
