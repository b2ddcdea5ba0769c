//! `[collector.alerts]`: the evaluation's own keys, and one table per detector, whose
//! config, settings and rules live in the detector's file (re-exported here).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use gpuwatch_model::config::ConfigError;

pub use super::absent::AbsentConfig;
pub use super::bottleneck::{BottleneckConfig, BottleneckSettings};
pub use super::drift::{date_range, DriftConfig, DriftSettings, Reference};
pub use super::fabric::{FabricConfig, FabricSettings};
pub use super::hang::{HangConfig, HangSettings};
pub use super::skew::{ClockSkewConfig, ClockSkewSettings};
pub use super::stall::{StallConfig, StallSettings};
pub use super::straggler::{StragglerConfig, StragglerSettings};
pub use super::throttle::{ThrottleConfig, ThrottleSettings};
pub use super::xid::{XidConfig, XidSettings};

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
    pub fabric_degraded: FabricConfig,
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
            fabric_degraded: FabricConfig::default(),
            model_drift: DriftConfig::default(),
            latency_regression: DriftConfig::default(),
        }
    }
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
    pub fabric_degraded: FabricSettings,
    pub model_drift: DriftSettings,
    pub latency_regression: DriftSettings,
}

impl AlertsConfig {
    /// Each section by its own rules (in its detector's file), keys named in full.
    pub fn validate(&self) -> Result<AlertSettings, ConfigError> {
        let k = |key: &str| format!("collector.alerts.{key}");
        let zero = Duration::ZERO;
        Ok(AlertSettings {
            evaluation_interval: dur(
                &k("evaluation_interval"),
                &self.evaluation_interval,
                Duration::from_secs(1),
            )?,
            evaluation_delay: dur(&k("evaluation_delay"), &self.evaluation_delay, zero)?,
            clear_for: dur(&k("clear_for"), &self.clear_for, zero)?,
            keep_resolved: dur(
                &k("keep_resolved"),
                &self.keep_resolved,
                Duration::from_secs(60),
            )?,
            gpu_hang: self.gpu_hang.validate()?,
            gpu_stalled: self.gpu_stalled.validate()?,
            gpu_straggler: self.gpu_straggler.validate()?,
            data_bottleneck: self.data_bottleneck.validate()?,
            gpu_throttle: self.gpu_throttle.validate()?,
            gpu_xid: self.gpu_xid.validate()?,
            node_absent_after: self.node_absent.validate()?,
            clock_skew: self.clock_skew.validate()?,
            fabric_degraded: self.fabric_degraded.validate()?,
            model_drift: self.model_drift.validate("model_drift")?,
            latency_regression: self.latency_regression.validate("latency_regression")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpuwatch_model::Severity;

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
