//! `sd pair invite|join`, `sd devices`, `sd device rm`.

use std::io::Write;

use sdfs_core::ids::DeviceId;
use sdfs_p2p::{InviteInfo, PairedWith};
use serde::Serialize;

use crate::outcome::Render;

/// `sd pair invite`.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Invite(pub InviteInfo);

impl Render for Invite {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "On the other device, within 5 minutes, run:\n")?;
        writeln!(out, "  sd pair join {}", self.0.code)?;
        if !self.0.addrs.is_empty() {
            writeln!(
                out,
                "\nadding --addr with one of these if it is not on this LAN:"
            )?;
            for addr in &self.0.addrs {
                writeln!(out, "  {addr}")?;
            }
        }
        Ok(())
    }
}

/// `sd pair join`.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Joined(pub PairedWith);

impl Render for Joined {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "paired with {} ({})",
            self.0.device.name, self.0.peer_id
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceRow {
    pub name: String,
    pub id: DeviceId,
    pub peer_id: Option<String>,
    pub os: String,
    pub this_device: bool,
    pub online: bool,
    pub last_seen: String,
}

/// `sd devices`.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Devices(pub Vec<DeviceRow>);

impl Render for Devices {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for row in &self.0 {
            let state = if row.this_device {
                "this device".to_owned()
            } else if row.online {
                "online".to_owned()
            } else {
                format!("offline, last seen {}", row.last_seen)
            };
            writeln!(out, "{:<20} {:<8} {}", row.name, row.os, state)?;
        }
        Ok(())
    }
}

/// `sd device rm`.
#[derive(Debug, Clone, Serialize)]
pub struct Unpaired {
    pub removed: String,
    pub id: DeviceId,
    pub peer_id: Option<String>,
}

impl Render for Unpaired {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "unpaired {}", self.removed)
    }
}
