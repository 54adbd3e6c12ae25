//! Names between Windows and the core: Windows names are UTF-16 (NTFS takes
//! unpaired surrogates too), the core's are bytes (UTF-8 where the device
//! wrote UTF-8, anything else where it did not). The mapping is
//! surrogateescape (PEP 383): valid UTF-8 becomes the same characters, each
//! byte of an invalid sequence becomes the lone surrogate U+DC80..U+DCFF,
//! and back. So every core name has a Windows name and comes back byte for
//! byte; a Windows name with any other lone surrogate has no core name.

use sdfs_core::{Error, ErrorKind};

const ESCAPE_BASE: u16 = 0xDC00;

/// A core name as Windows sees it.
pub fn to_wide(name: &[u8]) -> Vec<u16> {
    let mut out = Vec::with_capacity(name.len());
    let mut rest = name;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                out.extend(valid.encode_utf16());
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                // The first `valid_up_to` bytes are valid UTF-8.
                out.extend(
                    std::str::from_utf8(valid)
                        .unwrap_or_default()
                        .encode_utf16(),
                );
                let bad = e.error_len().unwrap_or(after.len());
                out.extend(after[..bad].iter().map(|b| ESCAPE_BASE | u16::from(*b)));
                rest = &after[bad..];
            }
        }
    }
    out
}

/// A Windows name as the core sees it; refused when it holds a lone
/// surrogate that no core name maps to.
pub fn from_wide(name: &[u16]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(name.len());
    for unit in char::decode_utf16(name.iter().copied()) {
        match unit {
            Ok(c) => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            Err(e) => {
                let lone = e.unpaired_surrogate();
                if (0xDC80..=0xDCFF).contains(&lone) {
                    out.push((lone & 0xFF) as u8);
                } else {
                    return Err(Error::fs(
                        ErrorKind::InvalidInput,
                        format!("a name with the lone surrogate {lone:#06x}"),
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// A Windows path relative to the virtualization root (`a\b\c`) as the
/// core's name components.
pub fn components(path: &[u16]) -> Result<Vec<Vec<u8>>, Error> {
    path.split(|u| *u == u16::from(b'\\'))
        .filter(|c| !c.is_empty())
        .map(from_wide)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn utf8_names_are_the_same_characters() {
        let wide = to_wide("Résumé 📄.docx".as_bytes());
        assert_eq!(
            String::from_utf16(&wide).ok().as_deref(),
            Some("Résumé 📄.docx")
        );
        assert_eq!(
            from_wide(&wide).ok(),
            Some("Résumé 📄.docx".as_bytes().to_vec())
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_round_trip() {
        let name = b"caf\xe9 \xff\xfe.txt";
        let wide = to_wide(name);
        assert!(
            String::from_utf16(&wide).is_err(),
            "shown with lone surrogates"
        );
        assert_eq!(from_wide(&wide).ok(), Some(name.to_vec()));
    }

    #[test]
    fn a_name_that_is_not_valid_utf16_is_refused() {
        let lone_high = [u16::from(b'a'), 0xD800, u16::from(b'b')];
        let err = from_wide(&lone_high).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn paths_split_on_backslashes() {
        let path: Vec<u16> = "Docs\\2024\\a.txt".encode_utf16().collect();
        assert_eq!(
            components(&path).ok(),
            Some(vec![b"Docs".to_vec(), b"2024".to_vec(), b"a.txt".to_vec()])
        );
    }

    proptest! {
        #[test]
        fn every_core_name_comes_back_byte_for_byte(name in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(from_wide(&to_wide(&name)).ok(), Some(name));
        }
    }
}
