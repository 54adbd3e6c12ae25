//! The cipher's ceiling for the devices benchmark: a file sent over one
//! loopback TCP connection sealed the way libp2p-noise seals a connection
//! once the handshake is done (ChaCha20-Poly1305 from ring, as snow runs it,
//! a counter nonce, messages of at most 65,535 bytes behind a 2-byte
//! length), with no multiplexer and no request framing. Every byte sdfs
//! moves between devices pays at least this; with `verify`, the receiver
//! also hashes each message with BLAKE3 as the reader checks each chunk
//! (a message is about a chunk's size), which every byte served pays too.

use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Instant;

use anyhow::{Result, anyhow};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};

/// The largest Noise message, and the payload that fits in it.
const MAX_MESSAGE: usize = 65535;
const MAX_PAYLOAD: usize = MAX_MESSAGE - 16;

/// A benchmark key: what is measured is the cipher, not the secrecy.
fn key() -> Result<LessSafeKey> {
    let bytes: [u8; 32] = std::array::from_fn(|i| i as u8 ^ 0x5a);
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, &bytes).map_err(|_| anyhow!("key"))?;
    Ok(LessSafeKey::new(unbound))
}

/// Noise's nonce: four zero bytes, then the message counter.
fn nonce(n: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&n.to_le_bytes());
    Nonce::assume_unique_for_key(bytes)
}

/// The sending side: the file, sealed message by message.
fn serve(listener: TcpListener, path: &Path) -> Result<()> {
    let (stream, _) = listener.accept()?;
    let mut output = BufWriter::with_capacity(256 * 1024, stream);
    let key = key()?;
    let mut file = std::fs::File::open(path)?;
    let mut message = vec![0u8; MAX_MESSAGE];
    for n in 0u64.. {
        let read = file.read(&mut message[..MAX_PAYLOAD])?;
        if read == 0 {
            break;
        }
        let tag = key
            .seal_in_place_separate_tag(nonce(n), Aad::empty(), &mut message[..read])
            .map_err(|_| anyhow!("seal"))?;
        message[read..read + 16].copy_from_slice(tag.as_ref());
        output.write_all(&((read + 16) as u16).to_be_bytes())?;
        output.write_all(&message[..read + 16])?;
    }
    output.flush()?;
    Ok(())
}

/// Sends `path` from one thread to another as above; (bytes, seconds),
/// timed from the connection to the last opened (and hashed) message.
pub fn transfer(path: &Path, verify: bool) -> Result<(u64, f64)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let source = path.to_owned();
    let server = std::thread::spawn(move || serve(listener, &source));
    let start = Instant::now();
    let mut input = BufReader::with_capacity(256 * 1024, TcpStream::connect(addr)?);
    let key = key()?;
    let mut message = vec![0u8; MAX_MESSAGE];
    let mut total = 0u64;
    for n in 0u64.. {
        let mut len = [0u8; 2];
        match input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.into()),
        }
        let len = u16::from_be_bytes(len) as usize;
        input.read_exact(&mut message[..len])?;
        let plain = key
            .open_in_place(nonce(n), Aad::empty(), &mut message[..len])
            .map_err(|_| anyhow!("message {n} does not open"))?;
        if verify {
            std::hint::black_box(blake3::hash(plain));
        }
        total += plain.len() as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    server
        .join()
        .map_err(|_| anyhow!("cipher server thread"))??;
    Ok((total, secs))
}
