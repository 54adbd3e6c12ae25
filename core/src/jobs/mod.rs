//! Durable jobs: persisted in the library, checkpointed after every batch,
//! resumable after a crash, pausable and cancellable.

mod control;
mod store;

use serde::{Deserialize, Serialize};

pub use control::{ControlSignal, JobControl};
pub use store::{active_job_for, get_job, list_jobs, put_job, update_state};

use crate::ids::{JobId, LocationId};

/// Lifecycle of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Paused,
    Cancelled,
    Completed,
    Failed,
}

impl JobState {
    /// Whether the job can still make progress.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            JobState::Queued | JobState::Running | JobState::Paused
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Paused => "paused",
            JobState::Cancelled => "cancelled",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
        }
    }
}

/// Phases of the index job, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Discovery,
    Aggregation,
    ContentIdentification,
    Finalizing,
    Done,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Discovery => "discovery+processing",
            Phase::Aggregation => "aggregation",
            Phase::ContentIdentification => "content identification",
            Phase::Finalizing => "finalizing",
            Phase::Done => "done",
        }
    }
}

/// What the index job has counted so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexCounters {
    pub dirs: u64,
    pub files: u64,
    pub bytes: u64,
    pub created: u64,
    pub updated: u64,
    pub moved: u64,
    pub removed: u64,
    pub identified: u64,
    pub identified_bytes: u64,
    pub to_identify: u64,
    pub errors: u64,
}

impl IndexCounters {
    /// Whether the run changed the index at all.
    pub fn changed_anything(&self) -> bool {
        self.created + self.updated + self.moved + self.removed + self.identified > 0
    }
}

/// A job as stored in the library.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: JobId,
    pub kind: String,
    pub location: LocationId,
    pub state: JobState,
    pub phase: Phase,
    /// A stale scan re-reads only directories whose mtime changed.
    pub stale_scan: bool,
    pub counters: IndexCounters,
    /// Unix nanoseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    /// Nanoseconds spent running, across resumptions.
    pub elapsed_nanos: u64,
    pub error: Option<String>,
    /// Seconds spent in each finished phase, in order.
    #[serde(default)]
    pub phase_secs: Vec<(Phase, f64)>,
    /// Up to a few recent warnings (unreadable directories, ...).
    pub warnings: Vec<String>,
}

/// Progress of a running job, as shown to users.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Progress {
    pub job: JobId,
    pub phase: Phase,
    pub counters: IndexCounters,
    /// Items per second in the current phase.
    pub rate: f64,
    /// Seconds left in the current phase, when it can be known.
    pub eta_secs: Option<f64>,
}

/// Events a running job reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum JobEvent {
    Started {
        job: JobId,
        location: String,
        resumed: bool,
    },
    Progress(Progress),
    Warning {
        job: JobId,
        message: String,
    },
    Finished {
        job: JobId,
        state: JobState,
        counters: IndexCounters,
        elapsed_secs: f64,
    },
}
