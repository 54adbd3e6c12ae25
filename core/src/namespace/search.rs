//! `/.search/<query>/`: the files a search finds, as a directory any
//! program can list, open and grep. Each entry is the file itself (the
//! same node as under its device), so opening it opens the real file,
//! reads and writes alike, and `user.sd.uri` says where it lives; the
//! directory itself takes no changes, so nothing in it can delete a real
//! file. Core does not search: the daemon's index answers through
//! [`SearchFiles`].
//!
//! Names are the files' own. Two hits that share a name are both shown as
//! `stem [xxxxxxxx].ext`, where `xxxxxxxx` is the first 8 hex digits of
//! the BLAKE3 hash of the file's `sd://` URI: the same file gets the same
//! name in a query's directory however the ranking moves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Attr, DirEntry, Namespace, Node};
use crate::error::{Error, ErrorKind, Result};
use crate::uri::SdUri;

/// Name of the directory of searches at the mount's top.
pub const SEARCH_DIR: &str = ".search";

/// Hits a search directory lists at most.
pub const SEARCH_DIR_LIMIT: usize = 500;

/// How long a query's names are reused for lookups after a listing.
const NAMES_FRESH: Duration = Duration::from_secs(2);
/// Queries whose names are kept at most.
const NAMES_KEPT: usize = 64;

/// Searches for the mount: the URIs of the best hits for a person's words.
pub trait SearchFiles: Send + Sync {
    /// URIs (`sd://device/location/path`) of the best `limit` hits for
    /// `query`, best first.
    fn search(&self, query: &str, limit: usize) -> Result<Vec<String>>;
}

/// Files shown in a directory: the name each is shown under, and its URI.
pub(super) type Names = Arc<Vec<(Vec<u8>, String)>>;

/// Which kind of directory listed names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum ListedBy {
    Search,
    Tag,
}

/// A query's names, and when they were found.
type Named = (Instant, Names);

/// Recently listed queries' and tags' names.
#[derive(Default)]
pub(super) struct ListedNames(Mutex<HashMap<(ListedBy, Vec<u8>), Named>>);

/// The names hits `uris` are shown under, in order: each file's own,
/// made unique where two share one.
pub fn unique_names(uris: &[String]) -> Vec<(Vec<u8>, String)> {
    let own: Vec<Vec<u8>> = uris
        .iter()
        .map(|uri| {
            uri.parse::<SdUri>()
                .ok()
                .and_then(|u| {
                    u.rel_path()
                        .rsplit(|b| *b == b'/')
                        .next()
                        .map(<[u8]>::to_vec)
                })
                .unwrap_or_default()
        })
        .collect();
    let mut count: HashMap<&[u8], usize> = HashMap::new();
    for name in &own {
        *count.entry(name.as_slice()).or_default() += 1;
    }
    own.iter()
        .zip(uris)
        .filter(|(name, _)| !name.is_empty())
        .map(|(name, uri)| {
            let shown = if count[name.as_slice()] > 1 {
                tagged(name, uri)
            } else {
                name.clone()
            };
            (shown, uri.clone())
        })
        .collect()
}

/// `stem [xxxxxxxx].ext` for `name`, from `uri`'s hash.
fn tagged(name: &[u8], uri: &str) -> Vec<u8> {
    let hash = blake3::hash(uri.as_bytes());
    let tag: String = hash.as_bytes()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // A leading dot is a hidden name, not an extension.
    let split = name
        .iter()
        .rposition(|b| *b == b'.')
        .filter(|i| *i > 0)
        .unwrap_or(name.len());
    let mut out = name[..split].to_vec();
    out.extend_from_slice(format!(" [{tag}]").as_bytes());
    out.extend_from_slice(&name[split..]);
    out
}

impl Namespace {
    /// Lets `.search/` answer from `search`.
    pub fn set_search(&self, search: Arc<dyn SearchFiles>) {
        *self.search.write().unwrap_or_else(|e| e.into_inner()) = Some(search);
    }

    fn searcher(&self) -> Result<Arc<dyn SearchFiles>> {
        self.search
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| Error::fs(ErrorKind::Unavailable, "search runs in the daemon"))
    }

    /// The names of `query`'s hits, searched now.
    fn search_names(&self, query: &[u8]) -> Result<Names> {
        let uris = self
            .searcher()?
            .search(&String::from_utf8_lossy(query), SEARCH_DIR_LIMIT)?;
        Ok(self.keep_names(ListedBy::Search, query, unique_names(&uris)))
    }

    /// Keeps `names`, listed now, for the lookups that follow.
    pub(super) fn keep_names(
        &self,
        by: ListedBy,
        key: &[u8],
        names: Vec<(Vec<u8>, String)>,
    ) -> Names {
        let names = Arc::new(names);
        let mut kept = self.listed.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= NAMES_KEPT {
            kept.retain(|_, (at, _)| at.elapsed() < NAMES_FRESH);
        }
        if kept.len() < NAMES_KEPT {
            kept.insert((by, key.to_vec()), (Instant::now(), Arc::clone(&names)));
        }
        names
    }

    /// Names listed a moment ago, if they were.
    pub(super) fn recent_names(&self, by: ListedBy, key: &[u8]) -> Option<Names> {
        let kept = self.listed.0.lock().unwrap_or_else(|e| e.into_inner());
        let (at, names) = kept.get(&(by, key.to_vec()))?;
        (at.elapsed() < NAMES_FRESH).then(|| Arc::clone(names))
    }

    /// The node shown as `name` among `names`.
    pub(super) fn named_in(&self, names: &Names, name: &[u8]) -> Result<(Node, Attr)> {
        let uri = names
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, uri)| uri)
            .ok_or_else(|| Error::fs(ErrorKind::NotFound, String::from_utf8_lossy(name)))?;
        self.node_at_uri(uri)
    }

    pub(super) fn lookup_search(&self, query: &[u8], name: &[u8]) -> Result<(Node, Attr)> {
        let names = match self.recent_names(ListedBy::Search, query) {
            Some(names) => names,
            None => self.search_names(query)?,
        };
        self.named_in(&names, name)
    }

    pub(super) fn readdir_search(&self, query: &[u8]) -> Result<Vec<DirEntry>> {
        let names = self.search_names(query)?;
        Ok(self.entries_of(&names))
    }

    /// Directory entries for `names`. A file the list names but the mount
    /// cannot reach right now (deleted a moment ago) is left out.
    pub(super) fn entries_of(&self, names: &Names) -> Vec<DirEntry> {
        let mut out = Vec::with_capacity(names.len());
        let mut dirs = HashMap::new();
        for (name, uri) in names.iter() {
            if let Ok((node, attr)) = self.node_at_uri_via(uri, &mut dirs) {
                out.push(DirEntry {
                    name: name.clone(),
                    node,
                    attr,
                });
            }
        }
        out
    }

    /// The node `uri` names, found as a program would: from the mount's
    /// root, name by name.
    pub fn node_at_uri(&self, uri: &str) -> Result<(Node, Attr)> {
        self.node_at_uri_via(uri, &mut HashMap::new())
    }

    /// [`Self::node_at_uri`], reusing (and adding to) `dirs`, the
    /// directories already walked to, by their path under the mount: a
    /// listing's hits share most of theirs.
    fn node_at_uri_via(
        &self,
        uri: &str,
        dirs: &mut HashMap<Vec<u8>, Node>,
    ) -> Result<(Node, Attr)> {
        let bad = || {
            Error::fs(
                ErrorKind::InvalidInput,
                format!("not a file of the mount: {uri}"),
            )
        };
        let parsed: SdUri = uri.parse().map_err(|_| bad())?;
        let SdUri::Device { device, .. } = &parsed else {
            return Err(bad());
        };
        let location = parsed.location().ok_or_else(bad)?;
        // This device's cloud volumes sit at the mount's top.
        let top_volume = *device == self.lib.device_name()
            && self
                .locations
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|l| l.name.as_bytes() == location && l.is_cloud());
        let mut parts: Vec<&[u8]> = Vec::new();
        if !top_volume {
            parts.push(device.as_bytes());
        }
        parts.push(location);
        parts.extend(
            parsed
                .rel_path()
                .split(|b| *b == b'/')
                .filter(|p| !p.is_empty()),
        );
        let Some((name, above)) = parts.split_last() else {
            return Err(bad());
        };
        let key = above.join(&b'/');
        let dir = match dirs.get(&key) {
            Some(dir) => dir.clone(),
            None => {
                let mut dir = Node::root();
                for part in above {
                    dir = self.lookup(&dir, part)?.0;
                }
                dirs.insert(key, dir.clone());
                dir
            }
        };
        self.lookup(&dir, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_files_own_and_clashes_get_a_stable_tag() {
        let uris = vec![
            "sd://laptop/Docs/tax/return.pdf".to_owned(),
            "sd://nas/Backup/return.pdf".to_owned(),
            "sd://laptop/Docs/notes.txt".to_owned(),
            "sd://laptop/Docs/.profile".to_owned(),
            "sd://nas/Home/.profile".to_owned(),
        ];
        let names = unique_names(&uris);
        let shown: Vec<String> = names
            .iter()
            .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
            .collect();
        assert_eq!(shown[2], "notes.txt");
        for (i, name) in [(0, "return"), (1, "return")] {
            assert!(shown[i].starts_with(&format!("{name} [")), "{shown:?}");
            assert!(shown[i].ends_with("].pdf"), "{shown:?}");
            assert_eq!(shown[i].len(), "return [12345678].pdf".len());
        }
        assert_ne!(shown[0], shown[1]);
        assert!(shown[3].starts_with(".profile ["), "{shown:?}");
        // Stable: the same file, the same name, whatever else is found
        // and in whatever order.
        let again = unique_names(&[uris[1].clone(), uris[0].clone()]);
        assert_eq!(again[1].0, names[0].0);
        assert_eq!(again[0].0, names[1].0);
        // Non-UTF-8 names come back as the same bytes.
        let odd = SdUri::device("laptop", b"Docs", b"caf\xe9.txt").to_string();
        assert_eq!(unique_names(&[odd])[0].0, b"caf\xe9.txt".to_vec());
    }
}
