//! The index inside one write transaction: applying a directory listing,
//! recognising moves, removing subtrees, aggregating, linking content.
//!
//! Architecture Invariant: an entry is reachable from its location root through
//! `children` exactly when it is not pending removal; `inodes` and `instances`
//! never point at a removed entry.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use redb::{ReadableTable, Table, WriteTransaction};

use super::walk::{DiskChild, Listing};
use crate::content_hash::ContentHash;
use crate::error::Result;
use crate::ids::ContentId;
use crate::jobs::IndexCounters;
use crate::library::schema::{self, child_key, children_range};
use crate::model::content::ContentRecord;
use crate::model::entry::{EntryKind, EntryRecord};
use crate::sync::DeviceData;

/// What an index write needs to know about its surroundings.
#[derive(Clone, Copy, Debug)]
pub struct ApplyCtx<'a> {
    /// Job id that owns pending removals (0 for watcher updates).
    pub job: u64,
    /// The location's root entry.
    pub root: u64,
    pub root_path: &'a Path,
    /// Whether files get content identification (not in shallow mode).
    pub identify: bool,
}

/// A subdirectory found while applying a listing.
#[derive(Clone, Debug)]
pub struct SubDir {
    pub id: u64,
    pub name: Vec<u8>,
    /// Its mtime as the index knew it before this listing (`None` when new or
    /// moved): a stale scan skips reading it when the disk still agrees.
    pub recorded_mtime: Option<i64>,
}

/// The open tables of an index write transaction.
pub struct IndexTables<'txn> {
    meta: Table<'txn, &'static str, u64>,
    pub(crate) children: Table<'txn, &'static [u8], u64>,
    inodes: Table<'txn, u64, u64>,
    instances: Table<'txn, (u128, u64), ()>,
    pub(crate) unidentified: Table<'txn, (u64, u64), ()>,
    pub(crate) queue: Table<'txn, (u64, u64), ()>,
    pub(crate) removals: Table<'txn, (u64, u64), ()>,
    manifests: Table<'txn, u64, &'static [u8]>,
    issues: Table<'txn, u64, &'static [u8]>,
    /// Entries, content, locations and volumes: what replicas on other
    /// devices pull (SPEC §4); every write is logged for them.
    pub(crate) data: DeviceData<'txn>,
}

impl<'txn> IndexTables<'txn> {
    pub fn open(txn: &'txn WriteTransaction) -> Result<Self> {
        Ok(IndexTables {
            meta: txn.open_table(schema::META)?,
            children: txn.open_table(schema::CHILDREN)?,
            inodes: txn.open_table(schema::INODES)?,
            instances: txn.open_table(schema::INSTANCES)?,
            unidentified: txn.open_table(schema::UNIDENTIFIED)?,
            queue: txn.open_table(schema::INDEX_QUEUE)?,
            removals: txn.open_table(schema::INDEX_REMOVALS)?,
            manifests: txn.open_table(schema::MANIFESTS)?,
            issues: txn.open_table(schema::INTEGRITY_ISSUES)?,
            data: DeviceData::open(txn)?,
        })
    }

    pub fn get_entry(&self, id: u64) -> Result<Option<EntryRecord>> {
        match self.data.entries().get(id)? {
            Some(v) => Ok(Some(EntryRecord::decode(v.value())?)),
            None => Ok(None),
        }
    }

    /// Writes an entry; a record that did not change writes no change-log
    /// row, so an unchanged re-index sends nothing to other devices.
    pub fn put_entry(&mut self, id: u64, record: &EntryRecord) -> Result<()> {
        self.data.put_entry(id, record.encode().as_slice())?;
        Ok(())
    }

    /// A new entry id.
    pub fn allocate_id(&mut self) -> Result<u64> {
        schema::next_id(&mut self.meta, "next_entry_id")
    }

    /// Children of `parent` as (name, id), sorted by name.
    pub fn children_of(&self, parent: u64) -> Result<Vec<(Vec<u8>, u64)>> {
        let (lo, hi) = children_range(parent);
        let mut out = Vec::new();
        for row in self.children.range(&lo[..]..&hi[..])? {
            let (key, value) = row?;
            out.push((key.value()[8..].to_vec(), value.value()));
        }
        Ok(out)
    }

    /// The absolute path of entry `id`, walking parents up to the root.
    pub fn entry_path(&self, ctx: &ApplyCtx<'_>, id: u64) -> Result<Option<PathBuf>> {
        let below =
            crate::model::entry::path_below_root(self.data.entries(), id, |e| e == ctx.root)?;
        Ok(below.map(|(_, rel)| crate::fsutil::join_bytes(ctx.root_path, &rel)))
    }

    /// Merges what the disk shows in directory `dir` into the index. Returns the
    /// subdirectories to read next, as (id, name).
    pub fn apply_listing(
        &mut self,
        ctx: &ApplyCtx<'_>,
        dir: u64,
        listing: &Listing,
        counters: &mut IndexCounters,
    ) -> Result<Vec<SubDir>> {
        let known = self.children_of(dir)?;
        let mut subdirs = Vec::new();
        let (mut i, mut j) = (0, 0);
        let disk = &listing.children;
        while i < disk.len() || j < known.len() {
            let order = match (disk.get(i), known.get(j)) {
                (Some(d), Some(k)) => d.name.as_slice().cmp(k.0.as_slice()),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, _) => std::cmp::Ordering::Greater,
            };
            match order {
                std::cmp::Ordering::Equal => {
                    self.update_child(ctx, dir, &disk[i], known[j].1, counters, &mut subdirs)?;
                    i += 1;
                    j += 1;
                }
                std::cmp::Ordering::Less => {
                    self.add_child(ctx, dir, &disk[i], counters, &mut subdirs)?;
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    // A child renamed to a name met earlier in this merge
                    // has already moved there: it is not gone.
                    let key = child_key(dir, &known[j].0);
                    if self.children.get(key.as_slice())?.map(|v| v.value()) == Some(known[j].1) {
                        self.detach(ctx, dir, &known[j].0, known[j].1)?;
                    }
                    j += 1;
                }
            }
        }
        Ok(subdirs)
    }

    fn count(child: &DiskChild, counters: &mut IndexCounters) {
        match child.stat.kind {
            EntryKind::Directory => counters.dirs += 1,
            _ => {
                counters.files += 1;
                counters.bytes += child.stat.size;
            }
        }
    }

    fn update_child(
        &mut self,
        ctx: &ApplyCtx<'_>,
        dir: u64,
        child: &DiskChild,
        id: u64,
        counters: &mut IndexCounters,
        subdirs: &mut Vec<SubDir>,
    ) -> Result<()> {
        Self::count(child, counters);
        let Some(mut record) = self.get_entry(id)? else {
            // A child key without its entry: repair by indexing the child afresh.
            self.children
                .remove(child_key(dir, &child.name).as_slice())?;
            return self.add_child(ctx, dir, child, counters, subdirs);
        };
        if record.kind != child.stat.kind {
            // A file became a directory (or similar): a different thing now.
            self.detach(ctx, dir, &child.name, id)?;
            return self.add_child(ctx, dir, child, counters, subdirs);
        }
        if child.stat.kind == EntryKind::Directory {
            subdirs.push(SubDir {
                id,
                name: child.name.clone(),
                recorded_mtime: Some(record.mtime),
            });
        }
        if record.stat() == child.stat && record.link_target == child.link_target {
            return Ok(());
        }
        if record.inode != child.stat.inode || record.dev != child.stat.dev {
            self.unmap_inode(record.inode, id)?;
            self.inodes.insert(child.stat.inode, id)?;
        }
        let content_changed = record.apply_stat(&child.stat);
        record.link_target = child.link_target.clone();
        if content_changed && record.kind == EntryKind::File {
            self.unlink_content(&mut record, id)?;
            self.queue_identification(ctx, id, &record)?;
        }
        self.put_entry(id, &record)?;
        counters.updated += 1;
        Ok(())
    }

    fn add_child(
        &mut self,
        ctx: &ApplyCtx<'_>,
        dir: u64,
        child: &DiskChild,
        counters: &mut IndexCounters,
        subdirs: &mut Vec<SubDir>,
    ) -> Result<()> {
        if let Some(id) = self.moved_here(ctx, child)? {
            let mut record = self
                .get_entry(id)?
                .unwrap_or_else(|| EntryRecord::new(dir, &child.name, &child.stat));
            record.parent = dir;
            record.name = child.name.clone();
            let content_changed = record.apply_stat(&child.stat);
            record.link_target = child.link_target.clone();
            if content_changed && record.kind == EntryKind::File {
                self.unlink_content(&mut record, id)?;
                self.queue_identification(ctx, id, &record)?;
            }
            self.put_entry(id, &record)?;
            self.children
                .insert(child_key(dir, &child.name).as_slice(), id)?;
            if record.kind == EntryKind::Directory {
                subdirs.push(SubDir {
                    id,
                    name: child.name.clone(),
                    recorded_mtime: None,
                });
            }
            counters.moved += 1;
            Self::count(child, counters);
            return Ok(());
        }
        let id = self.allocate_id()?;
        let mut record = EntryRecord::new(dir, &child.name, &child.stat);
        record.link_target = child.link_target.clone();
        self.put_entry(id, &record)?;
        self.children
            .insert(child_key(dir, &child.name).as_slice(), id)?;
        if self.inodes.get(child.stat.inode)?.is_none() {
            self.inodes.insert(child.stat.inode, id)?;
        }
        if record.kind == EntryKind::File {
            self.queue_identification(ctx, id, &record)?;
        }
        if record.kind == EntryKind::Directory {
            subdirs.push(SubDir {
                id,
                name: child.name.clone(),
                recorded_mtime: None,
            });
        }
        counters.created += 1;
        Self::count(child, counters);
        Ok(())
    }

    /// If `child` is an entry we already know under another name (same inode,
    /// same kind, and gone from where it was), detaches it from there and returns
    /// its id, so a moved or renamed file keeps its id and metadata.
    fn moved_here(&mut self, ctx: &ApplyCtx<'_>, child: &DiskChild) -> Result<Option<u64>> {
        let Some(old) = self.inodes.get(child.stat.inode)?.map(|v| v.value()) else {
            return Ok(None);
        };
        let Some(record) = self.get_entry(old)? else {
            self.inodes.remove(child.stat.inode)?;
            return Ok(None);
        };
        if record.kind != child.stat.kind || record.dev != child.stat.dev || old == ctx.root {
            return Ok(None);
        }
        // A stale mapping (the entry has since taken another inode, say when
        // churn reused inodes between two reads) is not a move: taking the
        // entry would steal it from the name it now stands for.
        if record.inode != child.stat.inode {
            self.inodes.remove(child.stat.inode)?;
            return Ok(None);
        }
        if self.removals.remove((ctx.job, old))?.is_some() {
            return Ok(Some(old));
        }
        // Still attached elsewhere: a move we see before its old directory is
        // re-read, or a hard link. The disk tells which.
        let Some(old_path) = self.entry_path(ctx, old)? else {
            return Ok(None);
        };
        let still_there = std::fs::symlink_metadata(&old_path)
            .map(|md| {
                use std::os::unix::fs::MetadataExt;
                md.ino() == child.stat.inode && md.dev() == child.stat.dev
            })
            .unwrap_or(false);
        if still_there {
            return Ok(None);
        }
        self.children
            .remove(child_key(record.parent, &record.name).as_slice())?;
        Ok(Some(old))
    }

    /// Takes `id` out of directory `dir`; it is removed at the end of the run
    /// unless it turns up elsewhere first.
    fn detach(&mut self, ctx: &ApplyCtx<'_>, dir: u64, name: &[u8], id: u64) -> Result<()> {
        self.children.remove(child_key(dir, name).as_slice())?;
        self.removals.insert((ctx.job, id), ())?;
        Ok(())
    }

    /// Removes every entry still pending removal for `job`.
    pub fn finish_removals(
        &mut self,
        ctx: &ApplyCtx<'_>,
        counters: &mut IndexCounters,
    ) -> Result<()> {
        let pending: Vec<u64> = self
            .removals
            .range((ctx.job, 0)..=(ctx.job, u64::MAX))?
            .map(|row| row.map(|(k, _)| k.value().1))
            .collect::<Result<_, _>>()?;
        for id in pending {
            self.removals.remove((ctx.job, id))?;
            counters.removed += self.remove_subtree(ctx, id)?;
        }
        Ok(())
    }

    /// Deletes `id` and everything below it. Returns how many entries went.
    pub fn remove_subtree(&mut self, ctx: &ApplyCtx<'_>, id: u64) -> Result<u64> {
        let mut stack = vec![id];
        let mut removed = 0;
        while let Some(current) = stack.pop() {
            for (name, child) in self.children_of(current)? {
                self.children.remove(child_key(current, &name).as_slice())?;
                stack.push(child);
            }
            let Some(mut record) = self.get_entry(current)? else {
                continue;
            };
            self.unmap_inode(record.inode, current)?;
            self.unlink_content(&mut record, current)?;
            self.unidentified.remove((ctx.root, current))?;
            self.data.remove_entry(current)?;
            removed += 1;
        }
        Ok(removed)
    }

    fn unmap_inode(&mut self, inode: u64, id: u64) -> Result<()> {
        if self.inodes.get(inode)?.map(|v| v.value()) == Some(id) {
            self.inodes.remove(inode)?;
        }
        Ok(())
    }

    fn queue_identification(
        &mut self,
        ctx: &ApplyCtx<'_>,
        id: u64,
        record: &EntryRecord,
    ) -> Result<()> {
        if ctx.identify && record.kind == EntryKind::File && record.size > 0 {
            self.unidentified.insert((ctx.root, id), ())?;
        }
        Ok(())
    }

    /// Drops the link between an entry and its content identity.
    pub(crate) fn unlink_content(&mut self, record: &mut EntryRecord, id: u64) -> Result<()> {
        // Whatever the file's bytes were, they are not its bytes any more.
        self.manifests.remove(id)?;
        self.issues.remove(id)?;
        let Some(content) = record.content.take() else {
            return Ok(());
        };
        let key = content.0.as_u128();
        if self.instances.remove((key, id))?.is_none() {
            return Ok(());
        }
        let existing = self
            .data
            .content()
            .get(key)?
            .map(|v| ContentRecord::decode(v.value()))
            .transpose()?;
        if let Some(mut existing) = existing {
            existing.instances = existing.instances.saturating_sub(1);
            if existing.instances == 0 {
                self.data.remove_content(key)?;
            } else {
                self.data.put_content(key, existing.encode().as_slice())?;
            }
        }
        Ok(())
    }

    /// Records that entry `id` has content `hash` of kind `kind`.
    pub fn set_content(
        &mut self,
        ctx: &ApplyCtx<'_>,
        id: u64,
        record: &mut EntryRecord,
        hash: ContentHash,
        kind: u8,
    ) -> Result<ContentId> {
        let content_id = hash.content_id();
        if record.content != Some(content_id) {
            self.unlink_content(record, id)?;
            let key = content_id.0.as_u128();
            let existing = self
                .data
                .content()
                .get(key)?
                .map(|v| ContentRecord::decode(v.value()))
                .transpose()?;
            let mut content = existing.unwrap_or(ContentRecord {
                hash,
                size: record.size,
                kind,
                instances: 0,
                integrity: None,
                first_seen: crate::time::unix_now_secs(),
            });
            content.instances += 1;
            self.data.put_content(key, content.encode().as_slice())?;
            self.instances.insert((key, id), ())?;
            record.content = Some(content_id);
            self.put_entry(id, record)?;
        }
        self.unidentified.remove((ctx.root, id))?;
        Ok(content_id)
    }

    /// Recomputes directory sizes and file counts below `root`, writing only
    /// the directories whose figures changed. Returns how many it wrote.
    pub fn aggregate(&mut self, root: u64) -> Result<u64> {
        struct DirSums {
            id: u64,
            size: u64,
            files: u64,
            subdirs: Vec<u64>,
        }
        let mut order: Vec<DirSums> = Vec::new();
        let mut pending = vec![root];
        while let Some(dir) = pending.pop() {
            let mut sums = DirSums {
                id: dir,
                size: 0,
                files: 0,
                subdirs: Vec::new(),
            };
            for (_, child) in self.children_of(dir)? {
                let Some(record) = self.get_entry(child)? else {
                    continue;
                };
                match record.kind {
                    EntryKind::Directory => {
                        sums.subdirs.push(child);
                        pending.push(child);
                    }
                    EntryKind::File => {
                        sums.size += record.size;
                        sums.files += 1;
                    }
                    _ => {}
                }
            }
            order.push(sums);
        }
        // Children were pushed after their parents: walk backwards to sum upwards.
        let mut totals: HashMap<u64, (u64, u64)> = HashMap::with_capacity(order.len());
        let mut written = 0;
        for sums in order.iter().rev() {
            let (mut size, mut files) = (sums.size, sums.files);
            for sub in &sums.subdirs {
                if let Some((s, f)) = totals.remove(sub) {
                    size += s;
                    files += f;
                }
            }
            totals.insert(sums.id, (size, files));
            if let Some(mut record) = self.get_entry(sums.id)?
                && (record.agg_size != size || record.agg_files != files)
            {
                record.agg_size = size;
                record.agg_files = files;
                self.put_entry(sums.id, &record)?;
                written += 1;
            }
        }
        Ok(written)
    }

    /// Recomputes the aggregates of `dir` and its ancestors up to the root from
    /// their direct children (after a small change, e.g. from the watcher).
    pub fn aggregate_upwards(&mut self, ctx: &ApplyCtx<'_>, dir: u64) -> Result<()> {
        let mut current = dir;
        loop {
            let (mut size, mut files) = (0, 0);
            for (_, child) in self.children_of(current)? {
                let Some(record) = self.get_entry(child)? else {
                    continue;
                };
                match record.kind {
                    EntryKind::Directory => {
                        size += record.agg_size;
                        files += record.agg_files;
                    }
                    EntryKind::File => {
                        size += record.size;
                        files += 1;
                    }
                    _ => {}
                }
            }
            let Some(mut record) = self.get_entry(current)? else {
                return Ok(());
            };
            if record.agg_size != size || record.agg_files != files {
                record.agg_size = size;
                record.agg_files = files;
                self.put_entry(current, &record)?;
            }
            if current == ctx.root || record.parent == 0 {
                return Ok(());
            }
            current = record.parent;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::query::files::for_each_file;

    fn index(lib: &crate::Library, location: crate::ids::LocationId) {
        crate::indexer::index_to_end(lib, location, false).expect("index");
    }

    fn paths(lib: &crate::Library) -> Vec<String> {
        let mut out = Vec::new();
        for_each_file(lib, |row| {
            out.push(String::from_utf8_lossy(&row.mount_path).into_owned())
        })
        .expect("files");
        out.sort();
        out
    }

    fn write(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, b"x").expect("write");
    }

    /// A directory renamed to a name that sorts before its old one is met
    /// first in the merge; its old name, met later, must not take it
    /// (and all below it) out of the index.
    #[test]
    fn a_rename_to_an_earlier_name_keeps_what_is_below() {
        let tmp = tempfile::tempdir().expect("tmp");
        let docs = tmp.path().join("docs");
        write(&docs.join("reports/alpha.txt"));
        write(&docs.join("reports/deep/beta.md"));
        write(&docs.join("gamma.csv"));
        let lib = crate::Library::create(&tmp.path().join("lib"), "laptop").expect("library");
        let location = crate::locations::add(
            &lib,
            &docs,
            Some("Docs"),
            Default::default(),
            Default::default(),
        )
        .expect("location");
        index(&lib, location.id);
        std::fs::rename(docs.join("reports"), docs.join("archive")).expect("rename");
        std::fs::remove_file(docs.join("gamma.csv")).expect("rm");
        index(&lib, location.id);
        assert_eq!(
            paths(&lib),
            [
                "laptop/Docs/archive/alpha.txt",
                "laptop/Docs/archive/deep/beta.md"
            ]
        );
    }
}
