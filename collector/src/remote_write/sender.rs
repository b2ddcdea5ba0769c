//! The remote-write task: collects new points every interval into a bounded queue of
//! time series and sends them in batches, in order, retrying what the receiver may take
//! later.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::collect::Cursor;
use super::config::RemoteWriteSettings;
use super::proto::{TimeSeries, WriteRequest};
use crate::notify::delivery::{classify, Attempt};
use crate::state::CollectorState;

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub use crate::telemetry::RemoteWriteStats;

/// Series waiting to be sent, bounded in samples.
#[derive(Debug, Default)]
struct Queue {
    series: VecDeque<TimeSeries>,
    samples: usize,
}

impl Queue {
    /// Appends `more`, dropping the oldest series past `limit` samples; returns how many
    /// samples were dropped.
    fn push(&mut self, more: Vec<TimeSeries>, limit: usize) -> usize {
        for ts in more {
            self.samples += ts.samples.len();
            self.series.push_back(ts);
        }
        let mut dropped = 0;
        while self.samples > limit {
            let Some(old) = self.series.pop_front() else {
                break;
            };
            self.samples -= old.samples.len();
            dropped += old.samples.len();
        }
        dropped
    }

    /// Takes series from the front up to `max` samples (at least one series).
    fn take(&mut self, max: usize) -> Vec<TimeSeries> {
        let mut out = Vec::new();
        let mut n = 0;
        while let Some(front) = self.series.front() {
            if !out.is_empty() && n + front.samples.len() > max {
                break;
            }
            n += front.samples.len();
            if let Some(ts) = self.series.pop_front() {
                out.push(ts);
            }
        }
        self.samples -= n;
        out
    }

    /// Puts a batch back at the front, in order.
    fn put_back(&mut self, batch: Vec<TimeSeries>) {
        for ts in batch.into_iter().rev() {
            self.samples += ts.samples.len();
            self.series.push_front(ts);
        }
    }
}

/// `request` as protobuf in snappy's block format.
pub(crate) fn encode(request: &WriteRequest) -> Result<Vec<u8>, snap::Error> {
    snap::raw::Encoder::new().compress_vec(&request.encode_to_vec())
}

/// The running remote writer; it counts in the collector's telemetry.
#[derive(Debug)]
pub struct RemoteWriter {
    task: JoinHandle<()>,
}

struct Task {
    settings: RemoteWriteSettings,
    state: Arc<CollectorState>,
    client: reqwest::Client,
    cursor: Cursor,
    queue: Queue,
    stats: Arc<RemoteWriteStats>,
    backoff: Duration,
    /// No POST before this, after a failure.
    not_before: Option<Instant>,
}

impl RemoteWriter {
    /// Starts sending to `settings.url` until `stop`, then flushes what it can within
    /// the timeout.
    pub fn start(
        settings: RemoteWriteSettings,
        state: Arc<CollectorState>,
        stop: watch::Receiver<bool>,
    ) -> RemoteWriter {
        let stats = state.telemetry.remote_write.clone();
        stats.enabled.store(true, Ordering::Relaxed);
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .unwrap_or_default();
        let task = Task {
            settings,
            state,
            client,
            cursor: Cursor::new(),
            queue: Queue::default(),
            stats: stats.clone(),
            backoff: FIRST_BACKOFF,
            not_before: None,
        };
        RemoteWriter {
            task: tokio::spawn(task.run(stop)),
        }
    }

    /// Waits for the task to flush and end (after `stop`), at most `deadline`.
    pub async fn finish(self, deadline: Duration) {
        let abort = self.task.abort_handle();
        if tokio::time::timeout(deadline, self.task).await.is_err() {
            tracing::warn!("remote write did not flush within {deadline:?}");
            abort.abort();
        }
    }
}

impl Task {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.settings.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tick.tick() => {}
            }
            self.collect();
            self.send().await;
        }
        // One last collection, and as much of the queue as the receiver takes now.
        self.collect();
        self.not_before = None;
        self.send().await;
        let left = self.queue.samples;
        if left > 0 {
            tracing::warn!(samples = left, "remote write stopped with samples unsent");
        }
    }

    fn collect(&mut self) {
        let new = self.cursor.collect(&self.state.store());
        let dropped = self.queue.push(new, self.settings.queue_samples);
        if dropped > 0 {
            self.stats
                .samples_dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
            tracing::warn!(
                samples = dropped,
                "remote write queue full (collector.remote_write.queue_samples): dropped the oldest"
            );
        }
    }

    /// Sends batches until the queue is empty or the receiver asks to wait.
    async fn send(&mut self) {
        if self.not_before.is_some_and(|t| Instant::now() < t) {
            return;
        }
        while self.queue.samples > 0 || !self.queue.series.is_empty() {
            let request = WriteRequest {
                timeseries: self.queue.take(self.settings.batch_samples),
            };
            let samples: usize = request.timeseries.iter().map(|t| t.samples.len()).sum();
            let body = match encode(&request) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!("remote write: snappy failed, batch dropped: {e}");
                    continue;
                }
            };
            let response = self
                .client
                .post(&self.settings.url)
                .header("content-type", "application/x-protobuf")
                .header("content-encoding", "snappy")
                .header("x-prometheus-remote-write-version", "0.1.0")
                .body(body)
                .send()
                .await;
            match classify(response, &[]).await {
                Attempt::Sent => {
                    self.stats
                        .samples_sent
                        .fetch_add(samples as u64, Ordering::Relaxed);
                    self.backoff = FIRST_BACKOFF;
                    self.not_before = None;
                }
                Attempt::Retry { after, reason } => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    let wait = after.unwrap_or(self.backoff);
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    tracing::warn!(url = %self.settings.url, ?wait, "remote write will retry: {reason}");
                    self.queue.put_back(request.timeseries);
                    self.not_before = Some(Instant::now() + wait);
                    return;
                }
                Attempt::Refused { reason } => {
                    self.stats
                        .samples_refused
                        .fetch_add(samples as u64, Ordering::Relaxed);
                    tracing::warn!(url = %self.settings.url, samples, "remote write batch refused, dropped: {reason}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_write::proto::{Label, Sample};

    fn ts(n: usize) -> TimeSeries {
        TimeSeries {
            labels: vec![Label {
                name: "__name__".into(),
                value: format!("m{n}"),
            }],
            samples: (0..n)
                .map(|i| Sample {
                    value: i as f64,
                    timestamp: i as i64,
                })
                .collect(),
        }
    }

    #[test]
    fn the_queue_drops_the_oldest_past_its_bound_and_batches_in_order() {
        let mut q = Queue::default();
        assert_eq!(q.push(vec![ts(3), ts(4), ts(5)], 10), 3);
        assert_eq!(q.samples, 9);
        let batch = q.take(4);
        assert_eq!(batch.len(), 1, "4 fits, 4 + 5 does not");
        assert_eq!(batch[0].samples.len(), 4);
        q.put_back(batch);
        assert_eq!(q.samples, 9);
        assert_eq!(q.take(100).len(), 2);
        assert_eq!((q.samples, q.series.len()), (0, 0));
        // A series larger than a batch still goes, alone.
        q.push(vec![ts(7)], 10);
        assert_eq!(q.take(2)[0].samples.len(), 7);
    }
}
