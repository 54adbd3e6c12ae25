//! `sd search`: the query parsed against this library's devices and
//! volumes and the user's clock, run over an index of every file the
//! library knows (this device's, the paired devices' replicas, the
//! volumes'), built for the query from the library itself, so what it
//! finds is never older than the library.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::Result;
use sdfs_core::Library;
use sdfs_core::query::files::{FileRow, for_each_file};
use sdfs_search::calendar::Clock;
use sdfs_search::index::{Record, SearchIndex};
use sdfs_search::query::{Context, parse};

use crate::replies::search::SearchReply;

pub fn run(
    lib: &Library,
    mountpoint: Option<&Path>,
    words: &str,
    limit: usize,
    explain: bool,
) -> Result<SearchReply> {
    let mut devices: Vec<String> = lib.devices()?.into_iter().map(|d| d.name).collect();
    devices.sort();
    let mut volumes = Vec::new();
    let index = SearchIndex::in_memory()?;
    let mut rebuild = index.start_rebuild()?;
    // Files go into the index as the walk meets them, never all in a list.
    let mut failed = None;
    for_each_file(lib, |row| {
        if row.volume && !volumes.contains(&row.location) {
            volumes.push(row.location.clone());
        }
        if failed.is_none()
            && let Err(e) = rebuild.add(record(row))
        {
            failed = Some(e);
        }
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    rebuild.finish()?;
    let clock = now();
    let query = parse(
        words,
        &Context {
            clock,
            devices: &devices,
            volumes: &volumes,
        },
    );
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

fn record(row: FileRow) -> Record {
    Record {
        path: String::from_utf8_lossy(&row.mount_path).into_owned(),
        name: String::from_utf8_lossy(&row.name).into_owned(),
        uri: row.uri,
        device: row.device,
        space: row.location,
        kind: row.kind.as_str(),
        size: row.size,
        modified: row.modified,
        content: row.content.map(|c| c.to_string()),
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
