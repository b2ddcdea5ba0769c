//! What the running agent reports about itself, shared with the binary (status screen,
//! `up`) through an `Arc`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use gpuwatch_model::NodeSample;

/// Counters and the latest sample and error; updated by `Agent`, read by anyone.
#[derive(Debug, Default)]
pub struct AgentStatus {
    samples: AtomicU64,
    sample_errors: AtomicU64,
    exports_ok: AtomicU64,
    exports_failed: AtomicU64,
    last_sample: Mutex<Option<NodeSample>>,
    last_error: Mutex<Option<String>>,
}

impl AgentStatus {
    pub fn new() -> AgentStatus {
        AgentStatus::default()
    }

    /// Samples taken.
    pub fn samples(&self) -> u64 {
        self.samples.load(Ordering::Relaxed)
    }

    /// Samples that failed.
    pub fn sample_errors(&self) -> u64 {
        self.sample_errors.load(Ordering::Relaxed)
    }

    /// Exports the collector accepted.
    pub fn exports_ok(&self) -> u64 {
        self.exports_ok.load(Ordering::Relaxed)
    }

    /// Exports that failed.
    pub fn exports_failed(&self) -> u64 {
        self.exports_failed.load(Ordering::Relaxed)
    }

    /// The latest sample taken.
    pub fn last_sample(&self) -> Option<NodeSample> {
        self.last_sample
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The latest sampling or export error (kept after later successes).
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn record_sample(&self, sample: &NodeSample) {
        self.samples.fetch_add(1, Ordering::Relaxed);
        *self
            .last_sample
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(sample.clone());
    }

    pub(crate) fn record_sample_error(&self, error: String) {
        self.sample_errors.fetch_add(1, Ordering::Relaxed);
        self.set_error(error);
    }

    pub(crate) fn record_export(&self, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.exports_ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                self.exports_failed.fetch_add(1, Ordering::Relaxed);
                self.set_error(error);
            }
        }
    }

    fn set_error(&self, error: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error);
    }
}
