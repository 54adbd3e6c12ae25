//! The search index (tantivy): one document per file of every device and
//! volume, with its name, folders and text as words and its kind, extension, size,
//! time, device, location and content as filters. A parsed [`Query`]
//! becomes one boolean query over it; hits come back grouped by content,
//! so a file kept in three places shows once, with its copies.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;
use std::path::Path;

use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur,
    Query as TantivyQuery, RangeQuery, TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TEXT, TantivyDocument, Value,
};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Term, doc};

use crate::query::{Query, TimeField, TimeQuery};

/// Heap for the writer: tantivy's floor is 15 MB per thread; a bit more
/// makes fewer, larger segments at a million files.
const WRITER_HEAP: usize = 64 << 20;

/// Copies of one content listed with a hit (all are counted).
const MAX_COPIES_LISTED: usize = 32;

/// Documents fetched per hit shown at first, so that grouping copies
/// still fills the page.
const OVERFETCH: usize = 4;

/// Tagged files read back at most (when the index reopens).
const MAX_TAGGED: usize = 1_000_000;

/// The most documents one search reads to fill a page of distinct contents.
const MAX_FETCH: usize = 16_384;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index at {0}: {1}")]
    Io(std::path::PathBuf, std::io::Error),
    #[error("search index: {0}")]
    Open(#[from] tantivy::directory::error::OpenDirectoryError),
}

pub type Result<T> = std::result::Result<T, SearchError>;

/// A file as the index knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `sd://device/location/path`: where it lives, exactly.
    pub uri: String,
    /// Its path under the mount (`device/location/...` or `volume/...`).
    pub path: String,
    pub name: String,
    /// The device that holds it, or the volume's name for a bucket.
    pub device: String,
    /// The location (or volume) it is in.
    pub space: String,
    pub kind: &'static str,
    pub size: u64,
    /// Unix seconds.
    pub modified: i64,
    /// Content id, when the file has been identified.
    pub content: Option<String>,
    /// The device whose index holds the file (its id), with `entry` and
    /// `above`: what a change to the library is matched with.
    pub owner: String,
    /// Its entry id in the owner's index.
    pub entry: u64,
    /// The directories above it in the owner's index.
    pub above: Vec<u64>,
    /// Its tags and every tag above them in the hierarchy, so a search
    /// for a tag finds what is tagged with a tag below it.
    pub tags: Vec<String>,
    /// Text its words are found by besides its name (see `extract`).
    pub text: Option<String>,
    /// When a photo was taken (unix seconds), from its EXIF.
    pub taken: Option<i64>,
    /// The camera that took it, from its EXIF.
    pub camera: Option<String>,
}

/// Changes to the index, seen by searches once committed.
pub struct Writer {
    writer: IndexWriter,
    reader: IndexReader,
    fields: Fields,
}

impl Writer {
    pub fn add(&mut self, r: Record) -> Result<()> {
        let f = self.fields;
        let mut document = doc!(
            f.owner => r.owner,
            f.entry => r.entry,
            f.uri => r.uri,
            // Words are looked for in the folders above the file; its own
            // name has a field of its own.
            f.folder => r.path.rsplit_once('/').map_or("", |(folder, _)| folder),
            f.path => r.path.as_str(),
            f.name => r.name.as_str(),
            f.device => r.device.to_lowercase(),
            f.space => r.space.to_lowercase(),
            f.kind => r.kind,
            f.size => r.size,
            f.modified => r.modified,
            f.order => order_of(&r.uri),
        );
        if let Some(ext) = extension(&r.name) {
            document.add_text(f.ext, ext);
        }
        if let Some(content) = r.content {
            document.add_text(f.content, content);
        }
        for dir in r.above {
            document.add_u64(f.above, dir);
        }
        if !r.tags.is_empty() {
            document.add_text(f.tagged, "1");
        }
        for tag in r.tags {
            document.add_text(f.tags, tag.to_lowercase());
        }
        if let Some(text) = r.text {
            document.add_text(f.text, text);
        }
        if let Some(taken) = r.taken {
            document.add_i64(f.taken, taken);
        }
        if let Some(camera) = r.camera {
            document.add_text(f.camera, camera);
        }
        self.writer.add_document(document)?;
        Ok(())
    }

    /// Removes entry `entry` of `owner`'s index, and everything below it
    /// if it is a directory (added before this call).
    pub fn remove(&mut self, owner: &str, entry: u64) -> Result<()> {
        let f = self.fields;
        let at = BooleanQuery::new(vec![
            (Occur::Should, exact_u64(f.entry, entry)),
            (Occur::Should, exact_u64(f.above, entry)),
        ]);
        let query = BooleanQuery::new(vec![
            (Occur::Must, exact(f.owner, owner)),
            (Occur::Must, Box::new(at)),
        ]);
        self.writer.delete_query(Box::new(query))?;
        Ok(())
    }

    /// Removes every file of `owner`'s index.
    pub fn remove_owner(&mut self, owner: &str) {
        self.writer
            .delete_term(Term::from_field_text(self.fields.owner, owner));
    }

    /// Removes everything.
    pub fn clear(&mut self) -> Result<()> {
        self.writer.delete_all_documents()?;
        Ok(())
    }

    /// Makes what was changed visible to searches, durably, with
    /// `payload` (what the index has caught up with) in the same commit.
    pub fn commit(&mut self, payload: Option<&str>) -> Result<()> {
        let mut prepared = self.writer.prepare_commit()?;
        if let Some(payload) = payload {
            prepared.set_payload(payload);
        }
        prepared.commit()?;
        self.reader.reload()?;
        Ok(())
    }
}

/// A rebuild under way.
pub struct Rebuild {
    writer: Writer,
    added: u64,
}

impl Rebuild {
    pub fn add(&mut self, r: Record) -> Result<()> {
        self.writer.add(r)?;
        self.added += 1;
        Ok(())
    }

    /// Commits what was added; returns how many.
    pub fn finish(mut self) -> Result<u64> {
        self.writer.commit(None)?;
        Ok(self.added)
    }
}

/// One result: the best-ranked file of a content, with its other copies.
#[derive(Clone, Debug, Serialize)]
pub struct Hit {
    pub uri: String,
    pub name: String,
    /// Its path under the mount, from the mount's root.
    pub path: String,
    pub device: String,
    pub kind: String,
    pub size: u64,
    /// Unix seconds (RFC 3339 in JSON, as `sd ls` and `sd stat` show
    /// times).
    #[serde(serialize_with = "rfc3339_secs")]
    pub modified: i64,
    pub score: f32,
    /// Places this content is kept, on every device (1 = only here).
    pub copies: usize,
    /// The other copies' URIs (the first few).
    pub other_copies: Vec<String>,
    pub content_id: Option<String>,
    /// Its tags, with every tag above them (lowercase).
    pub tags: Vec<String>,
    /// When a photo was taken (unix seconds), from its EXIF.
    #[serde(skip)]
    pub taken: Option<i64>,
    /// The device whose index holds it (its id).
    #[serde(skip)]
    pub owner: String,
    /// The start of what it says (its text), when meaning is weighed.
    #[serde(skip)]
    pub excerpt: Option<String>,
    /// What the query's time phrase gave it (in its range, or its name or
    /// folders say the year): part of `score`, a tier above the words.
    #[serde(skip)]
    pub time_part: f32,
    /// What the score is made of (`name`, `path`, `text`, `time`), when
    /// asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score_parts: Option<BTreeMap<&'static str, f32>>,
}

fn rfc3339_secs<S: serde::Serializer>(secs: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&sdfs_core::time::rfc3339(
        secs.saturating_mul(1_000_000_000),
    ))
}

#[derive(Clone, Copy)]
struct Fields {
    owner: Field,
    entry: Field,
    above: Field,
    tags: Field,
    tagged: Field,
    uri: Field,
    path: Field,
    folder: Field,
    text: Field,
    taken: Field,
    camera: Field,
    name: Field,
    device: Field,
    space: Field,
    kind: Field,
    ext: Field,
    size: Field,
    modified: Field,
    order: Field,
    content: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        owner: b.add_text_field("owner", STRING | STORED),
        entry: b.add_u64_field("entry", INDEXED | STORED),
        above: b.add_u64_field("above", INDEXED),
        tags: b.add_text_field("tags", STRING | STORED),
        tagged: b.add_text_field("tagged", STRING),
        uri: b.add_text_field("uri", STRING | STORED),
        path: b.add_text_field("path", STORED),
        folder: b.add_text_field("folder", TEXT),
        text: b.add_text_field("text", TEXT),
        taken: b.add_i64_field("taken", INDEXED | STORED),
        camera: b.add_text_field("camera", TEXT),
        name: b.add_text_field("name", TEXT | STORED),
        device: b.add_text_field("device", STRING | STORED | FAST),
        space: b.add_text_field("space", STRING | STORED),
        kind: b.add_text_field("kind", STRING | STORED | FAST),
        ext: b.add_text_field("ext", STRING),
        size: b.add_u64_field("size", INDEXED | STORED | FAST),
        modified: b.add_i64_field("modified", INDEXED | STORED | FAST),
        order: b.add_u64_field("order", FAST),
        content: b.add_text_field("content", STRING | STORED),
    };
    (b.build(), fields)
}

pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
}

impl SearchIndex {
    /// An empty index, in memory.
    pub fn in_memory() -> Result<SearchIndex> {
        let (schema, fields) = schema();
        SearchIndex::with(Index::create_in_ram(schema), fields)
    }

    /// The index kept in `dir`, or a new empty one there if there is
    /// none or it was written by a build with another schema.
    pub fn open(dir: &Path) -> Result<SearchIndex> {
        let (schema, fields) = schema();
        std::fs::create_dir_all(dir).map_err(|e| SearchError::Io(dir.to_owned(), e))?;
        let open = || -> Result<Index> {
            let directory = MmapDirectory::open(dir)?;
            Ok(Index::open_or_create(directory, schema.clone())?)
        };
        // Another schema, or files that do not read: it is a cache of the
        // library, so it starts again (and is built from the library).
        let opened = open().and_then(|index| SearchIndex::with(index, fields));
        match opened {
            Ok(index) => Ok(index),
            Err(e) => {
                tracing::warn!("search index at {}: {e}; building it again", dir.display());
                std::fs::remove_dir_all(dir).map_err(|e| SearchError::Io(dir.to_owned(), e))?;
                std::fs::create_dir_all(dir).map_err(|e| SearchError::Io(dir.to_owned(), e))?;
                SearchIndex::with(open()?, fields)
            }
        }
    }

    /// What the last commit recorded with [`Writer::commit`].
    pub fn payload(&self) -> Result<Option<String>> {
        Ok(self.index.load_metas()?.payload)
    }

    /// The writer: one at a time per index.
    pub fn writer(&self) -> Result<Writer> {
        Ok(Writer {
            writer: self.index.writer_with_num_threads(1, WRITER_HEAP)?,
            reader: self.reader.clone(),
            fields: self.fields,
        })
    }

    /// The path of some file below directory `dir` of `owner`'s index, as
    /// last committed: whether a directory's change moved what is below it.
    pub fn path_below(&self, owner: &str, dir: u64) -> Result<Option<String>> {
        let f = self.fields;
        let query = BooleanQuery::new(vec![
            (Occur::Must, exact(f.owner, owner)),
            (Occur::Must, exact_u64(f.above, dir)),
        ]);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(1))?;
        let Some((_, address)) = top.first() else {
            return Ok(None);
        };
        let d: TantivyDocument = searcher.doc(*address)?;
        Ok(d.get_first(f.path)
            .and_then(|v| v.as_str())
            .map(str::to_owned))
    }

    /// (owner, entry) of every file indexed with tags, as last committed.
    pub fn tagged(&self) -> Result<Vec<(String, u64)>> {
        let f = self.fields;
        let searcher = self.reader.searcher();
        let query = TermQuery::new(
            Term::from_field_text(f.tagged, "1"),
            IndexRecordOption::Basic,
        );
        let mut out = Vec::new();
        for (_, address) in searcher.search(&query, &TopDocs::with_limit(MAX_TAGGED))? {
            let d: TantivyDocument = searcher.doc(address)?;
            let owner = d.get_first(f.owner).and_then(|v| v.as_str());
            let entry = d.get_first(f.entry).and_then(|v| v.as_u64());
            if let (Some(owner), Some(entry)) = (owner, entry) {
                out.push((owner.to_owned(), entry));
            }
        }
        Ok(out)
    }

    fn with(index: Index, fields: Fields) -> Result<SearchIndex> {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            fields,
        })
    }

    /// Replaces everything in the index with `records`; returns how many.
    pub fn rebuild(&self, records: impl IntoIterator<Item = Record>) -> Result<u64> {
        let mut rebuild = self.start_rebuild()?;
        for record in records {
            rebuild.add(record)?;
        }
        rebuild.finish()
    }

    /// Starts replacing everything in the index, for records that arrive
    /// one at a time (a walk of the library); readers see the old content
    /// until [`Rebuild::finish`].
    pub fn start_rebuild(&self) -> Result<Rebuild> {
        let mut writer = self.writer()?;
        writer.clear()?;
        Ok(Rebuild { writer, added: 0 })
    }

    /// The words folders are named with, as indexed, sorted (at most
    /// `max`): what files are filed under, to find them by meaning. Numbers
    /// and single letters say nothing and are left out.
    pub fn folder_words(&self, max: usize) -> Result<Vec<String>> {
        let searcher = self.reader.searcher();
        let mut words = std::collections::BTreeSet::new();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(self.fields.folder)?;
            let mut terms = inverted
                .terms()
                .stream()
                .map_err(tantivy::TantivyError::from)?;
            while terms.advance() && words.len() < max {
                let Ok(word) = std::str::from_utf8(terms.key()) else {
                    continue;
                };
                if word.chars().count() > 1 && !word.chars().all(|c| c.is_ascii_digit()) {
                    words.insert(word.to_owned());
                }
            }
        }
        Ok(words.into_iter().collect())
    }

    /// Files in the index.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The best `limit` hits for `query`, copies of one content grouped;
    /// with `explain`, each hit says how its score was made.
    pub fn search(&self, query: &Query, limit: usize, explain: bool) -> Result<Vec<Hit>> {
        self.search_with(query, limit, explain, Occur::Must)
    }

    /// As [`SearchIndex::search`], but a file needs only one of the words
    /// (each one it has still counts): the candidates for ranking by
    /// meaning when no file has them all.
    pub fn search_any_word(&self, query: &Query, limit: usize, explain: bool) -> Result<Vec<Hit>> {
        self.search_with(query, limit, explain, Occur::Should)
    }

    fn search_with(
        &self,
        query: &Query,
        limit: usize,
        explain: bool,
        words: Occur,
    ) -> Result<Vec<Hit>> {
        let searcher = self.reader.searcher();
        let compiled = self.compile(&searcher, query, words);
        // Copies of one content fold into one hit, so a page may need more
        // documents than hits: fetch more until it is full or all are seen.
        let mut fetch = limit.saturating_mul(OVERFETCH).max(1);
        let mut hits = loop {
            // Without words every file found scores alike: the newest come
            // first, whichever segment holds them. With words, tantivy's
            // own top-k skips what cannot make the page (a collector that
            // reads more per file would have to score them all); equal
            // scores within the page are ordered alike below.
            let top: Vec<(f32, DocAddress)> = if query.text.is_empty() {
                searcher
                    .search(&compiled, &ranked(fetch))?
                    .into_iter()
                    .map(|((score, _, _), address)| (score, address))
                    .collect()
            } else {
                searcher.search(&compiled, &TopDocs::with_limit(fetch))?
            };
            let seen_all = top.len() < fetch;
            let mut page = Vec::with_capacity(top.len());
            for (score, address) in top {
                let mut hit = self.hit(&searcher, address, score)?;
                hit.time_part =
                    Self::time_part(query, hit.modified, hit.taken, &hit.name, &hit.path);
                page.push((hit, address));
            }
            page.sort_by(|(a, _), (b, _)| {
                b.score
                    .total_cmp(&a.score)
                    .then(b.modified.cmp(&a.modified))
                    .then(order_of(&b.uri).cmp(&order_of(&a.uri)))
            });
            let mut hits: Vec<(Hit, DocAddress)> = Vec::new();
            let mut contents: HashSet<String> = HashSet::new();
            for (hit, address) in page {
                if hit
                    .content_id
                    .as_ref()
                    .is_none_or(|c| contents.insert(c.clone()))
                {
                    hits.push((hit, address));
                }
            }
            if hits.len() >= limit || seen_all || fetch >= MAX_FETCH {
                break hits;
            }
            fetch = fetch.saturating_mul(4).min(MAX_FETCH);
        };
        hits.truncate(limit);
        let parts = if explain {
            self.parts(&searcher, query)
        } else {
            Vec::new()
        };
        let mut out = Vec::with_capacity(hits.len());
        for (mut hit, _) in hits {
            if explain {
                let mut scores = BTreeMap::new();
                for (part, q) in &parts {
                    scores.insert(*part, self.part_score(&searcher, &hit.uri, q.box_clone())?);
                }
                hit.score_parts = Some(scores);
            }
            out.push(hit);
        }
        let mut hits = out;
        for hit in &mut hits {
            self.count_copies(&searcher, hit)?;
        }
        Ok(hits)
    }

    /// What `query`'s ranking time phrase gives a file of these times,
    /// name and path, as [`SearchIndex::time_rank`] and
    /// [`SearchIndex::year_rank`] score it.
    fn time_part(query: &Query, modified: i64, taken: Option<i64>, name: &str, path: &str) -> f32 {
        let mut part = 0.0;
        if let Some(time) = query.time.filter(|t| !t.filter) {
            let within = |t: i64| t >= time.range.start && t < time.range.end;
            if within(modified) || taken.is_some_and(within) {
                part += TIME_BOOST;
            }
        }
        if !query.years.is_empty() {
            let folders = path.rsplit_once('/').map_or("", |(dir, _)| dir);
            let says = tokens(name)
                .into_iter()
                .chain(tokens(folders))
                .any(|t| query.years.contains(&t));
            if says {
                part += TIME_BOOST;
            }
        }
        part
    }

    fn hit(&self, searcher: &tantivy::Searcher, address: DocAddress, score: f32) -> Result<Hit> {
        let d: TantivyDocument = searcher.doc(address)?;
        let f = self.fields;
        let text = |field| {
            d.get_first(field)
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        let content = text(f.content);
        Ok(Hit {
            uri: text(f.uri),
            name: text(f.name),
            path: text(f.path),
            device: text(f.device),
            kind: text(f.kind),
            size: d.get_first(f.size).and_then(|v| v.as_u64()).unwrap_or(0),
            modified: d
                .get_first(f.modified)
                .and_then(|v| v.as_i64())
                .unwrap_or(0),
            score,
            copies: 1,
            other_copies: Vec::new(),
            content_id: (!content.is_empty()).then_some(content),
            taken: d.get_first(f.taken).and_then(|v| v.as_i64()),
            owner: text(f.owner),
            excerpt: None,
            time_part: 0.0,
            tags: d
                .get_all(f.tags)
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            score_parts: None,
        })
    }

    /// What `part` adds to the score of the file at `uri` (0 when it does
    /// not match): the part scored alone, on that file alone.
    fn part_score(
        &self,
        searcher: &tantivy::Searcher,
        uri: &str,
        part: Box<dyn TantivyQuery>,
    ) -> Result<f32> {
        let only = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(exact(self.fields.uri, uri), 0.0)),
            ),
            (Occur::Should, part),
        ]);
        let top = searcher.search(&only, &TopDocs::with_limit(1))?;
        Ok(top.first().map_or(0.0, |(score, _)| *score))
    }

    /// Every place the hit's content is kept, found or not by the query.
    fn count_copies(&self, searcher: &tantivy::Searcher, hit: &mut Hit) -> Result<()> {
        let Some(content) = &hit.content_id else {
            return Ok(());
        };
        let same = TermQuery::new(
            Term::from_field_text(self.fields.content, content),
            IndexRecordOption::Basic,
        );
        let (count, top) = searcher.search(
            &same,
            &(
                tantivy::collector::Count,
                TopDocs::with_limit(MAX_COPIES_LISTED),
            ),
        )?;
        hit.copies = count.max(1);
        hit.other_copies.clear();
        for (_, address) in top {
            let d: TantivyDocument = searcher.doc(address)?;
            if let Some(uri) = d.get_first(self.fields.uri).and_then(|v| v.as_str())
                && uri != hit.uri
            {
                hit.other_copies.push(uri.to_owned());
            }
        }
        hit.other_copies.sort();
        Ok(())
    }

    /// The query as tantivy runs it: every filter must hold, every word
    /// must be found in the name or the path (the name counts more), and a
    /// bare time phrase ranks files in its range first.
    /// `q` as one query; each word must be there, or (`Occur::Should`)
    /// only counts where it is.
    fn compile(
        &self,
        searcher: &tantivy::Searcher,
        q: &Query,
        words: Occur,
    ) -> Box<dyn TantivyQuery> {
        let f = self.fields;
        let mut must: Vec<(Occur, Box<dyn TantivyQuery>)> = Vec::new();
        for token in q.text.iter().flat_map(|w| tokens(w)) {
            let either = BooleanQuery::new(vec![
                (Occur::Should, word_in(searcher, f.name, &token, NAME_BOOST)),
                (Occur::Should, word_in(searcher, f.folder, &token, 1.0)),
                (Occur::Should, word_in(searcher, f.text, &token, TEXT_BOOST)),
                (Occur::Should, word_in(searcher, f.camera, &token, 1.0)),
            ]);
            must.push((words, Box::new(either)));
        }
        let mut filters: Vec<Box<dyn TantivyQuery>> = Vec::new();
        let any_of = |field: Field, values: &[String]| -> Box<dyn TantivyQuery> {
            Box::new(BooleanQuery::new(
                values
                    .iter()
                    .map(|v| (Occur::Should, exact(field, &v.to_lowercase())))
                    .collect(),
            ))
        };
        if !q.kinds.is_empty() {
            let kinds: Vec<String> = q.kinds.iter().map(|k| k.as_str().to_owned()).collect();
            filters.push(any_of(f.kind, &kinds));
        }
        if !q.extensions.is_empty() {
            filters.push(any_of(f.ext, &q.extensions));
        }
        // "on nas" names a device or a volume.
        let places: Vec<String> = q.devices.iter().chain(&q.volumes).cloned().collect();
        if !places.is_empty() {
            filters.push(Box::new(BooleanQuery::new(vec![
                (Occur::Should, any_of(f.device, &places)),
                (Occur::Should, any_of(f.space, &places)),
            ])));
        }
        for folder in &q.folders {
            for token in tokens(folder) {
                filters.push(exact(f.folder, &token));
            }
        }
        for tag in &q.tags {
            filters.push(exact(f.tags, &tag.to_lowercase()));
        }
        if q.min_size.is_some() || q.max_size.is_some() {
            let lo = q.min_size.map_or(Bound::Unbounded, |b| {
                Bound::Included(Term::from_field_u64(f.size, b))
            });
            let hi = q.max_size.map_or(Bound::Unbounded, |b| {
                Bound::Included(Term::from_field_u64(f.size, b))
            });
            filters.push(Box::new(RangeQuery::new(lo, hi)));
        }
        if let Some(TimeQuery {
            range,
            filter: true,
            field,
        }) = q.time
        {
            filters.push(match field {
                TimeField::Taken => self.taken_in(range),
                _ => self.modified_in(range),
            });
        }
        if must.is_empty() && filters.is_empty() {
            filters.push(Box::new(AllQuery));
        }
        // Filters decide what is found, not how well: they add nothing to
        // a score.
        for filter in filters {
            must.push((Occur::Must, Box::new(ConstScoreQuery::new(filter, 0.0))));
        }
        if let Some(rank) = self.time_rank(q) {
            must.push((Occur::Should, rank));
        }
        if let Some(rank) = self.year_rank(searcher, q) {
            must.push((Occur::Should, rank));
        }
        Box::new(BooleanQuery::new(must))
    }

    fn modified_in(&self, range: crate::calendar::Range) -> Box<dyn TantivyQuery> {
        let f = self.fields.modified;
        Box::new(RangeQuery::new(
            Bound::Included(Term::from_field_i64(f, range.start)),
            Bound::Excluded(Term::from_field_i64(f, range.end)),
        ))
    }

    /// When photos were taken (those whose EXIF says).
    fn taken_in(&self, range: crate::calendar::Range) -> Box<dyn TantivyQuery> {
        let f = self.fields.taken;
        Box::new(RangeQuery::new(
            Bound::Included(Term::from_field_i64(f, range.start)),
            Bound::Excluded(Term::from_field_i64(f, range.end)),
        ))
    }

    /// A bare time phrase: files in its range (changed then, or taken then
    /// for a photo) rank first.
    fn time_rank(&self, q: &Query) -> Option<Box<dyn TantivyQuery>> {
        let time = q.time.filter(|t| !t.filter)?;
        let either = BooleanQuery::new(vec![
            (Occur::Should, self.modified_in(time.range)),
            (Occur::Should, self.taken_in(time.range)),
        ]);
        Some(Box::new(BoostQuery::new(
            Box::new(ConstScoreQuery::new(Box::new(either), 1.0)),
            TIME_BOOST,
        )))
    }

    /// Years the query's time phrase named, in names and folders: ranks,
    /// never filters.
    fn year_rank(&self, searcher: &tantivy::Searcher, q: &Query) -> Option<Box<dyn TantivyQuery>> {
        if q.years.is_empty() {
            return None;
        }
        let f = self.fields;
        let mut says = Vec::new();
        for year in &q.years {
            says.push((Occur::Should, word_in(searcher, f.name, year, 1.0)));
            says.push((Occur::Should, word_in(searcher, f.folder, year, 1.0)));
        }
        Some(Box::new(BoostQuery::new(
            Box::new(ConstScoreQuery::new(Box::new(BooleanQuery::new(says)), 1.0)),
            TIME_BOOST,
        )))
    }

    /// The parts a score is the sum of, each as a query of its own.
    fn parts(
        &self,
        searcher: &tantivy::Searcher,
        q: &Query,
    ) -> Vec<(&'static str, Box<dyn TantivyQuery>)> {
        let f = self.fields;
        let words: Vec<String> = q.text.iter().flat_map(|w| tokens(w)).collect();
        let all = |field, boost| -> Box<dyn TantivyQuery> {
            Box::new(BooleanQuery::new(
                words
                    .iter()
                    .map(|w| (Occur::Should, word_in(searcher, field, w, boost)))
                    .collect(),
            ))
        };
        let mut parts = vec![
            ("name", all(f.name, NAME_BOOST)),
            ("path", all(f.folder, 1.0)),
            ("text", all(f.text, TEXT_BOOST)),
        ];
        if let Some(rank) = self.time_rank(q) {
            parts.push(("time", rank));
        }
        if let Some(rank) = self.year_rank(searcher, q) {
            parts.push(("year", rank));
        }
        parts
    }
}

/// A word in a file's name counts this much more than one in its path.
const NAME_BOOST: f32 = 2.0;

/// A word in a file's text counts this much of one in its path.
const TEXT_BOOST: f32 = 0.5;

/// What a file in a bare time phrase's range (or whose name or folders
/// say its year) gains: more than any one word's score, so that among the
/// files with the query's words those of the time asked for come first
/// ("tax documents from last year" is last year's tax documents, then the
/// others).
const TIME_BOOST: f32 = 12.0;

/// The best `limit` documents: by score, then the most recently changed,
/// then by a fixed order of their URIs, so equal scores (a query of
/// filters only) list the same files in the same order on every run and
/// every device, newest first. It reads two fast fields per file found, so
/// it is kept for queries without words.
fn ranked(
    limit: usize,
) -> impl tantivy::collector::Collector<Fruit = Vec<((f32, i64, u64), DocAddress)>> {
    TopDocs::with_limit(limit).tweak_score(|segment: &tantivy::SegmentReader| {
        let modified = segment.fast_fields().i64("modified").ok();
        let order = segment.fast_fields().u64("order").ok();
        move |doc: tantivy::DocId, score: tantivy::Score| {
            (
                score,
                modified
                    .as_ref()
                    .and_then(|c| c.first(doc))
                    .unwrap_or(i64::MIN),
                order.as_ref().and_then(|c| c.first(doc)).unwrap_or(0),
            )
        }
    })
}

/// A fixed number per URI (FNV-1a): the last tie-break between hits.
fn order_of(uri: &str) -> u64 {
    uri.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `word` as a term of `field` or the start of one, scored `boost` times.
/// The terms it starts are read from the index, so the query is a union
/// of plain terms (each scored by BM25); a short start that many terms
/// share is matched as a prefix instead.
fn word_in(
    searcher: &tantivy::Searcher,
    field: Field,
    word: &str,
    boost: f32,
) -> Box<dyn TantivyQuery> {
    let mut forms: Vec<(Occur, Box<dyn TantivyQuery>)> = word_forms(word)
        .iter()
        .map(|form| (Occur::Should, form_in(searcher, field, form)))
        .collect();
    let either = match forms.len() {
        1 => forms.remove(0).1,
        _ => Box::new(BooleanQuery::new(forms)),
    };
    Box::new(BoostQuery::new(either, boost))
}

/// `word` and, for an English plural, its singular: "screenshots" finds
/// "Screenshot 2025-03-01.png" (a singular's start already finds plurals).
fn word_forms(word: &str) -> Vec<String> {
    let mut forms = vec![word.to_owned()];
    let plural = word.len() >= 4
        && word.ends_with('s')
        && !["ss", "us", "is"].iter().any(|end| word.ends_with(end));
    if plural {
        let singular = if let Some(stem) = word.strip_suffix("ies") {
            format!("{stem}y")
        } else if let Some(stem) = word.strip_suffix("es").filter(|stem| {
            ["s", "x", "z", "ch", "sh"]
                .iter()
                .any(|e| stem.ends_with(e))
        }) {
            stem.to_owned()
        } else {
            word[..word.len() - 1].to_owned()
        };
        if singular.len() >= 3 {
            forms.push(singular);
        }
    }
    forms
}

/// One form of a word as a term of `field` or the start of one.
fn form_in(searcher: &tantivy::Searcher, field: Field, word: &str) -> Box<dyn TantivyQuery> {
    let term = Term::from_field_text(field, word);
    let terms = prefixed_terms(searcher, field, word);
    let either: Box<dyn TantivyQuery> = match terms {
        Some(terms) if terms.len() == 1 => Box::new(TermQuery::new(
            Term::from_field_text(field, &terms[0]),
            IndexRecordOption::WithFreqs,
        )),
        Some(terms) => Box::new(BooleanQuery::new(
            terms
                .iter()
                .map(|t| {
                    let q: Box<dyn TantivyQuery> = Box::new(TermQuery::new(
                        Term::from_field_text(field, t),
                        IndexRecordOption::WithFreqs,
                    ));
                    (Occur::Should, q)
                })
                .collect(),
        )),
        None => Box::new(BooleanQuery::new(vec![
            (
                Occur::Should,
                Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)),
            ),
            (
                Occur::Should,
                Box::new(FuzzyTermQuery::new_prefix(term, 0, true)),
            ),
        ])),
    };
    either
}

/// Terms a word's start expands to, at most this many (else it is matched
/// as a prefix).
const MAX_EXPANSION: usize = 32;

/// The distinct terms of `field` that start with `word`, in every segment;
/// `None` when there are more than [`MAX_EXPANSION`].
fn prefixed_terms(searcher: &tantivy::Searcher, field: Field, word: &str) -> Option<Vec<String>> {
    let mut found: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut end = word.as_bytes().to_vec();
    end.push(0xff);
    for segment in searcher.segment_readers() {
        let index = segment.inverted_index(field).ok()?;
        let mut stream = index
            .terms()
            .range()
            .ge(word.as_bytes())
            .lt(&end)
            .into_stream()
            .ok()?;
        while stream.advance() {
            found.insert(String::from_utf8_lossy(stream.key()).into_owned());
            if found.len() > MAX_EXPANSION {
                return None;
            }
        }
    }
    // Nothing starts with it: the plain term (which finds nothing).
    if found.is_empty() {
        found.insert(word.to_owned());
    }
    Some(found.into_iter().collect())
}

fn exact(field: Field, value: &str) -> Box<dyn TantivyQuery> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

fn exact_u64(field: Field, value: u64) -> Box<dyn TantivyQuery> {
    Box::new(TermQuery::new(
        Term::from_field_u64(field, value),
        IndexRecordOption::Basic,
    ))
}

/// `text` cut as the index's default tokenizer cuts names and paths:
/// lower-cased runs of letters and digits.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn extension(name: &str) -> Option<String> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{Clock, date, days_from_civil};
    use crate::query::{Context, parse};

    fn record(uri: &str, kind: &'static str, size: u64, modified: i64, content: &str) -> Record {
        let rest = uri.trim_start_matches("sd://");
        let mut parts = rest.splitn(3, '/');
        let device = parts.next().unwrap_or_default().to_owned();
        let space = parts.next().unwrap_or_default().to_owned();
        let owner = device.clone();
        Record {
            uri: uri.to_owned(),
            path: rest.to_owned(),
            name: rest.rsplit('/').next().unwrap_or_default().to_owned(),
            device,
            space,
            kind,
            size,
            modified,
            content: (!content.is_empty()).then(|| content.to_owned()),
            owner,
            entry: 0,
            above: Vec::new(),
            tags: Vec::new(),
            text: None,
            taken: None,
            camera: None,
        }
    }

    fn day(y: i32, m: u32, d: u32) -> i64 {
        days_from_civil(date(y, m, d)) * 86_400 + 12 * 3600
    }

    fn corpus() -> SearchIndex {
        let index = SearchIndex::in_memory().expect("index");
        let n = index
            .rebuild([
                record(
                    "sd://laptop/Documents/tax/Tax Return 2025.pdf",
                    "document",
                    200_000,
                    day(2025, 4, 2),
                    "c1",
                ),
                record(
                    "sd://nas/Backup/tax/Tax Return 2025.pdf",
                    "document",
                    200_000,
                    day(2025, 4, 2),
                    "c1",
                ),
                record(
                    "sd://laptop/Documents/tax/receipts.xlsx",
                    "document",
                    30_000,
                    day(2026, 2, 1),
                    "c2",
                ),
                record(
                    "sd://nas/Photos/2025/beach.jpg",
                    "image",
                    4_000_000,
                    day(2025, 7, 14),
                    "c3",
                ),
                record(
                    "sd://nas/Photos/2024/taxi.jpg",
                    "image",
                    3_000_000,
                    day(2024, 8, 1),
                    "c4",
                ),
                record(
                    "sd://laptop/Code/sdfs/main.rs",
                    "code",
                    2_000,
                    day(2026, 12, 1),
                    "",
                ),
                record(
                    "sd://photos-bucket/raw/beach-raw.dng",
                    "image",
                    40_000_000,
                    day(2025, 7, 14),
                    "c5",
                ),
            ])
            .expect("rebuild");
        assert_eq!(n, 7);
        index
    }

    /// `q` read on 6 December 2026 (UTC) by a user with a laptop, a nas
    /// and a bucket, and run.
    fn search(index: &SearchIndex, q: &str, limit: usize, explain: bool) -> Vec<Hit> {
        let ctx = Context {
            clock: Clock {
                unix_secs: day(2026, 12, 6),
                utc_offset_secs: 0,
            },
            devices: &["laptop".into(), "nas".into()],
            volumes: &["photos-bucket".into()],
        };
        index
            .search(&parse(q, &ctx), limit, explain)
            .expect("search")
    }

    fn find(index: &SearchIndex, q: &str) -> Vec<String> {
        search(index, q, 10, false)
            .into_iter()
            .map(|h| h.uri)
            .collect()
    }

    #[test]
    fn words_match_names_and_paths_and_copies_show_once() {
        let index = corpus();
        let hits = search(&index, "tax return", 10, true);
        assert_eq!(hits.len(), 1, "{hits:?}");
        let parts = hits[0].score_parts.as_ref().expect("parts");
        assert!(parts["name"] > 0.0 && parts["path"] > 0.0, "{parts:?}");
        let sum: f32 = parts.values().sum();
        assert!(
            (sum - hits[0].score).abs() < 1e-3,
            "{parts:?} against {}",
            hits[0].score
        );
        assert_eq!(hits[0].copies, 2);
        assert_eq!(hits[0].other_copies.len(), 1);
        // A folder's name finds what is in it; a prefix finds the word.
        let tax = find(&index, "tax");
        assert!(tax.iter().any(|u| u.ends_with("receipts.xlsx")), "{tax:?}");
        assert!(
            find(&index, "recei")
                .iter()
                .any(|u| u.ends_with("receipts.xlsx"))
        );
        assert!(find(&index, "nothing-like-this").is_empty());
    }

    #[test]
    fn many_copies_of_one_content_do_not_crowd_out_a_page() {
        let index = SearchIndex::in_memory().expect("index");
        let mut records: Vec<Record> = (0..50)
            .map(|i| {
                record(
                    &format!("sd://laptop/Copies/{i}/report report.txt"),
                    "text",
                    10,
                    0,
                    "same",
                )
            })
            .collect();
        for name in ["a", "b", "c"] {
            records.push(record(
                &format!("sd://nas/Other/report-{name}.txt"),
                "text",
                10,
                0,
                name,
            ));
        }
        index.rebuild(records).expect("rebuild");
        let hits = search(&index, "report", 3, false);
        assert_eq!(hits.len(), 3, "{hits:?}");
        assert_eq!(hits[0].copies, 50);
        assert_eq!(hits[0].other_copies.len(), MAX_COPIES_LISTED - 1);
        assert!(hits[1..].iter().all(|h| h.copies == 1), "{hits:?}");
    }

    #[test]
    fn filters_narrow_and_a_bare_time_ranks() {
        let index = corpus();
        let mut on_nas = find(&index, "photos on nas");
        on_nas.sort();
        assert_eq!(
            on_nas,
            [
                "sd://nas/Photos/2024/taxi.jpg",
                "sd://nas/Photos/2025/beach.jpg"
            ]
        );
        let big = find(&index, "photos bigger than 10 MB");
        assert_eq!(big, ["sd://photos-bucket/raw/beach-raw.dng"]);
        let on_bucket = find(&index, "beach on photos-bucket");
        assert_eq!(on_bucket, ["sd://photos-bucket/raw/beach-raw.dng"]);
        assert_eq!(
            find(&index, "ext:xlsx"),
            ["sd://laptop/Documents/tax/receipts.xlsx"]
        );
        // Filtered: only what was modified in 2024.
        assert_eq!(
            find(&index, "modified in 2024"),
            ["sd://nas/Photos/2024/taxi.jpg"]
        );
        // Ranked: 2025's photos first, 2024's still found.
        let ranked = find(&index, "photos from 2025");
        assert_eq!(ranked.len(), 3, "{ranked:?}");
        assert_eq!(ranked[2], "sd://nas/Photos/2024/taxi.jpg", "{ranked:?}");
        // Filters find, they do not score: a score is its parts' sum.
        let hits = search(&index, "beach photos bigger than 1 MB from 2025", 10, true);
        assert!(!hits.is_empty());
        for hit in hits {
            let parts = hit.score_parts.expect("parts");
            let sum: f32 = parts.values().sum();
            assert!(
                (sum - hit.score).abs() < 1e-3,
                "{parts:?} against {}",
                hit.score
            );
        }
    }
}
