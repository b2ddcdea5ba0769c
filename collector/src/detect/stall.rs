//! `gpu_stalled`: a process holds GPU memory while the GPU does nothing. A free, idle
//! GPU (no process holding memory) is not stalled.

use std::time::Duration;

use gpuwatch_model::config::ConfigError;
use gpuwatch_model::names::{attr, metric};
use gpuwatch_model::{AlertKind, Finding, Severity};
use serde::{Deserialize, Serialize};

use super::config::{dur, ratio, s};
use super::detector::{Evaluation, NotEnoughData};
use super::window::{
    any_gpu_labels, gpu_labels, gpu_series, gpu_title, mean, utilization, value_at, Window,
};
use crate::store::Store;

/// `gpu_stalled`: a process holds memory on a GPU that does nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StallConfig {
    #[serde(rename = "for")]
    pub for_: String,
    /// Window the utilization is averaged over.
    pub window: String,
    /// Mean utilization (0..1) under which the GPU counts as doing nothing.
    pub max_utilization: f64,
    /// GPU memory (bytes) a process must hold to count.
    pub min_process_memory_bytes: u64,
}

impl Default for StallConfig {
    fn default() -> Self {
        StallConfig {
            for_: s("10m"),
            window: s("1m"),
            max_utilization: 0.05,
            min_process_memory_bytes: 1 << 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StallSettings {
    pub for_: i64,
    pub window: i64,
    pub max_utilization: f64,
    pub min_process_memory_bytes: f64,
}

impl StallConfig {
    pub fn validate(&self) -> Result<StallSettings, ConfigError> {
        let k = |name: &str| format!("collector.alerts.gpu_stalled.{name}");
        Ok(StallSettings {
            for_: dur(&k("for"), &self.for_, Duration::ZERO)?,
            window: dur(&k("window"), &self.window, Duration::from_secs(1))?,
            max_utilization: ratio(&k("max_utilization"), self.max_utilization)?,
            min_process_memory_bytes: self.min_process_memory_bytes as f64,
        })
    }
}

const GIB: f64 = (1u64 << 30) as f64;

#[cfg(test)]
pub fn evaluate(store: &Store, s: &StallSettings, t: i64) -> Vec<Finding> {
    judge(store, s, t).findings
}

/// `evaluate`, and the GPUs whose process holds memory but which report no
/// utilization to say whether they work.
pub fn judge(store: &Store, s: &StallSettings, t: i64) -> Evaluation {
    let mut unjudged = Vec::new();
    let mut out = Vec::new();
    for gpu in store.gpus().values() {
        // Each GPU on its node's clock (`store::clock`).
        let t = store.gpu_time(gpu, t);
        let w = Window::ending_at(t, s.window);
        // The biggest process still reported in the window.
        let holder = gpu_series(store, gpu, metric::GPU_PROCESS_MEMORY, &[])
            .filter(|p| {
                p.scalars()
                    .is_some_and(|r| r.window(w.from, w.to).next().is_some())
            })
            .filter_map(|p| Some((value_at(p, t)?, p)))
            .filter(|(bytes, _)| *bytes >= s.min_process_memory_bytes)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let Some((bytes, process)) = holder else {
            continue;
        };
        let Some(util_series) = utilization(store, gpu, t) else {
            unjudged.push(NotEnoughData::gpu(
                AlertKind::GpuStalled,
                any_gpu_labels(store, gpu),
                "no utilization",
            ));
            continue;
        };
        let Some(util) = mean(util_series, w).filter(|u| *u < s.max_utilization) else {
            continue;
        };
        let labels = gpu_labels(util_series);
        let exe = process
            .key
            .get(attr::PROCESS_EXECUTABLE)
            .unwrap_or("a process");
        let pid = process.key.get(attr::PROCESS_PID).unwrap_or("?");
        out.push(Finding {
            kind: AlertKind::GpuStalled,
            severity: Severity::Warning,
            summary: format!(
                "{}: {exe} (pid {pid}) holds {:.1} GiB but the GPU is {:.0}% busy over the last {}",
                gpu_title(&labels),
                bytes / GIB,
                util * 100.0,
                gpuwatch_model::duration::format(std::time::Duration::from_nanos(s.window as u64)),
            ),
            labels,
            value: util,
        });
    }
    Evaluation {
        findings: out,
        not_enough_data: unjudged,
    }
}

/// `gpu_stalled` in the one list (`detect.rs`).
#[derive(Debug)]
pub struct GpuStalled;

impl super::detector::Detector for GpuStalled {
    type Settings = StallSettings;
    fn settings(all: &super::config::AlertSettings) -> &Self::Settings {
        &all.gpu_stalled
    }
    fn evaluate(cx: &mut super::detector::Context<'_>, s: &Self::Settings) -> Evaluation {
        judge(cx.store, s, cx.t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::config::AlertsConfig;
    use crate::store::builder::{every, same_on_any_clock, Builder, S};

    const UTIL: &str = metric::GPU_UTILIZATION;
    const PROC: &str = metric::GPU_PROCESS_MEMORY;

    fn proc_attrs() -> [(&'static str, &'static str); 2] {
        [
            ("process.pid", "4242"),
            ("process.executable.name", "python"),
        ]
    }

    #[test]
    fn cases() {
        let s = AlertsConfig::default()
            .validate()
            .expect("defaults")
            .gpu_stalled;
        let held = 40.0 * GIB;
        let cases: Vec<(&str, Store, bool)> = vec![
            (
                "healthy: busy with a process",
                Builder::new()
                    .gpu("n", 0, Some("j"), UTIL, &[], every(5, 0, 60, |_| 0.9))
                    .gpu(
                        "n",
                        0,
                        Some("j"),
                        PROC,
                        &proc_attrs(),
                        every(5, 0, 60, |_| held),
                    )
                    .build(),
                false,
            ),
            (
                "healthy: free and idle, no process",
                Builder::new()
                    .gpu("n", 0, None, UTIL, &[], every(5, 0, 60, |_| 0.0))
                    .build(),
                false,
            ),
            (
                "faulty: a process holds 40 GiB, 1% busy",
                Builder::new()
                    .gpu("n", 0, Some("j"), UTIL, &[], every(5, 0, 60, |_| 0.01))
                    .gpu(
                        "n",
                        0,
                        Some("j"),
                        PROC,
                        &proc_attrs(),
                        every(5, 0, 60, |_| held),
                    )
                    .build(),
                true,
            ),
            (
                "borderline: 5.1% busy is not under 5%",
                Builder::new()
                    .gpu("n", 0, Some("j"), UTIL, &[], every(5, 0, 60, |_| 0.051))
                    .gpu(
                        "n",
                        0,
                        Some("j"),
                        PROC,
                        &proc_attrs(),
                        every(5, 0, 60, |_| held),
                    )
                    .build(),
                false,
            ),
            (
                "borderline: a process under the memory floor",
                Builder::new()
                    .gpu("n", 0, Some("j"), UTIL, &[], every(5, 0, 60, |_| 0.0))
                    .gpu(
                        "n",
                        0,
                        Some("j"),
                        PROC,
                        &proc_attrs(),
                        every(5, 0, 60, |_| 0.5 * GIB),
                    )
                    .build(),
                false,
            ),
            (
                "healthy: the process exited before the window",
                Builder::new()
                    .gpu("n", 0, Some("j"), UTIL, &[], every(5, 0, 200, |_| 0.0))
                    .gpu(
                        "n",
                        0,
                        Some("j"),
                        PROC,
                        &proc_attrs(),
                        every(5, 0, 60, |_| held),
                    )
                    .build(),
                false,
            ),
            (
                "missing data: no utilization reported",
                Builder::new()
                    .gpu(
                        "n",
                        0,
                        Some("j"),
                        PROC,
                        &proc_attrs(),
                        every(5, 0, 60, |_| held),
                    )
                    .build(),
                false,
            ),
        ];
        for (name, store, want) in cases {
            let t = if name.contains("exited") {
                200 * S
            } else {
                60 * S
            };
            let found = evaluate(&store, &s, t);
            assert_eq!(!found.is_empty(), want, "{name}: {found:?}");
            same_on_any_clock(name, &store, |st, shift| evaluate(st, &s, t + shift));
        }
    }

    #[test]
    fn summary_names_the_process() {
        let s = AlertsConfig::default()
            .validate()
            .expect("defaults")
            .gpu_stalled;
        let store = Builder::new()
            .gpu(
                "node-07",
                3,
                Some("4411"),
                UTIL,
                &[],
                every(5, 0, 60, |_| 0.01),
            )
            .gpu(
                "node-07",
                3,
                Some("4411"),
                PROC,
                &proc_attrs(),
                every(5, 0, 60, |_| 40.0 * GIB),
            )
            .build();
        let f = evaluate(&store, &s, 60 * S);
        assert_eq!(
            f[0].summary,
            "node-07 gpu3 (job 4411): python (pid 4242) holds 40.0 GiB but the GPU is 1% busy over the last 1m"
        );
    }
}
