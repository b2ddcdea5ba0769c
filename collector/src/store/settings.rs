//! `[collector.store]` in config.toml.

use std::time::Duration;

use gpuwatch_model::duration;
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// How much the live store keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// How far behind each series' newest point the store keeps points (event time).
    pub retention: String,
    /// Most points kept per series, whatever their age.
    pub max_points_per_series: usize,
    /// Most series kept; points of further new series are refused and counted
    /// (`gpuwatch_ingest_rejected_total{reason="cardinality_limit"}`).
    pub max_series: usize,
    /// Points further than this ahead of the collector's clock when they arrive are
    /// refused (`reason="future"`), so one broken sender cannot push a series' window
    /// forward.
    pub max_future: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            retention: "15m".into(),
            max_points_per_series: 3600,
            max_series: 500_000,
            max_future: "10m".into(),
        }
    }
}

/// The validated form of `StoreConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreSettings {
    pub retention_ns: i64,
    pub max_points_per_series: usize,
    pub max_series: usize,
    pub max_future_ns: i64,
}

impl StoreSettings {
    /// The defaults, for tests and tools that build a store directly.
    pub fn defaults() -> Self {
        StoreConfig::default()
            .validate()
            .expect("the default [collector.store] is valid")
    }
}

impl StoreConfig {
    pub fn validate(&self) -> Result<StoreSettings, ConfigError> {
        let retention = at_least("retention", &self.retention, 10)?;
        if self.max_points_per_series < 2 {
            return Err(ConfigError::new(
                "collector.store.max_points_per_series",
                format!(
                    "must be at least 2 (rates need two points), got {}",
                    self.max_points_per_series
                ),
            ));
        }
        if self.max_series == 0 || self.max_series > u32::MAX as usize {
            return Err(ConfigError::new(
                "collector.store.max_series",
                format!(
                    "must be between 1 and {}, got {}",
                    u32::MAX,
                    self.max_series
                ),
            ));
        }
        Ok(StoreSettings {
            retention_ns: retention,
            max_points_per_series: self.max_points_per_series,
            max_series: self.max_series,
            max_future_ns: at_least("max_future", &self.max_future, 1)?,
        })
    }
}

/// `collector.store.KEY` as nanoseconds, refused under `seconds`.
fn at_least(key: &str, value: &str, seconds: u64) -> Result<i64, ConfigError> {
    let key = format!("collector.store.{key}");
    let d = duration::parse(value).map_err(|e| ConfigError::new(key.as_str(), e.to_string()))?;
    if d < Duration::from_secs(seconds) {
        return Err(ConfigError::new(
            key,
            format!("must be at least {seconds}s, got {value}"),
        ));
    }
    Ok(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
