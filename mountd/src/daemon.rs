//! `sd daemon`: holds the library, keeps locations live (watcher + a stale
//! scan after downtime), runs jobs and serves the control socket.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use sdfs_core::watcher::LocationWatcher;
use sdfs_core::{Library, locations};

use crate::host::Host;
use crate::signals;

pub fn run(lib: Library) -> Result<()> {
    signals::install_termination_flag();
    let lib = Arc::new(lib);
    let watcher = LocationWatcher::start(Arc::clone(&lib), |refreshed| {
        tracing::debug!(
            "refreshed {} paths in location {}",
            refreshed.paths.len(),
            refreshed.location
        );
    })?;
    let all = locations::list(lib.db())?;
    // Watch first, so nothing that changes during the catch-up scan is missed.
    for location in &all {
        if let Err(e) = watcher.watch(location) {
            tracing::warn!("{e}");
        }
    }
    let host = Arc::new(Host::new(Arc::clone(&lib), Some(watcher), true));
    let socket = lib.socket_path();
    crate::control::serve(Arc::clone(&host), &socket)?;
    eprintln!(
        "sd daemon: serving {} (pid {})",
        lib.dir().display(),
        std::process::id()
    );

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
        })?;

    while signals::received().is_none() {
        std::thread::sleep(Duration::from_millis(100));
    }
    host.pause_all();
    // Let running jobs reach their checkpoint (a batch is at most ~250 ms).
    for _ in 0..50 {
        if !host.has_running_jobs() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(&socket);
    eprintln!("sd daemon: stopped");
    Ok(())
}
