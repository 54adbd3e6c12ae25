//! Identifiers of the store: a chunk's id and a whole file's hash. Both are
//! BLAKE3 digests; distinct types keep a chunk id from being taken for a
//! file's hash.

use std::fmt;
use std::str::FromStr;

/// Why a hex digest did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a BLAKE3 digest is 64 hex characters, got {0:?}")]
pub struct ParseDigestError(pub String);

macro_rules! digest_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The digest of `bytes`.
            pub fn of(bytes: &[u8]) -> Self {
                Self(*blake3::hash(bytes).as_bytes())
            }

            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// The first 8 hex characters, for logs.
            pub fn short(&self) -> String {
                self.to_string()[..8].to_owned()
            }
        }

        impl From<blake3::Hash> for $name {
            fn from(hash: blake3::Hash) -> Self {
                Self(*hash.as_bytes())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for byte in self.0 {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.short())
            }
        }

        impl FromStr for $name {
            type Err = ParseDigestError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let err = || ParseDigestError(s.to_owned());
                if s.len() != 64 || !s.is_ascii() {
                    return Err(err());
                }
                let mut out = [0u8; 32];
                for (i, byte) in out.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| err())?;
                }
                Ok(Self(out))
            }
        }
    };
}

digest_newtype!(
    /// BLAKE3 of one chunk's bytes: the chunk's name everywhere.
    ChunkId
);

digest_newtype!(
    /// BLAKE3 of a whole file: the integrity hash of SPEC §2, and what a
    /// manifest promises its chunks add up to.
    FileHash
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        let id = ChunkId::of(b"hello");
        assert_eq!(id.to_string().parse::<ChunkId>(), Ok(id));
        assert_eq!(
            id.to_string(),
            "ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f"
        );
        assert!("zz".parse::<ChunkId>().is_err());
        assert!("é".repeat(32).parse::<FileHash>().is_err());
        assert!("g".repeat(64).parse::<FileHash>().is_err());
    }
}
