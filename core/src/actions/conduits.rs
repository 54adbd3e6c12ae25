//! Sync conduits: a standing action that keeps a destination folder in
//! step with a source folder, on any devices. Each run is planned from
//! the indexes alone (this device's and the replicas: no rescan of either
//! side), previewed like any action, and logged as a `sync` action; the
//! daemon runs a conduit whenever its plan has work.
//!
//! - `mirror`: new and changed files are copied (a changed file is
//!   written beside its old version, verified, then renamed over it; on
//!   another device its owner keeps both if it changed there meanwhile),
//!   and what the source no longer has goes to the trash there.
//! - `archive`: new and changed files are copied; nothing is removed.
//! - `selective`: a mirror of the files whose name or path matches one of
//!   its `--include` patterns.
//! - `bidirectional`: both ways, against the conduit's base (what both
//!   sides held when last seen agreeing; `two_way.rs`): changes and
//!   deletions travel from the side that made them, a file changed on both
//!   keeps the newer under its name and the other as a conflict copy.

use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::Preview;
use super::preview::{Links, SyncRules, preview_sync};
use super::two_way::Base;
use crate::error::{Error, Result};
use crate::library::Library;
use crate::uri::SdUri;

/// Conduit id → [`Conduit`] (JSON).
const CONDUITS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("conduits");
/// Conduit id → its [`Base`] (postcard), for bidirectional ones.
const BASES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("conduit_bases");

pub(crate) fn initialise(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(CONDUITS)?;
    txn.open_table(BASES)?;
    Ok(())
}

/// How a conduit treats the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConduitMode {
    Mirror,
    Archive,
    Selective,
    Bidirectional,
}

impl ConduitMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ConduitMode::Mirror => "mirror",
            ConduitMode::Archive => "archive",
            ConduitMode::Selective => "selective",
            ConduitMode::Bidirectional => "bidirectional",
        }
    }
}

/// A standing sync from one folder to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conduit {
    pub id: u64,
    pub source: String,
    pub destination: String,
    pub mode: ConduitMode,
    /// A selective conduit's patterns (`*`, `?`, on a name or a path).
    #[serde(default)]
    pub include: Vec<String>,
    pub created_at: i64,
    /// The last run's action in the audit log.
    #[serde(default)]
    pub last_action: Option<u64>,
}

impl Conduit {
    /// A conduit from `source` into `destination`, checked.
    pub fn new(
        source: &SdUri,
        destination: &SdUri,
        mode: ConduitMode,
        include: Vec<String>,
    ) -> Result<Conduit> {
        if (mode == ConduitMode::Selective) == include.is_empty() {
            return Err(Error::InvalidInput(
                "a selective conduit takes --include patterns, and only it does".into(),
            ));
        }
        Ok(Conduit {
            id: 0,
            source: source.to_string(),
            destination: destination.to_string(),
            mode,
            include,
            created_at: crate::time::unix_now_secs(),
            last_action: None,
        })
    }

    pub fn rules(&self) -> SyncRules {
        SyncRules {
            update: true,
            mirror: matches!(self.mode, ConduitMode::Mirror | ConduitMode::Selective),
            include: self.include.clone(),
        }
    }

    /// Its next run's plan, from the indexes alone.
    pub fn preview(&self, lib: &Library, links: &dyn Links) -> Result<Preview> {
        let parse = |s: &str| {
            s.parse::<SdUri>()
                .map_err(|e| Error::InvalidInput(e.to_string()))
        };
        let (source, destination) = (parse(&self.source)?, parse(&self.destination)?);
        if self.mode == ConduitMode::Bidirectional {
            let base = Conduits::new(lib.db().clone()).base(self.id)?;
            return super::two_way::preview_two_way(lib, &source, &destination, &base);
        }
        preview_sync(lib, &source, &destination, &self.rules(), links)
    }
}

/// The conduits of one library.
#[derive(Clone)]
pub struct Conduits {
    db: Arc<Database>,
}

impl Conduits {
    pub fn new(db: Arc<Database>) -> Conduits {
        Conduits { db }
    }

    /// Keeps `conduit` under the next id; returns it.
    pub fn add(&self, conduit: &mut Conduit) -> Result<u64> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(CONDUITS)?;
            conduit.id = table.last()?.map_or(1, |(k, _)| k.value() + 1);
            table.insert(conduit.id, encode(conduit)?.as_slice())?;
        }
        txn.commit()?;
        Ok(conduit.id)
    }

    pub fn update(&self, conduit: &Conduit) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(CONDUITS)?;
            if table.get(conduit.id)?.is_none() {
                return Err(Error::NotFound(format!("no conduit {}", conduit.id)));
            }
            table.insert(conduit.id, encode(conduit)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    pub fn remove(&self, id: u64) -> Result<Conduit> {
        let txn = self.db.begin_write()?;
        let gone = {
            let mut table = txn.open_table(CONDUITS)?;
            let raw = table
                .remove(id)?
                .ok_or_else(|| Error::NotFound(format!("no conduit {id}")))?;
            decode(raw.value())?
        };
        txn.open_table(BASES)?.remove(id)?;
        txn.commit()?;
        Ok(gone)
    }

    pub fn get(&self, id: u64) -> Result<Conduit> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(CONDUITS)?;
        let raw = table
            .get(id)?
            .ok_or_else(|| Error::NotFound(format!("no conduit {id}")))?;
        decode(raw.value())
    }

    /// What both sides of conduit `id` held when last seen agreeing.
    pub fn base(&self, id: u64) -> Result<Base> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(BASES)?;
        match table.get(id)? {
            Some(raw) => postcard::from_bytes(raw.value())
                .map_err(|e| Error::fs(crate::ErrorKind::Corrupt, format!("conduit base: {e}"))),
            None => Ok(Base::new()),
        }
    }

    /// Keeps `base` as conduit `id`'s, after a run that went through.
    pub fn set_base(&self, id: u64, base: &Base) -> Result<()> {
        let raw = postcard::to_allocvec(base)
            .map_err(|e| Error::InvalidInput(format!("conduit base: {e}")))?;
        let txn = self.db.begin_write()?;
        txn.open_table(BASES)?.insert(id, raw.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Every conduit, oldest first.
    pub fn list(&self) -> Result<Vec<Conduit>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(CONDUITS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }
}

fn encode(conduit: &Conduit) -> Result<Vec<u8>> {
    serde_json::to_vec(conduit).map_err(|e| Error::InvalidInput(format!("conduit: {e}")))
}

fn decode(raw: &[u8]) -> Result<Conduit> {
    serde_json::from_slice(raw)
        .map_err(|e| Error::fs(crate::ErrorKind::Corrupt, format!("conduit record: {e}")))
}
