//! File kinds: what a file is, from its magic bytes first and its extension second.

use serde::{Deserialize, Serialize};

/// The categories of SPEC §2's content identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum FileKind {
    Unknown = 0,
    Image = 1,
    Video = 2,
    Audio = 3,
    Document = 4,
    Book = 5,
    Code = 6,
    Config = 7,
    Database = 8,
    Archive = 9,
    Executable = 10,
    Font = 11,
    Mesh = 12,
    Encrypted = 13,
    Key = 14,
    Text = 15,
}

impl FileKind {
    /// All kinds, in code order.
    pub const ALL: [FileKind; 16] = [
        Self::Unknown,
        Self::Image,
        Self::Video,
        Self::Audio,
        Self::Document,
        Self::Book,
        Self::Code,
        Self::Config,
        Self::Database,
        Self::Archive,
        Self::Executable,
        Self::Font,
        Self::Mesh,
        Self::Encrypted,
        Self::Key,
        Self::Text,
    ];

    /// The stable one-byte code stored in the database.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Inverse of [`Self::code`]; unknown codes (from a newer peer) map to `Unknown`.
    pub fn from_code(code: u8) -> Self {
        Self::ALL
            .get(code as usize)
            .copied()
            .unwrap_or(Self::Unknown)
    }

    /// Lowercase name, as shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Document => "document",
            Self::Book => "book",
            Self::Code => "code",
            Self::Config => "config",
            Self::Database => "database",
            Self::Archive => "archive",
            Self::Executable => "executable",
            Self::Font => "font",
            Self::Mesh => "mesh",
            Self::Encrypted => "encrypted",
            Self::Key => "key",
            Self::Text => "text",
        }
    }
}

/// Classifies a file from its name and its first bytes (`head`, may be empty).
pub fn classify(name: &[u8], head: &[u8]) -> FileKind {
    if let Some(kind) = by_magic(head) {
        // Office documents are zips: the zip says container, the name
        // says which.
        if kind == FileKind::Archive && head.starts_with(b"PK\x03\x04") {
            let ext = extension(name);
            if ext.as_deref().and_then(by_extension) == Some(FileKind::Document) {
                return FileKind::Document;
            }
        }
        return kind;
    }
    if let Some(ext) = extension(name) {
        // `.ts` is TypeScript as often as an MPEG transport stream; a
        // stream is binary (it would have matched no magic but its own).
        if ext == "ts" && !head.is_empty() && looks_like_text(head) {
            return FileKind::Code;
        }
        if let Some(kind) = by_extension(&ext) {
            return kind;
        }
    }
    if !head.is_empty() && looks_like_text(head) {
        return FileKind::Text;
    }
    FileKind::Unknown
}

fn extension(name: &[u8]) -> Option<String> {
    let dot = name.iter().rposition(|&b| b == b'.')?;
    if dot == 0 && !name[1..].contains(&b'.') {
        // A dotfile such as `.bashrc` is named, not extended; treat the name as the extension.
        return std::str::from_utf8(&name[1..])
            .ok()
            .map(str::to_ascii_lowercase);
    }
    std::str::from_utf8(&name[dot + 1..])
        .ok()
        .map(str::to_ascii_lowercase)
}

fn by_magic(head: &[u8]) -> Option<FileKind> {
    use FileKind::*;
    let starts = |magic: &[u8]| head.starts_with(magic);
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    let kind = if starts(b"\x89PNG\r\n\x1a\n")
        || starts(b"\xff\xd8\xff")
        || starts(b"GIF87a")
        || starts(b"GIF89a")
        || (starts(b"RIFF") && at(8, b"WEBP"))
        || starts(b"II*\0")
        || starts(b"MM\0*")
        || (at(4, b"ftyp")
            && (at(8, b"heic") || at(8, b"heix") || at(8, b"avif") || at(8, b"mif1")))
    {
        Image
    } else if at(4, b"ftyp") || (starts(b"RIFF") && at(8, b"AVI ")) || starts(b"\x1a\x45\xdf\xa3") {
        Video
    } else if starts(b"ID3")
        || starts(b"fLaC")
        || starts(b"OggS")
        || (starts(b"RIFF") && at(8, b"WAVE"))
        || mpeg_audio_frame(head)
    {
        Audio
    } else if starts(b"%PDF-") {
        Document
    } else if starts(b"SQLite format 3\0") {
        Database
    } else if starts(b"PK\x03\x04") && head.windows(20).any(|w| w == b"application/epub+zip") {
        Book
    } else if starts(b"PK\x03\x04")
        || starts(b"\x1f\x8b")
        || starts(b"7z\xbc\xaf\x27\x1c")
        || starts(b"\xfd7zXZ\0")
        || starts(b"BZh")
        || starts(b"\x28\xb5\x2f\xfd")
        || starts(b"Rar!\x1a\x07")
        || at(257, b"ustar")
    {
        Archive
    } else if starts(b"\x7fELF")
        || starts(b"MZ")
        || starts(b"\xcf\xfa\xed\xfe")
        || starts(b"\xce\xfa\xed\xfe")
        || starts(b"\xca\xfe\xba\xbe")
        || starts(b"\0asm")
    {
        Executable
    } else if starts(b"\0\x01\0\0")
        || starts(b"OTTO")
        || starts(b"wOFF")
        || starts(b"wOF2")
        || starts(b"ttcf")
    {
        Font
    } else if starts(b"glTF") || starts(b"ply\n") {
        Mesh
    } else if starts(b"age-encryption.org/v1")
        || starts(b"-----BEGIN PGP MESSAGE-----")
        || starts(b"\x85\x01\x0c")
        || starts(b"Salted__")
    {
        Encrypted
    } else if starts(b"-----BEGIN OPENSSH PRIVATE KEY-----")
        || (starts(b"-----BEGIN ") && head.windows(11).take(64).any(|w| w == b"PRIVATE KEY"))
        || starts(b"-----BEGIN CERTIFICATE-----")
        || starts(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
        || starts(b"-----BEGIN PGP PRIVATE KEY BLOCK-----")
        || starts(b"ssh-ed25519 ")
        || starts(b"ssh-rsa ")
    {
        Key
    } else {
        return None;
    };
    Some(kind)
}

/// An MPEG audio frame header (MP3 without an ID3 tag): the 11-bit sync,
/// then a version, layer, bitrate and sample rate that are not the
/// reserved values, so one byte pair of random data does not pass.
fn mpeg_audio_frame(head: &[u8]) -> bool {
    let [a, b, c, ..] = head else {
        return false;
    };
    let sync = *a == 0xff && b & 0xe0 == 0xe0;
    let version = (b >> 3) & 0b11;
    let layer = (b >> 1) & 0b11;
    let bitrate = c >> 4;
    let rate = (c >> 2) & 0b11;
    sync && version != 0b01 && layer != 0b00 && bitrate != 0b1111 && rate != 0b11
}

fn by_extension(ext: &str) -> Option<FileKind> {
    use FileKind::*;
    let kind = match ext {
        "png" | "jpg" | "jpeg" | "gif" | "webp" | "bmp" | "tif" | "tiff" | "heic" | "heif"
        | "avif" | "svg" | "ico" | "raw" | "cr2" | "nef" | "arw" | "dng" | "psd" | "xcf" => Image,
        "mp4" | "mkv" | "mov" | "avi" | "webm" | "m4v" | "wmv" | "flv" | "mpg" | "mpeg" | "3gp"
        | "ts" => Video,
        "mp3" | "flac" | "wav" | "ogg" | "opus" | "m4a" | "aac" | "wma" | "aiff" | "mid"
        | "midi" => Audio,
        "pdf" | "doc" | "docx" | "odt" | "rtf" | "xls" | "xlsx" | "ods" | "ppt" | "pptx"
        | "odp" | "pages" | "numbers" | "key" | "csv" | "tex" => Document,
        "epub" | "mobi" | "azw" | "azw3" | "fb2" | "djvu" | "cbz" | "cbr" => Book,
        "rs" | "c" | "h" | "cc" | "cpp" | "hpp" | "cxx" | "py" | "js" | "mjs" | "cjs" | "jsx"
        | "tsx" | "go" | "java" | "kt" | "swift" | "rb" | "php" | "cs" | "fs" | "scala" | "hs"
        | "ml" | "lua" | "pl" | "sh" | "bash" | "zsh" | "fish" | "ps1" | "sql" | "html" | "htm"
        | "css" | "scss" | "less" | "vue" | "svelte" | "zig" | "nim" | "dart" | "ex" | "exs"
        | "erl" | "clj" | "r" | "jl" | "m" | "asm" | "s" | "wasm" | "makefile" | "cmake"
        | "gradle" => Code,
        "json" | "toml" | "yaml" | "yml" | "ini" | "cfg" | "conf" | "xml" | "plist" | "env"
        | "properties" | "lock" | "editorconfig" | "gitignore" | "gitattributes" | "bashrc"
        | "zshrc" | "profile" | "service" => Config,
        "db" | "sqlite" | "sqlite3" | "redb" | "mdb" | "accdb" | "parquet" | "realm" => Database,
        "zip" | "tar" | "gz" | "tgz" | "bz2" | "xz" | "zst" | "7z" | "rar" | "lz4" | "lzma"
        | "cab" | "iso" | "dmg" | "deb" | "rpm" | "jar" | "apk" => Archive,
        // Not `bin`: it names any binary data (firmware, disk images, dumps,
        // random test data); an executable among them is known by its magic.
        "exe" | "dll" | "so" | "dylib" | "elf" | "app" | "msi" | "com" | "o" | "a" => Executable,
        "ttf" | "otf" | "woff" | "woff2" | "ttc" | "fon" => Font,
        "obj" | "stl" | "fbx" | "gltf" | "glb" | "ply" | "3ds" | "dae" | "blend" | "usdz"
        | "usd" => Mesh,
        "gpg" | "pgp" | "age" | "enc" | "aes" | "kdbx" | "vc" | "hc" => Encrypted,
        "pem" | "crt" | "cer" | "der" | "p12" | "pfx" | "pub" | "asc" | "keystore" | "jks" => Key,
        "txt" | "md" | "markdown" | "rst" | "log" | "nfo" | "org" | "adoc" => Text,
        _ => return None,
    };
    Some(kind)
}

fn looks_like_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut at the end of the sample is still text.
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_win_over_a_lying_extension() {
        assert_eq!(
            classify(b"photo.txt", b"\x89PNG\r\n\x1a\n...."),
            FileKind::Image
        );
        assert_eq!(
            classify(b"notes.pdf", b"SQLite format 3\0rest"),
            FileKind::Database
        );
        assert_eq!(classify(b"a.out", b"\x7fELF\x02\x01"), FileKind::Executable);
    }

    #[test]
    fn extension_decides_when_magic_is_silent() {
        assert_eq!(classify(b"main.rs", b"fn main() {}"), FileKind::Code);
        assert_eq!(classify(b"Cargo.TOML", b"[package]"), FileKind::Config);
        assert_eq!(classify(b".bashrc", b"export A=1"), FileKind::Config);
        assert_eq!(classify(b"book.epub", b""), FileKind::Book);
        assert_eq!(classify(b"model.stl", b"solid x"), FileKind::Mesh);
        assert_eq!(classify(b"id.pem", b""), FileKind::Key);
    }

    #[test]
    fn office_documents_are_documents_though_they_are_zips() {
        for name in ["report.docx", "sheet.XLSX", "talk.pptx", "letter.odt"] {
            assert_eq!(
                classify(name.as_bytes(), b"PK\x03\x04\x14\0\0\0"),
                FileKind::Document,
                "{name}"
            );
        }
        assert_eq!(classify(b"photos.zip", b"PK\x03\x04"), FileKind::Archive);
        assert_eq!(classify(b"notes.txt", b"PK\x03\x04"), FileKind::Archive);
    }

    #[test]
    fn typescript_is_code_and_a_transport_stream_video() {
        assert_eq!(
            classify(b"app.ts", b"export function main() {}\n"),
            FileKind::Code
        );
        let mut stream = vec![0x47, 0x40, 0x00, 0x10];
        stream.extend([0xffu8; 184]);
        stream.push(0x47);
        assert_eq!(classify(b"clip.ts", &stream), FileKind::Video);
    }

    #[test]
    fn text_and_binary_without_hints() {
        assert_eq!(classify(b"README", b"hello world\n"), FileKind::Text);
        assert_eq!(classify(b"blob", b"\x00\x01\x02\x03"), FileKind::Unknown);
        assert_eq!(
            classify(b"caf\xe9", "caf\u{e9} au lait".as_bytes()),
            FileKind::Text
        );
        assert_eq!(
            classify(b"k", b"-----BEGIN RSA PRIVATE KEY-----\n"),
            FileKind::Key
        );
        assert_eq!(
            classify(b"secret", b"age-encryption.org/v1\n"),
            FileKind::Encrypted
        );
    }

    #[test]
    fn codes_round_trip() {
        for kind in FileKind::ALL {
            assert_eq!(FileKind::from_code(kind.code()), kind);
        }
        assert_eq!(FileKind::from_code(200), FileKind::Unknown);
    }

    #[test]
    fn random_bytes_are_no_executable_and_no_audio() {
        // xorshift: bytes with no structure, as a test or a dump writes them.
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let random: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert_eq!(classify(b"random.bin", &random), FileKind::Unknown);
        assert_eq!(
            classify(b"firmware.bin", b"\x7fELF\x02\x01"),
            FileKind::Executable
        );
        // The MPEG sync alone is not audio; a real frame header is.
        assert_eq!(classify(b"x.bin", b"\xff\xe0\xf0\x00"), FileKind::Unknown);
        assert_eq!(classify(b"song", b"\xff\xfb\x90\x64"), FileKind::Audio);
    }
}
