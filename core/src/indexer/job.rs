//! The index job: a pipeline of reader threads feeding one writer, committing a
//! batch and its checkpoint in the same transaction.
//!
//! Architecture Invariant: the checkpoint of a job is exactly the database
//! state: `index_queue` holds the directories still to read, `index_removals`
//! the entries still to remove, `unidentified` the files still to hash, and
//! the job record the phase. Each batch commits its writes together with those
//! tables, so `kill -9` at any point resumes to the same final index.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use redb::{Database, ReadableDatabase, ReadableTable};

use super::gitignore::IgnoreStack;
use super::identify::{IdentifyOutcome, IdentifyTask, identify};
use super::rules::IndexRules;
use super::tables::{ApplyCtx, IndexTables};
use super::walk::{Listing, read_listing};
use crate::error::{Error, Result};
use crate::ids::{JobId, LocationId};
use crate::jobs::{
    ControlSignal, IndexCounters, JobControl, JobEvent, JobRecord, JobState, Phase, Progress,
    active_job_for, put_job,
};
use crate::library::{Library, schema};
use crate::locations;
use crate::model::entry::{EntryKind, StatFields};
use crate::model::location::{IndexMode, LocationRecord};

/// Directories in flight between the writer and the readers.
const MAX_IN_FLIGHT: usize = 256;
/// A batch commits after this many directories or this long, whichever first.
const BATCH_DIRS: usize = 512;
const BATCH_TIME: Duration = Duration::from_millis(250);
/// Files identified per batch.
const IDENTIFY_BATCH: usize = 1024;
/// Warnings kept on the job record.
const MAX_WARNINGS: usize = 20;

/// Indexes `location` to the end on this thread, with no progress and no
/// pausing (the watcher's catch-up scan; tests).
pub fn index_to_end(lib: &Library, location: LocationId, stale_scan: bool) -> Result<JobRecord> {
    let (job, _) = prepare_job(lib, location, stale_scan)?;
    run_job(lib, job.id, &JobControl::new(), &mut |_| {})
}

/// Finds the unfinished index job of `location` or creates one. Returns it and
/// whether it is a resumption.
pub fn prepare_job(
    lib: &Library,
    location: LocationId,
    stale_scan: bool,
) -> Result<(JobRecord, bool)> {
    let db = lib.db();
    if let Some(job) = active_job_for(db, location)? {
        return Ok((job, true));
    }
    let loc = locations::get_by_id(db, location)?;
    if loc.is_cloud() {
        return Err(Error::InvalidInput(format!(
            "{} is a cloud volume: it is indexed from its bucket, not by a job",
            loc.name
        )));
    }
    let txn = db.begin_write()?;
    let now = crate::time::unix_now_nanos();
    let job = {
        let mut meta = txn.open_table(schema::META)?;
        let id = JobId(schema::next_id(&mut meta, "next_job_id")?);
        let mut queue = txn.open_table(schema::INDEX_QUEUE)?;
        queue.insert((id.0, loc.root.0), ())?;
        JobRecord {
            id,
            kind: "index".into(),
            location,
            state: JobState::Queued,
            phase: Phase::Discovery,
            stale_scan,
            counters: IndexCounters::default(),
            created_at: now,
            updated_at: now,
            finished_at: None,
            elapsed_nanos: 0,
            error: None,
            phase_secs: Vec::new(),
            warnings: Vec::new(),
        }
    };
    put_job(&txn, &job)?;
    txn.commit()?;
    Ok((job, false))
}

/// Runs (or resumes) job `id` to completion, a pause or a cancel, reporting to
/// `events`. Returns the job as last stored.
pub fn run_job(
    lib: &Library,
    id: JobId,
    control: &JobControl,
    events: &mut dyn FnMut(JobEvent),
) -> Result<JobRecord> {
    let db = Arc::clone(lib.db());
    let mut job = crate::jobs::get_job(&db, id)?;
    if !job.state.is_active() {
        return Err(Error::InvalidInput(format!(
            "job {id} is already {}",
            job.state.as_str()
        )));
    }
    let location = locations::get_by_id(&db, job.location)?;
    let Some(root_path) = location.root_path() else {
        return Err(Error::InvalidInput(format!(
            "{} is a cloud volume: it is indexed from its bucket, not by a job",
            location.name
        )));
    };
    let resumed = job.state != JobState::Queued || job.elapsed_nanos > 0;
    job.state = JobState::Running;
    events(JobEvent::Started {
        job: id,
        location: location.name.clone(),
        resumed,
    });
    let mut run = Run {
        db,
        root_path,
        location,
        job,
        control: control.clone(),
        started: Instant::now(),
        elapsed_before: 0,
        phase_started: Instant::now(),
        phase_done_before: 0,
    };
    run.elapsed_before = run.job.elapsed_nanos;
    let result = run.drive(events);
    match result {
        Ok(()) => {}
        Err(Error::Interrupted(_)) => {}
        Err(e) => {
            run.job.state = JobState::Failed;
            run.job.error = Some(e.to_string());
            run.store_job()?;
            events(run.finished_event());
            return Err(e);
        }
    }
    events(run.finished_event());
    Ok(run.job)
}

struct Run {
    db: Arc<Database>,
    location: LocationRecord,
    root_path: PathBuf,
    job: JobRecord,
    control: JobControl,
    started: Instant,
    elapsed_before: u64,
    phase_started: Instant,
    phase_done_before: u64,
}

/// A directory for a reader thread.
struct DirTask {
    id: u64,
    path: PathBuf,
    /// Rules of the parent chain; `None` after a resume (rebuilt from disk).
    ignore: Option<Arc<IgnoreStack>>,
    /// Stale scan: the mtime the index has; the directory is skipped if equal.
    recorded_mtime: Option<i64>,
}

enum DirResult {
    Listed {
        task: DirTask,
        own: Option<StatFields>,
        listing: Listing,
    },
    Unchanged {
        task: DirTask,
    },
    Failed {
        task: DirTask,
        error: std::io::Error,
    },
}

impl Run {
    fn ctx(&self) -> ApplyCtx<'_> {
        ApplyCtx {
            job: self.job.id.0,
            root: self.location.root.0,
            root_path: &self.root_path,
            identify: self.location.mode != IndexMode::Shallow,
        }
    }

    fn drive(&mut self, events: &mut dyn FnMut(JobEvent)) -> Result<()> {
        loop {
            self.phase_started = Instant::now();
            self.phase_done_before = self.phase_progress();
            let phase = self.job.phase;
            match phase {
                Phase::Discovery => self.discover(events)?,
                Phase::Aggregation => self.aggregate()?,
                Phase::ContentIdentification => self.identify_all(events)?,
                Phase::Finalizing => self.finalize()?,
                Phase::Done => return self.store_job(),
            }
            // Recorded in memory and stored with the next checkpoint; a
            // resumed phase adds to its earlier time.
            let secs = self.phase_started.elapsed().as_secs_f64();
            match self.job.phase_secs.iter_mut().find(|(p, _)| *p == phase) {
                Some((_, total)) => *total += secs,
                None => self.job.phase_secs.push((phase, secs)),
            }
        }
    }

    fn phase_progress(&self) -> u64 {
        match self.job.phase {
            Phase::ContentIdentification => self.job.counters.identified,
            _ => self.job.counters.files + self.job.counters.dirs,
        }
    }

    fn progress(&self) -> Progress {
        let secs = self.phase_started.elapsed().as_secs_f64().max(1e-6);
        let done = self.phase_progress().saturating_sub(self.phase_done_before);
        let rate = done as f64 / secs;
        let eta_secs = match self.job.phase {
            Phase::ContentIdentification if rate > 0.0 => {
                let left = self
                    .job
                    .counters
                    .to_identify
                    .saturating_sub(self.job.counters.identified);
                Some(left as f64 / rate)
            }
            _ => None,
        };
        Progress {
            job: self.job.id,
            phase: self.job.phase,
            counters: self.job.counters,
            rate,
            eta_secs,
        }
    }

    fn finished_event(&self) -> JobEvent {
        JobEvent::Finished {
            job: self.job.id,
            state: self.job.state,
            counters: self.job.counters,
            elapsed_secs: self.job.elapsed_nanos as f64 / 1e9,
        }
    }

    fn touch(&mut self) {
        self.job.updated_at = crate::time::unix_now_nanos();
        self.job.elapsed_nanos = self.elapsed_before + self.started.elapsed().as_nanos() as u64;
    }

    fn store_job(&mut self) -> Result<()> {
        self.touch();
        let txn = self.db.begin_write()?;
        put_job(&txn, &self.job)?;
        txn.commit()?;
        Ok(())
    }

    fn warn(&mut self, events: &mut dyn FnMut(JobEvent), message: String) {
        self.job.counters.errors += 1;
        if self.job.warnings.len() >= MAX_WARNINGS {
            self.job.warnings.remove(0);
        }
        self.job.warnings.push(message.clone());
        events(JobEvent::Warning {
            job: self.job.id,
            message,
        });
    }

    /// Stops at a checkpoint if asked to.
    fn check_control(&mut self) -> Result<()> {
        match self.control.signal() {
            ControlSignal::Run => Ok(()),
            ControlSignal::Pause => {
                self.job.state = JobState::Paused;
                self.store_job()?;
                Err(Error::Interrupted("paused"))
            }
            ControlSignal::Cancel => {
                // Entries already known to be gone are removed; the rest of the
                // checkpoint is dropped.
                let job = self.job.id.0;
                let txn = self.db.begin_write()?;
                {
                    let mut tables = IndexTables::open(&txn)?;
                    let mut counters = self.job.counters;
                    tables.finish_removals(&self.ctx(), &mut counters)?;
                    self.job.counters = counters;
                    let queued: Vec<(u64, u64)> = tables
                        .queue
                        .range((job, 0)..=(job, u64::MAX))?
                        .map(|r| r.map(|(k, _)| k.value()))
                        .collect::<Result<_, _>>()?;
                    for key in queued {
                        tables.queue.remove(key)?;
                    }
                }
                self.job.state = JobState::Cancelled;
                self.job.finished_at = Some(crate::time::unix_now_nanos());
                self.touch();
                put_job(&txn, &self.job)?;
                txn.commit()?;
                Err(Error::Interrupted("cancelled"))
            }
        }
    }

    /// The directories this job has still to read, with their paths.
    fn load_queue(&self) -> Result<VecDeque<DirTask>> {
        let job = self.job.id.0;
        let txn = self.db.begin_write()?;
        let mut tasks = VecDeque::new();
        {
            let tables = IndexTables::open(&txn)?;
            let ids: Vec<u64> = tables
                .queue
                .range((job, 0)..=(job, u64::MAX))?
                .map(|r| r.map(|(k, _)| k.value().1))
                .collect::<Result<_, _>>()?;
            for id in ids {
                let Some(path) = tables.entry_path(&self.ctx(), id)? else {
                    continue;
                };
                let recorded_mtime = if self.job.stale_scan {
                    tables.get_entry(id)?.map(|r| r.mtime)
                } else {
                    None
                };
                tasks.push_back(DirTask {
                    id,
                    path,
                    ignore: None,
                    recorded_mtime,
                });
            }
        }
        // Nothing written: the transaction only gave a consistent view.
        txn.abort()?;
        Ok(tasks)
    }

    fn discover(&mut self, events: &mut dyn FnMut(JobEvent)) -> Result<()> {
        let mut pending = self.load_queue()?;
        let rules = self.location.rules;
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8);
        let (task_tx, task_rx) = bounded::<DirTask>(MAX_IN_FLIGHT);
        let (result_tx, result_rx) = unbounded::<DirResult>();
        let readers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = task_rx.clone();
                let tx = result_tx.clone();
                std::thread::spawn(move || reader_loop(rx, tx, rules))
            })
            .collect();
        drop(result_tx);
        let outcome = self.discovery_loop(&mut pending, &task_tx, &result_rx, events);
        drop(task_tx);
        for reader in readers {
            let _ = reader.join();
        }
        outcome?;
        // Everything read: whatever is still detached is really gone.
        let txn = self.db.begin_write()?;
        {
            let mut tables = IndexTables::open(&txn)?;
            let mut counters = self.job.counters;
            tables.finish_removals(&self.ctx(), &mut counters)?;
            self.job.counters = counters;
        }
        self.job.phase = Phase::Aggregation;
        self.touch();
        put_job(&txn, &self.job)?;
        txn.commit()?;
        events(JobEvent::Progress(self.progress()));
        Ok(())
    }

    fn discovery_loop(
        &mut self,
        pending: &mut VecDeque<DirTask>,
        task_tx: &Sender<DirTask>,
        result_rx: &Receiver<DirResult>,
        events: &mut dyn FnMut(JobEvent),
    ) -> Result<()> {
        let mut in_flight = 0usize;
        let job = self.job.id.0;
        loop {
            self.check_control()?;
            while in_flight < MAX_IN_FLIGHT
                && let Some(task) = pending.pop_front()
            {
                task_tx
                    .send(task)
                    .map_err(|_| Error::Db("index reader threads stopped".into()))?;
                in_flight += 1;
            }
            if in_flight == 0 {
                return Ok(());
            }
            let txn = self.db.begin_write()?;
            let mut warnings = Vec::new();
            {
                let mut tables = IndexTables::open(&txn)?;
                let batch_start = Instant::now();
                let mut dirs = 0;
                let mut counters = self.job.counters;
                while in_flight > 0 && dirs < BATCH_DIRS && batch_start.elapsed() < BATCH_TIME {
                    let Ok(result) = result_rx.recv() else { break };
                    in_flight -= 1;
                    dirs += 1;
                    let task = match result {
                        DirResult::Listed { task, own, listing } => {
                            if let Some(own) = own {
                                refresh_own_stat(&mut tables, task.id, &own)?;
                            }
                            let subdirs = tables.apply_listing(
                                &self.ctx(),
                                task.id,
                                &listing,
                                &mut counters,
                            )?;
                            for sub in subdirs {
                                tables.queue.insert((job, sub.id), ())?;
                                let mut path = task.path.clone();
                                path.push(
                                    <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(
                                        &sub.name,
                                    ),
                                );
                                let recorded_mtime = if self.job.stale_scan {
                                    sub.recorded_mtime
                                } else {
                                    None
                                };
                                pending.push_back(DirTask {
                                    id: sub.id,
                                    path,
                                    ignore: Some(Arc::clone(&listing.ignore)),
                                    recorded_mtime,
                                });
                            }
                            task
                        }
                        DirResult::Unchanged { task } => {
                            for (name, id) in tables.children_of(task.id)? {
                                let Some(record) = tables.get_entry(id)? else {
                                    continue;
                                };
                                if record.kind != EntryKind::Directory {
                                    continue;
                                }
                                tables.queue.insert((job, id), ())?;
                                let mut path = task.path.clone();
                                path.push(
                                    <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(
                                        &name,
                                    ),
                                );
                                pending.push_back(DirTask {
                                    id,
                                    path,
                                    ignore: None,
                                    recorded_mtime: Some(record.mtime),
                                });
                            }
                            task
                        }
                        DirResult::Failed { task, error } => {
                            // Unreadable: keep what the index knows, report, go on.
                            warnings.push(format!("cannot read {}: {error}", task.path.display()));
                            task
                        }
                    };
                    tables.queue.remove((job, task.id))?;
                    // Keep the readers busy while this batch is open.
                    while in_flight < MAX_IN_FLIGHT
                        && let Some(next) = pending.pop_front()
                    {
                        task_tx
                            .send(next)
                            .map_err(|_| Error::Db("index reader threads stopped".into()))?;
                        in_flight += 1;
                    }
                }
                self.job.counters = counters;
            }
            for w in warnings {
                self.warn(events, w);
            }
            self.touch();
            put_job(&txn, &self.job)?;
            txn.commit()?;
            events(JobEvent::Progress(self.progress()));
        }
    }

    fn aggregate(&mut self) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut tables = IndexTables::open(&txn)?;
            tables.aggregate(self.location.root.0)?;
            let root = self.location.root.0;
            self.job.counters.to_identify = self.job.counters.identified
                + tables
                    .unidentified
                    .range((root, 0)..=(root, u64::MAX))?
                    .count() as u64;
        }
        self.job.phase = if self.location.mode == IndexMode::Shallow {
            Phase::Finalizing
        } else {
            Phase::ContentIdentification
        };
        self.touch();
        put_job(&txn, &self.job)?;
        txn.commit()?;
        Ok(())
    }

    fn identify_all(&mut self, events: &mut dyn FnMut(JobEvent)) -> Result<()> {
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8);
        let (task_tx, task_rx) = bounded::<IdentifyTask>(IDENTIFY_BATCH);
        let (result_tx, result_rx) = unbounded::<IdentifyOutcome>();
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = task_rx.clone();
                let tx = result_tx.clone();
                std::thread::spawn(move || {
                    let mut buf = Vec::with_capacity(64 * 1024);
                    for task in rx {
                        if tx.send(identify(&task, &mut buf)).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        drop(result_tx);
        let outcome = self.identify_loop(&task_tx, &result_rx, events);
        drop(task_tx);
        for worker in workers {
            let _ = worker.join();
        }
        outcome?;
        self.job.phase = Phase::Finalizing;
        self.store_job()
    }

    fn identify_loop(
        &mut self,
        task_tx: &Sender<IdentifyTask>,
        result_rx: &Receiver<IdentifyOutcome>,
        events: &mut dyn FnMut(JobEvent),
    ) -> Result<()> {
        let root = self.location.root.0;
        // Files skipped in this run (changed under us) are left for the next one.
        let mut cursor = 0u64;
        loop {
            self.check_control()?;
            let tasks = {
                let txn = self.db.begin_read()?;
                let unidentified = txn.open_table(schema::UNIDENTIFIED)?;
                let entries = schema::ENTRIES.read(&txn)?;
                let mut dir_paths: HashMap<u64, PathBuf> = HashMap::new();
                let mut tasks = Vec::new();
                for row in unidentified
                    .range((root, cursor)..=(root, u64::MAX))?
                    .take(IDENTIFY_BATCH)
                {
                    let id = row?.0.value().1;
                    cursor = id + 1;
                    let Some(raw) = entries.get(id)? else {
                        continue;
                    };
                    let record = crate::model::entry::EntryRecord::decode(raw.value())?;
                    let Some(dir) = dir_path(
                        &entries,
                        &mut dir_paths,
                        record.parent,
                        root,
                        &self.root_path,
                    )?
                    else {
                        continue;
                    };
                    let path = dir.join(
                        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&record.name),
                    );
                    tasks.push(IdentifyTask {
                        id,
                        path,
                        size: record.size,
                        mtime: record.mtime,
                    });
                }
                tasks
            };
            if tasks.is_empty() {
                return Ok(());
            }
            let expected = tasks.len();
            let mut by_id: HashMap<u64, (u64, i64)> = HashMap::with_capacity(expected);
            for task in tasks {
                by_id.insert(task.id, (task.size, task.mtime));
                task_tx
                    .send(task)
                    .map_err(|_| Error::Db("identification threads stopped".into()))?;
            }
            let mut warnings = Vec::new();
            let txn = self.db.begin_write()?;
            {
                let mut tables = IndexTables::open(&txn)?;
                let root_path = self.root_path.clone();
                let ctx = ApplyCtx {
                    root_path: &root_path,
                    ..self.ctx()
                };
                for _ in 0..expected {
                    let Ok(outcome) = result_rx.recv() else { break };
                    match outcome {
                        IdentifyOutcome::Identified {
                            id,
                            hash,
                            kind,
                            size,
                        } => {
                            let Some(mut record) = tables.get_entry(id)? else {
                                continue;
                            };
                            // Only if the index still describes the bytes we hashed.
                            if by_id.get(&id) != Some(&(record.size, record.mtime)) {
                                continue;
                            }
                            tables.set_content(&ctx, id, &mut record, hash, kind)?;
                            self.job.counters.identified += 1;
                            self.job.counters.identified_bytes += size;
                        }
                        IdentifyOutcome::Changed => {}
                        IdentifyOutcome::Failed { message, .. } => warnings.push(message),
                    }
                }
            }
            for w in warnings {
                self.warn(events, w);
            }
            self.touch();
            put_job(&txn, &self.job)?;
            txn.commit()?;
            events(JobEvent::Progress(self.progress()));
        }
    }

    fn finalize(&mut self) -> Result<()> {
        if self.job.counters.changed_anything() {
            crate::library::repack_fragmented(&self.db)?;
        }
        let txn = self.db.begin_write()?;
        {
            let mut data = crate::sync::DeviceData::open(&txn)?;
            let key = self.location.id.0.as_u128();
            let current = data
                .locations()
                .get(key)?
                .map(|v| LocationRecord::decode(v.value()))
                .transpose()?;
            if let Some(mut loc) = current {
                loc.last_indexed = Some(crate::time::unix_now_nanos());
                data.put_location(key, loc.encode().as_slice())?;
            }
        }
        self.job.phase = Phase::Done;
        self.job.state = JobState::Completed;
        self.job.finished_at = Some(crate::time::unix_now_nanos());
        self.touch();
        put_job(&txn, &self.job)?;
        txn.commit()?;
        Ok(())
    }
}

fn reader_loop(rx: Receiver<DirTask>, tx: Sender<DirResult>, rules: IndexRules) {
    for task in rx {
        let own = std::fs::symlink_metadata(&task.path).map(|md| StatFields::from_metadata(&md));
        let result = match own {
            Ok(own) if task.recorded_mtime == Some(own.mtime) => DirResult::Unchanged { task },
            Ok(own) if own.kind != EntryKind::Directory => DirResult::Failed {
                error: std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    "no longer a directory",
                ),
                task,
            },
            own => {
                let ignore = match &task.ignore {
                    Some(stack) => Arc::clone(stack),
                    None => task
                        .path
                        .parent()
                        .map(IgnoreStack::for_dir)
                        .unwrap_or_else(IgnoreStack::empty),
                };
                let ignore = if rules.gitignore {
                    ignore
                } else {
                    IgnoreStack::empty()
                };
                match read_listing(&task.path, &rules, &ignore) {
                    Ok(listing) => DirResult::Listed {
                        own: own.ok(),
                        listing,
                        task,
                    },
                    Err(error) => DirResult::Failed { task, error },
                }
            }
        };
        if tx.send(result).is_err() {
            return;
        }
    }
}

/// Keeps a directory's own record (its mtime in particular) current.
fn refresh_own_stat(tables: &mut IndexTables<'_>, id: u64, own: &StatFields) -> Result<()> {
    if let Some(mut record) = tables.get_entry(id)?
        && record.stat() != *own
        && record.kind == own.kind
    {
        record.apply_stat(own);
        tables.put_entry(id, &record)?;
    }
    Ok(())
}

/// The path of directory `id`, cached per batch.
fn dir_path(
    entries: &redb::ReadOnlyTable<u64, &'static [u8]>,
    cache: &mut HashMap<u64, PathBuf>,
    id: u64,
    root: u64,
    root_path: &std::path::Path,
) -> Result<Option<PathBuf>> {
    if id == root {
        return Ok(Some(root_path.to_owned()));
    }
    if let Some(p) = cache.get(&id) {
        return Ok(Some(p.clone()));
    }
    let Some(raw) = entries.get(id)? else {
        return Ok(None);
    };
    let record = crate::model::entry::EntryRecord::decode(raw.value())?;
    if record.parent == 0 {
        return Ok(None);
    }
    let Some(parent) = dir_path(entries, cache, record.parent, root, root_path)? else {
        return Ok(None);
    };
    let path =
        parent.join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&record.name));
    cache.insert(id, path.clone());
    Ok(Some(path))
}
