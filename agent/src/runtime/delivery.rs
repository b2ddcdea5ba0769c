//! `Delivery`: the task that sends queued exports, oldest first, apart from the
//! sampling loop, which only queues (see `crate::delivery` for the design).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::status::AgentStatus;
use super::warn::WarnLimiter;
use crate::backoff::Backoff;
use crate::delivery::{ExportQueue, Next};
use crate::export::{OtlpExporter, SendOutcome};

/// A backlog is replayed this many times faster than new exports arrive.
pub(crate) const REPLAY_SPEEDUP: u32 = 10;
/// The longest wait between two tries while the collector is away.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often a repeating delivery problem is logged; the rest are counted.
const WARN_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Run,
    /// Shutting down: send what is queued without pacing; stop at the first failure.
    Drain,
}

/// What the task does after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Send the next request now.
    Next,
    /// Wait (pace or backoff), unless shutdown begins.
    Wait(Duration),
    /// Stop: draining, and the collector is not taking requests.
    Stop,
}

type SharedQueue = Arc<Mutex<ExportQueue>>;

fn lock(queue: &SharedQueue) -> MutexGuard<'_, ExportQueue> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The sending side of the queue: push from the loop, the task sends.
#[derive(Debug)]
pub(super) struct Delivery {
    queue: SharedQueue,
    wake: Arc<Notify>,
    mode: watch::Sender<Mode>,
    task: JoinHandle<()>,
    status: Arc<AgentStatus>,
    drops: WarnLimiter,
}

impl Delivery {
    /// Starts the task sending `queue` through `exporter`. `interval` sets the pace of
    /// replays (`interval / REPLAY_SPEEDUP` apart) and the first backoff step.
    pub(super) fn start(
        exporter: Arc<OtlpExporter>,
        queue: ExportQueue,
        status: Arc<AgentStatus>,
        interval: Duration,
    ) -> Delivery {
        status.set_queued(queue.len());
        let queue = Arc::new(Mutex::new(queue));
        let wake = Arc::new(Notify::new());
        let (mode, mode_rx) = watch::channel(Mode::Run);
        let first = interval.clamp(Duration::from_millis(100), Duration::from_secs(5));
        let courier = Courier {
            exporter,
            queue: queue.clone(),
            wake: wake.clone(),
            mode: mode_rx,
            status: status.clone(),
            pace: interval / REPLAY_SPEEDUP,
            backoff: Backoff::new(first, MAX_BACKOFF),
            warnings: WarnLimiter::new(WARN_EVERY),
        };
        Delivery {
            queue,
            wake,
            mode,
            task: tokio::spawn(courier.run()),
            status,
            drops: WarnLimiter::new(WARN_EVERY),
        }
    }

    /// Queues one encoded request; never waits for the network. When the queue is
    /// full the oldest request goes, counted and logged.
    pub(super) fn push(&mut self, body: Vec<u8>) {
        let (dropped, len, capacity, spool_error) = {
            let mut queue = lock(&self.queue);
            let dropped = queue.push(body);
            (
                dropped,
                queue.len(),
                queue.capacity(),
                queue.take_spool_error(),
            )
        };
        self.status.set_queued(len);
        report_spool_error(&self.status, spool_error);
        if dropped > 0 {
            self.status.record_dropped(dropped as u64);
            if let Some(since) = self.drops.check(Instant::now()) {
                tracing::warn!(
                    capacity,
                    dropped_total = self.status.dropped(),
                    dropped_since_last_warning = since,
                    "the export queue is full: dropped the oldest export"
                );
            }
        }
        self.wake.notify_one();
    }

    /// Sends what is queued, without pacing, until the queue is empty, a send fails
    /// or `deadline` passes; then spools what is left (or counts it as dropped when
    /// there is no spool).
    pub(super) async fn finish(self, deadline: Duration) {
        let _ = self.mode.send(Mode::Drain);
        let mut task = self.task;
        if tokio::time::timeout(deadline, &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
        }
        let mut queue = lock(&self.queue);
        let lost = queue.lost_in_flight() + queue.persist();
        let left = queue.len();
        report_spool_error(&self.status, queue.take_spool_error());
        self.status.set_queued(left);
        if lost > 0 {
            self.status.record_dropped(lost as u64);
            tracing::warn!(
                lost,
                "stopping with exports the collector has not taken and no spool: they are lost"
            );
        } else if let (true, Some(dir)) = (left > 0, queue.spool_dir()) {
            tracing::info!(
                spooled = left,
                dir = %dir.display(),
                "stopping with exports for the collector in the spool; the next start sends them"
            );
        }
    }
}

fn report_spool_error(status: &AgentStatus, error: Option<String>) {
    if let Some(error) = error {
        tracing::warn!("{error}");
        status.set_error(error);
    }
}

/// The task: sends the front request, then acts on the answer.
struct Courier {
    exporter: Arc<OtlpExporter>,
    queue: SharedQueue,
    wake: Arc<Notify>,
    mode: watch::Receiver<Mode>,
    status: Arc<AgentStatus>,
    pace: Duration,
    backoff: Backoff,
    warnings: WarnLimiter,
}

impl Courier {
    async fn run(mut self) {
        loop {
            let draining = *self.mode.borrow() == Mode::Drain;
            let next = lock(&self.queue).next();
            let outgoing = match next {
                Next::Send(outgoing) => outgoing,
                Next::Empty if draining => return,
                Next::Empty => {
                    tokio::select! {
                        () = self.wake.notified() => {}
                        changed = self.mode.changed() => if changed.is_err() { return },
                    }
                    continue;
                }
                Next::Unreadable(error) => {
                    self.status.record_dropped(1);
                    self.warn(format!("{error}; it was dropped"));
                    continue;
                }
            };
            let outcome = self.exporter.send(&outgoing.body, outgoing.gzip).await;
            let wait = match self.settle(outgoing.id, outcome, draining) {
                Step::Next => continue,
                Step::Stop => return,
                Step::Wait(wait) => wait,
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                changed = self.mode.changed() => if changed.is_err() { return },
            }
        }
    }

    /// Acts on the answer to request `id`: removes it when delivered or refused,
    /// holds the queue when it is to be retried; says what to do next.
    fn settle(&mut self, id: u64, outcome: SendOutcome, draining: bool) -> Step {
        let mut queue = lock(&self.queue);
        let (step, warning) = match outcome {
            SendOutcome::Delivered => {
                let replayed = queue.finish(id) == Some(true);
                self.status.record_delivered(replayed);
                self.backoff.reset();
                if queue.release() {
                    tracing::info!(
                        queued = queue.len(),
                        "the collector takes exports again; replaying the queue in order"
                    );
                }
                let step = match queue.len() {
                    0 => Step::Next,
                    _ if draining => Step::Next,
                    _ => Step::Wait(self.pace),
                };
                (step, None)
            }
            SendOutcome::Retry { after, reason } => {
                let lost = queue.lost_in_flight();
                if lost > 0 {
                    self.status.record_dropped(lost as u64);
                }
                queue.hold();
                let error = self.exporter.send_error(reason);
                self.status.record_export_failure(error.to_string());
                let step = if draining {
                    Step::Stop
                } else {
                    Step::Wait(self.backoff.wait(after, clock_jitter()))
                };
                let held = queue.len();
                (
                    step,
                    Some(format!("{error}; holding {held} exports to replay")),
                )
            }
            SendOutcome::Refused { reason } => {
                queue.finish(id);
                let error = self.exporter.send_error(reason);
                self.status.record_rejected(error.to_string());
                (Step::Next, Some(format!("{error}; the export was dropped")))
            }
        };
        report_spool_error(&self.status, queue.take_spool_error());
        self.status.set_queued(queue.len());
        drop(queue);
        if let Some(warning) = warning {
            self.warn(warning);
        }
        step
    }

    fn warn(&mut self, message: String) {
        if let Some(since) = self.warnings.check(Instant::now()) {
            tracing::warn!(failures_since_last_warning = since, "{message}");
        }
    }
}

/// Sub-second clock nanoseconds: enough randomness to spread retries.
fn clock_jitter() -> u64 {
    gpuwatch_model::Timestamp::now().subsec_nanos()
}
