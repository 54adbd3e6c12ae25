//! Shared data (SPEC §4): what any device may change — tag assignments and
//! the tag hierarchy for now. Each device appends HLC-stamped operations to its own log; logs are
//! exchanged by version vector (per origin device, the latest stamp held),
//! so any device can relay any other's operations. Tag assignments merge as
//! an observed-remove set: concurrent adds are a union, and a remove takes
//! away only the adds it saw. Operations whose effect is settled are pruned
//! from the log once every paired device has acknowledged them.
//!
//! Architecture Invariant: a device's log holds, per origin, a prefix of
//! that origin's operations (minus pruned ones every peer has), so a pull
//! "after my version vector" never leaves a gap.

pub mod hlc;
pub mod store;
pub mod tag_tree;
pub mod tags;
pub mod target;

use serde::{Deserialize, Serialize};

pub use hlc::{Clock, Hlc};

use crate::ids::DeviceId;

/// A file that carries shared data: an entry of some device's index (entry
/// ids survive moves and renames).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    pub device: DeviceId,
    pub entry: u64,
}

/// One change to shared data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Tag `target` with `tag`; the add is known by the op's stamp.
    TagAdd { target: Target, tag: String },
    /// Take `tag` off `target`: the adds with these stamps, which the
    /// remover had seen. Adds it had not seen survive.
    TagRemove {
        target: Target,
        tag: String,
        adds: Vec<Hlc>,
    },
    /// `child` is a kind of `parent`: a file tagged `child` is found under
    /// `parent` too. The edges form a set like tag assignments do.
    TagParent { child: String, parent: String },
    /// Takes away the edge's adds with these stamps, which the remover had
    /// seen.
    TagUnparent {
        child: String,
        parent: String,
        adds: Vec<Hlc>,
    },
}

/// An operation with its stamp; the stamp's device is its origin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedOp {
    pub hlc: Hlc,
    pub op: Op,
}

/// Per origin device, the latest stamp held.
pub type VersionVector = Vec<(u128, Hlc)>;

/// At most this many operations per answer.
pub const OPS_PER_PAGE: usize = 5_000;
/// Longest tag, in bytes.
pub const MAX_TAG: usize = 255;

/// A tag must be short, printable and without `,` (the xattr separator).
pub fn validate_tag(tag: &str) -> crate::Result<()> {
    if tag.is_empty()
        || tag.len() > MAX_TAG
        || tag.contains(',')
        || tag.chars().any(char::is_control)
        || tag.trim() != tag
    {
        return Err(crate::Error::InvalidInput(format!(
            "{tag:?} is not a tag (1–{MAX_TAG} bytes, no commas, control characters or surrounding spaces)"
        )));
    }
    Ok(())
}
