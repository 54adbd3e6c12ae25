//! The query grammar: a person's words and typed operators, read left to
//! right by fixed rules into one [`Query`]. Whatever no rule takes is free
//! text over names, paths and content.
//!
//! - Typed operators pass through: `ext:pdf`, `size:>10M`, `size:1M..1G`,
//!   `before:2024-01-01`, `after:2023-06`, `created:2023`, `device:nas`,
//!   `volume:photos`, `tag:tax`, `kind:image`, `in:Projects`.
//! - Times: `today`, `yesterday`, `this|last week|month|year`, `this|last
//!   spring|summer|autumn|fall|winter`, `in 2023`, a bare year, `in
//!   march [2023]`, `march 2023`, `between march and may`, `between 2020
//!   and 2022`, `3 days|weeks|months|years ago`, `past|last 3 days`. A time
//!   alone ranks (recent in that range first); with `created`, `modified`
//!   or `taken` (also as `created:`...) it filters on that time.
//! - Kinds: documents, photos, videos, music, code, archives, books, ...
//! - Sizes: `bigger|larger than|over 1 GB`, `smaller than|under 10 MB`,
//!   `small`, `big`. `KB`, `MB`, `GB`, `TB` are powers of 1000 (as disks are
//!   labelled); `K`, `M`, `G`, `T` and `KiB`... powers of 1024 (as `du` and
//!   `find` count).
//! - `on [my] NAME` for a device or volume the caller knows, `tagged NAME
//!   [and NAME]`, `in NAME` for a folder.

use sdfs_core::kind::FileKind;

use crate::calendar::{self, Clock, Date, Range, add_months, date, next_month};

/// What the parser knows besides the words.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub clock: Clock,
    /// Device names of the library, as `on NAME` may say them.
    pub devices: &'a [String],
    /// Volume (bucket) names.
    pub volumes: &'a [String],
}

/// Which time of a file a range is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeField {
    /// Any of them: a bare time phrase.
    Any,
    Created,
    Modified,
    /// When a photo was taken (EXIF).
    Taken,
}

/// A time range and how the search uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeQuery {
    pub range: Range,
    pub field: TimeField,
    /// Filter on the range; `false` ranks files in it first instead.
    pub filter: bool,
}

/// A parsed query.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    /// Free text, lower-cased.
    pub text: Vec<String>,
    pub kinds: Vec<FileKind>,
    /// Extensions, lower-cased, without the dot.
    pub extensions: Vec<String>,
    pub min_size: Option<u64>,
    pub max_size: Option<u64>,
    pub time: Option<TimeQuery>,
    pub devices: Vec<String>,
    pub volumes: Vec<String>,
    pub tags: Vec<String>,
    /// Folder names, as typed.
    pub folders: Vec<String>,
    /// Years a time phrase named ("tax 2023"): people file by year, so a
    /// name or folder that says the year ranks first too (never filters).
    pub years: Vec<String>,
}

impl Query {
    /// The parse, a line per part, as `sd search --explain` shows it.
    pub fn describe(&self, clock: &Clock) -> Vec<String> {
        let mut lines = Vec::new();
        let mut list = |what: &str, items: Vec<String>| {
            if !items.is_empty() {
                lines.push(format!("{what}: {}", items.join(", ")));
            }
        };
        list("text", self.text.clone());
        list(
            "kinds",
            self.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
        );
        list("extensions", self.extensions.clone());
        list("devices", self.devices.clone());
        list("volumes", self.volumes.clone());
        list("tags", self.tags.clone());
        list("folders", self.folders.clone());
        let sizes = [
            self.min_size.map(|b| format!("at least {b} bytes")),
            self.max_size.map(|b| format!("at most {b} bytes")),
        ];
        list("size", sizes.into_iter().flatten().collect());
        if let Some(t) = self.time {
            let day = |secs: i64| {
                let local = secs.saturating_add(i64::from(clock.utc_offset_secs));
                let d = calendar::civil_from_days(local.div_euclid(86_400));
                format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
            };
            let from = if t.range.start == i64::MIN {
                "the beginning".to_owned()
            } else {
                day(t.range.start)
            };
            let to = if t.range.end == i64::MAX || t.range.end == clock.unix_secs {
                "now".to_owned()
            } else {
                day(t.range.end)
            };
            let field = match t.field {
                TimeField::Any => "any time",
                TimeField::Created => "created",
                TimeField::Modified => "modified",
                TimeField::Taken => "taken",
            };
            let how = if t.filter { "filters" } else { "ranks" };
            lines.push(format!("time: {field} from {from} to before {to} ({how})"));
        }
        lines
    }
}

/// Words that carry no meaning of their own here.
const STOPWORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "my",
    "me",
    "all",
    "any",
    "show",
    "find",
    "files",
    "file",
    "from",
    "of",
    "with",
    "for",
    "that",
    "which",
    "were",
    "was",
    "are",
    "is",
    "and",
    "or",
    "by",
    "about",
    "called",
    "named",
    "mentioning",
    "containing",
];

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn month_of(word: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| *m == word || (word.len() >= 3 && m.starts_with(word)))
        .map(|i| i as u32 + 1)
}

fn year_of(word: &str) -> Option<i32> {
    let y: i32 = word.parse().ok()?;
    (word.len() == 4 && (1900..=2199).contains(&y)).then_some(y)
}

/// Words that name file formats rather than kinds: "spreadsheets", and a
/// language before "code", "files" or "scripts" ("python code").
fn extensions_of(word: &str, next: &str) -> Option<&'static [&'static str]> {
    let formats: &'static [&'static str] = match word {
        "spreadsheet" | "spreadsheets" => &["xlsx", "xls", "ods", "csv"],
        "presentation" | "presentations" | "slides" => &["pptx", "ppt", "odp", "key"],
        "pdf" | "pdfs" => &["pdf"],
        _ => {
            if !matches!(
                next,
                "code" | "files" | "scripts" | "script" | "source" | "sources"
            ) {
                return None;
            }
            match word {
                "python" => &["py"],
                "rust" => &["rs"],
                "typescript" => &["ts", "tsx"],
                "javascript" => &["js", "mjs", "jsx"],
                "shell" | "bash" => &["sh", "bash"],
                _ => return None,
            }
        }
    };
    Some(formats)
}

fn kind_of(word: &str) -> Option<FileKind> {
    use FileKind::*;
    Some(match word {
        "document" | "documents" | "docs" => Document,
        "photo" | "photos" | "image" | "images" | "picture" | "pictures" | "pics" => Image,
        "video" | "videos" | "movie" | "movies" | "clips" => Video,
        "music" | "song" | "songs" | "audio" | "podcasts" => Audio,
        "code" | "source" | "sources" => Code,
        "archive" | "archives" | "zips" | "backups" => Archive,
        "book" | "books" | "ebooks" => Book,
        "font" | "fonts" => Font,
        "database" | "databases" => Database,
        "executable" | "executables" | "programs" | "apps" => Executable,
        "key" | "keys" | "certificates" => Key,
        "notes" | "text" => Text,
        _ => return None,
    })
}

/// `1.5`, `10M`, `1GB`, or a number followed by a unit word.
fn size_of(words: &[String]) -> Option<(u64, usize)> {
    let first = words.first()?;
    let split = first
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(first.len());
    let (number, unit) = first.split_at(split);
    let number: f64 = number.parse().ok()?;
    let (unit, used) = match (unit, words.get(1)) {
        ("", Some(next)) if unit_scale(next).is_some() => (next.as_str(), 2),
        (unit, _) => (unit, 1),
    };
    let scale = unit_scale(unit)?;
    Some(((number * scale as f64) as u64, used))
}

fn unit_scale(unit: &str) -> Option<u64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "" | "b" | "byte" | "bytes" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        _ => return None,
    })
}

/// `2024`, `2024-03`, `2024-03-15` as the range it names.
fn date_range(clock: &Clock, text: &str) -> Option<Range> {
    let mut parts = text.split('-');
    let year = year_of(parts.next()?)?;
    let Some(month) = parts.next() else {
        return Some(clock.year(year));
    };
    let month: u32 = month.parse().ok().filter(|m| (1..=12).contains(m))?;
    let Some(day) = parts.next() else {
        return Some(clock.month(year, month));
    };
    // A day the month does not have (`2023-02-29`) is no date, not the
    // day after the month's end.
    let day = calendar::valid_date(year, month, day.parse().ok()?)?;
    parts.next().is_none().then(|| clock.day(day))
}

/// The season `name` of the year it starts in: its first day and the
/// first day after it (northern hemisphere, meteorological).
fn season(name: &str, year: i32) -> Option<(Date, Date)> {
    let (from, to) = match name {
        "spring" => (3, 6),
        "summer" => (6, 9),
        "autumn" | "fall" => (9, 12),
        "winter" => return Some((date(year, 12, 1), date(year + 1, 3, 1))),
        _ => return None,
    };
    Some((date(year, from, 1), date(year, to, 1)))
}

/// Season `name`: with `last`, the latest one that has ended; else the
/// latest one that has begun.
fn season_range(clock: &Clock, name: &str, last: bool) -> Option<Range> {
    let today = clock.today();
    for year in (today.year - 2..=today.year).rev() {
        let (from, to) = season(name, year)?;
        let wanted = if last { to <= today } else { from <= today };
        if wanted {
            return Some(clock.between(from, to));
        }
    }
    None
}

/// The most recent `month` that has begun.
fn recent_month(clock: &Clock, month: u32) -> (i32, u32) {
    let today = clock.today();
    if month <= today.month {
        (today.year, month)
    } else {
        (today.year - 1, month)
    }
}

/// A time phrase at the start of `words`: its range and how many words.
fn time_phrase(ctx: &Context<'_>, words: &[String]) -> Option<(Range, usize)> {
    let clock = &ctx.clock;
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let today = clock.today();
    let days = calendar::days_from_civil(today);
    match (w(0), w(1), w(2)) {
        ("today", _, _) => return Some((clock.day(today), 1)),
        ("yesterday", _, _) => {
            return Some((clock.day(calendar::civil_from_days(days - 1)), 1));
        }
        (this @ ("this" | "last"), unit, _) => {
            let last = this == "last";
            let back = i64::from(last);
            let range = match unit {
                "week" => Some(clock.week(back)),
                "month" => {
                    let (y, m) = add_months(today.year, today.month, -back);
                    Some(clock.month(y, m))
                }
                "year" => Some(clock.year(today.year - back as i32)),
                season => season_range(clock, season, last),
            };
            if let Some(range) = range {
                return Some((range, 2));
            }
        }
        _ => {}
    }
    // past|last N units
    if matches!(w(0), "past" | "last")
        && let Ok(n) = w(1).parse::<i64>()
        && let Some(range) = span_back(clock, n, w(2))
    {
        return Some((range, 3));
    }
    // N units ago
    if let Ok(n) = w(0).parse::<i64>()
        && w(2) == "ago"
        && let Some(range) = unit_ago(clock, n, w(1))
    {
        return Some((range, 3));
    }
    // between X and Y / from X to Y
    if matches!(w(0), "between" | "from")
        && matches!(w(2), "and" | "to" | "until")
        && let Some(range) = between(clock, w(1), w(3))
    {
        return Some((range, 4));
    }
    // in|during 2023, in march [2023], in summer
    let (at, skip) = if matches!(w(0), "in" | "during" | "since") {
        (1, 1)
    } else {
        (0, 0)
    };
    if let Some(year) = year_of(w(at)) {
        return Some((clock.year(year), skip + 1));
    }
    if let Some(month) = month_of(w(at)) {
        if let Some(year) = year_of(w(at + 1)) {
            return Some((clock.month(year, month), skip + 2));
        }
        // A bare month word is a month only after `in`: "may" alone is a
        // word of the query.
        if skip == 1 {
            let (y, m) = recent_month(clock, month);
            return Some((clock.month(y, m), 2));
        }
    }
    if skip == 1
        && let Some(range) = season_range(clock, w(1), false)
    {
        return Some((range, 2));
    }
    None
}

/// Counts beyond this are no time phrase (and would overflow the dates).
const MAX_COUNT: i64 = 100_000;

fn span_back(clock: &Clock, n: i64, unit: &str) -> Option<Range> {
    if !(0..=MAX_COUNT).contains(&n) {
        return None;
    }
    let unit = unit.trim_end_matches('s');
    let days = match unit {
        "day" => n,
        "week" => 7 * n,
        "month" | "year" => {
            let months = if unit == "month" { n } else { 12 * n };
            let today = clock.today();
            let (y, m) = add_months(today.year, today.month, -months);
            // From 31 March, a month back is the last day of February.
            let day = today.day.min(calendar::days_in_month(y, m));
            return Some(Range {
                start: clock.start_of(date(y, m, day)),
                end: clock.unix_secs,
            });
        }
        _ => return None,
    };
    Some(clock.past_days(days))
}

fn unit_ago(clock: &Clock, n: i64, unit: &str) -> Option<Range> {
    if !(0..=MAX_COUNT).contains(&n) {
        return None;
    }
    let today = clock.today();
    Some(match unit.trim_end_matches('s') {
        "day" => clock.day(calendar::civil_from_days(
            calendar::days_from_civil(today) - n,
        )),
        "week" => clock.week(n),
        "month" => {
            let (y, m) = add_months(today.year, today.month, -n);
            clock.month(y, m)
        }
        "year" => clock.year(today.year - n as i32),
        _ => return None,
    })
}

fn between(clock: &Clock, from: &str, to: &str) -> Option<Range> {
    if let (Some(a), Some(b)) = (year_of(from), year_of(to)) {
        let (a, b) = (a.min(b), a.max(b));
        return Some(clock.between(date(a, 1, 1), date(b + 1, 1, 1)));
    }
    let (a, b) = (month_of(from)?, month_of(to)?);
    // The span that ends most recently: `to`'s most recent month, and
    // `from` before it (in the year before when it comes later).
    let (end_year, end_month) = recent_month(clock, b);
    let start_year = if a <= b { end_year } else { end_year - 1 };
    Some(clock.between(date(start_year, a, 1), next_month(end_year, end_month)))
}

/// Parses `input` against `ctx`.
pub fn parse(input: &str, ctx: &Context<'_>) -> Query {
    let original: Vec<&str> = input.split_whitespace().collect();
    let words: Vec<String> = original
        .iter()
        .map(|w| {
            w.trim_matches(|c: char| matches!(c, ',' | '"' | '\'' | '?' | '!'))
                .to_lowercase()
        })
        .collect();
    let mut q = Query::default();
    let mut field = None;
    let mut filter_range: Option<Range> = None;
    let mut i = 0;
    while i < words.len() {
        let word = words[i].as_str();
        let rest = &words[i..];
        let next = words.get(i + 1).map(String::as_str).unwrap_or("");
        // Typed operators.
        if let Some((key, value)) = word.split_once(':')
            && !value.is_empty()
            && typed(
                &mut q,
                &mut field,
                &mut filter_range,
                ctx,
                key,
                value,
                original[i],
            )
        {
            i += 1;
            continue;
        }
        if let Some((range, used)) = time_phrase(ctx, rest) {
            for word in &rest[..used] {
                if year_of(word).is_some() && !q.years.contains(word) {
                    q.years.push(word.clone());
                }
            }
            q.time.get_or_insert(TimeQuery {
                range,
                field: TimeField::Any,
                filter: false,
            });
            i += used;
            continue;
        }
        match word {
            "created" | "made" => field = Some(TimeField::Created),
            "modified" | "changed" | "edited" | "updated" | "saved" => {
                field = Some(TimeField::Modified)
            }
            "taken" | "shot" => field = Some(TimeField::Taken),
            "bigger" | "larger" | "more" | "over" | "above" | "smaller" | "less" | "under"
            | "below" => {
                let skip = if next == "than" { 2 } else { 1 };
                if let Some((bytes, used)) = size_of(&words[(i + skip).min(words.len())..]) {
                    if matches!(word, "smaller" | "less" | "under" | "below") {
                        q.max_size = Some(bytes);
                    } else {
                        q.min_size = Some(bytes);
                    }
                    i += skip + used;
                    continue;
                }
                push_text(&mut q, word);
            }
            "small" | "tiny" => q.max_size = Some(1 << 20),
            "big" | "large" | "huge" => q.min_size = Some(100 << 20),
            "on" | "at" => {
                let skip = if next == "my" { 2 } else { 1 };
                let name = words.get(i + skip).map(String::as_str).unwrap_or("");
                if let Some(d) = ctx.devices.iter().find(|d| d.to_lowercase() == name) {
                    q.devices.push(d.clone());
                    i += skip + 1;
                    continue;
                }
                if let Some(v) = ctx.volumes.iter().find(|v| v.to_lowercase() == name) {
                    q.volumes.push(v.clone());
                    i += skip + 1;
                    continue;
                }
                push_text(&mut q, word);
            }
            "tagged" | "labelled" | "labeled" => {
                let mut j = i + 1;
                while let Some(tag) = words.get(j) {
                    q.tags.push(tag.clone());
                    j += 1;
                    if words.get(j).map(String::as_str) != Some("and") {
                        break;
                    }
                    j += 1;
                }
                i = j;
                continue;
            }
            "in" | "inside" if !next.is_empty() && !STOPWORDS.contains(&next) => {
                q.folders.push(
                    original[i + 1]
                        .trim_matches(|c: char| matches!(c, ',' | '"' | '\''))
                        .to_owned(),
                );
                i += 2;
                continue;
            }
            word => {
                if let Some(exts) = extensions_of(word, next) {
                    for ext in exts {
                        if !q.extensions.iter().any(|e| e == ext) {
                            q.extensions.push((*ext).to_owned());
                        }
                    }
                } else if let Some(kind) = kind_of(word) {
                    if !q.kinds.contains(&kind) {
                        q.kinds.push(kind);
                    }
                } else {
                    push_text(&mut q, word);
                }
            }
        }
        i += 1;
    }
    if let Some(range) = filter_range {
        q.time = Some(TimeQuery {
            range,
            field: field.unwrap_or(TimeField::Any),
            filter: true,
        });
    } else if let (Some(field), Some(time)) = (field, q.time.as_mut()) {
        // created/modified/taken turn a ranking into a filter.
        time.field = field;
        time.filter = true;
    }
    q
}

fn push_text(q: &mut Query, word: &str) {
    if !word.is_empty() && !STOPWORDS.contains(&word) {
        q.text.push(word.to_owned());
    }
}

/// One `key:value` operator; false when `key` is not one.
fn typed(
    q: &mut Query,
    field: &mut Option<TimeField>,
    filter_range: &mut Option<Range>,
    ctx: &Context<'_>,
    key: &str,
    value: &str,
    original: &str,
) -> bool {
    let clock = &ctx.clock;
    let original_value = original.split_once(':').map_or(value, |(_, v)| v);
    match key {
        "ext" | "extension" => q.extensions.extend(
            value
                .split(',')
                .map(|e| e.trim_start_matches('.').to_owned()),
        ),
        "kind" | "type" => match kind_of(value)
            .or_else(|| FileKind::ALL.into_iter().find(|k| k.as_str() == value))
        {
            Some(kind) => q.kinds.push(kind),
            None => return false,
        },
        "size" => {
            let (op, amount) = match value.as_bytes().first() {
                Some(b'>' | b'<') => value.split_at(1),
                _ => ("", value),
            };
            // `>` and `<` are strict, `>=` and `<=` are not.
            let strict = !op.is_empty() && !amount.starts_with('=');
            let amount = amount.trim_start_matches('=');
            if let Some((lo, hi)) = amount.split_once("..") {
                let (Some((lo, _)), Some((hi, _))) =
                    (size_of(&[lo.to_owned()]), size_of(&[hi.to_owned()]))
                else {
                    return false;
                };
                q.min_size = Some(lo);
                q.max_size = Some(hi);
            } else {
                let Some((bytes, _)) = size_of(&[amount.to_owned()]) else {
                    return false;
                };
                match (op, strict) {
                    ("<", true) => q.max_size = Some(bytes.saturating_sub(1)),
                    ("<", false) => q.max_size = Some(bytes),
                    (_, true) => q.min_size = Some(bytes.saturating_add(1)),
                    _ => q.min_size = Some(bytes),
                }
            }
        }
        "before" | "after" | "since" | "until" => {
            let Some(range) = date_range(clock, value) else {
                return false;
            };
            let current = filter_range.unwrap_or(Range {
                start: i64::MIN,
                end: i64::MAX,
            });
            *filter_range = Some(if matches!(key, "before" | "until") {
                Range {
                    end: range.start,
                    ..current
                }
            } else {
                Range {
                    start: range.start,
                    ..current
                }
            });
        }
        "created" | "modified" | "taken" => {
            let Some(range) = date_range(clock, value) else {
                return false;
            };
            *field = Some(match key {
                "created" => TimeField::Created,
                "modified" => TimeField::Modified,
                _ => TimeField::Taken,
            });
            *filter_range = Some(range);
        }
        "device" | "on" => q.devices.push(original_value.to_owned()),
        "volume" | "bucket" => q.volumes.push(original_value.to_owned()),
        "tag" | "tagged" => q.tags.push(value.to_owned()),
        "in" | "folder" | "dir" => q.folders.push(original_value.to_owned()),
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::days_from_civil;
    use proptest::prelude::*;

    /// Sunday 2026-12-06 15:00 UTC, in UTC.
    fn ctx() -> Context<'static> {
        static DEVICES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        static VOLUMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        Context {
            clock: Clock {
                unix_secs: days_from_civil(date(2026, 12, 6)) * 86_400 + 15 * 3600,
                utc_offset_secs: 0,
            },
            devices: DEVICES.get_or_init(|| vec!["laptop".into(), "nas".into()]),
            volumes: VOLUMES.get_or_init(|| vec!["photos-bucket".into()]),
        }
    }

    fn range(from: Date, to: Date) -> Range {
        ctx().clock.between(from, to)
    }

    fn time(q: &str) -> Option<TimeQuery> {
        parse(q, &ctx()).time
    }

    #[test]
    fn the_issue_s_example() {
        let q = parse("find my tax documents from last year", &ctx());
        assert_eq!(q.text, ["tax"]);
        assert_eq!(q.kinds, [FileKind::Document]);
        assert_eq!(
            q.time,
            Some(TimeQuery {
                range: range(date(2025, 1, 1), date(2026, 1, 1)),
                field: TimeField::Any,
                filter: false,
            })
        );
    }

    #[test]
    fn time_phrases_name_the_ranges_people_mean() {
        let r = |q: &str| time(q).map(|t| t.range);
        assert_eq!(
            r("in 2023"),
            Some(range(date(2023, 1, 1), date(2024, 1, 1)))
        );
        assert_eq!(r("2023"), Some(range(date(2023, 1, 1), date(2024, 1, 1))));
        assert_eq!(
            r("last summer"),
            Some(range(date(2026, 6, 1), date(2026, 9, 1)))
        );
        assert_eq!(
            r("last winter"),
            Some(range(date(2025, 12, 1), date(2026, 3, 1)))
        );
        assert_eq!(
            r("this winter"),
            Some(range(date(2026, 12, 1), date(2027, 3, 1)))
        );
        assert_eq!(
            r("between march and may"),
            Some(range(date(2026, 3, 1), date(2026, 6, 1)))
        );
        assert_eq!(
            r("between november and february"),
            Some(range(date(2025, 11, 1), date(2026, 3, 1)))
        );
        assert_eq!(
            r("between 2020 and 2022"),
            Some(range(date(2020, 1, 1), date(2023, 1, 1)))
        );
        assert_eq!(
            r("yesterday"),
            Some(range(date(2026, 12, 5), date(2026, 12, 6)))
        );
        assert_eq!(
            r("today"),
            Some(range(date(2026, 12, 6), date(2026, 12, 7)))
        );
        // 2026-12-06 is a Sunday: this week began on Monday the 30th.
        assert_eq!(
            r("this week"),
            Some(range(date(2026, 11, 30), date(2026, 12, 7)))
        );
        assert_eq!(
            r("last week"),
            Some(range(date(2026, 11, 23), date(2026, 11, 30)))
        );
        assert_eq!(
            r("3 days ago"),
            Some(range(date(2026, 12, 3), date(2026, 12, 4)))
        );
        assert_eq!(
            r("2 months ago"),
            Some(range(date(2026, 10, 1), date(2026, 11, 1)))
        );
        assert_eq!(
            r("last month"),
            Some(range(date(2026, 11, 1), date(2026, 12, 1)))
        );
        assert_eq!(
            r("in march"),
            Some(range(date(2026, 3, 1), date(2026, 4, 1)))
        );
        assert_eq!(
            r("march 2023"),
            Some(range(date(2023, 3, 1), date(2023, 4, 1)))
        );
        let past = time("past 7 days").expect("past").range;
        assert_eq!(past.end - past.start, 7 * 86_400);
        assert_eq!(past.end, ctx().clock.unix_secs);
    }

    #[test]
    fn a_bare_time_ranks_and_a_named_time_filters() {
        assert_eq!(
            time("photos from last summer").map(|t| t.filter),
            Some(false)
        );
        let taken = time("photos taken last summer").expect("taken");
        assert_eq!((taken.field, taken.filter), (TimeField::Taken, true));
        let modified = time("modified yesterday").expect("modified");
        assert_eq!(
            (modified.field, modified.filter),
            (TimeField::Modified, true)
        );
        let created = time("report created in 2023").expect("created");
        assert_eq!((created.field, created.filter), (TimeField::Created, true));
    }

    #[test]
    fn kinds_sizes_devices_tags_and_folders() {
        let q = parse(
            "videos on my laptop bigger than 1 GB tagged holiday and 2024",
            &ctx(),
        );
        assert_eq!(q.kinds, [FileKind::Video]);
        assert_eq!(q.devices, ["laptop"]);
        assert_eq!(q.min_size, Some(1_000_000_000));
        assert_eq!(q.tags, ["holiday", "2024"]);
        assert!(q.text.is_empty(), "{:?}", q.text);
        let q = parse("music on nas smaller than 10MB in Projects", &ctx());
        assert_eq!(q.kinds, [FileKind::Audio]);
        assert_eq!(q.devices, ["nas"]);
        assert_eq!(q.max_size, Some(10_000_000));
        assert_eq!(q.folders, ["Projects"]);
        let q = parse("small code on photos-bucket", &ctx());
        assert_eq!(
            (q.max_size, q.kinds.as_slice()),
            (Some(1 << 20), &[FileKind::Code][..])
        );
        assert_eq!(q.volumes, ["photos-bucket"]);
        // An unknown device is just words.
        let q = parse("notes on kitchen", &ctx());
        assert_eq!(q.text, ["on", "kitchen"]);
    }

    #[test]
    fn typed_operators_pass_through() {
        let q = parse(
            "invoice ext:pdf size:>10M before:2024-01-01 device:nas tag:tax kind:image",
            &ctx(),
        );
        assert_eq!(q.text, ["invoice"]);
        assert_eq!(q.extensions, ["pdf"]);
        // `>` is strict, `>=` and `<=` are not.
        assert_eq!(q.min_size, Some((10 << 20) + 1));
        assert_eq!(parse("size:>=10M", &ctx()).min_size, Some(10 << 20));
        assert_eq!(parse("size:<1K", &ctx()).max_size, Some(1023));
        assert_eq!(parse("size:<=1K", &ctx()).max_size, Some(1024));
        assert_eq!(q.devices, ["nas"]);
        assert_eq!(q.tags, ["tax"]);
        assert_eq!(q.kinds, [FileKind::Image]);
        let t = q.time.expect("before");
        assert!(t.filter);
        assert_eq!(t.range.end, ctx().clock.start_of(date(2024, 1, 1)));
        let q = parse("size:1M..1G after:2023-06 created:2023", &ctx());
        assert_eq!((q.min_size, q.max_size), (Some(1 << 20), Some(1 << 30)));
        let t = q.time.expect("created");
        assert_eq!(t.field, TimeField::Created);
        // A year a time phrase names also ranks names and folders that say it.
        assert_eq!(parse("tax 2023", &ctx()).years, ["2023"]);
        assert_eq!(parse("photos in march 2024", &ctx()).years, ["2024"]);
        assert!(parse("photos from last year", &ctx()).years.is_empty());
        // Formats and languages are extensions.
        assert_eq!(
            parse("spreadsheets", &ctx()).extensions,
            ["xlsx", "xls", "ods", "csv"]
        );
        let q = parse("python code by ana", &ctx());
        assert_eq!(
            (
                q.extensions.as_slice(),
                q.kinds.as_slice(),
                q.text.as_slice()
            ),
            (
                &["py".to_owned()][..],
                &[FileKind::Code][..],
                &["ana".to_owned()][..]
            )
        );
        assert_eq!(parse("python", &ctx()).text, ["python"]);
        // An operator it does not know is text.
        assert_eq!(parse("http://example", &ctx()).text, ["http://example"]);
    }

    proptest! {
        #[test]
        fn any_input_parses_and_every_range_is_ordered(input in "\\PC{0,80}") {
            let q = parse(&input, &ctx());
            if let Some(t) = q.time {
                prop_assert!(t.range.start <= t.range.end);
            }
        }

        #[test]
        fn words_people_type_parse(words in proptest::collection::vec(
            proptest::sample::select(vec![
                "last", "this", "year", "month", "week", "summer", "in", "2023", "march",
                "between", "and", "may", "3", "days", "ago", "past", "photos", "bigger",
                "than", "1", "GB", "on", "nas", "tagged", "x", "created", "ext:pdf",
                "size:>1M", "before:2024", "from", "to",
            ]), 0..12)) {
            let q = parse(&words.join(" "), &ctx());
            if let Some(t) = q.time {
                prop_assert!(t.range.start <= t.range.end);
            }
        }
    }
}
