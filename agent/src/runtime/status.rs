//! What the running agent reports about itself, shared with the binary (status screen,
//! `up`) through an `Arc`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use gpuwatch_model::NodeSample;

use crate::inference::{ScrapeReport, ServerKind, TargetStatus};

/// Counters and the latest sample and error; updated by `Agent`, read by anyone.
#[derive(Debug, Default)]
pub struct AgentStatus {
    samples: AtomicU64,
    sample_errors: AtomicU64,
    exports_ok: AtomicU64,
    exports_failed: AtomicU64,
    queued: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
    replayed: AtomicU64,
    last_sample: Mutex<Option<NodeSample>>,
    last_error: Mutex<Option<String>>,
    inference: Mutex<Vec<TargetStatus>>,
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

    /// Export attempts that failed: each failed try of a request the agent keeps for
    /// retry, and each request the collector refused.
    pub fn exports_failed(&self) -> u64 {
        self.exports_failed.load(Ordering::Relaxed)
    }

    /// Exports waiting for the collector now.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Exports given up on: pushed out of the full queue (the oldest first), refused by
    /// the collector (also counted in `rejected`), unreadable in the spool, or left in
    /// memory at shutdown without a spool.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Exports the collector refused outright (e.g. HTTP 400), dropped unretried.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Exports delivered after waiting out a failure, or left by an earlier run.
    pub fn replayed(&self) -> u64 {
        self.replayed.load(Ordering::Relaxed)
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

    /// Each `[[agent.inference]]` target: up or down, why, and how many scrapes.
    pub fn inference_targets(&self) -> Vec<TargetStatus> {
        self.inference
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn init_inference_targets(&self, targets: Vec<TargetStatus>) {
        *self
            .inference
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = targets;
    }

    /// The end of one scrape of target `index`: the series it gave, or why it failed.
    pub(crate) fn record_inference_scrape(
        &self,
        index: usize,
        kind: Option<ServerKind>,
        result: Result<usize, String>,
    ) {
        let mut targets = self
            .inference
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(target) = targets.get_mut(index) else {
            return;
        };
        if kind.is_some() {
            target.kind = kind;
        }
        match result {
            Ok(series) => {
                target.up = Some(true);
                target.last_error = None;
                target.scrapes_ok += 1;
                target.series = series;
            }
            Err(error) => {
                target.up = Some(false);
                target.last_error = Some(error);
                target.scrapes_failed += 1;
                target.series = 0;
            }
        }
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

    /// An export reached the collector; `replayed` when it had been held.
    pub(crate) fn record_delivered(&self, replayed: bool) {
        self.exports_ok.fetch_add(1, Ordering::Relaxed);
        if replayed {
            self.replayed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An export could not be made or sent; it is kept for retry if it exists.
    pub(crate) fn record_export_failure(&self, error: String) {
        self.exports_failed.fetch_add(1, Ordering::Relaxed);
        self.set_error(error);
    }

    /// The collector refused an export; it is dropped.
    pub(crate) fn record_rejected(&self, error: String) {
        self.exports_failed.fetch_add(1, Ordering::Relaxed);
        self.rejected.fetch_add(1, Ordering::Relaxed);
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.set_error(error);
    }

    /// `n` exports were given up on for another reason than a refusal.
    pub(crate) fn record_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set_queued(&self, n: usize) {
        self.queued
            .store(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn set_error(&self, error: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error);
    }
}

impl ScrapeReport for AgentStatus {
    fn targets(&self, targets: Vec<TargetStatus>) {
        self.init_inference_targets(targets);
    }

    fn scraped(&self, index: usize, kind: Option<ServerKind>, result: Result<usize, String>) {
        self.record_inference_scrape(index, kind, result);
    }

    fn went_down(&self, error: String) {
        self.set_error(error);
    }
}
