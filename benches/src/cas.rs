//! `cargo xtask bench cas`: the content store against its parts and against
//! the page cache, over the same bytes in the same run.
//!
//! - chunk + hash + store (durable) vs FastCDC alone and BLAKE3 alone;
//! - a cache-hit read (hot cache) and a store-hit read (verified from the
//!   packs) vs `pread` of the same bytes from a native file in page cache;
//! - dedup: 20 versions of a 50 MB file with small edits, logical / stored.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use sdfs_cas::store::FsChunkStore;
use sdfs_cas::{ContentReader, Discard, HotCache, Manifest, build_from_slice, chunker};

struct Opts {
    /// `--sd`, `--work`, `--out`.
    common: crate::common::Common,
    mib: usize,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut mib = 512;
    // `--sd` is taken like every suite's, and not needed here.
    let common = crate::common::parse(args, |flag, value| {
        match flag {
            "--mib" => mib = value()?.parse()?,
            other => bail!("unknown option {other}"),
        }
        Ok(())
    })?;
    Ok(Opts { common, mib })
}

/// Deterministic incompressible bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    crate::common::noise_into(
        &mut out,
        &mut (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
    );
    out
}

/// Best of `runs` timings of `f`, in seconds, and what its last run gave.
fn best<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut last = None;
    let secs = crate::common::best_of(runs, || {
        crate::common::timed(|| {
            last = Some(f()?);
            Ok(())
        })
    })?;
    Ok((secs, last.context("no run")?))
}

fn gib_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / (1024.0 * 1024.0 * 1024.0)
}

fn fresh_dir(path: &Path) -> Result<()> {
    if path.exists() {
        std::fs::remove_dir_all(path)?;
    }
    std::fs::create_dir_all(path)?;
    Ok(())
}

pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    std::fs::create_dir_all(&opts.common.work)?;
    let len = opts.mib * 1024 * 1024;
    println!("generating {} MiB", opts.mib);
    let data = noise(len, 1);

    // Stages alone.
    let (cdc, chunks) = best(3, || Ok(chunker::chunk_lengths(&data).count()))?;
    let (b3, _) = best(3, || Ok(blake3::hash(&data)))?;
    let (serial, _) = best(2, || Ok(Manifest::of_bytes(&data)))?;
    let (manifest_only, _) = best(3, || Ok(build_from_slice(&data, &Discard)?))?;
    println!("fastcdc {cdc:.3}s blake3 {b3:.3}s serial {serial:.3}s pipelined {manifest_only:.3}s");

    // Chunk + hash + store, durable at the end, into an empty store each
    // run: on the work disk, and on tmpfs where the disk does not bound it.
    let store_dir = opts.common.work.join("cas-store");
    let (ingest, manifest) = best(3, || ingest_into(&store_dir, &data))?;
    let shm = Path::new("/dev/shm");
    let ingest_ram = if shm.is_dir() {
        let dir = shm.join(format!("sdfs-bench-{}", std::process::id()));
        let (secs, _) = best(3, || ingest_into(&dir, &data))?;
        std::fs::remove_dir_all(&dir)?;
        Some(secs)
    } else {
        None
    };
    // The disk's own speed for the same bytes: write + fdatasync.
    let disk_path = opts.common.work.join("cas-disk.bin");
    let (disk, _) = best(3, || {
        let _ = std::fs::remove_file(&disk_path);
        let file = std::fs::File::create(&disk_path)?;
        for (i, block) in data.chunks(1024 * 1024).enumerate() {
            file.write_all_at(block, (i * 1024 * 1024) as u64)?;
        }
        file.sync_data()?;
        Ok(())
    })?;
    std::fs::remove_file(&disk_path)?;
    println!("chunk+hash+store {ingest:.3}s (tmpfs {ingest_ram:?}) disk write {disk:.3}s");

    // Reads: the same bytes from a native file in page cache, from the hot
    // cache, and from the packs (verified on the way).
    let native_path = opts.common.work.join("cas-native.bin");
    std::fs::write(&native_path, &data)?;
    let native = std::fs::File::open(&native_path)?;
    let block = 1024 * 1024;
    let mut buf = vec![0u8; block];
    let read_native = |buf: &mut [u8]| -> Result<()> {
        let mut offset = 0;
        while offset < len {
            native.read_exact_at(&mut buf[..block.min(len - offset)], offset as u64)?;
            offset += block;
        }
        Ok(())
    };
    read_native(&mut buf)?;
    let (native_read, _) = best(5, || read_native(&mut buf))?;

    let store = Arc::new(FsChunkStore::open(&store_dir, u64::MAX)?);
    let manifest = Arc::new(manifest);
    let read_all = |reader: &ContentReader, buf: &mut [u8]| -> Result<()> {
        let mut offset = 0;
        while offset < len {
            let n = reader.read_at(offset as u64, &mut buf[..block.min(len - offset)])?;
            if n == 0 {
                bail!("short read at {offset}");
            }
            offset += n;
        }
        Ok(())
    };
    let store_read = {
        let mut times = Vec::new();
        for _ in 0..3 {
            // A cold hot cache each time: every chunk comes from the packs.
            let reader = ContentReader::new(
                Arc::clone(&manifest),
                Vec::new(),
                HotCache::new(16 * 1024 * 1024),
                Some(Arc::clone(&store)),
                sdfs_cas::Keep::No,
            );
            let start = Instant::now();
            read_all(&reader, &mut buf)?;
            times.push(start.elapsed().as_secs_f64());
        }
        times.into_iter().fold(f64::MAX, f64::min)
    };
    let hot = HotCache::new(2 * len as u64);
    let reader = ContentReader::new(
        Arc::clone(&manifest),
        Vec::new(),
        hot.clone(),
        Some(Arc::clone(&store)),
        sdfs_cas::Keep::No,
    );
    read_all(&reader, &mut buf)?;
    let (hot_read, _) = best(5, || read_all(&reader, &mut buf))?;
    drop(reader);
    std::fs::remove_file(&native_path)?;
    println!("native {native_read:.3}s hot {hot_read:.3}s store {store_read:.3}s");

    // Dedup on versions of one file.
    let dedup_dir = opts.common.work.join("cas-dedup");
    fresh_dir(&dedup_dir)?;
    let (versions, edits, logical, stored, chunk_bytes) = dedup(&dedup_dir)?;
    std::fs::remove_dir_all(&dedup_dir)?;
    std::fs::remove_dir_all(&store_dir)?;

    let table = format!(
        "{machine}\n\n\
         Over one {mib} MiB buffer of random bytes ({chunks} chunks; FastCDC 2020 at 16/64/256 KiB). \
         Throughput in GiB/s; ratio against the baseline named in the row.\n\n\
         | stage | GiB/s | ratio |\n|---|---|---|\n\
         | FastCDC alone (baseline) | {cdc_g:.2} | 1.00× |\n\
         | BLAKE3 alone, one thread | {b3_g:.2} | {b3_r:.2}× FastCDC |\n\
         | manifest on one thread (cut, chunk ids, whole-file BLAKE3) | {serial_g:.2} | {serial_r:.2}× FastCDC |\n\
         | manifest: chunk + chunk ids + whole-file BLAKE3, pipelined | {man_g:.2} | {man_r:.2}× FastCDC |\n\
         | **chunk + hash + store**, store on tmpfs (CPU-bound) | **{ram_g}** | **{ram_r}** FastCDC |\n\
         | chunk + hash + store, store on the work disk, durable | {ing_g:.2} | {ing_r:.2}× FastCDC, {ing_d:.2}× the disk |\n\
         | the disk alone: write + fdatasync of the same bytes | {disk_g:.2} | {disk_r:.2}× FastCDC |\n\n\
         | read of the same bytes, 1 MiB requests | GiB/s | ratio |\n|---|---|---|\n\
         | native file in page cache, `pread` (baseline) | {nat_g:.2} | 1.00× |\n\
         | **hot cache hit** (verified chunks in memory) | **{hot_g:.2}** | **{hot_r:.2}×** |\n\
         | store hit (packs in page cache, re-hashed) | {st_g:.2} | {st_r:.2}× |\n\n\
         Dedup: {versions} versions of a 50 MB file, each with {edits} small edits (overwrites and one insertion) \
         over the last: logical {logical_mb:.0} MB, chunk bytes stored {chunk_mb:.1} MB (packs on disk {stored_mb:.1} MB): \
         **{ratio:.1}×** (logical / stored).",
        machine = crate::machine(),
        mib = opts.mib,
        cdc_g = gib_s(len, cdc),
        b3_g = gib_s(len, b3),
        b3_r = cdc / b3,
        serial_g = gib_s(len, serial),
        serial_r = cdc / serial,
        man_g = gib_s(len, manifest_only),
        man_r = cdc / manifest_only,
        ing_g = gib_s(len, ingest),
        ing_r = cdc / ingest,
        ing_d = disk / ingest,
        ram_g = ingest_ram.map_or("-".into(), |t| format!("{:.2}", gib_s(len, t))),
        ram_r = ingest_ram.map_or("-".into(), |t| format!("{:.2}×", cdc / t)),
        disk_g = gib_s(len, disk),
        disk_r = cdc / disk,
        nat_g = gib_s(len, native_read),
        hot_g = gib_s(len, hot_read),
        hot_r = native_read / hot_read,
        st_g = gib_s(len, store_read),
        st_r = native_read / store_read,
        logical_mb = logical as f64 / 1e6,
        chunk_mb = chunk_bytes as f64 / 1e6,
        stored_mb = stored as f64 / 1e6,
        ratio = logical as f64 / stored as f64,
    );
    println!("{table}");
    crate::index::write_section(&opts.common.out, "cas", &table)?;
    Ok(())
}

/// Ingests `data` into a fresh store in `dir`, durable when it returns.
fn ingest_into(dir: &Path, data: &[u8]) -> Result<Manifest> {
    fresh_dir(dir)?;
    let store = FsChunkStore::open(dir, u64::MAX)?;
    let ingest = store.ingest();
    let manifest = build_from_slice(data, &ingest)?;
    ingest.commit()?;
    store.put_manifest(&manifest)?;
    Ok(manifest)
}

/// Stores 20 versions of a 50 MB file, each a few small edits away from the
/// last; returns (versions, edits per version, logical, stored on disk,
/// chunk bytes).
fn dedup(dir: &Path) -> Result<(usize, usize, u64, u64, u64)> {
    const VERSIONS: usize = 20;
    const EDITS: usize = 5;
    let store = FsChunkStore::open(dir, u64::MAX)?;
    let mut file = noise(50_000_000, 7);
    let mut rng = noise(VERSIONS * EDITS * 16, 8).into_iter();
    let mut next = |bound: usize| {
        let mut b = [0u8; 8];
        for byte in &mut b {
            *byte = rng.next().unwrap_or(0);
        }
        (u64::from_le_bytes(b) as usize) % bound
    };
    for version in 0..VERSIONS {
        if version > 0 {
            for _ in 0..EDITS - 1 {
                let at = next(file.len() - 100);
                for byte in &mut file[at..at + 100] {
                    *byte = byte.wrapping_add(1);
                }
            }
            let at = next(file.len());
            file.splice(at..at, *b"inserted");
        }
        let ingest = store.ingest();
        let manifest = build_from_slice(&file, &ingest)?;
        ingest.commit()?;
        store.put_manifest(&manifest)?;
    }
    let stats = store.stats()?;
    Ok((
        VERSIONS,
        EDITS,
        stats.logical_bytes,
        stats.stored_bytes,
        stats.chunk_bytes,
    ))
}
