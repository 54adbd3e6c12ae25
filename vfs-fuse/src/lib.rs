//! sdfs FUSE adapter: translates kernel requests into the core's namespace
//! API. It owns the inode table, the one mapping from core errors to errno,
//! entry/attr TTLs, readdir offsets, kernel cache invalidation and
//! passthrough backing ids — and decides nothing else: what a node is and
//! what may be done to it are the namespace's answers.

mod attr;
mod errno;
mod fs;
mod handles;
mod inodes;
mod translate;

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use fuser::{Config, INodeNo, MountOption, Notifier, Session, SessionACL, SessionUnmounter};
use sdfs_core::namespace::{Namespace, NodeKey};

use crate::fs::SdFs;
use crate::inodes::Inodes;

/// A live mount: the FUSE session runs on its own threads until unmounted.
pub struct Mounted {
    mountpoint: PathBuf,
    unmounter: SessionUnmounter,
    notifier: Notifier,
    inodes: Arc<Inodes>,
    session: Option<JoinHandle<io::Result<()>>>,
}

impl std::fmt::Debug for Mounted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mounted")
            .field("mountpoint", &self.mountpoint)
            .finish_non_exhaustive()
    }
}

/// Mounts `ns` at `mountpoint` (which must exist), serving requests on
/// `threads` worker threads. A stale mount left there by a crash is cleaned first.
pub fn mount(ns: Arc<Namespace>, mountpoint: &Path, threads: usize) -> io::Result<Mounted> {
    clean_stale_mount(mountpoint)?;
    if is_mounted(mountpoint) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} is already mounted", mountpoint.display()),
        ));
    }
    let inodes = Arc::new(Inodes::new());
    let fs = SdFs::new(ns, Arc::clone(&inodes));
    let mut config = Config::default();
    config.n_threads = Some(threads.max(1));
    config.acl = SessionACL::All;
    config.clone_fd = true;
    config.mount_options = vec![
        MountOption::FSName("sdfs".into()),
        MountOption::Subtype("sdfs".into()),
        MountOption::DefaultPermissions,
        MountOption::CUSTOM("max_read=1048576".into()),
    ];
    let mut session = Session::new(fs, mountpoint, &config)?;
    let unmounter = session.unmount_callable();
    let notifier = session.notifier();
    let handle = std::thread::Builder::new()
        .name("sd-fuse".into())
        .spawn(move || session.run())?;
    Ok(Mounted {
        mountpoint: mountpoint.to_owned(),
        unmounter,
        notifier,
        inodes,
        session: Some(handle),
    })
}

impl Mounted {
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Whether the session still runs (it ends when someone unmounts it).
    pub fn is_alive(&self) -> bool {
        self.session.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Tells the kernel that `paths` changed underneath, so no program sees
    /// stale names or attributes. Call from any thread but a FUSE worker.
    pub fn invalidate(&self, paths: &[PathBuf]) {
        for path in paths {
            if let Some(parent) = path.parent()
                && let Some(key) = NodeKey::of_local_path(parent)
                && let Some(parent_ino) = self.inodes.ino_of(&key)
            {
                let name = path.file_name().unwrap_or(OsStr::new(""));
                let _ = self.notifier.inval_entry(INodeNo(parent_ino), name);
                // Offset 0: the directory's cached listing goes too, not just its attributes.
                let _ = self.notifier.inval_inode(INodeNo(parent_ino), 0, 0);
            }
            if let Some(key) = NodeKey::of_local_path(path)
                && let Some(ino) = self.inodes.ino_of(&key)
            {
                let _ = self.notifier.inval_inode(INodeNo(ino), 0, 0);
            }
        }
    }

    /// Tells the kernel that entries of another device changed (a sync page
    /// was applied): their attributes and cached bytes, and the listings of
    /// the directories they were in, are dropped.
    pub fn invalidate_remote(&self, device: sdfs_core::ids::DeviceId, entries: &[u64]) {
        for entry in entries {
            if let Some(ino) = self.inodes.ino_of(&NodeKey::remote(device, *entry)) {
                let _ = self.notifier.inval_inode(INodeNo(ino), 0, 0);
            }
        }
    }

    /// Tells the kernel that entries of a cloud volume changed (a re-index
    /// found them changed or gone).
    pub fn invalidate_cloud(&self, location: sdfs_core::ids::LocationId, entries: &[u64]) {
        for entry in entries {
            if let Some(ino) = self.inodes.ino_of(&NodeKey::cloud(location, *entry)) {
                let _ = self.notifier.inval_inode(INodeNo(ino), 0, 0);
            }
        }
    }

    /// Unmounts and waits for the session to end. A busy mount is detached
    /// lazily instead: programs still inside keep working until they leave,
    /// and the session is not waited for.
    pub fn unmount(mut self) -> io::Result<()> {
        if let Err(e) = self.unmounter.unmount() {
            tracing::warn!(
                "unmount of {} failed ({e}); detaching lazily",
                self.mountpoint.display()
            );
            return lazy_unmount(&self.mountpoint);
        }
        if let Some(handle) = self.session.take() {
            match handle.join() {
                Ok(result) => result?,
                Err(_) => return Err(io::Error::other("FUSE session thread panicked")),
            }
        }
        Ok(())
    }
}

/// Whether a filesystem is mounted exactly at `path`.
pub fn is_mounted(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    sdfs_core::model::volume::parse_mountinfo(&text)
        .iter()
        .any(|m| m.mount_point == path)
}

/// Detaches a mount whose daemon died ("Transport endpoint is not
/// connected"). Returns whether there was one.
pub fn clean_stale_mount(path: &Path) -> io::Result<bool> {
    // Listing needs an answer from the daemon; a stat may come from the
    // kernel's attribute cache of a connection that is already dead.
    match std::fs::read_dir(path) {
        // ENOTCONN: "Transport endpoint is not connected".
        Err(e) if sdfs_core::sys::error_kind(&e) == sdfs_core::ErrorKind::Unavailable => {
            tracing::warn!("cleaning a stale mount at {}", path.display());
            lazy_unmount(path)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn lazy_unmount(path: &Path) -> io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: valid C string.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
        return Ok(());
    }
    let status = std::process::Command::new("fusermount3")
        .arg("-u")
        .arg("-z")
        .arg(path)
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "fusermount3 -u -z {} failed",
            path.display()
        )))
    }
}
