//! What travels over the control socket: one JSON request line, then reply
//! lines (events, then one result or error). The same types drive local runs.

use sdfs_core::indexer::rules::IndexRules;
use sdfs_core::jobs::JobEvent;
use serde::{Deserialize, Serialize};

/// A command for whoever holds the library.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    LocationAdd {
        path: Vec<u8>,
        name: Option<String>,
        mode: String,
        rules: IndexRules,
    },
    LocationList,
    /// A cloud volume to add, with the secrets the command line read.
    CloudAdd {
        name: String,
        service: sdfs_core::cloud::Service,
        secrets: sdfs_core::cloud::Secrets,
    },
    CloudList,
    CloudRm {
        name: String,
        /// Drop changes not uploaded yet (else they refuse the removal).
        #[serde(default)]
        discard_pending: bool,
    },
    LocationRm {
        name: String,
    },
    /// Settings of a location; `None` leaves one as it is.
    LocationSet {
        name: String,
        remote_writes: Option<bool>,
    },
    Conflicts,
    Index {
        location: Option<String>,
    },
    Ls {
        uri: String,
        recursive: bool,
        #[serde(default)]
        long: bool,
    },
    Stat {
        uri: String,
    },
    Dupes {
        min_size: u64,
    },
    Guardian {
        target: Option<Vec<u8>>,
        limit: usize,
    },
    /// `sd cp` / `sd mv`: previewed, and run with `commit`.
    Action {
        kind: sdfs_core::actions::ActionKind,
        sources: Vec<Vec<u8>>,
        destination: Vec<u8>,
        commit: bool,
        limit: Option<u64>,
    },
    Log,
    /// `sd conduit add`: its first run previewed, and with `commit` kept
    /// and run.
    ConduitAdd {
        source: Vec<u8>,
        destination: Vec<u8>,
        mode: sdfs_core::actions::ConduitMode,
        include: Vec<String>,
        commit: bool,
    },
    Conduits,
    ConduitRm {
        id: u64,
    },
    /// `sd undo`: previewed, and run with `commit`.
    Undo {
        id: u64,
        commit: bool,
    },
    Search {
        query: String,
        limit: usize,
        explain: bool,
        /// Read time phrases as if it were this time (unix seconds).
        #[serde(default)]
        now: Option<i64>,
        /// Rank by words alone, without the semantic re-rank.
        #[serde(default)]
        lexical: bool,
    },
    JobsList,
    JobsPause {
        id: u64,
    },
    JobsResume {
        id: u64,
    },
    JobsCancel {
        id: u64,
    },
    Status,
    Shutdown,
    Pin {
        target: Vec<u8>,
    },
    Unpin {
        target: Vec<u8>,
    },
    FreeUp {
        target: Vec<u8>,
    },
    CacheStats,
    CacheGc,
    CacheVerify,
    CacheBudget {
        bytes: Option<u64>,
    },
    Validate {
        rate: Option<u64>,
        reverify: bool,
    },
    PairInvite,
    PairJoin {
        code: String,
        addr: Option<String>,
    },
    Devices,
    DeviceRm {
        name: String,
    },
    /// Tags of a file: `add` and `remove` change them; both empty lists them.
    Tag {
        target: Option<Vec<u8>>,
        add: Vec<String>,
        remove: Vec<String>,
    },
    /// Makes tag `child` a kind of `parent`, or (`remove`) no longer.
    TagParent {
        child: String,
        parent: String,
        remove: bool,
    },
}

/// One line of a reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Event(JobEvent),
    /// Where a fetch of another device's files stands (`sd pin`).
    Fetch(sdfs_core::namespace::FetchProgress),
    /// Where a running action stands (`sd cp`, `sd mv`, ...).
    Action(sdfs_core::actions::RunProgress),
    Ok(crate::outcome::Done),
    Error(String),
}
