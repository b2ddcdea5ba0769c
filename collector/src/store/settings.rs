//! `[collector.store]` in config.toml.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use gpuwatch_model::config::{nanos_at_least, parse_size, ConfigError};

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
    /// Most bytes the store's points and series may take (`gpuwatch_store_bytes`).
    /// Past it the oldest chunks go first, counted in
    /// `gpuwatch_store_evicted_points_total{reason="memory_budget"}`.
    pub max_bytes: ByteSize,
    /// Most attributes a point may have, its resource's included; a point with more is
    /// refused (`reason="label_limit"`).
    pub max_attributes: usize,
    /// Longest attribute key or value (and metric name) in bytes; longer is refused
    /// (`reason="label_limit"`), so no sender hides text in a huge label.
    pub max_attribute_length: usize,
}

/// A size in config: `"448MiB"`, `"2GB"` or a plain number of bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ByteSize {
    Bytes(u64),
    Text(String),
}

impl ByteSize {
    fn bytes(&self) -> Option<u64> {
        match self {
            ByteSize::Bytes(n) => Some(*n),
            ByteSize::Text(s) => parse_size(s),
        }
    }
}

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ByteSize::Bytes(n) => write!(f, "{n}"),
            ByteSize::Text(s) => f.write_str(s),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            retention: "15m".into(),
            max_points_per_series: 3600,
            max_series: 500_000,
            max_future: "10m".into(),
            // 10,000 GPUs at 1 s for 15 minutes, with room left in 512 MiB for the
            // rest of the collector.
            max_bytes: ByteSize::Text("448MiB".into()),
            max_attributes: crate::store::DEFAULT_MAX_ATTRIBUTES,
            max_attribute_length: crate::store::DEFAULT_MAX_ATTRIBUTE_LENGTH,
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
    pub max_bytes: u64,
    pub max_attributes: usize,
    pub max_attribute_length: usize,
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
        let max_bytes = self.max_bytes.bytes().ok_or_else(|| {
            ConfigError::new(
                "collector.store.max_bytes",
                format!(
                    "must be a size such as 448MiB or 2GB, got {:?}",
                    self.max_bytes.to_string()
                ),
            )
        })?;
        let settings = StoreSettings {
            retention_ns: retention,
            max_points_per_series: self.max_points_per_series,
            max_series: self.max_series,
            max_future_ns: at_least("max_future", &self.max_future, 1)?,
            max_bytes,
            max_attributes: self.max_attributes,
            max_attribute_length: self.max_attribute_length,
        };
        if !(1..=1024).contains(&self.max_attributes) {
            return Err(ConfigError::new(
                "collector.store.max_attributes",
                format!("must be between 1 and 1024, got {}", self.max_attributes),
            ));
        }
        if !(64..=65536).contains(&self.max_attribute_length) {
            return Err(ConfigError::new(
                "collector.store.max_attribute_length",
                format!(
                    "must be between 64 and 65536 bytes, got {}",
                    self.max_attribute_length
                ),
            ));
        }
        let per_series = settings.least_bytes_per_series();
        let need = per_series.saturating_mul(settings.max_series as u64);
        if need > max_bytes {
            let fits = max_bytes / per_series.max(1);
            return Err(ConfigError::new(
                "collector.store.max_bytes",
                format!(
                    "{} cannot hold {} of {} series: even at the least a series can take \
                     ({per_series} bytes: its bookkeeping and {} points at 1 s, two bits each) \
                     they need {}. Raise max_bytes to at least {} or lower \
                     collector.store.max_series to {fits} or less",
                    self.max_bytes,
                    self.retention,
                    settings.max_series,
                    settings.points_held(),
                    show_size(need),
                    show_size(need),
                ),
            ));
        }
        Ok(settings)
    }
}

impl StoreSettings {
    /// Points a series holds at 1 s: the retention, or the point bound if smaller.
    pub fn points_held(&self) -> u64 {
        let at_1s = u64::try_from(self.retention_ns / 1_000_000_000).unwrap_or(0);
        at_1s.min(self.max_points_per_series as u64)
    }

    /// The least bytes one series full to its retention can take: its bookkeeping
    /// (`super::Store::SERIES_OVERHEAD`) and two bits a point (a timestamp on its
    /// interval, a value unchanged).
    pub fn least_bytes_per_series(&self) -> u64 {
        super::SERIES_OVERHEAD as u64 + self.points_held().div_ceil(4)
    }
}

/// `n` bytes as a config value a user can paste: MiB rounded up.
fn show_size(n: u64) -> String {
    format!("{}MiB", n.div_ceil(1 << 20))
}

/// `collector.store.KEY` as nanoseconds, refused under `seconds`.
fn at_least(key: &str, value: &str, seconds: u64) -> Result<i64, ConfigError> {
    let key = format!("collector.store.{key}");
    nanos_at_least(&key, value, Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(max_bytes: ByteSize, max_series: usize) -> StoreConfig {
        StoreConfig {
            max_bytes,
            max_series,
            ..StoreConfig::default()
        }
    }

    #[test]
    fn the_default_budget_holds_the_default_series() {
        let s = StoreSettings::defaults();
        assert_eq!(s.max_bytes, 448 << 20);
        assert_eq!(s.points_held(), 900);
        assert!(s.least_bytes_per_series() * s.max_series as u64 <= s.max_bytes);
    }

    #[test]
    fn a_size_is_text_or_a_number() {
        let c: StoreConfig = serde_json::from_str(r#"{"max_bytes": 1000000000}"#).expect("number");
        assert_eq!(c.validate().expect("valid").max_bytes, 1_000_000_000);
        let c: StoreConfig = serde_json::from_str(r#"{"max_bytes": "1GiB"}"#).expect("text");
        assert_eq!(c.validate().expect("valid").max_bytes, 1 << 30);
    }

    #[test]
    fn a_budget_too_small_says_what_fits() {
        let per = StoreSettings::defaults().least_bytes_per_series();
        let err = with(ByteSize::Text("16MiB".into()), 500_000)
            .validate()
            .expect_err("16MiB is too small for 500,000 series")
            .to_string();
        let fits = (16u64 << 20) / per;
        assert!(
            err.contains(&format!("lower collector.store.max_series to {fits}")),
            "{err}"
        );
        let need = (per * 500_000).div_ceil(1 << 20);
        assert!(
            err.contains(&format!("Raise max_bytes to at least {need}MiB")),
            "{err}"
        );
        // What the message says fits, fits.
        with(ByteSize::Text("16MiB".into()), fits as usize)
            .validate()
            .expect("the series the message names fit");
        with(ByteSize::Text(format!("{need}MiB")), 500_000)
            .validate()
            .expect("the size the message names holds them");
    }
}
