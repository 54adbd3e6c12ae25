//! sdfs content-addressed store (to come, issue 4): FastCDC chunks identified
//! by BLAKE3, per-file manifests, an on-disk chunk store with a crash-safe
//! write protocol, a moka hot cache bounded by bytes, pins and eviction.
//!
//! Everything that is not a local file reaches a reader through this store, so
//! it must never hand out a byte that was not verified against its hash.
