//! Live refreshes: bring a few directories of a location up to date at once
//! (after a watcher event, or a change made through the mount), in one
//! transaction, without a job.

use std::collections::VecDeque;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use redb::ReadableTable;

use super::gitignore::IgnoreStack;
use super::identify::{IdentifyOutcome, IdentifyTask, identify};
use super::tables::{ApplyCtx, IndexTables};
use super::walk::read_listing;
use crate::error::Result;
use crate::jobs::IndexCounters;
use crate::library::{Library, schema};
use crate::model::entry::EntryKind;
use crate::model::location::{IndexMode, LocationRecord};

/// Job id under which live refreshes park pending removals.
const LIVE_JOB: u64 = 0;
/// Files a refresh identifies inline; a bigger backlog waits for a job.
const MAX_INLINE_IDENTIFY: usize = 20_000;

/// Re-reads the directories holding `paths` (and any new directories below
/// them) and updates the index: entries, moves, removals, aggregates, content.
pub fn refresh(
    lib: &Library,
    location: &LocationRecord,
    paths: &[PathBuf],
) -> Result<IndexCounters> {
    let Some(root_path) = location.root_path() else {
        return Ok(IndexCounters::default());
    };
    let ctx = ApplyCtx {
        job: LIVE_JOB,
        root: location.root.0,
        root_path: &root_path,
        identify: location.mode != IndexMode::Shallow,
    };
    let mut counters = IndexCounters::default();
    let txn = lib.db().begin_write()?;
    {
        let mut tables = IndexTables::open(&txn)?;
        let mut dirs: Vec<(u64, PathBuf)> = Vec::new();
        for path in paths {
            if let Some(found) = nearest_indexed_dir(&tables, &ctx, path)?
                && !dirs.iter().any(|(id, _)| *id == found.0)
            {
                dirs.push(found);
            }
        }
        let mut touched = Vec::new();
        let mut queue: VecDeque<(u64, PathBuf, bool)> =
            dirs.into_iter().map(|(id, p)| (id, p, true)).collect();
        while let Some((id, dir, top)) = queue.pop_front() {
            let parent_rules = match dir.parent() {
                Some(parent) if location.rules.gitignore => IgnoreStack::for_dir(parent),
                _ => IgnoreStack::empty(),
            };
            let listing = match read_listing(&dir, &location.rules, &parent_rules) {
                Ok(listing) => listing,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    tracing::warn!("cannot read {}: {e}", dir.display());
                    counters.errors += 1;
                    continue;
                }
            };
            if let Ok(md) = std::fs::symlink_metadata(&dir)
                && let Some(mut record) = tables.get_entry(id)?
            {
                let own = crate::model::entry::StatFields::from_metadata(&md);
                if record.stat() != own && record.kind == own.kind {
                    record.apply_stat(&own);
                    tables.put_entry(id, &record)?;
                }
            }
            for sub in tables.apply_listing(&ctx, id, &listing, &mut counters)? {
                // Known subdirectories are unchanged by this event; new or
                // moved-in ones are read whole.
                if sub.recorded_mtime.is_none() {
                    queue.push_back((
                        sub.id,
                        dir.join(std::ffi::OsStr::from_bytes(&sub.name)),
                        false,
                    ));
                }
            }
            if top {
                touched.push(id);
            } else {
                tables.aggregate(id)?;
            }
        }
        tables.finish_removals(&ctx, &mut counters)?;
        for id in touched {
            tables.aggregate_upwards(&ctx, id)?;
        }
        if ctx.identify {
            identify_backlog(&mut tables, &ctx, &mut counters)?;
        }
    }
    txn.commit()?;
    Ok(counters)
}

/// The deepest indexed directory on the way to `path` (exclusive of `path`
/// itself unless it is an indexed directory).
fn nearest_indexed_dir(
    tables: &IndexTables<'_>,
    ctx: &ApplyCtx<'_>,
    path: &Path,
) -> Result<Option<(u64, PathBuf)>> {
    let Ok(rel) = path.strip_prefix(ctx.root_path) else {
        return Ok(None);
    };
    let mut current = (ctx.root, ctx.root_path.to_owned());
    for component in rel.components() {
        let name = component.as_os_str().as_bytes();
        let key = schema::child_key(current.0, name);
        let Some(id) = tables.children.get(key.as_slice())?.map(|v| v.value()) else {
            break;
        };
        match tables.get_entry(id)? {
            Some(record) if record.kind == EntryKind::Directory => {
                current = (id, current.1.join(component))
            }
            _ => break,
        }
    }
    Ok(Some(current))
}

fn identify_backlog(
    tables: &mut IndexTables<'_>,
    ctx: &ApplyCtx<'_>,
    counters: &mut IndexCounters,
) -> Result<()> {
    let root = ctx.root;
    let ids: Vec<u64> = tables
        .unidentified
        .range((root, 0)..=(root, u64::MAX))?
        .take(MAX_INLINE_IDENTIFY)
        .map(|r| r.map(|(k, _)| k.value().1))
        .collect::<Result<_, _>>()?;
    let mut buf = Vec::new();
    for id in ids {
        let Some(mut record) = tables.get_entry(id)? else {
            continue;
        };
        let Some(path) = tables.entry_path(ctx, id)? else {
            continue;
        };
        let task = IdentifyTask {
            id,
            path,
            size: record.size,
            mtime: record.mtime,
        };
        if let IdentifyOutcome::Identified {
            hash, kind, size, ..
        } = identify(&task, &mut buf)
        {
            tables.set_content(ctx, id, &mut record, hash, kind)?;
            counters.identified += 1;
            counters.identified_bytes += size;
        }
    }
    Ok(())
}
