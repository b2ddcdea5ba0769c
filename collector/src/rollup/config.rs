//! `[collector.history]`: where minute rollups are kept, and for how long.

use std::path::PathBuf;
use std::time::Duration;

use gpuwatch_model::duration;
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Append minute rollups of every series and the cost ledger to Parquet files (one
    /// per hour) for `gpuwatch report`. Needs a binary built with the `history` feature
    /// (the default); without it the collector says so once and keeps no history.
    pub enabled: bool,
    /// The directory of the Parquet files; created when missing.
    pub dir: String,
    /// Hours older than this, behind the newest minute written, are deleted.
    pub retention: String,
    /// When the files together pass this size, the oldest hours are deleted first
    /// (`500MB`, `10GB`, `1TiB`, or bytes).
    pub max_size: String,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            enabled: true,
            dir: "./gpuwatch-data".into(),
            retention: "90d".into(),
            max_size: "10GB".into(),
        }
    }
}

/// Validated `[collector.history]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistorySettings {
    pub enabled: bool,
    pub dir: PathBuf,
    /// Nanoseconds.
    pub retention: i64,
    pub max_bytes: u64,
}

/// Parses `10GB`, `512MiB`, `1TB` or a plain number of bytes.
pub fn parse_size(input: &str) -> Option<u64> {
    let s = input.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = number * scale;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

impl HistoryConfig {
    pub fn validate(&self) -> Result<HistorySettings, ConfigError> {
        let key = |k: &str| format!("collector.history.{k}");
        let retention = duration::parse(&self.retention)
            .map_err(|e| ConfigError::new(key("retention"), e.to_string()))?;
        if retention < Duration::from_secs(3600) {
            return Err(ConfigError::new(
                key("retention"),
                format!("must be at least 1h, got {}", self.retention),
            ));
        }
        let max_bytes = parse_size(&self.max_size).ok_or_else(|| {
            ConfigError::new(
                key("max_size"),
                format!(
                    "must be a size such as 500MB, 10GB or 1TiB, got {:?}",
                    self.max_size
                ),
            )
        })?;
        if max_bytes < 1_000_000 {
            return Err(ConfigError::new(
                key("max_size"),
                format!("must be at least 1MB, got {}", self.max_size),
            ));
        }
        if self.enabled && self.dir.trim().is_empty() {
            return Err(ConfigError::new(
                key("dir"),
                "must name a directory when history is enabled",
            ));
        }
        Ok(HistorySettings {
            enabled: self.enabled,
            dir: PathBuf::from(&self.dir),
            retention: i64::try_from(retention.as_nanos()).unwrap_or(i64::MAX),
            max_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("10GB"), Some(10_000_000_000));
        assert_eq!(parse_size("512MiB"), Some(512 * 1024 * 1024));
        assert_eq!(parse_size("1.5 kb"), Some(1500));
        assert_eq!(parse_size("2048"), Some(2048));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("5 parsecs"), None);
    }

    #[test]
    fn errors_name_key_and_rule() {
        let s = HistoryConfig::default().validate().expect("defaults");
        assert_eq!(s.max_bytes, 10_000_000_000);
        let bad = HistoryConfig {
            retention: "10m".into(),
            ..HistoryConfig::default()
        };
        assert_eq!(
            bad.validate().map_err(|e| e.to_string()),
            Err("collector.history.retention must be at least 1h, got 10m".into())
        );
        let bad = HistoryConfig {
            max_size: "huge".into(),
            ..HistoryConfig::default()
        };
        assert!(bad
            .validate()
            .map_err(|e| e.to_string())
            .is_err_and(|e| e.starts_with("collector.history.max_size must be a size")));
    }
}
