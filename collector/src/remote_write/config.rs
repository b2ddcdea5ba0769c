//! `[collector.remote_write]`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use gpuwatch_model::config::{duration_at_least, http_url, ConfigError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteWriteConfig {
    /// Where to POST, e.g. `http://prometheus:9090/api/v1/write`; empty is off.
    pub url: String,
    /// How often new points are collected and sent.
    pub interval: String,
    /// How long one POST may take.
    pub timeout: String,
    /// Samples per request.
    pub batch_samples: usize,
    /// Samples held while the receiver is away; past it the oldest are dropped.
    pub queue_samples: usize,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        RemoteWriteConfig {
            url: String::new(),
            interval: "15s".into(),
            timeout: "10s".into(),
            batch_samples: 2000,
            queue_samples: 1_000_000,
        }
    }
}

/// Validated `[collector.remote_write]`; `None` when off.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWriteSettings {
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub batch_samples: usize,
    pub queue_samples: usize,
}

impl RemoteWriteConfig {
    pub fn validate(&self) -> Result<Option<RemoteWriteSettings>, ConfigError> {
        let url = self.url.trim();
        if url.is_empty() {
            return Ok(None);
        }
        let key = |k: &str| format!("collector.remote_write.{k}");
        http_url(
            &key("url"),
            url,
            "http://prometheus:9090/api/v1/write",
            false,
        )?;
        let at_least = |k: &str, v: &str, min| duration_at_least(&key(k), v, min);
        if self.batch_samples == 0 || self.queue_samples < self.batch_samples {
            return Err(ConfigError::new(
                key("queue_samples"),
                format!(
                    "must be at least batch_samples ({}), and batch_samples above 0; got {}",
                    self.batch_samples, self.queue_samples
                ),
            ));
        }
        Ok(Some(RemoteWriteSettings {
            url: url.to_string(),
            interval: at_least("interval", &self.interval, Duration::from_secs(1))?,
            timeout: at_least("timeout", &self.timeout, Duration::from_millis(100))?,
            batch_samples: self.batch_samples,
            queue_samples: self.queue_samples,
        }))
    }
}
