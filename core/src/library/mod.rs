//! The library: a self-contained, portable `<name>.sdlibrary/` directory.
//!
//! ```text
//! default.sdlibrary/
//!   library.json   config: schema version, library id, this device's id and name
//!   library.redb   the database (schema in [`schema`])
//!   lock           pid of the process holding the library; flock(2)ed while open
//!   sd.sock        control socket of a running daemon
//! ```

mod config;
mod lock;
mod maintenance;
pub mod schema;

pub use maintenance::{TableUsage, repack_fragmented};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable};

pub use config::LibraryConfig;
use lock::LockFile;

use crate::error::{Error, Result};
use crate::ids::{DeviceId, LibraryId};
use crate::model::device::DeviceRecord;

/// File names inside a library directory.
pub const CONFIG_FILE: &str = "library.json";
pub const DB_FILE: &str = "library.redb";
pub const LOCK_FILE: &str = "lock";
pub const SOCKET_FILE: &str = "sd.sock";

/// The default library directory: `$XDG_DATA_HOME/sdfs/default.sdlibrary`
/// (`~/.local/share/sdfs/...` when the variable is unset).
pub fn default_library_dir() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("sdfs").join("default.sdlibrary")
}

/// redb's page cache. Its default (1 GiB) would let the cache alone grow
/// past the daemon's memory budget on a large library; the kernel's page
/// cache holds the file anyway.
const DB_CACHE_BYTES: usize = 64 * 1024 * 1024;

fn db_builder() -> redb::Builder {
    let mut builder = redb::Builder::new();
    builder.set_cache_size(DB_CACHE_BYTES);
    builder
}

/// An open library. Holding one means holding the library's lock.
pub struct Library {
    dir: PathBuf,
    config: LibraryConfig,
    db: Arc<Database>,
    _lock: LockFile,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("dir", &self.dir)
            .field("config", &self.config)
            .finish()
    }
}

impl Library {
    /// Whether `dir` holds a library.
    pub fn exists(dir: &Path) -> bool {
        dir.join(CONFIG_FILE).is_file()
    }

    /// Creates a new library at `dir` for this device, named `device_name`.
    pub fn create(dir: &Path, device_name: &str) -> Result<Library> {
        validate_device_name(device_name)?;
        if Self::exists(dir) {
            return Err(Error::AlreadyExists(format!(
                "a library already exists at {}",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        keep_private(dir);
        let lock = LockFile::acquire(&dir.join(LOCK_FILE))?;
        let config = LibraryConfig::new(device_name);
        let db = db_builder().create(dir.join(DB_FILE))?;
        initialise_tables(&db)?;
        let txn = db.begin_write()?;
        {
            let mut devices = txn.open_table(schema::DEVICES)?;
            let record = DeviceRecord::this_device(config.device_id, device_name);
            devices.insert(config.device_id.0.as_u128(), record.encode().as_slice())?;
        }
        txn.commit()?;
        // The config goes last: a library without it is an unfinished `init`.
        config.write(&dir.join(CONFIG_FILE))?;
        Ok(Library {
            dir: dir.to_owned(),
            config,
            db: Arc::new(db),
            _lock: lock,
        })
    }

    /// Opens the library at `dir`, refusing one written by a newer version.
    pub fn open(dir: &Path) -> Result<Library> {
        if !Self::exists(dir) {
            return Err(Error::NoLibrary(dir.to_owned()));
        }
        let config = LibraryConfig::read(&dir.join(CONFIG_FILE))?;
        if config.schema_version > schema::VERSION {
            return Err(Error::SchemaTooNew {
                path: dir.to_owned(),
                found: config.schema_version,
                supported: schema::VERSION,
            });
        }
        let lock = LockFile::acquire(&dir.join(LOCK_FILE))?;
        keep_private(dir);
        let db = db_builder().open(dir.join(DB_FILE))?;
        let stored = schema::stored_version(&db)?;
        if stored > schema::VERSION {
            return Err(Error::SchemaTooNew {
                path: dir.to_owned(),
                found: stored,
                supported: schema::VERSION,
            });
        }
        initialise_tables(&db)?;
        Ok(Library {
            dir: dir.to_owned(),
            config,
            db: Arc::new(db),
            _lock: lock,
        })
    }

    /// The library directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The control socket path of a daemon serving this library.
    pub fn socket_path(&self) -> PathBuf {
        self.dir.join(SOCKET_FILE)
    }

    /// The library's configuration.
    pub fn config(&self) -> &LibraryConfig {
        &self.config
    }

    /// This library's id.
    pub fn id(&self) -> LibraryId {
        self.config.library_id
    }

    /// This device's id.
    pub fn device_id(&self) -> DeviceId {
        self.config.device_id
    }

    /// This device's name.
    pub fn device_name(&self) -> &str {
        &self.config.device_name
    }

    /// The database, shared with jobs running on other threads.
    pub fn db(&self) -> &Arc<Database> {
        &self.db
    }

    /// Gives the database file's free pages back to the filesystem. Needs the
    /// only handle on the database (no job or query may be running); returns
    /// whether it compacted.
    pub fn compact(&mut self) -> Result<bool> {
        let Some(db) = Arc::get_mut(&mut self.db) else {
            return Ok(false);
        };
        let mut compacted = false;
        // Each pass moves pages towards the start; stop when one frees nothing.
        while db.compact().map_err(|e| Error::Db(e.to_string()))? {
            compacted = true;
        }
        Ok(compacted)
    }

    /// Every device this library knows, this one first.
    pub fn devices(&self) -> Result<Vec<DeviceRecord>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(schema::DEVICES)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (_, value) = row?;
            out.push(DeviceRecord::decode(value.value())?);
        }
        out.sort_by_key(|d| d.id != self.device_id());
        Ok(out)
    }

    /// Records a device paired with this one. Its name must be a valid
    /// device name and not taken by another device (it names a directory
    /// of the mount).
    pub fn add_paired_device(&self, record: &DeviceRecord) -> Result<()> {
        validate_device_name(&record.name)?;
        if record.id == self.device_id() {
            return Err(Error::InvalidInput(
                "a device cannot pair with itself".into(),
            ));
        }
        if let Some(clash) = self
            .devices()?
            .into_iter()
            .find(|d| d.name == record.name && d.id != record.id)
        {
            return Err(Error::AlreadyExists(format!(
                "a device named {:?} is already in the library ({})",
                clash.name, clash.id
            )));
        }
        let txn = self.db.begin_write()?;
        txn.open_table(schema::DEVICES)?
            .insert(record.id.0.as_u128(), record.encode().as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Forgets the paired device named `name`; returns its record.
    pub fn remove_device(&self, name: &str) -> Result<DeviceRecord> {
        let device = self
            .devices()?
            .into_iter()
            .find(|d| d.name == name)
            .ok_or_else(|| Error::NotFound(format!("no device named {name:?}")))?;
        if device.id == self.device_id() {
            return Err(Error::InvalidInput("this device cannot be removed".into()));
        }
        let txn = self.db.begin_write()?;
        txn.open_table(schema::DEVICES)?
            .remove(device.id.0.as_u128())?;
        txn.commit()?;
        // What it shared goes with it.
        crate::sync::replica::forget(&self.db, device.id)?;
        Ok(device)
    }

    /// Updates when a paired device was last seen.
    pub fn touch_device(&self, peer_id: &str, at: i64) -> Result<()> {
        let Some(mut device) = self
            .devices()?
            .into_iter()
            .find(|d| d.peer_id.as_deref() == Some(peer_id))
        else {
            return Ok(());
        };
        device.last_seen = at;
        let txn = self.db.begin_write()?;
        txn.open_table(schema::DEVICES)?
            .insert(device.id.0.as_u128(), device.encode().as_slice())?;
        txn.commit()?;
        Ok(())
    }
}

/// Device names become mount directories and URI hosts.
pub fn validate_device_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > 64
        || name.starts_with('.')
        || name.contains(['/', '%', '?', '#', '\0'])
        || name.chars().any(char::is_control)
        || crate::uri::RESERVED_HOSTS.contains(&name);
    if bad {
        return Err(Error::InvalidInput(format!(
            "invalid device name {name:?}: use 1-64 characters, no '/', '%', '?', '#', no leading '.', \
             and not 'content' or 'cloud'"
        )));
    }
    Ok(())
}

/// Makes the library directory readable by its owner alone: it holds the
/// index of every device's files, their tags, the device key and cached
/// content of other devices' files (whose permissions there may be
/// private). A library made before this, or by hand, is tightened on open.
fn keep_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = match std::fs::metadata(dir) {
        Ok(md) => md.permissions().mode() & 0o7777,
        Err(e) => {
            tracing::warn!("library {}: {e}", dir.display());
            return;
        }
    };
    if mode & 0o077 == 0 {
        return;
    }
    match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
        Ok(()) => tracing::debug!("library {}: mode {mode:o} -> 700", dir.display()),
        Err(e) => tracing::warn!(
            "library {} is readable by others (mode {mode:o}) and could not be made private: {e}",
            dir.display()
        ),
    }
}

/// Creates every table in one transaction: the library's own, then those
/// of sync and shared data, then logs a library indexed before sync
/// existed once for replicas. The composition lives here so that `schema`
/// depends on no module that uses it.
fn initialise_tables(db: &redb::Database) -> Result<()> {
    let txn = db.begin_write()?;
    schema::create_tables(&txn)?;
    crate::sync::replica::initialise(&txn)?;
    crate::shared::store::initialise(&txn)?;
    crate::sync::changes::initialise(&txn)?;
    crate::actions::initialise(&txn)?;
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_directory_is_private_and_an_open_one_is_made_so() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("private.sdlibrary");
        let mode = |dir: &Path| std::fs::metadata(dir).expect("stat").permissions().mode() & 0o777;
        drop(Library::create(&dir, "laptop").expect("create"));
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        drop(Library::open(&dir).expect("open"));
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn create_open_and_lock() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("test.sdlibrary");
        let lib = Library::create(&dir, "laptop").expect("create");
        let id = lib.id();
        let second = Library::open(&dir).expect_err("locked");
        assert!(
            second
                .to_string()
                .contains(&format!("library in use by pid {}", std::process::id())),
            "{second}"
        );
        drop(lib);
        let lib = Library::open(&dir).expect("reopen");
        assert_eq!(lib.id(), id);
        assert_eq!(lib.devices().expect("devices")[0].name, "laptop");
    }

    #[test]
    fn a_newer_library_is_refused_and_left_untouched() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("new.sdlibrary");
        drop(Library::create(&dir, "laptop").expect("create"));
        let config_path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&config_path).expect("read");
        let newer = text.replace(
            &format!("\"schema_version\": {}", schema::VERSION),
            &format!("\"schema_version\": {}", schema::VERSION + 1),
        );
        assert_ne!(newer, text);
        std::fs::write(&config_path, &newer).expect("write");
        let db_before = std::fs::read(dir.join(DB_FILE)).expect("db");
        let err = Library::open(&dir).expect_err("newer must be refused");
        assert!(
            err.to_string().contains("newer than this sd supports"),
            "{err}"
        );
        assert_eq!(std::fs::read(dir.join(DB_FILE)).expect("db"), db_before);
        assert_eq!(std::fs::read_to_string(&config_path).expect("read"), newer);
    }

    #[test]
    fn device_names_are_checked() {
        for bad in ["", "a/b", "content", ".hidden", "x%y"] {
            assert!(validate_device_name(bad).is_err(), "{bad:?}");
        }
        validate_device_name("my-laptop 2").expect("fine");
    }
}
