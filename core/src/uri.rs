//! `sd://` URIs: the textual form of an [`SdPath`](crate::uri::SdUri).
//!
//! ```text
//! sd://<device name or id>/<location>/<path>
//! sd://content/<content id>
//! sd://cloud/<volume>/<path>
//! ```
//! Paths are bytes: anything that is not printable UTF-8 (and `%`, `?`, `#`) is
//! percent-encoded, so every name round-trips. `display(parse(s)) == s` for every
//! string `display` produces, and `parse(display(u)) == u` for every URI.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use crate::ids::ContentId;

/// Host names that are not devices.
pub const RESERVED_HOSTS: [&str; 2] = ["content", "cloud"];

const SCHEME: &str = "sd://";

/// A parsed `sd://` URI.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum SdUri {
    /// A path on a device: `sd://<device>/<location>/<path>`. `path` is every byte
    /// after the device, decoded, starting with `/` unless empty.
    Device { device: String, path: Vec<u8> },
    /// Content by identity: `sd://content/<uuid>`.
    Content { id: ContentId },
    /// A path in a cloud volume: `sd://cloud/<volume>/<path>`.
    Cloud { volume: String, path: Vec<u8> },
}

/// Why a string is not a valid `sd://` URI.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UriError {
    /// The string does not start with `sd://`.
    #[error("not an sd:// URI: {0:?}")]
    Scheme(String),
    /// Nothing between `sd://` and the next `/`.
    #[error("sd:// URI without a device: {0:?}")]
    MissingHost(String),
    /// `sd://content/` not followed by exactly one UUID.
    #[error("sd://content/ must be followed by a content id (a UUID): {0:?}")]
    BadContentId(String),
    /// `sd://cloud` without a volume.
    #[error("sd://cloud/ must be followed by a volume: {0:?}")]
    MissingVolume(String),
    /// A `%` not followed by two hex digits.
    #[error("bad percent escape in {0:?}")]
    BadEscape(String),
    /// A device or volume name that is not UTF-8 after decoding.
    #[error("device and volume names must be UTF-8: {0:?}")]
    NonUtf8Host(String),
    /// `.` or `..` as a path component, or an empty component (`//`).
    #[error("{0:?}: paths may not contain '.', '..' or empty components")]
    BadComponent(String),
}

impl SdUri {
    /// A device URI from a location name and a path relative to it.
    pub fn device(device: &str, location: &[u8], rel_path: &[u8]) -> Self {
        let mut path = Vec::with_capacity(location.len() + rel_path.len() + 2);
        path.push(b'/');
        path.extend_from_slice(location);
        if !rel_path.is_empty() {
            path.push(b'/');
            path.extend_from_slice(rel_path);
        }
        SdUri::Device {
            device: device.to_owned(),
            path,
        }
    }

    /// For a device URI, the location name (first path component), if any.
    /// The URI of `path` inside the mount at `mount`:
    /// `<mount>/<device>/<location>/...` names the same file.
    pub fn in_mount(mount: &std::path::Path, path: &std::path::Path) -> Option<SdUri> {
        use std::os::unix::ffi::OsStrExt;
        let rest = path.strip_prefix(mount).ok()?;
        let mut parts = rest.iter();
        let device = parts.next().map(|d| d.as_bytes()).unwrap_or_default();
        let location = parts.next().map(|l| l.as_bytes()).unwrap_or_default();
        let rel: std::path::PathBuf = parts.collect();
        Some(SdUri::device(
            &String::from_utf8_lossy(device),
            location,
            rel.as_os_str().as_bytes(),
        ))
    }

    pub fn location(&self) -> Option<&[u8]> {
        match self {
            SdUri::Device { path, .. } => path.split(|&b| b == b'/').find(|c| !c.is_empty()),
            _ => None,
        }
    }

    /// For device URIs, the path below the location; for cloud URIs, the path in
    /// the volume. No leading or trailing slash; empty for the root.
    pub fn rel_path(&self) -> &[u8] {
        let trim = |p: &[u8]| -> usize { p.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1) };
        match self {
            SdUri::Device { path, .. } => {
                let rest = path.strip_prefix(b"/").unwrap_or(path);
                match rest.iter().position(|&b| b == b'/') {
                    Some(i) => {
                        let tail = &rest[i + 1..];
                        &tail[..trim(tail)]
                    }
                    None => &[],
                }
            }
            SdUri::Cloud { path, .. } => {
                let rest = path.strip_prefix(b"/").unwrap_or(path);
                &rest[..trim(rest)]
            }
            SdUri::Content { .. } => &[],
        }
    }

    /// Appends a child name to a device or cloud URI.
    pub fn join(&self, name: &[u8]) -> SdUri {
        let push = |path: &[u8]| {
            let mut out = path.to_vec();
            if !out.ends_with(b"/") {
                out.push(b'/');
            }
            out.extend_from_slice(name);
            out
        };
        match self {
            SdUri::Device { device, path } => SdUri::Device {
                device: device.clone(),
                path: push(path),
            },
            SdUri::Cloud { volume, path } => SdUri::Cloud {
                volume: volume.clone(),
                path: push(path),
            },
            SdUri::Content { .. } => self.clone(),
        }
    }
}

impl FromStr for SdUri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .strip_prefix(SCHEME)
            .ok_or_else(|| UriError::Scheme(s.to_owned()))?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if host.is_empty() {
            return Err(UriError::MissingHost(s.to_owned()));
        }
        let path = decode(path).ok_or_else(|| UriError::BadEscape(s.to_owned()))?;
        check_components(&path).map_err(|()| UriError::BadComponent(s.to_owned()))?;
        match host {
            "content" => {
                let id = path
                    .strip_prefix(b"/")
                    .and_then(|p| std::str::from_utf8(p).ok())
                    .and_then(|p| p.parse::<ContentId>().ok())
                    .ok_or_else(|| UriError::BadContentId(s.to_owned()))?;
                // Only the canonical hyphenated lowercase form round-trips.
                if format!("/{id}").as_bytes() != path.as_slice() {
                    return Err(UriError::BadContentId(s.to_owned()));
                }
                Ok(SdUri::Content { id })
            }
            "cloud" => {
                let rest = path.strip_prefix(b"/").unwrap_or(&path);
                let (volume, tail) = match rest.iter().position(|&b| b == b'/') {
                    Some(i) => (&rest[..i], &rest[i..]),
                    None => (rest, &[][..]),
                };
                if volume.is_empty() {
                    return Err(UriError::MissingVolume(s.to_owned()));
                }
                let volume = String::from_utf8(volume.to_vec())
                    .map_err(|_| UriError::NonUtf8Host(s.to_owned()))?;
                Ok(SdUri::Cloud {
                    volume,
                    path: tail.to_vec(),
                })
            }
            _ => {
                let host = decode(host).ok_or_else(|| UriError::BadEscape(s.to_owned()))?;
                let device =
                    String::from_utf8(host).map_err(|_| UriError::NonUtf8Host(s.to_owned()))?;
                Ok(SdUri::Device { device, path })
            }
        }
    }
}

impl fmt::Display for SdUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SCHEME)?;
        match self {
            SdUri::Device { device, path } => {
                encode(device.as_bytes(), true, f)?;
                encode(path, false, f)
            }
            SdUri::Content { id } => write!(f, "content/{id}"),
            SdUri::Cloud { volume, path } => {
                f.write_str("cloud/")?;
                encode(volume.as_bytes(), true, f)?;
                encode(path, false, f)
            }
        }
    }
}

fn check_components(path: &[u8]) -> Result<(), ()> {
    let inner = path.strip_prefix(b"/").unwrap_or(path);
    let inner = inner.strip_suffix(b"/").unwrap_or(inner);
    if inner.is_empty() {
        return Ok(());
    }
    for component in inner.split(|&b| b == b'/') {
        if component.is_empty() || component == b"." || component == b".." || component.contains(&0)
        {
            return Err(());
        }
    }
    Ok(())
}

fn decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

fn encode(bytes: &[u8], is_host: bool, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut rest = bytes;
    while !rest.is_empty() {
        let (valid, invalid) = match std::str::from_utf8(rest) {
            Ok(s) => (s, &[][..]),
            Err(e) => {
                let (ok, bad) = rest.split_at(e.valid_up_to());
                let bad_len = e.error_len().unwrap_or(bad.len());
                // SAFETY-free: `ok` was validated above.
                (std::str::from_utf8(ok).unwrap_or_default(), &bad[..bad_len])
            }
        };
        for c in valid.chars() {
            let escape =
                c == '%' || c == '?' || c == '#' || c.is_control() || (is_host && c == '/');
            if escape {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    write!(f, "%{b:02X}")?;
                }
            } else {
                f.write_char(c)?;
            }
        }
        for b in invalid {
            write!(f, "%{b:02X}")?;
        }
        rest = &rest[valid.len() + invalid.len()..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_three_forms_parse_and_print_back_unchanged() {
        for s in [
            "sd://laptop/Documents/report.pdf",
            "sd://laptop",
            "sd://laptop/Documents",
            "sd://laptop/Documents/",
            "sd://5f0c8a7e-31a4-4d2b-9a43-2a0f3e8b9c11/Photos/2024/a b.jpg",
            "sd://content/6ba7b810-9dad-11d1-80b4-00c04fd430c8",
            "sd://cloud/bucket-eu/backups/x.tar",
            "sd://cloud/bucket-eu",
            "sd://laptop/Docs/caf%E9.txt",
            "sd://laptop/Docs/100%25",
            "sd://laptop/Docs/caf\u{e9}.txt",
        ] {
            let uri: SdUri = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(uri.to_string(), s);
        }
    }

    #[test]
    fn parts_are_what_they_seem() {
        let uri: SdUri = "sd://nas/Photos/2024/caf%E9.jpg".parse().expect("parse");
        assert_eq!(uri.location(), Some(&b"Photos"[..]));
        assert_eq!(uri.rel_path(), b"2024/caf\xe9.jpg");
        let root: SdUri = "sd://nas/Photos/".parse().expect("parse");
        assert_eq!(root.rel_path(), b"");
        assert_eq!(
            SdUri::device("nas", b"Photos", b"a/b").to_string(),
            "sd://nas/Photos/a/b"
        );
    }

    #[test]
    fn malformed_uris_get_clear_errors() {
        let err = |s: &str| s.parse::<SdUri>().expect_err(s);
        assert!(matches!(err("http://x/y"), UriError::Scheme(_)));
        assert!(matches!(err("sd:///x"), UriError::MissingHost(_)));
        assert!(matches!(
            err("sd://content/not-a-uuid"),
            UriError::BadContentId(_)
        ));
        assert!(matches!(
            err("sd://content/6ba7b810-9dad-11d1-80b4-00c04fd430c8/x"),
            UriError::BadContentId(_)
        ));
        assert!(matches!(err("sd://cloud"), UriError::MissingVolume(_)));
        assert!(matches!(err("sd://laptop/a/%zz"), UriError::BadEscape(_)));
        assert!(matches!(err("sd://laptop/a/%4"), UriError::BadEscape(_)));
        assert!(matches!(
            err("sd://laptop/a/../etc"),
            UriError::BadComponent(_)
        ));
        assert!(matches!(err("sd://laptop/a//b"), UriError::BadComponent(_)));
        assert!(matches!(err("sd://lap%FFtop/a"), UriError::NonUtf8Host(_)));
        assert!(err("sd://laptop/a/../etc").to_string().contains(".."));
    }

    fn component() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(1u8..=255, 1..12).prop_filter("no separators or dot names", |c| {
            !c.contains(&b'/') && c != b"." && c != b".."
        })
    }

    proptest! {
        #[test]
        fn any_byte_path_round_trips(
            device in "[a-zA-Z0-9 _%?#\u{e9}-]{1,12}",
            location in component(),
            rest in proptest::collection::vec(component(), 0..4),
        ) {
            prop_assume!(!RESERVED_HOSTS.contains(&device.as_str()));
            let uri = SdUri::device(&device, &location, &rest.join(&b'/'));
            let text = uri.to_string();
            let parsed: SdUri = text.parse().expect("printed URIs parse");
            prop_assert_eq!(&parsed, &uri);
            prop_assert_eq!(parsed.to_string(), text);
            prop_assert_eq!(parsed.location(), Some(location.as_slice()));
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(s in "sd://\\PC{0,40}") {
            if let Ok(uri) = s.parse::<SdUri>() {
                let again: SdUri = uri.to_string().parse().expect("reparse");
                prop_assert_eq!(again, uri);
            }
        }
    }
}
