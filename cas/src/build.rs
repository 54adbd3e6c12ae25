//! Building a manifest: chunking, hashing each chunk, hashing the whole file
//! and handing each chunk to a sink (the store, when ingesting), pipelined
//! across cores.
//!
//! The calling thread reads and cuts (FastCDC is sequential); one thread
//! hashes the whole file (BLAKE3 of a stream is sequential too); a pool
//! hashes chunks and feeds the sink. The stages meet through bounded
//! channels, so memory stays at a few blocks whatever the file size.

use std::io::{self, Read};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::chunker::{Chunker, chunk_lengths};
use crate::id::{ChunkId, FileHash};
use crate::manifest::{ChunkRef, Manifest};

/// Bytes read per step from a file.
const BLOCK: usize = 8 * 1024 * 1024;
/// Chunks handed to a hashing worker at once.
const BATCH: usize = 32;

/// Why a manifest could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError<E> {
    /// Reading the file failed.
    #[error("reading: {0}")]
    Io(#[from] io::Error),
    /// The sink refused a chunk.
    #[error("storing a chunk: {0}")]
    Sink(E),
}

/// Receives each chunk with its verified id, from any worker thread.
pub trait ChunkSink: Sync {
    type Error: Send;
    fn chunk(&self, chunk: &ChunkRef, bytes: &[u8]) -> Result<(), Self::Error>;
}

/// A sink that keeps nothing: building a manifest only.
#[derive(Debug, Clone, Copy)]
pub struct Discard;

impl ChunkSink for Discard {
    type Error = std::convert::Infallible;
    fn chunk(&self, _: &ChunkRef, _: &[u8]) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The manifest of everything `reader` yields.
pub fn build_from_reader<S: ChunkSink>(
    mut reader: impl Read,
    sink: &S,
) -> Result<Manifest, BuildError<S::Error>> {
    let mut chunker = Chunker::new();
    pipeline(
        sink,
        |jobs: &Sender<Job<SharedBlock>>, whole: &Sender<(SharedBlock, usize)>| {
            let mut offset = 0u64;
            loop {
                let window = chunker.fill(&mut reader, BLOCK)?;
                let bytes = SharedBlock(Arc::new(window.bytes));
                if whole.send((bytes.clone(), window.fresh)).is_err() {
                    break;
                }
                let start = offset;
                for group in window.lengths.chunks(BATCH) {
                    let batch = group.iter().map(|&l| chunk_at(&mut offset, l)).collect();
                    if jobs.send((bytes.clone(), start, batch)).is_err() {
                        return Ok(());
                    }
                }
                if window.last {
                    break;
                }
            }
            Ok(())
        },
    )
}

/// The manifest of `data` taken as a whole file.
pub fn build_from_slice<S: ChunkSink>(
    data: &[u8],
    sink: &S,
) -> Result<Manifest, BuildError<S::Error>> {
    pipeline(
        sink,
        |jobs: &Sender<Job<&[u8]>>, whole: &Sender<(&[u8], usize)>| {
            // The whole-file hash needs no cut points: it starts at once.
            let _ = whole.send((data, 0));
            let mut offset = 0u64;
            let mut batch = Vec::with_capacity(BATCH);
            for length in chunk_lengths(data) {
                batch.push(chunk_at(&mut offset, length));
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if jobs.send((data, 0, full)).is_err() {
                        return Ok(());
                    }
                }
            }
            if !batch.is_empty() {
                let _ = jobs.send((data, 0, batch));
            }
            Ok(())
        },
    )
}

/// A block read from a file, shared by the stages that work on it.
#[derive(Clone)]
struct SharedBlock(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBlock {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A batch of chunks, all inside a window that starts at the given file
/// offset. Ids are filled in by the workers.
type Job<W> = (W, u64, Vec<ChunkRef>);

fn chunk_at(offset: &mut u64, length: u32) -> ChunkRef {
    let chunk = ChunkRef {
        offset: *offset,
        length,
        id: ChunkId([0; 32]),
    };
    *offset += u64::from(length);
    chunk
}

/// Runs `produce` (cutting, on this thread) against a whole-file hasher and
/// a pool of chunk hashers, and assembles the manifest.
fn pipeline<W, S, P>(sink: &S, produce: P) -> Result<Manifest, BuildError<S::Error>>
where
    W: AsRef<[u8]> + Send,
    S: ChunkSink,
    P: FnOnce(&Sender<Job<W>>, &Sender<(W, usize)>) -> io::Result<()>,
{
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (job_tx, job_rx) = bounded::<Job<W>>(workers * 4);
    let (whole_tx, whole_rx) = bounded::<(W, usize)>(2);
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<Result<Vec<ChunkRef>, S::Error>>();
    std::thread::scope(|scope| {
        let hasher = scope.spawn(move || hash_whole(whole_rx));
        for _ in 0..workers {
            let jobs = job_rx.clone();
            let done = done_tx.clone();
            scope.spawn(move || hash_chunks(jobs, sink, done));
        }
        drop((job_rx, done_tx));
        let produced = produce(&job_tx, &whole_tx);
        drop((job_tx, whole_tx));
        let file_hash = hasher
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        produced?;
        let mut chunks = Vec::new();
        for result in done_rx {
            chunks.extend(result.map_err(BuildError::Sink)?);
        }
        chunks.sort_unstable_by_key(|c| c.offset);
        let manifest = Manifest::new(file_hash, chunks.iter().map(|c| (c.length, c.id)))
            .expect("FastCDC keeps chunks within bounds");
        Ok(manifest)
    })
}

fn hash_whole<W: AsRef<[u8]>>(windows: Receiver<(W, usize)>) -> FileHash {
    let mut hasher = blake3::Hasher::new();
    for (window, seen) in windows {
        hasher.update(&window.as_ref()[seen..]);
    }
    hasher.finalize().into()
}

fn hash_chunks<W: AsRef<[u8]>, S: ChunkSink>(
    jobs: Receiver<Job<W>>,
    sink: &S,
    done: Sender<Result<Vec<ChunkRef>, S::Error>>,
) {
    for (window, window_start, batch) in jobs {
        let mut out = Vec::with_capacity(batch.len());
        for mut chunk in batch {
            let start = (chunk.offset - window_start) as usize;
            let bytes = &window.as_ref()[start..start + chunk.length as usize];
            chunk.id = ChunkId::of(bytes);
            if let Err(e) = sink.chunk(&chunk, bytes) {
                let _ = done.send(Err(e));
                return;
            }
            out.push(chunk);
        }
        if done.send(Ok(out)).is_err() {
            return;
        }
    }
}
