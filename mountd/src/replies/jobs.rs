//! `sd index` and `sd jobs`.

use std::io::Write;

use sdfs_core::Library;
use sdfs_core::ids::JobId;
use sdfs_core::jobs::JobRecord;
use serde::Serialize;

use crate::outcome::Render;

/// A job, with its location's name.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    #[serde(flatten)]
    pub job: JobRecord,
    pub location_name: String,
}

impl JobRow {
    pub fn of(lib: &Library, job: JobRecord) -> JobRow {
        let location_name = sdfs_core::locations::get_by_id(lib.db(), job.location)
            .map(|l| l.name)
            .unwrap_or_default();
        JobRow { job, location_name }
    }
}

impl Render for JobRow {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let (job, c) = (&self.job, &self.job.counters);
        writeln!(
            out,
            "{:>4} {:<10} {:<6} {:<16} {:<22} {} files, {} identified, {} errors",
            job.id.0,
            job.state.as_str(),
            job.kind,
            self.location_name,
            job.phase.as_str(),
            c.files,
            c.identified,
            c.errors
        )
    }
}

/// `sd jobs`.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Jobs(pub Vec<JobRow>);

/// `sd jobs` in full: the jobs (all its JSON holds, a list of them), and
/// deliveries to and from other devices and unfinished actions (`sd log`
/// has them as data) after them in text.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct JobsAndDeliveries(
    pub Jobs,
    #[serde(skip)] pub super::deliveries::Deliveries,
    #[serde(skip)] pub super::actions::Log,
);

impl Render for JobsAndDeliveries {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        self.0.render(out)?;
        self.1.render(out)?;
        if !self.2.0.is_empty() {
            writeln!(out, "actions not finished:")?;
            self.2.render(out)?;
        }
        Ok(())
    }
}

impl Render for Jobs {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        self.0.iter().try_for_each(|job| job.render(out))
    }
}

/// `sd index`: the jobs it ran (progress was shown as it went).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Indexed(pub Vec<JobRow>);

impl Indexed {
    /// Whether any job changed the index (worth compacting the file after).
    pub fn changed_anything(&self) -> bool {
        self.0.iter().any(|j| j.job.counters.changed_anything())
    }
}

impl Render for Indexed {
    fn render(&self, _: &mut dyn Write) -> std::io::Result<()> {
        Ok(())
    }
}

/// `sd jobs pause|resume|cancel`: the job, or what a running one is doing.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum JobAction {
    Job(Box<JobRow>),
    Changing { id: JobId, state: &'static str },
}

impl Render for JobAction {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        match self {
            JobAction::Job(job) => job.render(out),
            JobAction::Changing { id, state } => writeln!(out, "{:>4} {state}", id.0),
        }
    }
}
