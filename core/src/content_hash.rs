//! The content identity hash of SPEC §2, interoperable with Spacedrive V2.
//!
//! `content_hash` is the first 8 bytes (16 hex characters) of BLAKE3 over the
//! file size (u64, little endian) followed by either the whole file (at most
//! 100 KiB) or fixed samples of it. It groups files; it never proves two files
//! equal, so bytes are only served after a full-hash check elsewhere.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::ContentId;

/// Files up to this size are hashed whole.
pub const MINIMUM_SAMPLED_SIZE: u64 = 100 * 1024;
/// Bytes taken from the head and from the tail of a sampled file.
pub const EDGE_SAMPLE: u64 = 8 * 1024;
/// Bytes in each of the inner samples.
pub const INNER_SAMPLE: u64 = 10 * 1024;
/// Number of inner samples.
pub const INNER_SAMPLES: u64 = 4;

/// The sampled content hash: 8 bytes, shown as 16 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContentHash(pub [u8; 8]);

impl ContentHash {
    /// The content id every device derives from this hash: UUIDv5 in the DNS
    /// namespace over the 16 hex characters.
    pub fn content_id(&self) -> ContentId {
        ContentId(Uuid::new_v5(
            &Uuid::NAMESPACE_DNS,
            self.to_string().as_bytes(),
        ))
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

/// Error parsing a content hash from text.
#[derive(Debug, thiserror::Error)]
#[error("a content hash is 16 hex characters, got {0:?}")]
pub struct ParseContentHashError(String);

impl FromStr for ContentHash {
    type Err = ParseContentHashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseContentHashError(s.to_owned());
        if s.len() != 16 || !s.is_ascii() {
            return Err(err());
        }
        let mut out = [0u8; 8];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| err())?;
        }
        Ok(Self(out))
    }
}

/// The byte ranges (offset, length) that feed the hash of a file of `size` bytes.
pub fn sample_ranges(size: u64) -> impl Iterator<Item = (u64, u64)> {
    let whole = size <= MINIMUM_SAMPLED_SIZE;
    let step = size.saturating_sub(2 * EDGE_SAMPLE) / INNER_SAMPLES;
    let ranges: [(u64, u64); 6] = if whole {
        [(0, size), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0)]
    } else {
        [
            (0, EDGE_SAMPLE),
            (EDGE_SAMPLE, INNER_SAMPLE),
            (EDGE_SAMPLE + step, INNER_SAMPLE),
            (EDGE_SAMPLE + 2 * step, INNER_SAMPLE),
            (EDGE_SAMPLE + 3 * step, INNER_SAMPLE),
            (size - EDGE_SAMPLE, EDGE_SAMPLE),
        ]
    };
    ranges.into_iter().filter(|(_, len)| *len > 0)
}

/// Computes the content hash of an in-memory buffer (tests, peers' data).
pub fn content_hash_of_bytes(bytes: &[u8]) -> Option<ContentHash> {
    let size = bytes.len() as u64;
    if size == 0 {
        return None;
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(&size.to_le_bytes());
    for (offset, len) in sample_ranges(size) {
        hasher.update(&bytes[offset as usize..(offset + len) as usize]);
    }
    Some(finish(&hasher))
}

/// The content hash of a `size`-byte file whose bytes `read(offset, len)`
/// returns: only the sampled ranges are asked for, adjacent ones in one
/// call (a bucket's object costs a few ranged GETs, never a download).
/// Also returns the file's first bytes (up to 8 KiB) for kind detection.
pub fn content_hash_by_ranges<E>(
    size: u64,
    mut read: impl FnMut(u64, u64) -> Result<Vec<u8>, E>,
) -> Result<Option<(ContentHash, Vec<u8>)>, E> {
    if size == 0 {
        return Ok(None);
    }
    let mut runs: Vec<(u64, u64)> = Vec::with_capacity(6);
    for (offset, len) in sample_ranges(size) {
        match runs.last_mut() {
            Some((at, n)) if *at + *n == offset => *n += len,
            _ => runs.push((offset, len)),
        }
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(&size.to_le_bytes());
    let mut head = Vec::new();
    for (offset, len) in runs {
        let bytes = read(offset, len)?;
        if head.is_empty() {
            head = bytes[..bytes.len().min(EDGE_SAMPLE as usize)].to_vec();
        }
        hasher.update(&bytes);
    }
    Ok(Some((finish(&hasher), head)))
}

/// Result of hashing an open file.
#[derive(Debug, Clone)]
pub struct HashedFile {
    /// `None` for an empty file: empty files have no content identity.
    pub hash: Option<ContentHash>,
    /// The first bytes of the file (up to 8 KiB), for kind detection.
    pub head: Vec<u8>,
}

/// Hashes `file`, which is `size` bytes long, reading only the sampled ranges.
/// `buf` is reused across calls to keep the hot loop allocation-free.
pub fn content_hash_of_file(file: &File, size: u64, buf: &mut Vec<u8>) -> io::Result<HashedFile> {
    if size == 0 {
        return Ok(HashedFile {
            hash: None,
            head: Vec::new(),
        });
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(&size.to_le_bytes());
    let mut head = Vec::new();
    for (offset, len) in sample_ranges(size) {
        buf.resize(len as usize, 0);
        file.read_exact_at(buf, offset).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while it was hashed",
                )
            } else {
                e
            }
        })?;
        if offset == 0 {
            head.extend_from_slice(&buf[..buf.len().min(EDGE_SAMPLE as usize)]);
        }
        hasher.update(buf);
    }
    Ok(HashedFile {
        hash: Some(finish(&hasher)),
        head,
    })
}

fn finish(hasher: &blake3::Hasher) -> ContentHash {
    let mut out = [0u8; 8];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..8]);
    ContentHash(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The sizes where the algorithm changes behaviour, plus a few MiB.
    const BOUNDARY_SIZES: &[usize] = &[
        0,
        1,
        16383,
        16384,
        102399,
        102400,
        102401,
        3 * 1024 * 1024 + 7,
    ];

    fn pattern(size: usize) -> Vec<u8> {
        (0..size)
            .map(|i| (i.wrapping_mul(31) ^ (i >> 11)) as u8)
            .collect()
    }

    #[test]
    fn ranged_reads_give_the_same_hash_in_few_calls() {
        for &size in BOUNDARY_SIZES {
            let data = pattern(size);
            let mut calls = 0;
            let by_ranges = content_hash_by_ranges(size as u64, |offset, len| {
                calls += 1;
                Ok::<_, ()>(data[offset as usize..(offset + len) as usize].to_vec())
            })
            .expect("reads");
            assert_eq!(
                by_ranges.as_ref().map(|h| h.0),
                content_hash_of_bytes(&data)
            );
            // The leading edge and first inner sample are one read.
            assert!(calls <= 5, "{calls} reads for {size} bytes");
            if let Some((_, head)) = by_ranges {
                assert_eq!(head, data[..size.min(8192)]);
            }
        }
    }

    /// An independent, literal reading of SPEC §2 to check the implementation against.
    fn reference(bytes: &[u8]) -> Option<String> {
        let size = bytes.len();
        if size == 0 {
            return None;
        }
        let mut input = (size as u64).to_le_bytes().to_vec();
        if size <= 102_400 {
            input.extend_from_slice(bytes);
        } else {
            input.extend_from_slice(&bytes[..8192]);
            for i in 0..4 {
                let start = 8192 + i * ((size - 16384) / 4);
                input.extend_from_slice(&bytes[start..start + 10_240]);
            }
            input.extend_from_slice(&bytes[size - 8192..]);
        }
        Some(blake3::hash(&input).to_hex()[..16].to_string())
    }

    #[test]
    fn boundary_table_matches_the_spec_and_files_match_buffers() {
        let mut buf = Vec::new();
        for &size in BOUNDARY_SIZES {
            let bytes = pattern(size);
            let expected = reference(&bytes);
            let from_bytes = content_hash_of_bytes(&bytes).map(|h| h.to_string());
            assert_eq!(from_bytes, expected, "size {size}");

            let mut file = tempfile::tempfile().expect("tempfile");
            file.write_all(&bytes).expect("write");
            let hashed = content_hash_of_file(&file, size as u64, &mut buf).expect("hash");
            assert_eq!(
                hashed.hash.map(|h| h.to_string()),
                expected,
                "file of size {size}"
            );
            assert_eq!(hashed.head, bytes[..size.min(8192)].to_vec());
        }
    }

    #[test]
    fn sampled_files_ignore_bytes_outside_the_samples() {
        let size = 1_000_000;
        let mut bytes = pattern(size);
        let before = content_hash_of_bytes(&bytes);
        // Byte 20_000 lies between the first and second inner sample.
        bytes[20_000] ^= 0xff;
        assert_eq!(content_hash_of_bytes(&bytes), before);
        bytes[8192] ^= 0xff;
        assert_ne!(content_hash_of_bytes(&bytes), before);
    }

    #[test]
    fn content_id_is_uuid_v5_of_the_hex() {
        let hash: ContentHash = "0123456789abcdef".parse().expect("parse");
        let id = hash.content_id();
        assert_eq!(id.0.get_version_num(), 5);
        assert_eq!(
            id.0,
            Uuid::new_v5(&Uuid::NAMESPACE_DNS, b"0123456789abcdef")
        );
        assert!("0123".parse::<ContentHash>().is_err());
        assert!("0123456789abcdeg".parse::<ContentHash>().is_err());
    }

    #[test]
    fn a_file_that_shrank_is_an_error_not_a_hash() {
        let mut file = tempfile::tempfile().expect("tempfile");
        file.write_all(&pattern(10)).expect("write");
        let err = content_hash_of_file(&file, 200_000, &mut Vec::new()).expect_err("must fail");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
