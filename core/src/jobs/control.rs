//! Pausing and cancelling a running job from another thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// What a job is asked to do at its next checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlSignal {
    Run,
    Pause,
    Cancel,
}

/// Shared handle through which a job's runner is told to pause or cancel.
/// The job reads it between batches, so it always stops at a checkpoint.
#[derive(Clone, Debug, Default)]
pub struct JobControl(Arc<AtomicU8>);

impl JobControl {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn signal(&self) -> ControlSignal {
        match self.0.load(Ordering::Acquire) {
            1 => ControlSignal::Pause,
            2 => ControlSignal::Cancel,
            _ => ControlSignal::Run,
        }
    }

    pub fn pause(&self) {
        let _ = self
            .0
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire);
    }

    pub fn cancel(&self) {
        self.0.store(2, Ordering::Release);
    }
}
