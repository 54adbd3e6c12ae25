//! Indexer rules: what a location's index leaves out. They decide what is
//! indexed, never what the mount shows.

use serde::{Deserialize, Serialize};

/// Per-location switches; every rule is on by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexRules {
    /// Names starting with `.`.
    pub skip_hidden: bool,
    /// Build output and dependency caches: `node_modules`, `target`, ...
    pub skip_dev_dirs: bool,
    /// OS clutter: `.DS_Store`, `Thumbs.db`, `lost+found`, ...
    pub skip_system: bool,
    /// Editor swap files, partial downloads, `*.tmp`, ...
    pub skip_temp: bool,
    /// Honour `.gitignore` inside git repositories.
    pub gitignore: bool,
}

impl Default for IndexRules {
    fn default() -> Self {
        IndexRules {
            skip_hidden: true,
            skip_dev_dirs: true,
            skip_system: true,
            skip_temp: true,
            gitignore: true,
        }
    }
}

/// Which rule left a name out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    Hidden,
    DevDir,
    System,
    Temp,
    GitIgnore,
}

const DEV_DIRS: &[&[u8]] = &[
    b"node_modules",
    b"target",
    b"__pycache__",
    b".venv",
    b"venv",
    b".tox",
    b".gradle",
    b".next",
    b".nuxt",
    b".cache",
    b"bower_components",
    b".direnv",
    b".mypy_cache",
    b".pytest_cache",
    b"zig-cache",
    b".zig-cache",
];

const SYSTEM_NAMES: &[&[u8]] = &[
    b".DS_Store",
    b".AppleDouble",
    b".Spotlight-V100",
    b".Trashes",
    b".fseventsd",
    b"Thumbs.db",
    b"desktop.ini",
    b"$RECYCLE.BIN",
    b"System Volume Information",
    b"lost+found",
    b".Trash-1000",
];

const TEMP_SUFFIXES: &[&[u8]] = &[
    b".tmp",
    b".temp",
    b".swp",
    b".swo",
    b".part",
    b".crdownload",
    b".partial",
    b"~",
];

impl IndexRules {
    /// Whether `name` (a directory when `is_dir`) is left out, and by which rule.
    pub fn skips(&self, name: &[u8], is_dir: bool) -> Option<Rule> {
        if self.skip_system && SYSTEM_NAMES.contains(&name) {
            return Some(Rule::System);
        }
        if self.skip_dev_dirs && is_dir && DEV_DIRS.contains(&name) {
            return Some(Rule::DevDir);
        }
        if self.skip_temp
            && !is_dir
            && (name.starts_with(b".#") || TEMP_SUFFIXES.iter().any(|s| name.ends_with(s)))
        {
            return Some(Rule::Temp);
        }
        if self.skip_hidden && name.starts_with(b".") {
            return Some(Rule::Hidden);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_skip_the_usual_suspects() {
        let r = IndexRules::default();
        assert_eq!(r.skips(b".bashrc", false), Some(Rule::Hidden));
        assert_eq!(r.skips(b"node_modules", true), Some(Rule::DevDir));
        assert_eq!(r.skips(b"node_modules", false), None);
        assert_eq!(r.skips(b"Thumbs.db", false), Some(Rule::System));
        assert_eq!(r.skips(b"notes.txt.swp", false), Some(Rule::Temp));
        assert_eq!(r.skips(b"notes.txt", false), None);
    }

    #[test]
    fn every_rule_can_be_turned_off() {
        let all_off = IndexRules {
            skip_hidden: false,
            skip_dev_dirs: false,
            skip_system: false,
            skip_temp: false,
            gitignore: false,
        };
        for (name, dir) in [
            (&b".bashrc"[..], false),
            (b"target", true),
            (b".DS_Store", false),
            (b"a.tmp", false),
        ] {
            assert_eq!(all_off.skips(name, dir), None);
        }
    }
}
