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
use sdfs_search::live::{LiveIndex, Ranking};
use sdfs_search::query::{Context, Query, parse};

use crate::replies::search::SearchReply;

/// What `sd search` asks.
pub struct Asked<'a> {
    pub words: &'a str,
    pub limit: usize,
    pub explain: bool,
    /// Read time phrases at this time (unix seconds) instead of now.
    pub at: Option<i64>,
    /// Rank by words alone.
    pub lexical: bool,
}

pub fn run(
    lib: &Library,
    index: &LiveIndex,
    mountpoint: Option<&Path>,
    asked: Asked<'_>,
) -> Result<SearchReply> {
    let Asked {
        words,
        limit,
        explain,
        at,
        lexical,
    } = asked;
    let clock = at.map_or_else(now, clock_at);
    let ranking = match lexical {
        true => Ranking::Words,
        false => Ranking::Blended,
    };
    let query = parse_for(lib, words, clock)?;
    let hits = index
        .search(&query, limit, explain, ranking)?
        .into_iter()
        .map(|mut hit| {
            hit.path = in_mount(mountpoint, &hit.path);
            hit
        })
        .collect();
    Ok(SearchReply {
        parse: explain.then(|| query.describe(&clock)),
        hits,
        notice: index.take_notice(),
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
        let hits = self
            .index
            .search(&query, limit, false, Ranking::WordsElseMeaning)
            .map_err(|e| failed(e.to_string()))?;
        Ok(hits.into_iter().map(|hit| hit.uri).collect())
    }
}

/// Now, with the local time's offset from UTC (so "yesterday" means the
/// user's yesterday).
fn now() -> Clock {
    clock_at(sdfs_core::time::unix_now_secs())
}

/// The user's clock showing `unix_secs`.
fn clock_at(unix_secs: i64) -> Clock {
    Clock {
        unix_secs,
        utc_offset_secs: utc_offset_at(unix_secs),
    }
}

/// The local time's offset from UTC at `unix_secs`.
fn utc_offset_at(unix_secs: i64) -> i32 {
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
    offset as i32
}

/// `--now`: `YYYY-MM-DD[THH:MM[:SS]]` in local time, as unix seconds.
pub fn parse_now(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a time (YYYY-MM-DD[THH:MM[:SS]])");
    let (day, time) = text.split_once(['T', ' ']).unwrap_or((text, "00:00"));
    let mut d = day.splitn(3, '-').map(|p| p.parse::<u32>().ok());
    let (Some(Some(y)), Some(Some(m)), Some(Some(dd))) = (d.next(), d.next(), d.next()) else {
        return Err(bad());
    };
    let date = sdfs_search::calendar::valid_date(y as i32, m, dd).ok_or_else(bad)?;
    let mut t = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next().flatten(), t.next().flatten(), t.next());
    let (Some(h @ 0..=23), Some(min @ 0..=59)) = (h, min) else {
        return Err(bad());
    };
    let s = match s {
        None => 0,
        Some(Some(s @ 0..=59)) => s,
        Some(_) => return Err(bad()),
    };
    let wall = sdfs_search::calendar::days_from_civil(date) * 86_400 + h * 3600 + min * 60 + s;
    // The offset in force at that wall time (near enough across a DST change).
    Ok(wall - i64::from(utc_offset_at(wall)))
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
