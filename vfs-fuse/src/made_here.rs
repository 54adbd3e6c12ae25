//! Names this mount just made (mkdir, create, mknod, symlink, link): the
//! watcher sees each of them too, as a change underneath. The kernel
//! learned the name from our reply, so that echo must not invalidate its
//! entry: invalidating a directory's entry detaches whatever is mounted on
//! it (a program that mounted a filesystem there, as pjdfstest does, loses
//! it). A name whose file changed since is invalidated as any.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sdfs_core::namespace::NodeKey;

/// How long a made name is remembered (the watcher's echo arrives within
/// its debounce, well inside this).
const REMEMBERED: Duration = Duration::from_secs(30);
/// At most this many names are remembered (the oldest go first).
const CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct MadeHere {
    names: Mutex<VecDeque<(PathBuf, NodeKey, Instant)>>,
}

impl MadeHere {
    /// Remembers that this mount made `path`, naming the file `key`.
    pub(crate) fn note(&self, path: &Path, key: NodeKey) {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        while names
            .front()
            .is_some_and(|(_, _, at)| now.duration_since(*at) > REMEMBERED)
            || names.len() >= CAPACITY
        {
            names.pop_front();
        }
        names.push_back((path.to_owned(), key, now));
    }

    /// Whether a change at `path` is the echo of a name this mount made:
    /// it still names the file it was made as.
    pub(crate) fn is_echo(&self, path: &Path) -> bool {
        let names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let Some((_, key, _)) = names
            .iter()
            .rev()
            .find(|(p, _, at)| p == path && now.duration_since(*at) <= REMEMBERED)
        else {
            return false;
        };
        NodeKey::of_local_path(path).as_ref() == Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_an_echo_only_while_it_names_what_was_made() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("d");
        let other = dir.path().join("other");
        std::fs::create_dir(&path).expect("mkdir");
        std::fs::create_dir(&other).expect("mkdir other");
        let made = MadeHere::default();
        assert!(!made.is_echo(&path), "nothing noted yet");
        made.note(&path, NodeKey::of_local_path(&path).expect("key"));
        assert!(made.is_echo(&path));
        // Replaced underneath (by a directory that existed alongside, so
        // never the same inode): a real change, not an echo.
        std::fs::remove_dir(&path).expect("rmdir");
        std::fs::rename(&other, &path).expect("rename over");
        assert!(!made.is_echo(&path), "a replaced name is no echo");
        std::fs::remove_dir(&path).expect("rmdir");
        assert!(!made.is_echo(&path), "a gone name is no echo");
    }
}
