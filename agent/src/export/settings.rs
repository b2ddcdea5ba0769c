//! What the exporter needs to know, and how exporting fails.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The OTLP transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/HTTP with protobuf bodies, `POST {endpoint}/v1/metrics` (port 4318).
    #[default]
    Http,
    /// OTLP/gRPC (port 4317).
    Grpc,
}

impl Protocol {
    /// `http` or `grpc`, as the config writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Grpc => "grpc",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "http" => Ok(Protocol::Http),
            "grpc" => Ok(Protocol::Grpc),
            other => Err(format!("must be \"http\" or \"grpc\", got \"{other}\"")),
        }
    }
}

/// Who is exporting: goes into the resource attributes of every export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    /// `host.name`.
    pub host_name: String,
    /// `gpuwatch.cluster`.
    pub cluster: String,
    /// `service.version`.
    pub service_version: String,
    /// More resource attributes, e.g. `k8s.node.name`.
    pub extra: Vec<(String, String)>,
}

/// Where and how to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExporterSettings {
    /// Base URL of the collector: `http://127.0.0.1:4318` for HTTP (the exporter adds
    /// `/v1/metrics`), `http://127.0.0.1:4317` for gRPC.
    pub endpoint: String,
    pub protocol: Protocol,
    /// How long one attempt to send a request may take, connecting included.
    pub timeout: Duration,
    pub resource: ResourceInfo,
    /// The bearer token and TLS files (`agent.token_file`, `agent.tls`).
    pub credentials: gpuwatch_model::credentials::Credentials,
}

impl ExporterSettings {
    /// The URL requests go to: `{endpoint}/v1/metrics` for HTTP (unless the endpoint
    /// already ends so), the endpoint itself for gRPC.
    pub fn url(&self) -> String {
        let base = self.endpoint.trim_end_matches('/');
        match self.protocol {
            Protocol::Http if base.ends_with("/v1/metrics") => base.to_string(),
            Protocol::Http => format!("{base}/v1/metrics"),
            Protocol::Grpc => base.to_string(),
        }
    }
}

/// Why an export did not reach the collector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("could not set up the OTLP exporter for {url}: {message}")]
    Build { url: String, message: String },
    #[error("export to {url} failed: {message}")]
    Send { url: String, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: &str, protocol: Protocol) -> ExporterSettings {
        ExporterSettings {
            credentials: Default::default(),
            endpoint: endpoint.to_string(),
            protocol,
            timeout: Duration::from_secs(1),
            resource: ResourceInfo {
                host_name: "n".into(),
                cluster: "c".into(),
                service_version: "0".into(),
                extra: vec![],
            },
        }
    }

    #[test]
    fn url_adds_the_metrics_path_for_http_only() {
        let url = |e, p| settings(e, p).url();
        assert_eq!(
            url("http://h:4318", Protocol::Http),
            "http://h:4318/v1/metrics"
        );
        assert_eq!(
            url("http://h:4318/", Protocol::Http),
            "http://h:4318/v1/metrics"
        );
        assert_eq!(
            url("http://h:4318/v1/metrics", Protocol::Http),
            "http://h:4318/v1/metrics"
        );
        assert_eq!(url("http://h:4317", Protocol::Grpc), "http://h:4317");
    }

    #[test]
    fn protocol_parses_config_words() {
        assert_eq!("grpc".parse(), Ok(Protocol::Grpc));
        assert_eq!("http".parse(), Ok(Protocol::Http));
        assert_eq!(
            "udp".parse::<Protocol>(),
            Err("must be \"http\" or \"grpc\", got \"udp\"".to_string())
        );
    }
}
