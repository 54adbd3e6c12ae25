//! Actions (SPEC §4): a change a user asks for across devices — copy or
//! move files and folders of any device or bucket — previewed from the
//! index alone, then committed as a durable, verified run recorded in the
//! audit log.
//!
//! - `preview.rs` plans from this device's index and the replicas: what
//!   moves, what the destination already holds (skipped), the space it
//!   needs against what the target volume has free, conflicts and
//!   warnings, and an estimate from the throughput measured on that link.
//!   It reads no file.
//! - `run.rs` carries a plan out through the namespace (the one
//!   filesystem API: another device's destination is written as the mount
//!   writes it, staged and delivered to its owner, who checks every byte).
//!   Every copy is verified by BLAKE3 where it lands; a move removes a
//!   source only after its copy is verified.
//! - `log.rs` is the audit log: each action's request, status (previewed,
//!   committed, running, done, failed), timing, results and errors. A run
//!   cut short (a crash, a device away) is planned again from the index,
//!   where what already arrived shows as skipped: it resumes.
//! - `conduits.rs` keeps standing syncs (`sd conduit`): each run is a
//!   `sync` action planned by `preview.rs` with its mode's rules.
//! - `dedupe.rs` plans `sd dedupe` (extra copies to the trash, each
//!   compared in full with the copy kept before it goes).
//! - `delete.rs` plans `sd rm` (to a trash, never unlinked) and the
//!   restore that undoes it.
//! - `two_way.rs` plans a bidirectional conduit's run against its base.
//! - `tag.rs` is `sd tag add|rm` as an action: logged with what changed,
//!   undone by the inverse change.
//! - `side.rs` reads one device's index (own or replicated).

mod conduits;
mod dedupe;
mod delete;
mod log;
mod preview;
mod run;
mod side;
mod tag;
#[cfg(test)]
mod tests;
mod two_way;
mod undo;

use serde::{Deserialize, Serialize};

pub use conduits::{Conduit, ConduitMode, Conduits};
pub use dedupe::preview_dedupe;
pub use delete::{Restore, TRASH, Trashed, preview_delete, preview_restore};
pub use log::{ActionRecord, ActionStatus, Actions, LinkSpeeds};
pub use preview::{Links, SyncRules, preview, preview_counts, preview_sync};
pub use run::{RunOptions, RunProgress, RunReport, run};
pub use tag::{TAGS, TagChange, tag};
pub use two_way::{Base, BaseFile, preview_two_way};
pub use undo::plan_undo;

use crate::ids::{ContentId, DeviceId};
use crate::uri::SdUri;

/// What an action does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Copy,
    Move,
    /// To the trash (`sd rm`).
    Delete,
    /// Back from the trash (undoing a delete).
    Restore,
    /// Tags added to or removed from a file (`sd tag`).
    Tag,
    /// A conduit's run: new and changed files copied, and for a mirror
    /// what the source no longer has trashed at the destination.
    Sync,
    /// Extra copies of a file to the trash (`sd dedupe`).
    Dedupe,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Copy => "copy",
            ActionKind::Move => "move",
            ActionKind::Delete => "delete",
            ActionKind::Restore => "restore",
            ActionKind::Tag => "tag",
            ActionKind::Sync => "sync",
            ActionKind::Dedupe => "dedupe",
        }
    }
}

/// What the user asked: the action, its sources and its destination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRequest {
    #[serde(rename = "type")]
    pub kind: ActionKind,
    pub sources: Vec<String>,
    pub destination: String,
}

/// What an action would do, from the index alone.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Preview {
    #[serde(flatten)]
    pub request: ActionRequest,
    /// Files to transfer, and their bytes.
    pub files: u64,
    pub bytes: u64,
    /// Files the destination already holds with the same content.
    pub skipped: u64,
    pub skipped_bytes: u64,
    /// Folders to create.
    pub dirs: u64,
    /// A mirror: files at the destination that go to the trash.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub to_trash: u64,
    /// Bytes the destination volume must take.
    pub space_needed: u64,
    /// What the destination volume had free when its device last said.
    pub space_free: Option<u64>,
    /// Why parts of it cannot be done; those parts are left out.
    pub conflicts: Vec<Conflict>,
    pub warnings: Vec<String>,
    /// Seconds, from throughput measured on this link (`null` until one
    /// has been measured).
    pub estimate_s: Option<f64>,
    /// A tag action: the tags it adds and removes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<TagChange>,
    #[serde(skip)]
    pub plan: Plan,
}

impl Preview {
    /// A preview of `request` that does nothing yet, with nothing to
    /// transfer on any link (the planners fill it in).
    pub(crate) fn empty(request: ActionRequest) -> Preview {
        Preview {
            request,
            files: 0,
            bytes: 0,
            skipped: 0,
            skipped_bytes: 0,
            dirs: 0,
            to_trash: 0,
            space_needed: 0,
            space_free: None,
            conflicts: Vec::new(),
            warnings: Vec::new(),
            estimate_s: Some(0.0),
            tags: None,
            plan: Plan::default(),
        }
    }
}

/// A part of an action that cannot be done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub uri: String,
    pub reason: String,
}

/// The steps a preview promises, in order.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub from_device: Vec<DeviceId>,
    pub to_device: Option<DeviceId>,
    /// Folders to create at the destination, parents first.
    pub dirs: Vec<SdUri>,
    pub items: Vec<Item>,
    /// A move's sources to remove once their copies are verified:
    /// whole trees, by their top.
    pub removals: Vec<SdUri>,
    /// Files the destination's index says it holds already: a copy skips
    /// them; a move checks each on disk (or copies it after all) before
    /// its source goes, since an index can lag behind its disk.
    pub present: Vec<Item>,
    /// A move within one location: renamed, no byte copied.
    pub renames: Vec<(SdUri, SdUri)>,
    /// A restore: items of this device's trash going back.
    pub restores: Vec<Restore>,
    /// A sync: files at the destination replaced by the source's version
    /// (written beside, verified, then renamed over).
    pub updates: Vec<Item>,
    /// A dedupe: each extra copy, with the copy kept.
    pub duplicates: Vec<(SdUri, SdUri)>,
    /// A bidirectional sync: the conduit's base once the run has gone
    /// through without an error, when it differs from the one planned
    /// against (`None`: unchanged).
    pub base: Option<Base>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Item {
    /// The file `record` at `from`, to go to `to`.
    fn of(from: SdUri, to: SdUri, record: &crate::model::entry::EntryRecord) -> Item {
        Item {
            from,
            to,
            size: record.size,
            mode: record.mode,
            content: record.content,
            full: None,
            link: record.link_target.clone(),
        }
    }
}

/// One file to transfer.
#[derive(Clone, Debug)]
pub struct Item {
    pub from: SdUri,
    pub to: SdUri,
    pub size: u64,
    pub mode: u32,
    pub content: Option<ContentId>,
    /// The content's full BLAKE3, where the source's owner knows it
    /// (looked up when the item runs: a preview reads one record per file
    /// less).
    pub full: Option<[u8; 32]>,
    /// A symbolic link: its target (copied as a link).
    pub link: Option<Vec<u8>>,
}

pub(crate) fn initialise(txn: &redb::WriteTransaction) -> crate::error::Result<()> {
    log::initialise(txn)?;
    conduits::initialise(txn)
}
