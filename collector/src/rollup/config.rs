//! `[collector.history]`: where minute rollups are kept, and for how long.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use gpuwatch_model::config::{nanos_at_least, parse_size, ConfigError};

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

impl HistoryConfig {
    pub fn validate(&self) -> Result<HistorySettings, ConfigError> {
        let key = |k: &str| format!("collector.history.{k}");
        let retention = nanos_at_least(
            &key("retention"),
            &self.retention,
            Duration::from_secs(3600),
        )?;
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
            retention,
            max_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
