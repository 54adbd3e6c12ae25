//! The indexer: discovery → processing → aggregation → content identification
//! → finalizing, run as a durable job (see [`job`]), plus live refreshes of
//! single directories for the watcher (see [`live`]).

pub mod gitignore;
mod identify;
pub mod job;
pub mod live;
pub mod rules;
pub mod tables;
pub mod walk;

pub use job::{index_to_end, prepare_job, run_job};
