//! The library's search index, kept on disk in the library (a sidecar,
//! never beside user files) and kept up to date: this device's changes are
//! followed in its change log, as paired devices follow them; other
//! devices' changes arrive as sync applies them. What the index has caught
//! up with is committed with it, so after a crash it goes on from there.
//!
//! A search first catches up with whatever changed (a read of the change
//! log when nothing did), so it never answers from before a change the
//! library already holds.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use sdfs_core::Library;
use sdfs_core::ids::DeviceId;
use sdfs_core::query::files::{FileRow, FileTree};
use sdfs_core::shared::{Target, VersionVector, store, tag_tree};
use sdfs_core::sync::{Resource, changes, replica};
use serde::{Deserialize, Serialize};

use crate::index::{Hit, Record, SearchIndex, Writer};
use crate::query::Query;
use crate::said::Said;
use crate::semantic::{RERANKED, Semantic};

/// Bumped when what the index holds for a file changes: an index written
/// by another version is built again.
const FORMAT: u32 = 8;

/// What a query means, in words: its free text and the kinds it names
/// ("family celebration videos").
fn meaning_of(query: &Query) -> String {
    use sdfs_core::kind::FileKind;
    let mut words = query.text.clone();
    for kind in &query.kinds {
        words.push(
            match kind {
                FileKind::Image => "photos",
                FileKind::Video => "videos",
                FileKind::Audio => "music",
                FileKind::Document => "documents",
                FileKind::Text => "notes",
                FileKind::Archive => "archives",
                FileKind::Book => "books",
                other => other.as_str(),
            }
            .to_owned(),
        );
    }
    words.join(" ")
}

/// Files weighed by meaning alone when no file has the query's words.
const BY_MEANING: usize = 500;

/// How [`LiveIndex::search`] orders what it finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ranking {
    /// By words alone.
    Words,
    /// By words; by meaning only when no file has them (a listing, which
    /// has no order: re-ranking would cost and change nothing).
    WordsElseMeaning,
    /// The best by words re-ranked with meaning, recency and tags; by
    /// meaning when no file has the words.
    Blended,
}

/// Words of folder names weighed by meaning, at most.
const FOLDER_WORDS: usize = 100_000;

/// Folder words near a query that bring their files in as candidates.
const NEAR_WORDS: usize = 8;

/// Folder words embedded at a time in the background.
const WARM_BATCH: usize = 64;

/// Changed keys read from the change log at a time.
const BATCH: usize = 20_000;

/// How often the index looks for changes when nothing wakes it.
const POLL: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Index(#[from] crate::index::SearchError),
    #[error(transparent)]
    Library(#[from] sdfs_core::Error),
}

pub type Result<T> = std::result::Result<T, LiveError>;

/// What the index has caught up with (its commit's payload).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Marks {
    format: u32,
    /// This device's change log, for entries.
    local: u64,
    /// Each paired device's replica watermark for entries, by device id.
    devices: BTreeMap<String, u64>,
}

/// Entries of a paired device that sync changed, not indexed yet.
#[derive(Default)]
struct Pending {
    entries: BTreeSet<u64>,
    /// The replica's watermark once they were applied.
    mark: u64,
}

/// Each tagged file's tags with every tag above them, and the shared
/// data's version vector they were read at.
#[derive(Default)]
struct Tags {
    seen: Option<VersionVector>,
    of: HashMap<Target, Vec<String>>,
}

struct Updater {
    writer: Writer,
    tags: Tags,
    /// `None` until the first full build.
    marks: Option<Marks>,
    /// Replicas were compared with the marks since the index was opened
    /// (sync may have applied changes the index never heard of before a
    /// crash).
    replicas_checked: bool,
}

/// Counts of what one catch-up did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaughtUp {
    /// Changed entries looked at.
    pub changes: u64,
    /// Files (re)indexed.
    pub indexed: u64,
}

pub struct LiveIndex {
    lib: Arc<Library>,
    index: SearchIndex,
    /// The model, loaded at the first query with words (`None`: not
    /// installed or not the pinned one; search is lexical).
    semantic: std::sync::OnceLock<Option<Semantic>>,
    /// Why search is lexical, until someone has been told.
    notice: Mutex<Option<String>>,
    updater: Mutex<Updater>,
    pending: Mutex<HashMap<DeviceId, Pending>>,
    woken: Mutex<bool>,
    wake: Condvar,
}

/// What indexing a file needs besides the file: the tags, and what files
/// say.
struct Known<'a> {
    tags: &'a Tags,
    said: &'a Said,
}

/// Replaces everything `owner` has in the index with every file of `tree`.
fn index_whole(
    writer: &mut Writer,
    known: &Known<'_>,
    mut tree: FileTree,
    owner: &str,
    done: &mut CaughtUp,
) -> Result<()> {
    writer.remove_owner(owner);
    tree.for_each(&mut |row| add(writer, known, row, done))?;
    Ok(())
}

fn add(writer: &mut Writer, known: &Known<'_>, row: FileRow, done: &mut CaughtUp) {
    done.indexed += 1;
    if let Err(e) = writer.add(record(row, known)) {
        tracing::warn!("search index: {e}");
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn owner(device: DeviceId) -> String {
    device.0.simple().to_string()
}

fn record(row: FileRow, known: &Known<'_>) -> Record {
    let target = Target {
        device: row.owner,
        entry: row.entry,
    };
    let said = known.said.of(&row);
    Record {
        text: said.text,
        taken: said.taken,
        camera: said.camera,
        tags: known.tags.of.get(&target).cloned().unwrap_or_default(),
        path: String::from_utf8_lossy(&row.mount_path).into_owned(),
        name: String::from_utf8_lossy(&row.name).into_owned(),
        uri: row.uri,
        device: row.device,
        space: row.location,
        kind: row.kind.as_str(),
        size: row.size,
        modified: row.modified,
        content: row.content.map(|c| c.to_string()),
        owner: owner(row.owner),
        entry: row.entry,
        above: row.above,
    }
}

impl LiveIndex {
    /// The index kept in `lib`'s `search/` directory. Nothing is read
    /// from the library yet: the first [`catch_up`](Self::catch_up) does
    /// that.
    pub fn open(lib: Arc<Library>) -> Result<LiveIndex> {
        let index = SearchIndex::open(&lib.dir().join("search"))?;
        let marks = index
            .payload()?
            .and_then(|p| serde_json::from_str::<Marks>(&p).ok())
            .filter(|m| m.format == FORMAT);
        let writer = index.writer()?;
        Ok(LiveIndex {
            lib,
            index,
            updater: Mutex::new(Updater {
                writer,
                tags: Tags::default(),
                marks,
                replicas_checked: false,
            }),
            pending: Mutex::new(HashMap::new()),
            woken: Mutex::new(false),
            wake: Condvar::new(),
            semantic: std::sync::OnceLock::new(),
            notice: Mutex::new(None),
        })
    }

    /// The semantic ranker, loaded once.
    fn semantic(&self) -> Option<&Semantic> {
        self.semantic
            .get_or_init(|| {
                match Semantic::open(&self.lib.dir().join("search"), &crate::embed::model_dir()) {
                    Ok(semantic) => Some(semantic),
                    Err(e) => {
                        let why = format!("semantic ranking is off ({e}); search is by words");
                        tracing::warn!("{why}");
                        *lock(&self.notice) = Some(why);
                        None
                    }
                }
            })
            .as_ref()
    }

    /// Why search is lexical, the first time it is asked (once per daemon).
    pub fn take_notice(&self) -> Option<String> {
        lock(&self.notice).take()
    }

    /// Sync changed `entries` of `device`'s replica (written or deleted).
    /// Called as each page is applied, before the next one for the device
    /// is, so the replica's watermark read here is the one they reached.
    pub fn replica_changed(&self, device: DeviceId, entries: &[u64]) {
        let mark = match replica::watermarks(self.lib.db(), device) {
            Ok(marks) => marks[Resource::Entry.slot()].0,
            Err(e) => {
                tracing::warn!("search index: {e}");
                return;
            }
        };
        {
            let mut pending = lock(&self.pending);
            let p = pending.entry(device).or_default();
            p.entries.extend(entries);
            p.mark = p.mark.max(mark);
        }
        self.nudge();
    }

    /// Something changed: catch up now rather than at the next poll.
    pub fn nudge(&self) {
        *lock(&self.woken) = true;
        self.wake.notify_one();
    }

    /// Catches up whenever nudged, or every [`POLL`], until `stop`; in
    /// between, once the model is loaded, embeds the words of new folder
    /// names a few at a time, so queries by meaning need not.
    pub fn run(&self, stop: &std::sync::atomic::AtomicBool) {
        let mut cold = true;
        // Folder words still to embed, found once per cold spell.
        let mut unwarmed: Vec<String> = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            match self.catch_up() {
                Ok(done) => cold |= done.indexed > 0,
                Err(e) => tracing::warn!("search index: {e}"),
            }
            if let Some(Some(semantic)) = self.semantic.get()
                && (cold || !unwarmed.is_empty())
            {
                if unwarmed.is_empty() {
                    cold = false;
                    match self
                        .index
                        .folder_words(FOLDER_WORDS)
                        .map_err(|e| crate::embed::EmbedError::Model(e.to_string()))
                        .and_then(|words| semantic.unembedded(&words))
                    {
                        Ok(words) => unwarmed = words,
                        Err(e) => tracing::warn!("embedding folder names: {e}"),
                    }
                }
                let batch: Vec<String> = unwarmed.drain(..unwarmed.len().min(WARM_BATCH)).collect();
                if !batch.is_empty() {
                    if let Err(e) = semantic.warm(&batch) {
                        tracing::warn!("embedding folder names: {e}");
                        unwarmed.clear();
                    }
                    // More to do: after the next catch-up, without waiting.
                    if !unwarmed.is_empty() {
                        continue;
                    }
                }
            }
            let woken = lock(&self.woken);
            let (mut woken, _) = self
                .wake
                .wait_timeout_while(woken, POLL, |w| !*w)
                .unwrap_or_else(|e| e.into_inner());
            *woken = false;
        }
    }

    /// The best `limit` hits for `query`, once the index has caught up
    /// with the library, ranked as `ranking` says (meaning needs the model
    /// and words in the query).
    pub fn search(
        &self,
        query: &Query,
        limit: usize,
        explain: bool,
        ranking: Ranking,
    ) -> Result<Vec<Hit>> {
        self.catch_up()?;
        let words = !query.text.is_empty();
        let semantic = match ranking {
            Ranking::Blended if words => self.semantic(),
            _ => None,
        };
        let fetch = match semantic {
            Some(_) => limit.max(RERANKED),
            None => limit,
        };
        let mut hits = self.index.search(query, fetch, explain)?;
        // Loaded only when it is needed.
        let semantic = match ranking {
            Ranking::WordsElseMeaning if words && hits.is_empty() => self.semantic(),
            _ => semantic,
        };
        let Some(semantic) = semantic else {
            return Ok(hits);
        };
        let meant = semantic.embed_query(&meaning_of(query)).and_then(|meant| {
            if hits.is_empty() {
                // No file has all the words: those with some of them,
                // else the newest the filters allow, by what they mean.
                let failed =
                    |e: crate::index::SearchError| crate::embed::EmbedError::Model(e.to_string());
                let mut candidates = self
                    .index
                    .search_any_word(query, BY_MEANING, explain)
                    .map_err(failed)?;
                // And files filed under folders named for what the query
                // means ("Ski trip" for "snow holiday").
                let words = self.index.folder_words(FOLDER_WORDS).map_err(failed)?;
                let near = semantic.near_words(&meant, &words, NEAR_WORDS)?;
                if !near.is_empty() {
                    let nearby = Query {
                        text: near,
                        ..query.clone()
                    };
                    let seen: HashSet<String> = candidates.iter().map(|h| h.uri.clone()).collect();
                    let more = self
                        .index
                        .search_any_word(&nearby, BY_MEANING, explain)
                        .map_err(failed)?;
                    candidates.extend(more.into_iter().filter(|h| !seen.contains(&h.uri)));
                }
                if candidates.is_empty() {
                    let filters = Query {
                        text: Vec::new(),
                        ..query.clone()
                    };
                    candidates = self
                        .index
                        .search(&filters, BY_MEANING, explain)
                        .map_err(failed)?;
                }
                crate::said::add_excerpts(&self.lib, &mut candidates);
                hits = semantic.by_meaning(&meant, candidates, explain)?;
                Ok(())
            } else {
                let head = hits.len().min(RERANKED);
                crate::said::add_excerpts(&self.lib, &mut hits[..head]);
                semantic.rerank(&meant, &mut hits, sdfs_core::time::unix_now_secs(), explain)
            }
        });
        if let Err(e) = meant {
            tracing::warn!("semantic ranking failed ({e}); ranked by words");
        }
        hits.truncate(limit);
        Ok(hits)
    }

    /// Files in the index.
    pub fn len(&self) -> u64 {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Brings the index up to date with the library: everything, the
    /// first time (or after this device's log was pruned past it); then
    /// only what changed.
    pub fn catch_up(&self) -> Result<CaughtUp> {
        let mut updater = lock(&self.updater);
        let Updater {
            writer,
            tags,
            marks,
            replicas_checked,
        } = &mut *updater;
        let mut done = CaughtUp::default();
        let retag = self.refresh_tags(tags)?;
        let said = Said::open(&self.lib);
        let known = &Known {
            tags: &*tags,
            said: &said,
        };
        let (marks, built) = match marks {
            Some(m) => (m, false),
            None => {
                let built = self.build_all(writer, known, &mut done)?;
                (marks.insert(built), true)
            }
        };
        // A build just indexed every file with its tags now.
        if !built && !retag.is_empty() {
            self.retag(writer, known, &retag, &mut done)?;
            self.commit(writer, known, marks)?;
        }
        let me = owner(self.lib.device_id());
        loop {
            let changed =
                changes::changed_since(self.lib.db(), Resource::Entry, marks.local, BATCH)?;
            if changed.behind_floor {
                // A deletion we never saw was pruned: start this device
                // again from its records.
                let head = changes::heads(self.lib.db())?[Resource::Entry.slot()];
                index_whole(writer, known, FileTree::local(&self.lib)?, &me, &mut done)?;
                marks.local = head;
                self.commit(writer, known, marks)?;
                continue;
            }
            if changed.keys.is_empty() {
                break;
            }
            let mut tree = FileTree::local(&self.lib)?;
            let keys = changed.keys.iter().map(|k| *k as u64);
            self.apply(writer, known, &mut tree, &me, keys, &mut done)?;
            marks.local = changed.next;
            self.commit(writer, known, marks)?;
            if !changed.more {
                break;
            }
        }
        self.catch_up_devices(
            writer,
            known,
            marks,
            !std::mem::replace(replicas_checked, true),
            &mut done,
        )?;
        Ok(done)
    }

    /// Paired devices: what sync changed, new pairings built whole,
    /// forgotten devices removed; with `check`, a replica that moved on
    /// while the index was not looking is built again.
    fn catch_up_devices(
        &self,
        writer: &mut Writer,
        known: &Known<'_>,
        marks: &mut Marks,
        check: bool,
        done: &mut CaughtUp,
    ) -> Result<()> {
        let pending = std::mem::take(&mut *lock(&self.pending));
        // What files say is read after the pending changes were taken: an
        // extract that arrived with them is in this read.
        let said = Said::open(&self.lib);
        let known = &Known {
            tags: known.tags,
            said: &said,
        };
        let devices: Vec<_> = self
            .lib
            .devices()?
            .into_iter()
            .filter(|d| d.id != self.lib.device_id())
            .collect();
        let mut changed = false;
        let paired: HashSet<String> = devices.iter().map(|d| owner(d.id)).collect();
        let gone: Vec<String> = marks
            .devices
            .keys()
            .filter(|d| !paired.contains(*d))
            .cloned()
            .collect();
        for device in gone {
            writer.remove_owner(&device);
            marks.devices.remove(&device);
            changed = true;
        }
        for device in &devices {
            let id = owner(device.id);
            let indexed = marks.devices.get(&id).copied();
            let stale = check && {
                let mark = replica::watermarks(self.lib.db(), device.id)?;
                indexed != Some(mark[Resource::Entry.slot()].0)
            };
            if indexed.is_none() || stale {
                // Read before the walk: changes applied during it come
                // again as pending, and indexing twice is harmless.
                let mark = replica::watermarks(self.lib.db(), device.id)?;
                index_whole(
                    writer,
                    known,
                    FileTree::replica(&self.lib, device)?,
                    &id,
                    done,
                )?;
                marks.devices.insert(id, mark[Resource::Entry.slot()].0);
                changed = true;
            } else if let Some(p) = pending.get(&device.id) {
                let mut tree = FileTree::replica(&self.lib, device)?;
                self.apply(
                    writer,
                    known,
                    &mut tree,
                    &id,
                    p.entries.iter().copied(),
                    done,
                )?;
                marks.devices.insert(id, p.mark);
                changed = true;
            }
        }
        if changed {
            self.commit(writer, known, marks)?;
        }
        Ok(())
    }

    /// Everything, from scratch.
    fn build_all(
        &self,
        writer: &mut Writer,
        known: &Known<'_>,
        done: &mut CaughtUp,
    ) -> Result<Marks> {
        writer.clear()?;
        let marks = Marks {
            format: FORMAT,
            local: changes::heads(self.lib.db())?[Resource::Entry.slot()],
            devices: BTreeMap::new(),
        };
        let me = owner(self.lib.device_id());
        index_whole(writer, known, FileTree::local(&self.lib)?, &me, done)?;
        // Paired devices are built by the catch-up that follows (none is
        // in `marks` yet).
        self.commit(writer, known, &marks)?;
        Ok(marks)
    }

    /// Re-indexes changed entries `keys` of `tree`, owned by `owner`.
    fn apply(
        &self,
        writer: &mut Writer,
        known: &Known<'_>,
        tree: &mut FileTree,
        owner: &str,
        keys: impl Iterator<Item = u64>,
        done: &mut CaughtUp,
    ) -> Result<()> {
        let mut files = Vec::new();
        let mut added: HashSet<u64> = HashSet::new();
        for key in keys {
            done.changes += 1;
            match tree.is_dir(key)? {
                // Gone: it and whatever was below it.
                None => writer.remove(owner, key)?,
                Some(false) => files.push(key),
                // A directory changes whenever what is below it does
                // (sizes add up); only a move or rename changes the paths
                // below it.
                Some(true) => {
                    if self.paths_below_hold(tree, owner, key)? {
                        continue;
                    }
                    writer.remove(owner, key)?;
                    tree.for_each_at(key, &mut |row| {
                        added.insert(row.entry);
                        add(writer, known, row, done);
                    })?;
                }
            }
        }
        for key in files {
            if added.contains(&key) {
                continue;
            }
            writer.remove(owner, key)?;
            tree.for_each_at(key, &mut |row| add(writer, known, row, done))?;
        }
        Ok(())
    }

    /// Whether the files indexed below directory `dir` still have its
    /// path (none indexed: they have to be looked at).
    fn paths_below_hold(&self, tree: &FileTree, owner: &str, dir: u64) -> Result<bool> {
        let (Some(indexed), Some(mut now)) =
            (self.index.path_below(owner, dir)?, tree.mount_path(dir)?)
        else {
            return Ok(false);
        };
        now.push(b'/');
        Ok(indexed.as_bytes().starts_with(&now))
    }

    /// Reads the tags again if shared data changed since; returns the
    /// files whose tags (or the tags above them) changed. The first time,
    /// every file tagged now or when the index was last committed.
    fn refresh_tags(&self, tags: &mut Tags) -> Result<BTreeSet<Target>> {
        let db = self.lib.db();
        let vv = store::version_vector(db)?;
        if tags.seen.as_ref() == Some(&vv) {
            return Ok(BTreeSet::new());
        }
        let hierarchy = tag_tree::parents(db)?;
        let mut of = HashMap::new();
        for (target, direct) in sdfs_core::shared::tags::all(db)? {
            let mut all = BTreeSet::new();
            for tag in &direct {
                all.extend(tag_tree::ancestors(&hierarchy, tag));
            }
            of.insert(target, all.into_iter().collect::<Vec<_>>());
        }
        let mut changed: BTreeSet<Target> = BTreeSet::new();
        for (target, now) in &of {
            if tags.of.get(target) != Some(now) {
                changed.insert(*target);
            }
        }
        changed.extend(tags.of.keys().filter(|t| !of.contains_key(t)));
        if tags.seen.is_none() {
            // Tags taken off while the index was closed.
            for (owner, entry) in self.index.tagged()? {
                if let Ok(id) = owner.parse::<uuid::Uuid>() {
                    changed.insert(Target {
                        device: DeviceId(id),
                        entry,
                    });
                }
            }
        }
        tags.of = of;
        tags.seen = Some(vv);
        Ok(changed)
    }

    /// Indexes `targets` again, with their tags now.
    fn retag(
        &self,
        writer: &mut Writer,
        known: &Known<'_>,
        targets: &BTreeSet<Target>,
        done: &mut CaughtUp,
    ) -> Result<()> {
        let devices = self.lib.devices()?;
        let mut by_owner: BTreeMap<DeviceId, Vec<u64>> = BTreeMap::new();
        for t in targets {
            by_owner.entry(t.device).or_default().push(t.entry);
        }
        for (device, entries) in by_owner {
            let mut tree = if device == self.lib.device_id() {
                FileTree::local(&self.lib)?
            } else if let Some(record) = devices.iter().find(|d| d.id == device) {
                FileTree::replica(&self.lib, record)?
            } else {
                continue;
            };
            let id = owner(device);
            for entry in entries {
                let file = matches!(tree.is_dir(entry)?, Some(false));
                if file {
                    writer.remove(&id, entry)?;
                    tree.for_each_at(entry, &mut |row| add(writer, known, row, done))?;
                }
            }
        }
        Ok(())
    }

    /// Keeps what files said in the library, then commits the index: an
    /// index never names extracts the library lost in a crash.
    fn commit(&self, writer: &mut Writer, known: &Known<'_>, marks: &Marks) -> Result<()> {
        if let Err(e) = known.said.keep(&self.lib) {
            tracing::warn!("search: keeping what files say: {e}");
        }
        let payload = serde_json::to_string(marks).unwrap_or_default();
        writer.commit(Some(&payload))?;
        Ok(())
    }
}
