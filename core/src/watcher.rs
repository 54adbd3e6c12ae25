//! The watcher: keeps every location live through inotify (the `notify`
//! crate), debounced, feeding [`indexer::live::refresh`](crate::indexer::live::refresh).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, unbounded};
use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};

use crate::error::{Error, Result};
use crate::ids::LocationId;
use crate::library::Library;
use crate::locations;
use crate::model::location::LocationRecord;

/// Quiet time that ends a burst of events.
const DEBOUNCE_QUIET: Duration = Duration::from_millis(100);
/// A burst is applied after this long even if events keep coming.
const DEBOUNCE_MAX: Duration = Duration::from_millis(400);

/// What the watcher tells its owner after applying changes.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub location: LocationId,
    /// Paths the events named (for cache invalidation in adapters).
    pub paths: Vec<PathBuf>,
}

/// Watches locations and keeps their index current while it lives.
pub struct LocationWatcher {
    watcher: Mutex<RecommendedWatcher>,
    locations: Arc<Mutex<Vec<LocationRecord>>>,
    _thread: std::thread::JoinHandle<()>,
}

impl std::fmt::Debug for LocationWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocationWatcher").finish_non_exhaustive()
    }
}

impl LocationWatcher {
    /// Starts watching every location of `lib`. `on_refresh` runs on the
    /// watcher's thread after each applied burst.
    pub fn start(
        lib: Arc<Library>,
        on_refresh: impl Fn(Refreshed) + Send + 'static,
    ) -> Result<LocationWatcher> {
        let (tx, rx) = unbounded();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // inotify reports every open (notify always asks for IN_OPEN);
            // drop them here, before they wake the debouncer.
            if let Ok(e) = &event
                && matches!(e.kind, notify::EventKind::Access(_))
                && !e.need_rescan()
            {
                return;
            }
            let _ = tx.send(event);
        })
        .map_err(|e| Error::InvalidInput(format!("cannot start the watcher: {e}")))?;
        let locations = Arc::new(Mutex::new(Vec::new()));
        let thread_locations = Arc::clone(&locations);
        let thread = std::thread::Builder::new()
            .name("sd-watcher".into())
            .spawn(move || debounce_loop(&lib, &rx, &thread_locations, &on_refresh))
            .map_err(|e| Error::io("watcher thread", e))?;
        let this = LocationWatcher {
            watcher: Mutex::new(watcher),
            locations,
            _thread: thread,
        };
        Ok(this)
    }

    /// Starts watching `location` (idempotent).
    pub fn watch(&self, location: &LocationRecord) -> Result<()> {
        let mut locations = self.locations.lock().unwrap_or_else(|e| e.into_inner());
        if locations.iter().any(|l| l.id == location.id) {
            return Ok(());
        }
        // A cloud volume has no directory to watch: a re-index lists what
        // changed in its bucket.
        let Some(path) = location.root_path() else {
            return Ok(());
        };
        self.watcher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .watch(&path, RecursiveMode::Recursive)
            .map_err(|e| Error::InvalidInput(format!("cannot watch {}: {e}", path.display())))?;
        locations.push(location.clone());
        Ok(())
    }

    /// Stops watching the location with this id.
    pub fn unwatch(&self, id: LocationId) {
        let mut locations = self.locations.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pos) = locations.iter().position(|l| l.id == id) {
            let location = locations.remove(pos);
            if let Some(root) = location.root_path() {
                let _ = self
                    .watcher
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .unwatch(&root);
            }
        }
    }
}

fn debounce_loop(
    lib: &Library,
    rx: &Receiver<notify::Result<notify::Event>>,
    locations: &Mutex<Vec<LocationRecord>>,
    on_refresh: &dyn Fn(Refreshed),
) {
    loop {
        let first = match rx.recv() {
            Ok(event) => event,
            Err(_) => return,
        };
        let mut paths = Vec::new();
        let mut rescan = false;
        collect(first, &mut paths, &mut rescan);
        let started = Instant::now();
        loop {
            let left = DEBOUNCE_MAX.saturating_sub(started.elapsed());
            match rx.recv_timeout(DEBOUNCE_QUIET.min(left)) {
                Ok(event) => collect(event, &mut paths, &mut rescan),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if left.is_zero() {
                break;
            }
        }
        let current: Vec<LocationRecord> =
            locations.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut by_location: HashMap<LocationId, Vec<PathBuf>> = HashMap::new();
        for path in paths {
            if let Some(location) = current
                .iter()
                .find(|l| l.root_path().is_some_and(|root| path.starts_with(root)))
            {
                by_location.entry(location.id).or_default().push(path);
            }
        }
        if rescan {
            // The kernel dropped events: re-read everything that changed.
            for location in &current {
                if let Some(root) = location.root_path() {
                    by_location.entry(location.id).or_default().push(root);
                }
            }
        }
        for (id, paths) in by_location {
            // The location may have been removed meanwhile: its index is gone
            // and must not be refreshed back into existence.
            let Ok(location) = locations::get_by_id(lib.db(), id) else {
                continue;
            };
            let result = if rescan {
                run_stale_scan(lib, &location)
            } else {
                crate::indexer::live::refresh(lib, &location, &paths).map(|_| ())
            };
            match result {
                Ok(()) => on_refresh(Refreshed {
                    location: id,
                    paths,
                }),
                Err(e) => tracing::warn!("watcher refresh of {} failed: {e}", location.name),
            }
        }
    }
}

fn run_stale_scan(lib: &Library, location: &LocationRecord) -> Result<()> {
    crate::indexer::index_to_end(lib, location.id, true)?;
    Ok(())
}

fn collect(event: notify::Result<notify::Event>, paths: &mut Vec<PathBuf>, rescan: &mut bool) {
    match event {
        Ok(event) => {
            if event.need_rescan() {
                *rescan = true;
            }
            // Pure reads and opens change nothing the index records.
            if matches!(event.kind, notify::EventKind::Access(_)) {
                return;
            }
            for path in event.paths {
                if !paths.contains(&path) {
                    paths.push(path);
                }
            }
        }
        Err(e) => {
            tracing::warn!("watcher error: {e}");
            *rescan = true;
        }
    }
}
