//! Undoing an action: a move (or rename) goes back where it came from, as
//! a new move, previewed like any other; a delete's items come back from
//! this device's trash (a restore); a tag action's inverse puts the tags
//! back. A copy made nothing that was not
//! already somewhere: there is nothing to undo (its copies can be moved to
//! the trash like any file).

use super::preview::{Links, parent_of, preview};
use super::side::Side;
use super::{ActionKind, Preview};
use crate::actions::log::{ActionRecord, ActionStatus};
use crate::error::{Error, Result};
use crate::library::Library;
use crate::uri::SdUri;

/// The preview of what undoes `record`.
pub fn plan_undo(lib: &Library, record: &ActionRecord, links: &dyn Links) -> Result<Preview> {
    if let Some(by) = record.undone_by {
        return Err(Error::InvalidInput(format!(
            "action {} was undone already, by action {by}",
            record.id
        )));
    }
    match (record.request.kind, record.status) {
        (ActionKind::Move, ActionStatus::Done) => {}
        // What a delete trashed comes back, even of one that failed part way.
        (ActionKind::Delete | ActionKind::Dedupe, ActionStatus::Done | ActionStatus::Failed) => {
            if record.trashed.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "action {} put nothing in the trash",
                    record.id
                )));
            }
            return super::preview_restore(lib, &record.trashed);
        }
        (ActionKind::Delete | ActionKind::Dedupe, status) => {
            return Err(Error::InvalidInput(format!(
                "action {} is {}: wait for it to finish",
                record.id,
                status.as_str()
            )));
        }
        (ActionKind::Tag, ActionStatus::Done) => return super::tag::preview_untag(lib, record),
        (ActionKind::Tag, status) => {
            return Err(Error::InvalidInput(format!(
                "action {} is {}: it changed no tags",
                record.id,
                status.as_str()
            )));
        }
        (ActionKind::Sync, _) => {
            return Err(Error::InvalidInput(format!(
                "action {} is a conduit's run, not undone: what a mirror trimmed is in the \
                 trash; remove the conduit to stop it",
                record.id
            )));
        }
        (ActionKind::Restore, _) => {
            return Err(Error::InvalidInput(format!(
                "action {} is a restore: delete those files again with `sd rm`",
                record.id
            )));
        }
        (ActionKind::Move, status) => {
            return Err(Error::InvalidInput(format!(
                "action {} is {}: only a finished move can be undone",
                record.id,
                status.as_str()
            )));
        }
        (ActionKind::Copy, _) => {
            return Err(Error::InvalidInput(format!(
                "action {} is a copy: it removed nothing, so there is nothing to put back \
                 (trash the copies if they are not wanted)",
                record.id
            )));
        }
    }
    let parse = |s: &str| -> Result<SdUri> {
        s.parse()
            .map_err(|e: crate::uri::UriError| Error::InvalidInput(e.to_string()))
    };
    let destination = parse(&record.request.destination)?;
    let dest = Side::of(lib, &destination)?;
    let mut moved = Vec::new();
    let mut back: Option<SdUri> = None;
    for source in &record.request.sources {
        let source = parse(source)?;
        let name = source
            .rel_path()
            .rsplit(|&b| b == b'/')
            .next()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                Error::InvalidInput(format!("{source}: a whole location is not moved back"))
            })?
            .to_vec();
        // Into the destination folder, or to the destination's own name:
        // then it goes back to its own name.
        let inside = destination.join(&name);
        if dest.spot(&inside)?.entry.is_none() {
            if record.request.sources.len() != 1 {
                return Err(Error::NotFound(format!("{inside}: not there any more")));
            }
            return preview(
                lib,
                ActionKind::Move,
                std::slice::from_ref(&destination),
                &source,
                links,
            );
        }
        let now = inside;
        let parent = parent_of(&source).ok_or_else(|| {
            Error::InvalidInput(format!("{source}: a whole location is not moved back"))
        })?;
        match &back {
            Some(p) if *p != parent => {
                return Err(Error::InvalidInput(format!(
                    "action {}'s sources came from several folders: move them back one by one",
                    record.id
                )));
            }
            _ => back = Some(parent),
        }
        moved.push(now);
    }
    let back = back.ok_or_else(|| Error::InvalidInput("an action without sources".into()))?;
    preview(lib, ActionKind::Move, &moved, &back, links)
}
