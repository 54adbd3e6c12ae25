//! The messages of `/sdfs/sync/2`, `/sdfs/chunks/1` and `/sdfs/deliver/1`.
//! Only paired devices get answers; anyone else is refused before any
//! lookup.

use std::io;

use bytes::Bytes;
use libp2p::StreamProtocol;
use sdfs_core::remote::{Delivery, DeliveryOutcome, FileRef, LiveEntry};
use sdfs_core::shared::{SharedOp, VersionVector};
use sdfs_core::sync::{MAX_SYNC_MESSAGE, Page, Pull};
use serde::{Deserialize, Serialize};

pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/sdfs/sync/2");
pub const CHUNKS_PROTOCOL: StreamProtocol = StreamProtocol::new("/sdfs/chunks/1");
pub const DELIVER_PROTOCOL: StreamProtocol = StreamProtocol::new("/sdfs/deliver/1");

/// A manifest up to this size (about 460,000 chunks, tens of GiB) travels;
/// a larger file is not served remotely yet.
pub const MAX_CHUNK_MESSAGE: usize = 16 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// Device-owned data after these watermarks.
    Pull(Pull),
    /// Shared operations this device lacks, given what it holds.
    Shared { have: VersionVector },
    /// Something the sender owns or relays changed: pull now rather than
    /// at the next scheduled pull. Answered with [`SyncResponse::Noted`].
    Changed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    Page(Page),
    Shared { ops: Vec<SharedOp>, more: bool },
    Refused(String),
    Noted,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChunkRequest {
    /// The manifest of the owner's file `entry`.
    Manifest { entry: u64 },
    /// `length` bytes of file `entry` at `offset`: one chunk.
    Chunk {
        entry: u64,
        offset: u64,
        length: u32,
    },
    /// Several chunks of file `entry` as (offset, length), at most
    /// [`MAX_RANGES`]: fewer streams and round trips for a read-ahead.
    Chunks { entry: u64, ranges: Vec<(u64, u32)> },
    /// The manifest of `file` (an entry, or a path the owner's rules skip).
    ManifestOf { file: FileRef },
    /// Several chunks of `file`, at most [`MAX_RANGES`].
    ChunksOf {
        file: FileRef,
        ranges: Vec<(u64, u32)>,
    },
    /// What the owner's index lacks of directory `path` of `location`.
    List {
        location: u128,
        #[serde(with = "serde_bytes")]
        path: Vec<u8>,
    },
}

/// A change this device made to a file the receiver owns; the receiver
/// fetches the chunks it lacks from the sender
/// ([`FileRef::Staged`](sdfs_core::remote::FileRef)) while the request waits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverRequest(pub Delivery);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliverResponse {
    /// What the owner did, durably.
    Done(DeliveryOutcome),
    /// It could not now (a disk error, the sender's chunks did not come):
    /// worth trying again.
    Failed(String),
    /// Not paired.
    Refused(String),
}

/// Chunks per [`ChunkRequest::Chunks`] (at most 4 MiB of the largest
/// chunks, well under the message bound).
pub const MAX_RANGES: usize = 16;

/// Byte runs are postcard byte strings (a length, then the bytes), not
/// sequences of `u8`: the same wire form, ~50× faster to code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChunkResponse {
    Manifest(#[serde(with = "serde_bytes")] Vec<u8>),
    Chunk(Bytes),
    Chunks(Vec<Bytes>),
    Listing(Vec<LiveEntry>),
    Refused(String),
}

/// [`ChunkResponse`] decoded with its byte runs borrowed from the frame it
/// arrived in. The variants must mirror [`ChunkResponse`]'s, in order (the
/// round-trip tests below check it).
#[derive(Deserialize)]
enum ChunkResponseRef<'a> {
    Manifest(&'a [u8]),
    Chunk(&'a [u8]),
    Chunks(Vec<&'a [u8]>),
    Listing(Vec<LiveEntry>),
    Refused(String),
}

/// Postcard's index of [`ChunkResponse::Chunks`].
const CHUNKS_VARIANT: usize = 2;

impl crate::codec::Message for ChunkResponse {
    /// Chunks become slices of the frame rather than copies of it.
    fn decode(frame: Bytes) -> io::Result<Self> {
        let message: ChunkResponseRef<'_> = crate::codec::decode(&frame)?;
        Ok(match message {
            ChunkResponseRef::Manifest(bytes) => ChunkResponse::Manifest(bytes.to_vec()),
            ChunkResponseRef::Chunk(bytes) => ChunkResponse::Chunk(frame.slice_ref(bytes)),
            ChunkResponseRef::Chunks(all) => {
                ChunkResponse::Chunks(all.into_iter().map(|b| frame.slice_ref(b)).collect())
            }
            ChunkResponseRef::Listing(entries) => ChunkResponse::Listing(entries),
            ChunkResponseRef::Refused(reason) => ChunkResponse::Refused(reason),
        })
    }

    /// Chunks go out as they are, each behind postcard's length prefix,
    /// instead of being copied into one buffer first.
    fn encode(self) -> io::Result<Vec<Bytes>> {
        let ChunkResponse::Chunks(chunks) = self else {
            return crate::codec::whole(&self);
        };
        let mut parts = Vec::with_capacity(2 * chunks.len() + 1);
        let mut head = Vec::with_capacity(20);
        crate::codec::varint(CHUNKS_VARIANT, &mut head);
        crate::codec::varint(chunks.len(), &mut head);
        for chunk in chunks {
            crate::codec::varint(chunk.len(), &mut head);
            parts.push(Bytes::from(std::mem::take(&mut head)));
            parts.push(chunk);
        }
        if !head.is_empty() {
            parts.push(Bytes::from(head));
        }
        Ok(parts)
    }
}

impl crate::codec::Plain for SyncRequest {}
impl crate::codec::Plain for SyncResponse {}
impl crate::codec::Plain for ChunkRequest {}
impl crate::codec::Plain for DeliverRequest {}
impl crate::codec::Plain for DeliverResponse {}

pub type SyncCodec = crate::codec::Postcard<SyncRequest, SyncResponse, MAX_SYNC_MESSAGE>;
pub type ChunkCodec = crate::codec::Postcard<ChunkRequest, ChunkResponse, MAX_CHUNK_MESSAGE>;
/// A delivery carries a manifest, bounded as one is in a chunk answer.
pub type DeliverCodec = crate::codec::Postcard<DeliverRequest, DeliverResponse, MAX_CHUNK_MESSAGE>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Message;
    use proptest::prelude::*;

    fn response() -> impl Strategy<Value = ChunkResponse> {
        let run = || proptest::collection::vec(any::<u8>(), 0..300);
        prop_oneof![
            run().prop_map(ChunkResponse::Manifest),
            run().prop_map(|b| ChunkResponse::Chunk(b.into())),
            proptest::collection::vec(run().prop_map(Bytes::from), 0..20)
                .prop_map(ChunkResponse::Chunks),
            "[a-z ]{0,40}".prop_map(ChunkResponse::Refused),
        ]
    }

    proptest! {
        /// The chunk answer's own coding is postcard's, byte for byte, so
        /// either side may use either and the fuzzed decoder is the one
        /// in use.
        #[test]
        fn chunk_answers_code_as_postcard_does(message in response()) {
            let postcard = postcard::to_stdvec(&message).expect("postcard");
            let parts = message.clone().encode().expect("encode");
            prop_assert_eq!(parts.concat(), postcard.clone());
            prop_assert_eq!(ChunkResponse::decode(postcard.into()).expect("decode"), message);
        }
    }

    #[test]
    fn decoded_chunks_share_the_frame() {
        let message = ChunkResponse::Chunks(vec![Bytes::from(vec![1u8; 4096]); 3]);
        let frame = Bytes::from(postcard::to_stdvec(&message).expect("postcard"));
        let range = frame.as_ptr_range();
        let ChunkResponse::Chunks(chunks) = ChunkResponse::decode(frame.clone()).expect("decode")
        else {
            panic!("not chunks");
        };
        assert!(chunks.iter().all(|c| range.contains(&c.as_ptr())));
    }
}
