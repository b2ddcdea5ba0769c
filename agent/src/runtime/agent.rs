//! The agent loop: sample, export, record; on shutdown, export the last sample once
//! more and close the exporter.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gpuwatch_model::NodeSample;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::config::AgentSettings;
use super::status::AgentStatus;
use crate::export::{ExportError, OtlpExporter};
use crate::sampler::Sampler;

/// How often a repeating failure is logged; the failures in between are counted.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// The node agent: samples every `interval` and exports each sample.
pub struct Agent {
    settings: AgentSettings,
    /// `None` only while a sample is being taken on a blocking thread, or after the
    /// sampler panicked.
    sampler: Option<Box<dyn Sampler>>,
    exporter: OtlpExporter,
    status: Arc<AgentStatus>,
    last_sample: Option<NodeSample>,
    export_warnings: WarnLimiter,
    sample_warnings: WarnLimiter,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("settings", &self.settings)
            .field("sampler", &self.sampler.as_ref().map(|s| s.describe()))
            .field("exporter", &self.exporter)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Runs until `shutdown` turns `true` (or its sender is dropped): each interval
    /// takes a sample stamped with the wall clock, exports it and updates `status`.
    /// Failed exports are counted and logged (at most every 30 s) and the loop goes on.
    /// On shutdown it stops sampling, exports the last sample once more, so the
    /// collector's newest values are exactly the agent's last sample, and shuts the
    /// exporter down. The final export is bounded by the exporter's timeout.
    pub async fn run(
        settings: AgentSettings,
        sampler: Box<dyn Sampler>,
        exporter: OtlpExporter,
        mut shutdown: watch::Receiver<bool>,
        status: Arc<AgentStatus>,
    ) {
        let mut agent = Agent {
            settings,
            sampler: Some(sampler),
            exporter,
            status,
            last_sample: None,
            export_warnings: WarnLimiter::new(WARN_EVERY),
            sample_warnings: WarnLimiter::new(WARN_EVERY),
        };
        tracing::info!(
            sampler = %agent.sampler.as_ref().map(|s| s.describe()).unwrap_or_default(),
            collector = %agent.exporter.url(),
            interval = ?agent.settings.interval,
            "agent started"
        );
        agent.sample_and_export(&mut shutdown).await;
        agent.finish().await;
    }

    async fn sample_and_export(&mut self, shutdown: &mut watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.settings.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = stopped(shutdown) => return,
                _ = ticker.tick() => {}
            }
            let Some(sample) = self.take_sample().await else {
                continue;
            };
            let result = tokio::select! {
                biased;
                () = stopped(shutdown) => return,
                result = self.exporter.export(sample) => result,
            };
            self.record_export(result);
        }
    }

    /// Samples on a blocking thread: NVML calls block (a PCIe throughput reading alone
    /// waits about 20 ms), and must not stall the runtime's workers.
    async fn take_sample(&mut self) -> Option<NodeSample> {
        let Some(mut sampler) = self.sampler.take() else {
            self.status
                .record_sample_error("the sampler panicked earlier; restart the agent".into());
            return None;
        };
        let now = unix_nanos_now();
        let taken = tokio::task::spawn_blocking(move || {
            let result = sampler.sample(now);
            (sampler, result)
        })
        .await;
        let result = match taken {
            Ok((sampler, result)) => {
                self.sampler = Some(sampler);
                result
            }
            Err(e) => {
                tracing::error!("the sampler panicked: {e}; no more samples will be taken");
                self.status
                    .record_sample_error(format!("the sampler panicked: {e}"));
                return None;
            }
        };
        match result {
            Ok(sample) => {
                self.status.record_sample(&sample);
                self.last_sample = Some(sample.clone());
                Some(sample)
            }
            Err(error) => {
                let message = format!("sampling failed: {error}");
                if let Some(since) = self.sample_warnings.check(Instant::now()) {
                    tracing::warn!(failures_since_last_warning = since, "{message}");
                }
                self.status.record_sample_error(message);
                None
            }
        }
    }

    fn record_export(&mut self, result: Result<(), ExportError>) {
        if let Err(error) = &result {
            if let Some(since) = self.export_warnings.check(Instant::now()) {
                tracing::warn!(failures_since_last_warning = since, "{error}");
            }
        }
        self.status.record_export(result.map_err(|e| e.to_string()));
    }

    async fn finish(mut self) {
        if let Some(sample) = self.last_sample.take() {
            let result = self.exporter.export(sample).await;
            self.record_export(result);
        }
        self.exporter.shutdown();
        tracing::info!(
            samples = self.status.samples(),
            exports_ok = self.status.exports_ok(),
            exports_failed = self.status.exports_failed(),
            "agent stopped"
        );
    }
}

/// Resolves once shutdown is asked for: the value is `true` or the sender is gone.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn unix_nanos_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Lets a repeating warning through at most once per `every`, counting the rest.
#[derive(Debug)]
struct WarnLimiter {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl WarnLimiter {
    fn new(every: Duration) -> WarnLimiter {
        WarnLimiter {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when this occurrence should be logged, `n` being the occurrences
    /// swallowed since the last one logged; `None` when it should stay quiet.
    fn check(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_limited_and_counted() {
        let start = Instant::now();
        let mut limiter = WarnLimiter::new(Duration::from_secs(30));
        assert_eq!(limiter.check(start), Some(0));
        assert_eq!(limiter.check(start + Duration::from_secs(1)), None);
        assert_eq!(limiter.check(start + Duration::from_secs(29)), None);
        assert_eq!(limiter.check(start + Duration::from_secs(30)), Some(2));
        assert_eq!(limiter.check(start + Duration::from_secs(31)), None);
        assert_eq!(limiter.check(start + Duration::from_secs(61)), Some(1));
    }

    #[test]
    fn now_is_after_2020() {
        assert!(unix_nanos_now() > 1_577_836_800_000_000_000);
    }
}
