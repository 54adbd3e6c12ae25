//! `sd dedupe PATH`: within PATH, every extra copy of a file goes to the
//! trash, one copy of each kept. Planned from the index (the sampled
//! content id groups the candidates, a recorded full hash tells apart
//! what it groups); before an extra goes, the run reads both it and the
//! copy kept in full and compares their BLAKE3, so only true duplicates
//! are ever trashed. Undone like any delete, by `sd undo`.

use super::delete::TRASH;
use super::preview::Links;
use super::run::{Runner, hash_all};
use super::side::Side;
use super::{ActionKind, ActionRequest, Conflict, Preview};
use crate::error::{Error, ErrorKind, Result};
use crate::library::Library;
use crate::namespace::OpenFlags;
use crate::uri::SdUri;

/// Plans trashing the extra copies below `scope` (each kept copy is the
/// first by path).
pub fn preview_dedupe(lib: &Library, scope: &SdUri, links: &dyn Links) -> Result<Preview> {
    let side = Side::of(lib, scope)?;
    let spot = side.spot(scope)?;
    if spot.entry.is_none() {
        return Err(Error::NotFound(format!(
            "{scope}: not in {}'s index",
            side.device_name
        )));
    }
    let mut preview = Preview::empty(ActionRequest {
        kind: ActionKind::Dedupe,
        sources: vec![scope.to_string()],
        destination: TRASH.to_owned(),
    });
    if !side.local && !spot.location.remote_writes {
        preview.conflicts.push(Conflict {
            uri: scope.to_string(),
            reason: format!(
                "{} takes no changes from other devices here",
                spot.location.name
            ),
        });
        return Ok(preview);
    }
    if !side.local && !links.online(side.device) {
        preview.conflicts.push(Conflict {
            uri: scope.to_string(),
            reason: format!(
                "{} is offline: its copies cannot be compared",
                side.device_name
            ),
        });
        return Ok(preview);
    }
    let prefix = scope.to_string();
    let below = |uri: &str| {
        uri == prefix
            || uri
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.starts_with('/') || prefix.ends_with('/'))
    };
    for group in crate::guardian::dupes(lib, 1)? {
        let mut here = group.uris.iter().filter(|u| below(u));
        let Some(kept) = here.next() else {
            continue;
        };
        for extra in here {
            preview.files += 1;
            preview.bytes += group.size;
            let parse = |s: &str| {
                s.parse::<SdUri>()
                    .map_err(|e| Error::InvalidInput(e.to_string()))
            };
            preview.plan.duplicates.push((parse(extra)?, parse(kept)?));
        }
    }
    preview.plan.from_device.push(side.device);
    Ok(preview)
}

impl Runner<'_> {
    /// Trashes each extra copy whose bytes are the kept copy's.
    pub(super) fn dedupe_all(&mut self, pairs: &[(SdUri, SdUri)]) {
        for (extra, kept) in pairs {
            match self.same_bytes(extra, kept) {
                Ok(true) => self.trash_all(std::slice::from_ref(extra)),
                Ok(false) => self.report.errors.push(format!(
                    "{extra}: kept, its bytes differ from {kept}'s (the sampled hash alone grouped them)"
                )),
                Err(e) => self.report.errors.push(format!("{extra}: {e}")),
            }
        }
        self.report.files = self.report.trashed.iter().map(|t| t.files).sum();
        self.report.bytes = self.report.trashed.iter().map(|t| t.bytes).sum();
    }

    /// Whether the two files' whole bytes hash alike.
    fn same_bytes(&mut self, a: &SdUri, b: &SdUri) -> Result<bool> {
        let hash = |uri: &SdUri| -> Result<[u8; 32]> {
            let (node, attr) = self.ns.node_at_uri(&uri.to_string())?;
            if attr.kind != crate::model::entry::EntryKind::File {
                return Err(Error::fs(ErrorKind::InvalidInput, "not a file"));
            }
            hash_all(&self.ns.open(&node, OpenFlags::read_only())?)
        };
        Ok(hash(a)? == hash(b)?)
    }
}
