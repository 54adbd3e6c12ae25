//! Serving this device's files to paired devices, by entry id. A peer names
//! an entry it saw in our index, never a path, so `..` cannot be expressed;
//! the path is rebuilt from our own index and opened beneath the location
//! root without following any symlink, so a directory swapped for a link
//! after indexing does not lead outside the location either.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use redb::ReadableDatabase;
use sdfs_cas::chunker::MAX_CHUNK;

use super::ContentStore;
use crate::error::{Error, Result};
use crate::library::schema;
use crate::model::entry::{EntryKind, EntryRecord, path_below_root};

/// A regular file of a location, as a peer may read it.
struct Shared {
    root: PathBuf,
    /// Below `root`, `/`-separated.
    rel: Vec<u8>,
}

impl ContentStore {
    /// The manifest of entry `entry`'s file, encoded.
    pub fn serve_manifest(&self, entry: u64) -> Result<Vec<u8>> {
        let shared = self.shared_file(entry)?;
        // Open it the careful way first: the manifest is built from the
        // path, and must not be built from a file outside the location.
        drop(open_beneath(&shared.root, &shared.rel)?);
        let path = crate::fsutil::join_bytes(&shared.root, &shared.rel);
        let local = self.local_manifest(Some(entry), &path)?;
        Ok(local.manifest.encode())
    }

    /// `length` bytes of entry `entry`'s file at `offset` (one chunk; the
    /// peer checks them against the chunk id it expects).
    pub fn serve_chunk(&self, entry: u64, offset: u64, length: u32) -> Result<Vec<u8>> {
        if length == 0 || length > MAX_CHUNK {
            return Err(Error::InvalidInput(format!(
                "chunk length {length} outside 1..={MAX_CHUNK}"
            )));
        }
        let shared = self.shared_file(entry)?;
        let file = open_beneath(&shared.root, &shared.rel)?;
        let mut buf = vec![0u8; length as usize];
        let mut filled = 0;
        while filled < buf.len() {
            match file.read_at(&mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("shared file", e)),
            }
        }
        buf.truncate(filled);
        Ok(buf)
    }

    /// Entry `entry` if it is a regular file inside one of our locations.
    fn shared_file(&self, entry: u64) -> Result<Shared> {
        let locations = crate::locations::list(self.lib.db())?;
        let txn = self.lib.db().begin_read()?;
        let entries = txn.open_table(schema::ENTRIES)?;
        let not_shared = || Error::PermissionDenied(format!("entry {entry} is not a shared file"));
        let record = match redb::ReadableTable::get(&entries, entry)? {
            Some(v) => EntryRecord::decode(v.value())?,
            None => return Err(not_shared()),
        };
        if record.kind != EntryKind::File {
            return Err(not_shared());
        }
        let is_root = |e: u64| locations.iter().any(|l| l.root.0 == e);
        let (root, rel) = path_below_root(&entries, entry, is_root)?.ok_or_else(not_shared)?;
        let location = locations
            .iter()
            .find(|l| l.root.0 == root)
            .ok_or_else(not_shared)?;
        Ok(Shared {
            root: location.root_path(),
            rel,
        })
    }
}

/// Opens `rel` below `root` read-only, refusing any symlink on the way and
/// any path that would leave `root` (Linux `openat2` with
/// `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`; elsewhere, a component-by-
/// component walk with `O_NOFOLLOW`).
fn open_beneath(root: &Path, rel: &[u8]) -> Result<File> {
    let root_dir = File::open(root).map_err(|e| Error::io(root, e))?;
    let rel_c = std::ffi::CString::new(rel)
        .map_err(|_| Error::InvalidInput("a path with a NUL byte".into()))?;
    #[cfg(target_os = "linux")]
    {
        // SAFETY: open_how is plain data; all zeroes is a valid value.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW) as u64;
        how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS;
        // SAFETY: valid fd, NUL-terminated path and a properly sized `how`.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root_dir.as_raw_fd(),
                rel_c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            // SAFETY: the kernel just gave us this descriptor.
            return Ok(unsafe { File::from_raw_fd(fd as i32) });
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ENOSYS) {
            return Err(refused(rel, err));
        }
    }
    walk_nofollow(root_dir, rel)
}

/// The portable fallback: each component opened with `O_NOFOLLOW` relative
/// to the last, so no symlink is ever followed.
fn walk_nofollow(mut dir: File, rel: &[u8]) -> Result<File> {
    let parts: Vec<&[u8]> = rel.split(|b| *b == b'/').collect();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() || *part == b"." || *part == b".." {
            return Err(Error::PermissionDenied(
                "a path leaving the location".into(),
            ));
        }
        let last = i + 1 == parts.len();
        let c = std::ffi::CString::new(*part)
            .map_err(|_| Error::InvalidInput("a path with a NUL byte".into()))?;
        let flags = libc::O_RDONLY
            | libc::O_CLOEXEC
            | libc::O_NOFOLLOW
            | if last { 0 } else { libc::O_DIRECTORY };
        // SAFETY: valid directory fd and NUL-terminated name.
        let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags) };
        if fd < 0 {
            return Err(refused(rel, std::io::Error::last_os_error()));
        }
        // SAFETY: the kernel just gave us this descriptor.
        dir = unsafe { File::from_raw_fd(fd) };
    }
    Ok(dir)
}

fn refused(rel: &[u8], err: std::io::Error) -> Error {
    let shown = std::ffi::OsStr::from_bytes(rel)
        .to_string_lossy()
        .into_owned();
    match err.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::EXDEV) => {
            Error::PermissionDenied(format!("{shown}: a symlink on the way; not served"))
        }
        _ => Error::io(shown, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_beneath_refuses_symlinks_and_escapes() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().join("loc");
        std::fs::create_dir_all(root.join("d")).expect("mkdir");
        std::fs::write(root.join("d/f"), b"inside").expect("write");
        std::fs::write(tmp.path().join("secret"), b"outside").expect("write");
        std::os::unix::fs::symlink(tmp.path().join("secret"), root.join("link")).expect("ln");
        std::os::unix::fs::symlink(tmp.path(), root.join("up")).expect("ln");
        assert!(open_beneath(&root, b"d/f").is_ok());
        for bad in [&b"link"[..], b"up/secret", b"../secret", b"d/../../secret"] {
            assert!(
                open_beneath(&root, bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
            let root_dir = File::open(&root).expect("root");
            assert!(walk_nofollow(root_dir, bad).is_err());
        }
    }
}
