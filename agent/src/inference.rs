//! Inference servers: the agent scrapes the Prometheus `/metrics` pages listed in
//! `[[agent.inference]]` and sends their latency histograms as CONTRACT.md's
//! `gen_ai.server.*` (vLLM, SGLang, TGI) and `gpuwatch.inference.duration` (Triton),
//! with the model name.
//!
//! - `parse`: a small parser of the Prometheus text format of our own.
//! - `map`: which family becomes which contract metric, per server; Triton's cumulative
//!   microsecond counters become a histogram of per-interval means and the gauge
//!   `gpuwatch.inference.latency.mean` (see `map::TritonState`).
//! - `scraper`: one task per target (timeout, backoff) and the latest result of each,
//!   which `crate::export::inference_metrics` turns into the OTLP `Metric`s the agent
//!   appends to each export (`OtlpExporter::encode_with`).

mod map;
mod parse;
mod scraper;
#[cfg(test)]
mod tests;

pub use map::{
    histograms, triton_totals, MeanLatency, ScrapedHistogram, ServerKind, TritonState,
    TritonTotals, PHASES, TRITON_BOUNDS,
};
pub use parse::{parse, Exposition, Family, HistogramSeries, MetricType, ParseError, Sample};
pub(crate) use scraper::{Inference, ScrapeReport, Snapshot};
pub use scraper::{InferenceTarget, TargetStatus};

/// Gauge, s, attributes `gpuwatch.model` and `gpuwatch.inference.phase`: the mean
/// latency of a Triton model's requests over the last scrape interval.
pub const LATENCY_MEAN: &str = gpuwatch_model::names::metric::INFERENCE_LATENCY_MEAN;

/// Attribute of `LATENCY_MEAN`: `request`, `queue`, `compute_input`, `compute_infer`,
/// `compute_output` (Triton's `nv_inference_*_duration_us`).
pub const PHASE: &str = gpuwatch_model::names::attr::INFERENCE_PHASE;
