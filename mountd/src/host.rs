//! The process holding the library (a daemon or a one-shot command) and how it
//! executes requests.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::outcome::Done;
use crate::replies::cloud::{
    CloudAdded, CloudIndexRow, CloudIndexedAll, CloudRemoved, CloudVolumes,
};
use crate::replies::content::{CacheStats, Collected, FreedUp, Pinned, Validated, Verified};
use crate::replies::deliveries::{Conflicts, Deliveries};
use crate::replies::devices::{DeviceRow, Devices, Invite, Joined, Unpaired};
use crate::replies::guardian::Guardian;
use crate::replies::jobs::{Indexed, JobAction, JobRow, Jobs, JobsAndDeliveries};
use crate::replies::locations::{Added, LocationRow, Locations, Removed, Updated};
use crate::replies::query::{Dupes, Listing, Stat};
use crate::replies::status::{DaemonInfo, DeviceBrief, Status, Stopping};
use crate::replies::tags::{TagParents, Tags};
use crate::request::{Reply, Request};
use anyhow::{Context, Result, bail};
use sdfs_core::content_store::{ContentStore, PinTarget, ValidateOptions};
use sdfs_core::ids::{DeviceId, JobId, LocationId};
use sdfs_core::jobs::{self, JobControl, JobEvent, JobRecord, JobState};
use sdfs_core::namespace::{FetchProgress, Namespace};
use sdfs_core::uri::SdUri;
use sdfs_core::watcher::LocationWatcher;
use sdfs_core::{Library, indexer, locations, query};

/// Whoever holds the library open.
pub struct Host {
    pub lib: Arc<Library>,
    running: Mutex<HashMap<JobId, JobControl>>,
    pub watcher: Option<LocationWatcher>,
    /// True in `sd daemon`: long jobs go to the background.
    pub daemon: bool,
    pub started_at: i64,
    /// The mounted namespace, when this host serves a mount.
    pub namespace: Option<Arc<sdfs_core::namespace::Namespace>>,
    pub mountpoint: Option<std::path::PathBuf>,
    shutdown: AtomicBool,
    /// Opened on first use: most commands never touch the chunk store.
    content: OnceLock<Arc<ContentStore>>,
    /// Stops the background integrity job (a job started, or shutdown).
    pub idle_stop: AtomicBool,
    /// The libp2p node, in a daemon.
    pub p2p: Option<sdfs_p2p::Node>,
    /// Set when an index run here changed the index.
    index_changed: AtomicBool,
    /// Connections to cloud volumes, made on first use.
    cloud: OnceLock<Arc<sdfs_core::cloud::Volumes>>,
    /// The live search index: the daemon's, kept up to date in the
    /// background, or opened on first use.
    search: OnceLock<Arc<sdfs_search::live::LiveIndex>>,
    /// Held while a conduit runs: one run at a time, from the daemon's
    /// loop or a command.
    pub(crate) conduit_runs: Mutex<()>,
}

impl Host {
    pub fn new(lib: Arc<Library>, watcher: Option<LocationWatcher>, daemon: bool) -> Self {
        Host {
            lib,
            running: Mutex::new(HashMap::new()),
            watcher,
            daemon,
            started_at: sdfs_core::time::unix_now_nanos(),
            namespace: None,
            mountpoint: None,
            shutdown: AtomicBool::new(false),
            content: OnceLock::new(),
            idle_stop: AtomicBool::new(false),
            p2p: None,
            index_changed: AtomicBool::new(false),
            cloud: OnceLock::new(),
            search: OnceLock::new(),
            conduit_runs: Mutex::new(()),
        }
    }

    /// Uses `index` (the daemon's) for searches.
    pub fn set_search(&self, index: Arc<sdfs_search::live::LiveIndex>) {
        let _ = self.search.set(index);
    }

    /// The library's live search index.
    pub fn search(&self) -> Result<Arc<sdfs_search::live::LiveIndex>> {
        if let Some(index) = self.search.get() {
            return Ok(Arc::clone(index));
        }
        let index = Arc::new(
            sdfs_search::live::LiveIndex::open(Arc::clone(&self.lib))
                .context("opening the search index")?,
        );
        Ok(Arc::clone(self.search.get_or_init(|| index)))
    }

    /// This library's cloud volumes and their connections.
    pub fn cloud(&self) -> Result<Arc<sdfs_core::cloud::Volumes>> {
        if let Some(volumes) = self.cloud.get() {
            return Ok(Arc::clone(volumes));
        }
        let connector = sdfs_cloud::OpenDal::new().context("starting the cloud runtime")?;
        let volumes = Arc::new(sdfs_core::cloud::Volumes::new(
            Arc::clone(&self.lib),
            Arc::new(connector),
        ));
        Ok(Arc::clone(self.cloud.get_or_init(|| volumes)))
    }

    /// Indexes cloud volume `location`.
    fn index_cloud(
        &self,
        location: &sdfs_core::model::location::LocationRecord,
    ) -> Result<sdfs_core::cloud::CloudIndexed> {
        let backend = self.cloud()?.backend(location.id)?;
        let indexed = sdfs_core::cloud::index(&self.lib, location, &*backend, &mut |_| {})
            .with_context(|| format!("indexing {}", location.name))?;
        if indexed.created + indexed.updated + indexed.removed + indexed.identified > 0 {
            self.index_changed.store(true, Ordering::Relaxed);
        }
        self.cloud()?.changed(location.id, &indexed.changed);
        Ok(indexed)
    }

    fn node(&self) -> Result<&sdfs_p2p::Node> {
        self.p2p
            .as_ref()
            .context("pairing needs the daemon running (start it with `sd daemon`)")
    }

    /// The library's content store, opened on first use.
    pub fn content(&self) -> Result<Arc<ContentStore>> {
        if let Some(store) = self.content.get() {
            return Ok(Arc::clone(store));
        }
        let store = Arc::new(ContentStore::open(Arc::clone(&self.lib))?);
        Ok(Arc::clone(self.content.get_or_init(|| store)))
    }

    /// The namespace and `(device, entry)` of a target naming another
    /// device's file or folder (an `sd://` URI or a path in the mount);
    /// `None` for this device's own.
    /// Puts back what `report` found corrupt, from a good copy here or on
    /// a paired device (the namespace reads those). What cannot be
    /// repaired now stays recorded, and is said at warning level.
    pub fn repair(&self, report: &mut sdfs_core::content_store::ValidateReport) {
        let Some(ns) = self.namespace.as_deref() else {
            return;
        };
        for issue in &report.issues {
            if issue.kind != sdfs_core::content_store::IssueKind::Corruption {
                continue;
            }
            match ns.repair(issue) {
                Ok(()) => report.repaired.push(issue.path.clone()),
                Err(e) => tracing::warn!("integrity: {} stays corrupt: {e}", issue.path),
            }
        }
    }

    fn remote_target(&self, target: &[u8]) -> Result<Option<(&Namespace, DeviceId, u64)>> {
        let uri: SdUri = if target.starts_with(b"sd://") {
            std::str::from_utf8(target)
                .context("a URI is UTF-8 text")?
                .parse()?
        } else {
            let path = Path::new(std::ffi::OsStr::from_bytes(target));
            match self
                .mountpoint
                .as_deref()
                .and_then(|m| SdUri::in_mount(m, path))
            {
                Some(uri) => uri,
                None => return Ok(None),
            }
        };
        if let Some(entry) = self.cloud_entry(&uri)? {
            let ns = self.namespace.as_deref().context(
                "cloud volumes' files are kept by the daemon (start it with `sd daemon` or `sd mount`)",
            )?;
            return Ok(Some((ns, self.lib.device_id(), entry)));
        }
        let Some(peer) = query::remote::peer_of(&self.lib, &uri)? else {
            return Ok(None);
        };
        let ns = self.namespace.as_deref().context(
            "other devices' files are kept by the daemon (start it with `sd daemon` or `sd mount`)",
        )?;
        let entry = query::remote::entry_of(&self.lib, &peer, &uri)?;
        Ok(Some((ns, peer.id, entry)))
    }

    /// The entry a URI names in one of this device's cloud volumes:
    /// `sd://cloud/<volume>/<path>`, or a path of the mount's
    /// `<volume>/<path>` (where no device has that name).
    fn cloud_entry(&self, uri: &SdUri) -> Result<Option<u64>> {
        let (volume, path) = match uri {
            SdUri::Cloud { volume, path } => (volume.as_str(), path.as_slice()),
            SdUri::Device { device, path } => {
                let me = self.lib.device_name();
                let taken = device == me
                    || self
                        .lib
                        .devices()?
                        .iter()
                        .any(|d| d.name == *device || d.id.to_string() == *device);
                if taken {
                    return Ok(None);
                }
                (device.as_str(), path.as_slice())
            }
            _ => return Ok(None),
        };
        let Some(location) = locations::list(self.lib.db())?
            .into_iter()
            .find(|l| l.is_cloud() && l.name == volume)
        else {
            return Ok(None);
        };
        let rel: Vec<u8> = path
            .split(|b| *b == b'/')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(&b'/');
        let (entry, _) = sdfs_core::cloud::entry_at(&self.lib, &location, &rel)?
            .with_context(|| format!("{uri} is not in the index of {volume}"))?;
        Ok(Some(entry))
    }

    /// Deliveries waiting here and being applied here.
    fn deliveries(&self) -> Result<Deliveries> {
        let incoming = self.p2p.as_ref().map_or(0, sdfs_p2p::Node::receiving);
        Deliveries::of(&self.lib, &*self.content()?, incoming)
    }

    /// Whether someone asked this host to stop (`sd unmount`).
    pub fn shutdown_requested(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    fn reload_namespace(&self) {
        if let Some(ns) = &self.namespace
            && let Err(e) = ns.reload_locations()
        {
            tracing::warn!("reloading locations for the mount: {e}");
        }
    }

    /// The controls of the jobs running in this process.
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, JobControl>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks every running job to stop at its next checkpoint.
    pub fn pause_all(&self) {
        for control in self.running().values() {
            control.pause();
        }
    }

    /// Whether any job runs right now.
    pub fn has_running_jobs(&self) -> bool {
        !self.running().is_empty()
    }

    /// Runs job `id` here, reporting to `out`.
    pub fn run_job(&self, id: JobId, out: &mut dyn FnMut(Reply)) -> Result<JobRecord> {
        let control = JobControl::new();
        {
            let mut running = self.running();
            if running.contains_key(&id) {
                bail!("job {id} is already running");
            }
            running.insert(id, control.clone());
        }
        // Jobs the user asked for go first.
        self.idle_stop.store(true, Ordering::Relaxed);
        let result = indexer::run_job(&self.lib, id, &control, &mut |e: JobEvent| {
            out(Reply::Event(e))
        });
        self.running().remove(&id);
        Ok(result?)
    }

    /// Indexes one location (resuming its unfinished job if it has one).
    pub fn index_location(
        &self,
        id: LocationId,
        stale_scan: bool,
        out: &mut dyn FnMut(Reply),
    ) -> Result<JobRecord> {
        let (job, _) = indexer::prepare_job(&self.lib, id, stale_scan)?;
        self.run_job(job.id, out)
    }

    /// Runs `request` and answers with its typed reply, serialised and
    /// rendered (see `outcome.rs`).
    pub fn execute(self: &Arc<Self>, request: Request, out: &mut dyn FnMut(Reply)) -> Result<Done> {
        let lib = &self.lib;
        match request {
            Request::LocationAdd {
                path,
                name,
                mode,
                rules,
            } => {
                let path = Path::new(std::ffi::OsStr::from_bytes(&path));
                let location = locations::add(lib, path, name.as_deref(), mode.parse()?, rules)?;
                if let Some(watcher) = &self.watcher {
                    watcher.watch(&location)?;
                }
                self.reload_namespace();
                Done::of(&Added(LocationRow::of(lib, &location)?))
            }
            Request::LocationList => Done::of(&Locations::of(lib)?),
            Request::CloudAdd {
                name,
                service,
                secrets,
            } => {
                let volumes = self.cloud()?;
                let added =
                    sdfs_core::cloud::add(lib, &name, service, &secrets, volumes.connector())?;
                volumes.reload();
                self.reload_namespace();
                Done::of(&CloudAdded::of(lib, &added)?)
            }
            Request::CloudList => Done::of(&CloudVolumes::of(lib)?),
            Request::CloudRm {
                name,
                discard_pending,
            } => {
                // Keys to a paired device's volume: forgotten, the volume
                // stays theirs.
                if let Some(id) = sdfs_core::cloud::disconnect(lib, &name)? {
                    if let Some(volumes) = self.cloud.get() {
                        volumes.forget(id);
                    }
                    self.reload_namespace();
                    return Done::of(&CloudRemoved { removed: name });
                }
                // Saves not uploaded yet are work only this device has.
                let location = locations::get_by_name(lib.db(), &name)?;
                let content = self.content()?;
                let waiting = sdfs_core::outbox::courier::pending(&content)?
                    .by_volume
                    .iter()
                    .find(|(id, _)| *id == location.id)
                    .map_or(0, |(_, n)| *n);
                if waiting > 0 && !discard_pending {
                    bail!(
                        "{waiting} change(s) saved into {name} are not uploaded yet (see `sd status`); \
                         they upload once its service answers. To remove it anyway and drop them: \
                         `sd cloud rm {name} --discard-pending`"
                    );
                }
                // Dropped first: a record left for a volume that is gone
                // would be retried for ever.
                let dropped = content
                    .outbox()
                    .forget_location(lib.device_id(), location.id)?;
                if dropped > 0 {
                    tracing::warn!("dropped {dropped} change(s) never uploaded to {name}");
                }
                let removed = sdfs_core::cloud::remove(lib, &name)?;
                if let Some(volumes) = self.cloud.get() {
                    volumes.forget(removed.id);
                }
                self.reload_namespace();
                Done::of(&CloudRemoved {
                    removed: removed.name,
                })
            }
            Request::LocationRm { name } => {
                let location = locations::get_by_name(lib.db(), &name)?;
                if location.is_cloud() {
                    bail!("{name} is a cloud volume: remove it with `sd cloud rm {name}`");
                }
                if let Some(watcher) = &self.watcher {
                    watcher.unwatch(location.id);
                }
                let removed = locations::remove(lib, &name)?;
                self.reload_namespace();
                Done::of(&Removed {
                    path: removed.root_path().unwrap_or_default(),
                    removed: removed.name,
                })
            }
            Request::LocationSet {
                name,
                remote_writes,
            } => {
                let mut location = locations::get_by_name(lib.db(), &name)?;
                if let Some(on) = remote_writes {
                    location = locations::set_remote_writes(lib, &name, on)?;
                }
                Done::of(&Updated(LocationRow::of(lib, &location)?))
            }
            Request::Conflicts => Done::of(&Conflicts(sdfs_core::conflicts::list(lib)?)),
            Request::Index { location } => {
                let targets = match location {
                    Some(name) => vec![locations::get_by_name(lib.db(), &name)?],
                    None => locations::list(lib.db())?,
                };
                // Cloud volumes are listed from their services, not walked
                // by a job.
                let (clouds, targets): (Vec<_>, Vec<_>) =
                    targets.into_iter().partition(|l| l.is_cloud());
                let mut volumes = Vec::new();
                for volume in &clouds {
                    volumes.push(CloudIndexRow {
                        name: volume.name.clone(),
                        indexed: self.index_cloud(volume)?,
                    });
                }
                if targets.is_empty() && !volumes.is_empty() {
                    return Done::of(&CloudIndexedAll(volumes));
                }
                if targets.is_empty() {
                    bail!("no locations to index (add one with `sd location add PATH`)");
                }
                let mut jobs = Vec::new();
                for target in targets {
                    let job = self.index_location(target.id, false, out)?;
                    let stopped = job.state != JobState::Completed;
                    jobs.push(JobRow::of(lib, job));
                    if stopped {
                        break;
                    }
                }
                let indexed = Indexed(jobs);
                if indexed.changed_anything() {
                    self.index_changed.store(true, Ordering::Relaxed);
                }
                Done::of(&indexed)
            }
            Request::Ls {
                uri,
                recursive,
                long,
            } => {
                let uri = uri.parse()?;
                let items = match query::remote::peer_of(lib, &uri)? {
                    Some(peer) => query::remote::ls(&*self.content()?, &peer, &uri, recursive)?,
                    None => query::ls(lib, &uri, recursive)?,
                };
                Done::of(&Listing { items, long })
            }
            Request::Stat { uri } => {
                let uri = uri.parse()?;
                Done::of(&Stat(match query::remote::peer_of(lib, &uri)? {
                    Some(peer) => query::remote::stat(&*self.content()?, &peer, &uri)?,
                    None => query::stat(lib, &uri)?,
                }))
            }
            Request::Dupes { min_size } => Done::of(&Dupes(query::dupes(lib, min_size)?)),
            Request::Action {
                kind,
                sources,
                destination,
                commit,
                limit,
            } => {
                let out = std::cell::RefCell::new(out);
                let progress = |p: &sdfs_core::actions::RunProgress| {
                    (out.borrow_mut())(Reply::Action(p.clone()));
                };
                let pace = crate::actions::Pace {
                    limit,
                    progress: Some(&progress),
                };
                self.action(kind, &sources, &destination, commit, &pace)
            }
            Request::Undo { id, commit } => self.undo(id, commit),
            Request::ConduitAdd {
                source,
                destination,
                mode,
                include,
                commit,
            } => self.conduit_add(&source, &destination, mode, include, commit),
            Request::Conduits => self.conduits(),
            Request::ConduitRm { id } => Done::of(&crate::replies::conduits::Removed(
                sdfs_core::actions::Conduits::new(lib.db().clone()).remove(id)?,
            )),
            Request::Log => Done::of(&crate::replies::actions::Log(
                sdfs_core::actions::Actions::new(lib.db().clone()).list()?,
            )),
            Request::Guardian { target, limit } => {
                let scope = target
                    .map(|t| query::target::uri_of(lib, &t, self.mountpoint.as_deref()))
                    .transpose()?;
                Done::of(&Guardian(sdfs_core::guardian::report(
                    lib,
                    scope.as_ref(),
                    limit,
                )?))
            }
            Request::Search {
                query,
                limit,
                explain,
                now,
                lexical,
            } => Done::of(&crate::search::run(
                lib,
                &*self.search()?,
                self.mountpoint.as_deref(),
                crate::search::Asked {
                    words: &query,
                    limit,
                    explain,
                    at: now,
                    lexical,
                },
            )?),
            Request::JobsList => {
                let running = self.running().keys().copied().collect::<Vec<_>>();
                let mut rows = Vec::new();
                for mut job in jobs::list_jobs(lib.db())? {
                    // A job marked running that no process runs was interrupted.
                    if job.state == JobState::Running && !running.contains(&job.id) {
                        job.state = JobState::Paused;
                    }
                    rows.push(JobRow::of(lib, job));
                }
                let unfinished = sdfs_core::actions::Actions::new(lib.db().clone())
                    .list()?
                    .into_iter()
                    .filter(|a| a.status.is_unfinished())
                    .collect();
                Done::of(&JobsAndDeliveries(
                    Jobs(rows),
                    self.deliveries()?,
                    crate::replies::actions::Log(unfinished),
                ))
            }
            Request::JobsPause { id } => {
                let id = JobId(id);
                let control = self.running().get(&id).cloned();
                Done::of(&match control {
                    Some(control) => {
                        control.pause();
                        JobAction::Changing {
                            id,
                            state: "pausing",
                        }
                    }
                    None => JobAction::Job(Box::new(JobRow::of(
                        lib,
                        jobs::update_state(lib.db(), id, JobState::Paused)?,
                    ))),
                })
            }
            Request::JobsCancel { id } => {
                let id = JobId(id);
                let control = self.running().get(&id).cloned();
                Done::of(&match control {
                    Some(control) => {
                        control.cancel();
                        JobAction::Changing {
                            id,
                            state: "cancelling",
                        }
                    }
                    None => {
                        // Run it just long enough to drop its checkpoint cleanly.
                        let control = JobControl::new();
                        control.cancel();
                        let job = indexer::run_job(lib, id, &control, &mut |_| {})?;
                        JobAction::Job(Box::new(JobRow::of(lib, job)))
                    }
                })
            }
            Request::JobsResume { id } => {
                let id = JobId(id);
                let job = jobs::get_job(lib.db(), id)?;
                if !job.state.is_active() {
                    bail!("job {id} is already {}", job.state.as_str());
                }
                Done::of(&if self.daemon {
                    let host = Arc::clone(self);
                    std::thread::spawn(move || {
                        if let Err(e) = host.run_job(id, &mut |_| {}) {
                            tracing::warn!("job {id}: {e:#}");
                        }
                    });
                    JobAction::Changing {
                        id,
                        state: "running",
                    }
                } else {
                    JobAction::Job(Box::new(JobRow::of(lib, self.run_job(id, out)?)))
                })
            }
            Request::Status => {
                let active = jobs::list_jobs(lib.db())?
                    .into_iter()
                    .filter(|j| j.state.is_active())
                    .map(|j| JobRow::of(lib, j))
                    .collect();
                Done::of(&Status {
                    library: lib.dir().to_owned(),
                    library_id: lib.id(),
                    device: DeviceBrief {
                        id: lib.device_id(),
                        name: lib.device_name().to_owned(),
                    },
                    daemon: self.daemon.then(|| DaemonInfo {
                        pid: std::process::id(),
                        started_at: sdfs_core::time::rfc3339(self.started_at),
                    }),
                    mount: self.mountpoint.clone(),
                    p2p: self.p2p.as_ref().map(sdfs_p2p::Node::status).transpose()?,
                    locations: Locations::of(lib)?,
                    jobs: Jobs(active),
                    deliveries: self.deliveries()?,
                    integrity: self.content()?.issues()?,
                })
            }
            Request::Pin { target } => {
                if let Some((ns, device, entry)) = self.remote_target(&target)? {
                    let mut report = |p: &FetchProgress| out(Reply::Fetch(p.clone()));
                    return Done::of(&Pinned {
                        report: ns.pin_remote(device, entry, &mut report)?,
                        unpinned: false,
                    });
                }
                let target = PinTarget::resolve(lib, &target, self.mountpoint.as_deref())?;
                Done::of(&Pinned {
                    report: self.content()?.pin(&target)?,
                    unpinned: false,
                })
            }
            Request::Unpin { target } => {
                if let Some((ns, device, entry)) = self.remote_target(&target)? {
                    return Done::of(&Pinned {
                        report: ns.unpin_remote(device, entry)?,
                        unpinned: true,
                    });
                }
                let target = PinTarget::resolve(lib, &target, self.mountpoint.as_deref())?;
                Done::of(&Pinned {
                    report: self.content()?.unpin(&target)?,
                    unpinned: true,
                })
            }
            Request::FreeUp { target } => match self.remote_target(&target)? {
                Some((ns, device, entry)) => Done::of(&FreedUp(ns.free_up(device, entry)?)),
                None => bail!(
                    "free-up is for other devices' files (this device's own files are \
                     on its disk already); use `sd unpin` to release pins"
                ),
            },
            Request::CacheStats => Done::of(&CacheStats::of(&*self.content()?)?),
            Request::CacheGc => Done::of(&Collected::run(&*self.content()?)?),
            Request::CacheVerify => Done::of(&Verified::run(&*self.content()?)?),
            Request::CacheBudget { bytes } => {
                let content = self.content()?;
                if let Some(bytes) = bytes {
                    content.chunks().set_budget(bytes)?;
                }
                Done::of(&CacheStats::of(&content)?)
            }
            Request::Validate { rate, reverify } => {
                let options = ValidateOptions { rate, reverify };
                let stop = AtomicBool::new(false);
                let mut report = self.content()?.validate(&options, &stop)?;
                self.repair(&mut report);
                Done::of(&Validated(report))
            }
            Request::Tag {
                target,
                add,
                remove,
            } => Done::of(&Tags::run(
                lib,
                self.mountpoint.as_deref(),
                target,
                &add,
                &remove,
            )?),
            Request::TagParent {
                child,
                parent,
                remove,
            } => Done::of(&TagParents::run(lib, &child, &parent, remove)?),
            Request::PairInvite => Done::of(&Invite(self.node()?.invite()?)),
            Request::PairJoin { code, addr } => {
                let addr = addr
                    .map(|a| a.parse::<sdfs_p2p::Multiaddr>())
                    .transpose()
                    .context("--addr is a multiaddr like /ip4/192.0.2.7/tcp/4001")?;
                Done::of(&Joined(self.node()?.join(&code, addr)?))
            }
            Request::Devices => {
                let online: Vec<String> = match &self.p2p {
                    Some(node) => node.status()?.connected,
                    None => Vec::new(),
                };
                let rows = lib
                    .devices()?
                    .into_iter()
                    .map(|d| {
                        let this = d.id == lib.device_id();
                        DeviceRow {
                            online: this || d.peer_id.as_ref().is_some_and(|p| online.contains(p)),
                            peer_id: if this {
                                self.p2p.as_ref().map(sdfs_p2p::Node::peer_id)
                            } else {
                                d.peer_id.clone()
                            },
                            this_device: this,
                            last_seen: sdfs_core::time::rfc3339(d.last_seen),
                            name: d.name,
                            id: d.id,
                            os: d.os,
                        }
                    })
                    .collect();
                Done::of(&Devices(rows))
            }
            Request::DeviceRm { name } => {
                let removed = lib.remove_device(&name)?;
                if let (Some(node), Some(peer)) = (&self.p2p, &removed.peer_id) {
                    node.disconnect(peer)?;
                }
                Done::of(&Unpaired {
                    removed: removed.name,
                    id: removed.id,
                    peer_id: removed.peer_id,
                })
            }
            Request::Shutdown => {
                if !self.daemon {
                    bail!("no daemon is running for {}", lib.dir().display());
                }
                self.shutdown.store(true, Ordering::Release);
                Done::of(&Stopping {
                    stopping: std::process::id(),
                    mount: self.mountpoint.clone(),
                })
            }
        }
    }

    /// Whether an index run here changed the index (then the library file
    /// is worth compacting once nobody else holds it).
    pub fn index_changed(&self) -> bool {
        self.index_changed.load(Ordering::Relaxed)
    }
}
