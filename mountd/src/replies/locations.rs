//! `sd location add|list|rm`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use sdfs_core::Library;
use sdfs_core::ids::LocationId;
use sdfs_core::indexer::rules::IndexRules;
use sdfs_core::model::location::LocationRecord;
use serde::Serialize;

use crate::outcome::{Render, human_bytes};

/// A location with what its index holds.
#[derive(Debug, Clone, Serialize)]
pub struct LocationRow {
    pub name: String,
    pub id: LocationId,
    pub path: PathBuf,
    pub uri: String,
    pub mode: &'static str,
    pub rules: IndexRules,
    /// Whether paired devices may change files here.
    pub remote_writes: bool,
    pub files: u64,
    pub size: u64,
    pub last_indexed: Option<String>,
}

impl LocationRow {
    pub fn of(lib: &Library, location: &LocationRecord) -> Result<LocationRow> {
        let uri = sdfs_core::uri::SdUri::device(lib.device_name(), location.name.as_bytes(), b"");
        let stat = sdfs_core::query::stat(lib, &uri).context("location root")?;
        Ok(LocationRow {
            name: location.name.clone(),
            id: location.id,
            path: location.root_path().unwrap_or_default(),
            uri: uri.to_string(),
            mode: location.mode.as_str(),
            rules: location.rules,
            remote_writes: location.remote_writes,
            files: stat.files.unwrap_or(0),
            size: stat.size,
            last_indexed: location.last_indexed.map(sdfs_core::time::rfc3339),
        })
    }
}

/// `sd location add`.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Added(pub LocationRow);

impl Render for Added {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let l = &self.0;
        writeln!(
            out,
            "added location {} ({}) as {}",
            l.name,
            l.path.display(),
            l.uri
        )
    }
}

/// `sd location list`.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Locations(pub Vec<LocationRow>);

impl Locations {
    pub fn of(lib: &Library) -> Result<Locations> {
        // Cloud volumes are listed by `sd cloud list`.
        sdfs_core::locations::list(lib.db())?
            .iter()
            .filter(|l| !l.is_cloud())
            .map(|l| LocationRow::of(lib, l))
            .collect::<Result<_>>()
            .map(Locations)
    }
}

impl Render for Locations {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for row in &self.0 {
            writeln!(
                out,
                "{:<20} {:>9} files {:>10}  {:<8} {:<18} {}",
                row.name,
                row.files,
                human_bytes(row.size),
                row.mode,
                if row.remote_writes {
                    "remote writes on"
                } else {
                    "remote writes off"
                },
                row.path.display()
            )?;
        }
        Ok(())
    }
}

/// `sd location set`.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Updated(pub LocationRow);

impl Render for Updated {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let l = &self.0;
        let writes = if l.remote_writes { "on" } else { "off" };
        writeln!(out, "location {}: remote writes {writes}", l.name)
    }
}

/// `sd location rm`.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub removed: String,
    pub path: PathBuf,
}

impl Render for Removed {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "removed location {} ({}); its files are untouched",
            self.removed,
            self.path.display()
        )
    }
}
