//! Request-response framing: a u32 little-endian length, then a postcard
//! message. Lengths above the protocol's bound end the stream before any
//! allocation, so a peer cannot make us buffer more than the bound.

use std::io;
use std::marker::PhantomData;

use bytes::Bytes;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How a message is coded into a frame's body and back. Most messages are
/// [`Plain`]; one that carries bulk bytes can avoid copying them.
pub trait Message: Sized + Send {
    fn decode(frame: Bytes) -> io::Result<Self>;
    /// The body as byte runs written one after the other (the frame checks
    /// their total against the protocol's bound).
    fn encode(self) -> io::Result<Vec<Bytes>>;
}

/// A message coded as one postcard buffer.
pub trait Plain: Serialize + DeserializeOwned + Send {}

impl<M: Plain> Message for M {
    fn decode(frame: Bytes) -> io::Result<Self> {
        decode(&frame)
    }

    fn encode(self) -> io::Result<Vec<Bytes>> {
        whole(&self)
    }
}

/// A postcard codec whose messages are at most `MAX` bytes.
#[derive(Debug)]
pub struct Postcard<Req, Resp, const MAX: usize>(PhantomData<fn() -> (Req, Resp)>);

impl<Req, Resp, const MAX: usize> Default for Postcard<Req, Resp, MAX> {
    fn default() -> Self {
        Postcard(PhantomData)
    }
}

impl<Req, Resp, const MAX: usize> Clone for Postcard<Req, Resp, MAX> {
    fn clone(&self) -> Self {
        Postcard(PhantomData)
    }
}

/// Reads one frame, refusing lengths over `max`.
pub async fn read_frame<T: AsyncRead + Unpin>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message of {len} bytes is over the {max}-byte bound"),
        ));
    }
    // Zeroed once, then filled in place. Not `read_to_end`: it zeroes the
    // whole spare capacity again each time the stream has nothing ready,
    // which for a large answer arriving in 16 KiB yamux frames cost more
    // than the decryption.
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await.map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            io::Error::new(io::ErrorKind::UnexpectedEof, "a message cut short")
        }
        _ => e,
    })?;
    Ok(buf)
}

pub fn decode<'a, M: serde::Deserialize<'a>>(bytes: &'a [u8]) -> io::Result<M> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// `message` as one postcard buffer.
pub fn whole<M: Serialize>(message: &M) -> io::Result<Vec<Bytes>> {
    let bytes = postcard::to_stdvec(message).map_err(io::Error::other)?;
    Ok(vec![Bytes::from(bytes)])
}

/// The length of a body made of `parts`, refused over `max`: we never send
/// what a peer must refuse.
fn frame_len(parts: &[Bytes], max: usize) -> io::Result<u32> {
    let len: usize = parts.iter().map(Bytes::len).sum();
    if len > max {
        return Err(io::Error::other("message over the protocol's bound"));
    }
    u32::try_from(len).map_err(io::Error::other)
}

/// Appends `n` as postcard writes a length: LEB128, seven bits a byte.
pub fn varint(mut n: usize, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Writes one frame; encoded before any await, so no borrow of the message
/// crosses one.
async fn write_frame<T: AsyncWrite + Unpin>(
    io: &mut T,
    parts: Vec<Bytes>,
    max: usize,
) -> io::Result<()> {
    let len = frame_len(&parts, max)?;
    io.write_all(&len.to_le_bytes()).await?;
    for part in parts {
        io.write_all(&part).await?;
    }
    io.close().await
}

#[async_trait::async_trait]
impl<Req, Resp, const MAX: usize> libp2p::request_response::Codec for Postcard<Req, Resp, MAX>
where
    Req: Message,
    Resp: Message,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        Req::decode(read_frame(io, MAX).await?.into())
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        Resp::decode(read_frame(io, MAX).await?.into())
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let parts = req.encode()?;
        write_frame(io, parts, MAX).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let parts = res.encode()?;
        write_frame(io, parts, MAX).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sdfs_core::pairing::{PairRequest, PairResponse};

    proptest! {
        /// Whatever a peer sends, decoding ends in a value or an error.
        #[test]
        fn peer_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<PairRequest>(&bytes);
            let _ = decode::<PairResponse>(&bytes);
            let _ = decode::<crate::protocol::SyncRequest>(&bytes);
            let _ = decode::<crate::protocol::SyncResponse>(&bytes);
            let _ = decode::<crate::protocol::ChunkRequest>(&bytes);
            let _ = decode::<crate::protocol::ChunkResponse>(&bytes);
            let _ = <crate::protocol::ChunkResponse as Message>::decode(bytes.clone().into());
            let _ = <crate::protocol::DeliverRequest as Message>::decode(bytes.clone().into());
            let _ = <crate::protocol::DeliverResponse as Message>::decode(bytes.clone().into());
            let _ = futures::executor::block_on(read_frame(&mut &bytes[..], 256));
        }

        #[test]
        fn pairing_messages_round_trip(spake in proptest::collection::vec(any::<u8>(), 0..64), mac: [u8; 32], name in "[a-z]{1,16}") {
            let request = PairRequest::Confirm {
                mac,
                device: sdfs_core::pairing::DeviceInfo {
                    id: sdfs_core::ids::DeviceId::new_random(),
                    name,
                    os: "linux".into(),
                },
            };
            prop_assert_eq!(round_trip(request.clone(), 4096).expect("framed"), request);
            let response = PairResponse::Challenge { spake, mac };
            prop_assert_eq!(round_trip(response.clone(), 4096).expect("framed"), response);
        }
    }

    /// `message` written as a frame bounded by `max`, and read back.
    fn round_trip<M: Message>(message: M, max: usize) -> io::Result<M> {
        futures::executor::block_on(async {
            let mut wire = Vec::new();
            write_frame(&mut wire, message.encode()?, max).await?;
            M::decode(read_frame(&mut &wire[..], max).await?.into())
        })
    }

    #[test]
    fn a_message_over_the_bound_is_not_sent() {
        use crate::protocol::ChunkResponse;
        let message = ChunkResponse::Chunks(vec![Bytes::from(vec![7u8; 600]); 2]);
        let mut wire = Vec::new();
        let sent = futures::executor::block_on(write_frame(
            &mut wire,
            message.clone().encode().expect("encode"),
            1000,
        ));
        assert!(sent.is_err());
        assert!(wire.is_empty(), "part of a refused message went out");
        assert_eq!(round_trip(message.clone(), 1210).expect("framed"), message);
    }

    #[test]
    fn oversized_and_malformed_frames_are_errors() {
        futures::executor::block_on(async {
            let mut big = (10_000u32).to_le_bytes().to_vec();
            big.extend(vec![0u8; 16]);
            let err = read_frame(&mut &big[..], 4096)
                .await
                .expect_err("over the bound");
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            let short = 8u32.to_le_bytes();
            assert!(
                read_frame(&mut &short[..], 4096).await.is_err(),
                "truncated"
            );
            let junk = [0xffu8; 3];
            assert!(decode::<sdfs_core::pairing::PairRequest>(&junk).is_err());
        });
    }
}
