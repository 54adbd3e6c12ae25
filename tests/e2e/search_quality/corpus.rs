//! The generated corpus: about 2,000 files a person might have on a laptop
//! and a nas, with set names, folders, times, kinds, sizes, EXIF and
//! contents. Each file also records what it is about (its topic and
//! subject), which is what the queries' expected hits are judged by, not by
//! anything the search engine computes.

use std::fs::File as FsFile;
use std::io::Write;

use anyhow::Result;

/// The fixed "now" every query is read at (`sd search --now`).
pub const NOW: &str = "2026-06-15T12:00";

/// What a file is, as the person who has it would say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Document,
    Image,
    Video,
    Audio,
    Code,
    Archive,
    Book,
    Text,
    Config,
}

/// One generated file and the truth about it.
#[derive(Debug)]
pub struct Entry {
    pub device: &'static str,
    pub location: &'static str,
    /// Path below the location.
    pub rel: String,
    pub kind: Kind,
    /// What it is: "tax", "invoice", "receipt", "photo", "meeting", ...
    pub topic: &'static str,
    /// Whom or what it is about: a client, an event, a project, an artist.
    pub subject: String,
    /// Unix seconds; all at noon so no time zone moves their day.
    pub modified: i64,
    /// When a photo was taken (its EXIF).
    pub taken: Option<i64>,
    pub camera: Option<&'static str>,
    pub size: u64,
    pub tags: Vec<&'static str>,
    /// Words in its contents (text it holds that the name does not say).
    pub body: String,
    bytes: Vec<u8>,
}

impl Entry {
    pub fn uri(&self) -> String {
        format!("sd://{}/{}/{}", self.device, self.location, self.rel)
    }

    pub fn name(&self) -> &str {
        self.rel.rsplit('/').next().unwrap_or(&self.rel)
    }

    /// The name and folders, lower-cased.
    pub fn path_lower(&self) -> String {
        self.rel.to_lowercase()
    }

    pub fn ext(&self) -> &str {
        self.name().rsplit_once('.').map_or("", |(_, e)| e)
    }
}

/// Unix seconds at noon UTC of a day.
pub fn noon(year: i32, month: u32, day: u32) -> i64 {
    days_from_civil(year, month, day) * 86_400 + 12 * 3600
}

/// Unix seconds at midnight UTC starting a day (a range bound).
pub fn midnight(year: i32, month: u32, day: u32) -> i64 {
    days_from_civil(year, month, day) * 86_400
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(if m <= 2 { y - 1 } else { y });
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A small deterministic generator (SplitMix64): the same corpus every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A day in `year` (days 1-28, so every month has it).
    fn day_in(&mut self, year: i32, months: std::ops::RangeInclusive<u32>) -> (i32, u32, u32) {
        let span = u64::from(months.end() - months.start() + 1);
        let month = months.start() + self.below(span) as u32;
        (year, month, 1 + self.below(28) as u32)
    }
}

pub const CLIENTS: [&str; 6] = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne"];
pub const PROJECTS: [&str; 4] = ["Apollo", "Hermes", "Zephyr", "Orion"];
const STORES: [&str; 5] = ["Ikea", "Costco", "Walmart", "Target", "Apple"];
pub const DISHES: [&str; 20] = [
    "lasagna",
    "risotto",
    "paella",
    "ramen",
    "curry",
    "tacos",
    "goulash",
    "pancakes",
    "brownies",
    "gazpacho",
    "moussaka",
    "falafel",
    "pho",
    "bibimbap",
    "shakshuka",
    "tiramisu",
    "gnocchi",
    "chili",
    "quiche",
    "borscht",
];
pub const ARTISTS: [&str; 8] = [
    "Miles Davis",
    "Nina Simone",
    "Radiohead",
    "Daft Punk",
    "Bjork",
    "Kraftwerk",
    "Portishead",
    "Massive Attack",
];
const SCANS: [&str; 5] = [
    "insurance",
    "bank statement",
    "medical",
    "tax letter",
    "warranty",
];

/// A photo event: where, when, how many.
pub struct Event {
    pub name: &'static str,
    pub start: (i32, u32, u32),
    pub days: u32,
    pub photos: u32,
    pub videos: u32,
    pub camera: &'static str,
}

pub const EVENTS: [Event; 10] = [
    Event {
        name: "Wedding",
        start: (2022, 9, 17),
        days: 2,
        photos: 80,
        videos: 6,
        camera: "Canon EOS R6",
    },
    Event {
        name: "Paris",
        start: (2023, 4, 8),
        days: 6,
        photos: 70,
        videos: 8,
        camera: "Pixel 7",
    },
    Event {
        name: "Christmas 2023",
        start: (2023, 12, 23),
        days: 4,
        photos: 40,
        videos: 4,
        camera: "Pixel 7",
    },
    Event {
        name: "Italy",
        start: (2024, 7, 6),
        days: 12,
        photos: 110,
        videos: 12,
        camera: "Canon EOS R6",
    },
    Event {
        name: "Birthday 2024",
        start: (2024, 10, 12),
        days: 1,
        photos: 40,
        videos: 5,
        camera: "iPhone 14",
    },
    Event {
        name: "Christmas 2024",
        start: (2024, 12, 23),
        days: 4,
        photos: 45,
        videos: 4,
        camera: "iPhone 14",
    },
    Event {
        name: "Ski trip",
        start: (2025, 2, 9),
        days: 6,
        photos: 60,
        videos: 8,
        camera: "iPhone 14",
    },
    Event {
        name: "Beach",
        start: (2025, 7, 19),
        days: 9,
        photos: 100,
        videos: 12,
        camera: "Pixel 7",
    },
    Event {
        name: "Hiking",
        start: (2025, 10, 4),
        days: 3,
        photos: 70,
        videos: 8,
        camera: "Canon EOS R6",
    },
    Event {
        name: "Garden",
        start: (2026, 5, 2),
        days: 20,
        photos: 85,
        videos: 6,
        camera: "iPhone 14",
    },
];

/// The whole corpus.
pub fn generate() -> Vec<Entry> {
    let mut rng = Rng(0x5df5_2026);
    let mut out = Vec::new();
    laptop_documents(&mut rng, &mut out);
    laptop_code(&mut rng, &mut out);
    laptop_music(&mut rng, &mut out);
    laptop_desktop(&mut rng, &mut out);
    nas_photos_and_videos(&mut rng, &mut out);
    nas_documents(&mut rng, &mut out);
    nas_backups(&mut rng, &mut out);
    out
}

#[allow(clippy::too_many_arguments)]
fn entry(
    device: &'static str,
    location: &'static str,
    rel: String,
    kind: Kind,
    topic: &'static str,
    subject: &str,
    modified: i64,
    body: String,
) -> Entry {
    Entry {
        device,
        location,
        rel,
        kind,
        topic,
        subject: subject.to_owned(),
        modified,
        taken: None,
        camera: None,
        size: 0,
        tags: Vec::new(),
        body,
        bytes: Vec::new(),
    }
}

fn laptop_documents(rng: &mut Rng, out: &mut Vec<Entry>) {
    let doc = |rel: String, topic, subject: &str, (y, m, d): (i32, u32, u32), body: String| {
        entry(
            "laptop",
            "Documents",
            rel,
            Kind::Document,
            topic,
            subject,
            noon(y, m, d),
            body,
        )
    };
    for year in 2019..=2025 {
        let tagged = if year == 2025 { vec!["tax"] } else { vec![] };
        let mut e = doc(
            format!("Taxes/{year}/Tax Return {year}.pdf"),
            "tax",
            "return",
            (year + 1, 4, 10),
            format!("Form 1040 U.S. Individual Income Tax Return {year}"),
        );
        e.tags.clone_from(&tagged);
        out.push(e);
        let mut e = doc(
            format!("Taxes/{year}/W-2 Initech {year}.pdf"),
            "tax",
            "w-2",
            (year + 1, 2, 3),
            format!("Form W-2 Wage and Tax Statement {year}, employer Initech"),
        );
        e.tags.clone_from(&tagged);
        out.push(e);
        for month in 1..=12 {
            let store = *rng.pick(&STORES);
            let day = 1 + rng.below(28) as u32;
            let mut e = doc(
                format!("Taxes/{year}/receipts/receipt {store} {year}-{month:02}-{day:02}.pdf"),
                "receipt",
                store,
                (year, month, day),
                String::new(),
            );
            if year == 2025 {
                e.tags = vec!["receipts"];
            }
            out.push(e);
        }
    }
    for n in 0..120u32 {
        let client = CLIENTS[n as usize % CLIENTS.len()];
        let year = 2022 + (n / 24) as i32;
        let when = rng.day_in(year, 1..=if year == 2026 { 5 } else { 12 });
        let number = 1000 + n;
        let body = format!(
            "Invoice {number} for {client}. Consulting services, total due in thirty days."
        );
        let (rel, kind) = if n % 2 == 0 {
            (
                format!("Invoices/{year}/Invoice {number} {client}.pdf"),
                Kind::Document,
            )
        } else {
            (
                format!("Invoices/{year}/Invoice {number} {client}.docx"),
                Kind::Document,
            )
        };
        let mut e = doc(rel, "invoice", client, when, body);
        e.kind = kind;
        if n % 24 == 5 {
            e.tags = vec!["urgent"];
        }
        out.push(e);
    }
    for (i, client) in CLIENTS.iter().enumerate() {
        for year in [2023, 2024, 2025] {
            let when = (year, 1 + (i as u32 * 2) % 12, 5 + i as u32);
            out.push(doc(
                format!("Contracts/{client} contract {year}.docx"),
                "contract",
                client,
                when,
                format!("Service agreement between us and {client}, renewed yearly, with a confidentiality clause."),
            ));
        }
    }
    for (i, dish) in DISHES.iter().enumerate() {
        for variant in ["", " (quick)"] {
            let garlic = i % 3 == 0;
            let body = format!(
                "# {dish}{variant}\n\nIngredients: onion, salt, pepper{}{}.\nCook slowly and serve warm.\n",
                if garlic { ", garlic" } else { "" },
                if i % 4 == 1 { ", fresh basil" } else { "" },
            );
            let when = rng.day_in(2021 + (i % 5) as i32, 1..=12);
            let mut e = doc(
                format!("Recipes/{dish}{variant}.md"),
                "recipe",
                dish,
                when,
                body,
            );
            e.kind = Kind::Text;
            out.push(e);
        }
    }
    for n in 0..210u32 {
        let project = PROJECTS[n as usize % PROJECTS.len()];
        let year = 2024 + (n / 84) as i32;
        let (y, m, d) = rng.day_in(year, 1..=if year == 2026 { 6 } else { 12 });
        let (y, m, d) = if (y, m) == (2026, 6) {
            (y, m, d.min(14))
        } else {
            (y, m, d)
        };
        let budget = n % 5 == 0;
        let body = format!(
            "Meeting about {project}. Attendees: Ana, Bo, Chen.\nDecisions: ship the next milestone.{}\n",
            if budget {
                "\nThe budget for next quarter was approved."
            } else {
                ""
            }
        );
        let mut e = doc(
            format!("Work/Meeting notes/meeting {y}-{m:02}-{d:02} {project}.md"),
            "meeting",
            project,
            (y, m, d),
            body,
        );
        e.kind = Kind::Text;
        if project == "Apollo" && y == 2026 {
            e.tags = vec!["work"];
        }
        out.push(e);
    }
    for year in 2021..=2026 {
        for q in 1..=4u32 {
            if year == 2026 && q > 1 {
                continue;
            }
            let month = q * 3 + 1;
            let (y, m) = if month > 12 {
                (year + 1, 1)
            } else {
                (year, month)
            };
            out.push(doc(
                format!("Work/Reports/Quarterly report Q{q} {year}.xlsx"),
                "report",
                "quarterly",
                (y, m, 6),
                format!("Revenue, costs and margin for Q{q} {year}."),
            ));
        }
    }
    for (i, who) in ["Ana Lopez", "Bo Chen", "Chen Wu", "Dana Fox", "Eli Stone"]
        .iter()
        .enumerate()
    {
        out.push(doc(
            format!("Resume {who}.pdf"),
            "resume",
            who,
            (2020 + i as i32, 3, 1),
            String::new(),
        ));
    }
    let titles = [
        "Dune",
        "Neuromancer",
        "Foundation",
        "Hyperion",
        "Solaris",
        "Ubik",
        "Snow Crash",
        "The Hobbit",
        "Emma",
        "Ulysses",
        "Beloved",
        "Middlemarch",
        "Walden",
        "Dracula",
        "Frankenstein",
        "Moby Dick",
        "Persuasion",
        "Kindred",
        "Stoner",
        "Pachinko",
    ];
    for (i, title) in titles.iter().enumerate() {
        let mut e = doc(
            format!("Books/{title}.epub"),
            "book",
            title,
            (2019 + (i % 7) as i32, 1 + (i % 12) as u32, 9),
            String::new(),
        );
        e.kind = Kind::Book;
        out.push(e);
    }
}

fn laptop_code(rng: &mut Rng, out: &mut Vec<Entry>) {
    let modules = [
        "parser", "lexer", "server", "client", "cache", "config", "storage", "index", "query",
        "render", "auth", "billing", "upload", "sync", "metrics",
    ];
    for project in ["sdfs", "webshop", "invoicer", "dotfiles"] {
        for (i, module) in modules.iter().enumerate() {
            for (ext, dir) in [("rs", "src"), ("py", "scripts"), ("ts", "web")] {
                if project == "dotfiles" && ext != "py" {
                    continue;
                }
                let (y, m, d) = rng.day_in(2023 + (i % 4) as i32, 1..=12);
                let (y, m, d) = if y == 2026 {
                    (y, m.min(5), d)
                } else {
                    (y, m, d)
                };
                let func = if project == "invoicer" && *module == "parser" {
                    "parse_invoice".to_owned()
                } else {
                    format!("{module}_{ext}_{project}")
                };
                let body = match ext {
                    "rs" => format!("//! The {module} of {project}.\npub fn {func}() {{}}\n"),
                    "py" => {
                        format!("\"\"\"The {module} of {project}.\"\"\"\ndef {func}():\n    pass\n")
                    }
                    _ => format!("// The {module} of {project}.\nexport function {func}() {{}}\n"),
                };
                out.push(entry(
                    "laptop",
                    "Code",
                    format!("{project}/{dir}/{module}.{ext}"),
                    Kind::Code,
                    "code",
                    project,
                    noon(y, m, d),
                    body,
                ));
            }
        }
        let readme = entry(
            "laptop",
            "Code",
            format!("{project}/README.md"),
            Kind::Text,
            "readme",
            project,
            noon(2024, 5, 5),
            format!("# {project}\n\nHow to build and run {project}.\n"),
        );
        out.push(readme);
        out.push(entry(
            "laptop",
            "Code",
            format!("{project}/config.toml"),
            Kind::Config,
            "config",
            project,
            noon(2024, 5, 5),
            format!("name = \"{project}\"\nversion = \"1.0\"\n"),
        ));
    }
}

fn laptop_music(rng: &mut Rng, out: &mut Vec<Entry>) {
    let songs = [
        "Blue", "Night", "River", "Echo", "Gold", "Rain", "Glass", "Signal", "Harbor", "Fever",
        "Dawn", "Static",
    ];
    for (a, artist) in ARTISTS.iter().enumerate() {
        for album in 1..=3u32 {
            let year = 2015 + (a as i32 + album as i32) % 10;
            let title = format!("{artist} Vol {album}");
            for (t, song) in songs.iter().enumerate() {
                let (y, m, d) = rng.day_in(year, 1..=12);
                out.push(entry(
                    "laptop",
                    "Music",
                    format!("{artist}/{title}/{:02} {song}.mp3", t + 1),
                    Kind::Audio,
                    "song",
                    artist,
                    noon(y, m, d),
                    String::new(),
                ));
            }
        }
    }
}

fn laptop_desktop(rng: &mut Rng, out: &mut Vec<Entry>) {
    for n in 0..60u32 {
        let (y, m, d) = rng.day_in(2025 + (n / 40) as i32, 1..=if n >= 40 { 5 } else { 12 });
        out.push(entry(
            "laptop",
            "Desktop",
            format!(
                "Screenshot {y}-{m:02}-{d:02} at {:02}.{:02}.png",
                n % 24,
                n % 60
            ),
            Kind::Image,
            "screenshot",
            "",
            noon(y, m, d),
            String::new(),
        ));
    }
    // This week (the week of 2026-06-15, a Monday) and the days before.
    for (name, day) in [
        ("todo.txt", 15),
        ("shopping list.txt", 14),
        ("flight booking.pdf", 13),
        ("concert tickets.pdf", 12),
        ("draft letter.txt", 10),
    ] {
        let kind = if name.ends_with(".pdf") {
            Kind::Document
        } else {
            Kind::Text
        };
        let mut e = entry(
            "laptop",
            "Desktop",
            name.to_owned(),
            kind,
            "recent",
            name,
            noon(2026, 6, day) - if day == 15 { 3600 } else { 0 },
            format!("{name} written on June {day}"),
        );
        e.kind = kind;
        out.push(e);
    }
    for n in 0..10u32 {
        let (y, m, d) = (2025, 1 + n, 20);
        let mut e = entry(
            "laptop",
            "Desktop",
            format!("downloads/backup-{y}-{m:02}-{d:02}.zip"),
            Kind::Archive,
            "backup",
            "laptop",
            noon(y, m, d),
            String::new(),
        );
        e.size = (n as u64 + 1) * 3_000_000 + 17 * n as u64;
        out.push(e);
    }
}

fn nas_photos_and_videos(rng: &mut Rng, out: &mut Vec<Entry>) {
    let mut serial = 1000u32;
    for event in &EVENTS {
        let (y, m, d) = event.start;
        let start = noon(y, m, d);
        // Photos are copied to the nas some days after the event: their
        // file times say when, only EXIF says when they were taken.
        let imported = start + i64::from(event.days + 3) * 86_400;
        for i in 0..event.photos {
            serial += 1;
            let taken = start + i64::from(i % event.days) * 86_400 - 3 * 3600 + i64::from(i) * 61;
            let mut e = entry(
                "nas",
                "Photos",
                format!("{y}/{}/IMG_{serial}.jpg", event.name),
                Kind::Image,
                "photo",
                event.name,
                imported,
                String::new(),
            );
            e.taken = Some(taken);
            e.camera = Some(event.camera);
            e.size = 1_500_000 + rng.below(4_000_000) + u64::from(serial);
            if event.name == "Italy" && i < 20 {
                e.tags = vec!["italy"];
            }
            if event.name == "Beach" && i < 15 {
                e.tags = vec!["beach"];
            }
            out.push(e);
        }
        for i in 0..event.videos {
            serial += 1;
            let mut e = entry(
                "nas",
                "Videos",
                format!("{y}/{}/VID_{serial}.mp4", event.name),
                Kind::Video,
                "video",
                event.name,
                imported + i64::from(i) * 60,
                String::new(),
            );
            e.size = 4_000_000 + rng.below(36_000_000) + u64::from(serial);
            out.push(e);
        }
    }
}

/// The text a scanned letter's pages hold (the OCR layer a scanner adds).
fn scan_body(what: &str) -> &'static str {
    match what {
        "insurance" => "Your policy renewal and the premium for the coming year.",
        "bank statement" => "Account balance, deposits and withdrawals this month.",
        "medical" => "Prescription and follow-up appointment with the clinic.",
        "tax letter" => "Notice of assessment from the tax office.",
        _ => "Guarantee certificate, keep with proof of purchase.",
    }
}

fn nas_documents(rng: &mut Rng, out: &mut Vec<Entry>) {
    for n in 0..150u32 {
        let what = SCANS[n as usize % SCANS.len()];
        let (y, m, d) = rng.day_in(2020 + (n % 7) as i32, 1..=if n % 7 == 6 { 5 } else { 12 });
        out.push(entry(
            "nas",
            "Documents",
            format!("Scans/scan {y}-{m:02}-{d:02} {what}.pdf"),
            Kind::Document,
            "scan",
            what,
            noon(y, m, d),
            scan_body(what).to_owned(),
        ));
    }
    for (i, device) in [
        "dishwasher",
        "router",
        "camera",
        "bike",
        "oven",
        "printer",
        "tv",
        "drill",
        "kettle",
        "heater",
        "fridge",
        "phone",
        "watch",
        "speaker",
        "vacuum",
        "blender",
        "monitor",
        "keyboard",
        "drone",
        "scooter",
    ]
    .iter()
    .enumerate()
    {
        out.push(entry(
            "nas",
            "Documents",
            format!("Manuals/{device} manual.pdf"),
            Kind::Document,
            "manual",
            device,
            noon(2018 + (i % 8) as i32, 1 + (i % 12) as u32, 2),
            manual_body(device),
        ));
    }
}

/// What a manual's pages say: the same safety words in every one, and
/// the care its device needs.
fn manual_body(device: &str) -> String {
    let care = match device {
        "kettle" => "Descaling: every three months, boil vinegar and water.",
        "printer" => "Replacing the toner cartridge and clearing paper jams.",
        "bike" => "Adjusting the derailleur and brake pads.",
        "router" => "Updating the firmware and resetting the admin password.",
        _ => "Cleaning and storage.",
    };
    format!("Owner's manual. Read the safety instructions before first use. {care} Warranty terms.")
}

fn nas_backups(_rng: &mut Rng, out: &mut Vec<Entry>) {
    for n in 0..30u32 {
        let (y, m) = (2024 + (n / 12) as i32, 1 + n % 12);
        let mut e = entry(
            "nas",
            "Backups",
            format!("laptop-backup-{y}-{m:02}-01.tar.gz"),
            Kind::Archive,
            "backup",
            "laptop",
            noon(y, m, 1),
            String::new(),
        );
        e.size = 20_000_000 + u64::from(n) * 1_000_003;
        out.push(e);
    }
    for year in 2021..=2025 {
        let mut e = entry(
            "nas",
            "Backups",
            format!("photos-{year}.zip"),
            Kind::Archive,
            "backup",
            "photos",
            noon(year + 1, 1, 15),
            String::new(),
        );
        e.size = 50_000_000 + year as u64;
        out.push(e);
    }
}

/// Writes every entry of `device` under `roots(location)`, with its times.
pub fn write(
    entries: &mut [Entry],
    device: &str,
    root_of: impl Fn(&str) -> std::path::PathBuf,
) -> Result<()> {
    for (i, e) in entries.iter_mut().enumerate() {
        if e.device != device {
            continue;
        }
        e.bytes = bytes_of(e, i as u64)?;
        let path = root_of(e.location).join(&e.rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = FsFile::create(&path)?;
        file.write_all(&e.bytes)?;
        // Large files are sparse past their header: sizes without the bytes.
        if e.size > e.bytes.len() as u64 {
            file.set_len(e.size)?;
        }
        e.size = file.metadata()?.len();
        file.set_modified(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(e.modified as u64),
        )?;
    }
    Ok(())
}

/// The bytes a file of its kind starts with, then what it says.
fn bytes_of(e: &Entry, serial: u64) -> Result<Vec<u8>> {
    let tail = format!("\n{} #{serial}\n", e.body);
    Ok(match (e.kind, e.ext()) {
        (_, "pdf") => {
            // Its pages say the body; a comment after the end makes each
            // file's bytes its own.
            let mut b = sdfs_tests::pdf_with_text(&[&e.body]);
            b.extend_from_slice(format!("% {} #{serial}\n", e.name()).as_bytes());
            b
        }
        (_, "docx") => office("word/document.xml", &e.body, serial)?,
        (_, "xlsx") => office("xl/sharedStrings.xml", &e.body, serial)?,
        (Kind::Book, _) => {
            let mut b = b"PK\x03\x04".to_vec();
            b.extend_from_slice(&[0; 26]);
            b.extend_from_slice(b"mimetypeapplication/epub+zip");
            b.extend_from_slice(tail.as_bytes());
            b
        }
        (Kind::Image, "jpg") => {
            let taken = e.taken.unwrap_or(e.modified);
            let mut b = sdfs_tests::jpeg_with_exif(e.camera.unwrap_or(""), &exif_time(taken));
            b.extend_from_slice(tail.as_bytes());
            b
        }
        (Kind::Image, _) => [b"\x89PNG\r\n\x1a\n".as_slice(), tail.as_bytes()].concat(),
        (Kind::Video, _) => [b"\0\0\0\x18ftypmp42".as_slice(), tail.as_bytes()].concat(),
        (Kind::Audio, _) => [b"ID3\x04\0\0\0\0\0\0".as_slice(), tail.as_bytes()].concat(),
        (Kind::Archive, "zip") => [b"PK\x03\x04\x14\0\0\0".as_slice(), tail.as_bytes()].concat(),
        (Kind::Archive, _) => [b"\x1f\x8b\x08\0\0\0\0\0".as_slice(), tail.as_bytes()].concat(),
        _ => format!("{}{tail}", e.body).into_bytes(),
    })
}

/// `YYYY:MM:DD HH:MM:SS` (EXIF's form) of unix seconds.
fn exif_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let s = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}:{m:02}:{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// A minimal office document: one XML part holding `text`.
fn office(part: &str, text: &str, serial: u64) -> Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file(part, options)?;
    write!(
        zip,
        "<w:document><w:t>{text}</w:t><w:t>#{serial}</w:t></w:document>"
    )?;
    Ok(zip.finish()?.into_inner())
}

/// The device's locations, each with the directory its files go to.
pub fn locations(device: &str) -> &'static [&'static str] {
    match device {
        "laptop" => &["Documents", "Code", "Music", "Desktop"],
        _ => &["Photos", "Videos", "Documents", "Backups"],
    }
}
