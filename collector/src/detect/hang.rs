//! `gpu_hang`: busy but not working. Utilization pinned high while power sits near idle
//! (well below the GPU's limit) and NVLink plus PCIe carry next to nothing: the
//! signature of a job stuck in a collective. Where the job reports
//! `gpuwatch.train.step`, a step counter that stopped makes it certain, and one that
//! still advances rules it out. When every GPU of a job hangs, one finding names the
//! job and lists its GPUs.

use std::collections::BTreeMap;
use std::time::Duration;

use gpuwatch_model::config::ConfigError;
use gpuwatch_model::names::{attr, metric};
use gpuwatch_model::{AlertKind, Finding, Severity};
use serde::{Deserialize, Serialize};

use super::config::{dur, ratio, s};
use super::detector::{Evaluation, NotEnoughData};
use super::window::{
    any_gpu_labels, current, gpu_labels, gpu_series, gpu_title, mean, rate, utilization, value_at,
    Window,
};
use crate::store::Store;

/// `gpu_hang`: busy but not working.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HangConfig {
    /// How long the condition must hold before the alert fires.
    #[serde(rename = "for")]
    pub for_: String,
    /// Window the utilization, power and traffic are averaged over.
    pub window: String,
    /// Utilization (0..1) at or above which a GPU counts as pinned.
    pub min_utilization: f64,
    /// Power at or below this share of the GPU's power limit counts as idle power.
    pub max_power_ratio: f64,
    /// NVLink plus PCIe traffic (bytes/s, both directions) at or below which the GPU
    /// counts as moving no data.
    pub max_io_bytes_per_second: f64,
}

impl Default for HangConfig {
    fn default() -> Self {
        HangConfig {
            for_: s("5m"),
            window: s("1m"),
            min_utilization: 0.95,
            max_power_ratio: 0.35,
            max_io_bytes_per_second: 50e6,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HangSettings {
    pub for_: i64,
    pub window: i64,
    pub min_utilization: f64,
    pub max_power_ratio: f64,
    pub max_io_bytes_per_second: f64,
}

impl HangConfig {
    pub fn validate(&self) -> Result<HangSettings, ConfigError> {
        let k = |name: &str| format!("collector.alerts.gpu_hang.{name}");
        if self.max_io_bytes_per_second.is_nan() || self.max_io_bytes_per_second < 0.0 {
            return Err(ConfigError::new(
                k("max_io_bytes_per_second"),
                format!("must be 0 or more, got {}", self.max_io_bytes_per_second),
            ));
        }
        Ok(HangSettings {
            for_: dur(&k("for"), &self.for_, Duration::ZERO)?,
            window: dur(&k("window"), &self.window, Duration::from_secs(1))?,
            min_utilization: ratio(&k("min_utilization"), self.min_utilization)?,
            max_power_ratio: ratio(&k("max_power_ratio"), self.max_power_ratio)?,
            max_io_bytes_per_second: self.max_io_bytes_per_second,
        })
    }
}

/// One hung GPU.
struct Hung {
    labels: BTreeMap<String, String>,
    util: f64,
    power: f64,
    io: f64,
}

/// Per job, whether its step counters advanced in the window: `true` if any did,
/// `false` if the job has counters and none moved; jobs without counters are absent.
/// (A counter's first point is no progress: only growth between points counts.)
fn steps_advanced(
    store: &Store,
    jobs: &BTreeMap<String, Vec<Hung>>,
    window: i64,
    t: i64,
) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    if jobs.is_empty() {
        return out;
    }
    let counters = store
        .series()
        .iter()
        .filter(|s| s.key.metric() == metric::TRAIN_STEP);
    for s in counters {
        let Some(job) = s.key.get(attr::JOB_ID).filter(|j| jobs.contains_key(*j)) else {
            continue;
        };
        // On the clock of whoever sends the counter.
        let w = Window::ending_at(store.series_time(s, t), window);
        let moved = rate(s, w).is_some_and(|r| r > 0.0);
        *out.entry(job.to_string()).or_insert(false) |= moved;
    }
    out
}

#[cfg(test)]
pub fn evaluate(store: &Store, s: &HangSettings, t: i64) -> Vec<Finding> {
    judge(store, s, t).findings
}

/// `evaluate`, and the GPUs it could not judge: no utilization, or busy with no power
/// or no traffic counters to tell a hang from work.
pub fn judge(store: &Store, s: &HangSettings, t: i64) -> Evaluation {
    let mut unjudged = Vec::new();
    let mut cannot = |gpu, missing: &str| {
        unjudged.push(NotEnoughData::gpu(
            AlertKind::GpuHang,
            any_gpu_labels(store, gpu),
            missing,
        ));
    };
    let mut hung: Vec<Hung> = Vec::new();
    // GPUs per job at t, hung or not, to tell a whole-job hang.
    let mut job_sizes: BTreeMap<String, usize> = BTreeMap::new();
    for gpu in store.gpus().values() {
        // Each GPU on its node's clock, so a job's GPUs on nodes whose clocks disagree
        // are judged over the same real minute (`store::clock`).
        let t = store.gpu_time(gpu, t);
        let w = Window::ending_at(t, s.window);
        let Some(util_series) = utilization(store, gpu, t) else {
            cannot(gpu, "no utilization");
            continue;
        };
        let labels = gpu_labels(util_series);
        if let Some(job) = labels.get(attr::JOB_ID) {
            *job_sizes.entry(job.clone()).or_default() += 1;
        }
        let Some(util) = mean(util_series, w).filter(|u| *u >= s.min_utilization) else {
            continue;
        };
        let Some(power) = current(store, gpu, metric::POWER, &[], t).and_then(|p| mean(p, w))
        else {
            cannot(gpu, "no power");
            continue;
        };
        let limit =
            current(store, gpu, metric::GPU_POWER_LIMIT, &[], t).and_then(|p| value_at(p, t));
        // Without a reported limit, the most this GPU was seen drawing stands in.
        let reference = limit.or_else(|| {
            current(store, gpu, metric::POWER, &[], t)?
                .scalars()?
                .window(i64::MIN, t)
                .map(|(_, v)| v)
                .reduce(f64::max)
        });
        let Some(reference) = reference.filter(|r| *r > 0.0) else {
            continue;
        };
        if power > s.max_power_ratio * reference {
            continue;
        }
        let io_rates: Vec<f64> = gpu_series(store, gpu, metric::GPU_IO, &[])
            .filter_map(|series| rate(series, w))
            .collect();
        // No traffic counters: the traffic cannot be judged, so neither can a hang.
        if io_rates.is_empty() {
            cannot(gpu, "no NVLink or PCIe counters");
            continue;
        }
        let io: f64 = io_rates.iter().sum();
        if io > s.max_io_bytes_per_second {
            continue;
        }
        hung.push(Hung {
            labels,
            util,
            power,
            io,
        });
    }

    let mut out = Vec::new();
    let mut by_job: BTreeMap<String, Vec<Hung>> = BTreeMap::new();
    for h in hung {
        match h.labels.get(attr::JOB_ID).cloned() {
            Some(job) => by_job.entry(job).or_default().push(h),
            None => out.push(gpu_finding(h, None, s)),
        }
    }
    let steps = steps_advanced(store, &by_job, s.window, t);
    for (job, gpus) in by_job {
        let advanced = steps.get(&job).copied();
        if advanced == Some(true) {
            continue;
        }
        let certain = advanced == Some(false);
        if gpus.len() >= 2 && job_sizes.get(&job) == Some(&gpus.len()) {
            out.push(job_finding(&job, &gpus, certain));
        } else {
            out.extend(gpus.into_iter().map(|h| gpu_finding(h, Some(certain), s)));
        }
    }
    Evaluation {
        findings: out,
        not_enough_data: unjudged,
    }
}

fn step_note(certain: bool) -> &'static str {
    if certain {
        "; training steps stopped"
    } else {
        ""
    }
}

fn gpu_finding(h: Hung, certain: Option<bool>, s: &HangSettings) -> Finding {
    Finding {
        kind: AlertKind::GpuHang,
        severity: Severity::Critical,
        summary: format!(
            "{}: {:.0}% busy at {:.0} W with {:.0} MB/s of NVLink and PCIe traffic over the last {}{}",
            gpu_title(&h.labels),
            h.util * 100.0,
            h.power,
            h.io / 1e6,
            gpuwatch_model::duration::format(std::time::Duration::from_nanos(s.window as u64)),
            step_note(certain.unwrap_or(false)),
        ),
        labels: h.labels,
        value: h.util,
    }
}

fn job_finding(job: &str, gpus: &[Hung], certain: bool) -> Finding {
    let mut names: Vec<String> = gpus
        .iter()
        .map(|h| {
            let get = |k: &str| h.labels.get(k).map_or("?", String::as_str);
            format!("{} {}", get(attr::HOST_NAME), get(attr::HW_NAME))
        })
        .collect();
    names.sort();
    let util = gpus.iter().map(|h| h.util).sum::<f64>() / gpus.len() as f64;
    Finding {
        kind: AlertKind::GpuHang,
        severity: Severity::Critical,
        labels: BTreeMap::from([(attr::JOB_ID.to_string(), job.to_string())]),
        value: util,
        summary: format!(
            "job {job}: all {} GPUs hang, busy with no NVLink or PCIe traffic{}: {}",
            gpus.len(),
            step_note(certain),
            names.join(", ")
        ),
    }
}

/// `gpu_hang` in the one list (`detect.rs`).
#[derive(Debug)]
pub struct GpuHang;

impl super::detector::Detector for GpuHang {
    type Settings = HangSettings;
    fn settings(all: &super::config::AlertSettings) -> &Self::Settings {
        &all.gpu_hang
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

    /// A GPU of `job` on `host`: utilization, power (limit 700 W) and NVLink bytes
    /// growing at `io` bytes/s, sampled every 5 s over the first minute.
    fn gpu(b: &mut Builder, host: &str, i: u32, job: Option<&str>, util: f64, watts: f64, io: f64) {
        let nvlink = [
            ("gpuwatch.link", "nvlink"),
            ("network.io.direction", "transmit"),
        ];
        b.gpu(
            host,
            i,
            job,
            metric::GPU_UTILIZATION,
            &[],
            every(5, 0, 60, |_| util),
        )
        .gpu(host, i, job, metric::POWER, &[], every(5, 0, 60, |_| watts))
        .gpu(
            host,
            i,
            job,
            metric::GPU_POWER_LIMIT,
            &[],
            every(5, 0, 60, |_| 700.0),
        )
        .gpu(
            host,
            i,
            job,
            metric::GPU_IO,
            &nvlink,
            every(5, 0, 60, |t| io * t as f64),
        );
    }

    fn run(b: &mut Builder) -> Vec<Finding> {
        let s = AlertsConfig::default()
            .validate()
            .expect("defaults")
            .gpu_hang;
        evaluate(&b.build(), &s, 60 * S)
    }

    #[test]
    fn cases() {
        type Setup = Box<dyn Fn(&mut Builder)>;
        let cases: Vec<(&str, Setup, Vec<&str>)> = vec![
            (
                "healthy: busy, hot and talking",
                Box::new(|b| gpu(b, "n", 0, Some("j"), 0.99, 650.0, 150e9)),
                vec![],
            ),
            (
                "healthy: idle",
                Box::new(|b| gpu(b, "n", 0, None, 0.0, 70.0, 0.0)),
                vec![],
            ),
            (
                "faulty: pinned at idle power, silent",
                Box::new(|b| gpu(b, "n", 0, None, 0.99, 80.0, 0.0)),
                vec!["n gpu0"],
            ),
            (
                "borderline: power just over 35% of the limit",
                Box::new(|b| gpu(b, "n", 0, None, 0.99, 246.0, 0.0)),
                vec![],
            ),
            (
                "borderline: utilization 94% is under 95%",
                Box::new(|b| gpu(b, "n", 0, None, 0.94, 80.0, 0.0)),
                vec![],
            ),
            (
                "borderline: 60 MB/s of traffic is over 50 MB/s",
                Box::new(|b| gpu(b, "n", 0, None, 0.99, 80.0, 60e6)),
                vec![],
            ),
            (
                "faulty: one GPU of a two-GPU job",
                Box::new(|b| {
                    gpu(b, "n", 0, Some("7"), 0.99, 80.0, 0.0);
                    gpu(b, "n", 1, Some("7"), 0.99, 650.0, 150e9);
                }),
                vec!["n gpu0 (job 7)"],
            ),
            (
                "faulty: the whole job hangs: one finding for the job",
                Box::new(|b| {
                    gpu(b, "a", 0, Some("7"), 0.99, 80.0, 0.0);
                    gpu(b, "b", 0, Some("7"), 1.0, 75.0, 1e3);
                }),
                vec!["job 7"],
            ),
            (
                "healthy: the training steps still advance",
                Box::new(|b| {
                    gpu(b, "n", 0, Some("7"), 0.99, 80.0, 0.0);
                    b.series(
                        metric::TRAIN_STEP,
                        &[("gpuwatch.job.id", "7")],
                        every(5, 0, 60, |t| t as f64),
                    );
                }),
                vec![],
            ),
            (
                "missing data: no traffic counters",
                Box::new(|b| {
                    b.gpu(
                        "n",
                        0,
                        None,
                        metric::GPU_UTILIZATION,
                        &[],
                        every(5, 0, 60, |_| 0.99),
                    )
                    .gpu(
                        "n",
                        0,
                        None,
                        metric::POWER,
                        &[],
                        every(5, 0, 60, |_| 80.0),
                    );
                }),
                vec![],
            ),
        ];
        for (name, setup, want) in cases {
            let mut b = Builder::new();
            setup(&mut b);
            let store = b.build();
            let s = AlertsConfig::default()
                .validate()
                .expect("defaults")
                .gpu_hang;
            let got: Vec<String> = evaluate(&store, &s, 60 * S)
                .iter()
                .map(|f| match f.labels.get("hw.name") {
                    Some(_) => gpu_title(&f.labels),
                    None => format!("job {}", f.labels["gpuwatch.job.id"]),
                })
                .collect();
            assert_eq!(got, want, "{name}");
            same_on_any_clock(name, &store, |st, shift| evaluate(st, &s, 60 * S + shift));
        }
    }

    #[test]
    fn stopped_steps_make_it_certain() {
        let mut b = Builder::new();
        gpu(&mut b, "a", 0, Some("7"), 0.99, 80.0, 0.0);
        gpu(&mut b, "a", 1, Some("7"), 0.99, 80.0, 0.0);
        // A counter first seen inside the window, at 1200, has not advanced.
        b.series(
            metric::TRAIN_STEP,
            &[("gpuwatch.job.id", "7")],
            every(5, 10, 60, |_| 1200.0),
        );
        let f = run(&mut b);
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].summary,
            "job 7: all 2 GPUs hang, busy with no NVLink or PCIe traffic; training steps stopped: a gpu0, a gpu1"
        );
    }
    #[test]
    fn a_gpu_it_cannot_judge_is_named_with_what_is_missing() {
        let s = AlertsConfig::default()
            .validate()
            .expect("defaults")
            .gpu_hang;
        let mut b = Builder::new();
        // Memory but no utilization: nothing to judge a hang by.
        b.gpu(
            "n",
            0,
            None,
            metric::GPU_MEMORY_USAGE,
            &[],
            every(5, 0, 60, |_| 1e9),
        );
        // Busy, but no power: a hang cannot be told from work.
        b.gpu(
            "n",
            1,
            None,
            metric::GPU_UTILIZATION,
            &[],
            every(5, 0, 60, |_| 0.99),
        );
        // Everything: judged, and healthy.
        gpu(&mut b, "n", 2, None, 0.99, 650.0, 150e9);
        let e = judge(&b.build(), &s, 60 * S);
        assert!(e.findings.is_empty());
        let got = e.unjudged_gpus();
        assert_eq!(
            got,
            [
                ("n gpu0".to_string(), "no utilization"),
                ("n gpu1".to_string(), "no power"),
            ]
        );
        assert!(e
            .not_enough_data
            .iter()
            .all(|n| n.kind == AlertKind::GpuHang));
    }
}
