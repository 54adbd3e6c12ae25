//! What a command's PATH argument names, as a URI: an `sd://` URI, a path
//! inside the mount, or a real path inside one of this device's locations.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::library::Library;
use crate::uri::SdUri;

/// The URI `arg` names: itself if it is one, else the file at that path
/// inside the mount at `mountpoint` or inside a location. A relative path
/// is taken from this process's working directory (a daemon's is not the
/// caller's: the command line makes paths absolute first).
pub fn uri_of(lib: &Library, arg: &[u8], mountpoint: Option<&Path>) -> Result<SdUri> {
    if arg.starts_with(b"sd://") {
        let text = std::str::from_utf8(arg)
            .map_err(|_| Error::InvalidInput("a URI is UTF-8 text".into()))?;
        return text
            .parse()
            .map_err(|e: crate::uri::UriError| Error::InvalidInput(e.to_string()));
    }
    let given = Path::new(OsStr::from_bytes(arg));
    let absolute = std::path::absolute(given).map_err(|e| Error::io(given, e))?;
    let path = absolute.as_path();
    if let Some(uri) = mountpoint.and_then(|mount| SdUri::in_mount(mount, path)) {
        return Ok(uri);
    }
    // Locations are kept by their canonical path; a path through a
    // symlink names them too.
    let canonical = std::fs::canonicalize(path).ok();
    let locations = crate::locations::list(lib.db())?;
    for path in std::iter::once(path).chain(canonical.as_deref()) {
        for location in &locations {
            let Some(root) = location.root_path() else {
                continue;
            };
            if let Ok(rel) = path.strip_prefix(&root) {
                return Ok(SdUri::device(
                    lib.device_name(),
                    location.name.as_bytes(),
                    rel.as_os_str().as_bytes(),
                ));
            }
        }
    }
    Err(Error::InvalidInput(format!(
        "{} is not in a location of this library nor in its mount",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_mount_paths_and_location_paths_name_the_same_file() {
        let tmp = tempfile::tempdir().expect("tmp");
        let docs = tmp.path().join("docs");
        std::fs::create_dir_all(docs.join("Tax")).expect("mkdir");
        let lib = Library::create(&tmp.path().join("lib"), "laptop").expect("lib");
        crate::locations::add(
            &lib,
            &docs,
            Some("Docs"),
            Default::default(),
            Default::default(),
        )
        .expect("location");
        let want: SdUri = "sd://laptop/Docs/Tax".parse().expect("uri");
        let real = std::fs::canonicalize(&docs).expect("canonical").join("Tax");
        let mount = Path::new("/home/me/Spacedrive");
        for arg in [
            b"sd://laptop/Docs/Tax".to_vec(),
            b"/home/me/Spacedrive/laptop/Docs/Tax".to_vec(),
            real.as_os_str().as_bytes().to_vec(),
        ] {
            assert_eq!(uri_of(&lib, &arg, Some(mount)).expect("uri"), want);
        }
        let outside = uri_of(&lib, b"/etc/passwd", Some(mount));
        assert!(
            matches!(outside, Err(Error::InvalidInput(_))),
            "{outside:?}"
        );
    }
}
