//! What the live index's tests share.

use std::path::Path;
use std::sync::Arc;

use sdfs_core::Library;
use sdfs_core::ids::LocationId;
use sdfs_search::calendar::Clock;
use sdfs_search::query::{Context, Query, parse};

/// `words` read at a fixed clock, in a library of a laptop and a nas.
pub fn query(words: &str) -> Query {
    let devices = ["laptop".to_owned(), "nas".to_owned()];
    parse(
        words,
        &Context {
            clock: Clock {
                unix_secs: 1_800_000_000,
                utc_offset_secs: 0,
            },
            devices: &devices,
            volumes: &[],
        },
    )
}

/// Writes `text` at `path`, making its folders.
pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// Runs `location`'s index job to the end.
pub fn index(lib: &Arc<Library>, location: LocationId) {
    sdfs_core::indexer::index_to_end(lib, location, false).expect("index");
}

/// Adds `dir` as location `name` and indexes it.
pub fn add_location(lib: &Arc<Library>, dir: &Path, name: &str) -> LocationId {
    let location =
        sdfs_core::locations::add(lib, dir, Some(name), Default::default(), Default::default())
            .expect("location");
    index(lib, location.id);
    location.id
}
