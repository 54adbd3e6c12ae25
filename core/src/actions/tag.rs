//! Tagging as an action: `sd tag add|rm` is logged with what it actually
//! changed, and `sd undo` applies the inverse change. Tags are shared data
//! (HLC-stamped, merged as observed-remove sets), so either works on any
//! device's files, from any device.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::log::{ActionRecord, ActionStatus, Actions};
use super::run::Runner;
use super::{ActionKind, ActionRequest, Conflict, Preview};
use crate::error::{Error, Result};
use crate::library::Library;
use crate::shared::{tags, target};
use crate::uri::SdUri;

/// What a tag action names as its destination.
pub const TAGS: &str = "tags";

/// Tags a file gained and lost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl TagChange {
    /// What puts the tags back as they were.
    pub fn inverse(&self) -> TagChange {
        TagChange {
            added: self.removed.clone(),
            removed: self.added.clone(),
        }
    }
}

/// Adds `add` to and removes `remove` from the file at `uri`, and logs
/// what changed (a tag it already had, or lacked, is no change).
pub fn tag(lib: &Library, uri: &SdUri, add: &[String], remove: &[String]) -> Result<ActionRecord> {
    let started = crate::time::unix_now_secs();
    let change = TagChange {
        added: add.to_vec(),
        removed: remove.to_vec(),
    };
    let done = apply(lib, uri, &change)?;
    let preview = tag_preview(uri, change, Vec::new());
    let mut record = ActionRecord::new(&preview, lib.device_name());
    record.status = ActionStatus::Done;
    record.started_at = Some(started);
    record.finished_at = Some(crate::time::unix_now_secs());
    record.done_files = 1;
    record.runs = 1;
    record.tags = Some(done);
    Actions::new(lib.db().clone()).append(&mut record)?;
    Ok(record)
}

/// The undo of a tag action: its inverse, on the same file.
pub(super) fn preview_untag(lib: &Library, record: &ActionRecord) -> Result<Preview> {
    let change = record
        .tags
        .as_ref()
        .map(TagChange::inverse)
        .unwrap_or_default();
    let source = record
        .request
        .sources
        .first()
        .ok_or_else(|| Error::InvalidInput("a tag action without its file".into()))?;
    let uri: SdUri = source
        .parse()
        .map_err(|e: crate::uri::UriError| Error::InvalidInput(e.to_string()))?;
    let mut conflicts = Vec::new();
    if let Err(e) = target::resolve(lib, &uri) {
        conflicts.push(Conflict {
            uri: uri.to_string(),
            reason: e.to_string(),
        });
    }
    Ok(tag_preview(&uri, change, conflicts))
}

fn tag_preview(uri: &SdUri, change: TagChange, conflicts: Vec<Conflict>) -> Preview {
    Preview {
        files: u64::from(conflicts.is_empty()),
        conflicts,
        tags: Some(change),
        ..Preview::empty(ActionRequest {
            kind: ActionKind::Tag,
            sources: vec![uri.to_string()],
            destination: TAGS.to_owned(),
        })
    }
}

/// Applies `change` to the file at `uri`; returns what it changed.
fn apply(lib: &Library, uri: &SdUri, change: &TagChange) -> Result<TagChange> {
    let file = target::resolve(lib, uri)?;
    let before: BTreeSet<String> = tags::tags_of(lib.db(), file)?.into_iter().collect();
    if !change.added.is_empty() {
        tags::add(lib.db(), lib.device_id(), file, &change.added)?;
    }
    if !change.removed.is_empty() {
        tags::remove(lib.db(), lib.device_id(), file, &change.removed)?;
    }
    let after: BTreeSet<String> = tags::tags_of(lib.db(), file)?.into_iter().collect();
    Ok(TagChange {
        added: after.difference(&before).cloned().collect(),
        removed: before.difference(&after).cloned().collect(),
    })
}

impl Runner<'_> {
    /// Runs a tag action's change (an undo's inverse) on its file.
    pub(super) fn retag(&mut self, preview: &Preview) {
        let (Some(change), [source, ..]) = (&preview.tags, preview.request.sources.as_slice())
        else {
            return;
        };
        if !preview.conflicts.is_empty() {
            return;
        }
        let done = source
            .parse::<SdUri>()
            .map_err(|e| Error::InvalidInput(e.to_string()))
            .and_then(|uri| apply(self.ns.library(), &uri, change));
        match done {
            Ok(done) => {
                self.report.files = 1;
                self.report.tags = Some(done);
            }
            Err(e) => self.report.errors.push(format!("{source}: {e}")),
        }
    }
}
