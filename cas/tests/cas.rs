//! The content-addressed store through its public API: chunk boundaries,
//! manifests, the on-disk store, pins and eviction, the verified reader.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use sdfs_cas::chunker::{AVG_CHUNK, MAX_CHUNK, MIN_CHUNK};
use sdfs_cas::store::FsChunkStore;
use sdfs_cas::{
    ChunkId, ChunkRef, ChunkSource, ContentReader, Discard, FileHash, HotCache, Manifest,
    ManifestError, build_from_reader, build_from_slice,
};

/// Deterministic incompressible bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// The sizes where chunking and hashing change behaviour.
const BOUNDARY_SIZES: &[usize] = &[
    0,
    1,
    MIN_CHUNK as usize - 1,
    MIN_CHUNK as usize,
    MIN_CHUNK as usize + 1,
    AVG_CHUNK as usize,
    MAX_CHUNK as usize - 1,
    MAX_CHUNK as usize,
    MAX_CHUNK as usize + 1,
    100 * KIB - 1,
    100 * KIB,
    100 * KIB + 1,
    3 * MIB + 17,
    8 * MIB + 1,
];

/// Checks `manifest` against `data` the way an outsider would.
fn assert_describes(manifest: &Manifest, data: &[u8]) {
    assert_eq!(manifest.size(), data.len() as u64);
    assert_eq!(manifest.hash(), FileHash::of(data));
    let mut offset = 0u64;
    for chunk in manifest.chunks() {
        assert_eq!(chunk.offset, offset, "chunks are contiguous");
        let bytes = &data[chunk.offset as usize..chunk.end() as usize];
        assert_eq!(
            chunk.id,
            ChunkId::of(bytes),
            "chunk id is the BLAKE3 of its bytes"
        );
        assert!(chunk.length <= MAX_CHUNK);
        offset = chunk.end();
    }
    assert_eq!(offset, data.len() as u64);
    let (_, inner) = manifest
        .chunks()
        .split_last()
        .unwrap_or((&manifest.chunks()[0], &[]));
    for chunk in inner {
        assert!(
            chunk.length >= MIN_CHUNK,
            "only the last chunk may be short"
        );
    }
}

#[test]
fn boundary_sizes_chunk_and_round_trip() {
    for &size in BOUNDARY_SIZES {
        let data = noise(size, size as u64);
        let manifest = Manifest::of_bytes(&data);
        if size > 0 {
            assert_describes(&manifest, &data);
        } else {
            assert!(manifest.chunks().is_empty());
            assert_eq!(manifest.hash(), FileHash::of(b""));
        }
        if size <= MIN_CHUNK as usize && size > 0 {
            assert_eq!(manifest.chunks().len(), 1, "size {size} is one chunk");
            assert_eq!(
                manifest.chunks()[0].id.0,
                manifest.hash().0,
                "one chunk: its id is the file hash"
            );
        }
        if size == MAX_CHUNK as usize + 1 {
            assert!(manifest.chunks().len() >= 2);
        }
        let piped = build_from_slice(&data, &Discard).expect("build");
        assert_eq!(piped, manifest, "size {size}: pipelined builder agrees");
        let streamed = build_from_reader(&data[..], &Discard).expect("build");
        assert_eq!(streamed, manifest, "size {size}: streaming builder agrees");
        assert_eq!(Manifest::decode(&manifest.encode()), Ok(manifest));
    }
}

#[test]
fn ranged_reads_need_only_their_chunks() {
    let data = noise(2 * MIB, 5);
    let manifest = Manifest::of_bytes(&data);
    let chunks = manifest.chunks();
    let second = chunks[1];
    assert_eq!(manifest.chunks_for(second.offset, 1), 1..2);
    assert_eq!(
        manifest.chunks_for(second.offset, u64::from(second.length)),
        1..2
    );
    assert_eq!(manifest.chunks_for(second.offset - 1, 2), 0..2);
    assert_eq!(manifest.chunks_for(data.len() as u64, 10), 0..0);
    assert_eq!(manifest.chunks_for(0, u64::MAX), 0..chunks.len());
}

#[test]
fn decoding_rejects_what_is_not_a_manifest() {
    let manifest = Manifest::of_bytes(&noise(600 * KIB, 1));
    let good = manifest.encode();
    assert!(matches!(
        Manifest::decode(b"nope"),
        Err(ManifestError::Length { .. })
    ));
    let mut bad = good.clone();
    bad[0] = b'X';
    assert_eq!(Manifest::decode(&bad), Err(ManifestError::BadMagic));
    let mut bad = good.clone();
    bad[4] = 9;
    assert_eq!(Manifest::decode(&bad), Err(ManifestError::Version(9)));
    // A count that promises more chunks than the bytes hold allocates nothing.
    let mut bad = good.clone();
    bad[45..49].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Manifest::decode(&bad),
        Err(ManifestError::Length { .. })
    ));
    let mut bad = good.clone();
    bad[5..13].copy_from_slice(&1u64.to_le_bytes());
    assert!(matches!(
        Manifest::decode(&bad),
        Err(ManifestError::SizeMismatch { .. })
    ));
    let mut bad = good.clone();
    bad[49..53].copy_from_slice(&(MAX_CHUNK + 1).to_le_bytes());
    assert!(matches!(
        Manifest::decode(&bad),
        Err(ManifestError::ChunkLength { index: 0, .. })
    ));
    bad.truncate(good.len() - 1);
    assert!(Manifest::decode(&bad).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn manifests_round_trip(lengths in proptest::collection::vec(1..=MAX_CHUNK, 0..200), seed: [u8; 32]) {
        let chunks: Vec<(u32, ChunkId)> = lengths.iter().enumerate()
            .map(|(i, &l)| (l, ChunkId::of(&[seed.as_slice(), &i.to_le_bytes()].concat())))
            .collect();
        let manifest = Manifest::new(FileHash(seed), chunks).expect("lengths in range");
        prop_assert_eq!(Manifest::decode(&manifest.encode()), Ok(manifest));
    }

    #[test]
    fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Manifest::decode(&bytes);
    }

    #[test]
    fn chunk_ids_match_bytes(len in 0usize..1_500_000, seed: u64) {
        let data = noise(len, seed);
        let manifest = build_from_slice(&data, &Discard).expect("build");
        if len > 0 {
            assert_describes(&manifest, &data);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4))]

    /// Content-defined cuts: one byte inserted at the front of a 10 MiB
    /// file changes the first chunk or two, not the rest.
    #[test]
    fn a_byte_inserted_at_the_start_keeps_most_chunks(seed: u64, byte: u8) {
        let data = noise(10 * MIB, seed);
        let before: std::collections::HashSet<ChunkId> =
            Manifest::of_bytes(&data).chunks().iter().map(|c| c.id).collect();
        let mut edited = vec![byte];
        edited.extend_from_slice(&data);
        let after = Manifest::of_bytes(&edited);
        let kept = after.chunks().iter().filter(|c| before.contains(&c.id)).count();
        prop_assert!(kept * 10 >= before.len() * 9, "kept {} of {}", kept, before.len());
    }
}

// --- the on-disk store -------------------------------------------------

fn store_in(dir: &std::path::Path, budget: u64) -> FsChunkStore {
    FsChunkStore::open(dir, budget).expect("open store")
}

/// Builds `data` into the store the way ingestion does.
fn ingest(store: &FsChunkStore, data: &[u8]) -> Manifest {
    let manifest = Manifest::of_bytes(data);
    let batch: Vec<(ChunkId, &[u8])> = manifest
        .chunks()
        .iter()
        .map(|c| (c.id, &data[c.offset as usize..c.end() as usize]))
        .collect();
    store.put_batch(&batch).expect("put");
    store.put_manifest(&manifest).expect("manifest");
    manifest
}

fn pack_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join("packs"))
        .expect("packs")
        .map(|e| e.expect("entry").path())
        .collect();
    out.sort();
    out
}

#[test]
fn stored_chunks_read_back_and_duplicates_are_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(dir.path(), u64::MAX);
    let data = noise(3 * MIB, 9);
    let manifest = ingest(&store, &data);
    let before = store.stats().expect("stats");
    ingest(&store, &data);
    let after = store.stats().expect("stats");
    assert_eq!(before.chunk_bytes, data.len() as u64);
    assert_eq!(
        after.chunk_bytes, before.chunk_bytes,
        "the same chunks are stored once"
    );
    for chunk in manifest.chunks() {
        let bytes = store.get(&chunk.id).expect("get").expect("present");
        assert_eq!(bytes, &data[chunk.offset as usize..chunk.end() as usize]);
    }
    drop(store);
    let store = store_in(dir.path(), u64::MAX);
    assert_eq!(
        store.verify().expect("verify").chunks,
        manifest.chunks().len() as u64
    );
    assert_eq!(
        store.manifest(&manifest.hash()).expect("manifest"),
        Some(manifest)
    );
}

/// `len` bytes of noise stored, then one byte flipped in the middle of
/// their pack (inside some chunk's bytes), and the store reopened.
fn stored_with_one_byte_flipped(
    len: usize,
    seed: u64,
) -> (tempfile::TempDir, FsChunkStore, Manifest) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(dir.path(), u64::MAX);
    let manifest = ingest(&store, &noise(len, seed));
    drop(store);
    let pack = pack_files(dir.path()).pop().expect("a pack");
    let mut raw = std::fs::read(&pack).expect("read pack");
    let at = raw.len() / 2;
    raw[at] ^= 0x40;
    std::fs::write(&pack, &raw).expect("write pack");
    let store = store_in(dir.path(), u64::MAX);
    (dir, store, manifest)
}

#[test]
fn a_chunk_corrupted_on_disk_is_detected_and_never_returned() {
    let (_dir, store, manifest) = stored_with_one_byte_flipped(MIB, 11);
    let mut corrupt = 0;
    for chunk in manifest.chunks() {
        match store.get(&chunk.id) {
            Ok(Some(bytes)) => assert_eq!(ChunkId::of(&bytes), chunk.id),
            Err(sdfs_cas::StoreError::Corrupt { chunk: bad, actual }) => {
                assert_eq!(bad, chunk.id);
                assert_ne!(actual, chunk.id);
                corrupt += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(corrupt, 1, "exactly the damaged chunk is refused");
    // Dropped: the store no longer claims it, and verify finds the rest sound.
    let report = store.verify().expect("verify");
    assert!(report.corrupt.is_empty());
    assert_eq!(report.chunks, manifest.chunks().len() as u64 - 1);
}

#[test]
fn verify_finds_and_drops_corrupt_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(dir.path(), u64::MAX);
    let manifest = ingest(&store, &noise(2 * MIB, 12));
    store.pin(&manifest, 0).expect("pin");
    drop(store);
    let pack = pack_files(dir.path()).pop().expect("a pack");
    let mut raw = std::fs::read(&pack).expect("read pack");
    let at = raw.len() - 10;
    raw[at] ^= 1;
    std::fs::write(&pack, &raw).expect("write pack");
    let store = store_in(dir.path(), u64::MAX);
    let report = store.verify().expect("verify");
    assert_eq!(
        report.corrupt,
        vec![manifest.chunks().last().expect("chunk").id]
    );
    assert_eq!(
        report.incomplete_pins,
        vec![manifest.hash()],
        "the pin needs refilling"
    );
}

#[test]
fn bytes_written_but_never_indexed_are_cut_off_on_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(dir.path(), u64::MAX);
    let manifest = ingest(&store, &noise(MIB, 13));
    drop(store);
    // A crash after appending, before the index commit: a torn record.
    let pack = pack_files(dir.path()).pop().expect("a pack");
    let committed = std::fs::metadata(&pack).expect("meta").len();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&pack)
        .expect("open");
    std::io::Write::write_all(&mut file, b"SDCK\x00\x00\x01\x00garbage").expect("append");
    drop(file);
    // And an unindexed pack from a compaction that never committed.
    std::fs::write(dir.path().join("packs/00009999.pack"), b"SDPACK01junk").expect("orphan");

    let store = store_in(dir.path(), u64::MAX);
    assert_eq!(std::fs::metadata(&pack).expect("meta").len(), committed);
    assert!(!dir.path().join("packs/00009999.pack").exists());
    let report = store.verify().expect("verify");
    assert!(report.corrupt.is_empty());
    assert_eq!(report.chunks, manifest.chunks().len() as u64);
    // Appending after the repair works and survives another reopen.
    let more = ingest(&store, &noise(MIB, 14));
    drop(store);
    let store = store_in(dir.path(), u64::MAX);
    assert_eq!(
        store.verify().expect("verify").chunks,
        (manifest.chunks().len() + more.chunks().len()) as u64
    );
}

#[test]
fn eviction_keeps_the_budget_and_never_touches_pins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let budget = 8 * MIB as u64;
    let store = store_in(dir.path(), budget);
    let pinned = ingest(&store, &noise(3 * MIB, 100));
    store.pin(&pinned, 1).expect("pin");
    let mut unpinned = Vec::new();
    for seed in 0..12 {
        unpinned.push(ingest(&store, &noise(MIB, 200 + seed)));
        let stored = store.stored_bytes().expect("stored");
        assert!(
            stored <= budget,
            "stored {stored} over budget {budget} after write {seed}"
        );
    }
    let gc = store.gc().expect("gc");
    assert!(gc.stored_after <= budget);
    for chunk in pinned.chunks() {
        assert!(
            store.get(&chunk.id).expect("get").is_some(),
            "pinned chunk evicted"
        );
    }
    // The oldest unpinned content went first; the newest is still whole.
    let newest = unpinned.last().expect("some");
    assert!(
        newest
            .chunks()
            .iter()
            .all(|c| store.contains(&c.id).expect("contains"))
    );
    let oldest = &unpinned[0];
    assert!(
        oldest
            .chunks()
            .iter()
            .any(|c| !store.contains(&c.id).expect("contains"))
    );
    let stats = store.stats().expect("stats");
    assert_eq!(stats.pinned, 1);
    assert_eq!(stats.pinned_bytes, pinned.size());

    // Unpinned, the content competes like any other and goes under pressure.
    assert!(store.unpin(&pinned.hash()).expect("unpin"));
    for seed in 0..10 {
        ingest(&store, &noise(MIB, 400 + seed));
    }
    assert!(store.stored_bytes().expect("stored") <= budget);
    assert!(
        pinned
            .chunks()
            .iter()
            .any(|c| !store.contains(&c.id).expect("contains"))
    );
}

#[test]
fn freeing_up_content_drops_its_unpinned_chunks_and_keeps_shared_pinned_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(dir.path(), u64::MAX);
    let shared = noise(2 * MIB, 31);
    let pinned = ingest(&store, &shared);
    store.pin(&pinned, 1).expect("pin");
    // A second content: the pinned bytes, then more of its own.
    let mut data = shared.clone();
    data.extend(noise(2 * MIB, 32));
    let cached = ingest(&store, &data);
    assert!(store.assemble(&cached).is_ok());
    let own: Vec<ChunkId> = cached
        .chunks()
        .iter()
        .map(|c| c.id)
        .filter(|id| pinned.chunks().iter().all(|p| p.id != *id))
        .collect();
    assert!(!own.is_empty());

    let (chunks, bytes) = store.evict_content(&cached).expect("evict");
    assert_eq!(chunks, own.len() as u64);
    assert!(bytes > 0);
    assert!(store.assembled(&cached).is_none(), "the whole copy is gone");
    for id in &own {
        assert!(
            !store.contains(id).expect("contains"),
            "its own chunk stays"
        );
    }
    for chunk in pinned.chunks() {
        assert!(
            store.contains(&chunk.id).expect("contains"),
            "a pinned chunk went"
        );
    }
    assert!(store.is_pinned(&pinned.hash()).expect("pinned"));
}

#[test]
fn pinning_content_with_missing_chunks_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(dir.path(), u64::MAX);
    let data = noise(MIB, 15);
    let manifest = Manifest::of_bytes(&data);
    let first = manifest.chunks()[0];
    store
        .put_batch(&[(first.id, &data[..first.length as usize])])
        .expect("put");
    assert!(matches!(
        store.pin(&manifest, 0),
        Err(sdfs_cas::StoreError::Incomplete { missing, .. }) if missing == manifest.chunks().len() - 1
    ));
    assert!(!store.is_pinned(&manifest.hash()).expect("pinned"));
    assert_eq!(
        store.stats().expect("stats").pinned_bytes,
        0,
        "a refused pin holds nothing"
    );
}

// --- the verified reader -----------------------------------------------

/// A source serving fixed bytes, counting fetches.
struct BytesSource {
    data: Vec<u8>,
    fetches: AtomicUsize,
}

impl ChunkSource for BytesSource {
    fn describe(&self) -> String {
        "test bytes".into()
    }
    fn fetch(&self, chunk: &ChunkRef) -> std::io::Result<bytes::Bytes> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        Ok(bytes::Bytes::copy_from_slice(
            &self.data[chunk.offset as usize..chunk.end() as usize],
        ))
    }
}

#[test]
fn the_reader_skips_a_lying_source_and_fetches_only_what_a_range_needs() {
    let data = noise(2 * MIB, 21);
    let manifest = Arc::new(Manifest::of_bytes(&data));
    let mut lies = data.clone();
    for b in lies.iter_mut().step_by(4096) {
        *b ^= 0xff;
    }
    let liar = Arc::new(BytesSource {
        data: lies,
        fetches: AtomicUsize::new(0),
    });
    let honest = Arc::new(BytesSource {
        data: data.clone(),
        fetches: AtomicUsize::new(0),
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(store_in(dir.path(), u64::MAX));
    let reader = ContentReader::new(
        Arc::clone(&manifest),
        vec![liar.clone(), honest.clone()],
        HotCache::new(64 * MIB as u64),
        Some(Arc::clone(&store)),
        sdfs_cas::Keep::Now,
    );
    let second = manifest.chunks()[1];
    let mut buf = vec![0u8; 100];
    let n = reader.read_at(second.offset + 10, &mut buf).expect("read");
    assert_eq!(n, 100);
    assert_eq!(
        buf,
        data[second.offset as usize + 10..second.offset as usize + 110]
    );
    assert_eq!(
        honest.fetches.load(Ordering::Relaxed),
        1,
        "one chunk fetched for a small range"
    );
    assert!(
        store.contains(&second.id).expect("contains"),
        "kept on disk"
    );
    let mut all = vec![0u8; data.len() + 10];
    assert_eq!(reader.read_at(0, &mut all).expect("read"), data.len());
    assert_eq!(&all[..data.len()], &data[..]);

    // Without a good source, the read fails instead of returning wrong bytes.
    let fresh = ContentReader::new(
        Arc::new(Manifest::of_bytes(&noise(MIB, 22))),
        vec![liar],
        HotCache::new(MIB as u64),
        None,
        sdfs_cas::Keep::No,
    );
    assert!(matches!(
        fresh.read_at(0, &mut buf),
        Err(sdfs_cas::ReadError::Unavailable { .. })
    ));
}

#[test]
fn a_sequential_read_with_readahead_fetches_each_chunk_once_and_reads_true() {
    let data = noise(24 * MIB, 23);
    let manifest = Arc::new(Manifest::of_bytes(&data));
    let source = Arc::new(BytesSource {
        data: data.clone(),
        fetches: AtomicUsize::new(0),
    });
    // A small hot cache: read-ahead must hold what it fetched until the
    // reader gets there, not count on the cache admitting it.
    let reader = ContentReader::new(
        Arc::clone(&manifest),
        vec![source.clone()],
        HotCache::new(MIB as u64),
        None,
        sdfs_cas::Keep::No,
    )
    .with_readahead(64);
    // As the kernel reads a file: 128 KiB at a time, in order.
    let mut out = Vec::with_capacity(data.len());
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = reader.read_at(out.len() as u64, &mut buf).expect("read");
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    assert!(out == data, "the bytes read are the content's");
    assert_eq!(
        source.fetches.load(Ordering::Relaxed),
        manifest.chunks().len(),
        "every chunk fetched exactly once"
    );
}

// --- whole files assembled from chunks ---------------------------------

/// Waits (bounded) for the keeper to assemble `manifest`'s file.
fn wait_assembled(store: &FsChunkStore, manifest: &Manifest) -> Option<std::fs::File> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(file) = store.assembled(manifest) {
            return Some(file);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn file_bytes(mut file: std::fs::File) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut out).expect("read assembled");
    out
}

#[test]
fn a_remote_content_read_to_the_end_is_assembled_whole_once_its_reader_closes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(store_in(dir.path(), 64 * MIB as u64));
    let keeper = sdfs_cas::Keeper::spawn(Arc::clone(&store)).expect("keeper");
    let data = noise(5 * MIB + 3, 31);
    let manifest = Arc::new(Manifest::of_bytes(&data));
    let source = Arc::new(BytesSource {
        data: data.clone(),
        fetches: AtomicUsize::new(0),
    });
    let read_half = || {
        let reader = ContentReader::new(
            Arc::clone(&manifest),
            vec![source.clone()],
            HotCache::new(MIB as u64),
            Some(Arc::clone(&store)),
            sdfs_cas::Keep::Later(keeper.clone()),
        );
        let mut buf = vec![0u8; data.len() / 2];
        reader.read_at(0, &mut buf).expect("read");
    };
    // Half of it: nothing to assemble.
    read_half();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(store.assembled(&manifest).is_none());

    let reader = ContentReader::new(
        Arc::clone(&manifest),
        vec![source.clone()],
        HotCache::new(MIB as u64),
        Some(Arc::clone(&store)),
        sdfs_cas::Keep::Later(keeper.clone()),
    )
    .with_readahead(32);
    let mut buf = vec![0u8; data.len()];
    assert_eq!(reader.read_at(0, &mut buf).expect("read"), data.len());
    drop(reader);
    let file = wait_assembled(&store, &manifest).expect("assembled");
    assert!(file_bytes(file) == data, "the whole copy holds the content");
    let stats = store.stats().expect("stats");
    assert_eq!(stats.assembled, 1);
    assert_eq!(stats.assembled_bytes, data.len() as u64);
    assert_eq!(
        store.assemble(&manifest).expect("again"),
        sdfs_cas::store::Assembly::Present
    );
}

#[test]
fn assembly_needs_every_chunk_room_and_a_manifest_that_tells_the_truth() {
    use sdfs_cas::store::Assembly;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(dir.path(), 64 * MIB as u64);
    let files = dir.path().join("files");
    let listing = || std::fs::read_dir(&files).expect("files").count();

    let small = ingest(
        &store,
        &noise(sdfs_cas::store::MIN_ASSEMBLED as usize - 1, 41),
    );
    assert_eq!(store.assemble(&small).expect("small"), Assembly::Skipped);

    // A manifest whose chunks are all here but whose file hash is another.
    let data = noise(3 * MIB, 42);
    let true_manifest = ingest(&store, &data);
    let lie = Manifest::new(
        FileHash::of(b"other bytes"),
        true_manifest.chunks().iter().map(|c| (c.length, c.id)),
    )
    .expect("manifest");
    assert_eq!(store.assemble(&lie).expect("lie"), Assembly::Skipped);
    assert_eq!(listing(), 0, "nothing named after a hash it does not have");

    // A chunk missing.
    let partial_data = noise(3 * MIB, 43);
    let partial = Manifest::of_bytes(&partial_data);
    let first = partial.chunks()[0];
    store
        .put_batch(&[(first.id, &partial_data[..first.length as usize])])
        .expect("put");
    assert_eq!(
        store.assemble(&partial).expect("partial"),
        Assembly::Skipped
    );

    // No room: chunks and the copy would pass the budget.
    store
        .set_budget(true_manifest.size() + 4 * MIB as u64)
        .expect("budget");
    assert_eq!(
        store.assemble(&true_manifest).expect("tight"),
        Assembly::Skipped
    );
    store.set_budget(64 * MIB as u64).expect("budget");
    assert_eq!(
        store.assemble(&true_manifest).expect("roomy"),
        Assembly::Written
    );
    let file = store.assembled(&true_manifest).expect("there");
    assert!(file_bytes(file) == data);
    assert_eq!(listing(), 1);
}

#[test]
fn assembled_files_go_first_under_pressure_and_corrupt_ones_are_deleted() {
    use sdfs_cas::store::Assembly;
    let dir = tempfile::tempdir().expect("tempdir");
    let budget = 10 * MIB as u64;
    let store = store_in(dir.path(), budget);
    let first = ingest(&store, &noise(3 * MIB, 51));
    assert_eq!(store.assemble(&first).expect("first"), Assembly::Written);
    // Chunks and copy take about 6 MiB; 3 MiB more passes 10 MiB with the
    // copy but not without it: the copy goes, every chunk stays.
    ingest(&store, &noise(3 * MIB, 52));
    ingest(&store, &noise(MIB, 53));
    assert!(store.assembled(&first).is_none(), "the copy went first");
    assert!(
        first
            .chunks()
            .iter()
            .all(|c| store.contains(&c.id).expect("contains")),
        "no chunk was evicted while a copy could go"
    );

    // A copy whose bytes rot is found by verify and deleted.
    store.set_budget(64 * MIB as u64).expect("budget");
    let second = ingest(&store, &noise(2 * MIB, 54));
    assert_eq!(store.assemble(&second).expect("second"), Assembly::Written);
    let path = dir.path().join("files").join(second.hash().to_string());
    let mut rotten = std::fs::read(&path).expect("read");
    rotten[MIB] ^= 1;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    std::fs::write(&path, &rotten).expect("rot");
    let report = store.verify().expect("verify");
    assert_eq!(report.assembled, 1);
    assert_eq!(report.corrupt_assembled, vec![second.hash()]);
    assert!(store.assembled(&second).is_none());

    // What a crash left half written is gone on the next open.
    let part = dir
        .path()
        .join("files")
        .join(format!("{}.part", first.hash()));
    std::fs::write(&part, b"half").expect("part");
    drop(store);
    let _store = store_in(dir.path(), 64 * MIB as u64);
    assert!(!part.exists());
}

#[test]
fn a_chunk_rotten_in_its_pack_is_never_assembled_and_is_dropped() {
    use sdfs_cas::store::Assembly;
    let (_dir, store, manifest) = stored_with_one_byte_flipped(3 * MIB, 61);
    assert_eq!(
        store.assemble(&manifest).expect("assemble"),
        Assembly::Skipped
    );
    assert!(store.assembled(&manifest).is_none());
    let missing = manifest
        .chunks()
        .iter()
        .filter(|c| !store.contains(&c.id).expect("contains"))
        .count();
    assert_eq!(
        missing, 1,
        "the rotten chunk is dropped, to be fetched again"
    );
}

/// A file fetched whole is kept as its whole copy alone; pinned, that copy
/// is what keeps it, so pressure on the store never takes it.
#[test]
fn a_pinned_content_kept_only_as_a_whole_copy_survives_pressure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let budget = 10 * MIB as u64;
    let store = store_in(dir.path(), budget);
    let data = noise(3 * MIB, 71);
    let manifest = Manifest::of_bytes(&data);
    let fetched = dir.path().join("fetched.part");
    std::fs::write(&fetched, &data).expect("write");
    store.adopt(&manifest, &fetched).expect("adopt");
    store.put_manifest(&manifest).expect("manifest");
    store.pin(&manifest, 1).expect("a whole copy can be pinned");
    assert!(store.is_pinned(&manifest.hash()).expect("pinned"));
    // 9 MiB more pass the budget: unpinned data goes, the copy stays.
    ingest(&store, &noise(3 * MIB, 72));
    ingest(&store, &noise(3 * MIB, 73));
    ingest(&store, &noise(3 * MIB, 74));
    assert!(
        store.assembled(&manifest).is_some(),
        "the pinned whole copy was evicted"
    );
    // Unpinned, it is evictable like any copy.
    assert!(store.unpin(&manifest.hash()).expect("unpin"));
    ingest(&store, &noise(3 * MIB, 75));
    assert!(store.assembled(&manifest).is_none());
    // Content with neither chunks nor a copy cannot be pinned.
    let absent = Manifest::of_bytes(&noise(2 * MIB, 76));
    assert!(store.pin(&absent, 1).is_err());
}

#[test]
fn a_file_fetched_whole_is_adopted_as_the_whole_copy_without_a_second_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(dir.path(), u64::MAX);
    let data = noise(3 * MIB, 41);
    let manifest = Manifest::of_bytes(&data);
    // Fetched into a file beside the store (same filesystem).
    let fetched = dir.path().join("fetched.part");
    std::fs::write(&fetched, &data).expect("write");
    assert!(matches!(
        store.adopt(&manifest, &fetched).expect("adopt"),
        sdfs_cas::store::Assembly::Written
    ));
    assert!(!fetched.exists(), "renamed in, not copied");
    let mut whole = Vec::new();
    std::io::Read::read_to_end(
        &mut store.assembled(&manifest).expect("the whole copy"),
        &mut whole,
    )
    .expect("read");
    assert!(whole == data);
    // A file of another size is not taken for it.
    let other = dir.path().join("short.part");
    std::fs::write(&other, &data[..MIB]).expect("write");
    let manifest2 = Manifest::of_bytes(&noise(3 * MIB, 42));
    assert!(matches!(
        store.adopt(&manifest2, &other).expect("adopt"),
        sdfs_cas::store::Assembly::Skipped
    ));
    assert!(store.assembled(&manifest2).is_none());
}
