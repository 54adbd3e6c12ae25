//! Jobs in the database.

use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

use super::{JobRecord, JobState};
use crate::error::{Error, Result};
use crate::ids::{JobId, LocationId};
use crate::library::schema;

fn decode(bytes: &[u8]) -> Result<JobRecord> {
    serde_json::from_slice(bytes).map_err(|e| Error::CorruptRecord {
        table: "jobs",
        detail: e.to_string(),
    })
}

/// Writes a job record inside `txn`.
pub fn put_job(txn: &WriteTransaction, job: &JobRecord) -> Result<()> {
    let mut table = txn.open_table(schema::JOBS)?;
    let bytes = serde_json::to_vec(job).map_err(|e| Error::InvalidInput(e.to_string()))?;
    table.insert(job.id.0, bytes.as_slice())?;
    Ok(())
}

/// Reads one job.
pub fn get_job(db: &Database, id: JobId) -> Result<JobRecord> {
    let txn = db.begin_read()?;
    let table = txn.open_table(schema::JOBS)?;
    let row = table
        .get(id.0)?
        .ok_or_else(|| Error::NotFound(format!("no job {id}")))?;
    decode(row.value())
}

/// Every job, newest first.
pub fn list_jobs(db: &Database) -> Result<Vec<JobRecord>> {
    let txn = db.begin_read()?;
    let table = txn.open_table(schema::JOBS)?;
    let mut out = Vec::new();
    for row in table.iter()?.rev() {
        out.push(decode(row?.1.value())?);
    }
    Ok(out)
}

/// The unfinished job indexing `location`, if any (the one to resume).
pub fn active_job_for(db: &Database, location: LocationId) -> Result<Option<JobRecord>> {
    Ok(list_jobs(db)?
        .into_iter()
        .find(|j| j.location == location && j.state.is_active()))
}

/// Changes a stored job's state (used when no process is running it).
pub fn update_state(db: &Database, id: JobId, state: JobState) -> Result<JobRecord> {
    let txn = db.begin_write()?;
    let job = {
        let table = txn.open_table(schema::JOBS)?;
        let row = table
            .get(id.0)?
            .ok_or_else(|| Error::NotFound(format!("no job {id}")))?;
        decode(row.value())?
    };
    if !job.state.is_active() {
        return Err(Error::InvalidInput(format!(
            "job {id} is already {}",
            job.state.as_str()
        )));
    }
    let mut job = job;
    job.state = state;
    job.updated_at = crate::time::unix_now_nanos();
    put_job(&txn, &job)?;
    txn.commit()?;
    Ok(job)
}
