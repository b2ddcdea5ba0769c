//! `gpu_xid`: XID errors the driver reported, with NVIDIA's catalog deciding severity.

use std::time::Duration;

use gpuwatch_model::config::ConfigError;
use gpuwatch_model::names::{attr, metric};
use gpuwatch_model::{AlertKind, Finding, Severity};
use serde::{Deserialize, Serialize};

use super::config::{dur, s};
use super::window::{gpu_labels, gpu_series, gpu_title, increase, Window};
use crate::store::Store;

/// `gpu_xid`: XID errors, by NVIDIA's catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct XidConfig {
    /// An XID keeps its alert firing this long after the last event.
    pub window: String,
    /// Codes that page: double-bit ECC, row-remap failure, NVLink error, fallen off
    /// the bus, contained and uncontained ECC errors.
    pub critical: Vec<u32>,
    /// Codes worth a look: graphics engine exception, memory page fault, reset channel.
    pub warning: Vec<u32>,
    /// Severity of other codes: "info", "warning" or "critical".
    pub other: String,
}

impl Default for XidConfig {
    fn default() -> Self {
        XidConfig {
            window: s("10m"),
            critical: vec![48, 63, 64, 74, 79, 94, 95],
            warning: vec![13, 31, 43],
            other: s("info"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct XidSettings {
    pub window: i64,
    pub critical: Vec<u32>,
    pub warning: Vec<u32>,
    pub other: Severity,
}

impl XidSettings {
    pub fn severity(&self, code: u32) -> Severity {
        if self.critical.contains(&code) {
            Severity::Critical
        } else if self.warning.contains(&code) {
            Severity::Warning
        } else {
            self.other
        }
    }
}

impl XidConfig {
    pub fn validate(&self) -> Result<XidSettings, ConfigError> {
        let k = |name: &str| format!("collector.alerts.gpu_xid.{name}");
        let other = match self.other.as_str() {
            "info" => Severity::Info,
            "warning" => Severity::Warning,
            "critical" => Severity::Critical,
            v => {
                return Err(ConfigError::new(
                    k("other"),
                    format!("must be \"info\", \"warning\" or \"critical\", got {v:?}"),
                ))
            }
        };
        Ok(XidSettings {
            window: dur(&k("window"), &self.window, Duration::from_secs(1))?,
            critical: self.critical.clone(),
            warning: self.warning.clone(),
            other,
        })
    }
}

/// What a code means, for the summary (NVIDIA's XID catalog).
fn meaning(code: u32) -> &'static str {
    match code {
        13 => "graphics engine exception",
        31 => "GPU memory page fault",
        43 => "GPU stopped processing",
        48 => "double-bit ECC error",
        63 => "ECC page retirement or row remapping event",
        64 => "ECC page retirement or row remapper failure",
        74 => "NVLink error",
        79 => "GPU has fallen off the bus",
        94 => "contained ECC error",
        95 => "uncontained ECC error",
        _ => "see NVIDIA's XID catalog",
    }
}

pub fn evaluate(store: &Store, s: &XidSettings, t: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    for gpu in store.gpus().values() {
        // Each GPU on its node's clock (`store::clock`).
        let w = Window::ending_at(store.gpu_time(gpu, t), s.window);
        for series in gpu_series(store, gpu, metric::GPU_XID, &[]) {
            let Some(code) = series
                .key
                .get(attr::XID_CODE)
                .and_then(|c| c.parse::<u32>().ok())
            else {
                continue;
            };
            let Some(events) = increase(series, w).filter(|n| *n > 0.0) else {
                continue;
            };
            let mut labels = gpu_labels(series);
            labels.insert(attr::XID_CODE.to_string(), code.to_string());
            out.push(Finding {
                kind: AlertKind::GpuXid,
                severity: s.severity(code),
                summary: format!(
                    "{}: XID {code} ({}), {events} in the last {}",
                    gpu_title(&labels),
                    meaning(code),
                    gpuwatch_model::duration::format(std::time::Duration::from_nanos(
                        s.window as u64
                    )),
                ),
                labels,
                value: events,
            });
        }
    }
    out
}

/// The `xid` detector in the one list (`detect.rs`).
#[derive(Debug)]
pub struct GpuXid;

impl super::detector::Detector for GpuXid {
    type Settings = XidSettings;
    fn settings(all: &super::config::AlertSettings) -> &Self::Settings {
        &all.gpu_xid
    }
    fn evaluate(
        cx: &mut super::detector::Context<'_>,
        s: &Self::Settings,
    ) -> super::detector::Evaluation {
        evaluate(cx.store, s, cx.t).into()
    }
}

#[cfg(test)]
mod tests {
    use gpuwatch_model::Severity;

    use super::*;
    use crate::detect::config::AlertsConfig;
    use crate::store::builder::{same_on_any_clock, Builder, M, S};

    fn settings() -> XidSettings {
        AlertsConfig::default()
            .validate()
            .expect("defaults")
            .gpu_xid
    }

    #[test]
    fn cases() {
        let xid = metric::GPU_XID;
        // (name, store, evaluation time, expected (code, severity, count))
        type Case = (&'static str, Store, i64, Vec<(u32, Severity, f64)>);
        let cases: Vec<Case> = vec![
            (
                "healthy: no XID series",
                Builder::new()
                    .gpu("n", 0, None, "hw.power", &[], [(0, 1.0)])
                    .build(),
                60 * S,
                vec![],
            ),
            (
                "faulty: XID 79 appears",
                Builder::new()
                    .gpu(
                        "n",
                        0,
                        Some("j"),
                        xid,
                        &[("gpuwatch.xid.code", "79")],
                        [(50, 1.0), (55, 1.0)],
                    )
                    .build(),
                60 * S,
                vec![(79, Severity::Critical, 1.0)],
            ),
            (
                "faulty: a warning code counting up",
                Builder::new()
                    .gpu(
                        "n",
                        0,
                        None,
                        xid,
                        &[("gpuwatch.xid.code", "13")],
                        [(0, 1.0), (30, 1.0), (60, 3.0)],
                    )
                    .build(),
                60 * S,
                vec![(13, Severity::Warning, 3.0)],
            ),
            (
                "borderline: the event left the window",
                Builder::new()
                    .gpu(
                        "n",
                        0,
                        None,
                        xid,
                        &[("gpuwatch.xid.code", "79")],
                        [(0, 1.0), (700, 1.0)],
                    )
                    .build(),
                700 * S,
                vec![],
            ),
            (
                "borderline: an old event, still inside the 10m window",
                Builder::new()
                    .gpu(
                        "n",
                        0,
                        None,
                        xid,
                        &[("gpuwatch.xid.code", "79")],
                        [(0, 1.0), (500, 1.0)],
                    )
                    .build(),
                500 * S,
                vec![(79, Severity::Critical, 1.0)],
            ),
            (
                "missing data: the series has no point yet at t",
                Builder::new()
                    .gpu(
                        "n",
                        0,
                        None,
                        xid,
                        &[("gpuwatch.xid.code", "79")],
                        [(120, 1.0)],
                    )
                    .build(),
                M,
                vec![],
            ),
        ];
        for (name, store, t, want) in cases {
            let got: Vec<(u32, Severity, f64)> = evaluate(&store, &settings(), t)
                .iter()
                .map(|f| {
                    (
                        f.labels["gpuwatch.xid.code"].parse().unwrap_or(0),
                        f.severity,
                        f.value,
                    )
                })
                .collect();
            assert_eq!(got, want, "{name}");
            same_on_any_clock(name, &store, |st, shift| {
                evaluate(st, &settings(), t + shift)
            });
        }
    }

    #[test]
    fn summary_says_what_and_where() {
        let store = Builder::new()
            .gpu(
                "node-07",
                3,
                Some("4411"),
                metric::GPU_XID,
                &[("gpuwatch.xid.code", "79")],
                [(10, 1.0)],
            )
            .build();
        let f = evaluate(&store, &settings(), 20 * S);
        assert_eq!(
            f[0].summary,
            "node-07 gpu3 (job 4411): XID 79 (GPU has fallen off the bus), 1 in the last 10m"
        );
        assert_eq!(f[0].labels["hw.id"], "GPU-node-07-3");
    }
}
