//! Changes on their way between devices (`sd status`, `sd jobs`) and the
//! conflict copies they left (`sd conflicts`).

use std::io::Write;

use anyhow::Result;
use sdfs_core::Library;
use sdfs_core::conflicts::ConflictCopy;
use sdfs_core::content_store::ContentStore;
use serde::Serialize;

use crate::outcome::{Render, human_bytes};

/// Changes this device made to one device's files, not yet applied there,
/// or to one of its cloud volumes, not yet uploaded (then `device` is this
/// device and `volume` names the volume).
#[derive(Debug, Clone, Serialize)]
pub struct Outgoing {
    pub device: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    pub pending: usize,
}

/// Deliveries both ways.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Deliveries {
    /// Waiting for their owner, per device.
    pub outgoing: Vec<Outgoing>,
    /// Other devices' changes being applied here now.
    pub incoming: usize,
}

impl Deliveries {
    pub fn of(lib: &Library, content: &ContentStore, incoming: usize) -> Result<Deliveries> {
        let devices = lib.devices()?;
        let pending = sdfs_core::outbox::courier::pending(content)?;
        let mut outgoing: Vec<Outgoing> = pending
            .by_device
            .into_iter()
            .map(|(id, pending)| Outgoing {
                device: devices
                    .iter()
                    .find(|d| d.id == id)
                    .map_or_else(|| id.to_string(), |d| d.name.clone()),
                volume: None,
                pending,
            })
            .collect();
        for (location, pending) in pending.by_volume {
            let volume = sdfs_core::locations::get_by_id(lib.db(), location)
                .map_or_else(|_| location.to_string(), |l| l.name);
            outgoing.push(Outgoing {
                device: lib.device_name().to_owned(),
                volume: Some(volume),
                pending,
            });
        }
        Ok(Deliveries { outgoing, incoming })
    }
}

impl Render for Deliveries {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for o in &self.outgoing {
            let (waiting, whom) = match &o.volume {
                Some(volume) => ("waiting for upload to", volume),
                None => ("waiting for", &o.device),
            };
            writeln!(
                out,
                "     delivery   {} change{} {waiting} {whom}",
                o.pending,
                if o.pending == 1 { "" } else { "s" },
            )?;
        }
        if self.incoming > 0 {
            writeln!(
                out,
                "     delivery   {} change{} from other devices being applied",
                self.incoming,
                if self.incoming == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }
}

/// `sd conflicts`.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Conflicts(pub Vec<ConflictCopy>);

impl Render for Conflicts {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.0.is_empty() {
            return writeln!(out, "no conflict copies");
        }
        for c in &self.0 {
            writeln!(
                out,
                "{}  {:>10}  {} changed it too (saved {})",
                c.path,
                human_bytes(c.size),
                c.from_device,
                c.saved
            )?;
        }
        Ok(())
    }
}
