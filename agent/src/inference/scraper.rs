//! Scraping the targets: one task per target fetches `/metrics` every interval
//! (reqwest, the target's timeout), parses and maps the page, and keeps the result for
//! the next export. A target that fails (unreachable, timeout, HTTP error, a page that
//! is not Prometheus text or has none of the server's metrics) waits out a backoff
//! (the interval doubling to 60 s, ±20% jitter), its data is left out of exports, and
//! the failure is logged once when the target goes from up to down (and once when it
//! is back), not at every try. Other targets go on.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gpuwatch_model::Timestamp;
use tokio::task::JoinHandle;

use super::map::{self, MeanLatency, ScrapedHistogram, ServerKind, TritonState};
use super::parse;
use crate::backoff::Backoff;

/// The longest wait between two tries at a failing target.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The largest page read; more is an error (a wrong URL serving a large file).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One `[[agent.inference]]` table, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferenceTarget {
    /// The `/metrics` URL.
    pub url: String,
    /// The server; `None`: detect it from the metric names (`kind = "auto"`).
    pub kind: Option<ServerKind>,
    /// How long one scrape may take.
    pub timeout: Duration,
    /// Replaces the model label of every series (TGI has none).
    pub model: Option<String>,
}

/// How a target is doing, for `AgentStatus::inference_targets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStatus {
    pub url: String,
    /// The configured kind, or the detected one once a scrape succeeded.
    pub kind: Option<ServerKind>,
    /// `None` before the first scrape ends.
    pub up: Option<bool>,
    /// Why the latest scrape failed (kept while the target is down).
    pub last_error: Option<String>,
    pub scrapes_ok: u64,
    pub scrapes_failed: u64,
    /// Latency series (model × metric) the latest good scrape gave.
    pub series: usize,
}

/// Where the scrape tasks report how their targets do (the agent's status, which
/// `gpuwatch agent status` and the logs show).
pub(crate) trait ScrapeReport: Send + Sync {
    /// Every target, before the first scrape.
    fn targets(&self, targets: Vec<TargetStatus>);
    /// The end of one scrape of target `index`: the series it gave, or why it failed.
    fn scraped(&self, index: usize, kind: Option<ServerKind>, result: Result<usize, String>);
    /// A target went down: the agent's latest error.
    fn went_down(&self, error: String);
}

/// One good scrape, mapped.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    /// With the start time of each (cumulative) histogram.
    pub histograms: Vec<(ScrapedHistogram, Timestamp)>,
    pub means: Vec<MeanLatency>,
    /// When the page was read.
    pub time: Timestamp,
}

/// What one target's scrapes remember: the detected kind, Triton's totals, the start
/// time of each histogram.
#[derive(Debug)]
pub(crate) struct TargetState {
    target: InferenceTarget,
    detected: Option<ServerKind>,
    triton: TritonState,
    /// (metric, model) → (start time, last count): a count that goes down (the server
    /// restarted) starts the series again.
    starts: Vec<SeriesStart>,
}

/// A histogram series (metric, model) and its (start time, last count).
type SeriesStart = ((&'static str, String), (Timestamp, u64));

impl TargetState {
    pub(crate) fn new(target: InferenceTarget) -> TargetState {
        TargetState {
            detected: target.kind,
            target,
            triton: TritonState::default(),
            starts: Vec::new(),
        }
    }

    pub(crate) fn kind(&self) -> Option<ServerKind> {
        self.detected
    }

    /// Parses and maps one page read at `now`.
    pub(crate) fn ingest(&mut self, body: &str, now: Timestamp) -> Result<Snapshot, String> {
        let page = parse::parse(body).map_err(|e| format!("not Prometheus text: {e}"))?;
        let kind = match self.target.kind {
            Some(kind) => kind,
            None => ServerKind::detect(&page).ok_or_else(|| {
                format!(
                    "no vLLM, SGLang, Triton or TGI metrics among {} families (kind = \"auto\")",
                    page.families.len()
                )
            })?,
        };
        self.detected = Some(kind);
        let model = self.target.model.as_deref();
        let (histograms, means) = if kind == ServerKind::Triton {
            let totals = map::triton_totals(&page, model);
            if totals.is_empty() {
                return Err("no nv_inference_* counters (kind = \"triton\")".into());
            }
            self.triton.update(totals)
        } else {
            (map::histograms(kind, &page, model), Vec::new())
        };
        if histograms.is_empty() {
            return Err(format!("no {kind} latency histograms on the page"));
        }
        let histograms = histograms
            .into_iter()
            .map(|h| {
                let start = self.start_of(&h, now);
                (h, start)
            })
            .collect();
        Ok(Snapshot {
            histograms,
            means,
            time: now,
        })
    }

    fn start_of(&mut self, h: &ScrapedHistogram, now: Timestamp) -> Timestamp {
        match self
            .starts
            .iter_mut()
            .find(|((m, model), _)| *m == h.metric && *model == h.model)
        {
            Some((_, (start, last))) => {
                if h.count < *last {
                    *start = now;
                }
                *last = h.count;
                *start
            }
            None => {
                self.starts
                    .push(((h.metric, h.model.clone()), (now, h.count)));
                now
            }
        }
    }
}

/// The latest snapshot of each target, shared by the scrape tasks and the exporter.
#[derive(Debug, Default)]
pub(crate) struct Inference {
    snapshots: Arc<Mutex<Vec<Option<Snapshot>>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Inference {
    /// Starts one scrape task per target (on the current tokio runtime); none without
    /// targets.
    pub(crate) fn start(
        targets: &[InferenceTarget],
        interval: Duration,
        status: Arc<dyn ScrapeReport>,
    ) -> Inference {
        let snapshots = Arc::new(Mutex::new(vec![None; targets.len()]));
        status.targets(
            targets
                .iter()
                .map(|t| TargetStatus {
                    url: t.url.clone(),
                    kind: t.kind,
                    up: None,
                    last_error: None,
                    scrapes_ok: 0,
                    scrapes_failed: 0,
                    series: 0,
                })
                .collect(),
        );
        let client = reqwest::Client::new();
        let tasks = targets
            .iter()
            .enumerate()
            .map(|(index, target)| {
                tokio::spawn(scrape_loop(
                    index,
                    target.clone(),
                    interval,
                    client.clone(),
                    snapshots.clone(),
                    status.clone(),
                ))
            })
            .collect();
        Inference { snapshots, tasks }
    }

    /// Every target's latest good scrape (`export::inference_metrics` makes them
    /// OTLP).
    pub(crate) fn snapshots(&self) -> Vec<Snapshot> {
        let snapshots = self
            .snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        snapshots.iter().flatten().cloned().collect()
    }

    /// Stops the scrape tasks.
    pub(crate) fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Inference {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn scrape_loop(
    index: usize,
    target: InferenceTarget,
    interval: Duration,
    client: reqwest::Client,
    snapshots: Arc<Mutex<Vec<Option<Snapshot>>>>,
    status: Arc<dyn ScrapeReport>,
) {
    let mut state = TargetState::new(target.clone());
    let mut backoff = Backoff::new(interval, MAX_BACKOFF.max(interval));
    let mut was_up: Option<bool> = None;
    loop {
        let started = Instant::now();
        let result = match fetch(&client, &target).await {
            Ok(body) => state.ingest(&body, Timestamp::now()),
            Err(e) => Err(e),
        };
        let store = |snapshot: Option<Snapshot>| {
            let mut all = snapshots.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(slot) = all.get_mut(index) {
                *slot = snapshot;
            }
        };
        let wait = match result {
            Ok(snapshot) => {
                let series = snapshot.histograms.len();
                store(Some(snapshot));
                backoff.reset();
                let kind = state.kind().map_or("?", ServerKind::as_str);
                match was_up {
                    Some(true) => {}
                    Some(false) => {
                        tracing::info!(target = %target.url, kind, series, "inference target is back")
                    }
                    None => {
                        tracing::info!(target = %target.url, kind, series, "scraping inference target")
                    }
                }
                was_up = Some(true);
                status.scraped(index, state.kind(), Ok(series));
                interval.saturating_sub(started.elapsed())
            }
            Err(error) => {
                store(None);
                let wait = backoff.wait(None, jitter());
                if was_up != Some(false) {
                    tracing::warn!(
                        target = %target.url,
                        "inference target failed: {error}; retrying with backoff (up to {}s), logged again when it is back",
                        MAX_BACKOFF.as_secs()
                    );
                    status.went_down(format!("inference target {}: {error}", target.url));
                }
                was_up = Some(false);
                status.scraped(index, state.kind(), Err(error));
                wait
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// GETs the page within the target's timeout.
async fn fetch(client: &reqwest::Client, target: &InferenceTarget) -> Result<String, String> {
    let response = client
        .get(&target.url)
        .timeout(target.timeout)
        .send()
        .await
        .map_err(|e| describe(&e, target.timeout))?;
    let code = response.status();
    if !code.is_success() {
        return Err(format!("HTTP {code}"));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| describe(&e, target.timeout))?;
    if body.len() > MAX_BODY {
        return Err(format!("page of {} bytes is too large", body.len()));
    }
    String::from_utf8(body.to_vec()).map_err(|_| "the page is not UTF-8 text".to_string())
}

fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        format!("no answer within {}ms (timeout)", timeout.as_millis())
    } else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }
}

fn jitter() -> u64 {
    gpuwatch_model::Timestamp::now().subsec_nanos()
}
