//! The Data Guardian (SPEC §6): how many good copies each file has across
//! every device and bucket, which files one lost disk (or one flawed kind
//! of disk) would take, and what to copy where so that none would.
//!
//! It reads the index of this device and the replicas of the others in
//! one read transaction, so it answers the same with every other device
//! offline, and touches no file.

mod census;
mod dupes;
mod risk;
mod rollup;
#[cfg(test)]
mod tests;

use redb::{ReadTransaction, ReadableDatabase};
use serde::Serialize;

use crate::content_store::validate::{IntegrityIssue, IssueKind, read_issues};
use crate::error::{Error, Result};
use crate::library::{Library, schema};
use crate::model::entry::EntryRecord;
use crate::model::volume::PhysicalClass;
use crate::sync::replica::{REPLICA_CHILDREN, child_key};
use crate::uri::SdUri;

use census::{Census, MAX_DEPTH, NONE, Place};
pub use dupes::dupes;
pub use risk::Risk;
use rollup::{Found, Rollup, Sums};

/// What `sd guardian [PATH]` reports.
#[derive(Clone, Debug, Serialize)]
pub struct GuardianReport {
    /// What was looked at: a URI, or `sd://` for the whole library.
    pub scope: String,
    /// Identified files (with a content identity) and their bytes.
    pub files: u64,
    pub bytes: u64,
    pub at_risk_files: u64,
    pub at_risk_bytes: u64,
    /// Totals per kind of risk, worst first.
    pub by_risk: Vec<RiskTotal>,
    /// Every location (and bucket) in scope.
    pub locations: Vec<LocationGuard>,
    /// Folders and files at risk, worst and largest first: a folder
    /// stands for all its files when they share one risk.
    pub at_risk: Vec<AtRisk>,
    /// Items left out of `at_risk` by the limit.
    pub more_at_risk: usize,
    /// Files this device's integrity job found damaged.
    pub corrupt: Vec<Damaged>,
    /// Where the copies of the file `scope` names are (a file scope only).
    pub copies: Vec<CopyOf>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RiskTotal {
    pub risk: Risk,
    pub files: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct LocationGuard {
    pub uri: String,
    pub device: String,
    pub location: String,
    pub class: PhysicalClass,
    pub files: u64,
    pub bytes: u64,
    pub at_risk_files: u64,
    pub at_risk_bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct AtRisk {
    pub uri: String,
    /// `file` or `dir` (a location's root is a `dir`).
    pub kind: &'static str,
    pub risk: Risk,
    /// Good copies of each file (the fewest, for a folder).
    pub copies: u32,
    pub files: u64,
    pub bytes: u64,
    /// The devices holding those copies.
    pub on: Vec<String>,
    /// What would take it out of danger.
    pub suggestion: Option<Suggestion>,
}

/// A protection the Guardian offers: copy `from` to `to`.
#[derive(Clone, Debug, Serialize)]
pub struct Suggestion {
    pub action: &'static str,
    pub from: String,
    pub to: String,
    /// The device (or bucket) `to` is on, and its physical class.
    pub device: String,
    pub class: PhysicalClass,
    /// Free bytes there, as its device last said.
    pub free: u64,
    /// The action that does it (previewed first, as every action).
    pub command: String,
}

/// A damaged file of this device, and whether a good copy exists.
#[derive(Clone, Debug, Serialize)]
pub struct Damaged {
    pub uri: Option<String>,
    pub path: String,
    pub kind: IssueKind,
    pub expected: String,
    pub actual: String,
    pub detected_at: i64,
    /// Good copies elsewhere it could be restored from.
    pub good_copies: u32,
}

/// One copy of a file.
#[derive(Clone, Debug, Serialize)]
pub struct CopyOf {
    pub uri: String,
    pub device: String,
    pub class: PhysicalClass,
    /// The owner has checked these bytes against the full BLAKE3.
    pub verified: bool,
    /// When this device's integrity job last read this copy whole and
    /// found it right (unix seconds; `null` for another device's copy,
    /// whose device keeps that, or one not read since).
    pub verified_at: Option<i64>,
    /// Found damaged by its device's integrity job.
    pub damaged: bool,
}

/// The Guardian's report on `scope` (the whole library when `None`),
/// listing at most `limit` at-risk items.
pub fn report(lib: &Library, scope: Option<&SdUri>, limit: usize) -> Result<GuardianReport> {
    let txn = lib.db().begin_read()?;
    let issues = read_issues(&txn)?;
    let bad: std::collections::HashSet<u64> = issues.iter().map(|i| i.entry).collect();
    let census = Census::take(lib, &txn, &bad)?;
    let verdicts = risk::judge(&census);
    let rollups: Vec<Rollup> = census
        .trees
        .iter()
        .map(|tree| rollup::roll_up(tree, |f| census.files[f as usize].size, &verdicts))
        .collect();
    let guard = Guard {
        census: &census,
        txn: &txn,
        rollups: &rollups,
        verdicts: &verdicts,
    };
    let starts = match scope {
        None => census.places.iter().map(|p| (p.device, p.root)).collect(),
        Some(uri) => vec![guard.resolve(lib, uri)?],
    };
    let mut totals = Sums::default();
    let mut found = Vec::new();
    let mut locations = Vec::new();
    for &(device, node) in &starts {
        let rollup = &rollups[device as usize];
        totals.add(&rollup.sums[node as usize]);
        rollup::at_risk_below(
            &census.trees[device as usize],
            rollup,
            device,
            node,
            &mut found,
        );
        if let Some(place) = guard.place_of(device, node) {
            let p = &census.places[place];
            let s = &rollup.sums[p.root as usize];
            locations.push(LocationGuard {
                uri: guard.uri(place, p.root)?,
                device: census.devices[device as usize].name.clone(),
                location: p.location.name.clone(),
                class: p.class,
                files: s.files,
                bytes: s.bytes,
                at_risk_files: s.at_risk_files(),
                at_risk_bytes: s.at_risk_bytes(),
            });
        }
    }
    found.sort_by(|a, b| {
        let bytes = |f: &Found| rollups[f.device as usize].sums[f.node as usize].bytes;
        b.risk.cmp(&a.risk).then(bytes(b).cmp(&bytes(a)))
    });
    let more_at_risk = found.len().saturating_sub(limit);
    let at_risk = found
        .iter()
        .take(limit)
        .map(|f| guard.at_risk(f))
        .collect::<Result<Vec<_>>>()?;
    let copies = match starts.as_slice() {
        [(device, node)] if scope.is_some() => guard.copies_of(*device, *node)?,
        _ => Vec::new(),
    };
    let corrupt = guard.damaged(&issues, scope.map(|_| starts.as_slice()))?;
    Ok(GuardianReport {
        scope: scope.map_or_else(|| "sd://".to_owned(), ToString::to_string),
        files: totals.files,
        bytes: totals.bytes,
        at_risk_files: totals.at_risk_files(),
        at_risk_bytes: totals.at_risk_bytes(),
        by_risk: Risk::AT_RISK
            .iter()
            .enumerate()
            .map(|(slot, &risk)| RiskTotal {
                risk,
                files: totals.risk_files[slot],
                bytes: totals.risk_bytes[slot],
            })
            .collect(),
        locations,
        at_risk,
        more_at_risk,
        corrupt,
        copies,
    })
}

/// Everything a report is read from.
struct Guard<'a> {
    census: &'a Census,
    txn: &'a ReadTransaction,
    rollups: &'a [Rollup],
    verdicts: &'a [risk::Verdict],
}

impl Guard<'_> {
    /// The place (location) whose root is `node` or above it.
    fn place_of(&self, device: u16, node: u32) -> Option<usize> {
        let tree = &self.census.trees[device as usize];
        let mut at = node;
        for _ in 0..MAX_DEPTH {
            if let Some(p) = self
                .census
                .places
                .iter()
                .position(|p| p.device == device && p.root == at)
            {
                return Some(p);
            }
            at = tree.parent[at as usize];
            if at == NONE {
                return None;
            }
        }
        None
    }

    fn record(&self, device: u16, node: u32) -> Result<Option<EntryRecord>> {
        self.census.record(self.txn, device, node)
    }

    fn uri(&self, place: usize, node: u32) -> Result<String> {
        Ok(self.census.uri(self.txn, place, node)?.to_string())
    }

    /// The device and node a URI names.
    fn resolve(&self, lib: &Library, uri: &SdUri) -> Result<(u16, u32)> {
        let (device, location) = match uri {
            SdUri::Device { device, .. } => {
                let d = self
                    .census
                    .devices
                    .iter()
                    .position(|d| d.name == *device || d.id.to_string() == *device)
                    .ok_or_else(|| {
                        Error::NotFound(format!("no device named {device:?} in this library"))
                    })?;
                (d, uri.location().unwrap_or_default().to_vec())
            }
            SdUri::Cloud { volume, .. } => (0, volume.as_bytes().to_vec()),
            SdUri::Content { .. } => {
                return Err(Error::InvalidInput(format!(
                    "{uri}: name a device, location, folder or file"
                )));
            }
        };
        let place = self
            .census
            .places
            .iter()
            .find(|p| p.device as usize == device && p.location.name.as_bytes() == location)
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "{uri}: no location {:?} on {} (sd guardian takes a location, folder or file)",
                    String::from_utf8_lossy(&location),
                    lib.device_name()
                ))
            })?;
        let tree = &self.census.trees[device];
        let mut node = place.root;
        for name in uri
            .rel_path()
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
        {
            let id = self.child(device as u16, tree.ids[node as usize], name)?;
            node = id
                .and_then(|id| tree.node(id))
                .ok_or_else(|| Error::NotFound(format!("{uri}: not in the index")))?;
        }
        Ok((device as u16, node))
    }

    fn child(&self, device: u16, parent: u64, name: &[u8]) -> Result<Option<u64>> {
        let d = &self.census.devices[device as usize];
        Ok(if d.local {
            self.txn
                .open_table(schema::CHILDREN)?
                .get(schema::child_key(parent, name).as_slice())?
                .map(|v| v.value())
        } else {
            self.txn
                .open_table(REPLICA_CHILDREN)?
                .get(child_key(d.id, parent, name).as_slice())?
                .map(|v| v.value())
        })
    }

    fn at_risk(&self, found: &Found) -> Result<AtRisk> {
        let census = self.census;
        let tree = &census.trees[found.device as usize];
        let sums = &self.rollups[found.device as usize].sums[found.node as usize];
        let place = self
            .place_of(found.device, found.node)
            .ok_or_else(|| Error::NotFound("an at-risk file outside every location".into()))?;
        let uri = self.uri(place, found.node)?;
        let is_file = tree.file[found.node as usize] != NONE;
        let suggestion = self.suggest(place, found, &uri, sums.bytes)?;
        Ok(AtRisk {
            kind: if is_file { "file" } else { "dir" },
            risk: found.risk,
            copies: found.copies,
            files: sums.files,
            bytes: sums.bytes,
            on: census
                .devices
                .iter()
                .enumerate()
                .filter(|(i, _)| found.holders & (1 << (i % 64)) != 0)
                .map(|(_, d)| d.name.clone())
                .collect(),
            suggestion,
            uri,
        })
    }

    /// Where a copy would take `found` out of danger: a location on a
    /// device that holds none of it (another volume of the same device
    /// for a one-volume risk, if nothing else), of another physical class
    /// where one exists, with the most room.
    fn suggest(
        &self,
        place: usize,
        found: &Found,
        uri: &str,
        bytes: u64,
    ) -> Result<Option<Suggestion>> {
        let census = self.census;
        let own = &census.places[place];
        let free = |p: &Place| census.volumes.get(p.volume as usize).map_or(0, |v| v.free);
        let best = census
            .places
            .iter()
            .enumerate()
            .filter(|(i, p)| {
                *i != place
                    && (found.holders & (1 << (p.device % 64)) == 0
                        || (found.risk == Risk::OneVolume && p.volume != own.volume))
                    && free(p) >= bytes
            })
            .max_by_key(|(_, p)| {
                (
                    found.holders & (1 << (p.device % 64)) == 0,
                    p.class != own.class && p.class != PhysicalClass::Unknown,
                    free(p),
                )
            });
        let Some((_, p)) = best else {
            return Ok(None);
        };
        // The copy keeps the name, beside the target location's files.
        let name = if found.node == own.root {
            own.location.name.as_bytes().to_vec()
        } else {
            self.record(own.device, found.node)?
                .map(|r| r.name)
                .unwrap_or_default()
        };
        let to = census.uri_in(p, &name).to_string();
        Ok(Some(Suggestion {
            action: "copy",
            command: format!("sd cp {} {}", shell_quoted(uri), shell_quoted(&to)),
            from: uri.to_owned(),
            to,
            device: census.devices[p.device as usize].name.clone(),
            class: p.class,
            free: free(p),
        }))
    }

    /// Every copy of the file at `node` (nothing for a folder).
    fn copies_of(&self, device: u16, node: u32) -> Result<Vec<CopyOf>> {
        let census = self.census;
        let file = census.trees[device as usize].file[node as usize];
        if file == NONE {
            return Ok(Vec::new());
        }
        let me = census.files[file as usize];
        let mut out = Vec::new();
        for f in &census.files {
            if f.content != me.content || (f.full != 0 && me.full != 0 && f.full != me.full) {
                continue;
            }
            let p = &census.places[f.place as usize];
            let verified_at = if census.devices[f.device as usize].local {
                let entry = census.trees[f.device as usize].ids[f.node as usize];
                match self.txn.open_table(crate::library::schema::VERIFIED_AT) {
                    Ok(table) => table.get(entry)?.map(|at| at.value()),
                    // A library from before the table: nothing read yet.
                    Err(redb::TableError::TableDoesNotExist(_)) => None,
                    Err(e) => return Err(e.into()),
                }
            } else {
                None
            };
            out.push(CopyOf {
                uri: self.uri(f.place as usize, f.node)?,
                device: census.devices[f.device as usize].name.clone(),
                class: p.class,
                verified: f.full != 0,
                verified_at,
                damaged: f.bad,
            });
        }
        Ok(out)
    }

    /// This device's damaged files in scope, with their good copies.
    fn damaged(
        &self,
        issues: &[IntegrityIssue],
        scope: Option<&[(u16, u32)]>,
    ) -> Result<Vec<Damaged>> {
        let census = self.census;
        let tree = &census.trees[0];
        let mut out = Vec::new();
        for issue in issues {
            let node = tree.node(issue.entry);
            let in_scope = scope.is_none_or(|starts| {
                node.is_some_and(|n| starts.iter().any(|&(d, s)| d == 0 && self.below(0, n, s)))
            });
            if !in_scope {
                continue;
            }
            let file = node.map_or(NONE, |n| tree.file[n as usize]);
            let (uri, good_copies) = if file == NONE {
                (None, 0)
            } else {
                let f = census.files[file as usize];
                (
                    Some(self.uri(f.place as usize, f.node)?),
                    self.verdicts[file as usize].copies,
                )
            };
            out.push(Damaged {
                uri,
                path: issue.path.clone(),
                kind: issue.kind,
                expected: issue.expected.clone(),
                actual: issue.actual.clone(),
                detected_at: issue.detected_at,
                good_copies,
            });
        }
        Ok(out)
    }

    /// Whether `node` is `ancestor` or below it.
    fn below(&self, device: u16, node: u32, ancestor: u32) -> bool {
        let tree = &self.census.trees[device as usize];
        let mut at = node;
        for _ in 0..MAX_DEPTH {
            if at == ancestor {
                return true;
            }
            if at == NONE {
                return false;
            }
            at = tree.parent[at as usize];
        }
        false
    }
}

/// `text` as one word of a POSIX shell.
fn shell_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
