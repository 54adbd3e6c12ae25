//! `sd cloud add|list|rm`, and `sd index` of a cloud volume.

use std::io::Write;

use anyhow::Result;
use sdfs_core::Library;
use sdfs_core::cloud::{CloudIndexed, Service};
use sdfs_core::ids::LocationId;
use serde::Serialize;

use crate::outcome::{Render, human_bytes};

/// A cloud volume with what its index holds.
#[derive(Debug, Clone, Serialize)]
pub struct CloudRow {
    /// The device whose volume it is (this one, or a paired device whose
    /// bucket this device reads directly with its own keys).
    pub owner: String,
    pub name: String,
    pub id: LocationId,
    /// `s3` or `webdav`.
    pub service: &'static str,
    /// `s3://bucket/prefix`, or the share's URL.
    pub source: String,
    pub endpoint: String,
    pub uri: String,
    pub files: u64,
    pub size: u64,
    pub last_indexed: Option<String>,
}

impl CloudRow {
    fn of(lib: &Library, config: &sdfs_core::cloud::CloudConfig) -> Result<CloudRow> {
        // This device's volume, or a paired device's it has keys for
        // (what its index holds is then in the replica).
        let (owner, location, files, size) =
            match sdfs_core::locations::get_by_id(lib.db(), config.location) {
                Ok(location) => {
                    let uri = sdfs_core::uri::SdUri::device(
                        lib.device_name(),
                        config.name.as_bytes(),
                        b"",
                    );
                    let stat = sdfs_core::query::stat(lib, &uri)?;
                    let files = stat.files.unwrap_or(0);
                    (lib.device_name().to_owned(), location, files, stat.size)
                }
                Err(e) => match sdfs_core::cloud::owner(lib, config.location)? {
                    Some(shared) => {
                        let view =
                            sdfs_core::sync::replica::ReplicaView::new(lib.db(), shared.device.id)?;
                        let root = view.entry(shared.location.root.0)?;
                        let (files, size) = root.map_or((0, 0), |r| (r.agg_files, r.agg_size));
                        (shared.device.name, shared.location, files, size)
                    }
                    None => return Err(e.into()),
                },
            };
        let uri = sdfs_core::uri::SdUri::device(&owner, config.name.as_bytes(), b"");
        let endpoint = match &config.service {
            Service::S3 { endpoint, .. } | Service::Webdav { endpoint, .. } => endpoint.clone(),
        };
        Ok(CloudRow {
            owner,
            name: config.name.clone(),
            id: config.location,
            service: config.service.kind(),
            source: config.service.source(),
            endpoint,
            uri: uri.to_string(),
            files,
            size,
            last_indexed: location.last_indexed.map(sdfs_core::time::rfc3339),
        })
    }
}

/// `sd cloud add`.
#[derive(Debug, Clone, Serialize)]
pub struct CloudAdded {
    #[serde(flatten)]
    pub volume: CloudRow,
    /// Where the secrets are kept (mode 0600).
    pub secrets_file: String,
    /// Set when the bucket was already a paired device's volume: this
    /// device now reads it directly.
    pub connected: bool,
}

impl CloudAdded {
    pub fn of(lib: &Library, added: &sdfs_core::cloud::Added) -> Result<CloudAdded> {
        Ok(CloudAdded {
            volume: CloudRow::of(lib, &added.config)?,
            secrets_file: added.secrets_file.display().to_string(),
            connected: added.owner.is_some(),
        })
    }
}

impl Render for CloudAdded {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.connected {
            writeln!(
                out,
                "{} is already {}'s volume {}: this device now reads it directly with these keys \
                 (its index and uploads stay {}'s)",
                self.volume.source, self.volume.owner, self.volume.name, self.volume.owner
            )?;
        } else {
            writeln!(
                out,
                "added cloud volume {} ({}); index it with `sd index {}`",
                self.volume.name, self.volume.source, self.volume.name
            )?;
        }
        writeln!(
            out,
            "its secrets are kept in {} (mode 0600; no OS keyring is used)",
            self.secrets_file
        )
    }
}

/// `sd cloud list`.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct CloudVolumes(pub Vec<CloudRow>);

impl CloudVolumes {
    pub fn of(lib: &Library) -> Result<CloudVolumes> {
        sdfs_core::cloud::config::list(lib.db())?
            .iter()
            .map(|c| CloudRow::of(lib, c))
            .collect::<Result<_>>()
            .map(CloudVolumes)
    }
}

impl Render for CloudVolumes {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for row in &self.0 {
            writeln!(
                out,
                "{:<20} {:<12} {:>9} files {:>10}  {:<7} {}",
                row.name,
                row.owner,
                row.files,
                human_bytes(row.size),
                row.service,
                row.source
            )?;
        }
        Ok(())
    }
}

/// `sd cloud rm`.
#[derive(Debug, Clone, Serialize)]
pub struct CloudRemoved {
    pub removed: String,
}

impl Render for CloudRemoved {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "removed cloud volume {} (the bucket is untouched)",
            self.removed
        )
    }
}

/// One volume's index run.
#[derive(Debug, Clone, Serialize)]
pub struct CloudIndexRow {
    pub name: String,
    #[serde(flatten)]
    pub indexed: CloudIndexed,
}

/// `sd index` of cloud volumes.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct CloudIndexedAll(pub Vec<CloudIndexRow>);

impl Render for CloudIndexedAll {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for row in &self.0 {
            let i = &row.indexed;
            writeln!(
                out,
                "indexed {}: {} files, {} dirs, {}; created {}, updated {}, removed {}, identified {} in {:.2}s",
                row.name,
                i.files,
                i.dirs,
                human_bytes(i.bytes),
                i.created,
                i.updated,
                i.removed,
                i.identified,
                i.millis as f64 / 1000.0
            )?;
        }
        Ok(())
    }
}
