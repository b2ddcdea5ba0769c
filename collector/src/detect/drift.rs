//! `model_drift` and `latency_regression`: a model's prediction, feature or latency
//! distribution in the current window against a reference window, from the histograms'
//! buckets (`crate::drift::stats`). The reference is frozen (the first full window
//! after the model appears, see `reference`) or moving (the window of the same length
//! that ended `reference_lag` before the current one began). Series of one model on
//! several hosts are summed. Below `min_count` observations in either window the answer
//! is "not enough data", and nothing fires. A latency regression is drift whose mean
//! moved up.

use std::collections::BTreeMap;
use std::time::Duration;

use gpuwatch_model::config::ConfigError;
use gpuwatch_model::names::{attr, metric};
use gpuwatch_model::{AlertKind, Finding, Severity};
use serde::{Deserialize, Serialize};

mod reference;

pub use reference::DriftReferences;
pub(crate) use reference::SavedReferences;

use super::config::{dur, positive, s};
use super::detector::{Evaluation, NotEnoughData};
use crate::drift::stats::{
    enough, jensen_shannon, kolmogorov_smirnov, psi, wasserstein_normalized, Buckets, Drift,
};
use crate::store::{Series, Store};

/// `model_drift` and `latency_regression`: a distribution that moved from its reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DriftConfig {
    #[serde(rename = "for")]
    pub for_: String,
    /// The current window: the observations of the last `window`.
    pub window: String,
    /// `frozen`: the reference is the first `window` with at least `min_count`
    /// observations that starts `reference_after` after the model first appears, kept
    /// for the collector's life. `moving`: the window of the same length that ended
    /// `reference_lag` before the current one starts. `YYYY-MM-DD/YYYY-MM-DD`: those
    /// days of stored history (`[collector.history]`), read when the collector starts.
    pub reference: String,
    /// `frozen` only: how long after a model first appears its reference starts (skips
    /// warm-up: cold caches, compilation).
    pub reference_after: String,
    /// `moving` only: the gap between the reference and the current window
    /// (window + reference_lag + window must fit the store's retention).
    pub reference_lag: String,
    /// Fewer observations than this in either window is "not enough data".
    pub min_count: u64,
    /// Drift when PSI reaches this...
    pub psi: f64,
    /// ...or the Jensen-Shannon distance reaches this.
    pub js: f64,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            for_: s("5m"),
            window: s("5m"),
            reference: s("frozen"),
            reference_after: s("1m"),
            reference_lag: s("5m"),
            min_count: 100,
            psi: 0.2,
            js: 0.1,
        }
    }
}

/// Where a drift detector's reference window lies; nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// The first window with enough observations from `after` past the model's first
    /// point, frozen once complete.
    Frozen { after: i64 },
    /// The window that ended `lag` before the current one began.
    Moving { lag: i64 },
    /// A date range of stored history, `[from, to)`, which the binary reads at start
    /// and hands to the detectors (`DriftReferences::seed`).
    History { from: i64, to: i64 },
}

/// `YYYY-MM-DD/YYYY-MM-DD`, both days included, as `[from, to)` in Unix nanoseconds.
pub fn date_range(range: &str) -> Option<(i64, i64)> {
    let (a, b) = range.split_once('/')?;
    let day = |d: &str| {
        gpuwatch_model::Timestamp::parse_rfc3339(&format!("{}T00:00:00Z", d.trim())).map(|t| t.0)
    };
    let (from, last) = (day(a)?, day(b)?);
    let to = last + 24 * 3600 * 1_000_000_000;
    (from < to).then_some((from, to))
}

#[derive(Debug, Clone, PartialEq)]
pub struct DriftSettings {
    pub for_: i64,
    pub window: i64,
    pub reference: Reference,
    pub min_count: f64,
    pub psi: f64,
    pub js: f64,
}

impl DriftConfig {
    pub fn validate(&self, key: &str) -> Result<DriftSettings, ConfigError> {
        let k = |name: &str| format!("collector.alerts.{key}.{name}");
        let threshold = |name: &str, v: f64| positive(&k(name), v);
        Ok(DriftSettings {
            for_: dur(&k("for"), &self.for_, Duration::ZERO)?,
            window: dur(&k("window"), &self.window, Duration::from_secs(10))?,
            reference: match self.reference.as_str() {
                "frozen" => Reference::Frozen {
                    after: dur(&k("reference_after"), &self.reference_after, Duration::ZERO)?,
                },
                "moving" => Reference::Moving {
                    lag: dur(&k("reference_lag"), &self.reference_lag, Duration::ZERO)?,
                },
                other => match date_range(other) {
                    Some((from, to)) => Reference::History { from, to },
                    None => {
                        return Err(ConfigError::new(
                            k("reference"),
                            format!(
                                "must be \"frozen\", \"moving\" or a date range of history such as \"2026-11-01/2026-11-07\", got {other:?}"
                            ),
                        ))
                    }
                },
            },
            min_count: self.min_count.max(1) as f64,
            psi: threshold("psi", self.psi)?,
            js: threshold("js", self.js)?,
        })
    }
}

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

/// What a drift series belongs to: `(kind, model, feature or metric)`.
pub(crate) type Group = (AlertKind, String, String);

/// The group of a prediction, feature or latency series; `None` for any other.
fn group_of(s: &Series) -> Option<Group> {
    let (kind, what) = match s.key.metric() {
        metric::MODEL_PREDICTION => (AlertKind::ModelDrift, "prediction".to_string()),
        metric::MODEL_FEATURE => (AlertKind::ModelDrift, s.key.get(attr::FEATURE)?.to_string()),
        m @ (metric::GENAI_REQUEST_DURATION
        | metric::GENAI_TIME_TO_FIRST_TOKEN
        | metric::GENAI_TIME_PER_OUTPUT_TOKEN
        | metric::INFERENCE_DURATION) => (AlertKind::LatencyRegression, m.to_string()),
        _ => return None,
    };
    Some((kind, s.key.model()?.to_string(), what))
}

/// The settings of `kind`: `model_drift` or `latency_regression`.
fn settings<'a>(
    kind: AlertKind,
    drift: &'a DriftSettings,
    latency: &'a DriftSettings,
) -> &'a DriftSettings {
    if kind == AlertKind::ModelDrift {
        drift
    } else {
        latency
    }
}

/// The current and reference windows of every model series group at `t`.
fn windows(
    store: &Store,
    drift: &DriftSettings,
    latency: &DriftSettings,
    references: &DriftReferences,
    t: i64,
) -> BTreeMap<Group, Pair> {
    let mut groups: BTreeMap<Group, Pair> = BTreeMap::new();
    for s in store.series() {
        let Some(group) = group_of(s) else { continue };
        let cfg = settings(group.0, drift, latency);
        // On the clock of the series' sender (`store::clock`).
        let t = store.series_time(s, t);
        let current_from = t - cfg.window;
        let pair = groups.entry(group).or_default();
        if let Some(b) = observed(s, current_from, t) {
            add(&mut pair.current, b);
        }
        if let Reference::Moving { lag } = cfg.reference {
            let reference_to = current_from - lag;
            if let Some(b) = observed(s, reference_to - cfg.window, reference_to) {
                add(&mut pair.reference, b);
            }
        }
    }
    for (group, pair) in &mut groups {
        if let Reference::Frozen { .. } | Reference::History { .. } =
            settings(group.0, drift, latency).reference
        {
            pair.reference = references.get(group).cloned();
        }
    }
    groups
}

/// How a summary names the reference window.
fn reference_label(cfg: &DriftSettings, references: &DriftReferences, group: &Group) -> String {
    let window = window_label(cfg.window);
    match cfg.reference {
        Reference::Moving { lag } => {
            format!("the {window} that ended {} before", window_label(lag))
        }
        Reference::Frozen { .. } => match references.since(group) {
            Some(since) => format!(
                "the {window} from {}",
                gpuwatch_model::Timestamp::from_unix_millis(since.div_euclid(1_000_000))
                    .to_rfc3339()
            ),
            None => format!("its first {window}"),
        },
        Reference::History { from, to } => {
            let day = |ns: i64| {
                gpuwatch_model::Timestamp::from_unix_millis(ns.div_euclid(1_000_000))
                    .to_rfc3339()
                    .chars()
                    .take(10)
                    .collect::<String>()
            };
            format!("its history from {} to {}", day(from), day(to - 1))
        }
    }
}

/// Findings at `t`; first freezes the references that became complete.
#[cfg(test)]
pub fn evaluate(
    store: &Store,
    drift: &DriftSettings,
    latency: &DriftSettings,
    references: &mut DriftReferences,
    t: i64,
) -> Vec<Finding> {
    judge(store, drift, latency, references, t).findings
}

/// `evaluate`, and each model's feature or metric it could not judge: no reference
/// window yet, nothing observed in the current one, or fewer than `min_count`
/// observations in either.
pub fn judge(
    store: &Store,
    drift: &DriftSettings,
    latency: &DriftSettings,
    references: &mut DriftReferences,
    t: i64,
) -> Evaluation {
    references.update(store, drift, latency, t);
    let groups = windows(store, drift, latency, references, t);
    let mut out = Vec::new();
    let mut unjudged = Vec::new();
    for ((kind, model, what), pair) in groups {
        let cfg = settings(kind, drift, latency);
        let missing = match (&pair.reference, &pair.current) {
            (None, _) => Some("no reference window yet".to_string()),
            (_, None) => Some("nothing observed in the current window".to_string()),
            (Some(r), Some(c)) if !enough(r, c, cfg.min_count) => Some(format!(
                "fewer than {:.0} observations ({:.0} now, {:.0} in the reference)",
                cfg.min_count.max(1.0),
                c.total(),
                r.total()
            )),
            _ => None,
        };
        if let Some(missing) = missing {
            unjudged.push(NotEnoughData {
                kind,
                labels: BTreeMap::from([(attr::MODEL.to_string(), model)]),
                what,
                missing,
            });
            continue;
        }
        let (Some(reference), Some(current)) = (pair.reference, pair.current) else {
            continue;
        };
        let against = reference_label(cfg, references, &(kind, model.clone(), what.clone()));
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
                "{subject}: PSI {p:.2}, JS {js:.2}, KS {ks}, Wasserstein {wd} over the last {} against {against} ({:.0} and {:.0} observations)",
                window_label(cfg.window),
                current.total(),
                reference.total(),
            ),
        });
    }
    Evaluation {
        findings: out,
        not_enough_data: unjudged,
    }
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
pub fn scores(
    store: &Store,
    drift: &DriftSettings,
    latency: &DriftSettings,
    references: &DriftReferences,
    t: i64,
) -> Vec<Score> {
    let mut out = Vec::new();
    for ((kind, model, feature), pair) in windows(store, drift, latency, references, t) {
        let (Some(r), Some(c)) = (pair.reference, pair.current) else {
            continue;
        };
        let min = settings(kind, drift, latency).min_count;
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
        let m = s.key.metric();
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

/// `model_drift` and `latency_regression` in the one list (`detect.rs`).
#[derive(Debug)]
pub struct ModelDrift;

impl super::detector::Detector for ModelDrift {
    type Settings = super::config::AlertSettings;
    fn settings(all: &super::config::AlertSettings) -> &Self::Settings {
        all
    }
    fn evaluate(
        cx: &mut super::detector::Context<'_>,
        s: &Self::Settings,
    ) -> super::detector::Evaluation {
        judge(
            cx.store,
            &s.model_drift,
            &s.latency_regression,
            cx.references,
            cx.t,
        )
    }
}

#[cfg(test)]
mod tests;
