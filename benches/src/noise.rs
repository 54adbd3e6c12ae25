//! The cipher's ceiling for the devices benchmark: a file sent over one
//! loopback TCP connection sealed the way libp2p-noise seals a connection
//! once the handshake is done (ChaCha20-Poly1305 from ring, as snow runs it,
//! a counter nonce, messages of at most 65,535 bytes behind a 2-byte
//! length), with no multiplexer and no request framing. Every byte sdfs
//! moves between devices pays at least this. [`Receive`] adds, stage by
//! stage, what every byte of a cold read through the mount pays too.

use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
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

/// What the receiving side does with each message it opens, each stage
/// adding to the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Receive {
    /// Opens it: the cipher's ceiling.
    Open,
    /// Also hashes it with BLAKE3, as the reader checks each chunk.
    Verify,
    /// Also writes it to a file below `keep` (the store keeping each chunk)
    /// and through a pipe to a reading thread: the two copies through the
    /// kernel that any mount adds between the daemon and a reading program
    /// (FUSE copies a reply in and the program's read copies it out).
    Deliver,
}

/// One transfer: seconds from the connection to the last byte
/// the receiving side was done with, and the CPU-seconds this process spent
/// meanwhile on every thread (user and system).
#[derive(Debug, Clone, Copy)]
pub struct Transfer {
    pub secs: f64,
    pub cpu_secs: f64,
}

/// Sends `path` from one thread to another as above (`keep` is where
/// `Deliver` writes; the file is removed after).
pub fn transfer(path: &Path, receive: Receive, keep: &Path) -> Result<Transfer> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let source = path.to_owned();
    let server = std::thread::spawn(move || serve(listener, &source));
    let kept = keep.join("floor-kept.bin");
    let cpu_start = cpu_secs();
    let start = Instant::now();
    let mut input = BufReader::with_capacity(256 * 1024, TcpStream::connect(addr)?);
    let mut sinks = match receive {
        Receive::Deliver => Some(Sinks::new(&kept)?),
        _ => None,
    };
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
        if receive >= Receive::Verify {
            std::hint::black_box(blake3::hash(plain));
        }
        if let Some(sinks) = &mut sinks {
            sinks.store.write_all(plain)?;
            sinks.pipe.write_all(plain)?;
        }
        total += plain.len() as u64;
    }
    let delivered = sinks.map(Sinks::finish).transpose()?;
    let secs = start.elapsed().as_secs_f64();
    server
        .join()
        .map_err(|_| anyhow!("cipher server thread"))??;
    let cpu_secs = cpu_secs() - cpu_start;
    let _ = std::fs::remove_file(&kept);
    if let Some(delivered) = delivered {
        anyhow::ensure!(delivered == total, "delivered {delivered} of {total} bytes");
    }
    Ok(Transfer { secs, cpu_secs })
}

/// CPU-seconds this process has spent so far, all threads, user and system.
fn cpu_secs() -> f64 {
    // SAFETY: getrusage(2) fills the zeroed struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Where `Receive::Deliver` puts each message: the store's file, and the
/// pipe a reading thread drains.
struct Sinks {
    store: std::fs::File,
    pipe: std::io::PipeWriter,
    reader: std::thread::JoinHandle<std::io::Result<u64>>,
}

impl Sinks {
    fn new(kept: &Path) -> Result<Sinks> {
        let (mut out, pipe) = std::io::pipe()?;
        // A FUSE read moves up to 1 MiB at a time; a pipe's default 64 KiB
        // would cost more switches than a mount does.
        // SAFETY: F_SETPIPE_SZ on our own pipe's open descriptor.
        unsafe { libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20) };
        let reader = std::thread::spawn(move || crate::common::drain(&mut out));
        Ok(Sinks {
            store: std::fs::File::create(kept)?,
            pipe,
            reader,
        })
    }

    /// Closes the pipe; the bytes the reading thread got.
    fn finish(self) -> Result<u64> {
        drop(self.pipe);
        Ok(self
            .reader
            .join()
            .map_err(|_| anyhow!("pipe reader thread"))??)
    }
}
