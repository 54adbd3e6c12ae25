//! Chunk messages (`/sdfs/chunks/1`), through the decoders the node uses.
#![no_main]

use sdfs_p2p::Message;
use sdfs_p2p::protocol::{ChunkRequest, ChunkResponse};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let frame = bytes::Bytes::copy_from_slice(data);
    let _ = ChunkRequest::decode(frame.clone());
    let _ = ChunkResponse::decode(frame);
});
