//! The agent loop: sample, encode, queue; a delivery task sends the queue (see
//! `crate::delivery`). On shutdown: queue the last sample once more, drain under the
//! timeout, spool or count what is left, close the exporter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gpuwatch_model::{NodeSample, Timestamp};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::config::AgentSettings;
use super::delivery::Delivery;
use super::schedule::Schedule;
use super::status::AgentStatus;
use super::warn::WarnLimiter;
use crate::delivery::{ExportQueue, Restored};
use crate::export::OtlpExporter;
use crate::host::{HostIo, HostIoSampler};
use crate::inference::Inference;
use crate::jobs::{kubelet, PodDirectory};
use crate::sampler::Sampler;

/// How often a repeating failure is logged; the failures in between are counted.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// The node agent: samples every `interval` and exports each sample.
pub struct Agent {
    settings: AgentSettings,
    /// `None` only while a sample is being taken on a blocking thread, or after the
    /// sampler panicked.
    sampler: Option<Box<dyn Sampler>>,
    /// This machine's fabric ports and network file systems, read with each sample when
    /// the sampler reads this machine (`Sampler::reads_host`); taken like `sampler`.
    host_io: Option<HostIoSampler>,
    exporter: Arc<OtlpExporter>,
    delivery: Delivery,
    status: Arc<AgentStatus>,
    last_sample: Option<(NodeSample, Option<HostIo>)>,
    /// Where each sample is stamped.
    schedule: Schedule,
    sample_warnings: WarnLimiter,
    /// The inference servers' scrape tasks and latest results.
    inference: Inference,
    /// The task that asks kubelet which pod each GPU is assigned to, when the sampler
    /// attributes jobs and a socket is configured.
    kubelet: Option<tokio::task::JoinHandle<()>>,
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
    /// takes a sample stamped with the wall clock (on the schedule when within 5 ms of
    /// it, see `schedule`), encodes it and queues it for the
    /// delivery task, which sends the queue in order, holds it while the collector is
    /// away (up to `agent.queue_for`) and replays it when the collector is back.
    /// Sampling never waits for the collector. Failures are counted in `status` and
    /// logged (at most every 30 s).
    ///
    /// On shutdown it stops sampling, queues the last sample once more, so the
    /// collector's newest values are exactly the agent's last sample, sends what is
    /// queued within `agent.timeout`, spools the rest (or counts it as dropped without
    /// a spool) and shuts the exporter down.
    pub async fn run(
        settings: AgentSettings,
        mut sampler: Box<dyn Sampler>,
        exporter: OtlpExporter,
        mut shutdown: watch::Receiver<bool>,
        status: Arc<AgentStatus>,
    ) {
        let pods = PodDirectory::new();
        let attributes_jobs = sampler.attribute_jobs(&settings.jobs, &pods);
        let host_io = sampler
            .reads_host()
            .then(|| HostIoSampler::new(&settings.sys_root, &settings.jobs.proc_root));
        let kubelet = match &settings.jobs.kubelet_socket {
            Some(socket) if attributes_jobs => {
                Some(kubelet::spawn(socket.clone(), kubelet::REFRESH, pods))
            }
            _ => None,
        };
        let exporter = Arc::new(exporter);
        let queue = open_queue(&settings, &status);
        let (capacity, spool) = (queue.capacity(), queue.spool_dir().map(|d| d.to_owned()));
        let delivery = Delivery::start(exporter.clone(), queue, status.clone(), settings.interval);
        let inference = Inference::start(&settings.inference, settings.interval, status.clone());
        let schedule = Schedule::new(settings.interval);
        let mut agent = Agent {
            settings,
            sampler: Some(sampler),
            host_io,
            exporter,
            delivery,
            status,
            last_sample: None,
            schedule,
            sample_warnings: WarnLimiter::new(WARN_EVERY),
            inference,
            kubelet,
        };
        tracing::info!(
            sampler = %agent.sampler.as_ref().map(|s| s.describe()).unwrap_or_default(),
            collector = %agent.exporter.url(),
            interval = ?agent.settings.interval,
            queue = capacity,
            spool = %spool.as_deref().map_or("none".into(), |d| d.display().to_string()),
            fabric_and_filesystems = agent.host_io.is_some(),
            inference_targets = agent.settings.inference.len(),
            job_rules = agent.settings.jobs.rules.len(),
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
            if let Some((sample, host_io)) = self.take_sample().await {
                self.queue_export(&sample, host_io.as_ref());
                self.last_sample = Some((sample, host_io));
            }
        }
    }

    /// Encodes `sample` (with the fabric and file systems read beside it) and queues
    /// it; only the delivery task touches the network.
    fn queue_export(&mut self, sample: &NodeSample, host_io: Option<&HostIo>) {
        let body = self.exporter.encode_with(
            sample,
            host_io,
            crate::export::inference_metrics(&self.inference.snapshots()),
        );
        self.delivery.push(body);
    }

    /// Samples on a blocking thread: NVML calls block (a PCIe throughput reading alone
    /// waits about 20 ms), and must not stall the runtime's workers. The fabric ports
    /// and file systems are read there too, after the sample; they never fail it.
    async fn take_sample(&mut self) -> Option<(NodeSample, Option<HostIo>)> {
        let Some(mut sampler) = self.sampler.take() else {
            self.status
                .record_sample_error("the sampler panicked earlier; restart the agent".into());
            return None;
        };
        let now = self.schedule.stamp(Timestamp::now());
        let mut host_io = self.host_io.take();
        let taken = tokio::task::spawn_blocking(move || {
            let result = sampler.sample(now);
            let io = match host_io.as_mut() {
                Some(reader) => Some(reader.sample()),
                // The simulator's made-up fabric and file systems.
                None => sampler.take_host_io(),
            };
            (sampler, host_io, result.map(|sample| (sample, io)))
        })
        .await;
        let result = match taken {
            Ok((sampler, host_io, result)) => {
                self.sampler = Some(sampler);
                self.host_io = host_io;
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
            Ok((sample, host_io)) => {
                self.status.record_sample(&sample);
                Some((sample, host_io))
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

    async fn finish(mut self) {
        self.inference.stop();
        if let Some(task) = self.kubelet.take() {
            task.abort();
        }
        // The last values once more, at the time the agent stopped.
        if let Some((mut sample, host_io)) = self.last_sample.take() {
            sample.time_unix_nano = Timestamp::now().max(
                sample
                    .time_unix_nano
                    .saturating_add(Duration::from_nanos(1)),
            );
            self.queue_export(&sample, host_io.as_ref());
        }
        self.delivery.finish(self.settings.timeout).await;
        tracing::info!(
            samples = self.status.samples(),
            exports_ok = self.status.exports_ok(),
            exports_failed = self.status.exports_failed(),
            replayed = self.status.replayed(),
            dropped = self.status.dropped(),
            "agent stopped"
        );
    }
}

/// The queue `settings` ask for. A spool that cannot be opened is logged and the
/// agent queues in memory: monitoring goes on without it.
fn open_queue(settings: &AgentSettings, status: &AgentStatus) -> ExportQueue {
    let capacity = settings.queue_capacity();
    let Some(dir) = &settings.spool_dir else {
        return ExportQueue::memory(capacity);
    };
    match ExportQueue::spooled(capacity, dir) {
        Ok((queue, Restored { queued, dropped })) => {
            if queued > 0 {
                tracing::info!(
                    queued,
                    dir = %dir.display(),
                    "replaying exports an earlier run spooled"
                );
            }
            if dropped > 0 {
                status.record_dropped(dropped as u64);
                tracing::warn!(
                    dropped,
                    dir = %dir.display(),
                    "the spool held more than agent.queue_for; dropped the oldest"
                );
            }
            queue
        }
        Err(e) => {
            let error = format!(
                "could not open the spool directory {} (agent.spool_dir): {e}; queueing in memory only",
                dir.display()
            );
            tracing::error!("{error}");
            status.set_error(error);
            ExportQueue::memory(capacity)
        }
    }
}

/// Resolves once shutdown is asked for: the value is `true` or the sender is gone.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_after_2020() {
        assert!(Timestamp::now().0 > 1_577_836_800_000_000_000);
    }
}
