//! Each served model as `/api/v1/inference` shows it: request rate, latency and
//! time-to-first-token quantiles, and drift scores against the reference window.
//! The quantiles and scores come from `detect::drift`, which the alerts use too.

use std::collections::BTreeMap;

use gpuwatch_model::api::{DriftScore, InferenceResponse, ModelSummary, Quantiles};
use gpuwatch_model::names::metric;

use crate::detect::drift::Score;
use crate::store::Store;

/// The request-duration histograms that count requests, preferred first.
const REQUEST_METRICS: [&str; 2] = [metric::GENAI_REQUEST_DURATION, metric::INFERENCE_DURATION];

/// Requests per second of each model over `(t - window, t]`: each series' count
/// growth between its first and last point in the window, hosts summed, from the
/// first of [`REQUEST_METRICS`] the model sends.
fn request_rates(store: &Store, window: i64, t: i64) -> BTreeMap<String, f64> {
    let mut by: BTreeMap<(String, usize), f64> = BTreeMap::new();
    for s in store.series() {
        let Some(rank) = REQUEST_METRICS.iter().position(|m| s.key.metric() == *m) else {
            continue;
        };
        let (Some(model), Some(ring)) = (s.key.model(), s.histograms()) else {
            continue;
        };
        let mut points = ring.window(t.saturating_sub(window).saturating_add(1), t);
        let Some((t0, first)) = points.next() else {
            continue;
        };
        let Some((t1, last)) = points.last() else {
            continue;
        };
        let dt = (t1 - t0) as f64 / 1e9;
        if dt > 0.0 && last.count >= first.count {
            let rate = (last.count - first.count) as f64 / dt;
            *by.entry((model.to_string(), rank)).or_default() += rate;
        }
    }
    let mut out = BTreeMap::new();
    // Ranks ascend within a model: the preferred metric comes first and stays.
    for ((model, _), rate) in by {
        out.entry(model).or_insert(rate);
    }
    out
}

/// `(model, metric, quantile, seconds)` rows into quantiles per model and metric.
fn quantiles_of(rows: &[(String, String, f64, f64)], model: &str, m: &str) -> Quantiles {
    let mut q = Quantiles::default();
    for (_, _, quantile, v) in rows.iter().filter(|r| r.0 == model && r.1 == m) {
        match quantile {
            x if (x - 0.5).abs() < 1e-9 => q.p50 = Some(*v),
            x if (x - 0.95).abs() < 1e-9 => q.p95 = Some(*v),
            x if (x - 0.99).abs() < 1e-9 => q.p99 = Some(*v),
            _ => {}
        }
    }
    q
}

/// Every model with requests, latency or drift scores at `t`. `quantiles` and
/// `scores` are what `detect::drift::latency_quantiles` and `scores` return.
pub fn inference(
    store: &Store,
    window: i64,
    t: i64,
    quantiles: &[(String, String, f64, f64)],
    scores: &[Score],
) -> InferenceResponse {
    let rates = request_rates(store, window, t);
    let mut models: BTreeMap<&str, ModelSummary> = BTreeMap::new();
    let names = rates
        .keys()
        .map(String::as_str)
        .chain(quantiles.iter().map(|r| r.0.as_str()))
        .chain(scores.iter().map(|s| s.model.as_str()));
    for name in names {
        models.entry(name).or_insert_with(|| {
            let latency = REQUEST_METRICS
                .iter()
                .map(|m| quantiles_of(quantiles, name, m))
                .find(|q| q.p50.is_some())
                .unwrap_or_default();
            ModelSummary {
                model: name.to_string(),
                requests_per_second: rates.get(name).copied(),
                latency,
                time_to_first_token: quantiles_of(
                    quantiles,
                    name,
                    metric::GENAI_TIME_TO_FIRST_TOKEN,
                ),
                drift: scores
                    .iter()
                    .filter(|s| s.model == name)
                    .map(|s| DriftScore {
                        feature: s.feature.clone(),
                        method: s.method.to_string(),
                        value: s.value,
                    })
                    .collect(),
                // The detectors' part (`CollectorState::inference`).
                not_judged: Vec::new(),
            }
        });
    }
    InferenceResponse {
        window: gpuwatch_model::duration::format(std::time::Duration::from_nanos(
            u64::try_from(window).unwrap_or(0),
        )),
        models: models.into_values().collect(),
    }
}
