//! Pairing messages (`/sdfs/pair/1`) as an unpaired stranger may send them.
#![no_main]

use sdfs_core::pairing::{PairRequest, PairResponse};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = postcard::from_bytes::<PairRequest>(data);
    let _ = postcard::from_bytes::<PairResponse>(data);
});
