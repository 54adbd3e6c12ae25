//! `sd search`: the query parsed against this library's devices and
//! volumes and the user's clock, run over the library's live index of
//! every file it knows (this device's, the paired devices' replicas, the
//! volumes'), which catches up with the library first, so what it finds
//! is never older than the library.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use std::sync::Arc;

use anyhow::Result;
use sdfs_core::namespace::SearchFiles;
use sdfs_core::{ErrorKind, Library};
use sdfs_search::calendar::Clock;
use sdfs_search::live::LiveIndex;
use sdfs_search::query::{Context, Query, parse};

use crate::replies::search::SearchReply;

pub fn run(
    lib: &Library,
    index: &LiveIndex,
    mountpoint: Option<&Path>,
    words: &str,
    limit: usize,
    explain: bool,
) -> Result<SearchReply> {
    let clock = now();
    let query = parse_for(lib, words, clock)?;
    let hits = index
        .search(&query, limit, explain)?
        .into_iter()
        .map(|mut hit| {
            hit.path = in_mount(mountpoint, &hit.path);
            hit
        })
        .collect();
    Ok(SearchReply {
        parse: explain.then(|| query.describe(&clock)),
        hits,
    })
}

/// `words` parsed against the library's devices and volumes at `clock`.
fn parse_for(lib: &Library, words: &str, clock: Clock) -> Result<Query> {
    let mut devices: Vec<String> = lib.devices()?.into_iter().map(|d| d.name).collect();
    devices.sort();
    let volumes: Vec<String> = sdfs_core::locations::list(lib.db())?
        .into_iter()
        .filter(|l| l.is_cloud())
        .map(|l| l.name)
        .collect();
    Ok(parse(
        words,
        &Context {
            clock,
            devices: &devices,
            volumes: &volumes,
        },
    ))
}

/// The mount's `.search/<query>/` directories, answered by the live index.
pub struct MountSearch {
    pub lib: Arc<Library>,
    pub index: Arc<LiveIndex>,
}

impl SearchFiles for MountSearch {
    fn search(&self, words: &str, limit: usize) -> sdfs_core::Result<Vec<String>> {
        let failed = |e: String| sdfs_core::Error::fs(ErrorKind::Io, format!("search: {e}"));
        let query = parse_for(&self.lib, words, now()).map_err(|e| failed(format!("{e:#}")))?;
        Ok(self
            .index
            .search(&query, limit, false)
            .map_err(|e| failed(e.to_string()))?
            .into_iter()
            .map(|hit| hit.uri)
            .collect())
    }
}

/// Now, with the local time's offset from UTC (so "yesterday" means the
/// user's yesterday).
fn now() -> Clock {
    let unix_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    // SAFETY: localtime_r(3) fills the zeroed struct it is given from a
    // valid time_t.
    let offset = unsafe {
        let mut tm = std::mem::zeroed::<libc::tm>();
        let t: libc::time_t = unix_secs;
        if libc::localtime_r(&t, &mut tm).is_null() {
            0
        } else {
            tm.tm_gmtoff
        }
    };
    Clock {
        unix_secs,
        utc_offset_secs: offset as i32,
    }
}

/// Where `path` (under the mount) is, when there is a mount.
fn in_mount(mountpoint: Option<&Path>, path: &str) -> String {
    match mountpoint {
        Some(m) => {
            let mut bytes = m.as_os_str().as_bytes().to_vec();
            bytes.push(b'/');
            bytes.extend_from_slice(path.as_bytes());
            String::from_utf8_lossy(&bytes).into_owned()
        }
        None => path.to_owned(),
    }
}
