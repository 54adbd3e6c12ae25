//! What files say for the index: read once from the file on the device
//! that holds it and kept in the library by content (`sdfs_core`'s
//! extracts, synced with the content), so an unchanged file is not read
//! again and another device's files are searched by their text and EXIF
//! while that device is away.

use std::cell::RefCell;
use std::collections::HashMap;

use sdfs_core::Library;
use sdfs_core::ids::ContentId;
use sdfs_core::model::extract::ExtractRecord;
use sdfs_core::query::extracts::{self, Extracts};
use sdfs_core::query::files::FileRow;

pub struct Said {
    /// The library's extracts as of the catch-up's start (`None`: not
    /// readable; files are read instead).
    kept: Option<Extracts>,
    /// Read from files since, not kept yet.
    fresh: RefCell<HashMap<ContentId, ExtractRecord>>,
}

impl Said {
    pub fn open(lib: &Library) -> Said {
        let kept = Extracts::open(lib)
            .inspect_err(|e| tracing::warn!("search: extracts unreadable: {e}"))
            .ok();
        Said {
            kept,
            fresh: RefCell::new(HashMap::new()),
        }
    }

    /// What `row` says: as kept for its content, else read from its file
    /// when it is on this device (and kept once its content is known).
    pub fn of(&self, row: &FileRow) -> ExtractRecord {
        if let Some(content) = row.content {
            if let Some(record) = self.fresh.borrow().get(&content) {
                return record.clone();
            }
            let kept = self.kept.as_ref().and_then(|k| {
                k.get(row.owner, content)
                    .inspect_err(|e| tracing::warn!("search: extract of {}: {e}", row.uri))
                    .ok()
                    .flatten()
            });
            if let Some(record) = kept {
                return record;
            }
        }
        let Some(path) = &row.disk_path else {
            return ExtractRecord::default();
        };
        let record = crate::extract::what_it_says(path, row.kind, &row.name, row.size);
        if let Some(content) = row.content
            && !record.is_empty()
        {
            self.fresh.borrow_mut().insert(content, record.clone());
        }
        record
    }

    /// Keeps what was read from files in the library.
    pub fn keep(&self, lib: &Library) -> sdfs_core::Result<()> {
        let fresh: Vec<_> = self.fresh.borrow_mut().drain().collect();
        extracts::store(lib, &fresh)?;
        Ok(())
    }
}

/// Words of a file's text embedded with its name, at most.
const EXCERPT_WORDS: usize = 40;

/// Gives each of `hits` the start of its text, as kept in the library.
pub fn add_excerpts(lib: &Library, hits: &mut [crate::index::Hit]) {
    let Ok(kept) = Extracts::open(lib) else {
        return;
    };
    for hit in hits {
        let (Some(content), Ok(owner)) = (
            hit.content_id
                .as_deref()
                .and_then(|c| c.parse::<ContentId>().ok()),
            hit.owner.parse::<sdfs_core::ids::DeviceId>(),
        ) else {
            continue;
        };
        if let Ok(Some(said)) = kept.get(owner, content) {
            hit.excerpt = said.text.map(|t| {
                t.split_whitespace()
                    .take(EXCERPT_WORDS)
                    .collect::<Vec<_>>()
                    .join(" ")
            });
        }
    }
}
