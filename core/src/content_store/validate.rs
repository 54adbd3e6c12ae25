//! The integrity job: full BLAKE3 of every content that lacks one, checked
//! across its instances.
//!
//! - A content with no integrity hash gets the hash of its first readable
//!   instance; the other instances must match it.
//! - An instance with other bytes is a sampled-hash collision: reported and
//!   recorded, never merged (`.content/<id>` never serves it).
//! - With `reverify`, contents that have a hash are read again: an instance
//!   whose stamp (size, mtime, inode) is unchanged since its manifest but
//!   whose bytes now differ is corrupt (bit rot, or a write that hid itself).
//!
//! Resumable for free: the work is "contents without an integrity hash", and
//! each content's result is committed before the next.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redb::{ReadableDatabase, ReadableTable};
use sdfs_cas::FileHash;
use serde::{Deserialize, Serialize};

use super::ContentStore;
use crate::error::Result;
use crate::ids::ContentId;
use crate::library::schema;
use crate::model::content::ContentRecord;

/// How the job runs.
#[derive(Clone, Debug, Default)]
pub struct ValidateOptions {
    /// Bytes per second to read at most (`None`: as fast as the disk goes).
    pub rate: Option<u64>,
    /// Also re-read contents whose integrity hash is known.
    pub reverify: bool,
}

/// What kind of trouble an instance is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// Other bytes under the same sampled content id.
    Collision,
    /// The bytes changed while the file's stamp did not.
    Corruption,
}

/// One finding, kept in the library until the file is re-indexed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrityIssue {
    pub kind: IssueKind,
    pub entry: u64,
    pub path: String,
    pub content_id: ContentId,
    /// The content's integrity hash (what the bytes should hash to).
    pub expected: String,
    /// What the instance's bytes hash to.
    pub actual: String,
    pub detected_at: i64,
}

/// What a run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ValidateReport {
    pub contents: u64,
    pub files_hashed: u64,
    pub bytes_hashed: u64,
    /// Contents that got their integrity hash in this run.
    pub integrity_set: u64,
    /// Contents still without one (stopped early, or no readable instance).
    pub remaining: u64,
    pub issues: Vec<IntegrityIssue>,
    /// Corrupt files put back from a good copy (by whoever can read one:
    /// the daemon, through its namespace), by path.
    pub repaired: Vec<String>,
    pub stopped: bool,
}

impl ContentStore {
    /// Runs the integrity job until done or `stop` is set.
    pub fn validate(&self, options: &ValidateOptions, stop: &AtomicBool) -> Result<ValidateReport> {
        let mut report = ValidateReport::default();
        let started = Instant::now();
        for (id, record) in self.contents(options.reverify)? {
            if stop.load(Ordering::Relaxed) {
                report.stopped = true;
                break;
            }
            report.contents += 1;
            let mut expected = record.integrity.map(FileHash);
            for (entry, path) in self.instances(id)? {
                let previous = self.stored_manifest(entry)?;
                let local = if options.reverify {
                    self.build_local(Some(entry), &path, &sdfs_cas::Discard)
                } else {
                    self.local_manifest(Some(entry), &path)
                };
                let local = match local {
                    Ok(local) => local,
                    Err(e) => {
                        tracing::info!("integrity: skipping {}: {e}", path.display());
                        continue;
                    }
                };
                report.files_hashed += 1;
                report.bytes_hashed += local.manifest.size();
                let actual = local.manifest.hash();
                // Same stamp as when these bytes last hashed right: the file
                // changed without saying so.
                let silent_change = previous.as_ref().is_some_and(|p| {
                    p.stamp == local.stamp && expected.is_some_and(|e| p.manifest.hash() == e)
                }) && expected != Some(actual);
                let kind = if silent_change {
                    Some(IssueKind::Corruption)
                } else if !super::local::still_matches(&path, local.stamp, &record) {
                    // Changed since indexed, and said so: the indexer's job.
                    tracing::info!("integrity: {} changed since indexed", path.display());
                    None
                } else {
                    let expected_hash = match expected {
                        Some(hash) => hash,
                        None => {
                            let settled = FileHash(self.settle_integrity(id, actual.0)?);
                            report.integrity_set += u64::from(settled == actual);
                            expected = Some(settled);
                            settled
                        }
                    };
                    (actual != expected_hash).then_some(IssueKind::Collision)
                };
                match (kind, expected) {
                    (Some(kind), Some(expected_hash)) => {
                        let issue = IntegrityIssue {
                            kind,
                            entry,
                            path: path.display().to_string(),
                            content_id: id,
                            expected: expected_hash.to_string(),
                            actual: actual.to_string(),
                            detected_at: crate::time::unix_now_secs(),
                        };
                        tracing::warn!(
                            "integrity: {:?} at {}: expected {}, read {}",
                            issue.kind,
                            issue.path,
                            issue.expected,
                            issue.actual
                        );
                        self.record_issue(&issue)?;
                        report.issues.push(issue);
                        // Keep the manifest of the good bytes: it is the
                        // evidence, and what the next run compares against.
                        if let (IssueKind::Corruption, Some(previous)) = (kind, &previous) {
                            self.put_manifest_row(entry, previous)?;
                        }
                    }
                    (None, Some(_)) => {
                        // Bytes read now (not a manifest kept from before)
                        // and found right: when, for the Guardian.
                        let read_now = options.reverify
                            || previous.as_ref().is_none_or(|p| p.stamp != local.stamp);
                        let at = read_now.then(crate::time::unix_now_secs);
                        self.found_right(entry, at)?;
                    }
                    _ => {}
                }
                throttle(options.rate, report.bytes_hashed, started, stop);
            }
        }
        report.remaining = self.contents(false)?.len() as u64;
        Ok(report)
    }

    /// Contents to look at: those without an integrity hash, or all.
    fn contents(&self, all: bool) -> Result<Vec<(ContentId, ContentRecord)>> {
        let txn = self.lib.db().begin_read()?;
        let table = schema::CONTENT.read(&txn)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (key, value) = row?;
            let record = ContentRecord::decode(value.value())?;
            if all || record.integrity.is_none() {
                out.push((ContentId(uuid::Uuid::from_u128(key.value())), record));
            }
        }
        Ok(out)
    }

    fn record_issue(&self, issue: &IntegrityIssue) -> Result<()> {
        let bytes =
            serde_json::to_vec(issue).map_err(|e| crate::Error::InvalidInput(e.to_string()))?;
        let txn = self.lib.db().begin_write()?;
        txn.open_table(schema::INTEGRITY_ISSUES)?
            .insert(issue.entry, bytes.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    pub(crate) fn clear_issue(&self, entry: u64) -> Result<()> {
        self.found_right(entry, None)
    }

    /// `entry`'s bytes are right: no issue; with `at`, read whole then.
    fn found_right(&self, entry: u64, at: Option<i64>) -> Result<()> {
        let txn = self.lib.db().begin_write()?;
        txn.open_table(schema::INTEGRITY_ISSUES)?.remove(entry)?;
        if let Some(at) = at {
            txn.open_table(schema::VERIFIED_AT)?.insert(entry, at)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Every recorded issue.
    pub fn issues(&self) -> Result<Vec<IntegrityIssue>> {
        read_issues(&self.lib.db().begin_read()?)
    }
}

/// Every issue recorded in the library, as `txn` sees it.
pub(crate) fn read_issues(txn: &redb::ReadTransaction) -> Result<Vec<IntegrityIssue>> {
    let table = txn.open_table(schema::INTEGRITY_ISSUES)?;
    let mut out = Vec::new();
    for row in table.iter()? {
        let (_, value) = row?;
        if let Ok(issue) = serde_json::from_slice(value.value()) {
            out.push(issue);
        }
    }
    Ok(out)
}

/// Sleeps as long as it takes for `done` bytes since `started` to stay
/// under `rate` bytes per second, waking early when `stop` is set.
fn throttle(rate: Option<u64>, done: u64, started: Instant, stop: &AtomicBool) {
    let Some(rate) = rate.filter(|&r| r > 0) else {
        return;
    };
    let due = started + Duration::from_secs_f64(done as f64 / rate as f64);
    while Instant::now() < due && !stop.load(Ordering::Relaxed) {
        std::thread::sleep((due - Instant::now()).min(Duration::from_millis(100)));
    }
}
