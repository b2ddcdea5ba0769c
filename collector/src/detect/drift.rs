//! `model_drift` and `latency_regression`: a model's prediction, feature or latency
//! distribution in the current window against a reference window, from the histograms'
//! buckets (`crate::drift::stats`). The reference is the window of the same length that
//! ended `reference_lag` before the current one began. Series of one model on several
//! hosts are summed. Below `min_count` observations in either window the answer is "not
//! enough data", and nothing fires. A latency regression is drift whose mean moved up.

use std::collections::BTreeMap;

use gpuwatch_model::names::{attr, metric};
use gpuwatch_model::{AlertKind, Finding, Severity};

use super::config::DriftSettings;
use crate::drift::stats::{
    jensen_shannon, kolmogorov_smirnov, psi, wasserstein_normalized, Buckets, Drift,
};
use crate::store::{Series, Store};

/// Observations of a cumulative histogram series in `(from, to]`: the bucket counts at
/// `to` less those at `from` (all of them when the series began inside the window, or
/// was reset).
fn observed(s: &Series, from: i64, to: i64) -> Option<Buckets> {
    let ring = s.histograms()?;
    let (_, end) = ring.last_at(to)?;
    let counts: Vec<f64> = match ring.last_at(from) {
        Some((_, start))
            if start.bounds == end.bounds
                && start.counts.len() == end.counts.len()
                && start.count <= end.count =>
        {
            end.counts
                .iter()
                .zip(&start.counts)
                .map(|(e, s)| e.saturating_sub(*s) as f64)
                .collect()
        }
        _ => end.counts.iter().map(|c| *c as f64).collect(),
    };
    Buckets::new(end.bounds.to_vec(), counts)
}

fn add(into: &mut Option<Buckets>, more: Buckets) {
    match into {
        None => *into = Some(more),
        Some(b) if b.bounds == more.bounds => {
            for (c, m) in b.counts.iter_mut().zip(more.counts) {
                *c += m;
            }
        }
        // A host with another bucket layout: left out rather than guessed.
        Some(_) => {}
    }
}

#[derive(Default)]
struct Pair {
    reference: Option<Buckets>,
    current: Option<Buckets>,
}

fn window_label(ns: i64) -> String {
    gpuwatch_model::duration::format(std::time::Duration::from_nanos(ns.max(0) as u64))
}

/// The current and reference windows of every model series group at `t`:
/// `(kind, model, feature or metric)`.
fn windows(
    store: &Store,
    drift: &DriftSettings,
    latency: &DriftSettings,
    t: i64,
) -> BTreeMap<(AlertKind, String, String), Pair> {
    // (kind, model, what) -> windows
    let mut groups: BTreeMap<(AlertKind, String, String), Pair> = BTreeMap::new();
    for s in store.series() {
        let (kind, what) = match s.key.metric.as_str() {
            metric::MODEL_PREDICTION => (AlertKind::ModelDrift, "prediction".to_string()),
            metric::MODEL_FEATURE => match s.key.get(attr::FEATURE) {
                Some(f) => (AlertKind::ModelDrift, f.to_string()),
                None => continue,
            },
            m @ (metric::GENAI_REQUEST_DURATION
            | metric::GENAI_TIME_TO_FIRST_TOKEN
            | metric::GENAI_TIME_PER_OUTPUT_TOKEN
            | metric::INFERENCE_DURATION) => (AlertKind::LatencyRegression, m.to_string()),
            _ => continue,
        };
        let Some(model) = s.key.model() else { continue };
        let cfg = if kind == AlertKind::ModelDrift {
            drift
        } else {
            latency
        };
        let current_from = t - cfg.window;
        let reference_to = current_from - cfg.reference_lag;
        let pair = groups.entry((kind, model.to_string(), what)).or_default();
        if let Some(b) = observed(s, current_from, t) {
            add(&mut pair.current, b);
        }
        if let Some(b) = observed(s, reference_to - cfg.window, reference_to) {
            add(&mut pair.reference, b);
        }
    }
    groups
}

pub fn evaluate(
    store: &Store,
    drift: &DriftSettings,
    latency: &DriftSettings,
    t: i64,
) -> Vec<Finding> {
    let groups = windows(store, drift, latency, t);
    let mut out = Vec::new();
    for ((kind, model, what), pair) in groups {
        let (Some(reference), Some(current)) = (pair.reference, pair.current) else {
            continue;
        };
        let cfg = if kind == AlertKind::ModelDrift {
            drift
        } else {
            latency
        };
        let (Drift::Score(p), Drift::Score(js)) = (
            psi(&reference, &current, cfg.min_count),
            jensen_shannon(&reference, &current, cfg.min_count),
        ) else {
            continue;
        };
        if p < cfg.psi && js < cfg.js {
            continue;
        }
        let (ref_mean, cur_mean) = (reference.mean(), current.mean());
        if kind == AlertKind::LatencyRegression && cur_mean <= ref_mean {
            continue;
        }
        let score = |d: Drift| match d {
            Drift::Score(s) => format!("{s:.2}"),
            Drift::NotEnoughData => "-".into(),
        };
        let ks = score(kolmogorov_smirnov(&reference, &current, cfg.min_count));
        let wd = score(wasserstein_normalized(&reference, &current, cfg.min_count));
        let (label, subject) = match kind {
            AlertKind::ModelDrift => (attr::FEATURE, format!("model {model}, {what}")),
            _ => (
                "gpuwatch.metric",
                format!("model {model}, {what}: mean {ref_mean:.3} -> {cur_mean:.3}"),
            ),
        };
        out.push(Finding {
            kind,
            severity: Severity::Warning,
            labels: BTreeMap::from([
                (attr::MODEL.to_string(), model),
                (label.to_string(), what),
            ]),
            value: p,
            summary: format!(
                "{subject}: PSI {p:.2}, JS {js:.2}, KS {ks}, Wasserstein {wd} over the last {} against the {} that ended {} before ({:.0} and {:.0} observations)",
                window_label(cfg.window),
                window_label(cfg.window),
                window_label(cfg.reference_lag),
                current.total(),
                reference.total(),
            ),
        });
    }
    out
}

/// One drift score, as `/metrics` shows it in `gpuwatch_drift_score`.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub model: String,
    /// The feature, `prediction`, or the latency metric.
    pub feature: String,
    /// `psi`, `js`, `ks` or `wasserstein`.
    pub method: &'static str,
    pub value: f64,
}

/// Every drift score at `t` with enough data, whether it crosses a threshold or not.
pub fn scores(store: &Store, drift: &DriftSettings, latency: &DriftSettings, t: i64) -> Vec<Score> {
    let mut out = Vec::new();
    for ((kind, model, feature), pair) in windows(store, drift, latency, t) {
        let (Some(r), Some(c)) = (pair.reference, pair.current) else {
            continue;
        };
        let min = if kind == AlertKind::ModelDrift {
            drift.min_count
        } else {
            latency.min_count
        };
        for (method, d) in [
            ("psi", psi(&r, &c, min)),
            ("js", jensen_shannon(&r, &c, min)),
            ("ks", kolmogorov_smirnov(&r, &c, min)),
            ("wasserstein", wasserstein_normalized(&r, &c, min)),
        ] {
            if let Drift::Score(value) = d {
                out.push(Score {
                    model: model.clone(),
                    feature: feature.clone(),
                    method,
                    value,
                });
            }
        }
    }
    out
}

/// p50, p95 and p99 of each model's latency histograms over `(t - window, t]`, hosts
/// summed, linear within buckets: `(model, metric, quantile, seconds)`.
pub fn latency_quantiles(store: &Store, window: i64, t: i64) -> Vec<(String, String, f64, f64)> {
    let latency = [
        metric::GENAI_REQUEST_DURATION,
        metric::GENAI_TIME_TO_FIRST_TOKEN,
        metric::GENAI_TIME_PER_OUTPUT_TOKEN,
        metric::INFERENCE_DURATION,
    ];
    let mut groups: BTreeMap<(String, String), Option<Buckets>> = BTreeMap::new();
    for s in store.series() {
        let m = s.key.metric.as_str();
        if !latency.contains(&m) {
            continue;
        }
        let (Some(model), Some(b)) = (s.key.model(), observed(s, t - window, t)) else {
            continue;
        };
        add(
            groups
                .entry((model.to_string(), m.to_string()))
                .or_default(),
            b,
        );
    }
    let mut out = Vec::new();
    for ((model, m), b) in groups {
        let Some(b) = b.filter(|b| b.total() > 0.0) else {
            continue;
        };
        for q in [0.5, 0.95, 0.99] {
            if let Some(v) = b.quantile(q) {
                out.push((model.clone(), m.clone(), q, v));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::config::AlertsConfig;
    use crate::store::builder::{Builder, S};

    const BOUNDS: [f64; 4] = [0.1, 0.2, 0.5, 1.0];

    /// Cumulative counts every 10 s over 20 minutes; `per_step(t)` new observations per
    /// bucket at second `t`.
    fn series(
        b: &mut Builder,
        metric: &str,
        attrs: &[(&str, &str)],
        per_step: impl Fn(i64) -> [u64; 5],
    ) {
        let mut total = [0u64; 5];
        let points: Vec<(i64, Vec<u64>)> = (0..=1200)
            .step_by(10)
            .map(|t| {
                for (a, n) in total.iter_mut().zip(per_step(t)) {
                    *a += n;
                }
                (t, total.to_vec())
            })
            .collect();
        b.histogram(metric, attrs, &BOUNDS, points);
    }

    const STEADY: [u64; 5] = [10, 30, 40, 15, 5];
    const SLOWER: [u64; 5] = [1, 4, 15, 40, 40];

    fn run(b: &mut Builder, t: i64) -> Vec<Finding> {
        let s = AlertsConfig::default().validate().expect("defaults");
        // Retention of the builder's store is an hour; the windows need 15 minutes.
        evaluate(&b.build(), &s.model_drift, &s.latency_regression, t * S)
    }

    #[test]
    fn cases() {
        let pred = [("gpuwatch.model", "fraud-v3")];
        let lat = [("gen_ai.request.model", "llama")];
        type Setup = Box<dyn Fn(&mut Builder)>;
        type Case = (&'static str, Setup, Vec<(AlertKind, &'static str)>);
        let cases: Vec<Case> = vec![
            (
                "healthy: the same distribution all along",
                Box::new(move |b| series(b, metric::MODEL_PREDICTION, &pred, |_| STEADY)),
                vec![],
            ),
            (
                "faulty: predictions moved in the last five minutes",
                Box::new(move |b| {
                    series(b, metric::MODEL_PREDICTION, &pred, |t| {
                        if t > 900 {
                            SLOWER
                        } else {
                            STEADY
                        }
                    })
                }),
                vec![(AlertKind::ModelDrift, "prediction")],
            ),
            (
                "faulty: latency moved up",
                Box::new(move |b| {
                    series(b, metric::GENAI_REQUEST_DURATION, &lat, |t| {
                        if t > 900 {
                            SLOWER
                        } else {
                            STEADY
                        }
                    });
                }),
                vec![(
                    AlertKind::LatencyRegression,
                    "gen_ai.server.request.duration",
                )],
            ),
            (
                "healthy: latency moved down is no regression",
                Box::new(move |b| {
                    series(b, metric::GENAI_REQUEST_DURATION, &lat, |t| {
                        if t > 900 {
                            STEADY
                        } else {
                            SLOWER
                        }
                    });
                }),
                vec![],
            ),
            (
                "borderline: a slight shift stays under PSI 0.2 and JS 0.1",
                Box::new(move |b| {
                    series(b, metric::MODEL_PREDICTION, &pred, |t| {
                        if t > 900 {
                            [9, 29, 40, 16, 6]
                        } else {
                            STEADY
                        }
                    });
                }),
                vec![],
            ),
            (
                "missing data: too few observations to say",
                Box::new(move |b| {
                    series(b, metric::MODEL_PREDICTION, &pred, |t| {
                        if t > 900 {
                            [0, 0, 0, 0, 1]
                        } else {
                            [0, 0, 1, 0, 0]
                        }
                    })
                }),
                vec![],
            ),
        ];
        for (name, setup, want) in cases {
            let mut b = Builder::new();
            setup(&mut b);
            let got: Vec<(AlertKind, String)> = run(&mut b, 1200)
                .into_iter()
                .map(|f| {
                    let what = f
                        .labels
                        .get("gpuwatch.feature")
                        .or(f.labels.get("gpuwatch.metric"))
                        .cloned()
                        .unwrap_or_default();
                    (f.kind, what)
                })
                .collect();
            let want: Vec<(AlertKind, String)> =
                want.into_iter().map(|(k, w)| (k, w.to_string())).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn scores_and_quantiles_are_there_without_an_alert() {
        let s = AlertsConfig::default().validate().expect("defaults");
        let mut b = Builder::new();
        series(
            &mut b,
            metric::GENAI_REQUEST_DURATION,
            &[("gen_ai.request.model", "llama")],
            |_| STEADY,
        );
        let store = b.build();
        let got = scores(&store, &s.model_drift, &s.latency_regression, 1200 * S);
        let methods: Vec<&str> = got.iter().map(|x| x.method).collect();
        assert_eq!(methods, ["psi", "js", "ks", "wasserstein"]);
        assert!(got
            .iter()
            .all(|x| x.value.abs() < 1e-9 && x.model == "llama"));
        let q = latency_quantiles(&store, 300 * S, 1200 * S);
        // STEADY: 10, 30, 40, 15, 5 per 100; the median falls in (0.2, 0.5].
        assert_eq!(q.len(), 3);
        assert_eq!((q[0].0.as_str(), q[0].2), ("llama", 0.5));
        assert!((q[0].3 - (0.2 + 0.3 * 10.0 / 40.0)).abs() < 1e-9, "{q:?}");
    }

    #[test]
    fn hosts_of_one_model_are_summed() {
        let mut b = Builder::new();
        for host in ["a", "b"] {
            let attrs = [
                ("gpuwatch.model", "ranker"),
                ("gpuwatch.feature", "age"),
                ("host.name", host),
            ];
            series(&mut b, metric::MODEL_FEATURE, &attrs, |t| {
                if t > 900 {
                    SLOWER
                } else {
                    STEADY
                }
            });
        }
        let found = run(&mut b, 1200);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].labels["gpuwatch.model"], "ranker");
        assert_eq!(found[0].labels["gpuwatch.feature"], "age");
        assert!(
            found[0].summary.contains("(6000 and 6000 observations)"),
            "{}",
            found[0].summary
        );
    }
}
