//! A manifest from a peer: decoding ends in a manifest whose chunks tile
//! its size, or an error.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(m) = sdfs_cas::Manifest::decode(data) {
        let total: u64 = m.chunks().iter().map(|c| u64::from(c.length)).sum();
        assert_eq!(total, m.size());
        assert_eq!(sdfs_cas::Manifest::decode(&m.encode()).ok(), Some(m));
    }
});
