//! Chunk messages (`/sdfs/chunks/1`).
#![no_main]

use sdfs_p2p::protocol::{ChunkRequest, ChunkResponse};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = postcard::from_bytes::<ChunkRequest>(data);
    let _ = postcard::from_bytes::<ChunkResponse>(data);
});
