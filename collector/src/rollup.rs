//! Minute rollups for history: every minute of event time that the evaluator has
//! finished, each series' min, mean, max and last (histograms: the increase of each
//! bucket) and each GPU's spend from the cost ledger, handed to a `RollupSink` on a
//! writer thread of its own so a slow disk never holds the store's lock.
//!
//! The minute `(m, m + 1m]` is rolled up once the ledger has accrued the step that
//! ends at `m + 1m`; a restart goes on after the newest minute the sink holds.

pub mod config;

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use gpuwatch_model::history::{GpuMinuteCost, MinuteRollup, RollupSink, SeriesMinute, MINUTE_NS};
use gpuwatch_model::names::attr;

pub use config::{HistoryConfig, HistorySettings};

use crate::cost::Ledger;
use gpuwatch_model::SeriesKey;

use crate::store::{HistogramPoint, Series, SeriesData, Store};

/// The minute `(m, m + 1m]` that holds the instant `t`.
fn minute_of(t: i64) -> i64 {
    (t - 1).div_euclid(MINUTE_NS) * MINUTE_NS
}

/// Which minute comes next.
#[derive(Debug, Default)]
pub struct Rollup {
    /// Start of the next minute to roll up; `None` until the first data.
    next: Option<i64>,
}

impl Rollup {
    /// Goes on after `resume_after`, the newest minute already stored.
    pub fn new(resume_after: Option<i64>) -> Self {
        Rollup {
            next: resume_after.map(|m| m + MINUTE_NS),
        }
    }

    /// Every minute the ledger has finished since the last call, as read under the
    /// store's lock (`PendingMinute::finish` completes each outside it).
    pub fn catch_up(&mut self, ledger: &Ledger, store: &Store) -> Vec<PendingMinute> {
        let Some(done) = ledger.last_step() else {
            return Vec::new();
        };
        let Some(first) = ledger.accruals(i64::MIN, i64::MAX).next().map(|(t, ..)| t) else {
            return Vec::new();
        };
        // Minutes the ledger no longer keeps cannot be rolled up; start at what it has.
        let mut m = self.next.unwrap_or(i64::MIN).max(minute_of(first));
        let mut out = Vec::new();
        while m + MINUTE_NS <= done {
            let rollup = pending_minute(ledger, store, m);
            if !rollup.cost.is_empty() || !rollup.series.is_empty() {
                out.push(rollup);
            }
            m += MINUTE_NS;
        }
        self.next = Some(m);
        out
    }
}

/// A minute's rollup as read under the store's lock: each row's numbers with its
/// series' key (two shared pointers). The rows' strings are written by `finish`, so the
/// lock is not held while a few hundred thousand of them are formatted.
#[derive(Debug)]
pub struct PendingMinute {
    minute: i64,
    series: Vec<(SeriesKey, SeriesMinute)>,
    cost: Vec<GpuMinuteCost>,
}

impl PendingMinute {
    pub fn minute(&self) -> i64 {
        self.minute
    }

    /// The rollup, every row labelled.
    pub fn finish(self) -> MinuteRollup {
        MinuteRollup {
            minute: self.minute,
            series: self
                .series
                .into_iter()
                .map(|(key, row)| labelled(&key, row))
                .collect(),
            cost: self.cost,
        }
    }
}

/// The rollup of the minute `(m, m + 1m]`.
pub fn minute(ledger: &Ledger, store: &Store, m: i64) -> MinuteRollup {
    pending_minute(ledger, store, m).finish()
}

/// `minute`, its rows not yet labelled.
pub fn pending_minute(ledger: &Ledger, store: &Store, m: i64) -> PendingMinute {
    let (from, to) = (m, m + MINUTE_NS);
    let mut cost: Vec<GpuMinuteCost> = Vec::new();
    let mut rows: BTreeMap<(&str, &str, Option<&str>), usize> = BTreeMap::new();
    for (_, owner, spend) in ledger.accruals(from, to) {
        let key = (
            owner.node.as_str(),
            owner.gpu.as_str(),
            owner.job.as_deref(),
        );
        let row = match rows.get(&key) {
            Some(&i) => &mut cost[i],
            None => {
                rows.insert(key, cost.len());
                cost.push(GpuMinuteCost {
                    minute: m,
                    node: owner.node.clone(),
                    gpu: owner.gpu.clone(),
                    gpu_name: owner.name.clone(),
                    gpu_model: owner.model.clone(),
                    job: owner.job.clone(),
                    team: owner.team.clone(),
                    ..GpuMinuteCost::default()
                });
                let last = cost.len() - 1;
                &mut cost[last]
            }
        };
        row.seconds += spend.seconds;
        row.idle_seconds += spend.idle_seconds;
        row.usd += spend.usd;
        row.idle_usd += spend.idle_usd;
    }
    let series = store
        .series()
        .iter()
        .filter_map(|s| Some((s.key.clone(), series_minute(s, m)?)))
        .collect();
    PendingMinute {
        minute: m,
        series,
        cost,
    }
}

/// `row` with the strings of its series' `key`.
fn labelled(key: &SeriesKey, row: SeriesMinute) -> SeriesMinute {
    let get = |k: &str| key.get(k).map(str::to_string);
    let labels = key
        .pairs()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    SeriesMinute {
        metric: key.metric.to_string(),
        node: get(attr::HOST_NAME),
        gpu: get(attr::HW_ID),
        job: get(attr::JOB_ID),
        team: get(attr::TEAM),
        model: key.model().map(str::to_string),
        task: get(attr::GPU_TASK),
        labels,
        ..row
    }
}

/// A row of the minute `m`, its strings left for `labelled`.
fn unlabelled(m: i64) -> SeriesMinute {
    SeriesMinute {
        minute: m,
        ..SeriesMinute::default()
    }
}

/// One series over `(m, m + 1m]`; `None` without points there.
fn series_minute(s: &Series, m: i64) -> Option<SeriesMinute> {
    let (from, to) = (m + 1, m + MINUTE_NS);
    match &s.data {
        SeriesData::Scalar(ring) => {
            let mut points = ring.window(from, to).peekable();
            points.peek()?;
            let mut row = unlabelled(m);
            let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
            for (_, v) in points {
                row.count += 1;
                row.zeros += u64::from(v == 0.0);
                min = min.min(v);
                max = max.max(v);
                sum += v;
                row.last = v;
            }
            (row.min, row.max, row.mean) = (min, max, sum / row.count as f64);
            Some(row)
        }
        SeriesData::Histogram(ring) => {
            let (_, last) = ring.window(from, to).last()?;
            let mut row = unlabelled(m);
            // Without an earlier point the series started in this minute: from zero.
            let (count, sum, buckets) = match ring.last_at(from - 1) {
                Some((_, before)) => increase(&before, &last),
                None => counts(&last),
            };
            row.count = count;
            row.mean = if count > 0 {
                sum / count as f64
            } else {
                f64::NAN
            };
            (row.min, row.max, row.last) = (f64::NAN, f64::NAN, f64::NAN);
            row.bounds = last.bounds.to_vec();
            row.buckets = buckets;
            Some(row)
        }
    }
}

fn counts(h: &HistogramPoint) -> (u64, f64, Vec<f64>) {
    (h.count, h.sum, h.counts.iter().map(|&c| c as f64).collect())
}

/// What a cumulative histogram gained from `before` to `after`; a reset or a changed
/// layout counts `after` whole.
fn increase(before: &HistogramPoint, after: &HistogramPoint) -> (u64, f64, Vec<f64>) {
    let same = before.bounds == after.bounds && before.counts.len() == after.counts.len();
    if !same || after.count < before.count {
        return counts(after);
    }
    let buckets = after
        .counts
        .iter()
        .zip(&before.counts)
        .map(|(a, b)| a.saturating_sub(*b) as f64)
        .collect();
    (after.count - before.count, after.sum - before.sum, buckets)
}

/// The sink on a thread of its own, fed in minute order.
#[derive(Debug)]
pub struct HistoryWriter {
    tx: Option<mpsc::Sender<MinuteRollup>>,
    thread: Option<JoinHandle<()>>,
}

impl HistoryWriter {
    /// Starts the writer thread; returns it with the newest minute the sink holds.
    pub fn start(mut sink: Box<dyn RollupSink>) -> (HistoryWriter, Option<i64>) {
        let resume = sink.resume_after();
        let (tx, rx) = mpsc::channel::<MinuteRollup>();
        let thread = std::thread::Builder::new()
            .name("gpuwatch-history".into())
            .spawn(move || {
                for rollup in rx {
                    if let Err(e) = sink.write(&rollup) {
                        tracing::error!("history: cannot store minute {}: {e}", rollup.minute);
                    }
                }
                if let Err(e) = sink.close() {
                    tracing::error!("history: cannot close: {e}");
                }
            })
            .map_err(|e| tracing::error!("history: cannot start the writer thread: {e}"))
            .ok();
        let tx = thread.as_ref().map(|_| tx);
        (HistoryWriter { tx, thread }, resume)
    }

    /// Where to send rollups; `None` when the thread could not start.
    pub fn sender(&self) -> Option<mpsc::Sender<MinuteRollup>> {
        self.tx.clone()
    }

    /// Lets the thread write what it was sent and close the sink, for up to `deadline`.
    pub async fn shutdown(mut self, deadline: Duration) {
        self.tx = None;
        let Some(thread) = self.thread.take() else {
            return;
        };
        let join = tokio::task::spawn_blocking(move || thread.join());
        if tokio::time::timeout(deadline, join).await.is_err() {
            tracing::warn!("history: the writer did not finish within {deadline:?}");
        }
    }
}

#[cfg(test)]
mod tests;
