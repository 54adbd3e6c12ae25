//! Listing a cloud volume into its index, one directory at a time: each
//! directory's listing is merged into the index in its own transaction, so
//! a bucket of millions of keys is never held here at once (one directory
//! is: the service lists it page by page). Metadata first; then content
//! identities from ranged reads of the sampled bytes, side by side. A
//! re-index keeps what did not change (same size and time) and reads
//! nothing of it.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use redb::{ReadableDatabase, ReadableTable};
use serde::Serialize;

use super::backend::{CloudBackend, CloudObject};
use crate::content_hash::ContentHash;
use crate::error::{Error, ErrorKind, Result};
use crate::indexer::tables::{ApplyCtx, IndexTables};
use crate::library::{Library, schema::child_key};
use crate::model::entry::{EntryKind, EntryRecord, StatFields};
use crate::model::location::LocationRecord;
use crate::namespace::mode;
use crate::outbox::join;

/// Ranged reads in flight at once while identifying (each is a round trip
/// to the service).
const IDENTIFY_IN_FLIGHT: usize = 8;

/// What an index of a cloud volume found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CloudIndexed {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    pub created: u64,
    pub updated: u64,
    pub removed: u64,
    pub identified: u64,
    pub millis: u64,
    /// Entries whose attributes or bytes changed, or that are gone, and
    /// directories whose listing changed: what a mount must stop caching.
    #[serde(skip)]
    pub changed: Vec<u64>,
}

/// A file whose content identity is to be read.
struct ToIdentify {
    id: u64,
    path: Vec<u8>,
    name: Vec<u8>,
    size: u64,
}

/// Indexes cloud volume `location` through `backend`; `progress` sees the
/// counts after each directory.
pub fn index(
    lib: &Library,
    location: &LocationRecord,
    backend: &dyn CloudBackend,
    progress: &mut dyn FnMut(&CloudIndexed),
) -> Result<CloudIndexed> {
    check_cloud(location)?;
    let started = Instant::now();
    let root = location.root.0;
    let mut out = walk(
        lib,
        location,
        backend,
        (root, Vec::new()),
        Descend::All,
        progress,
    )?;
    let txn = lib.db().begin_write()?;
    {
        let mut tables = IndexTables::open(&txn)?;
        tables.aggregate(root)?;
        let key = location.id.0.as_u128();
        let current = tables
            .data
            .locations()
            .get(key)?
            .map(|v| LocationRecord::decode(v.value()))
            .transpose()?;
        if let Some(mut record) = current {
            record.last_indexed = Some(crate::time::unix_now_nanos());
            tables.data.put_location(key, record.encode().as_slice())?;
        }
    }
    txn.commit()?;
    out.millis = started.elapsed().as_millis() as u64;
    Ok(out)
}

/// Lists directory `dir` of a volume again, after this device changed it
/// (and any directory found there that the index did not have): one
/// listing, not a walk of the volume. A directory the index lacks is
/// reached from its nearest indexed ancestor.
pub fn refresh(
    lib: &Library,
    location: &LocationRecord,
    backend: &dyn CloudBackend,
    dir: &[u8],
) -> Result<CloudIndexed> {
    check_cloud(location)?;
    let started = Instant::now();
    let mut path = dir.to_vec();
    let (id, record) = loop {
        match entry_at(lib, location, &path)? {
            Some((id, record)) if record.kind == EntryKind::Directory => break (id, record),
            _ if path.is_empty() => {
                return Err(Error::fs(ErrorKind::NotFound, "the volume's root"));
            }
            _ => path = crate::outbox::split(&path).0.to_vec(),
        }
    };
    let mut out = walk(
        lib,
        location,
        backend,
        (id, path),
        Descend::New,
        &mut |_| {},
    )?;
    let txn = lib.db().begin_write()?;
    {
        let mut tables = IndexTables::open(&txn)?;
        tables.aggregate(id)?;
        if id != location.root.0 {
            tables.aggregate_upwards(&ctx_of(location), record.parent)?;
        }
    }
    txn.commit()?;
    out.millis = started.elapsed().as_millis() as u64;
    Ok(out)
}

/// The entry at `path` below volume `location`'s root (the root for `""`).
pub fn entry_at(
    lib: &Library,
    location: &LocationRecord,
    path: &[u8],
) -> Result<Option<(u64, EntryRecord)>> {
    entry_below(&lib.db().begin_read()?, location.root.0, path)
}

/// The entry at `path` below directory `root` of this device's index.
pub(crate) fn entry_below(
    txn: &redb::ReadTransaction,
    root: u64,
    path: &[u8],
) -> Result<Option<(u64, EntryRecord)>> {
    let children = txn.open_table(crate::library::schema::CHILDREN)?;
    let mut id = root;
    for part in path.split(|b| *b == b'/').filter(|p| !p.is_empty()) {
        match children.get(child_key(id, part).as_slice())? {
            Some(child) => id = child.value(),
            None => return Ok(None),
        }
    }
    let entries = crate::library::schema::ENTRIES.read(txn)?;
    let record = entries
        .get(id)?
        .map(|v| EntryRecord::decode(v.value()))
        .transpose()?;
    Ok(record.map(|r| (id, r)))
}

fn check_cloud(location: &LocationRecord) -> Result<()> {
    if location.is_cloud() {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{} is not a cloud volume",
            location.name
        )))
    }
}

fn ctx_of(location: &LocationRecord) -> ApplyCtx<'static> {
    ApplyCtx {
        job: 0,
        root: location.root.0,
        root_path: Path::new(""),
        identify: false,
    }
}

/// Which directories a walk lists besides its first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Descend {
    /// Every one below it.
    All,
    /// Only those the index did not have.
    New,
}

/// Lists `start` (entry, path) and the directories `descend` asks for,
/// merging each listing in its own transaction and then identifying what
/// changed in it.
fn walk(
    lib: &Library,
    location: &LocationRecord,
    backend: &dyn CloudBackend,
    start: (u64, Vec<u8>),
    descend: Descend,
    progress: &mut dyn FnMut(&CloudIndexed),
) -> Result<CloudIndexed> {
    let started = Instant::now();
    let ctx = ctx_of(location);
    let mut out = CloudIndexed::default();
    let mut queue: VecDeque<(u64, Vec<u8>)> = VecDeque::from([start]);
    while let Some((dir, path)) = queue.pop_front() {
        let mut listed: Vec<CloudObject> = Vec::new();
        backend.list_dir(&path, &mut |page| {
            listed.extend(page);
            Ok(())
        })?;
        let step = Step {
            lib,
            location,
            backend,
            ctx: &ctx,
        };
        step.merge_listing(dir, &path, listed, None, &mut out, &mut queue, descend)?;
        out.millis = started.elapsed().as_millis() as u64;
        progress(&out);
    }
    Ok(out)
}

/// Brings the index's record of the objects named `names` in directory
/// `dir` up to date from a HEAD of each, after this device changed them:
/// one request per name where listing the directory again would read all
/// of it once per save into it. `None` when `dir` is not indexed (then
/// [`refresh`] it). Objects that are directories are left to `refresh`.
pub fn refresh_names(
    lib: &Library,
    location: &LocationRecord,
    backend: &dyn CloudBackend,
    dir: &[u8],
    names: &[&[u8]],
) -> Result<Option<CloudIndexed>> {
    check_cloud(location)?;
    let started = Instant::now();
    let Some((id, record)) = entry_at(lib, location, dir)? else {
        return Ok(None);
    };
    if record.kind != EntryKind::Directory {
        return Ok(None);
    }
    let mut listed = Vec::new();
    for name in names {
        match backend.stat(&join(dir, name))? {
            Some(object) if object.dir => return Ok(None),
            Some(mut object) => {
                object.name = name.to_vec();
                listed.push(object);
            }
            None => {}
        }
    }
    let ctx = ctx_of(location);
    let step = Step {
        lib,
        location,
        backend,
        ctx: &ctx,
    };
    let mut out = CloudIndexed::default();
    let mut queue = VecDeque::new();
    step.merge_listing(
        id,
        dir,
        listed,
        Some(names),
        &mut out,
        &mut queue,
        Descend::New,
    )?;
    let txn = lib.db().begin_write()?;
    {
        let mut tables = IndexTables::open(&txn)?;
        tables.aggregate(id)?;
        if id != location.root.0 {
            tables.aggregate_upwards(&ctx, record.parent)?;
        }
    }
    txn.commit()?;
    out.millis = started.elapsed().as_millis() as u64;
    Ok(Some(out))
}

/// What merging one directory's listing needs.
struct Step<'a> {
    lib: &'a Library,
    location: &'a LocationRecord,
    backend: &'a dyn CloudBackend,
    ctx: &'a ApplyCtx<'a>,
}

impl Step<'_> {
    /// Merges `listed` (directory `dir` at `path`, as the service lists it)
    /// into the index in one transaction, then identifies what changed.
    /// `only`: the listing covers these names alone (the rest of the
    /// directory is left as it is).
    #[allow(clippy::too_many_arguments)]
    fn merge_listing(
        &self,
        dir: u64,
        path: &[u8],
        mut listed: Vec<CloudObject>,
        only: Option<&[&[u8]]>,
        out: &mut CloudIndexed,
        queue: &mut VecDeque<(u64, Vec<u8>)>,
        descend: Descend,
    ) -> Result<()> {
        let (lib, location, backend, ctx) = (self.lib, self.location, self.backend, self.ctx);
        listed.retain(|o| crate::sync::replica::is_plain_name(&o.name));
        listed.sort_by(|a, b| a.name.cmp(&b.name).then(b.dir.cmp(&a.dir)));
        // A key `a` and a prefix `a/` both listed: the directory wins (a
        // name is one thing in a filesystem).
        listed.dedup_by(|later, first| later.name == first.name);
        let mut identify = Vec::new();
        let txn = lib.db().begin_write()?;
        {
            let mut tables = IndexTables::open(&txn)?;
            let mut known = tables.children_of(dir)?;
            if let Some(only) = only {
                known.retain(|(name, _)| only.contains(&name.as_slice()));
            }
            merge(
                &mut tables,
                ctx,
                location,
                dir,
                path,
                &listed,
                &known,
                out,
                queue,
                &mut identify,
                descend,
            )?;
        }
        txn.commit()?;
        let found = identify_all(backend, &identify);
        let txn = lib.db().begin_write()?;
        {
            let mut tables = IndexTables::open(&txn)?;
            for (file, found) in identify.iter().zip(found) {
                let (hash, head) = match found {
                    Ok(Some(found)) => found,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::warn!(
                            "{}: identifying {}: {e}",
                            location.name,
                            String::from_utf8_lossy(&file.path)
                        );
                        continue;
                    }
                };
                let Some(mut record) = tables.get_entry(file.id)? else {
                    continue;
                };
                if record.size != file.size {
                    continue;
                }
                let kind = crate::kind::classify(&file.name, &head).code();
                tables.set_content(ctx, file.id, &mut record, hash, kind)?;
                out.identified += 1;
            }
        }
        txn.commit()?;
        Ok(())
    }
}

/// The index's record of a listed object.
fn stat_of(object: &CloudObject, location: &LocationRecord) -> StatFields {
    let (kind, type_bits, perm) = if object.dir {
        (EntryKind::Directory, mode::DIRECTORY, 0o755)
    } else {
        (EntryKind::File, mode::FILE, 0o644)
    };
    StatFields {
        kind,
        size: if object.dir { 0 } else { object.size },
        // Prefixes have no time of their own.
        mtime: if object.mtime != 0 {
            object.mtime
        } else {
            location.created_at
        },
        dev: 0,
        inode: 0,
        mode: type_bits | perm,
        uid: 0,
        gid: 0,
    }
}

/// Merges directory `dir`'s listing (sorted by name) into what the index
/// knows of it (sorted too).
#[allow(clippy::too_many_arguments)]
fn merge(
    tables: &mut IndexTables<'_>,
    ctx: &ApplyCtx<'_>,
    location: &LocationRecord,
    dir: u64,
    path: &[u8],
    listed: &[CloudObject],
    known: &[(Vec<u8>, u64)],
    out: &mut CloudIndexed,
    queue: &mut VecDeque<(u64, Vec<u8>)>,
    identify: &mut Vec<ToIdentify>,
    descend: Descend,
) -> Result<()> {
    let (mut i, mut j) = (0, 0);
    while i < listed.len() || j < known.len() {
        let order = match (listed.get(i), known.get(j)) {
            (Some(l), Some(k)) => l.name.as_slice().cmp(k.0.as_slice()),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, _) => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Greater => {
                let (name, id) = &known[j];
                tables.children.remove(child_key(dir, name).as_slice())?;
                out.removed += tables.remove_subtree(ctx, *id)?;
                out.changed.extend([*id, dir]);
                j += 1;
                continue;
            }
            std::cmp::Ordering::Equal | std::cmp::Ordering::Less => {}
        }
        let object = &listed[i];
        let stat = stat_of(object, location);
        let child_path = join(path, &object.name);
        if object.dir {
            out.dirs += 1;
        } else {
            out.files += 1;
            out.bytes += object.size;
        }
        let existing = match order {
            std::cmp::Ordering::Equal => {
                j += 1;
                let id = known[j - 1].1;
                match tables.get_entry(id)? {
                    Some(record) if record.kind == stat.kind => Some((id, record)),
                    _ => {
                        tables
                            .children
                            .remove(child_key(dir, &object.name).as_slice())?;
                        out.removed += tables.remove_subtree(ctx, id)?;
                        out.changed.extend([id, dir]);
                        None
                    }
                }
            }
            _ => None,
        };
        i += 1;
        let known_before = existing.is_some();
        let (id, record, changed) = match existing {
            Some((id, mut record)) => {
                let changed = record.apply_stat(&stat);
                if changed {
                    if record.kind == EntryKind::File {
                        tables.unlink_content(&mut record, id)?;
                    }
                    tables.put_entry(id, &record)?;
                    out.updated += 1;
                    out.changed.push(id);
                }
                (id, record, changed)
            }
            None => {
                let id = tables.allocate_id()?;
                let record = EntryRecord::new(dir, &object.name, &stat);
                tables.put_entry(id, &record)?;
                tables
                    .children
                    .insert(child_key(dir, &object.name).as_slice(), id)?;
                out.created += 1;
                out.changed.push(dir);
                (id, record, true)
            }
        };
        if object.dir {
            if descend == Descend::All || !known_before {
                queue.push_back((id, child_path));
            }
        } else if record.size > 0 && (changed || record.content.is_none()) {
            identify.push(ToIdentify {
                id,
                path: child_path,
                name: object.name.clone(),
                size: record.size,
            });
        }
    }
    Ok(())
}

type Found = Result<Option<(ContentHash, Vec<u8>)>>;

/// The content identities of `files`, read side by side.
fn identify_all(backend: &dyn CloudBackend, files: &[ToIdentify]) -> Vec<Found> {
    let next = AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Found>>> =
        files.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..IDENTIFY_IN_FLIGHT.min(files.len()) {
            scope.spawn(|| {
                loop {
                    let at = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(at) else {
                        return;
                    };
                    let result = identify(backend, file);
                    *slots[at].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| Err(Error::fs(ErrorKind::Io, "not identified")))
        })
        .collect()
}

fn identify(backend: &dyn CloudBackend, file: &ToIdentify) -> Found {
    crate::content_hash::content_hash_by_ranges(file.size, |offset, len| {
        let bytes = backend.read(&file.path, offset..offset + len)?;
        if bytes.len() as u64 != len {
            return Err(Error::fs(
                ErrorKind::Io,
                format!(
                    "{} changed while it was read ({} bytes at {offset}, {len} asked)",
                    String::from_utf8_lossy(&file.path),
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    })
}
