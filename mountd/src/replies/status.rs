//! `sd status` and `sd unmount`.

use std::io::Write;
use std::path::PathBuf;

use sdfs_core::content_store::{IntegrityIssue, IssueKind};
use sdfs_core::ids::{DeviceId, LibraryId};
use serde::Serialize;

use super::deliveries::Deliveries;
use super::jobs::Jobs;
use super::locations::Locations;
use crate::outcome::Render;

#[derive(Debug, Clone, Serialize)]
pub struct DeviceBrief {
    pub id: DeviceId,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DaemonInfo {
    pub pid: u32,
    pub started_at: String,
}

/// `sd status`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub library: PathBuf,
    pub library_id: LibraryId,
    pub device: DeviceBrief,
    pub daemon: Option<DaemonInfo>,
    pub mount: Option<PathBuf>,
    pub p2p: Option<sdfs_p2p::NodeStatus>,
    pub locations: Locations,
    pub jobs: Jobs,
    pub deliveries: Deliveries,
    /// What the integrity job found wrong with this device's files (kept
    /// until the file is re-indexed): silent corruption, and sampled-hash
    /// collisions.
    pub integrity: Vec<IntegrityIssue>,
}

impl Render for Status {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "library {} ({})",
            self.library.display(),
            self.library_id
        )?;
        writeln!(out, "device  {} ({})", self.device.name, self.device.id)?;
        match &self.daemon {
            None => writeln!(out, "daemon  not running")?,
            Some(d) => writeln!(out, "daemon  pid {} since {}", d.pid, d.started_at)?,
        }
        if let Some(p2p) = &self.p2p {
            writeln!(
                out,
                "p2p     {} on {} ({} connected)",
                p2p.peer_id,
                p2p.listen_addrs.join(" "),
                p2p.connected.len()
            )?;
        }
        if let Some(mount) = &self.mount {
            writeln!(out, "mount   {}", mount.display())?;
        }
        writeln!(out, "locations:")?;
        self.locations.render(out)?;
        writeln!(out, "active jobs:")?;
        self.jobs.render(out)?;
        self.deliveries.render(out)?;
        if !self.integrity.is_empty() {
            writeln!(
                out,
                "integrity: {} file(s) need attention:",
                self.integrity.len()
            )?;
            for issue in &self.integrity {
                let kind = match issue.kind {
                    IssueKind::Corruption => "corrupted",
                    IssueKind::Collision => "sampled-hash collision",
                };
                writeln!(
                    out,
                    "  {kind}: {} (should hash to {}, reads as {})",
                    issue.path, issue.expected, issue.actual
                )?;
            }
        }
        Ok(())
    }
}

/// `sd unmount`.
#[derive(Debug, Clone, Serialize)]
pub struct Stopping {
    pub stopping: u32,
    pub mount: Option<PathBuf>,
}

impl Render for Stopping {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        match &self.mount {
            Some(m) => writeln!(
                out,
                "daemon {} is stopping and unmounting {}",
                self.stopping,
                m.display()
            ),
            None => writeln!(out, "daemon {} is stopping", self.stopping),
        }
    }
}
