//! `gpu_straggler`: within one job, across nodes, a GPU whose utilization or NVLink
//! throughput stays far below the job's median: a relative score, as NVIDIA's
//! straggler detection scores ranks against their peers. A GPU that looks hung
//! (pinned, no traffic) is left to `gpu_hang`, and one doing nothing at all (under 5%
//! busy) to `gpu_stalled`: a straggler works, only slower.

use std::collections::BTreeMap;
use std::time::Duration;

use gpuwatch_model::config::ConfigError;
use gpuwatch_model::names::{attr, metric, value};
use gpuwatch_model::{AlertKind, Finding, Severity};
use serde::{Deserialize, Serialize};

use super::config::{dur, ratio, s};
use super::detector::{Evaluation, NotEnoughData};
use super::window::{gpu_labels, gpu_series, gpu_title, mean, median, rate, utilization, Window};
use crate::store::Store;

/// `gpu_straggler`: one GPU of a job far below the job's median.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StragglerConfig {
    #[serde(rename = "for")]
    pub for_: String,
    pub window: String,
    /// A GPU whose utilization or NVLink rate, over the job's median, is under this
    /// score is a straggler.
    pub max_score: f64,
    /// Jobs with fewer GPUs reporting are not judged.
    pub min_gpus: usize,
    /// Jobs whose median utilization is under this are idle, not straggling.
    pub min_job_utilization: f64,
}

impl Default for StragglerConfig {
    fn default() -> Self {
        StragglerConfig {
            for_: s("5m"),
            window: s("1m"),
            max_score: 0.7,
            min_gpus: 4,
            min_job_utilization: 0.5,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StragglerSettings {
    pub for_: i64,
    pub window: i64,
    pub max_score: f64,
    pub min_gpus: usize,
    pub min_job_utilization: f64,
}

impl StragglerConfig {
    pub fn validate(&self) -> Result<StragglerSettings, ConfigError> {
        let k = |name: &str| format!("collector.alerts.gpu_straggler.{name}");
        if self.min_gpus < 2 {
            return Err(ConfigError::new(
                k("min_gpus"),
                format!(
                    "must be at least 2 (a median needs peers), got {}",
                    self.min_gpus
                ),
            ));
        }
        Ok(StragglerSettings {
            for_: dur(&k("for"), &self.for_, Duration::ZERO)?,
            window: dur(&k("window"), &self.window, Duration::from_secs(1))?,
            max_score: ratio(&k("max_score"), self.max_score)?,
            min_gpus: self.min_gpus,
            min_job_utilization: ratio(&k("min_job_utilization"), self.min_job_utilization)?,
        })
    }
}

struct Member {
    labels: BTreeMap<String, String>,
    util: f64,
    /// NVLink bytes/s sent, when the GPU reports NVLink.
    nvlink: Option<f64>,
}

/// `degraded` names the degraded fabric ports of each node (`fabric::degraded_ports`):
/// a straggler's summary says so when its node has one.
#[cfg(test)]
pub fn evaluate(
    store: &Store,
    s: &StragglerSettings,
    degraded: &BTreeMap<String, String>,
    t: i64,
) -> Vec<Finding> {
    judge(store, s, degraded, t).findings
}

/// `evaluate`, and the working GPUs of jobs too small to judge: fewer than
/// `min_gpus` of them give no median to fall behind.
pub fn judge(
    store: &Store,
    s: &StragglerSettings,
    degraded: &BTreeMap<String, String>,
    t: i64,
) -> Evaluation {
    let mut unjudged = Vec::new();
    let mut jobs: BTreeMap<String, Vec<Member>> = BTreeMap::new();
    for gpu in store.gpus().values() {
        // Each GPU on its node's clock, so peers on nodes whose clocks disagree are
        // compared over the same real minutes (`store::clock`).
        let t = store.gpu_time(gpu, t);
        let w = Window::ending_at(t, s.window);
        let Some(util_series) = utilization(store, gpu, t) else {
            continue;
        };
        let labels = gpu_labels(util_series);
        let (Some(job), Some(util)) = (labels.get(attr::JOB_ID).cloned(), mean(util_series, w))
        else {
            continue;
        };
        let tx = [
            (attr::LINK, value::LINK_NVLINK),
            (attr::IO_DIRECTION, value::TRANSMIT),
        ];
        let nvlink = gpu_series(store, gpu, metric::GPU_IO, &tx)
            .filter_map(|x| rate(x, w))
            .reduce(f64::max);
        jobs.entry(job).or_default().push(Member {
            labels,
            util,
            nvlink,
        });
    }
    let mut out = Vec::new();
    for members in jobs.into_values() {
        // Hung and idle GPUs are other detectors' business, and left out of the medians
        // too: half a job hanging must not make its healthy half look fast.
        let members: Vec<Member> = members
            .into_iter()
            .filter(|m| {
                let looks_hung = m.util >= 0.95 && m.nvlink.is_some_and(|r| r < 1e6);
                let does_nothing = m.util < 0.05;
                !looks_hung && !does_nothing
            })
            .collect();
        if members.len() < s.min_gpus {
            let n = members.len();
            let missing = format!(
                "{n} working GPU{} in its job, fewer than the {} a median needs",
                if n == 1 { "" } else { "s" },
                s.min_gpus
            );
            unjudged.extend(
                members
                    .into_iter()
                    .map(|m| NotEnoughData::gpu(AlertKind::GpuStraggler, m.labels, &missing)),
            );
            continue;
        }
        let Some(util_median) = median(&mut members.iter().map(|m| m.util).collect::<Vec<_>>())
        else {
            continue;
        };
        if util_median < s.min_job_utilization {
            continue;
        }
        let nvlink_median =
            median(&mut members.iter().filter_map(|m| m.nvlink).collect::<Vec<_>>())
                .filter(|m| *m > 0.0);
        for m in members {
            let util_score = m.util / util_median;
            let nvlink_score = nvlink_median.zip(m.nvlink).map(|(med, r)| r / med);
            let score = nvlink_score.map_or(util_score, |n| n.min(util_score));
            if score >= s.max_score {
                continue;
            }
            let traffic = match (m.nvlink, nvlink_median) {
                (Some(r), Some(med)) => {
                    format!(", NVLink {:.0} GB/s against {:.0} GB/s", r / 1e9, med / 1e9)
                }
                _ => String::new(),
            };
            let fabric = m
                .labels
                .get(attr::HOST_NAME)
                .and_then(|h| degraded.get(h))
                .map(|ports| format!("; its node's fabric is degraded: {ports}"))
                .unwrap_or_default();
            out.push(Finding {
                kind: AlertKind::GpuStraggler,
                severity: Severity::Warning,
                summary: format!(
                    "{}: {:.0}% busy against the job's median {:.0}%{traffic} (score {score:.2}){fabric}",
                    gpu_title(&m.labels),
                    m.util * 100.0,
                    util_median * 100.0,
                ),
                labels: m.labels,
                value: score,
            });
        }
    }
    Evaluation {
        findings: out,
        not_enough_data: unjudged,
    }
}

/// The `straggler` detector in the one list (`detect.rs`).
#[derive(Debug)]
pub struct GpuStraggler;

impl super::detector::Detector for GpuStraggler {
    type Settings = StragglerSettings;
    fn settings(all: &super::config::AlertSettings) -> &Self::Settings {
        &all.gpu_straggler
    }
    fn evaluate(
        cx: &mut super::detector::Context<'_>,
        s: &Self::Settings,
    ) -> super::detector::Evaluation {
        judge(cx.store, s, &cx.degraded, cx.t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::config::AlertsConfig;
    use crate::store::builder::{every, same_on_any_clock, Builder, S};

    /// A GPU of job 9 on `host` with `util` and NVLink at `gbps` GB/s.
    fn gpu(b: &mut Builder, host: &str, i: u32, util: f64, gbps: f64) {
        let tx = [
            ("gpuwatch.link", "nvlink"),
            ("network.io.direction", "transmit"),
        ];
        b.gpu(
            host,
            i,
            Some("9"),
            metric::GPU_UTILIZATION,
            &[],
            every(5, 0, 60, |_| util),
        )
        .gpu(
            host,
            i,
            Some("9"),
            metric::GPU_IO,
            &tx,
            every(5, 0, 60, |t| gbps * 1e9 * t as f64),
        );
    }

    #[test]
    fn cases() {
        let s = AlertsConfig::default()
            .validate()
            .expect("defaults")
            .gpu_straggler;
        type Setup = Box<dyn Fn(&mut Builder)>;
        let eight = |odd: Box<dyn Fn(&mut Builder)>| -> Setup {
            Box::new(move |b| {
                for i in 0..7 {
                    gpu(b, if i < 4 { "a" } else { "b" }, i % 4, 0.96, 190.0);
                }
                odd(b);
            })
        };
        let cases: Vec<(&str, Setup, Vec<&str>)> = vec![
            (
                "healthy: all peers alike",
                eight(Box::new(|b| gpu(b, "b", 3, 0.95, 185.0))),
                vec![],
            ),
            (
                "faulty: slow and half the traffic",
                eight(Box::new(|b| gpu(b, "b", 3, 0.60, 95.0))),
                vec!["b gpu3 (job 9)"],
            ),
            (
                "faulty: busy but a third of the traffic",
                eight(Box::new(|b| gpu(b, "b", 3, 0.96, 60.0))),
                vec!["b gpu3 (job 9)"],
            ),
            (
                "borderline: 72% of the median is over 0.7",
                eight(Box::new(|b| gpu(b, "b", 3, 0.96 * 0.72, 190.0))),
                vec![],
            ),
            (
                "healthy: a hung GPU is gpu_hang's",
                eight(Box::new(|b| gpu(b, "b", 3, 0.99, 0.0))),
                vec![],
            ),
            (
                "healthy: a GPU doing nothing is gpu_stalled's",
                eight(Box::new(|b| gpu(b, "b", 3, 0.01, 0.0))),
                vec![],
            ),
            (
                "faulty: half the job hangs; the medians come from the rest",
                Box::new(|b| {
                    for i in 0..4 {
                        gpu(b, "a", i, 0.99, 0.0);
                    }
                    for i in 0..3 {
                        gpu(b, "b", i, 0.96, 190.0);
                    }
                    gpu(b, "b", 3, 0.60, 95.0);
                }),
                vec!["b gpu3 (job 9)"],
            ),
            (
                "healthy: an idle job has no straggler",
                Box::new(|b| {
                    for i in 0..4 {
                        gpu(b, "a", i, if i == 0 { 0.0 } else { 0.2 }, 0.0);
                    }
                }),
                vec![],
            ),
            (
                "missing data: too few GPUs to judge",
                Box::new(|b| {
                    gpu(b, "a", 0, 0.96, 190.0);
                    gpu(b, "a", 1, 0.30, 20.0);
                }),
                vec![],
            ),
        ];
        for (name, setup, want) in cases {
            let mut b = Builder::new();
            setup(&mut b);
            let store = b.build();
            let none = BTreeMap::new();
            let got: Vec<String> = evaluate(&store, &s, &none, 60 * S)
                .iter()
                .map(|f| gpu_title(&f.labels))
                .collect();
            assert_eq!(got, want, "{name}");
            same_on_any_clock(name, &store, |st, shift| {
                evaluate(st, &s, &none, 60 * S + shift)
            });
        }
    }

    #[test]
    fn a_straggler_on_a_node_with_a_degraded_port_says_so() {
        let s = AlertsConfig::default()
            .validate()
            .expect("defaults")
            .gpu_straggler;
        let mut b = Builder::new();
        for i in 0..7 {
            gpu(&mut b, if i < 4 { "a" } else { "b" }, i % 4, 0.96, 190.0);
        }
        gpu(&mut b, "b", 3, 0.60, 95.0);
        let store = b.build();
        let degraded = BTreeMap::from([
            (
                "b".to_string(),
                "mlx5_3:1 (running at 200 Gb/s, rated 400 Gb/s)".to_string(),
            ),
            ("c".to_string(), "mlx5_0:1 (link down)".to_string()),
        ]);
        let found = evaluate(&store, &s, &degraded, 60 * S);
        assert_eq!(found.len(), 1);
        assert!(
            found[0].summary.ends_with(
                "; its node's fabric is degraded: mlx5_3:1 (running at 200 Gb/s, rated 400 Gb/s)"
            ),
            "{}",
            found[0].summary
        );
        // Only its own node's ports.
        let elsewhere = BTreeMap::from([("a".to_string(), "mlx5_0:1 (link down)".to_string())]);
        let found = evaluate(&store, &s, &elsewhere, 60 * S);
        assert!(!found[0].summary.contains("fabric"), "{}", found[0].summary);
    }
    #[test]
    fn a_job_too_small_for_a_median_is_not_judged() {
        let s = AlertsConfig::default()
            .validate()
            .expect("defaults")
            .gpu_straggler;
        let mut b = Builder::new();
        // Job 9 on two GPUs, one far behind: under the default 4, no median to judge by.
        gpu(&mut b, "n", 0, 0.97, 300.0);
        gpu(&mut b, "n", 1, 0.40, 100.0);
        let e = judge(&b.build(), &s, &BTreeMap::new(), 60 * S);
        assert!(e.findings.is_empty());
        let got = e.unjudged_gpus();
        let why = "2 working GPUs in its job, fewer than the 4 a median needs";
        assert_eq!(
            got,
            [
                ("n gpu0 (job 9)".to_string(), why),
                ("n gpu1 (job 9)".to_string(), why)
            ]
        );
    }
}
