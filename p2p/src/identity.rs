//! The device's libp2p identity: an Ed25519 key in `<library>/p2p/identity.key`
//! (protobuf encoding, mode 0600), made on first use.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result, bail};
use libp2p::identity::Keypair;

pub const IDENTITY_FILE: &str = "p2p/identity.key";

/// Loads the identity of the library in `lib_dir`, creating it if missing.
/// Refuses a key file others can read.
pub fn load_or_create(lib_dir: &Path) -> Result<Keypair> {
    let path = lib_dir.join(IDENTITY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let mode = std::fs::metadata(&path)?.permissions().mode();
            if mode & 0o077 != 0 {
                bail!(
                    "{} is readable by others (mode {:o}); run `chmod 600` on it",
                    path.display(),
                    mode & 0o777
                );
            }
            Keypair::from_protobuf_encoding(&bytes)
                .with_context(|| format!("{} is not a libp2p key", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate_ed25519();
            let dir = path.parent().context("identity path has a parent")?;
            std::fs::create_dir_all(dir)?;
            let tmp = path.with_extension("tmp");
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&key.to_protobuf_encoding()?)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| path.display().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create(dir.path()).expect("create");
        let mode = std::fs::metadata(dir.path().join(IDENTITY_FILE))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_create(dir.path()).expect("load");
        assert_eq!(first.public(), again.public());
        std::fs::set_permissions(
            dir.path().join(IDENTITY_FILE),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        assert!(
            load_or_create(dir.path()).is_err(),
            "a readable key is refused"
        );
    }
}
