//! Delivery messages (`/sdfs/deliver/1`), through the decoders the node
//! uses: a paired device's changes to this device's files.
#![no_main]

use sdfs_p2p::Message;
use sdfs_p2p::protocol::{DeliverRequest, DeliverResponse};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let frame = bytes::Bytes::copy_from_slice(data);
    let _ = DeliverRequest::decode(frame.clone());
    let _ = DeliverResponse::decode(frame);
});
