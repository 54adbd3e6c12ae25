//! The content of a delivered file, and its one way onto this device's
//! disk: nothing is kept before it checks out against the sender's hash.

use std::fs::File;
use std::io::Write;
use std::sync::Arc;

use sdfs_cas::{ChunkSource, ContentReader, FileHash, Manifest};

use crate::content_store::ContentStore;
use crate::error::{Error, ErrorKind, Result};
use crate::remote::DeliveredChange;

/// Chunks fetched ahead while a delivered file is written (as a remote
/// reader keeps them).
const INCOMING_READAHEAD: usize = 128;

pub(super) enum Incoming<'a> {
    /// Chunks named by the sender's manifest, read from `sources` in order
    /// (the file being replaced first, then the sender), each checked by
    /// BLAKE3 as it is read, the whole at the end.
    Chunks {
        manifest: Manifest,
        sources: Vec<Arc<dyn ChunkSource>>,
    },
    /// The whole content, carried by the delivery.
    Whole { hash: FileHash, bytes: &'a [u8] },
}

impl<'a> Incoming<'a> {
    /// The content `change` carries, its chunks to come from `sender`;
    /// `Err` says why it cannot be taken (the sender's refusal to hear).
    pub(super) fn of(
        change: &'a DeliveredChange,
        sender: Arc<dyn ChunkSource>,
    ) -> std::result::Result<Incoming<'a>, &'static str> {
        match change {
            DeliveredChange::File { manifest, .. } => match Manifest::decode(manifest) {
                Ok(manifest) => Ok(Incoming::Chunks {
                    manifest,
                    sources: vec![sender],
                }),
                Err(_) => Err("a malformed manifest"),
            },
            DeliveredChange::Whole { hash, bytes, .. } => Ok(Incoming::Whole {
                hash: FileHash(*hash),
                bytes,
            }),
            _ => Err("a change that carries no content"),
        }
    }

    pub(super) fn hash(&self) -> FileHash {
        match self {
            Incoming::Chunks { manifest, .. } => manifest.hash(),
            Incoming::Whole { hash, .. } => *hash,
        }
    }

    pub(super) fn size(&self) -> u64 {
        match self {
            Incoming::Chunks { manifest, .. } => manifest.size(),
            Incoming::Whole { bytes, .. } => bytes.len() as u64,
        }
    }

    /// Offers chunks of a local file before the sender's (they usually
    /// share most of an edit).
    pub(super) fn prefer(&mut self, local: Arc<dyn ChunkSource>) {
        if let Incoming::Chunks { sources, .. } = self {
            sources.insert(0, local);
        }
    }

    /// Writes the content into `out`, checked against its hash (a sender's
    /// word, not ours): a mismatch is an error, and what was written is
    /// the caller's to remove.
    pub(super) fn write_to(
        self,
        content: &ContentStore,
        out: &mut File,
        what: &dyn Fn(std::io::Error) -> Error,
    ) -> Result<()> {
        match self {
            Incoming::Whole { hash, bytes } => {
                if FileHash(*blake3::hash(bytes).as_bytes()) != hash {
                    return Err(mismatch());
                }
                out.write_all(bytes).map_err(what)
            }
            Incoming::Chunks { manifest, sources } => {
                let expected = manifest.hash();
                let reader = ContentReader::new(
                    Arc::new(manifest),
                    sources,
                    content.hot().clone(),
                    Some(Arc::clone(content.chunks())),
                    sdfs_cas::Keep::No,
                )
                // The sender's chunks come in batches side by side, not one
                // round trip each.
                .with_readahead(INCOMING_READAHEAD);
                let mut whole = blake3::Hasher::new();
                let mut buf = vec![0u8; 1 << 20];
                let mut offset = 0u64;
                loop {
                    let n = reader
                        .read_at(offset, &mut buf)
                        .map_err(Error::Unreadable)?;
                    if n == 0 {
                        break;
                    }
                    whole.update(&buf[..n]);
                    out.write_all(&buf[..n]).map_err(what)?;
                    offset += n as u64;
                }
                if FileHash(*whole.finalize().as_bytes()) != expected {
                    return Err(mismatch());
                }
                Ok(())
            }
        }
    }
}

fn mismatch() -> Error {
    Error::fs(
        ErrorKind::InvalidInput,
        "the content does not match the sender's hash",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_content_that_does_not_match_its_hash_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lib = crate::library::Library::create(&dir.path().join("l"), "laptop").expect("lib");
        let store = ContentStore::open(Arc::new(lib)).expect("store");
        let bytes = b"what the sender said it sent";
        let hash = FileHash(*blake3::hash(bytes).as_bytes());
        let path = dir.path().join("out");

        let mut out = File::create(&path).expect("create");
        let io = |e| Error::io(&path, e);
        let tampered = Incoming::Whole {
            hash,
            bytes: b"what the sender sent instead",
        };
        assert!(tampered.write_to(&store, &mut out, &io).is_err());
        assert_eq!(std::fs::read(&path).expect("read"), b"");

        Incoming::Whole { hash, bytes }
            .write_to(&store, &mut out, &io)
            .expect("whole");
        assert_eq!(std::fs::read(&path).expect("read"), bytes);
    }
}
