//! `gpu_throttle`: a GPU held below its clocks for thermal or power reasons, most of
//! the window.

use std::collections::BTreeMap;
use std::time::Duration;

use gpuwatch_model::config::ConfigError;
use gpuwatch_model::names::{attr, metric};
use gpuwatch_model::{AlertKind, Finding, Severity};
use serde::{Deserialize, Serialize};

use super::config::{dur, ratio, s};
use super::detector::{Evaluation, NotEnoughData};
use super::window::{
    any_gpu_labels, current, gpu_labels, gpu_series, gpu_title, share, value_at, Window,
};
use crate::store::{Series, Store};

/// `gpu_throttle`: sustained throttling for the listed reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    #[serde(rename = "for")]
    pub for_: String,
    pub window: String,
    /// Share of the window's samples that must show the reason.
    pub min_share: f64,
    /// `gpuwatch.throttle.reason` values that count. `sw_power_cap` is left out by
    /// default: a busy GPU at its power limit shows it all the time.
    pub reasons: Vec<String>,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            for_: s("5m"),
            window: s("1m"),
            min_share: 0.8,
            reasons: ["hw_thermal", "sw_thermal", "hw_power_brake", "hw_slowdown"]
                .map(s)
                .to_vec(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleSettings {
    pub for_: i64,
    pub window: i64,
    pub min_share: f64,
    pub reasons: Vec<String>,
}

impl ThrottleConfig {
    pub fn validate(&self) -> Result<ThrottleSettings, ConfigError> {
        let k = |name: &str| format!("collector.alerts.gpu_throttle.{name}");
        // The contract's reasons, as the agent sends them.
        let known = gpuwatch_model::ThrottleReason::ALL.map(gpuwatch_model::ThrottleReason::as_str);
        if let Some(bad) = self.reasons.iter().find(|r| !known.contains(&r.as_str())) {
            return Err(ConfigError::new(
                k("reasons"),
                format!("must list values of {}, got {bad:?}", known.join(", ")),
            ));
        }
        Ok(ThrottleSettings {
            for_: dur(&k("for"), &self.for_, Duration::ZERO)?,
            window: dur(&k("window"), &self.window, Duration::from_secs(1))?,
            min_share: ratio(&k("min_share"), self.min_share)?,
            reasons: self.reasons.clone(),
        })
    }
}

#[cfg(test)]
pub fn evaluate(store: &Store, s: &ThrottleSettings, t: i64) -> Vec<Finding> {
    judge(store, s, t).findings
}

/// `evaluate`, and the GPUs that report no throttle reasons at all.
pub fn judge(store: &Store, s: &ThrottleSettings, t: i64) -> Evaluation {
    let mut out = Vec::new();
    let mut unjudged = Vec::new();
    for gpu in store.gpus().values() {
        // Each GPU on its node's clock (`store::clock`).
        let t = store.gpu_time(gpu, t);
        let w = Window::ending_at(t, s.window);
        // The current series of each reason that counts (a GPU that changed job has one
        // per job), in one pass over the GPU's throttle series.
        let mut newest: BTreeMap<&str, (i64, &Series)> = BTreeMap::new();
        let mut reported = false;
        for series in gpu_series(store, gpu, metric::GPU_THROTTLE, &[]) {
            reported = true;
            let Some(reason) = series
                .key
                .get(attr::THROTTLE_REASON)
                .filter(|r| s.reasons.iter().any(|x| x == r))
            else {
                continue;
            };
            let Some((ts, _)) = series.scalars().and_then(|r| r.last_at(t)) else {
                continue;
            };
            if newest.get(reason).is_none_or(|(seen, _)| ts > *seen) {
                newest.insert(reason, (ts, series));
            }
        }
        if !reported {
            unjudged.push(NotEnoughData::gpu(
                AlertKind::GpuThrottle,
                any_gpu_labels(store, gpu),
                "no throttle reasons",
            ));
        }
        for (reason, (_, series)) in newest {
            let Some(held) = share(series, w, |v| v >= 0.5).filter(|x| *x >= s.min_share) else {
                continue;
            };
            let mut labels = gpu_labels(series);
            labels.insert(attr::THROTTLE_REASON.to_string(), reason.to_string());
            let temp = current(store, gpu, metric::GPU_TEMPERATURE, &[], t)
                .and_then(|s| value_at(s, t))
                .map(|c| format!(" at {c:.0} °C"))
                .unwrap_or_default();
            out.push(Finding {
                kind: AlertKind::GpuThrottle,
                severity: Severity::Warning,
                summary: format!(
                    "{}: throttled ({reason}) {:.0}% of the last {}{temp}",
                    gpu_title(&labels),
                    held * 100.0,
                    gpuwatch_model::duration::format(std::time::Duration::from_nanos(
                        s.window as u64
                    )),
                ),
                labels,
                value: held,
            });
        }
    }
    Evaluation {
        findings: out,
        not_enough_data: unjudged,
    }
}

/// The `throttle` detector in the one list (`detect.rs`).
#[derive(Debug)]
pub struct GpuThrottle;

impl super::detector::Detector for GpuThrottle {
    type Settings = ThrottleSettings;
    fn settings(all: &super::config::AlertSettings) -> &Self::Settings {
        &all.gpu_throttle
    }
    fn evaluate(
        cx: &mut super::detector::Context<'_>,
        s: &Self::Settings,
    ) -> super::detector::Evaluation {
        judge(cx.store, s, cx.t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::config::AlertsConfig;
    use crate::store::builder::{every, same_on_any_clock, Builder, S};

    #[test]
    fn cases() {
        let s = AlertsConfig::default()
            .validate()
            .expect("defaults")
            .gpu_throttle;
        let m = metric::GPU_THROTTLE;
        let thermal = [("gpuwatch.throttle.reason", "hw_thermal")];
        let power = [("gpuwatch.throttle.reason", "sw_power_cap")];
        let cases: Vec<(&str, Store, Option<f64>)> = vec![
            (
                "healthy: never throttled",
                Builder::new()
                    .gpu("n", 0, None, m, &thermal, every(5, 0, 60, |_| 0.0))
                    .build(),
                None,
            ),
            (
                "faulty: thermal all window",
                Builder::new()
                    .gpu("n", 0, None, m, &thermal, every(5, 0, 60, |_| 1.0))
                    .build(),
                Some(1.0),
            ),
            (
                "borderline: 9 of the window's 12 samples (75%) is under 80%",
                Builder::new()
                    .gpu(
                        "n",
                        0,
                        None,
                        m,
                        &thermal,
                        every(5, 0, 60, |t| if t < 20 { 0.0 } else { 1.0 }),
                    )
                    .build(),
                None,
            ),
            (
                "borderline: 10 of 12 samples (83%) is over 80%",
                Builder::new()
                    .gpu(
                        "n",
                        0,
                        None,
                        m,
                        &thermal,
                        every(5, 0, 60, |t| if t < 15 { 0.0 } else { 1.0 }),
                    )
                    .build(),
                Some(10.0 / 12.0),
            ),
            (
                "healthy: power cap is not a reason by default",
                Builder::new()
                    .gpu("n", 0, None, m, &power, every(5, 0, 60, |_| 1.0))
                    .build(),
                None,
            ),
            (
                "missing data: nothing in the window",
                Builder::new()
                    .gpu("n", 0, None, m, &thermal, [(0, 1.0)])
                    .build(),
                None,
            ),
        ];
        for (name, store, want) in cases {
            let got = evaluate(&store, &s, 60 * S).first().map(|f| f.value);
            assert_eq!(got, want, "{name}");
            same_on_any_clock(name, &store, |st, shift| evaluate(st, &s, 60 * S + shift));
        }
    }
    #[test]
    fn a_gpu_without_throttle_reasons_is_not_judged() {
        let s = AlertsConfig::default()
            .validate()
            .expect("defaults")
            .gpu_throttle;
        let thermal = [("gpuwatch.throttle.reason", "hw_thermal")];
        let store = Builder::new()
            // Reports its reasons: judged, never throttled.
            .gpu(
                "n",
                0,
                None,
                metric::GPU_THROTTLE,
                &thermal,
                every(5, 0, 60, |_| 0.0),
            )
            // Reports no reason at all (a sender without them): not judged.
            .gpu(
                "n",
                1,
                None,
                metric::GPU_UTILIZATION,
                &[],
                every(5, 0, 60, |_| 0.5),
            )
            .build();
        let e = judge(&store, &s, 60 * S);
        assert!(e.findings.is_empty());
        let got = e.unjudged_gpus();
        assert_eq!(got, [("n gpu1".to_string(), "no throttle reasons")]);
    }
}
