//! Shared operations in the library: the log, the version vector, what
//! peers acknowledged, and the materialised tag state, all changed in one
//! transaction per batch.

use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};

use super::{Hlc, Op, SharedOp, Target, VersionVector, validate_tag};
use crate::error::{Error, Result};
use crate::ids::DeviceId;
use crate::library::schema;

/// `(origin, wall, counter)` → [`SharedOp`] (postcard).
pub const SHARED_LOG: TableDefinition<'_, (u128, u64, u32), &[u8]> =
    TableDefinition::new("shared_log");
/// Origin → the latest stamp applied from it (never goes back, even when
/// the log is pruned).
pub const SHARED_VV: TableDefinition<'_, u128, (u64, u32)> = TableDefinition::new("shared_vv");
/// `(peer, origin)` → the latest stamp of `origin` the peer holds.
pub const SHARED_ACKS: TableDefinition<'_, (u128, u128), (u64, u32)> =
    TableDefinition::new("shared_acks");
/// `(device, entry, tag, add stamp (wall, counter, device))`.
pub(crate) type TagAddKey = (u128, u64, &'static str, u64, u32, u128);

/// [`TagAddKey`] → (): every add of a tag.
pub const TAG_ADDS: TableDefinition<'_, (u128, u64, &str, u64, u32, u128), ()> =
    TableDefinition::new("tag_adds");
/// `(child, parent, add stamp (wall, counter, device))` → (): every
/// "CHILD is a kind of PARENT" edge of the tag hierarchy.
pub const TAG_PARENTS: TableDefinition<'_, (&str, &str, u64, u32, u128), ()> =
    TableDefinition::new("tag_parents");
/// Add stamps (of tags and of tag edges) that a remove took away.
pub const TAG_REMOVED: TableDefinition<'_, (u64, u32, u128), ()> =
    TableDefinition::new("tag_removed");

pub(crate) fn initialise(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(SHARED_LOG)?;
    txn.open_table(SHARED_VV)?;
    txn.open_table(SHARED_ACKS)?;
    txn.open_table(TAG_ADDS)?;
    txn.open_table(TAG_REMOVED)?;
    txn.open_table(TAG_PARENTS)?;
    Ok(())
}

fn key(h: Hlc) -> (u128, u64, u32) {
    (h.device, h.wall_ms, h.counter)
}

pub(crate) struct SharedTables<'txn> {
    log: Table<'txn, (u128, u64, u32), &'static [u8]>,
    vv: Table<'txn, u128, (u64, u32)>,
    pub(crate) adds: Table<'txn, TagAddKey, ()>,
    pub(crate) removed: Table<'txn, (u64, u32, u128), ()>,
    pub(crate) parents: Table<'txn, (&'static str, &'static str, u64, u32, u128), ()>,
}

impl<'txn> SharedTables<'txn> {
    pub(crate) fn open(txn: &'txn WriteTransaction) -> Result<Self> {
        Ok(SharedTables {
            log: txn.open_table(SHARED_LOG)?,
            vv: txn.open_table(SHARED_VV)?,
            adds: txn.open_table(TAG_ADDS)?,
            removed: txn.open_table(TAG_REMOVED)?,
            parents: txn.open_table(TAG_PARENTS)?,
        })
    }

    fn held(&self, origin: u128) -> Result<Hlc> {
        Ok(self.vv.get(origin)?.map_or(Hlc::ZERO, |v| {
            let (wall_ms, counter) = v.value();
            Hlc {
                wall_ms,
                counter,
                device: origin,
            }
        }))
    }

    /// Logs and applies `op` unless it is already held. Returns whether it
    /// was new.
    fn take(&mut self, op: &SharedOp) -> Result<bool> {
        let origin = op.hlc.device;
        if op.hlc <= self.held(origin)? {
            return Ok(false);
        }
        let bytes = postcard::to_stdvec(op).map_err(|e| Error::InvalidInput(e.to_string()))?;
        self.log.insert(key(op.hlc), bytes.as_slice())?;
        self.vv.insert(origin, (op.hlc.wall_ms, op.hlc.counter))?;
        match &op.op {
            Op::TagAdd { target, tag } => {
                self.adds.insert(
                    (
                        target.device.0.as_u128(),
                        target.entry,
                        tag.as_str(),
                        op.hlc.wall_ms,
                        op.hlc.counter,
                        op.hlc.device,
                    ),
                    (),
                )?;
            }
            Op::TagParent { child, parent } => {
                self.parents.insert(
                    (
                        child.as_str(),
                        parent.as_str(),
                        op.hlc.wall_ms,
                        op.hlc.counter,
                        op.hlc.device,
                    ),
                    (),
                )?;
            }
            Op::TagRemove { adds, .. } | Op::TagUnparent { adds, .. } => {
                for add in adds {
                    self.removed.insert(key_removed(*add), ())?;
                }
            }
        }
        Ok(true)
    }
}

/// The add stamps `(wall, counter, device)` among `stamps` that no remove
/// took away: what a remove made now must name.
pub(crate) fn live_stamps(
    removed: &Table<'_, (u64, u32, u128), ()>,
    stamps: impl Iterator<Item = Result<(u64, u32, u128)>>,
) -> Result<Vec<Hlc>> {
    let mut out = Vec::new();
    for stamp in stamps {
        let (wall_ms, counter, device) = stamp?;
        if removed.get((wall_ms, counter, device))?.is_none() {
            out.push(Hlc {
                wall_ms,
                counter,
                device,
            });
        }
    }
    Ok(out)
}

fn key_removed(h: Hlc) -> (u64, u32, u128) {
    (h.wall_ms, h.counter, h.device)
}

fn read_clock(meta: &Table<'_, &str, u64>, device: u128) -> Result<super::Clock> {
    let wall_ms = meta.get("hlc_wall")?.map_or(0, |v| v.value());
    let counter = meta.get("hlc_counter")?.map_or(0, |v| v.value()) as u32;
    Ok(super::Clock::new(
        device,
        Hlc {
            wall_ms,
            counter,
            device,
        },
    ))
}

fn write_clock(meta: &mut Table<'_, &str, u64>, clock: &super::Clock) -> Result<()> {
    meta.insert("hlc_wall", clock.last().wall_ms)?;
    meta.insert("hlc_counter", u64::from(clock.last().counter))?;
    Ok(())
}

fn wall_now() -> u64 {
    (crate::time::unix_now_nanos() / 1_000_000).max(0) as u64
}

/// Stamps `make`'s operations on this device's clock, logs and applies
/// them in one transaction.
pub(crate) fn record_local(
    db: &Database,
    me: DeviceId,
    make: impl FnOnce(&SharedTables<'_>) -> Result<Vec<Op>>,
) -> Result<Vec<SharedOp>> {
    let txn = db.begin_write()?;
    let ops = {
        let mut meta = txn.open_table(schema::META)?;
        let mut tables = SharedTables::open(&txn)?;
        let mut clock = read_clock(&meta, me.0.as_u128())?;
        let mut out = Vec::new();
        for op in make(&tables)? {
            let stamped = SharedOp {
                hlc: clock.tick(wall_now()),
                op,
            };
            tables.take(&stamped)?;
            out.push(stamped);
        }
        write_clock(&mut meta, &clock)?;
        out
    };
    txn.commit()?;
    Ok(ops)
}

/// Applies operations from another device (any origin); returns how many
/// were new. An operation that names an invalid tag refuses the batch.
pub fn receive(db: &Database, me: DeviceId, ops: &[SharedOp]) -> Result<usize> {
    if ops.is_empty() {
        return Ok(0);
    }
    for op in ops {
        match &op.op {
            Op::TagAdd { tag, .. } | Op::TagRemove { tag, .. } => validate_tag(tag)?,
            Op::TagParent { child, parent } | Op::TagUnparent { child, parent, .. } => {
                validate_tag(child)?;
                validate_tag(parent)?;
            }
        }
        if let Op::TagRemove { adds, .. } | Op::TagUnparent { adds, .. } = &op.op
            && adds.len() > 100_000
        {
            return Err(Error::InvalidInput("a remove of too many adds".into()));
        }
    }
    // A stamp too far ahead of our clock is refused with its whole batch:
    // adopting it would move this device's clock (and every later
    // last-writer-wins decision) with it.
    let (now, bound) = (wall_now(), super::hlc::max_skew_ms());
    for op in ops {
        if let Err(ahead) = super::Clock::check(op.hlc, now, bound) {
            return Err(Error::InvalidInput(format!(
                "operations of device {} carry {ahead}: refused until its clock is right",
                DeviceId(uuid::Uuid::from_u128(op.hlc.device))
            )));
        }
    }
    let txn = db.begin_write()?;
    let fresh = {
        let mut meta = txn.open_table(schema::META)?;
        let mut tables = SharedTables::open(&txn)?;
        let mut clock = read_clock(&meta, me.0.as_u128())?;
        let mut fresh = 0;
        for op in ops {
            if tables.take(op)? {
                fresh += 1;
            }
            clock
                .observe(op.hlc, now, bound)
                .map_err(|e| Error::InvalidInput(e.to_string()))?;
        }
        write_clock(&mut meta, &clock)?;
        fresh
    };
    txn.commit()?;
    Ok(fresh)
}

/// What this device holds, per origin.
pub fn version_vector(db: &Database) -> Result<VersionVector> {
    let txn = db.begin_read()?;
    let vv = txn.open_table(SHARED_VV)?;
    let mut out = Vec::new();
    for row in vv.iter()? {
        let (origin, v) = row?;
        let (wall_ms, counter) = v.value();
        out.push((
            origin.value(),
            Hlc {
                wall_ms,
                counter,
                device: origin.value(),
            },
        ));
    }
    Ok(out)
}

/// The operations a device with version vector `have` lacks, in stamp
/// order per origin, at most `limit`; and whether more remain.
pub fn ops_after(
    db: &Database,
    have: &VersionVector,
    limit: usize,
) -> Result<(Vec<SharedOp>, bool)> {
    let txn = db.begin_read()?;
    let log = txn.open_table(SHARED_LOG)?;
    let vv = txn.open_table(SHARED_VV)?;
    let mut out = Vec::new();
    for row in vv.iter()? {
        let origin = row?.0.value();
        let after = have
            .iter()
            .find(|(o, _)| *o == origin)
            .map_or(Hlc::ZERO, |(_, h)| *h);
        for row in
            log.range((origin, after.wall_ms, after.counter)..=(origin, u64::MAX, u32::MAX))?
        {
            let (k, v) = row?;
            let (_, wall_ms, counter) = k.value();
            if (wall_ms, counter) <= (after.wall_ms, after.counter) {
                continue;
            }
            if out.len() == limit {
                return Ok((out, true));
            }
            let op: SharedOp = postcard::from_bytes(v.value())
                .map_err(|e| Error::InvalidInput(format!("shared log: {e}")))?;
            out.push(op);
        }
    }
    Ok((out, false))
}

/// Records what `peer` holds (its version vector came with its pull), and
/// prunes what every paired device now holds and no longer matters.
pub fn acknowledge(
    db: &Database,
    peer: DeviceId,
    have: &VersionVector,
    paired: &[DeviceId],
) -> Result<usize> {
    // A peer that pulls every 250 ms mostly acknowledges what it did last
    // time: then nothing changes, and nothing is written.
    {
        let txn = db.begin_read()?;
        let acks = txn.open_table(SHARED_ACKS)?;
        let mut unchanged = true;
        for (origin, hlc) in have {
            let held = acks.get((peer.0.as_u128(), *origin))?.map(|v| v.value());
            if held != Some((hlc.wall_ms, hlc.counter)) {
                unchanged = false;
                break;
            }
        }
        if unchanged {
            return Ok(0);
        }
    }
    let txn = db.begin_write()?;
    let pruned = {
        let mut acks = txn.open_table(SHARED_ACKS)?;
        for (origin, hlc) in have {
            acks.insert((peer.0.as_u128(), *origin), (hlc.wall_ms, hlc.counter))?;
        }
        let acked_by_all = |op: Hlc| -> Result<bool> {
            for device in paired {
                let held = acks
                    .get((device.0.as_u128(), op.device))?
                    .map(|v| v.value());
                if held.is_none_or(|h| h < (op.wall_ms, op.counter)) {
                    return Ok(false);
                }
            }
            Ok(true)
        };
        let mut log = txn.open_table(SHARED_LOG)?;
        let removed = txn.open_table(TAG_REMOVED)?;
        let mut dead = Vec::new();
        for row in log.iter()? {
            let (k, v) = row?;
            let (origin, wall_ms, counter) = k.value();
            let hlc = Hlc {
                wall_ms,
                counter,
                device: origin,
            };
            let Ok(op) = postcard::from_bytes::<SharedOp>(v.value()) else {
                continue;
            };
            // A remove's work is done once everyone has it; an add, once
            // everyone has it and it was removed.
            let settled = match op.op {
                Op::TagRemove { .. } | Op::TagUnparent { .. } => true,
                Op::TagAdd { .. } | Op::TagParent { .. } => {
                    removed.get(key_removed(hlc))?.is_some()
                }
            };
            if settled && acked_by_all(hlc)? {
                dead.push(k.value());
            }
        }
        for k in &dead {
            log.remove(*k)?;
        }
        dead.len()
    };
    txn.commit()?;
    Ok(pruned)
}

/// Operations in this device's log.
#[cfg(test)]
pub fn log_len(db: &Database) -> Result<u64> {
    use redb::ReadableTableMetadata;
    let txn = db.begin_read()?;
    Ok(txn.open_table(SHARED_LOG)?.len()?)
}

/// The keys of `target`'s tag adds in [`TAG_ADDS`].
pub(crate) fn target_range(target: Target) -> (TagAddKey, TagAddKey) {
    let d = target.device.0.as_u128();
    (
        (d, target.entry, "", 0, 0, 0),
        (d, target.entry.saturating_add(1), "", 0, 0, 0),
    )
}
