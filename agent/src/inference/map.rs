//! From a parsed `/metrics` page to CONTRACT.md's latency histograms, per server.
//!
//! | server | family (prefix) | contract metric |
//! |---|---|---|
//! | vLLM (`vllm:`, Ray Serve `ray_vllm:`), SGLang (`sglang:`) | `e2e_request_latency_seconds` | `gen_ai.server.request.duration` |
//! | | `time_to_first_token_seconds` | `gen_ai.server.time_to_first_token` |
//! | | `request_time_per_output_token_seconds`, else `time_per_output_token_seconds`, else `inter_token_latency_seconds` | `gen_ai.server.time_per_output_token` |
//! | TGI (`tgi_`) | `tgi_request_duration` | `gen_ai.server.request.duration` |
//! | | `tgi_request_mean_time_per_token_duration` | `gen_ai.server.time_per_output_token` |
//! | Triton (`nv_inference_`) | `nv_inference_request_duration_us` / `nv_inference_request_success` | `gpuwatch.inference.duration` (see `triton`) |
//!
//! The model is the `model_name` label (vLLM, SGLang), `model` (Triton), or the
//! target's configured `model`, which wins over the label when set (TGI has no model
//! label). Series of one model that differ in other labels (Ray's `WorkerId`, several
//! replicas behind one endpoint) are summed when their bounds agree; a series with
//! other bounds is left out. For time per output token, each model takes the first
//! family of the list that it has, so that no request is counted twice.

use gpuwatch_model::names::{attr, metric};

use super::parse::{Exposition, HistogramSeries};

/// The servers the agent knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerKind {
    Vllm,
    Sglang,
    Triton,
    Tgi,
}

impl ServerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerKind::Vllm => "vllm",
            ServerKind::Sglang => "sglang",
            ServerKind::Triton => "triton",
            ServerKind::Tgi => "tgi",
        }
    }

    /// Which server printed `page`, from its metric names; `None` when none of ours.
    pub fn detect(page: &Exposition) -> Option<ServerKind> {
        let has = |prefix: &str| page.families.iter().any(|f| f.name.starts_with(prefix));
        [
            ("vllm:", ServerKind::Vllm),
            ("ray_vllm:", ServerKind::Vllm),
            ("sglang:", ServerKind::Sglang),
            ("nv_inference_", ServerKind::Triton),
            ("tgi_", ServerKind::Tgi),
        ]
        .into_iter()
        .find(|(prefix, _)| has(prefix))
        .map(|(_, kind)| kind)
    }

    fn prefixes(self) -> &'static [&'static str] {
        match self {
            ServerKind::Vllm => &["vllm:", "ray_vllm:"],
            ServerKind::Sglang => &["sglang:"],
            ServerKind::Tgi => &["tgi_"],
            ServerKind::Triton => &["nv_"],
        }
    }

    fn model_label(self) -> Option<&'static str> {
        match self {
            ServerKind::Vllm | ServerKind::Sglang => Some("model_name"),
            ServerKind::Triton => Some("model"),
            ServerKind::Tgi => None,
        }
    }

    /// (contract metric, family names without prefix, in order of preference).
    fn histogram_table(self) -> &'static [(&'static str, &'static [&'static str])] {
        const LLM: &[(&str, &[&str])] = &[
            (
                metric::GENAI_REQUEST_DURATION,
                &["e2e_request_latency_seconds"],
            ),
            (
                metric::GENAI_TIME_TO_FIRST_TOKEN,
                &["time_to_first_token_seconds"],
            ),
            (
                metric::GENAI_TIME_PER_OUTPUT_TOKEN,
                &[
                    "request_time_per_output_token_seconds",
                    "time_per_output_token_seconds",
                    "inter_token_latency_seconds",
                ],
            ),
        ];
        const TGI: &[(&str, &[&str])] = &[
            (metric::GENAI_REQUEST_DURATION, &["request_duration"]),
            (
                metric::GENAI_TIME_PER_OUTPUT_TOKEN,
                &["request_mean_time_per_token_duration"],
            ),
        ];
        match self {
            ServerKind::Vllm | ServerKind::Sglang => LLM,
            ServerKind::Tgi => TGI,
            ServerKind::Triton => &[],
        }
    }
}

impl std::fmt::Display for ServerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One model's histogram, as OTLP wants it: explicit bounds and per-bucket counts
/// (`bucket_counts.len() == bounds.len() + 1`, the last for `+Inf`), cumulative since
/// the server started.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapedHistogram {
    /// The contract metric name.
    pub metric: &'static str,
    /// The attribute that carries the model: `gen_ai.request.model` or `gpuwatch.model`.
    pub model_key: &'static str,
    pub model: String,
    pub bounds: Vec<f64>,
    pub bucket_counts: Vec<u64>,
    pub count: u64,
    pub sum: f64,
}

/// A count from the page (a float) as an integer; negative or NaN is 0.
pub(crate) fn to_count(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        // Saturates at u64::MAX; counts are integral in practice.
        value.round() as u64
    } else {
        0
    }
}

/// A Prometheus series (cumulative `le` counts) as bounds and per-bucket counts. A
/// bucket lower than the one before it (not monotone) is clamped.
fn from_series(series: &HistogramSeries) -> (Vec<f64>, Vec<u64>, u64, f64) {
    let bounds: Vec<f64> = series.buckets.iter().map(|&(le, _)| le).collect();
    let mut per_bucket = Vec::with_capacity(bounds.len() + 1);
    let mut below = 0u64;
    for &(_, cumulative) in &series.buckets {
        let c = to_count(cumulative).max(below);
        per_bucket.push(c - below);
        below = c;
    }
    let total = to_count(series.total().unwrap_or(0.0)).max(below);
    per_bucket.push(total - below);
    (bounds, per_bucket, total, series.sum.unwrap_or(0.0))
}

/// The latency histograms on `page` of a `kind` server, one per contract metric and
/// model. `model` (the target's configured name) replaces the model label.
pub fn histograms(
    kind: ServerKind,
    page: &Exposition,
    model: Option<&str>,
) -> Vec<ScrapedHistogram> {
    let mut out: Vec<ScrapedHistogram> = Vec::new();
    for &(contract, names) in kind.histogram_table() {
        let mut decided: Vec<String> = Vec::new();
        for name in names {
            let mut found: Vec<String> = Vec::new();
            for prefix in kind.prefixes() {
                let Some(family) = page.family(&format!("{prefix}{name}")) else {
                    continue;
                };
                for series in family.histograms() {
                    let model_name = series_model(kind, &series, model);
                    if decided.contains(&model_name) {
                        continue;
                    }
                    let (bounds, counts, count, sum) = from_series(&series);
                    merge(
                        &mut out,
                        contract,
                        attr::GENAI_MODEL,
                        &model_name,
                        bounds,
                        counts,
                        count,
                        sum,
                    );
                    if !found.contains(&model_name) {
                        found.push(model_name);
                    }
                }
            }
            decided.extend(found);
        }
    }
    out
}

fn series_model(kind: ServerKind, series: &HistogramSeries, model: Option<&str>) -> String {
    model
        .map(str::to_string)
        .or_else(|| {
            kind.model_label()
                .and_then(|l| series.label(l))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// Adds one series to `out`: summed into the same metric and model when the bounds
/// agree, left out when they do not, appended when new.
#[allow(clippy::too_many_arguments)]
fn merge(
    out: &mut Vec<ScrapedHistogram>,
    metric: &'static str,
    model_key: &'static str,
    model: &str,
    bounds: Vec<f64>,
    counts: Vec<u64>,
    count: u64,
    sum: f64,
) {
    match out
        .iter_mut()
        .find(|h| h.metric == metric && h.model == model)
    {
        Some(h) if h.bounds == bounds => {
            for (a, b) in h.bucket_counts.iter_mut().zip(&counts) {
                *a = a.saturating_add(*b);
            }
            h.count = h.count.saturating_add(count);
            h.sum += sum;
        }
        Some(_) => {
            tracing::debug!(metric, model, "series with other bucket bounds left out");
        }
        None => out.push(ScrapedHistogram {
            metric,
            model_key,
            model: model.to_string(),
            bounds,
            bucket_counts: counts,
            count,
            sum,
        }),
    }
}

/// Triton's cumulative per-model totals (microseconds and request counts), summed over
/// the model's versions.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TritonTotals {
    /// `nv_inference_request_success`, else `nv_inference_count`.
    pub requests: f64,
    pub request_us: f64,
    pub queue_us: f64,
    pub compute_input_us: f64,
    pub compute_infer_us: f64,
    pub compute_output_us: f64,
}

/// The phases of `TritonTotals`, as `gpuwatch.inference.phase` values.
pub const PHASES: [&str; 5] = [
    "request",
    "queue",
    "compute_input",
    "compute_infer",
    "compute_output",
];

impl TritonTotals {
    /// Cumulative microseconds per phase, in `PHASES` order.
    pub fn phase_us(&self) -> [f64; 5] {
        [
            self.request_us,
            self.queue_us,
            self.compute_input_us,
            self.compute_infer_us,
            self.compute_output_us,
        ]
    }
}

/// Where a family's value goes in `TritonTotals`.
type Field = fn(&mut TritonTotals) -> &mut f64;

/// Triton's totals per model, in order of first appearance. The `model` override
/// names every model on the page as one.
pub fn triton_totals(page: &Exposition, model: Option<&str>) -> Vec<(String, TritonTotals)> {
    let mut out: Vec<(String, TritonTotals)> = Vec::new();
    let has_success = page.family("nv_inference_request_success").is_some();
    let fields: [(&str, Field); 6] = [
        (
            if has_success {
                "nv_inference_request_success"
            } else {
                "nv_inference_count"
            },
            |t| &mut t.requests,
        ),
        ("nv_inference_request_duration_us", |t| &mut t.request_us),
        ("nv_inference_queue_duration_us", |t| &mut t.queue_us),
        ("nv_inference_compute_input_duration_us", |t| {
            &mut t.compute_input_us
        }),
        ("nv_inference_compute_infer_duration_us", |t| {
            &mut t.compute_infer_us
        }),
        ("nv_inference_compute_output_duration_us", |t| {
            &mut t.compute_output_us
        }),
    ];
    for (family, field) in fields {
        let Some(family) = page.family(family) else {
            continue;
        };
        for sample in &family.samples {
            if sample.name != family.name || !sample.value.is_finite() {
                continue;
            }
            let name = model
                .or_else(|| sample.label("model"))
                .unwrap_or("unknown")
                .to_string();
            let i = match out.iter().position(|(m, _)| *m == name) {
                Some(i) => i,
                None => {
                    out.push((name, TritonTotals::default()));
                    out.len() - 1
                }
            };
            *field(&mut out[i].1) += sample.value;
        }
    }
    out
}

/// The bounds (s) of the histogram the agent builds from Triton's counters.
pub const TRITON_BOUNDS: [f64; 15] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0,
];

/// The mean latency of one phase of one model's requests over the last interval.
#[derive(Debug, Clone, PartialEq)]
pub struct MeanLatency {
    pub model: String,
    /// One of `PHASES`.
    pub phase: &'static str,
    pub seconds: f64,
    /// Requests in the interval.
    pub requests: u64,
}

/// What the agent keeps between two Triton scrapes: the previous totals and the
/// histogram it builds, per model.
///
/// Triton reports only cumulative sums of microseconds and request counts (its
/// `*_summary_us` quantiles are per-process windows and not used). Each interval, the
/// `n` new requests of a model are put into `gpuwatch.inference.duration` as `n`
/// observations of their mean latency: `_count` and `_sum` are exact (the requests and
/// their total time), only the spread within one interval is lost. The means of every
/// phase also go out as the gauge `gpuwatch.inference.latency.mean`. A total that went
/// down (the server restarted) counts from zero again.
#[derive(Debug, Default)]
pub struct TritonState {
    models: Vec<(String, TritonModel)>,
}

#[derive(Debug)]
struct TritonModel {
    last: TritonTotals,
    bucket_counts: Vec<u64>,
    count: u64,
    sum: f64,
}

impl TritonState {
    /// Takes this scrape's totals; returns every model's histogram (cumulative since
    /// the agent first saw the model) and the means of the interval since the last
    /// scrape (none for a model's first scrape or an interval without requests).
    pub fn update(
        &mut self,
        totals: Vec<(String, TritonTotals)>,
    ) -> (Vec<ScrapedHistogram>, Vec<MeanLatency>) {
        let mut histograms = Vec::with_capacity(totals.len());
        let mut means = Vec::new();
        let mut models = Vec::with_capacity(totals.len());
        for (name, now) in totals {
            let previous = self
                .models
                .iter()
                .position(|(m, _)| *m == name)
                .map(|i| self.models.swap_remove(i).1);
            let state = match previous {
                None => TritonModel {
                    last: now,
                    bucket_counts: vec![0; TRITON_BOUNDS.len() + 1],
                    count: 0,
                    sum: 0.0,
                },
                Some(mut state) => {
                    let before = state.last;
                    let restarted = now.requests < before.requests
                        || now
                            .phase_us()
                            .iter()
                            .zip(before.phase_us())
                            .any(|(n, b)| *n < b);
                    let base = if restarted {
                        TritonTotals::default()
                    } else {
                        before
                    };
                    let requests = to_count(now.requests - base.requests);
                    if requests > 0 {
                        let n = requests as f64;
                        for (phase, (now_us, base_us)) in PHASES
                            .iter()
                            .zip(now.phase_us().iter().zip(base.phase_us()))
                        {
                            means.push(MeanLatency {
                                model: name.clone(),
                                phase,
                                seconds: (now_us - base_us) / n / 1e6,
                                requests,
                            });
                        }
                        let total_s = (now.request_us - base.request_us) / 1e6;
                        let mean = total_s / n;
                        let bucket = TRITON_BOUNDS
                            .iter()
                            .position(|&le| mean <= le)
                            .unwrap_or(TRITON_BOUNDS.len());
                        state.bucket_counts[bucket] += requests;
                        state.count += requests;
                        state.sum += total_s;
                    }
                    state.last = now;
                    state
                }
            };
            histograms.push(ScrapedHistogram {
                metric: metric::INFERENCE_DURATION,
                model_key: attr::MODEL,
                model: name.clone(),
                bounds: TRITON_BOUNDS.to_vec(),
                bucket_counts: state.bucket_counts.clone(),
                count: state.count,
                sum: state.sum,
            });
            models.push((name, state));
        }
        self.models = models;
        (histograms, means)
    }
}
