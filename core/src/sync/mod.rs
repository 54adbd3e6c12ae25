//! Library sync, device-owned half (SPEC §4): each device is the only writer
//! of its volumes, locations, content identities, entries and what its
//! content says (extracts); the others
//! keep a read-only replica, pulled by watermark.
//!
//! - [`changes`]: the owner's change log, written in the same transaction
//!   as the change. One sequence per resource type; a key appears once, at
//!   its latest change, so the log stays as large as the data.
//! - [`owner`]: answers a [`Pull`] with a bounded [`Page`].
//! - [`replica`]: applies pages, advancing each watermark in the same
//!   transaction, and answers the mount's questions without the network.
//! - [`puller`]: the sans-IO state machine that decides when to pull from
//!   a peer and what to do with what comes back.
//!
//! Architecture Invariant: a replica applies a page only when the page
//! starts at the replica's watermark, so late, lost or duplicated pages can
//! delay convergence but never undo it.

pub mod changes;
mod device_data;
pub mod owner;
pub mod puller;
pub mod replica;
#[cfg(test)]
mod sim;

pub use device_data::DeviceData;

use serde::{Deserialize, Serialize};

/// The device-owned resource types, in the order a page carries them
/// (a location's volume before the location, content before the entries
/// that name it, entries before what their content says).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum Resource {
    Volume = 1,
    Location = 2,
    Content = 3,
    Entry = 4,
    Extract = 5,
}

impl Resource {
    pub const ALL: [Resource; 5] = [
        Resource::Volume,
        Resource::Location,
        Resource::Content,
        Resource::Entry,
        Resource::Extract,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    /// Its place in [`Resource::ALL`] (and so in [`Watermarks`]).
    pub fn slot(self) -> usize {
        usize::from(self.code() - 1)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Volume => "volumes",
            Resource::Location => "locations",
            Resource::Content => "content",
            Resource::Entry => "entries",
            Resource::Extract => "extracts",
        }
    }
}

/// How far a replica has applied one resource of one owner: every change
/// with a sequence number at or below it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Watermark(pub u64);

/// Watermarks of all resources, in [`Resource::ALL`] order.
pub type Watermarks = [Watermark; Resource::ALL.len()];

/// "Send me what changed after these watermarks."
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pull {
    pub after: Watermarks,
    /// At most this many items (the owner may send fewer).
    pub limit: u32,
    /// While resyncing in full: the floors the owner gave when the resync
    /// began. The owner starts it over if they moved since.
    pub resync: Option<Watermarks>,
}

/// One changed key: its current record, or `None` once deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub key: u128,
    #[serde(with = "serde_bytes")]
    pub record: Option<Vec<u8>>,
}

/// The changes of one resource after `after`, up to `next`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub resource: Resource,
    pub after: Watermark,
    pub next: Watermark,
    pub items: Vec<Item>,
}

/// An owner's answer to a [`Pull`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub batches: Vec<Batch>,
    /// More changes wait after this page: pull again at once.
    pub more: bool,
    /// Set when the replica missed deletions the owner no longer keeps:
    /// this page starts a full resync from the beginning of the log, and
    /// carries the owner's floors (see [`changes::floors`]).
    pub resync: Option<Watermarks>,
}

impl Page {
    pub fn items(&self) -> usize {
        self.batches.iter().map(|b| b.items.len()).sum()
    }
}

/// Bytes of records a page carries at most; a page message stays well
/// under the sync protocol's bound.
pub const PAGE_BYTES: usize = 2 * 1024 * 1024;
/// The most a sync message may weigh on the wire.
pub const MAX_SYNC_MESSAGE: usize = 4 * 1024 * 1024;
/// Items per page unless the puller asks for fewer.
pub const PAGE_ITEMS: u32 = 20_000;

/// Pulls every page of `owner`'s log into `replica` (tests: two libraries
/// in one process, no network).
#[cfg(test)]
pub(crate) fn pull_all(owner: &crate::Library, replica: &crate::Library) {
    let device = owner.device_id();
    loop {
        let (after, resync) = replica::pull_state(replica.db(), device).expect("watermarks");
        let pull = Pull {
            after,
            limit: 1000,
            resync,
        };
        let page = owner::page(owner.db(), &pull).expect("page");
        replica::apply(replica.db(), device, &page).expect("apply");
        if !page.more {
            break;
        }
    }
}
