//! Content-defined chunking: FastCDC (2020) with the sizes chosen in
//! `docs/design/cas.md`.
//!
//! [`Chunker`] cuts a stream that arrives in blocks: it keeps the undecided
//! tail of one block and prepends it to the next, so the boundaries are
//! exactly those of chunking the whole file at once.

use std::io::{self, Read};

use fastcdc::v2020::{FastCDC, Normalization};

/// No chunk is smaller than this, except a file's last (or only) chunk.
pub const MIN_CHUNK: u32 = 16 * 1024;
/// The size FastCDC aims for.
pub const AVG_CHUNK: u32 = 64 * 1024;
/// No chunk is larger than this. Also the bound on a chunk from a peer.
pub const MAX_CHUNK: u32 = 256 * 1024;

// fastcdc only checks these in debug builds; check them at compile time.
const _: () = assert!(
    MIN_CHUNK >= fastcdc::v2020::MINIMUM_MIN
        && MIN_CHUNK <= fastcdc::v2020::MINIMUM_MAX
        && AVG_CHUNK >= fastcdc::v2020::AVERAGE_MIN
        && AVG_CHUNK <= fastcdc::v2020::AVERAGE_MAX
        && MAX_CHUNK >= fastcdc::v2020::MAXIMUM_MIN
        && MAX_CHUNK <= fastcdc::v2020::MAXIMUM_MAX
        && MIN_CHUNK < AVG_CHUNK
        && AVG_CHUNK < MAX_CHUNK
);

/// The chunk lengths of `data` taken as a whole file, in order.
pub fn chunk_lengths(data: &[u8]) -> impl Iterator<Item = u32> + '_ {
    cdc(data).map(|c| c.length as u32)
}

fn cdc(data: &[u8]) -> FastCDC<'_> {
    FastCDC::with_level(data, MIN_CHUNK, AVG_CHUNK, MAX_CHUNK, Normalization::Level1)
}

/// Cuts a file that arrives in blocks.
#[derive(Debug, Default)]
pub struct Chunker {
    /// Bytes seen but not yet cut (always < `MAX_CHUNK` between calls).
    pending: Vec<u8>,
}

/// One step of a [`Chunker`]: the pending tail of the last step followed by
/// new bytes, and the chunks now decided, which start at `bytes[0]`.
#[derive(Debug)]
pub struct Window {
    pub bytes: Vec<u8>,
    /// Where the new bytes begin (the pending tail comes first).
    pub fresh: usize,
    pub lengths: Vec<u32>,
    /// The input has ended: every byte is in a decided chunk.
    pub last: bool,
}

impl Chunker {
    pub fn new() -> Chunker {
        Chunker::default()
    }

    /// Appends `block` (with `last`, the input ends after it).
    pub fn push(&mut self, block: &[u8], last: bool) -> Window {
        let mut bytes = std::mem::take(&mut self.pending);
        let fresh = bytes.len();
        bytes.extend_from_slice(block);
        self.cut(bytes, fresh, last)
    }

    /// Reads up to `block` bytes from `reader` (fewer only at its end) and
    /// cuts them, reading straight into the window to save a copy. The
    /// window is reserved, not zeroed: a file much smaller than a block
    /// costs what it holds, not a zeroed (and faulted-in) block.
    pub fn fill(&mut self, reader: &mut impl Read, block: usize) -> io::Result<Window> {
        let mut bytes = std::mem::take(&mut self.pending);
        let fresh = bytes.len();
        bytes.reserve_exact(block);
        let read = reader.take(block as u64).read_to_end(&mut bytes)?;
        let last = read < block;
        Ok(self.cut(bytes, fresh, last))
    }

    fn cut(&mut self, bytes: Vec<u8>, fresh: usize, last: bool) -> Window {
        let mut lengths: Vec<u32> = chunk_lengths(&bytes).collect();
        if !last {
            // The last cut may move once more bytes arrive, unless the chunk
            // already reached the maximum, where FastCDC cuts regardless.
            // Holding a chunk back is always safe: cutting restarts from a
            // decided boundary, which is where whole-file chunking restarts.
            if let Some(&tail) = lengths.last()
                && tail < MAX_CHUNK
            {
                lengths.pop();
            }
        }
        let decided: usize = lengths.iter().map(|&l| l as usize).sum();
        self.pending = bytes[decided..].to_vec();
        Window {
            bytes,
            fresh,
            lengths,
            last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn streaming_cuts_where_whole_file_chunking_cuts() {
        let data = noise(3 * 1024 * 1024 + 12345, 7);
        let whole: Vec<u32> = chunk_lengths(&data).collect();
        for block in [1000, 64 * 1024, 300 * 1024, 1 << 20] {
            let mut chunker = Chunker::new();
            let mut streamed = Vec::new();
            let blocks: Vec<&[u8]> = data.chunks(block).collect();
            for (i, b) in blocks.iter().enumerate() {
                streamed.extend(chunker.push(b, i + 1 == blocks.len()).lengths);
            }
            assert_eq!(streamed, whole, "block size {block}");
            let mut chunker = Chunker::new();
            let mut reader = &data[..];
            let mut filled = Vec::new();
            loop {
                let window = chunker.fill(&mut reader, block).expect("read");
                filled.extend(window.lengths);
                if window.last {
                    break;
                }
            }
            assert_eq!(filled, whole, "fill, block size {block}");
        }
    }

    #[test]
    fn chunks_respect_the_bounds() {
        let data = noise(4 * 1024 * 1024, 3);
        let lengths: Vec<u32> = chunk_lengths(&data).collect();
        let (last, rest) = lengths.split_last().expect("chunks");
        assert!(*last >= 1 && *last <= MAX_CHUNK);
        assert!(rest.iter().all(|&l| (MIN_CHUNK..=MAX_CHUNK).contains(&l)));
        // Zeros never find a cut point: every chunk is the maximum.
        let zeros = vec![0u8; 1024 * 1024];
        assert!(chunk_lengths(&zeros).all(|l| l == MAX_CHUNK));
    }
}
