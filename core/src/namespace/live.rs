//! What another device's indexer rules skip (`node_modules`, build output,
//! ...), listed live from that device while it is online, so its tree in
//! the mount is complete whenever it is up. Listings are asked with a short
//! deadline and kept for a moment; an offline device shows its replica only,
//! without waiting.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sdfs_cas::{ChunkSource, ContentReader, Manifest};

use super::node::Kind;
use super::remote::shown_attr;
use super::{Attr, DirEntry, Namespace, Node, Opened};
use crate::error::{Error, ErrorKind, Result};
use crate::ids::{DeviceId, LocationId};
use crate::model::entry::EntryKind;
use crate::outbox::join;
use crate::remote::{FileRef, LiveEntry, PeerSource};

/// How long a listing may take before the replica alone is shown.
const LIST_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a listing is reused (lookups right after a readdir).
const LIST_FRESH: Duration = Duration::from_secs(2);
/// Listings kept at most.
const LIST_CACHE: usize = 4096;

type ListKey = (DeviceId, LocationId, Vec<u8>);
/// A listing and when it was taken.
type Listed = (Instant, Arc<Vec<LiveEntry>>);

/// Recent live listings.
#[derive(Default)]
pub(super) struct LiveCache(std::sync::Mutex<HashMap<ListKey, Listed>>);

/// The node of child `name` of live directory `rel`.
fn live_node(device: DeviceId, location: LocationId, rel: &[u8], name: &[u8]) -> Node {
    Node(Kind::Live {
        device,
        location,
        path: PathBuf::from(std::ffi::OsStr::from_bytes(&join(rel, name))),
    })
}

fn live_attr(node: &Node, entry: &LiveEntry) -> Attr {
    shown_attr(
        node.key().ino(),
        entry.kind,
        entry.mode,
        entry.size,
        entry.mtime,
    )
}

impl Namespace {
    /// The owner's live listing of `rel` in `location` (cached briefly);
    /// empty when the device is offline or slow.
    fn live_listing(
        &self,
        device: DeviceId,
        location: LocationId,
        rel: &[u8],
    ) -> Arc<Vec<LiveEntry>> {
        let key = (device, location, rel.to_vec());
        {
            let cache = self.live.0.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, list)) = cache.get(&key)
                && at.elapsed() < LIST_FRESH
            {
                return Arc::clone(list);
            }
        }
        let access = self
            .remote
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(access) = access else {
            return Arc::default();
        };
        let timeout = LIST_TIMEOUT.min(access.timeout);
        let list = match access.link.list(device, location.0.as_u128(), rel, timeout) {
            // A peer's word: names that are not plain file names (`..`, `/`,
            // NUL, empty) never reach the mount.
            Ok(mut list) => {
                list.retain(|e| crate::sync::replica::is_plain_name(&e.name));
                Arc::new(list)
            }
            Err(e) => {
                tracing::debug!("live listing of {device}: {e}");
                Arc::default()
            }
        };
        let mut cache = self.live.0.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= LIST_CACHE {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), Arc::clone(&list)));
        list
    }

    /// The location and path below it of a directory of `device`'s replica.
    fn replica_dir_path(&self, device: DeviceId, entry: u64) -> Option<(LocationId, Vec<u8>)> {
        let view = crate::sync::replica::ReplicaView::new(self.lib.db(), device).ok()?;
        let (location, rel) = view.path_of(entry).ok()??;
        Some((location.id, rel))
    }

    /// Children of replica directory `entry` that the owner did not index.
    pub(super) fn live_below_remote(&self, device: DeviceId, entry: u64) -> Vec<DirEntry> {
        let Some((location, rel)) = self.replica_dir_path(device, entry) else {
            return Vec::new();
        };
        self.live_dir_entries(device, location, &rel)
    }

    pub(super) fn lookup_live_below_remote(
        &self,
        device: DeviceId,
        parent: u64,
        name: &[u8],
    ) -> Option<(Node, Attr)> {
        let (location, rel) = self.replica_dir_path(device, parent)?;
        self.find_live(device, location, &rel, name)
    }

    pub(super) fn find_live(
        &self,
        device: DeviceId,
        location: LocationId,
        rel: &[u8],
        name: &[u8],
    ) -> Option<(Node, Attr)> {
        let list = self.live_listing(device, location, rel);
        let found = list.iter().find(|e| e.name == name)?;
        let node = live_node(device, location, rel, name);
        let attr = live_attr(&node, found);
        Some((node, attr))
    }

    /// The live entry at `path`, from its parent's listing.
    pub(super) fn live_entry(
        &self,
        device: DeviceId,
        location: LocationId,
        path: &Path,
    ) -> Result<LiveEntry> {
        let bytes = path.as_os_str().as_bytes();
        let (parent, name) = match bytes.iter().rposition(|b| *b == b'/') {
            Some(i) => (&bytes[..i], &bytes[i + 1..]),
            None => (&b""[..], bytes),
        };
        self.live_listing(device, location, parent)
            .iter()
            .find(|e| e.name == name)
            .cloned()
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, String::from_utf8_lossy(bytes)))
    }

    pub(super) fn getattr_live(
        &self,
        device: DeviceId,
        location: LocationId,
        path: &Path,
    ) -> Result<Attr> {
        let node = Node(Kind::Live {
            device,
            location,
            path: path.to_owned(),
        });
        Ok(live_attr(&node, &self.live_entry(device, location, path)?))
    }

    pub(super) fn lookup_live(
        &self,
        device: DeviceId,
        location: LocationId,
        path: &Path,
        name: &[u8],
    ) -> Result<(Node, Attr)> {
        self.find_live(device, location, path.as_os_str().as_bytes(), name)
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, String::from_utf8_lossy(name)))
    }

    pub(super) fn readdir_live(
        &self,
        device: DeviceId,
        location: LocationId,
        path: &Path,
    ) -> Result<Vec<DirEntry>> {
        Ok(self.live_dir_entries(device, location, path.as_os_str().as_bytes()))
    }

    /// The live listing of `rel` as directory entries.
    fn live_dir_entries(
        &self,
        device: DeviceId,
        location: LocationId,
        rel: &[u8],
    ) -> Vec<DirEntry> {
        self.live_listing(device, location, rel)
            .iter()
            .map(|e| {
                let node = live_node(device, location, rel, &e.name);
                DirEntry {
                    name: e.name.clone(),
                    attr: live_attr(&node, e),
                    node,
                }
            })
            .collect()
    }

    pub(super) fn readlink_live(
        &self,
        device: DeviceId,
        location: LocationId,
        path: &Path,
    ) -> Result<Vec<u8>> {
        self.live_entry(device, location, path)?
            .link_target
            .ok_or_else(|| Error::fs(ErrorKind::InvalidInput, "not a symlink"))
    }

    /// A reader of a file another device does not index: its manifest and
    /// chunks come from that device by path (checked there to stay below
    /// the location), each chunk verified against the manifest; or, once
    /// read to the end, the whole copy assembled from those chunks.
    pub(super) fn open_live(
        &self,
        device: DeviceId,
        location: LocationId,
        path: &Path,
    ) -> Result<Opened> {
        let entry = self.live_entry(device, location, path)?;
        if entry.kind != EntryKind::File {
            return Err(Error::fs(ErrorKind::IsADirectory, "not a regular file"));
        }
        let access = self
            .remote
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| Error::fs(ErrorKind::Unavailable, "the device is not reachable"))?;
        let file = FileRef::Path {
            location: location.0.as_u128(),
            path: path.as_os_str().as_bytes().to_vec(),
        };
        let bytes = access
            .link
            .manifest(device, &file, access.timeout)
            .map_err(|e| {
                tracing::info!("manifest of {} from {device}: {e}", path.display());
                Error::fs(ErrorKind::Unavailable, path.display().to_string())
            })?;
        let manifest = Manifest::decode(&bytes).map_err(|e| {
            tracing::warn!("device {device} sent a bad manifest: {e}");
            Error::fs(ErrorKind::Unavailable, path.display().to_string())
        })?;
        if let Some(file) = self.content.chunks().assembled(&manifest) {
            return Ok(Opened::Whole(file));
        }
        let source: Arc<dyn ChunkSource> = Arc::new(PeerSource {
            link: Arc::clone(&access.link),
            device,
            device_name: device.to_string(),
            file,
            timeout: access.timeout,
        });
        Ok(Opened::Chunks(
            ContentReader::new(
                Arc::new(manifest),
                vec![source],
                self.content.hot().clone(),
                Some(Arc::clone(self.content.chunks())),
                sdfs_cas::Keep::Later(self.content.keeper()?),
            )
            .with_readahead(64),
        ))
    }
}
