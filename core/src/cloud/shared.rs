//! A paired device's cloud volume that this device has keys for too: it
//! reads the bucket directly instead of through that device, which may be
//! offline. The volume stays that device's (its index, its uploads); only
//! how to reach the service, under the volume's location id, and the keys
//! (a 0600 file, as for a volume of this device) are kept here.
//!
//! A volume is recognised by its service and source (`s3://bucket/prefix`,
//! or the share's URL): adding the same bucket on a second device connects
//! it to the first device's volume instead of indexing it twice. Every
//! object read is checked against that device's record of it as for any
//! read (sampled hash, then the full BLAKE3 once known), so a wrong guess
//! of which bucket it is serves no wrong byte.

use redb::{ReadableDatabase, ReadableTable};

use super::{Added, Connector, Secrets, Service, config};
use crate::error::{Error, Result};
use crate::ids::LocationId;
use crate::library::{Library, schema};
use crate::model::device::DeviceRecord;
use crate::model::location::LocationRecord;
use crate::sync::replica::ReplicaView;

/// A paired device's volume.
#[derive(Debug, Clone)]
pub struct SharedVolume {
    pub device: DeviceRecord,
    pub location: LocationRecord,
}

/// Paired devices' volumes, each with its service's kind and source.
fn shared_volumes(lib: &Library) -> Result<Vec<(SharedVolume, String, String)>> {
    let mut out = Vec::new();
    for device in lib.devices()? {
        if device.id == lib.device_id() {
            continue;
        }
        let view = ReplicaView::new(lib.db(), device.id)?;
        for location in view.locations()?.into_iter().filter(|l| l.is_cloud()) {
            let Some(volume) = location
                .volume
                .map(|v| view.volume(v))
                .transpose()?
                .flatten()
            else {
                continue;
            };
            out.push((
                SharedVolume {
                    device: device.clone(),
                    location,
                },
                volume.fs_type,
                volume.source,
            ));
        }
    }
    Ok(out)
}

/// The paired device's volume that lives at `service`, if any.
pub(super) fn find(lib: &Library, service: &Service) -> Result<Option<SharedVolume>> {
    Ok(shared_volumes(lib)?
        .into_iter()
        .find(|(_, kind, source)| kind == service.kind() && *source == service.source())
        .map(|(shared, _, _)| shared))
}

/// The paired device's volume at location `id`, if it is one.
pub fn owner(lib: &Library, id: LocationId) -> Result<Option<SharedVolume>> {
    Ok(shared_volumes(lib)?
        .into_iter()
        .map(|(shared, _, _)| shared)
        .find(|s| s.location.id == id))
}

/// Keeps how to reach `shared`'s bucket and the keys here, once the
/// service answered with them.
pub(super) fn connect(
    lib: &Library,
    shared: SharedVolume,
    service: Service,
    secrets: &Secrets,
    connector: &dyn Connector,
) -> Result<Added> {
    let config = config::CloudConfig {
        location: shared.location.id,
        name: shared.location.name.clone(),
        service,
    };
    let backend = connector.connect(&config, secrets)?;
    backend.list_dir(b"", &mut |_| Ok(())).map_err(|e| {
        Error::InvalidInput(format!("cannot reach {}: {e}", config.service.source()))
    })?;
    let secrets_file = config::save_secrets(lib.dir(), config.location, secrets)?;
    let txn = lib.db().begin_write()?;
    config::put(&txn, &config)?;
    txn.commit()?;
    Ok(Added {
        config,
        location: shared.location,
        secrets_file,
        owner: Some(shared.device.name),
    })
}

/// Forgets how to reach a paired device's volume named `name`, and its
/// keys; the id of its location, `None` when this device keeps no keys to
/// a paired device's volume of that name. The volume itself is untouched.
pub fn disconnect(lib: &Library, name: &str) -> Result<Option<LocationId>> {
    let keyed = keyed(lib)?;
    let Some(config) = config::list(lib.db())?
        .into_iter()
        .find(|c| c.name == name && keyed.contains(&c.location))
    else {
        return Ok(None);
    };
    let txn = lib.db().begin_write()?;
    txn.open_table(schema::CLOUD)?
        .remove(config.location.0.as_u128())?;
    txn.commit()?;
    config::remove_secrets(lib.dir(), config.location)?;
    Ok(Some(config.location))
}

/// Location ids of paired devices' volumes this device has keys for.
pub fn keyed(lib: &Library) -> Result<Vec<LocationId>> {
    let txn = lib.db().begin_read()?;
    let table = txn.open_table(schema::CLOUD)?;
    let own = crate::locations::list(lib.db())?;
    let mut out = Vec::new();
    for row in table.iter()? {
        let id = LocationId(uuid::Uuid::from_u128(row?.0.value()));
        if !own.iter().any(|l| l.id == id) {
            out.push(id);
        }
    }
    Ok(out)
}
