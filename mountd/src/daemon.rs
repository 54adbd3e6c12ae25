//! `sd daemon` / `sd mount`: holds the library, keeps locations live
//! (watcher + a stale scan after downtime), runs jobs, serves the control
//! socket and, when asked, the mount.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use sdfs_core::namespace::Namespace;
use sdfs_core::watcher::LocationWatcher;
use sdfs_core::{Library, locations};
use sdfs_search::live::LiveIndex;
use sdfs_vfs_fuse::Mounted;

use crate::host::Host;
use crate::signals;

/// FUSE worker threads: enough that a slow disk request does not stall `ls`.
const FUSE_THREADS: usize = 4;

/// Where a daemon listens for other devices unless told otherwise.
const DEFAULT_LISTEN: [&str; 2] = ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"];

/// What `sd daemon` / `sd mount` were asked to do.
#[derive(Debug)]
pub struct Options {
    pub mountpoint: Option<PathBuf>,
    pub listen: Vec<String>,
    /// Devices to dial at start.
    pub peers: Vec<String>,
    /// How long a read waits on other devices.
    pub fetch_timeout: Duration,
    /// The longest time between pulls from a paired device.
    pub sync_every: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mountpoint: None,
            listen: Vec::new(),
            peers: Vec::new(),
            fetch_timeout: sdfs_core::remote::DEFAULT_FETCH_TIMEOUT,
            sync_every: Duration::from_millis(sdfs_p2p::PULL_EVERY),
        }
    }
}

fn multiaddrs(flag: &str, addrs: &[String]) -> Result<Vec<sdfs_p2p::Multiaddr>> {
    addrs
        .iter()
        .map(|a| {
            a.parse()
                .with_context(|| format!("--{flag} {a}: not a multiaddr"))
        })
        .collect()
}

pub fn run(lib: Library, options: Options) -> Result<()> {
    let Options {
        mountpoint,
        listen,
        peers,
        fetch_timeout,
        sync_every,
    } = options;
    signals::install_termination_flag();
    let lib = Arc::new(lib);
    // Opened before anything can change the library, so the index hears
    // of every change sync applies.
    let search = Arc::new(LiveIndex::open(Arc::clone(&lib)).context("opening the search index")?);
    let mounted: Arc<Mutex<Option<Mounted>>> = Arc::new(Mutex::new(None));
    let for_watcher = Arc::clone(&mounted);
    let search_for_watcher = Arc::clone(&search);
    let watcher = LocationWatcher::start(Arc::clone(&lib), move |refreshed| {
        search_for_watcher.nudge();
        // Changes underneath reach programs using the mount at once.
        if let Some(m) = for_watcher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            m.invalidate(&refreshed.paths);
        }
    })?;
    // Cloud volumes are neither watched nor caught up: `sd index NAME`
    // lists what changed in their buckets.
    let all: Vec<_> = locations::list(lib.db())?
        .into_iter()
        .filter(|l| !l.is_cloud())
        .collect();
    // Watch first, so nothing that changes during the catch-up scan is missed.
    for location in &all {
        if let Err(e) = watcher.watch(location) {
            tracing::warn!("{e}");
        }
    }
    let mut host = Host::new(Arc::clone(&lib), Some(watcher), true);
    host.set_search(Arc::clone(&search));
    let strict = !listen.is_empty();
    let listen: Vec<String> = if listen.is_empty() {
        DEFAULT_LISTEN.iter().map(|s| s.to_string()).collect()
    } else {
        listen
    };
    let listen = multiaddrs("listen", &listen)?;
    let dial = multiaddrs("peer", &peers)?;
    let for_cloud = Arc::clone(&mounted);
    host.cloud()?.on_changed(Box::new(move |location, entries| {
        if let Some(m) = for_cloud.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            m.invalidate_cloud(location, entries);
        }
    }));
    // Cloud volumes are read, uploaded to and served to paired devices
    // through the content store.
    host.content()?.set_cloud(host.cloud()?);
    // The kernel is told of what sync changed on a thread of its own: an
    // invalidation waits for reads in flight on the file, and a read of
    // another device's file may be waiting for this very sync loop.
    let (invalidate, to_invalidate) =
        std::sync::mpsc::channel::<(sdfs_core::ids::DeviceId, Vec<u64>, Vec<u64>)>();
    let for_sync = Arc::clone(&mounted);
    std::thread::Builder::new()
        .name("sd-invalidate".into())
        .spawn(move || {
            for (device, entries, dirs) in to_invalidate {
                if let Some(m) = for_sync.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    m.invalidate_remote(device, &entries);
                    m.invalidate_remote(device, &dirs);
                }
            }
        })?;
    let search_for_sync = Arc::clone(&search);
    // What sync brings may belong in a pinned folder: it wakes the keeper.
    let (wake_keeper, keeper_woken) = std::sync::mpsc::sync_channel::<()>(1);
    let node = sdfs_p2p::Node::start(
        host.content()?,
        sdfs_p2p::NodeConfig {
            listen,
            strict,
            dial,
            sync_every,
            // What another device changed reaches programs using the mount
            // at once, not after the kernel's cache times out.
            on_applied: Some(Box::new(move |device, applied| {
                search_for_sync.replica_changed(device, &applied.entries);
                search_for_sync.replica_changed(device, &applied.said);
                if !applied.entries.is_empty() || !applied.dirs.is_empty() {
                    let _ =
                        invalidate.send((device, applied.entries.clone(), applied.dirs.clone()));
                }
                let _ = wake_keeper.try_send(());
            })),
        },
    )?;
    let link = node.link();
    host.p2p = Some(node);
    // Changes to other devices' files go to their owners from here, in
    // order, whether or not this daemon mounts; changes to cloud volumes
    // go to their buckets.
    let courier_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let courier =
            sdfs_core::outbox::courier::Courier::new(host.content()?, Arc::new(link.clone()));
        let stop = Arc::clone(&courier_stop);
        std::thread::Builder::new()
            .name("sd-courier".into())
            .spawn(move || courier.run(&stop))?;
    }
    // The namespace serves the mount, and other devices' files to `sd pin`,
    // `sd free-up` and the keeper, mounted or not.
    let ns = Arc::new(Namespace::new(host.content()?)?);
    ns.set_remote_access(sdfs_core::namespace::RemoteAccess {
        link: Arc::new(link.clone()),
        timeout: fetch_timeout,
    });
    ns.set_search(Arc::new(crate::search::MountSearch {
        lib: Arc::clone(&lib),
        index: Arc::clone(&search),
    }));
    host.namespace = Some(Arc::clone(&ns));
    {
        let ns = Arc::clone(&ns);
        std::thread::Builder::new()
            .name("sd-keep-pinned".into())
            .spawn(move || keep_pinned(&ns, &keeper_woken))?;
    }
    if let Some(mountpoint) = &mountpoint {
        // A mount left by a crashed daemon answers "Transport endpoint is not
        // connected" to everything; detach it before anything else.
        if sdfs_vfs_fuse::clean_stale_mount(mountpoint)? {
            eprintln!("sd: cleaned a stale mount at {}", mountpoint.display());
        }
        std::fs::create_dir_all(mountpoint)
            .with_context(|| format!("creating {}", mountpoint.display()))?;
        // Modes arrive with the caller's umask already applied.
        // SAFETY: umask has no preconditions.
        unsafe { libc::umask(0) };
        let m = sdfs_vfs_fuse::mount(Arc::clone(&ns), mountpoint, FUSE_THREADS)
            .with_context(|| format!("mounting {}", mountpoint.display()))?;
        *mounted.lock().unwrap_or_else(|e| e.into_inner()) = Some(m);
        let canonical = std::fs::canonicalize(mountpoint).unwrap_or_else(|_| mountpoint.clone());
        ns.set_mountpoint(&canonical);
        host.mountpoint = Some(canonical);
    }
    let host = Arc::new(host);
    let socket = lib.socket_path();
    crate::control::serve(Arc::clone(&host), &socket)?;
    match &mountpoint {
        Some(m) => eprintln!(
            "sd: mounted {} at {} (pid {})",
            lib.dir().display(),
            m.display(),
            std::process::id()
        ),
        None => eprintln!(
            "sd daemon: serving {} (pid {})",
            lib.dir().display(),
            std::process::id()
        ),
    }

    let catch_up = Arc::clone(&host);
    std::thread::Builder::new()
        .name("sd-catch-up".into())
        .spawn(move || {
            for location in all {
                // After downtime, re-read only directories whose mtime changed.
                let stale = location.last_indexed.is_some();
                match catch_up.index_location(location.id, stale, &mut |_| {}) {
                    Ok(job) => tracing::info!("catch-up of {}: {:?}", location.name, job.counters),
                    Err(e) => tracing::warn!("catch-up of {}: {e:#}", location.name),
                }
            }
            // Actions a crash cut short are planned again from the index
            // now that it is current: what arrived is skipped.
            catch_up.resume_actions();
            // Then conduits run whenever their plans have work.
            let spawned = std::thread::Builder::new()
                .name("sd-conduits".into())
                .spawn(move || {
                    let mut recent = std::collections::HashMap::new();
                    loop {
                        catch_up.run_conduits(&mut recent);
                        std::thread::sleep(crate::conduits::CONDUIT_EVERY);
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!("conduits: {e}");
            }
        })?;

    // The trash keeps what was deleted into it for its retention, then
    // lets it go (checked hourly).
    {
        let dir = lib.dir().to_owned();
        std::thread::Builder::new()
            .name("sd-trash".into())
            .spawn(move || {
                loop {
                    match sdfs_core::trash::purge_expired(&dir, sdfs_core::time::unix_now_secs()) {
                        Ok(0) => {}
                        Ok(n) => tracing::info!("trash: {n} items past their retention removed"),
                        Err(e) => tracing::warn!("trash: {e}"),
                    }
                    std::thread::sleep(Duration::from_secs(3600));
                }
            })?;
    }

    // The search index catches up whenever something changed.
    let search_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let search_thread = {
        let stop = Arc::clone(&search_stop);
        let search = Arc::clone(&search);
        std::thread::Builder::new()
            .name("sd-search".into())
            .spawn(move || search.run(&stop))?
    };

    let idle = Arc::clone(&host);
    std::thread::Builder::new()
        .name("sd-integrity".into())
        .spawn(move || integrity_when_idle(&idle))?;

    loop {
        if signals::received().is_some() || host.shutdown_requested() {
            break;
        }
        let alive = mounted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_none_or(Mounted::is_alive);
        if !alive {
            eprintln!("sd: the mount was unmounted from outside; stopping");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    host.pause_all();
    host.idle_stop.store(true, Ordering::Relaxed);
    courier_stop.store(true, Ordering::Relaxed);
    if let Ok(content) = host.content() {
        content.outbox().notify();
        // What was staged but never fsynced is kept too.
        if let Err(e) = content.outbox().sync() {
            eprintln!("sd: flushing changes for other devices: {e}");
        }
    }
    let taken = mounted.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(m) = taken {
        let point = m.mountpoint().to_owned();
        if let Err(e) = m.unmount() {
            eprintln!("sd: unmounting {}: {e}", point.display());
        }
    }
    // Let running jobs reach their checkpoint (a batch is at most ~250 ms).
    for _ in 0..50 {
        if !host.has_running_jobs() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    search_stop.store(true, Ordering::Relaxed);
    search.nudge();
    let _ = search_thread.join();
    let _ = std::fs::remove_file(&socket);
    eprintln!("sd: stopped");
    Ok(())
}

/// How often pinned folders are checked for what they lack when nothing
/// woke the keeper (a peer back online with files it had before).
const KEEP_PINNED_EVERY: Duration = Duration::from_secs(60);

/// Fetches what pinned folders and files of other devices lack, whenever
/// sync applied something and once a minute.
fn keep_pinned(ns: &Namespace, woken: &std::sync::mpsc::Receiver<()>) {
    loop {
        match woken.recv_timeout(KEEP_PINNED_EVERY) {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        }
        match ns.keep_pinned() {
            Ok(0) => {}
            Ok(bytes) => tracing::info!("kept pinned files: fetched {bytes} bytes"),
            Err(e) => tracing::warn!("keeping pinned files: {e}"),
        }
    }
}

/// The integrity job's pace in the background: gentle on a laptop's disk.
const IDLE_INTEGRITY_RATE: u64 = 32 * 1024 * 1024;
/// How long the daemon waits between passes; a pass that found work is
/// followed by another one sooner.
const IDLE_PASS_EVERY: Duration = Duration::from_secs(300);
const IDLE_FIRST_PASS: Duration = Duration::from_secs(60);

/// Computes missing integrity hashes while no job runs, throttled, stopping
/// as soon as a job starts or the daemon stops (the work left is simply the
/// contents still without a hash, so the next pass resumes it).
fn integrity_when_idle(host: &Host) {
    let mut wait = IDLE_FIRST_PASS;
    loop {
        let until = std::time::Instant::now() + wait;
        while std::time::Instant::now() < until {
            if host.shutdown_requested() || signals::received().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        if host.has_running_jobs() {
            wait = IDLE_FIRST_PASS;
            continue;
        }
        host.idle_stop.store(false, Ordering::Relaxed);
        let options = sdfs_core::content_store::ValidateOptions {
            rate: Some(IDLE_INTEGRITY_RATE),
            reverify: false,
        };
        let report = host.content().and_then(|c| {
            let mut report = c.validate(&options, &host.idle_stop)?;
            host.repair(&mut report);
            Ok(report)
        });
        match report {
            Ok(r) if r.files_hashed > 0 || !r.issues.is_empty() => {
                tracing::info!(
                    "integrity: {} files hashed, {} issues, {} contents left",
                    r.files_hashed,
                    r.issues.len(),
                    r.remaining
                );
                wait = if r.stopped {
                    IDLE_FIRST_PASS
                } else {
                    IDLE_PASS_EVERY
                };
            }
            Ok(_) => wait = IDLE_PASS_EVERY,
            Err(e) => {
                tracing::warn!("integrity: {e:#}");
                wait = IDLE_PASS_EVERY;
            }
        }
        // Deletions older than the window leave the change log; a device
        // away for longer resyncs in full.
        let before =
            sdfs_core::time::unix_now_secs() - sdfs_core::sync::changes::TOMBSTONE_WINDOW_SECS;
        match sdfs_core::sync::changes::prune_tombstones(host.lib.db(), before) {
            Ok(0) => {}
            Ok(n) => tracing::info!("sync: pruned {n} deletions older than the tombstone window"),
            Err(e) => tracing::warn!("sync: pruning deletions: {e}"),
        }
    }
}
