//! Devices: this one and, once paired, the others.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::DeviceId;

/// A device of the library.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub id: DeviceId,
    pub name: String,
    /// libp2p peer id, once the device has a network identity.
    pub peer_id: Option<String>,
    pub os: String,
    /// Unix nanoseconds.
    pub last_seen: i64,
}

impl DeviceRecord {
    /// The record for the device running this process.
    pub fn this_device(id: DeviceId, name: &str) -> Self {
        Self {
            id,
            name: name.to_owned(),
            peer_id: None,
            os: std::env::consts::OS.to_owned(),
            last_seen: crate::time::unix_now_nanos(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        super::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        super::decode("devices", bytes)
    }
}
