//! Changes on their way between devices (`sd status`, `sd jobs`) and the
//! conflict copies they left (`sd conflicts`).

use std::io::Write;

use anyhow::Result;
use sdfs_core::Library;
use sdfs_core::conflicts::ConflictCopy;
use sdfs_core::content_store::ContentStore;
use serde::Serialize;

use crate::outcome::{Render, human_bytes};

/// Changes this device made to one device's files, not yet applied there.
#[derive(Debug, Clone, Serialize)]
pub struct Outgoing {
    pub device: String,
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
        let outgoing = sdfs_core::outbox::courier::pending(content)?
            .by_device
            .into_iter()
            .map(|(id, pending)| Outgoing {
                device: devices
                    .iter()
                    .find(|d| d.id == id)
                    .map_or_else(|| id.to_string(), |d| d.name.clone()),
                pending,
            })
            .collect();
        Ok(Deliveries { outgoing, incoming })
    }
}

impl Render for Deliveries {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for o in &self.outgoing {
            writeln!(
                out,
                "     delivery   {} change{} waiting for {}",
                o.pending,
                if o.pending == 1 { "" } else { "s" },
                o.device
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
