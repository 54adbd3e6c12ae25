//! Cloud volumes (SPEC §2–3): a bucket or a WebDAV share this device added.
//! Each is a location of this device whose `path` is empty and whose volume
//! record (class `cloud`) says where it lives, so its index is device-owned
//! data like any location's. Its objects are listed into the index (never
//! downloaded to be indexed: content identities come from ranged reads of
//! the sampled bytes), shown at the mount's top level, and read whole into
//! the content store, checked, before a program sees a byte. Writes
//! through the mount are staged in the outbox like writes to another
//! device's files, and the courier uploads them (`upload.rs`).

pub mod backend;
pub mod config;
mod fetch;
mod index;
mod shared;
mod upload;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

pub use backend::{CloudBackend, CloudObject, Connector, Put, WriteIf};
pub use config::{CloudConfig, Secrets, Service};
pub use fetch::{Recorded, clean_incoming, fetch_verified, file_state, stored_or_fetched};
pub(crate) use index::entry_below;
pub use index::{CloudIndexed, entry_at, index, refresh, refresh_names};
pub use shared::{SharedVolume, disconnect, keyed, owner};
pub use upload::{Uploaded, deliver};

use crate::error::{Error, Result};
use crate::ids::{EntryId, LocationId, VolumeId};
use crate::indexer::rules::IndexRules;
use crate::indexer::tables::IndexTables;
use crate::library::{Library, schema};
use crate::model::entry::{EntryKind, EntryRecord, StatFields};
use crate::model::location::{IndexMode, LocationRecord, validate_location_name};
use crate::model::volume::{PhysicalClass, VolumeRecord};

/// A volume just added, and where its secrets went.
#[derive(Debug)]
pub struct Added {
    pub config: CloudConfig,
    pub location: LocationRecord,
    pub secrets_file: PathBuf,
    /// The paired device whose volume this is, when the service was one
    /// of theirs: this device now reads it directly, with its own keys.
    pub owner: Option<String>,
}

/// Adds a cloud volume named `name`: reaches the service first (a wrong
/// endpoint, bucket or key fails here, not at the first read), then keeps
/// the secrets in a 0600 file and the volume as a location of this device.
pub fn add(
    lib: &Library,
    name: &str,
    service: Service,
    secrets: &Secrets,
    connector: &dyn Connector,
) -> Result<Added> {
    validate_location_name(name)?;
    // The same bucket as a paired device's volume: read it directly, not
    // index it a second time under another name.
    if let Some(theirs) = shared::find(lib, &service)? {
        return shared::connect(lib, theirs, service, secrets, connector);
    }
    if crate::locations::list(lib.db())?
        .iter()
        .any(|l| l.name == name)
    {
        return Err(Error::AlreadyExists(format!(
            "a location or volume named {name:?} already exists"
        )));
    }
    // Volumes sit beside the devices at the mount's top.
    let taken_by_device =
        name == lib.device_name() || lib.devices()?.iter().any(|d| d.name == name);
    if taken_by_device {
        return Err(Error::AlreadyExists(format!(
            "{name:?} is a device's name: a volume needs a name of its own"
        )));
    }
    let id = LocationId::new_random();
    let config = CloudConfig {
        location: id,
        name: name.to_owned(),
        service,
    };
    let backend = connector.connect(&config, secrets)?;
    backend.list_dir(b"", &mut |_| Ok(())).map_err(|e| {
        Error::InvalidInput(format!("cannot reach {}: {e}", config.service.source()))
    })?;
    let secrets_file = config::save_secrets(lib.dir(), id, secrets)?;
    let now = crate::time::unix_now_nanos();
    let volume = VolumeRecord {
        id: VolumeId::new_random(),
        device: lib.device_id(),
        mount_point: Vec::new(),
        fs_type: config.service.kind().to_owned(),
        source: config.service.source(),
        capacity: 0,
        free: 0,
        class: PhysicalClass::Cloud,
    };
    let txn = lib.db().begin_write()?;
    let location = {
        let mut tables = IndexTables::open(&txn)?;
        let root = tables.allocate_id()?;
        let stat = StatFields {
            kind: EntryKind::Directory,
            size: 0,
            mtime: now,
            dev: 0,
            inode: 0,
            mode: crate::namespace::mode::DIRECTORY | 0o755,
            uid: 0,
            gid: 0,
        };
        tables.put_entry(root, &EntryRecord::new(0, b"", &stat))?;
        let location = LocationRecord {
            id,
            name: name.to_owned(),
            path: Vec::new(),
            root: EntryId(root),
            mode: IndexMode::Content,
            rules: IndexRules::default(),
            volume: Some(volume.id),
            created_at: now,
            last_indexed: None,
            // Paired devices save into it as into a location: their
            // changes are staged here and uploaded like this device's.
            remote_writes: true,
        };
        tables
            .data
            .put_location(id.0.as_u128(), location.encode().as_slice())?;
        tables
            .data
            .put_volume(volume.id.0.as_u128(), volume.encode().as_slice())?;
        config::put(&txn, &config)?;
        location
    };
    txn.commit()?;
    Ok(Added {
        config,
        location,
        secrets_file,
        owner: None,
    })
}

/// Removes cloud volume `name`: its index, settings and secrets (the
/// bucket is untouched).
pub fn remove(lib: &Library, name: &str) -> Result<LocationRecord> {
    let location = crate::locations::get_by_name(lib.db(), name)?;
    if !location.is_cloud() {
        return Err(Error::InvalidInput(format!(
            "{name} is a location, not a cloud volume: `sd location rm {name}`"
        )));
    }
    let removed = crate::locations::remove(lib, name)?;
    let txn = lib.db().begin_write()?;
    {
        let mut cloud = txn.open_table(schema::CLOUD)?;
        cloud.remove(location.id.0.as_u128())?;
        if let Some(volume) = location.volume {
            let mut data = crate::sync::DeviceData::open(&txn)?;
            data.remove_volume(volume.0.as_u128())?;
        }
    }
    txn.commit()?;
    config::remove_secrets(lib.dir(), location.id)?;
    Ok(removed)
}

/// The cloud volumes of a library and their open connections, made on
/// first use and kept: what the mount and `sd index` read buckets through.
pub struct Volumes {
    lib: Arc<Library>,
    connector: Arc<dyn Connector>,
    open: Mutex<HashMap<LocationId, Arc<dyn CloudBackend>>>,
    /// (location, root entry) of each volume, read on first use: serving a
    /// peer asks it for every chunk request, so it must cost no read of
    /// the database while nothing changed.
    roots: Mutex<Option<Vec<(LocationId, u64)>>>,
    /// Paired devices' volumes this device has keys for (`shared.rs`),
    /// read on first use: every read of another device's file asks.
    keyed: Mutex<Option<Vec<LocationId>>>,
    /// Files fetched and checked, being kept, by full BLAKE3: an open
    /// meanwhile reads the same file instead of downloading it again.
    kept: Arc<Mutex<HashMap<[u8; 32], std::fs::File>>>,
    /// Told which entries of a volume's index changed (the mount drops
    /// what the kernel caches of them).
    on_changed: OnceLock<Box<ChangedHook>>,
}

impl std::fmt::Debug for Volumes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Volumes")
            .field("connector", &self.connector)
            .finish_non_exhaustive()
    }
}

/// See [`Volumes::on_changed`].
pub type ChangedHook = dyn Fn(LocationId, &[u64]) + Send + Sync;

impl Volumes {
    pub fn new(lib: Arc<Library>, connector: Arc<dyn Connector>) -> Volumes {
        Volumes {
            lib,
            connector,
            open: Mutex::new(HashMap::new()),
            roots: Mutex::new(None),
            keyed: Mutex::new(None),
            kept: Arc::default(),
            on_changed: OnceLock::new(),
        }
    }

    /// Sets what is told, after an index or a change this device made,
    /// which entries of a volume changed. Set once; later calls are ignored.
    pub fn on_changed(&self, hook: Box<ChangedHook>) {
        let _ = self.on_changed.set(hook);
    }

    /// Tells the hook that `entries` of volume `location` changed.
    pub fn changed(&self, location: LocationId, entries: &[u64]) {
        if let Some(hook) = self.on_changed.get()
            && !entries.is_empty()
        {
            hook(location, entries);
        }
    }

    /// (location, root entry) of each cloud volume of this device.
    pub fn roots(&self) -> Result<Vec<(LocationId, u64)>> {
        let mut roots = self.roots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = roots.as_ref() {
            return Ok(known.clone());
        }
        let read: Vec<_> = crate::locations::list(self.lib.db())?
            .into_iter()
            .filter(|l| l.is_cloud())
            .map(|l| (l.id, l.root.0))
            .collect();
        *roots = Some(read.clone());
        Ok(read)
    }

    /// Locations of paired devices' volumes this device has keys for, to
    /// read their buckets directly.
    pub fn keyed(&self) -> Result<Vec<LocationId>> {
        let mut keyed = self.keyed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = keyed.as_ref() {
            return Ok(known.clone());
        }
        let read = shared::keyed(&self.lib)?;
        *keyed = Some(read.clone());
        Ok(read)
    }

    /// The checked file of content `hash` while it is being kept.
    pub fn being_kept(&self, hash: &[u8; 32]) -> Option<std::fs::File> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(hash).and_then(|f| f.try_clone().ok())
    }

    /// Offers `file`, checked to hold content `hash`, to other opens until
    /// the guard is dropped (once it is kept in the store).
    pub fn keeping(&self, hash: sdfs_cas::FileHash, file: std::fs::File) -> Keeping {
        self.kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash.0, file);
        Keeping {
            kept: Arc::clone(&self.kept),
            hash: hash.0,
        }
    }

    /// Reads the volumes again on next use (one was added or removed).
    pub fn reload(&self) {
        *self.keyed.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self.roots.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub fn connector(&self) -> &dyn Connector {
        &*self.connector
    }

    /// The connection to the volume at location `id`.
    pub fn backend(&self, id: LocationId) -> Result<Arc<dyn CloudBackend>> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(backend) = open.get(&id) {
            return Ok(Arc::clone(backend));
        }
        let config = config::get(self.lib.db(), id)?;
        let secrets = config::load_secrets(self.lib.dir(), id)?;
        let backend = self.connector.connect(&config, &secrets)?;
        open.insert(id, Arc::clone(&backend));
        Ok(backend)
    }

    /// Forgets the connection to a removed volume.
    pub fn forget(&self, id: LocationId) {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        self.reload();
    }
}

/// See [`Volumes::keeping`].
pub struct Keeping {
    kept: Arc<Mutex<HashMap<[u8; 32], std::fs::File>>>,
    hash: [u8; 32],
}

impl Drop for Keeping {
    fn drop(&mut self) {
        self.kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.hash);
    }
}
