//! The audit log: every action, append-only, in the library. A record is
//! written when the action is previewed or committed and updated as it
//! runs; none is ever removed. Also the throughput measured on each link,
//! which the next preview's estimate reads.

use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{ActionRequest, Preview};
use crate::error::{Error, Result};
use crate::ids::DeviceId;

/// Action id → [`ActionRecord`] (JSON: the record grows fields; old
/// records still read).
const ACTIONS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("actions");
/// `(from, to)` device → bytes per second of the last transfer.
const LINK_SPEEDS: TableDefinition<'_, (u128, u128), f64> = TableDefinition::new("link_speeds");

pub(crate) fn initialise(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(ACTIONS)?;
    txn.open_table(LINK_SPEEDS)?;
    Ok(())
}

/// Where an action stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Previewed,
    Committed,
    Running,
    Done,
    Failed,
}

impl ActionStatus {
    /// Committed and not finished: resumed when the daemon starts.
    pub fn is_unfinished(self) -> bool {
        matches!(self, ActionStatus::Committed | ActionStatus::Running)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Previewed => "previewed",
            ActionStatus::Committed => "committed",
            ActionStatus::Running => "running",
            ActionStatus::Done => "done",
            ActionStatus::Failed => "failed",
        }
    }
}

/// One action in the audit log.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActionRecord {
    pub id: u64,
    #[serde(flatten)]
    pub request: ActionRequest,
    /// The device that asked for it.
    pub device: String,
    pub status: ActionStatus,
    /// What its preview promised: files, bytes, skipped.
    pub files: u64,
    pub bytes: u64,
    pub skipped: u64,
    /// Unix seconds.
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// What it did: files and bytes transferred and verified, sources
    /// removed (a move).
    pub done_files: u64,
    pub done_bytes: u64,
    pub verified: u64,
    pub removed: u64,
    /// Runs, counting resumptions.
    pub runs: u32,
    pub errors: Vec<String>,
    /// The action this one undoes.
    #[serde(default)]
    pub undoes: Option<u64>,
    /// The action that undid this one.
    #[serde(default)]
    pub undone_by: Option<u64>,
    /// A delete: what went to a trash, and where.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trashed: Vec<super::Trashed>,
    /// A tag action: the tags the file gained and lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<super::TagChange>,
}

impl ActionRecord {
    pub fn new(preview: &Preview, device: &str) -> ActionRecord {
        ActionRecord {
            id: 0,
            request: preview.request.clone(),
            device: device.to_owned(),
            status: ActionStatus::Previewed,
            files: preview.files,
            bytes: preview.bytes,
            skipped: preview.skipped,
            created_at: crate::time::unix_now_secs(),
            started_at: None,
            finished_at: None,
            done_files: 0,
            done_bytes: 0,
            verified: 0,
            removed: 0,
            runs: 0,
            errors: Vec::new(),
            undoes: None,
            undone_by: None,
            trashed: Vec::new(),
            tags: None,
        }
    }
}

/// The audit log of one library.
#[derive(Clone)]
pub struct Actions {
    db: Arc<Database>,
}

impl Actions {
    pub fn new(db: Arc<Database>) -> Actions {
        Actions { db }
    }

    /// Appends `record` under the next id, durably; returns the id.
    pub fn append(&self, record: &mut ActionRecord) -> Result<u64> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(ACTIONS)?;
            let next = table.last()?.map_or(1, |(k, _)| k.value() + 1);
            record.id = next;
            table.insert(next, encode(record)?.as_slice())?;
        }
        txn.commit()?;
        Ok(record.id)
    }

    /// Writes `record` over its earlier state, durably.
    pub fn update(&self, record: &ActionRecord) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(ACTIONS)?;
            if table.get(record.id)?.is_none() {
                return Err(Error::NotFound(format!("no action {}", record.id)));
            }
            table.insert(record.id, encode(record)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    pub fn get(&self, id: u64) -> Result<ActionRecord> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ACTIONS)?;
        let raw = table
            .get(id)?
            .ok_or_else(|| Error::NotFound(format!("no action {id}")))?;
        decode(raw.value())
    }

    /// Every action, oldest first.
    pub fn list(&self) -> Result<Vec<ActionRecord>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ACTIONS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }
}

/// Throughput measured between devices.
#[derive(Clone)]
pub struct LinkSpeeds {
    db: Arc<Database>,
}

impl LinkSpeeds {
    pub fn new(db: Arc<Database>) -> LinkSpeeds {
        LinkSpeeds { db }
    }

    pub fn get(&self, from: DeviceId, to: DeviceId) -> Result<Option<f64>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(LINK_SPEEDS)?;
        Ok(table
            .get((from.0.as_u128(), to.0.as_u128()))?
            .map(|v| v.value()))
    }

    /// Records a transfer of `bytes` in `secs` (small ones say little).
    pub fn record(&self, from: DeviceId, to: DeviceId, bytes: u64, secs: f64) -> Result<()> {
        if bytes < 1 << 20 || secs <= 0.0 {
            return Ok(());
        }
        let txn = self.db.begin_write()?;
        txn.open_table(LINK_SPEEDS)?
            .insert((from.0.as_u128(), to.0.as_u128()), bytes as f64 / secs)?;
        txn.commit()?;
        Ok(())
    }
}

fn encode(record: &ActionRecord) -> Result<Vec<u8>> {
    serde_json::to_vec(record).map_err(|e| Error::InvalidInput(format!("action record: {e}")))
}

fn decode(bytes: &[u8]) -> Result<ActionRecord> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::fs(crate::ErrorKind::Corrupt, format!("action record: {e}")))
}
