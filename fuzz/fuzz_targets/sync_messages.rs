//! Sync messages (`/sdfs/sync/1`): pulls, pages and shared operations.
#![no_main]

use sdfs_p2p::protocol::{SyncRequest, SyncResponse};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = postcard::from_bytes::<SyncRequest>(data);
    let _ = postcard::from_bytes::<SyncResponse>(data);
});
