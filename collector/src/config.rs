//! `[collector]` in config.toml: parsed with serde (unknown keys refused), then
//! validated into settings with errors that name the key and the rule.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::cost::{CostConfig, CostSettings};
use crate::detect::{AlertSettings, AlertsConfig};
use crate::notify::{NotifierConfig, NotifySettings};
use crate::remote_write::{RemoteWriteConfig, RemoteWriteSettings};
use crate::rollup::{HistoryConfig, HistorySettings};
use crate::store::{StoreConfig, StoreSettings};

pub use gpuwatch_model::config::ConfigError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// OTLP/gRPC listen address.
    pub otlp_grpc_listen: String,
    /// OTLP/HTTP listen address (`POST /v1/metrics`).
    pub otlp_http_listen: String,
    /// HTTP API, `/metrics` and health listen address.
    pub api_listen: String,
    /// Largest OTLP request body accepted, in bytes, after gzip decompression;
    /// larger requests get HTTP 413 / gRPC RESOURCE_EXHAUSTED.
    pub max_request_bytes: usize,
    /// Memory, concurrency and time limits on ingest (`limiter`).
    pub limits: crate::limiter::LimitsConfig,
    /// Bearer tokens on the listeners (`auth`).
    pub auth: crate::auth::AuthConfig,
    /// TLS on the listeners (`tls`).
    pub tls: crate::tls::TlsConfig,
    /// The live store's bounds.
    pub store: StoreConfig,
    /// Detectors' thresholds and the alert manager.
    pub alerts: AlertsConfig,
    /// Prices and the idle-spend alert.
    pub cost: CostConfig,
    /// Minute rollups kept as Parquet for `gpuwatch report`.
    pub history: HistoryConfig,
    /// Prometheus remote write of every series; off without a URL.
    pub remote_write: RemoteWriteConfig,
    /// Where the collector keeps what a restart needs (`durable`): the write-ahead log
    /// of accepted points and the alerts' state. Empty keeps nothing on disk.
    pub data_dir: String,
    /// How often the live store is written whole to `data_dir` (`store.snapshot`), so a
    /// restart reads it and replays only the write-ahead log written since, and the
    /// older log segments can go.
    pub snapshot_interval: String,
    /// How long SIGTERM waits for requests in flight, the log, notifications, remote
    /// write and history before the collector exits anyway.
    pub shutdown_timeout: String,
    /// Where notifications not yet delivered are kept so a restart loses none; empty
    /// keeps them in memory only.
    pub notify_spool_dir: String,
    /// Where alerts are sent: `[[collector.notifiers]]` tables; none by default.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notifiers: Vec<NotifierConfig>,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            otlp_grpc_listen: "127.0.0.1:4317".into(),
            otlp_http_listen: "127.0.0.1:4318".into(),
            api_listen: "127.0.0.1:9464".into(),
            max_request_bytes: 8 * 1024 * 1024,
            limits: crate::limiter::LimitsConfig::default(),
            auth: crate::auth::AuthConfig::default(),
            tls: crate::tls::TlsConfig::default(),
            store: StoreConfig::default(),
            alerts: AlertsConfig::default(),
            cost: CostConfig::default(),
            history: HistoryConfig::default(),
            remote_write: RemoteWriteConfig::default(),
            data_dir: "./gpuwatch-data".into(),
            snapshot_interval: "5m".into(),
            shutdown_timeout: "10s".into(),
            notify_spool_dir: String::new(),
            notifiers: Vec::new(),
        }
    }
}

/// The validated form of `CollectorConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorSettings {
    pub otlp_grpc_listen: SocketAddr,
    pub otlp_http_listen: SocketAddr,
    pub api_listen: SocketAddr,
    pub max_request_bytes: usize,
    pub limits: crate::limiter::LimitsSettings,
    pub auth: crate::auth::AuthSettings,
    /// `None`: plain TCP.
    pub tls: Option<crate::tls::TlsSettings>,
    pub store: StoreSettings,
    pub alerts: AlertSettings,
    pub cost: CostSettings,
    pub history: HistorySettings,
    pub remote_write: Option<RemoteWriteSettings>,
    pub notify: NotifySettings,
    /// `collector.data_dir`; `None` keeps nothing on disk.
    pub data_dir: Option<std::path::PathBuf>,
    pub snapshot_interval: std::time::Duration,
    pub shutdown_timeout: std::time::Duration,
}

fn listen(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        ConfigError::new(
            format!("collector.{key}"),
            format!("must be an IP address and port such as 127.0.0.1:4318 or 0.0.0.0:4318, got {value:?}"),
        )
    })
}

fn shutdown_timeout(value: &str) -> Result<std::time::Duration, ConfigError> {
    let key = "collector.shutdown_timeout";
    let d =
        gpuwatch_model::duration::parse(value).map_err(|e| ConfigError::new(key, e.to_string()))?;
    if !(std::time::Duration::from_secs(1)..=std::time::Duration::from_secs(600)).contains(&d) {
        return Err(ConfigError::new(
            key,
            format!("must be between 1s and 10m, got {value}"),
        ));
    }
    Ok(d)
}

impl CollectorConfig {
    pub fn validate(&self) -> Result<CollectorSettings, ConfigError> {
        if !(1024..=1024 * 1024 * 1024).contains(&self.max_request_bytes) {
            return Err(ConfigError::new(
                "collector.max_request_bytes",
                format!(
                    "must be between 1024 and 1073741824 bytes, got {}",
                    self.max_request_bytes
                ),
            ));
        }
        let auth = self.auth.validate()?;
        let listener = |key: &'static str, value: &str| {
            let addr = listen(key, value)?;
            auth.check_listener(key, addr)?;
            Ok::<_, ConfigError>(addr)
        };
        Ok(CollectorSettings {
            otlp_grpc_listen: listener("otlp_grpc_listen", &self.otlp_grpc_listen)?,
            otlp_http_listen: listener("otlp_http_listen", &self.otlp_http_listen)?,
            api_listen: listener("api_listen", &self.api_listen)?,
            max_request_bytes: self.max_request_bytes,
            limits: self.limits.validate()?,
            auth,
            tls: self.tls.validate()?,
            store: self.store.validate()?,
            alerts: self.alerts.validate()?,
            cost: self.cost.validate()?,
            history: self.history.validate()?,
            remote_write: self.remote_write.validate()?,
            notify: crate::notify::config::validate(&self.notifiers, &self.notify_spool_dir)?,
            shutdown_timeout: shutdown_timeout(&self.shutdown_timeout)?,
            snapshot_interval: gpuwatch_model::config::duration_at_least(
                "collector.snapshot_interval",
                &self.snapshot_interval,
                std::time::Duration::from_secs(1),
            )?,
            data_dir: Some(self.data_dir.trim())
                .filter(|d| !d.is_empty())
                .map(std::path::PathBuf::from),
        })
    }
}

impl CollectorSettings {
    /// Defaults, listening on ephemeral loopback ports and keeping nothing on disk: for
    /// tests and `demo`.
    pub fn ephemeral() -> Self {
        let mut s = CollectorConfig::default()
            .validate()
            .unwrap_or_else(|e| unreachable!("defaults are valid: {e}"));
        let any: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
        s.otlp_grpc_listen = any;
        s.otlp_http_listen = any;
        s.api_listen = any;
        s.data_dir = None;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_use_contract_ports() {
        let s = CollectorConfig::default().validate().expect("valid");
        assert_eq!(s.otlp_grpc_listen.port(), 4317);
        assert_eq!(s.otlp_http_listen.port(), 4318);
        assert_eq!(s.api_listen.port(), 9464);
        assert!(s.otlp_http_listen.ip().is_loopback());
    }

    type Mutation = Box<dyn Fn(&mut CollectorConfig)>;
    use crate::store::ByteSize;

    #[test]
    fn errors_name_key_and_rule() {
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|c| c.otlp_http_listen = "localhost".into()),
                "collector.otlp_http_listen must be an IP address and port",
            ),
            (
                Box::new(|c| c.max_request_bytes = 10),
                "collector.max_request_bytes must be between 1024 and 1073741824 bytes, got 10",
            ),
            (
                Box::new(|c| c.store.retention = "2s".into()),
                "collector.store.retention must be at least 10s, got 2s",
            ),
            (
                Box::new(|c| c.store.retention = "soon".into()),
                "collector.store.retention `soon` is not a duration",
            ),
            (
                Box::new(|c| c.store.max_points_per_series = 1),
                "collector.store.max_points_per_series must be at least 2",
            ),
            (
                Box::new(|c| c.store.max_series = 0),
                "collector.store.max_series must be between 1 and",
            ),
            (
                Box::new(|c| c.store.max_bytes = ByteSize::Text("lots".into())),
                "collector.store.max_bytes must be a size such as 448MiB or 2GB, got \"lots\"",
            ),
            (
                Box::new(|c| c.store.max_bytes = ByteSize::Text("64MiB".into())),
                "collector.store.max_bytes 64MiB cannot hold 15m of 500000 series",
            ),
        ];
        for (mutate, want) in cases {
            let mut c = CollectorConfig::default();
            mutate(&mut c);
            let err = c.validate().expect_err(want).to_string();
            assert!(err.starts_with(want), "{err:?} should start with {want:?}");
        }
    }
}
