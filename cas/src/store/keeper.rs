//! Keeping chunks fetched from elsewhere without making the reader wait for
//! the disk: a background thread appends them to an ingest and commits in
//! large batches (or after a short idle time). They are a cache, so a crash
//! may lose the last batch; it cannot corrupt the store (an ingest that did
//! not commit is cut on reopen).
//!
//! When a reader is done, the keeper commits what it holds, so every chunk
//! the reader handed over is in the index, then passes the content to an
//! assembler thread that writes it out whole (see [`super::assembled`]).
//! Assembling a large file takes seconds; on its own thread it never holds
//! up the chunks other readers are handing over meanwhile.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use bytes::Bytes;

use super::FsChunkStore;
use crate::id::ChunkId;
use crate::manifest::Manifest;

/// Commit once this much is pending.
const BATCH_BYTES: u64 = 64 * 1024 * 1024;
/// Or once nothing arrived for this long.
const IDLE: Duration = Duration::from_millis(200);
/// Chunks queued at most (about 64 MiB at the average chunk size): a reader
/// faster than the disk waits here instead of growing memory.
const QUEUE: usize = 1024;
/// Contents waiting to be assembled at most; beyond, a request is dropped
/// (the next reader to close asks again).
const ASSEMBLY_QUEUE: usize = 64;

enum Message {
    /// A verified chunk on its way to the store.
    Chunk(ChunkId, Bytes),
    /// A reader of this content is done: write it out whole if it can be.
    Assemble(Arc<Manifest>),
}

/// A handle on the keeper thread of a store; clones share the thread,
/// which ends when the last handle goes.
#[derive(Clone, Debug)]
pub struct Keeper {
    tx: SyncSender<Message>,
}

impl Keeper {
    pub fn spawn(store: Arc<FsChunkStore>) -> std::io::Result<Keeper> {
        let (tx, rx) = sync_channel(QUEUE);
        let (assemble_tx, assemble_rx) = sync_channel(ASSEMBLY_QUEUE);
        let assembler_store = Arc::clone(&store);
        // Ends when the keeper drops its sender.
        std::thread::Builder::new()
            .name("sd-assembler".into())
            .spawn(move || assemble_all(&assembler_store, &assemble_rx))?;
        std::thread::Builder::new()
            .name("sd-keeper".into())
            .spawn(move || run(&store, &rx, &assemble_tx))?;
        Ok(Keeper { tx })
    }

    /// Queues a verified chunk for the store.
    pub fn keep(&self, id: ChunkId, bytes: Bytes) {
        let _ = self.tx.send(Message::Chunk(id, bytes));
    }

    /// Asks for the file of `manifest` to be assembled once the chunks
    /// queued before this are stored (nothing happens if some are missing).
    pub fn assemble(&self, manifest: Arc<Manifest>) {
        let _ = self.tx.send(Message::Assemble(manifest));
    }
}

fn assemble_all(store: &FsChunkStore, rx: &Receiver<Arc<Manifest>>) {
    for manifest in rx {
        match store.assemble(&manifest) {
            Ok(done) => tracing::debug!("assembling {}: {done:?}", manifest.hash()),
            Err(e) => tracing::warn!("assembling {}: {e}", manifest.hash()),
        }
    }
}

fn run(store: &FsChunkStore, rx: &Receiver<Message>, assembler: &SyncSender<Arc<Manifest>>) {
    loop {
        let ingest = store.ingest();
        let mut pending = 0u64;
        let commit = |ingest: &super::Ingest<'_>| {
            if let Err(e) = ingest.commit() {
                tracing::warn!("keeping fetched chunks: {e}");
            }
        };
        loop {
            match rx.recv_timeout(IDLE) {
                Ok(Message::Assemble(manifest)) => {
                    if pending > 0 {
                        commit(&ingest);
                        pending = 0;
                    }
                    if let Err(TrySendError::Full(m)) = assembler.try_send(manifest) {
                        tracing::debug!("assembling {}: too many waiting; skipped", m.hash());
                    }
                }
                Ok(Message::Chunk(id, bytes)) => {
                    if let Err(e) = ingest.add(&id, &bytes) {
                        tracing::warn!("keeping chunk {id}: {e}");
                        continue;
                    }
                    pending += bytes.len() as u64;
                    if pending >= BATCH_BYTES {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) if pending > 0 => break,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    if pending > 0 {
                        commit(&ingest);
                    }
                    return;
                }
            }
        }
        commit(&ingest);
    }
}
