//! `[collector.alerts]` and one table per detector: thresholds and `for` durations.

use std::time::Duration;

use gpuwatch_model::Severity;
use serde::{Deserialize, Serialize};

use gpuwatch_model::config::ConfigError;

pub(super) fn s(v: &str) -> String {
    v.to_string()
}

/// The shared rules; `dur` gives nanoseconds, as the detectors count time.
pub(super) use gpuwatch_model::config::{nanos_at_least as dur, positive, ratio};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Event time between two evaluations of every detector.
    pub evaluation_interval: String,
    /// How far behind the newest point evaluation runs, so every agent's points for
    /// that instant have arrived.
    pub evaluation_delay: String,
    /// How long a firing alert's condition must stay clear before it resolves, so a
    /// value oscillating around a threshold does not flap.
    pub clear_for: String,
    /// How long resolved alerts stay listed by `/api/v1/alerts?state=resolved`.
    pub keep_resolved: String,
    pub gpu_hang: HangConfig,
    pub gpu_stalled: StallConfig,
    pub gpu_straggler: StragglerConfig,
    pub data_bottleneck: BottleneckConfig,
    pub gpu_throttle: ThrottleConfig,
    pub gpu_xid: XidConfig,
    pub node_absent: AbsentConfig,
    pub clock_skew: ClockSkewConfig,
    pub fabric_degraded: super::fabric::FabricConfig,
    pub model_drift: DriftConfig,
    pub latency_regression: DriftConfig,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            evaluation_interval: s("5s"),
            evaluation_delay: s("5s"),
            clear_for: s("1m"),
            keep_resolved: s("24h"),
            gpu_hang: HangConfig::default(),
            gpu_stalled: StallConfig::default(),
            gpu_straggler: StragglerConfig::default(),
            data_bottleneck: BottleneckConfig::default(),
            gpu_throttle: ThrottleConfig::default(),
            gpu_xid: XidConfig::default(),
            node_absent: AbsentConfig::default(),
            clock_skew: ClockSkewConfig::default(),
            fabric_degraded: super::fabric::FabricConfig::default(),
            model_drift: DriftConfig::default(),
            latency_regression: DriftConfig::default(),
        }
    }
}

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

/// `data_bottleneck`: a node's working GPUs under-used and swinging while the host
/// shows why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BottleneckConfig {
    #[serde(rename = "for")]
    pub for_: String,
    pub window: String,
    /// The node's working GPUs' mean utilization must be under this...
    pub max_utilization: f64,
    /// ...and swing by at least this much (max - min within the window, on average).
    pub min_swing: f64,
    /// `storage`: host iowait share at or above this...
    pub min_iowait: f64,
    /// ...or a disk busy at least this share of the time.
    pub min_disk_busy: f64,
    /// `cpu`: user plus system share at or above this.
    pub min_cpu: f64,
    /// `network`: an interface receiving at this share of the highest rate it was seen
    /// at in the store...
    pub network_ceiling_share: f64,
    /// ...when that is at least this many bytes/s (a link a data loader can saturate;
    /// an inference server's steady traffic stays under it). An InfiniBand or RoCE
    /// port counts at this share of its link rate.
    pub min_network_bytes_per_second: f64,
    /// `network`, too: a network file system (NFS, Lustre) reading at
    /// `network_ceiling_share` of the highest rate it was seen at, when that is at least
    /// this many bytes/s.
    pub min_filesystem_bytes_per_second: f64,
    /// `storage`, too: an NFS mount whose RPCs wait this long on average in the
    /// client's queue before they are sent (its transport is saturated).
    pub min_nfs_queue_time: String,
}

impl Default for BottleneckConfig {
    fn default() -> Self {
        BottleneckConfig {
            for_: s("5m"),
            window: s("2m"),
            max_utilization: 0.75,
            min_swing: 0.3,
            min_iowait: 0.2,
            min_disk_busy: 0.9,
            min_cpu: 0.9,
            network_ceiling_share: 0.9,
            min_network_bytes_per_second: 1e9,
            min_filesystem_bytes_per_second: 1e8,
            min_nfs_queue_time: s("10ms"),
        }
    }
}

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

/// `node_absent`: an agent stopped reporting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AbsentConfig {
    /// A node is absent when its newest point is this far behind the evaluation time.
    pub after: String,
}

impl Default for AbsentConfig {
    fn default() -> Self {
        AbsentConfig { after: s("30s") }
    }
}

/// `clock_skew`: a sender whose clock runs away from the fleet's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockSkewConfig {
    #[serde(rename = "for")]
    pub for_: String,
    /// A sender is skewed when its clock is further than this from the fleet's median.
    pub max_offset: String,
}

impl Default for ClockSkewConfig {
    fn default() -> Self {
        ClockSkewConfig {
            for_: s("2m"),
            max_offset: s("30s"),
        }
    }
}

/// Validated `clock_skew`; nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockSkewSettings {
    pub for_: i64,
    pub max_offset: i64,
}

/// Validated `[collector.alerts]`; durations in nanoseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    pub evaluation_interval: i64,
    pub evaluation_delay: i64,
    pub clear_for: i64,
    pub keep_resolved: i64,
    pub gpu_hang: HangSettings,
    pub gpu_stalled: StallSettings,
    pub gpu_straggler: StragglerSettings,
    pub data_bottleneck: BottleneckSettings,
    pub gpu_throttle: ThrottleSettings,
    pub gpu_xid: XidSettings,
    pub node_absent_after: i64,
    pub clock_skew: ClockSkewSettings,
    pub fabric_degraded: super::fabric::FabricSettings,
    pub model_drift: DriftSettings,
    pub latency_regression: DriftSettings,
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
    fn validate(&self, key: &str) -> Result<DriftSettings, ConfigError> {
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

#[derive(Debug, Clone, PartialEq)]
pub struct HangSettings {
    pub for_: i64,
    pub window: i64,
    pub min_utilization: f64,
    pub max_power_ratio: f64,
    pub max_io_bytes_per_second: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StallSettings {
    pub for_: i64,
    pub window: i64,
    pub max_utilization: f64,
    pub min_process_memory_bytes: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StragglerSettings {
    pub for_: i64,
    pub window: i64,
    pub max_score: f64,
    pub min_gpus: usize,
    pub min_job_utilization: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BottleneckSettings {
    pub for_: i64,
    pub window: i64,
    pub max_utilization: f64,
    pub min_swing: f64,
    pub min_iowait: f64,
    pub min_disk_busy: f64,
    pub min_cpu: f64,
    pub network_ceiling_share: f64,
    pub min_network_bytes_per_second: f64,
    pub min_filesystem_bytes_per_second: f64,
    pub min_nfs_queue_seconds: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleSettings {
    pub for_: i64,
    pub window: i64,
    pub min_share: f64,
    pub reasons: Vec<String>,
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

const THROTTLE_REASONS: [&str; 5] = [
    "hw_thermal",
    "sw_thermal",
    "sw_power_cap",
    "hw_power_brake",
    "hw_slowdown",
];

impl AlertsConfig {
    pub fn validate(&self) -> Result<AlertSettings, ConfigError> {
        let k = |key: &str| format!("collector.alerts.{key}");
        let zero = Duration::ZERO;
        let sec = Duration::from_secs(1);
        let h = &self.gpu_hang;
        let st = &self.gpu_stalled;
        let th = &self.gpu_throttle;
        let x = &self.gpu_xid;
        if let Some(bad) = th
            .reasons
            .iter()
            .find(|r| !THROTTLE_REASONS.contains(&r.as_str()))
        {
            return Err(ConfigError::new(
                k("gpu_throttle.reasons"),
                format!(
                    "must list values of {}, got {bad:?}",
                    THROTTLE_REASONS.join(", ")
                ),
            ));
        }
        let other = match x.other.as_str() {
            "info" => Severity::Info,
            "warning" => Severity::Warning,
            "critical" => Severity::Critical,
            v => {
                return Err(ConfigError::new(
                    k("gpu_xid.other"),
                    format!("must be \"info\", \"warning\" or \"critical\", got {v:?}"),
                ))
            }
        };
        if h.max_io_bytes_per_second.is_nan() || h.max_io_bytes_per_second < 0.0 {
            return Err(ConfigError::new(
                k("gpu_hang.max_io_bytes_per_second"),
                format!("must be 0 or more, got {}", h.max_io_bytes_per_second),
            ));
        }
        Ok(AlertSettings {
            evaluation_interval: dur(&k("evaluation_interval"), &self.evaluation_interval, sec)?,
            evaluation_delay: dur(&k("evaluation_delay"), &self.evaluation_delay, zero)?,
            clear_for: dur(&k("clear_for"), &self.clear_for, zero)?,
            keep_resolved: dur(
                &k("keep_resolved"),
                &self.keep_resolved,
                Duration::from_secs(60),
            )?,
            gpu_hang: HangSettings {
                for_: dur(&k("gpu_hang.for"), &h.for_, zero)?,
                window: dur(&k("gpu_hang.window"), &h.window, sec)?,
                min_utilization: ratio(&k("gpu_hang.min_utilization"), h.min_utilization)?,
                max_power_ratio: ratio(&k("gpu_hang.max_power_ratio"), h.max_power_ratio)?,
                max_io_bytes_per_second: h.max_io_bytes_per_second,
            },
            gpu_stalled: StallSettings {
                for_: dur(&k("gpu_stalled.for"), &st.for_, zero)?,
                window: dur(&k("gpu_stalled.window"), &st.window, sec)?,
                max_utilization: ratio(&k("gpu_stalled.max_utilization"), st.max_utilization)?,
                min_process_memory_bytes: st.min_process_memory_bytes as f64,
            },
            gpu_straggler: {
                let g = &self.gpu_straggler;
                if g.min_gpus < 2 {
                    return Err(ConfigError::new(
                        k("gpu_straggler.min_gpus"),
                        format!(
                            "must be at least 2 (a median needs peers), got {}",
                            g.min_gpus
                        ),
                    ));
                }
                StragglerSettings {
                    for_: dur(&k("gpu_straggler.for"), &g.for_, zero)?,
                    window: dur(&k("gpu_straggler.window"), &g.window, sec)?,
                    max_score: ratio(&k("gpu_straggler.max_score"), g.max_score)?,
                    min_gpus: g.min_gpus,
                    min_job_utilization: ratio(
                        &k("gpu_straggler.min_job_utilization"),
                        g.min_job_utilization,
                    )?,
                }
            },
            data_bottleneck: {
                let b = &self.data_bottleneck;
                let r = |key: &str, v: f64| ratio(&k(&format!("data_bottleneck.{key}")), v);
                BottleneckSettings {
                    for_: dur(&k("data_bottleneck.for"), &b.for_, zero)?,
                    window: dur(&k("data_bottleneck.window"), &b.window, sec)?,
                    max_utilization: r("max_utilization", b.max_utilization)?,
                    min_swing: r("min_swing", b.min_swing)?,
                    min_iowait: r("min_iowait", b.min_iowait)?,
                    min_disk_busy: r("min_disk_busy", b.min_disk_busy)?,
                    min_cpu: r("min_cpu", b.min_cpu)?,
                    network_ceiling_share: r("network_ceiling_share", b.network_ceiling_share)?,
                    min_network_bytes_per_second: b.min_network_bytes_per_second.max(0.0),
                    min_filesystem_bytes_per_second: b.min_filesystem_bytes_per_second.max(0.0),
                    min_nfs_queue_seconds: dur(
                        &k("data_bottleneck.min_nfs_queue_time"),
                        &b.min_nfs_queue_time,
                        Duration::from_micros(1),
                    )? as f64
                        / 1e9,
                }
            },
            gpu_throttle: ThrottleSettings {
                for_: dur(&k("gpu_throttle.for"), &th.for_, zero)?,
                window: dur(&k("gpu_throttle.window"), &th.window, sec)?,
                min_share: ratio(&k("gpu_throttle.min_share"), th.min_share)?,
                reasons: th.reasons.clone(),
            },
            gpu_xid: XidSettings {
                window: dur(&k("gpu_xid.window"), &x.window, sec)?,
                critical: x.critical.clone(),
                warning: x.warning.clone(),
                other,
            },
            node_absent_after: dur(&k("node_absent.after"), &self.node_absent.after, sec)?,
            clock_skew: ClockSkewSettings {
                for_: dur(&k("clock_skew.for"), &self.clock_skew.for_, zero)?,
                // Offsets within the clocks' tolerance are sampling jitter, never a skew.
                max_offset: dur(
                    &k("clock_skew.max_offset"),
                    &self.clock_skew.max_offset,
                    Duration::from_nanos(crate::store::clock::TOLERANCE as u64),
                )?,
            },
            fabric_degraded: self.fabric_degraded.validate()?,
            model_drift: self.model_drift.validate("model_drift")?,
            latency_regression: self.latency_regression.validate("latency_regression")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let s = AlertsConfig::default().validate().expect("valid");
        assert_eq!(s.gpu_hang.for_, 300_000_000_000);
        assert_eq!(s.gpu_xid.severity(79), Severity::Critical);
        assert_eq!(s.gpu_xid.severity(13), Severity::Warning);
        assert_eq!(s.gpu_xid.severity(999), Severity::Info);
    }

    #[test]
    fn errors_name_key_and_rule() {
        let mut c = AlertsConfig::default();
        c.gpu_hang.min_utilization = 95.0;
        assert_eq!(
            c.validate().map_err(|e| e.to_string()),
            Err("collector.alerts.gpu_hang.min_utilization must be between 0 and 1, got 95".into())
        );
        let c = AlertsConfig {
            evaluation_interval: "100ms".into(),
            ..AlertsConfig::default()
        };
        assert_eq!(
            c.validate().map_err(|e| e.to_string()),
            Err("collector.alerts.evaluation_interval must be at least 1s, got 100ms".into())
        );
        let mut c = AlertsConfig::default();
        c.gpu_throttle.reasons.push("too_hot".into());
        assert!(c
            .validate()
            .map_err(|e| e.to_string())
            .expect_err("an unknown reason")
            .starts_with("collector.alerts.gpu_throttle.reasons must list values of"));
        let mut c = AlertsConfig::default();
        c.gpu_xid.other = "page".into();
        assert!(c.validate().is_err());
    }
}
