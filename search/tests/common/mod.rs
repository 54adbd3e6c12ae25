//! What the live index's tests share.

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
