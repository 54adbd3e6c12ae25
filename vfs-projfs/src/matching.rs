//! ProjFS's name rules, as `PrjFileNameMatch` and `PrjFileNameCompare`
//! document them: enumerations are sorted and filtered the way NTFS does,
//! case-insensitively, so Explorer and `dir` see what they expect.

use std::cmp::Ordering;

const DOS_STAR: u16 = b'<' as u16;
const DOS_QM: u16 = b'>' as u16;
const DOS_DOT: u16 = b'"' as u16;
const STAR: u16 = b'*' as u16;
const QM: u16 = b'?' as u16;
const DOT: u16 = b'.' as u16;

/// One UTF-16 code unit upper-cased as the file system does: a code unit
/// that is a character with a one-character upper case in the BMP maps to
/// it; everything else (surrogates, expanding case mappings) stays.
fn upcase(unit: u16) -> u16 {
    let Some(c) = char::from_u32(u32::from(unit)) else {
        return unit;
    };
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) if (u as u32) <= 0xFFFF => u as u16,
        _ => unit,
    }
}

/// `PrjFileNameCompare`: the order ProjFS wants enumerations in.
pub fn compare(a: &[u16], b: &[u16]) -> Ordering {
    a.iter()
        .map(|u| upcase(*u))
        .cmp(b.iter().map(|u| upcase(*u)))
}

/// `PrjFileNameMatch`: whether `name` matches the search expression
/// `pattern`, with `*`, `?` and the DOS wildcards `<`, `>` and `"`. An
/// empty pattern matches everything.
pub fn matches(name: &[u16], pattern: &[u16]) -> bool {
    if pattern.is_empty() || pattern == [STAR] {
        return true;
    }
    let name: Vec<u16> = name.iter().map(|u| upcase(*u)).collect();
    let pattern: Vec<u16> = pattern.iter().map(|u| upcase(*u)).collect();
    let mut memo = vec![None; (name.len() + 1) * (pattern.len() + 1)];
    at(&name, &pattern, 0, 0, &mut memo)
}

/// Whether `name[n..]` matches `pattern[p..]`.
fn at(name: &[u16], pattern: &[u16], n: usize, p: usize, memo: &mut [Option<bool>]) -> bool {
    let slot = n * (pattern.len() + 1) + p;
    if let Some(known) = memo[slot] {
        return known;
    }
    let result = match pattern.get(p) {
        None => n == name.len(),
        Some(&STAR) => (n..=name.len()).any(|k| at(name, pattern, k, p + 1, memo)),
        Some(&DOS_STAR) => {
            // Any run of characters that does not pass the name's last dot.
            let last_dot = name.iter().rposition(|u| *u == DOT);
            let limit = match last_dot {
                Some(d) if d >= n => d,
                _ => name.len(),
            };
            (n..=limit).any(|k| at(name, pattern, k, p + 1, memo))
        }
        Some(&QM) => n < name.len() && at(name, pattern, n + 1, p + 1, memo),
        Some(&DOS_QM) => {
            // One character, or nothing at a dot or the end.
            let here = name.get(n);
            match here {
                Some(&DOT) | None => at(name, pattern, n, p + 1, memo),
                Some(_) => at(name, pattern, n + 1, p + 1, memo),
            }
        }
        Some(&DOS_DOT) => match name.get(n) {
            Some(&DOT) => at(name, pattern, n + 1, p + 1, memo),
            None => at(name, pattern, n, p + 1, memo),
            Some(_) => false,
        },
        Some(&c) => name.get(n) == Some(&c) && at(name, pattern, n + 1, p + 1, memo),
    };
    memo[slot] = Some(result);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn wildcards_match_as_windows_does() {
        let m = |name: &str, pattern: &str| matches(&w(name), &w(pattern));
        assert!(m("Report.DOCX", "*.docx"));
        assert!(m("report.docx", "REPORT.*"));
        assert!(m("a.txt", ""));
        assert!(m("anything", "*"));
        assert!(m("abc", "a?c"));
        assert!(!m("abc", "a?"));
        assert!(!m("photo.jpg", "*.png"));
        // DOS wildcards, as cmd's `dir *.txt` sends them.
        assert!(m("notes.txt", "<.txt"));
        assert!(m("a.b.txt", "<.txt"));
        assert!(m("readme", "readme\""));
        assert!(m("ab", "a>>"));
        assert!(m("a.x", "a>.x"));
        assert!(!m("abc.x", "a>.x"));
    }

    #[test]
    fn the_order_ignores_case() {
        let mut names = [w("b.txt"), w("A.txt"), w("a.TXT"), w("Zeta"), w("éclair")];
        names.sort_by(|a, b| compare(a, b));
        let shown: Vec<String> = names.iter().map(|n| String::from_utf16_lossy(n)).collect();
        assert_eq!(
            shown[..2]
                .iter()
                .map(|s| s.to_uppercase())
                .collect::<Vec<_>>(),
            ["A.TXT", "A.TXT"]
        );
        assert_eq!(shown[2..], ["b.txt", "Zeta", "éclair"]);
        assert!(!compare(&w("straße"), &w("STRASSE")).is_eq());
        assert!(!matches(&w("ax"), &w("a>x")));
    }
}
