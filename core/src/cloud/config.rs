//! Where a cloud volume lives and how to reach it. The settings stay on the
//! device that added the volume (a local table); its secrets never enter
//! the database: they live in a file of mode 0600 beside it (no OS keyring
//! is used), or stay in the environment.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::LocationId;
use crate::library::schema;

/// The service behind a volume, and where in it the volume's root is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "service", rename_all = "lowercase")]
pub enum Service {
    S3 {
        bucket: String,
        endpoint: String,
        region: Option<String>,
        /// Keys below this prefix only (`photos/2024`), without slashes at
        /// either end.
        prefix: Option<String>,
    },
    Webdav {
        endpoint: String,
        user: Option<String>,
        prefix: Option<String>,
    },
}

impl Service {
    /// `s3` or `webdav`.
    pub fn kind(&self) -> &'static str {
        match self {
            Service::S3 { .. } => "s3",
            Service::Webdav { .. } => "webdav",
        }
    }

    /// Where it lives, for people: `s3://bucket/prefix`, or the share's URL.
    pub fn source(&self) -> String {
        match self {
            Service::S3 { bucket, prefix, .. } => match prefix {
                Some(p) => format!("s3://{bucket}/{p}"),
                None => format!("s3://{bucket}"),
            },
            Service::Webdav {
                endpoint, prefix, ..
            } => match prefix {
                Some(p) => format!("{}/{p}", endpoint.trim_end_matches('/')),
                None => endpoint.clone(),
            },
        }
    }

    /// The root below the service, as OpenDAL takes it (`/prefix/`).
    pub fn root(&self) -> String {
        let prefix = match self {
            Service::S3 { prefix, .. } | Service::Webdav { prefix, .. } => prefix,
        };
        match prefix {
            Some(p) => format!("/{p}/"),
            None => "/".into(),
        }
    }
}

/// A cloud volume: one location of this device whose files are objects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudConfig {
    pub location: LocationId,
    pub name: String,
    #[serde(flatten)]
    pub service: Service,
}

/// What opens the service.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "service", rename_all = "lowercase")]
pub enum Secrets {
    S3 {
        access_key_id: String,
        secret_access_key: String,
    },
    Webdav {
        password: Option<String>,
    },
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secrets::S3 { access_key_id, .. } => f
                .debug_struct("S3")
                .field("access_key_id", access_key_id)
                .finish_non_exhaustive(),
            Secrets::Webdav { .. } => f.write_str("Webdav { .. }"),
        }
    }
}

/// Normalises a prefix the user typed: no slashes at either end, `None`
/// when nothing is left.
pub fn clean_prefix(prefix: Option<&str>) -> Result<Option<String>> {
    let Some(p) = prefix.map(|p| p.trim_matches('/')) else {
        return Ok(None);
    };
    if p.split('/').any(|part| part == "." || part == "..") {
        return Err(Error::InvalidInput(format!(
            "prefix {p:?}: no . or .. components"
        )));
    }
    Ok((!p.is_empty()).then(|| p.to_owned()))
}

/// Every cloud volume's settings.
pub fn list(db: &redb::Database) -> Result<Vec<CloudConfig>> {
    let txn = db.begin_read()?;
    // Made when the library is opened, as every table is.
    let table = txn.open_table(schema::CLOUD)?;
    let mut out = Vec::new();
    for row in table.iter()? {
        let bytes = row?.1;
        out.push(
            serde_json::from_slice(bytes.value()).map_err(|e| Error::CorruptRecord {
                table: "cloud",
                detail: e.to_string(),
            })?,
        );
    }
    out.sort_by(|a: &CloudConfig, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The settings of the volume at location `id`.
pub fn get(db: &redb::Database, id: LocationId) -> Result<CloudConfig> {
    list(db)?
        .into_iter()
        .find(|c| c.location == id)
        .ok_or_else(|| Error::NotFound(format!("no cloud settings for location {id}")))
}

/// The file holding a volume's secrets.
pub fn secrets_path(library: &Path, id: LocationId) -> PathBuf {
    library.join("secrets").join(format!("{id}.json"))
}

/// Writes `secrets` to a new file of mode 0600 (its directory 0700), synced.
pub fn save_secrets(library: &Path, id: LocationId, secrets: &Secrets) -> Result<PathBuf> {
    let path = secrets_path(library, id);
    let dir = library.join("secrets");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    let bytes = serde_json::to_vec(secrets).map_err(|e| Error::InvalidInput(e.to_string()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

/// Removes a volume's secrets file (gone already is fine).
pub fn remove_secrets(library: &Path, id: LocationId) -> Result<()> {
    let path = secrets_path(library, id);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// Keeps how to reach a volume, in the local `cloud` table of `txn`.
pub fn put(txn: &redb::WriteTransaction, config: &CloudConfig) -> Result<()> {
    let json = serde_json::to_vec(config).map_err(|e| Error::InvalidInput(e.to_string()))?;
    txn.open_table(schema::CLOUD)?
        .insert(config.location.0.as_u128(), json.as_slice())?;
    Ok(())
}

/// A volume's secrets, from its file.
pub fn load_secrets(library: &Path, id: LocationId) -> Result<Secrets> {
    let path = secrets_path(library, id);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::CorruptRecord {
        table: "cloud secrets",
        detail: format!("{}: {e}", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_lose_their_slashes_and_refuse_dot_dot() {
        assert_eq!(clean_prefix(None).ok(), Some(None));
        assert_eq!(clean_prefix(Some("/")).ok(), Some(None));
        assert_eq!(
            clean_prefix(Some("/photos/2024/")).ok(),
            Some(Some("photos/2024".into()))
        );
        assert!(clean_prefix(Some("a/../b")).is_err());
    }

    #[test]
    fn secrets_are_written_0600_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let id = LocationId::new_random();
        let secrets = Secrets::S3 {
            access_key_id: "AKIA".into(),
            secret_access_key: "s3cr3t".into(),
        };
        let path = save_secrets(dir.path(), id, &secrets).expect("save");
        let mode = std::fs::metadata(&path).expect("md").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_secrets(dir.path(), id).expect("load"), secrets);
        assert!(!format!("{secrets:?}").contains("s3cr3t"));
    }
}
