//! Directory enumeration sessions, as ProjFS drives them: `start` (by
//! enumeration GUID), `get` until it reports no more (the search expression
//! is taken on the first `get` and on each restart scan; each call fills
//! the buffer ProjFS gives until it is full), `end`. Entries come from the
//! namespace's listing, sorted as `PrjFileNameCompare` sorts.

use std::collections::HashMap;
use std::sync::Mutex;

use sdfs_core::namespace::{Namespace, Node};
use sdfs_core::{ErrorKind, Result};

use crate::hresult::{self, HResult};
use crate::matching;
use crate::names;
use crate::placeholder::BasicInfo;

/// Where entries go: ProjFS's buffer (`PrjFillDirEntryBuffer`) on Windows,
/// a vector in the tests. `add` returns false when the entry did not fit.
pub trait EntrySink {
    fn add(&mut self, name: &[u16], info: &BasicInfo) -> bool;
}

struct Session {
    /// Sorted by `PrjFileNameCompare`.
    entries: Vec<(Vec<u16>, BasicInfo)>,
    /// `None` until the first `get` sets it.
    filter: Option<Vec<u16>>,
    next: usize,
}

/// The open enumerations, by enumeration GUID.
#[derive(Default)]
pub struct Enumerations(Mutex<HashMap<u128, Session>>);

impl Enumerations {
    /// `StartDirectoryEnumerationCallback`: snapshots directory `dir`.
    pub fn start(&self, ns: &Namespace, dir: &Node, id: u128) -> Result<()> {
        let read_only = !ns.takes_changes(dir);
        let mut entries: Vec<(Vec<u16>, BasicInfo)> = ns
            .open_dir(dir)?
            .starting_at(0)
            .iter()
            .map(|e| (names::to_wide(&e.name), BasicInfo::of(&e.attr, read_only)))
            .collect();
        entries.sort_by(|a, b| matching::compare(&a.0, &b.0));
        self.lock().insert(
            id,
            Session {
                entries,
                filter: None,
                next: 0,
            },
        );
        Ok(())
    }

    /// `GetDirectoryEnumerationCallback`: fills `sink` from where the last
    /// call stopped (or from the start on `restart`), with the entries that
    /// match the session's search expression.
    pub fn get(
        &self,
        id: u128,
        search: Option<&[u16]>,
        restart: bool,
        sink: &mut dyn EntrySink,
    ) -> HResult {
        let mut sessions = self.lock();
        let Some(session) = sessions.get_mut(&id) else {
            return hresult::of_kind(sdfs_core::ErrorKind::InvalidInput);
        };
        if restart || session.filter.is_none() {
            session.filter = Some(search.unwrap_or_default().to_vec());
            if restart {
                session.next = 0;
            }
        }
        let filter = session.filter.clone().unwrap_or_default();
        let mut added = 0;
        while let Some((name, info)) = session.entries.get(session.next) {
            if matching::matches(name, &filter) {
                if !sink.add(name, info) {
                    // Not even one fitted: ProjFS must give a bigger buffer.
                    return if added == 0 {
                        hresult::of_kind(sdfs_core::ErrorKind::BufferTooSmall)
                    } else {
                        hresult::S_OK
                    };
                }
                added += 1;
            }
            session.next += 1;
        }
        hresult::S_OK
    }

    /// `EndDirectoryEnumerationCallback`.
    pub fn end(&self, id: u128) {
        self.lock().remove(&id);
    }

    /// How many enumerations are open.
    pub fn open(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u128, Session>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The node at `path` (relative to the virtualization root, `\`-separated),
/// walked from the root as the kernel adapter's lookups would.
pub fn resolve(ns: &Namespace, path: &[u16]) -> Result<Node> {
    walk(ns, names::components(path)?)
}

/// The node the core names `parts` lead to from the root, each name
/// matched as Windows matches names (case-insensitively).
pub fn walk(ns: &Namespace, parts: impl IntoIterator<Item = Vec<u8>>) -> Result<Node> {
    Ok(walk_named(ns, parts)?.0)
}

/// [`walk`], with the path as the core stores it: a placeholder is
/// written under the stored case, whatever case Windows asked with.
pub fn walk_named(
    ns: &Namespace,
    parts: impl IntoIterator<Item = Vec<u8>>,
) -> Result<(Node, Vec<Vec<u8>>)> {
    let mut node = Node::root();
    let mut stored = Vec::new();
    for name in parts {
        let (next, name) = lookup_any_case(ns, &node, name)?;
        node = next;
        stored.push(name);
    }
    Ok((node, stored))
}

/// `name` in `dir`: the exact name first, else the one name that differs
/// from it only in case (the first by byte order, should a Linux folder
/// hold several).
fn lookup_any_case(ns: &Namespace, dir: &Node, name: Vec<u8>) -> Result<(Node, Vec<u8>)> {
    match ns.lookup(dir, &name) {
        Ok((node, _)) => Ok((node, name)),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let wanted = names::to_wide(&name);
            let mut same: Vec<_> = ns
                .readdir(dir)?
                .into_iter()
                .filter(|entry| matching::compare(&names::to_wide(&entry.name), &wanted).is_eq())
                .collect();
            same.sort_by(|a, b| a.name.cmp(&b.name));
            match same.into_iter().next() {
                Some(entry) => Ok((entry.node, entry.name)),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}
