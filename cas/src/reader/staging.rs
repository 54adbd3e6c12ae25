//! One reader's chunks fetched ahead of it, and the ones on their way.
//!
//! The kernel reads a file with several requests at once (FUSE async
//! reads), and read-ahead batches run beside them: without a record of what
//! is in flight, two of them that need the same chunk both fetch it (a
//! chunk straddling two reads, a read overtaking its read-ahead). Whoever
//! fetches a chunk first claims it; the others wait for it to be staged.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Condvar, Mutex, MutexGuard};

use bytes::Bytes;

use crate::manifest::ChunkRef;

/// Chunks staged at most (beyond a read-ahead window, the oldest go
/// first).
const MAX_STAGED: usize = 256;

#[derive(Default)]
pub(super) struct Staging {
    state: Mutex<State>,
    /// Signalled whenever claimed chunks are released, fetched or not.
    released: Condvar,
}

#[derive(Default)]
struct State {
    /// Verified chunks by index, until the reader passes them: the hot
    /// cache may decline to admit them (it resists scans), and the keeper
    /// may not have stored them yet.
    ready: BTreeMap<usize, Bytes>,
    /// Chunks some caller is fetching.
    in_flight: BTreeSet<usize>,
    /// Chunks before this one every reader has passed: a read-ahead batch
    /// that starts late (its thread scheduled after the reader overtook
    /// it) does not fetch them again.
    passed: usize,
}

/// Chunks one caller fetches; released (and waiters woken) when dropped,
/// whether they arrived or not.
pub(super) struct Claim<'a> {
    staging: &'a Staging,
    chunks: Vec<(usize, ChunkRef)>,
}

impl Claim<'_> {
    pub fn chunks(&self) -> &[(usize, ChunkRef)] {
        &self.chunks
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if self.chunks.is_empty() {
            return;
        }
        let mut state = self.staging.lock();
        for (index, _) in &self.chunks {
            state.in_flight.remove(index);
        }
        drop(state);
        self.staging.released.notify_all();
    }
}

impl Staging {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Staged or on its way.
    pub fn has(&self, index: usize) -> bool {
        let state = self.lock();
        state.ready.contains_key(&index) || state.in_flight.contains(&index)
    }

    /// Claims those of `wanted` that are neither staged nor in flight nor
    /// passed.
    pub fn claim(&self, wanted: Vec<(usize, ChunkRef)>) -> Claim<'_> {
        let mut state = self.lock();
        let passed = state.passed;
        let chunks = wanted
            .into_iter()
            .filter(|(index, _)| {
                *index >= passed
                    && !state.ready.contains_key(index)
                    && state.in_flight.insert(*index)
            })
            .collect();
        Claim {
            staging: self,
            chunks,
        }
    }

    pub fn stage(&self, index: usize, bytes: Bytes) {
        let mut state = self.lock();
        state.ready.insert(index, bytes);
        while state.ready.len() > MAX_STAGED {
            state.ready.pop_first();
        }
    }

    /// Chunk `index` if staged, waiting for it while someone fetches it
    /// (at most the fetch's own deadline). `None`: not staged, or its
    /// fetch failed; the caller reads it chunk by chunk.
    pub fn get(&self, index: usize) -> Option<Bytes> {
        let mut state = self.lock();
        while state.in_flight.contains(&index) {
            state = self.released.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.ready.get(&index).cloned()
    }

    /// Drops what every reader has passed (a read that still wants one
    /// fetches it itself, chunk by chunk).
    pub fn drop_before(&self, index: usize) {
        let mut state = self.lock();
        state.passed = state.passed.max(index);
        while state
            .ready
            .first_key_value()
            .is_some_and(|(i, _)| *i < index)
        {
            state.ready.pop_first();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ChunkId;
    use std::sync::Arc;
    use std::time::Duration;

    fn chunk(i: usize) -> (usize, ChunkRef) {
        let r = ChunkRef {
            id: ChunkId::of(&[i as u8]),
            offset: i as u64 * 10,
            length: 10,
        };
        (i, r)
    }

    #[test]
    fn a_late_batch_does_not_claim_what_the_reader_passed() {
        let staging = Staging::default();
        staging.stage(0, Bytes::from_static(b"zero"));
        staging.drop_before(2);
        let late = staging.claim(vec![chunk(0), chunk(1), chunk(2)]);
        let claimed: Vec<usize> = late.chunks().iter().map(|(i, _)| *i).collect();
        assert_eq!(claimed, vec![2]);
        assert!(!staging.has(0), "what the reader passed is dropped");
    }

    #[test]
    fn a_chunk_is_claimed_once_until_released() {
        let staging = Staging::default();
        let first = staging.claim(vec![chunk(0), chunk(1)]);
        assert_eq!(first.chunks().len(), 2);
        let second = staging.claim(vec![chunk(1), chunk(2)]);
        let claimed: Vec<usize> = second.chunks().iter().map(|(i, _)| *i).collect();
        assert_eq!(claimed, vec![2], "chunk 1 is on its way already");
        staging.stage(0, Bytes::from_static(b"zero"));
        drop(first);
        // Chunk 0 arrived; chunk 1's fetch failed and may be claimed again.
        let third = staging.claim(vec![chunk(0), chunk(1)]);
        let claimed: Vec<usize> = third.chunks().iter().map(|(i, _)| *i).collect();
        assert_eq!(claimed, vec![1]);
        assert!(staging.has(0) && staging.has(1) && staging.has(2));
    }

    #[test]
    fn a_reader_waits_for_a_chunk_in_flight_rather_than_fetching_it_again() {
        let staging = Arc::new(Staging::default());
        let claim_taken = Arc::new(std::sync::Barrier::new(2));
        let fetcher = {
            let staging = Arc::clone(&staging);
            let claim_taken = Arc::clone(&claim_taken);
            std::thread::spawn(move || {
                let claim = staging.claim(vec![chunk(5)]);
                claim_taken.wait();
                std::thread::sleep(Duration::from_millis(50));
                staging.stage(5, Bytes::from_static(b"five"));
                drop(claim);
            })
        };
        claim_taken.wait();
        assert_eq!(staging.get(5).as_deref(), Some(&b"five"[..]));
        fetcher.join().expect("fetcher");
        // A failed fetch releases its waiters with nothing.
        let claim = staging.claim(vec![chunk(6)]);
        drop(claim);
        assert_eq!(staging.get(6), None);
    }
}
