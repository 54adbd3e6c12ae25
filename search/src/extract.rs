//! Text a file's words can be found by, besides its name: for now the
//! start of plain text, Markdown, source code and configuration files on
//! this device. It goes into the index (in the library), never beside the
//! file. PDF, office documents and photos' EXIF come next.

use std::io::Read;
use std::path::Path;

use sdfs_core::kind::FileKind;

/// Bytes of a file read for its text at most.
pub const MAX_TEXT: u64 = 64 * 1024;

/// The text of the file at `path`, if its kind is text and its bytes look
/// like text (no NUL in what is read).
pub fn text_of(path: &Path, kind: FileKind, size: u64) -> Option<String> {
    if size == 0 || !matches!(kind, FileKind::Text | FileKind::Code | FileKind::Config) {
        return None;
    }
    let mut bytes = Vec::with_capacity(size.min(MAX_TEXT) as usize);
    std::fs::File::open(path)
        .ok()?
        .take(MAX_TEXT)
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.contains(&0) {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_read_and_binary_is_not() {
        let dir = tempfile::tempdir().expect("tmp");
        let notes = dir.path().join("notes.md");
        std::fs::write(&notes, "# Packing\ntowel, sunscreen").expect("write");
        let text = text_of(&notes, FileKind::Text, 26).expect("text");
        assert!(text.contains("sunscreen"));
        let blob = dir.path().join("data.txt");
        std::fs::write(&blob, b"ab\0cd").expect("write");
        assert_eq!(text_of(&blob, FileKind::Text, 5), None);
        assert_eq!(text_of(&notes, FileKind::Image, 26), None);
        let big = dir.path().join("big.log");
        std::fs::write(&big, "x".repeat(200_000)).expect("write");
        let read = text_of(&big, FileKind::Text, 200_000).expect("text");
        assert_eq!(read.len() as u64, MAX_TEXT);
    }
}
