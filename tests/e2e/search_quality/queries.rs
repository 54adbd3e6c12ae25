//! The queries: what a person types, how it should be read at
//! [`super::corpus::NOW`] (the lines `sd search --explain` prints), and
//! which files a person means by it, judged from what each file is.

use super::corpus::{Entry, Kind, midnight, noon};

pub struct Case {
    pub query: &'static str,
    /// The expected parse, as `--explain` prints it.
    pub parse: &'static [&'static str],
    /// Whether a file is one the query asks for.
    pub relevant: fn(&Entry) -> bool,
}

/// Within [from, to), of days given as (year, month, day).
fn within(t: i64, from: (i32, u32, u32), to: (i32, u32, u32)) -> bool {
    t >= midnight(from.0, from.1, from.2) && t < midnight(to.0, to.1, to.2)
}

impl Entry {
    fn modified_within(&self, from: (i32, u32, u32), to: (i32, u32, u32)) -> bool {
        within(self.modified, from, to)
    }

    fn taken_within(&self, from: (i32, u32, u32), to: (i32, u32, u32)) -> bool {
        self.taken.is_some_and(|t| within(t, from, to))
    }

    /// A bare time phrase: any of the file's times.
    fn any_within(&self, from: (i32, u32, u32), to: (i32, u32, u32)) -> bool {
        self.modified_within(from, to) || self.taken_within(from, to)
    }

    fn year(&self, y: i32) -> bool {
        self.any_within((y, 1, 1), (y + 1, 1, 1))
    }

    fn is(&self, topic: &str, subject: &str) -> bool {
        self.topic == topic && self.subject == subject
    }

    fn about(&self, subject: &str) -> bool {
        self.subject == subject
    }

    /// About taxes: what is filed under Taxes/, and scanned tax letters.
    fn is_tax(&self) -> bool {
        self.path_lower().starts_with("taxes/") || self.is("scan", "tax letter")
    }

    fn tagged(&self, tag: &str) -> bool {
        let below: &[&str] = match tag {
            "tax" => &["tax", "receipts"],
            "holiday" => &["holiday", "italy", "beach"],
            other => return self.tags.contains(&other),
        };
        self.tags.iter().any(|t| below.contains(t))
    }
}

macro_rules! case {
    ($query:literal, [$($parse:literal),* $(,)?], |$e:ident| $relevant:expr) => {
        Case {
            query: $query,
            parse: &[$($parse),*],
            relevant: |$e: &Entry| $relevant,
        }
    };
}

pub fn all() -> Vec<Case> {
    use Kind::*;
    vec![
        // Names and folders.
        case!("invoice acme", ["text: invoice, acme"], |e| e
            .is("invoice", "Acme")),
        case!("acme", ["text: acme"], |e| e.about("Acme")),
        case!("globex contract", ["text: globex, contract"], |e| e
            .is("contract", "Globex")),
        case!("tax return", ["text: tax, return"], |e| e
            .is("tax", "return")),
        case!("w-2", ["text: w-2"], |e| e.is("tax", "w-2")),
        case!("receipt ikea", ["text: receipt, ikea"], |e| e
            .is("receipt", "Ikea")),
        case!("resume", ["text: resume"], |e| e.topic == "resume"),
        case!("lasagna", ["text: lasagna"], |e| e.is("recipe", "lasagna")),
        case!("risotto recipe", ["text: risotto, recipe"], |e| e
            .is("recipe", "risotto")),
        case!("meeting apollo", ["text: meeting, apollo"], |e| e
            .is("meeting", "Apollo")),
        case!("quarterly report", ["text: quarterly, report"], |e| e.topic
            == "report"),
        case!("dune", ["text: dune"], |e| e.is("book", "Dune")),
        case!("radiohead", ["text: radiohead"], |e| e
            .is("song", "Radiohead")),
        case!("daft punk", ["text: daft, punk"], |e| e
            .is("song", "Daft Punk")),
        case!("screenshot", ["text: screenshot"], |e| e.topic
            == "screenshot"),
        case!("paris", ["text: paris"], |e| e.about("Paris")),
        case!("italy", ["text: italy"], |e| e.about("Italy")),
        case!("wedding", ["text: wedding"], |e| e.about("Wedding")),
        case!("ski trip", ["text: ski, trip"], |e| e.about("Ski trip")),
        case!("insurance", ["text: insurance"], |e| e
            .is("scan", "insurance")),
        case!("bank statement", ["text: bank, statement"], |e| e
            .is("scan", "bank statement")),
        case!("router manual", ["text: router, manual"], |e| e
            .is("manual", "router")),
        case!("laptop backup", ["text: laptop, backup"], |e| e
            .is("backup", "laptop")),
        case!("parser", ["text: parser"], |e| e
            .name()
            .starts_with("parser.")),
        case!("invoicer", ["text: invoicer"], |e| e.topic != "invoice"
            && e.about("invoicer")),
        case!("readme", ["text: readme"], |e| e.topic == "readme"),
        case!("flight booking", ["text: flight, booking"], |e| e.name()
            == "flight booking.pdf"),
        case!("concert tickets", ["text: concert, tickets"], |e| e.name()
            == "concert tickets.pdf"),
        case!("todo", ["text: todo"], |e| e.name() == "todo.txt"),
        case!("shopping list", ["text: shopping, list"], |e| e.name()
            == "shopping list.txt"),
        case!("invoices", ["text: invoices"], |e| e.topic == "invoice"),
        case!("receipts", ["text: receipts"], |e| e.topic == "receipt"),
        case!("contracts", ["text: contracts"], |e| e.topic == "contract"),
        case!("screenshots", ["text: screenshots"], |e| e.topic
            == "screenshot"),
        case!("manuals", ["text: manuals"], |e| e.topic == "manual"),
        // Kinds.
        case!("photos", ["kinds: image"], |e| e.kind == Image),
        case!("videos", ["kinds: video"], |e| e.kind == Video),
        case!("music", ["kinds: audio"], |e| e.kind == Audio),
        case!("code", ["kinds: code"], |e| e.kind == Code),
        case!("archives", ["kinds: archive"], |e| e.kind == Archive),
        case!("documents", ["kinds: document"], |e| e.kind == Document),
        case!("books", ["kinds: book"], |e| e.kind == Book),
        case!("pictures of paris", ["text: paris", "kinds: image"], |e| e
            .kind
            == Image
            && e.about("Paris")),
        case!(
            "videos of the beach",
            ["text: beach", "kinds: video"],
            |e| e.kind == Video && e.about("Beach")
        ),
        case!(
            "songs by nina simone",
            ["text: nina, simone", "kinds: audio"],
            |e| e.is("song", "Nina Simone")
        ),
        case!("code in sdfs", ["kinds: code", "folders: sdfs"], |e| e.kind
            == Code
            && e.about("sdfs")),
        case!("notes about apollo", ["text: apollo", "kinds: text"], |e| e
            .is("meeting", "Apollo")),
        case!("wedding videos", ["text: wedding", "kinds: video"], |e| e
            .kind
            == Video
            && e.about("Wedding")),
        case!("python code", ["kinds: code", "extensions: py"], |e| e
            .ext()
            == "py"),
        case!("spreadsheets", ["extensions: xlsx, xls, ods, csv"], |e| e
            .ext()
            == "xlsx"),
        // Times, at Monday 2026-06-15 12:00.
        case!(
            "tax documents from last year",
            [
                "text: tax",
                "kinds: document",
                "time: any time from 2025-01-01 to before 2026-01-01 (ranks)"
            ],
            |e| e.kind == Document && e.is_tax() && e.year(2025)
        ),
        case!(
            "invoices from 2024",
            [
                "text: invoices",
                "time: any time from 2024-01-01 to before 2025-01-01 (ranks)"
            ],
            |e| e.topic == "invoice" && e.year(2024)
        ),
        case!(
            "invoice 2025",
            [
                "text: invoice",
                "time: any time from 2025-01-01 to before 2026-01-01 (ranks)"
            ],
            |e| e.topic == "invoice" && e.year(2025)
        ),
        case!(
            "photos from last summer",
            [
                "kinds: image",
                "time: any time from 2025-06-01 to before 2025-09-01 (ranks)"
            ],
            |e| e.kind == Image && e.any_within((2025, 6, 1), (2025, 9, 1))
        ),
        case!(
            "photos taken in 2024",
            [
                "kinds: image",
                "time: taken from 2024-01-01 to before 2025-01-01 (filters)"
            ],
            |e| e.kind == Image && e.taken_within((2024, 1, 1), (2025, 1, 1))
        ),
        case!(
            "photos taken last year",
            [
                "kinds: image",
                "time: taken from 2025-01-01 to before 2026-01-01 (filters)"
            ],
            |e| e.kind == Image && e.taken_within((2025, 1, 1), (2026, 1, 1))
        ),
        case!(
            "videos from 2023",
            [
                "kinds: video",
                "time: any time from 2023-01-01 to before 2024-01-01 (ranks)"
            ],
            |e| e.kind == Video && e.year(2023)
        ),
        case!(
            "meeting notes from last week",
            [
                "text: meeting",
                "kinds: text",
                "time: any time from 2026-06-08 to before 2026-06-15 (ranks)"
            ],
            |e| e.topic == "meeting" && e.any_within((2026, 6, 8), (2026, 6, 15))
        ),
        case!(
            "yesterday",
            ["time: any time from 2026-06-14 to before 2026-06-15 (ranks)"],
            |e| e.any_within((2026, 6, 14), (2026, 6, 15))
        ),
        case!(
            "files from yesterday",
            ["time: any time from 2026-06-14 to before 2026-06-15 (ranks)"],
            |e| e.any_within((2026, 6, 14), (2026, 6, 15))
        ),
        case!(
            "today",
            ["time: any time from 2026-06-15 to before 2026-06-16 (ranks)"],
            |e| e.any_within((2026, 6, 15), (2026, 6, 16))
        ),
        case!(
            "3 days ago",
            ["time: any time from 2026-06-12 to before 2026-06-13 (ranks)"],
            |e| e.any_within((2026, 6, 12), (2026, 6, 13))
        ),
        case!(
            "documents from last month",
            [
                "kinds: document",
                "time: any time from 2026-05-01 to before 2026-06-01 (ranks)"
            ],
            |e| e.kind == Document && e.any_within((2026, 5, 1), (2026, 6, 1))
        ),
        case!(
            "screenshots from this year",
            [
                "text: screenshots",
                "time: any time from 2026-01-01 to before 2027-01-01 (ranks)"
            ],
            |e| e.topic == "screenshot" && e.year(2026)
        ),
        case!(
            "receipts from march 2023",
            [
                "text: receipts",
                "time: any time from 2023-03-01 to before 2023-04-01 (ranks)"
            ],
            |e| e.topic == "receipt" && e.any_within((2023, 3, 1), (2023, 4, 1))
        ),
        case!(
            "receipts in 2021",
            [
                "text: receipts",
                "time: any time from 2021-01-01 to before 2022-01-01 (ranks)"
            ],
            |e| e.topic == "receipt" && e.year(2021)
        ),
        case!(
            "contracts from 2024",
            [
                "text: contracts",
                "time: any time from 2024-01-01 to before 2025-01-01 (ranks)"
            ],
            |e| e.topic == "contract" && e.year(2024)
        ),
        case!(
            "quarterly report 2023",
            [
                "text: quarterly, report",
                "time: any time from 2023-01-01 to before 2024-01-01 (ranks)"
            ],
            |e| e.topic == "report" && e.name().contains("2023")
        ),
        case!(
            "songs from 2019",
            [
                "kinds: audio",
                "time: any time from 2019-01-01 to before 2020-01-01 (ranks)"
            ],
            |e| e.kind == Audio && e.year(2019)
        ),
        case!(
            "photos between march and may",
            [
                "kinds: image",
                "time: any time from 2026-03-01 to before 2026-06-01 (ranks)"
            ],
            |e| e.kind == Image && e.any_within((2026, 3, 1), (2026, 6, 1))
        ),
        case!(
            "photos from christmas 2024",
            [
                "text: christmas",
                "kinds: image",
                "time: any time from 2024-01-01 to before 2025-01-01 (ranks)"
            ],
            |e| e.kind == Image && e.about("Christmas 2024")
        ),
        case!(
            "photos from last winter",
            [
                "kinds: image",
                "time: any time from 2025-12-01 to before 2026-03-01 (ranks)"
            ],
            |e| e.kind == Image && e.any_within((2025, 12, 1), (2026, 3, 1))
        ),
        case!(
            "photos from the ski trip",
            ["text: ski, trip", "kinds: image"],
            |e| e.kind == Image && e.about("Ski trip")
        ),
        case!(
            "hiking photos from last autumn",
            [
                "text: hiking",
                "kinds: image",
                "time: any time from 2025-09-01 to before 2025-12-01 (ranks)"
            ],
            |e| e.kind == Image && e.about("Hiking")
        ),
        case!(
            "italy photos from 2024",
            [
                "text: italy",
                "kinds: image",
                "time: any time from 2024-01-01 to before 2025-01-01 (ranks)"
            ],
            |e| e.kind == Image && e.about("Italy")
        ),
        case!(
            "wedding photos taken in september 2022",
            [
                "text: wedding",
                "kinds: image",
                "time: taken from 2022-09-01 to before 2022-10-01 (filters)"
            ],
            |e| e.kind == Image
                && e.about("Wedding")
                && e.taken_within((2022, 9, 1), (2022, 10, 1))
        ),
        case!(
            "invoices modified in 2025",
            [
                "text: invoices",
                "time: modified from 2025-01-01 to before 2026-01-01 (filters)"
            ],
            |e| e.topic == "invoice" && e.modified_within((2025, 1, 1), (2026, 1, 1))
        ),
        case!(
            "scans from 2020",
            [
                "text: scans",
                "time: any time from 2020-01-01 to before 2021-01-01 (ranks)"
            ],
            |e| e.topic == "scan" && e.year(2020)
        ),
        case!(
            "backups from last year",
            [
                "kinds: archive",
                "time: any time from 2025-01-01 to before 2026-01-01 (ranks)"
            ],
            |e| e.kind == Archive && e.year(2025)
        ),
        case!(
            "in 2022",
            ["time: any time from 2022-01-01 to before 2023-01-01 (ranks)"],
            |e| e.year(2022)
        ),
        case!(
            "last week",
            ["time: any time from 2026-06-08 to before 2026-06-15 (ranks)"],
            |e| e.any_within((2026, 6, 8), (2026, 6, 15))
        ),
        case!(
            "this month",
            ["time: any time from 2026-06-01 to before 2026-07-01 (ranks)"],
            |e| e.any_within((2026, 6, 1), (2026, 7, 1))
        ),
        case!(
            "photos this year",
            [
                "kinds: image",
                "time: any time from 2026-01-01 to before 2027-01-01 (ranks)"
            ],
            |e| e.kind == Image && e.year(2026)
        ),
        case!(
            "garden photos in may",
            [
                "text: garden",
                "kinds: image",
                "time: any time from 2026-05-01 to before 2026-06-01 (ranks)"
            ],
            |e| e.kind == Image && e.about("Garden")
        ),
        case!(
            "photos from october 2024",
            [
                "kinds: image",
                "time: any time from 2024-10-01 to before 2024-11-01 (ranks)"
            ],
            |e| e.kind == Image && e.any_within((2024, 10, 1), (2024, 11, 1))
        ),
        case!(
            "meeting notes from april 2025",
            [
                "text: meeting",
                "kinds: text",
                "time: any time from 2025-04-01 to before 2025-05-01 (ranks)"
            ],
            |e| e.topic == "meeting" && e.any_within((2025, 4, 1), (2025, 5, 1))
        ),
        case!(
            "zephyr meeting last month",
            [
                "text: zephyr, meeting",
                "time: any time from 2026-05-01 to before 2026-06-01 (ranks)"
            ],
            |e| e.is("meeting", "Zephyr") && e.any_within((2026, 5, 1), (2026, 6, 1))
        ),
        case!(
            "tax 2023",
            [
                "text: tax",
                "time: any time from 2023-01-01 to before 2024-01-01 (ranks)"
            ],
            |e| e.rel.starts_with("Taxes/2023/") || (e.is("scan", "tax letter") && e.year(2023))
        ),
        case!(
            "videos from 2 years ago",
            [
                "kinds: video",
                "time: any time from 2024-01-01 to before 2025-01-01 (ranks)"
            ],
            |e| e.kind == Video && e.year(2024)
        ),
        case!(
            "documents modified last week",
            [
                "kinds: document",
                "time: modified from 2026-06-08 to before 2026-06-15 (filters)"
            ],
            |e| e.kind == Document && e.modified_within((2026, 6, 8), (2026, 6, 15))
        ),
        case!(
            "photos taken in july 2024",
            [
                "kinds: image",
                "time: taken from 2024-07-01 to before 2024-08-01 (filters)"
            ],
            |e| e.kind == Image && e.taken_within((2024, 7, 1), (2024, 8, 1))
        ),
        case!(
            "photos taken between 2022 and 2023",
            [
                "kinds: image",
                "time: taken from 2022-01-01 to before 2024-01-01 (filters)"
            ],
            |e| e.kind == Image && e.taken_within((2022, 1, 1), (2024, 1, 1))
        ),
        case!(
            "invoices from last spring",
            [
                "text: invoices",
                "time: any time from 2026-03-01 to before 2026-06-01 (ranks)"
            ],
            |e| e.topic == "invoice" && e.any_within((2026, 3, 1), (2026, 6, 1))
        ),
        case!(
            "past 3 days",
            ["time: any time from 2026-06-12 to before now (ranks)"],
            |e| e.modified >= noon(2026, 6, 12) && e.modified <= noon(2026, 6, 15)
        ),
        case!(
            "receipts from 2025 on laptop",
            [
                "text: receipts",
                "devices: laptop",
                "time: any time from 2025-01-01 to before 2026-01-01 (ranks)"
            ],
            |e| e.topic == "receipt" && e.year(2025)
        ),
        // Sizes (KB, MB, GB in powers of 1000; K, M, G in powers of 1024).
        case!(
            "videos bigger than 20 MB",
            ["kinds: video", "size: at least 20000000 bytes"],
            |e| e.kind == Video && e.size >= 20_000_000
        ),
        case!(
            "videos smaller than 10 MB",
            ["kinds: video", "size: at most 10000000 bytes"],
            |e| e.kind == Video && e.size <= 10_000_000
        ),
        case!(
            "archives over 40 MB",
            ["kinds: archive", "size: at least 40000000 bytes"],
            |e| e.kind == Archive && e.size >= 40_000_000
        ),
        case!(
            "photos larger than 5 MB",
            ["kinds: image", "size: at least 5000000 bytes"],
            |e| e.kind == Image && e.size >= 5_000_000
        ),
        case!("size:>30M", ["size: at least 31457281 bytes"], |e| e.size
            > 30 << 20),
        case!(
            "size:1M..2M photos",
            [
                "kinds: image",
                "size: at least 1048576 bytes, at most 2097152 bytes"
            ],
            |e| e.kind == Image && (1 << 20..=2 << 20).contains(&e.size)
        ),
        case!(
            "small documents",
            ["kinds: document", "size: at most 1048576 bytes"],
            |e| e.kind == Document && e.size <= 1 << 20
        ),
        case!(
            "backups under 10 MB",
            ["kinds: archive", "size: at most 10000000 bytes"],
            |e| e.kind == Archive && e.size <= 10_000_000
        ),
        // Devices.
        case!("photos on nas", ["kinds: image", "devices: nas"], |e| e
            .kind
            == Image
            && e.device == "nas"),
        case!(
            "documents on nas",
            ["kinds: document", "devices: nas"],
            |e| e.kind == Document && e.device == "nas"
        ),
        case!(
            "documents on my laptop",
            ["kinds: document", "devices: laptop"],
            |e| e.kind == Document && e.device == "laptop"
        ),
        case!("code on laptop", ["kinds: code", "devices: laptop"], |e| e
            .kind
            == Code),
        case!(
            "invoices on laptop",
            ["text: invoices", "devices: laptop"],
            |e| e.topic == "invoice"
        ),
        case!("backups on nas", ["kinds: archive", "devices: nas"], |e| e
            .kind
            == Archive
            && e.device == "nas"),
        case!(
            "device:nas kind:video",
            ["kinds: video", "devices: nas"],
            |e| e.kind == Video
        ),
        case!(
            "device:laptop ext:md",
            ["extensions: md", "devices: laptop"],
            |e| e.ext() == "md"
        ),
        case!(
            "screenshots on laptop",
            ["text: screenshots", "devices: laptop"],
            |e| e.topic == "screenshot"
        ),
        case!("manuals on nas", ["text: manuals", "devices: nas"], |e| e
            .topic
            == "manual"),
        case!(
            "scans on nas from 2021",
            [
                "text: scans",
                "devices: nas",
                "time: any time from 2021-01-01 to before 2022-01-01 (ranks)"
            ],
            |e| e.topic == "scan" && e.year(2021)
        ),
        case!(
            "music on laptop",
            ["kinds: audio", "devices: laptop"],
            |e| e.kind == Audio
        ),
        // Tags (receipts is a kind of tax, italy and beach of holiday).
        case!("tagged tax", ["tags: tax"], |e| e.tagged("tax")),
        case!("tag:tax", ["tags: tax"], |e| e.tagged("tax")),
        case!("tagged receipts", ["tags: receipts"], |e| e
            .tagged("receipts")),
        case!("tagged holiday", ["tags: holiday"], |e| e.tagged("holiday")),
        case!("tag:italy", ["tags: italy"], |e| e.tagged("italy")),
        case!("tagged beach", ["tags: beach"], |e| e.tagged("beach")),
        case!("tagged urgent", ["tags: urgent"], |e| e.tagged("urgent")),
        case!("tag:work", ["tags: work"], |e| e.tagged("work")),
        case!(
            "tagged holiday on nas",
            ["devices: nas", "tags: holiday"],
            |e| e.tagged("holiday")
        ),
        case!(
            "photos tagged holiday from 2025",
            [
                "kinds: image",
                "tags: holiday",
                "time: any time from 2025-01-01 to before 2026-01-01 (ranks)"
            ],
            |e| e.tagged("beach")
        ),
        case!(
            "tagged work on laptop",
            ["devices: laptop", "tags: work"],
            |e| e.tagged("work")
        ),
        // Folders.
        case!("in Recipes", ["folders: Recipes"], |e| e.topic == "recipe"),
        case!("in Contracts", ["folders: Contracts"], |e| e.topic
            == "contract"),
        case!("in:Reports", ["folders: Reports"], |e| e.topic == "report"),
        case!(
            "pdfs in Manuals",
            ["extensions: pdf", "folders: Manuals"],
            |e| e.topic == "manual"
        ),
        case!("in Taxes", ["folders: Taxes"], |e| e
            .rel
            .starts_with("Taxes/")),
        case!("notes in Work", ["kinds: text", "folders: Work"], |e| e
            .topic
            == "meeting"),
        case!(
            "songs in Radiohead",
            ["kinds: audio", "folders: Radiohead"],
            |e| e.is("song", "Radiohead")
        ),
        case!("photos in Italy", ["kinds: image", "folders: Italy"], |e| e
            .kind
            == Image
            && e.about("Italy")),
        // Typed operators.
        case!("ext:pdf", ["extensions: pdf"], |e| e.ext() == "pdf"),
        case!("ext:docx acme", ["text: acme", "extensions: docx"], |e| e
            .ext()
            == "docx"
            && e.about("Acme")),
        case!("ext:xlsx", ["extensions: xlsx"], |e| e.ext() == "xlsx"),
        case!("ext:epub", ["extensions: epub"], |e| e.ext() == "epub"),
        case!(
            "kind:image device:nas",
            ["kinds: image", "devices: nas"],
            |e| e.kind == Image && e.device == "nas"
        ),
        case!("kind:audio", ["kinds: audio"], |e| e.kind == Audio),
        case!(
            "ext:mp4 after:2025-01-01",
            [
                "extensions: mp4",
                "time: any time from 2025-01-01 to before now (filters)"
            ],
            |e| e.ext() == "mp4" && e.any_within((2025, 1, 1), (2100, 1, 1))
        ),
        case!(
            "before:2020-06-01 ext:pdf",
            [
                "extensions: pdf",
                "time: any time from the beginning to before 2020-06-01 (filters)"
            ],
            |e| e.ext() == "pdf" && e.any_within((1970, 1, 1), (2020, 6, 1))
        ),
        case!("ext:py sync", ["text: sync", "extensions: py"], |e| e
            .name()
            == "sync.py"),
        case!("ext:rs parser", ["text: parser", "extensions: rs"], |e| e
            .name()
            == "parser.rs"),
        case!(
            "kind:archive size:>40M",
            ["kinds: archive", "size: at least 41943041 bytes"],
            |e| e.kind == Archive && e.size > 40 << 20
        ),
        case!(
            "device:nas tag:italy",
            ["devices: nas", "tags: italy"],
            |e| e.tagged("italy")
        ),
        case!(
            "ext:jpg after:2025-06-01 before:2025-09-01",
            [
                "extensions: jpg",
                "time: any time from 2025-06-01 to before 2025-09-01 (filters)"
            ],
            |e| e.ext() == "jpg" && e.any_within((2025, 6, 1), (2025, 9, 1))
        ),
        case!("ext:md garlic", ["text: garlic", "extensions: md"], |e| e
            .topic
            == "recipe"
            && e.body.contains("garlic")),
        case!(
            "in:Invoices ext:docx 2025",
            [
                "extensions: docx",
                "folders: Invoices",
                "time: any time from 2025-01-01 to before 2026-01-01 (ranks)"
            ],
            |e| e.topic == "invoice" && e.ext() == "docx" && e.year(2025)
        ),
        case!(
            "kind:video size:<5M",
            ["kinds: video", "size: at most 5242879 bytes"],
            |e| e.kind == Video && e.size < 5 << 20
        ),
        case!(
            "tag:holiday kind:image",
            ["kinds: image", "tags: holiday"],
            |e| e.tagged("holiday")
        ),
        // Contents: words inside files, not in their names.
        case!("garlic", ["text: garlic"], |e| e.body.contains("garlic")),
        case!("basil", ["text: basil"], |e| e.body.contains("basil")),
        case!("budget", ["text: budget"], |e| e.body.contains("budget")),
        case!(
            "confidentiality clause",
            ["text: confidentiality, clause"],
            |e| e.body.contains("confidentiality clause")
        ),
        case!("revenue", ["text: revenue"], |e| e.body.contains("Revenue")),
        case!("parse_invoice", ["text: parse_invoice"], |e| e
            .body
            .contains("parse_invoice")),
        case!("consulting services", ["text: consulting, services"], |e| e
            .topic
            == "invoice"),
        case!("milestone", ["text: milestone"], |e| e
            .body
            .contains("milestone")),
        case!("attendees", ["text: attendees"], |e| e
            .body
            .contains("Attendees")),
        case!(
            "service agreement globex",
            ["text: service, agreement, globex"],
            |e| e.is("contract", "Globex")
        ),
        // Contents of PDFs: their pages' text.
        case!("descaling", ["text: descaling"], |e| e
            .is("manual", "kettle")),
        case!("toner cartridge", ["text: toner, cartridge"], |e| e
            .is("manual", "printer")),
        case!("derailleur", ["text: derailleur"], |e| e
            .is("manual", "bike")),
        case!(
            "warranty terms manual",
            ["text: warranty, terms, manual"],
            |e| e.topic == "manual"
        ),
        case!("prescription", ["text: prescription"], |e| e
            .is("scan", "medical")),
        case!("account balance", ["text: account, balance"], |e| e
            .is("scan", "bank statement")),
        case!("notice of assessment", ["text: notice, assessment"], |e| e
            .is("scan", "tax letter")),
        case!("form 1040", ["text: form, 1040"], |e| e.is("tax", "return")),
        case!(
            "wage statement 2024",
            [
                "text: wage, statement",
                "time: any time from 2024-01-01 to before 2025-01-01 (ranks)"
            ],
            |e| e.is("tax", "w-2") && e.rel.contains("2024")
        ),
        // Meaning: no file has these words; the model knows what they mean.
        case!(
            "vacation pictures",
            ["text: vacation", "kinds: image"],
            |e| e.kind == Image
                && ["Italy", "Paris", "Beach", "Ski trip", "Hiking"].contains(&e.subject.as_str())
        ),
        case!("bills from acme", ["text: bills, acme"], |e| e
            .is("invoice", "Acme")),
        case!(
            "agreements with globex",
            ["text: agreements, globex"],
            |e| e.is("contract", "Globex")
        ),
        case!(
            "family celebration videos",
            ["text: family, celebration", "kinds: video"],
            |e| e.kind == Video
                && [
                    "Wedding",
                    "Birthday 2024",
                    "Christmas 2023",
                    "Christmas 2024"
                ]
                .contains(&e.subject.as_str())
        ),
        case!(
            "mountain walk photos",
            ["text: mountain, walk", "kinds: image"],
            |e| e.kind == Image && e.about("Hiking")
        ),
        case!("seaside photos", ["text: seaside", "kinds: image"], |e| e
            .kind
            == Image
            && e.about("Beach")),
        case!(
            "snow holiday photos",
            ["text: snow, holiday", "kinds: image"],
            |e| e.kind == Image && e.about("Ski trip")
        ),
        // Cameras (EXIF).
        case!("canon", ["text: canon"], |e| e.camera
            == Some("Canon EOS R6")),
        case!("pixel photos", ["text: pixel", "kinds: image"], |e| e
            .camera
            == Some("Pixel 7")),
        case!(
            "iphone photos from 2024",
            [
                "text: iphone",
                "kinds: image",
                "time: any time from 2024-01-01 to before 2025-01-01 (ranks)"
            ],
            |e| e.camera == Some("iPhone 14") && e.year(2024)
        ),
        case!(
            "photos taken with canon in 2022",
            [
                "text: canon",
                "kinds: image",
                "time: taken from 2022-01-01 to before 2023-01-01 (filters)"
            ],
            |e| e.camera == Some("Canon EOS R6") && e.taken_within((2022, 1, 1), (2023, 1, 1))
        ),
        case!("canon eos", ["text: canon, eos"], |e| e.camera
            == Some("Canon EOS R6")),
    ]
}
