//! What a file's own bytes say about it, for the index (in the library,
//! never beside the file): the start of plain text, Markdown, source code
//! and configuration files on this device, the text of office documents
//! (docx, odt, xlsx, ods, pptx, odp), the text of PDFs, and when and with
//! what camera a photo was taken (EXIF).

use std::io::Read;
use std::path::Path;

use sdfs_core::kind::FileKind;
use sdfs_core::model::extract::ExtractRecord;

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

/// Everything the file at `path` says about itself: its text (plain or
/// office) and, for a photo, when and with what camera it was taken.
pub fn what_it_says(path: &Path, kind: FileKind, name: &[u8], size: u64) -> ExtractRecord {
    if size == 0 {
        // An empty file says nothing: not even opened.
        return ExtractRecord::default();
    }
    let text = text_of(path, kind, size)
        .or_else(|| office_text_of(path, name))
        .or_else(|| pdf_text_of(path, name, size));
    let photo = photo_of(path, kind).unwrap_or_default();
    ExtractRecord {
        text,
        taken: photo.taken,
        camera: photo.camera,
    }
    .bounded()
}

/// A PDF larger than this is not parsed (it is loaded whole).
pub const MAX_PDF: u64 = 32 * 1024 * 1024;
/// Pages of a PDF read for its text at most.
const PDF_PAGES: usize = 20;

/// The text of a PDF's first pages, its whitespace collapsed. A PDF the
/// parser cannot read, or panics on, says nothing.
pub fn pdf_text_of(path: &Path, name: &[u8], size: u64) -> Option<String> {
    let ext = name.rsplit(|b| *b == b'.').next()?;
    if !ext.eq_ignore_ascii_case(b"pdf") || size > MAX_PDF {
        return None;
    }
    let parse = || -> Option<String> {
        let doc = lopdf::Document::load(path).ok()?;
        let pages: Vec<u32> = doc.get_pages().into_keys().take(PDF_PAGES).collect();
        doc.extract_text(&pages).ok()
    };
    // A parser of untrusted bytes may panic: the file says nothing, and
    // indexing goes on.
    let text = std::panic::catch_unwind(parse).ok()??;
    // Bounded with the rest of what the file says.
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!words.is_empty()).then_some(words)
}

/// XML parts of an office document that hold its text, by extension.
fn text_parts(ext: &str) -> Option<&'static [&'static str]> {
    Some(match ext {
        "docx" => &["word/document.xml"],
        "xlsx" => &["xl/sharedStrings.xml"],
        "pptx" => &["ppt/slides/slide"],
        "odt" | "ods" | "odp" => &["content.xml"],
        _ => return None,
    })
}

/// The text of an office document (a zip of XML parts), at most
/// [`MAX_TEXT`] bytes of it.
pub fn office_text_of(path: &Path, name: &[u8]) -> Option<String> {
    let ext = std::str::from_utf8(name.rsplit(|b| *b == b'.').next()?)
        .ok()?
        .to_ascii_lowercase();
    let parts = text_parts(&ext)?;
    let file = std::fs::File::open(path).ok()?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file)).ok()?;
    let mut names: Vec<String> = archive
        .file_names()
        .filter(|n| parts.iter().any(|p| n.starts_with(p)) && n.ends_with(".xml"))
        .map(str::to_owned)
        .collect();
    names.sort();
    let mut out = String::new();
    for name in names {
        let mut xml = Vec::new();
        let part = archive.by_name(&name).ok()?;
        // A part that inflates past what we keep is cut, not read whole.
        part.take(4 * MAX_TEXT).read_to_end(&mut xml).ok()?;
        xml_text(&String::from_utf8_lossy(&xml), &mut out);
        if out.len() as u64 >= MAX_TEXT {
            break;
        }
    }
    let cut = (0..=out.len().min(MAX_TEXT as usize))
        .rev()
        .find(|i| out.is_char_boundary(*i))
        .unwrap_or(0);
    out.truncate(cut);
    (!out.trim().is_empty()).then_some(out)
}

/// The character data of `xml`, with a space where an element ends (so
/// paragraphs and cells do not run together), entities decoded.
fn xml_text(xml: &str, out: &mut String) {
    let mut rest = xml;
    while let Some(open) = rest.find('<') {
        push_decoded(&rest[..open], out);
        let Some(close) = rest[open..].find('>') else {
            return;
        };
        if rest[open..].starts_with("</") && !out.ends_with(' ') {
            out.push(' ');
        }
        rest = &rest[open + close + 1..];
    }
    push_decoded(rest, out);
}

fn push_decoded(text: &str, out: &mut String) {
    if !text.contains('&') {
        out.push_str(text);
        return;
    }
    out.push_str(
        &text
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    );
}

/// What a photo's EXIF says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Photo {
    /// When it was taken, unix seconds: the camera's clock, read as UTC
    /// unless the photo records its offset from UTC.
    pub taken: Option<i64>,
    /// Make and model, as the camera names itself.
    pub camera: Option<String>,
}

/// The EXIF of the image at `path`, if it has any.
pub fn photo_of(path: &Path, kind: FileKind) -> Option<Photo> {
    if kind != FileKind::Image {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    let exif = exif::Reader::new()
        .read_from_container(&mut std::io::BufReader::new(file))
        .ok()?;
    let text = |tag| {
        let field = exif.get_field(tag, exif::In::PRIMARY)?;
        match &field.value {
            exif::Value::Ascii(parts) => parts
                .first()
                .map(|p| String::from_utf8_lossy(p).trim().to_owned())
                .filter(|t| !t.is_empty()),
            _ => None,
        }
    };
    let offset = text(exif::Tag::OffsetTimeOriginal).and_then(|o| parse_offset(&o));
    let taken = text(exif::Tag::DateTimeOriginal)
        .or_else(|| text(exif::Tag::DateTime))
        .and_then(|t| parse_exif_time(&t))
        .map(|naive| naive - offset.unwrap_or(0));
    let camera = match (text(exif::Tag::Make), text(exif::Tag::Model)) {
        // Models often repeat the make ("Canon" / "Canon EOS R5").
        (Some(make), Some(model)) if model.starts_with(&make) => Some(model),
        (Some(make), Some(model)) => Some(format!("{make} {model}")),
        (make, model) => make.or(model),
    };
    let photo = Photo { taken, camera };
    (photo != Photo::default()).then_some(photo)
}

/// `YYYY:MM:DD HH:MM:SS` as seconds since the epoch, read as UTC.
fn parse_exif_time(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let date = crate::calendar::valid_date(
        i32::try_from(y).ok()?,
        u32::try_from(mo).ok()?,
        u32::try_from(d).ok()?,
    )?;
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(crate::calendar::days_from_civil(date) * 86_400 + h * 3600 + mi * 60 + s)
}

/// `+02:00` as seconds east of UTC.
fn parse_offset(text: &str) -> Option<i64> {
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let h: i64 = text.get(1..3)?.parse().ok()?;
    let m: i64 = text.get(4..6)?.parse().ok()?;
    Some(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip holding `part` with `xml`, as an office document is.
    fn office(path: &Path, part: &str, xml: &str) {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::fs::File::create(path).expect("create"));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file(part, options).expect("part");
        zip.write_all(xml.as_bytes()).expect("xml");
        zip.finish().expect("finish");
    }

    #[test]
    fn pdfs_give_their_text_and_a_broken_one_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let pdf = dir.path().join("Manual.PDF");
        let mut bytes = sdfs_tests::pdf_with_text(&["Descaling the kettle", "(every 3 months)"]);
        // Bytes after the end (a scanner's stamp) change nothing.
        bytes.extend_from_slice(b"% scanned 2024\n");
        std::fs::write(&pdf, &bytes).expect("write");
        let size = bytes.len() as u64;
        let text = pdf_text_of(&pdf, b"Manual.PDF", size).expect("text");
        assert_eq!(text, "Descaling the kettle (every 3 months)");
        let said = what_it_says(&pdf, FileKind::Document, b"Manual.PDF", size);
        assert_eq!(said.text.as_deref(), Some(text.as_str()));
        // Not a PDF by name: not parsed.
        assert!(pdf_text_of(&pdf, b"Manual.txt", size).is_none());
        // Cut short, or garbage: nothing, and no panic.
        for broken in [
            &bytes[..bytes.len() / 2],
            b"%PDF-1.7\n% nothing else".as_slice(),
        ] {
            std::fs::write(&pdf, broken).expect("write");
            assert!(pdf_text_of(&pdf, b"Manual.PDF", broken.len() as u64).is_none());
        }
    }

    #[test]
    fn office_documents_give_their_text() {
        let dir = tempfile::tempdir().expect("tmp");
        let docx = dir.path().join("Letter.docx");
        office(
            &docx,
            "word/document.xml",
            "<w:document><w:body><w:p><w:r><w:t>Dear landlord</w:t></w:r></w:p>\
             <w:p><w:r><w:t>rent &amp; deposit</w:t></w:r></w:p></w:body></w:document>",
        );
        let text = office_text_of(&docx, b"Letter.docx").expect("text");
        assert!(text.contains("Dear landlord rent & deposit"), "{text:?}");
        let ods = dir.path().join("budget.ods");
        office(
            &ods,
            "content.xml",
            "<office:document-content><table:table-cell><text:p>groceries</text:p>\
             </table:table-cell><table:table-cell><text:p>120</text:p></table:table-cell>\
             </office:document-content>",
        );
        assert!(
            office_text_of(&ods, b"budget.ods")
                .expect("text")
                .contains("groceries 120")
        );
        // Not a zip, or not an office document: nothing.
        let fake = dir.path().join("fake.docx");
        std::fs::write(&fake, "plain").expect("write");
        assert_eq!(office_text_of(&fake, b"fake.docx"), None);
        assert_eq!(office_text_of(&docx, b"Letter.zip"), None);
    }

    #[test]
    fn exif_times_and_offsets_parse_and_nonsense_does_not() {
        assert_eq!(parse_exif_time("1970:01:02 00:00:01"), Some(86_401));
        assert_eq!(parse_exif_time("2023:02:29 10:00:00"), None);
        assert_eq!(parse_exif_time("0000:00:00 00:00:00"), None);
        assert_eq!(parse_exif_time("garbage"), None);
        assert_eq!(parse_offset("+02:00"), Some(7200));
        assert_eq!(parse_offset("-05:30"), Some(-19_800));
        assert_eq!(parse_offset("02:00"), None);
    }

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
