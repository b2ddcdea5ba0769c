//! `[agent]` configuration: serde structs first, then validation into settings with
//! errors that name the key and the rule.

use std::path::PathBuf;
use std::time::Duration;

use gpuwatch_model::duration;
use serde::{Deserialize, Serialize};

use crate::export::{ExporterSettings, Protocol, ResourceInfo};
use crate::inference::{InferenceTarget, ServerKind};
use crate::jobs::{JobRuleConfig, JobSettings, DEFAULT_KUBELET_SOCKET};

/// The shortest sampling interval the agent accepts.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// The most exports the queue may hold (`queue_for / interval`): a day at 1 s.
pub const MAX_QUEUED: u64 = 86_400;

/// The agent's configuration as written (`[agent]` in `config.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Base URL of the collector's OTLP endpoint: port 4318 for `http`, 4317 for `grpc`.
    /// For `http` the agent posts to `{collector}/v1/metrics`.
    pub collector: String,
    /// OTLP transport: `http` (protobuf over HTTP) or `grpc`.
    pub protocol: String,
    /// How often to sample and export, e.g. `1s`, `500ms`; at least 100ms.
    pub interval: String,
    /// How long one attempt to send an export may take, e.g. `10s`; also how long
    /// the agent tries to send what is queued when it stops.
    pub timeout: String,
    /// Name of the cluster this node belongs to (`gpuwatch.cluster` on every export).
    pub cluster: String,
    /// This node's name (`host.name`); empty means the machine's hostname.
    pub host_name: String,
    /// Path of `libnvidia-ml.so`; unset means the dynamic loader's search path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nvml_library: Option<PathBuf>,
    /// How much export to keep while the collector is unreachable or refuses with
    /// 429/503, e.g. `10m`: `queue_for / interval` exports; past that the oldest are
    /// dropped. At least one interval.
    pub queue_for: String,
    /// Directory where waiting exports are also written, so that a restart of the
    /// agent loses none; empty means memory only.
    pub spool_dir: String,
    /// Inference servers whose Prometheus `/metrics` the agent scrapes every interval
    /// (`[[agent.inference]]` tables); none by default.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inference: Vec<InferenceConfig>,
    /// The host's `/proc`, read to attribute GPU processes to jobs (user names come
    /// from `etc/passwd` beside it). In a container: mount the host's `/proc` and name
    /// it here, or share the host's PID namespace.
    pub proc_root: String,
    /// The host's `/sys`, read for InfiniBand and RoCE ports (`class/infiniband`) and
    /// Lustre client stats under debugfs (`kernel/debug/lustre`). In a container: mount
    /// the host's `/sys` and name it here. NFS and Lustre mounts are read from
    /// `proc_root` (`self/mountstats`, `fs/lustre`).
    pub sys_root: String,
    /// kubelet's pod-resources socket, asked which pod each GPU is assigned to (for
    /// `k8s.namespace.name`, `k8s.pod.name`); a missing socket turns it off, and so
    /// does an empty value.
    pub kubelet_socket: String,
    /// Rules that attribute processes to teams and jobs by user, executable or
    /// namespace (`[[agent.jobs]]` tables, first match wins); none by default.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobRuleConfig>,
    /// File whose first line is the token sent as `Authorization: Bearer` (one of the
    /// collector's `collector.auth.ingest_tokens_file`); empty: `$GPUWATCH_TOKEN`, or
    /// none.
    pub token_file: String,
    /// TLS to an `https://` collector.
    pub tls: AgentTlsConfig,
}

/// `[agent.tls]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentTlsConfig {
    /// PEM CA certificates trusted beside the system's roots (a private CA).
    pub ca_file: String,
    /// PEM client certificate chain, for a collector with `client_ca_file` (mTLS).
    pub cert_file: String,
    /// PEM private key of `cert_file`.
    pub key_file: String,
}

/// One `[[agent.inference]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InferenceConfig {
    /// The server's metrics URL, e.g. `http://127.0.0.1:8000/metrics`.
    pub url: String,
    /// `vllm`, `sglang`, `triton`, `tgi`, or `auto` (detected from the metric names).
    pub kind: String,
    /// How long one scrape may take, e.g. `2s`.
    pub timeout: String,
    /// The model name to report; empty: the page's model label (TGI has none).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub model: String,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        InferenceConfig {
            url: String::new(),
            kind: "auto".to_string(),
            timeout: "2s".to_string(),
            model: String::new(),
        }
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            collector: "http://127.0.0.1:4318".to_string(),
            protocol: "http".to_string(),
            interval: "1s".to_string(),
            timeout: "10s".to_string(),
            cluster: "default".to_string(),
            host_name: String::new(),
            nvml_library: None,
            queue_for: "10m".to_string(),
            spool_dir: String::new(),
            inference: Vec::new(),
            proc_root: "/proc".to_string(),
            sys_root: "/sys".to_string(),
            kubelet_socket: DEFAULT_KUBELET_SOCKET.to_string(),
            jobs: Vec::new(),
            token_file: String::new(),
            tls: AgentTlsConfig::default(),
        }
    }
}

use gpuwatch_model::config::http_url;
pub use gpuwatch_model::config::ConfigError;

/// `agent.{key} {rule}`.
fn error(key: &str, rule: impl Into<String>) -> ConfigError {
    ConfigError::new(format!("agent.{key}"), rule)
}

/// The validated configuration the agent runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSettings {
    pub collector: String,
    pub protocol: Protocol,
    pub interval: Duration,
    pub timeout: Duration,
    pub cluster: String,
    /// Resolved: the configured name or the machine's hostname.
    pub host_name: String,
    pub nvml_library: Option<PathBuf>,
    /// How much export the queue holds, as time.
    pub queue_for: Duration,
    /// Where waiting exports are spooled; `None`: memory only.
    pub spool_dir: Option<PathBuf>,
    /// The inference servers to scrape.
    pub inference: Vec<InferenceTarget>,
    /// How GPU processes are attributed to jobs; its `proc_root` is also where network
    /// file systems are read.
    pub jobs: JobSettings,
    /// The host's `/sys`: fabric ports, Lustre debugfs stats.
    pub sys_root: PathBuf,
    /// `agent.token_file` and `agent.tls`.
    pub credentials: gpuwatch_model::credentials::Credentials,
}

impl AgentSettings {
    /// How many exports the queue holds: `queue_for / interval`, rounded up.
    pub fn queue_capacity(&self) -> usize {
        let capacity = queued_exports(self.queue_for, self.interval).clamp(1, MAX_QUEUED);
        usize::try_from(capacity).unwrap_or(usize::MAX)
    }

    /// What the exporter needs, with `service_version` (the binary's version).
    pub fn exporter_settings(&self, service_version: &str) -> ExporterSettings {
        ExporterSettings {
            endpoint: self.collector.clone(),
            protocol: self.protocol,
            timeout: self.timeout,
            resource: ResourceInfo {
                host_name: self.host_name.clone(),
                cluster: self.cluster.clone(),
                service_version: service_version.to_string(),
                extra: Vec::new(),
            },
            credentials: self.credentials.clone(),
        }
    }
}

impl AgentConfig {
    /// Checks every rule and resolves defaults (the hostname).
    pub fn validate(&self) -> Result<AgentSettings, ConfigError> {
        http_url(
            "agent.collector",
            self.collector.trim(),
            "http://127.0.0.1:4318",
            false,
        )?;
        let collector = self.collector.trim().trim_end_matches('/');

        let protocol: Protocol = self
            .protocol
            .parse()
            .map_err(|rule: String| error("protocol", rule))?;

        let interval = parse_duration("interval", &self.interval)?;
        if interval < MIN_INTERVAL {
            return Err(error(
                "interval",
                format!(
                    "must be at least {}, got {}",
                    duration::format(MIN_INTERVAL),
                    duration::format(interval)
                ),
            ));
        }

        let timeout = parse_duration("timeout", &self.timeout)?;
        if timeout.is_zero() {
            return Err(error(
                "timeout",
                format!("must be more than 0s, got {}", self.timeout.trim()),
            ));
        }

        let cluster = self.cluster.trim();
        if cluster.is_empty() {
            return Err(error("cluster", "must not be empty"));
        }

        let host_name = match self.host_name.trim() {
            "" => machine_hostname().ok_or_else(|| {
                error(
                    "host_name",
                    "is empty and the machine's hostname could not be read from \
                     /proc/sys/kernel/hostname or $HOSTNAME; set it",
                )
            })?,
            name => name.to_string(),
        };

        if self
            .nvml_library
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(error(
                "nvml_library",
                "must be a path to libnvidia-ml.so; leave it out to use the loader's search path",
            ));
        }

        let queue_for = parse_duration("queue_for", &self.queue_for)?;
        if queue_for < interval {
            return Err(error(
                "queue_for",
                format!(
                    "must be at least agent.interval ({}), got {}",
                    duration::format(interval),
                    duration::format(queue_for)
                ),
            ));
        }
        let queued = queued_exports(queue_for, interval);
        if queued > MAX_QUEUED {
            return Err(error(
                "queue_for",
                format!(
                    "must hold at most {MAX_QUEUED} exports (queue_for / interval), got {} / {} = {queued}",
                    duration::format(queue_for),
                    duration::format(interval)
                ),
            ));
        }

        let spool_dir = self.spool_dir.trim();
        let spool_dir = (!spool_dir.is_empty()).then(|| PathBuf::from(spool_dir));

        let inference = self
            .inference
            .iter()
            .enumerate()
            .map(|(i, t)| t.validate(i))
            .collect::<Result<Vec<_>, _>>()?;

        let jobs = JobSettings::validate(&self.proc_root, &self.kubelet_socket, &self.jobs)
            .map_err(|(key, rule)| error(&key, rule))?;

        let sys_root = self.sys_root.trim();
        if !sys_root.starts_with('/') {
            return Err(error(
                "sys_root",
                format!("must be an absolute path such as /sys, got \"{sys_root}\""),
            ));
        }

        let path = |p: &str| Some(p.trim()).filter(|p| !p.is_empty()).map(PathBuf::from);
        let credentials = gpuwatch_model::credentials::Credentials {
            token_file: path(&self.token_file),
            ca_file: path(&self.tls.ca_file),
            cert_file: path(&self.tls.cert_file),
            key_file: path(&self.tls.key_file),
        };
        credentials
            .check(collector)
            .map_err(|(key, rule)| error(&format!("tls.{key}"), rule))?;

        Ok(AgentSettings {
            credentials,
            collector: collector.to_string(),
            protocol,
            interval,
            timeout,
            cluster: cluster.to_string(),
            host_name,
            nvml_library: self.nvml_library.clone(),
            queue_for,
            spool_dir,
            inference,
            jobs,
            sys_root: PathBuf::from(sys_root),
        })
    }
}

impl InferenceConfig {
    /// Checks `agent.inference[index]`. A scrape slower than the interval delays only
    /// that target's next one.
    fn validate(&self, index: usize) -> Result<InferenceTarget, ConfigError> {
        let key = |k: &str| format!("inference[{index}].{k}");
        let url = self.url.trim();
        http_url(
            &format!("agent.{}", key("url")),
            url,
            "http://127.0.0.1:8000/metrics",
            false,
        )?;
        let kind = match self.kind.trim() {
            "auto" | "" => None,
            "vllm" => Some(ServerKind::Vllm),
            "sglang" => Some(ServerKind::Sglang),
            "triton" => Some(ServerKind::Triton),
            "tgi" => Some(ServerKind::Tgi),
            other => {
                return Err(error(
                    &key("kind"),
                    format!(
                        "must be \"vllm\", \"sglang\", \"triton\", \"tgi\" or \"auto\", got \"{other}\""
                    ),
                ))
            }
        };
        let timeout = parse_duration(&key("timeout"), &self.timeout)?;
        if timeout.is_zero() {
            return Err(error(
                &key("timeout"),
                format!("must be more than 0s, got {}", self.timeout.trim()),
            ));
        }
        let model = self.model.trim();
        Ok(InferenceTarget {
            url: url.to_string(),
            kind,
            timeout,
            model: (!model.is_empty()).then(|| model.to_string()),
        })
    }
}

/// `queue_for / interval`, rounded up.
fn queued_exports(queue_for: Duration, interval: Duration) -> u64 {
    let interval = interval.as_nanos().max(1);
    u64::try_from(queue_for.as_nanos().div_ceil(interval)).unwrap_or(u64::MAX)
}

fn parse_duration(key: &str, text: &str) -> Result<Duration, ConfigError> {
    duration::parse(text).map_err(|e| error(key, format!("must be a duration: {e}")))
}

/// `/proc/sys/kernel/hostname`, else `$HOSTNAME`.
fn machine_hostname() -> Option<String> {
    let from_kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    from_kernel
        .into_iter()
        .chain(std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .find(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(edit: impl FnOnce(&mut AgentConfig)) -> AgentConfig {
        let mut config = AgentConfig {
            host_name: "node-01".to_string(),
            ..AgentConfig::default()
        };
        edit(&mut config);
        config
    }

    #[test]
    fn defaults_validate() {
        let settings = with(|_| {}).validate().expect("defaults are valid");
        assert_eq!(
            settings,
            AgentSettings {
                collector: "http://127.0.0.1:4318".to_string(),
                protocol: Protocol::Http,
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(10),
                cluster: "default".to_string(),
                host_name: "node-01".to_string(),
                nvml_library: None,
                queue_for: Duration::from_secs(600),
                spool_dir: None,
                inference: Vec::new(),
                jobs: JobSettings::default(),
                sys_root: PathBuf::from("/sys"),
                credentials: Default::default(),
            }
        );
        assert_eq!(settings.queue_capacity(), 600);
        let exporter = settings.exporter_settings("1.2.3");
        assert_eq!(exporter.url(), "http://127.0.0.1:4318/v1/metrics");
        assert_eq!(exporter.resource.service_version, "1.2.3");
    }

    #[test]
    fn the_queue_bound_is_counted_in_intervals() {
        let settings = with(|c| {
            c.interval = "300ms".into();
            c.queue_for = "1s".into();
            c.spool_dir = " /var/spool/gpuwatch ".into();
        })
        .validate()
        .expect("valid");
        assert_eq!(settings.queue_capacity(), 4, "rounded up");
        assert_eq!(
            settings.spool_dir.as_deref(),
            Some(std::path::Path::new("/var/spool/gpuwatch"))
        );
    }

    #[test]
    fn empty_host_name_means_the_machines() {
        let settings = AgentConfig::default().validate().expect("valid");
        assert!(!settings.host_name.is_empty());
    }

    #[test]
    fn errors_name_the_key_and_the_rule() {
        let cases: Vec<(AgentConfig, &str)> = vec![
            (
                with(|c| c.interval = "10ms".into()),
                "agent.interval must be at least 100ms, got 10ms",
            ),
            (
                with(|c| c.protocol = "udp".into()),
                "agent.protocol must be \"http\" or \"grpc\", got \"udp\"",
            ),
            (
                with(|c| c.tls.ca_file = "/etc/gpuwatch/ca.pem".into()),
                "agent.tls.ca_file is set but the collector's URL \"http://127.0.0.1:4318\" is not https://; use https://",
            ),
            (
                with(|c| {
                    c.collector = "https://c:4318".into();
                    c.tls.cert_file = "/etc/gpuwatch/agent.pem".into();
                }),
                "agent.tls.key_file must be set with cert_file (the client certificate's private key)",
            ),
            (
                with(|c| c.interval = "soon".into()),
                "agent.interval must be a duration: `soon` is not a duration: expected a number (write e.g. 500ms, 30s, 5m, 1h30m, 7d)",
            ),
            (
                with(|c| c.timeout = "0s".into()),
                "agent.timeout must be more than 0s, got 0s",
            ),
            (
                with(|c| c.collector = "127.0.0.1:4318".into()),
                "agent.collector must be an http:// or https:// URL such as http://127.0.0.1:4318, got \"127.0.0.1:4318\"",
            ),
            (
                with(|c| c.collector = "http://".into()),
                "agent.collector must be an http:// or https:// URL such as http://127.0.0.1:4318, got \"http://\"",
            ),
            (with(|c| c.cluster = " ".into()), "agent.cluster must not be empty"),
            (
                with(|c| c.sys_root = "sys".into()),
                "agent.sys_root must be an absolute path such as /sys, got \"sys\"",
            ),
            (
                with(|c| c.sys_root = "".into()),
                "agent.sys_root must be an absolute path such as /sys, got \"\"",
            ),
            (
                with(|c| c.nvml_library = Some(PathBuf::new())),
                "agent.nvml_library must be a path to libnvidia-ml.so; leave it out to use the loader's search path",
            ),
            (
                with(|c| c.queue_for = "500ms".into()),
                "agent.queue_for must be at least agent.interval (1s), got 500ms",
            ),
            (
                with(|c| c.queue_for = "later".into()),
                "agent.queue_for must be a duration: `later` is not a duration: expected a number (write e.g. 500ms, 30s, 5m, 1h30m, 7d)",
            ),
            (
                with(|c| {
                    c.queue_for = "7d".into();
                    c.interval = "100ms".into();
                }),
                "agent.queue_for must hold at most 86400 exports (queue_for / interval), got 7d / 100ms = 6048000",
            ),
        ];
        for (config, message) in cases {
            let error = config.validate().expect_err(message);
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn parses_toml_with_defaults_and_rejects_unknown_keys() {
        let config: AgentConfig = toml::from_str(
            "collector = \"http://c:4317\"\nprotocol = \"grpc\"\ninterval = \"250ms\"\n",
        )
        .expect("valid toml");
        let settings = with(|c| {
            *c = AgentConfig {
                host_name: "n".into(),
                ..config
            }
        })
        .validate()
        .expect("valid");
        assert_eq!(settings.protocol, Protocol::Grpc);
        assert_eq!(settings.interval, Duration::from_millis(250));
        assert_eq!(settings.timeout, Duration::from_secs(10));

        let roots: AgentConfig =
            toml::from_str("sys_root = \" /host/sys \"\nproc_root = \"/host/proc\"\n")
                .expect("valid toml");
        let settings = with(|c| {
            c.sys_root = roots.sys_root;
            c.proc_root = roots.proc_root;
        })
        .validate()
        .expect("valid");
        assert_eq!(settings.sys_root, PathBuf::from("/host/sys"));
        assert_eq!(settings.jobs.proc_root, PathBuf::from("/host/proc"));

        let error = toml::from_str::<AgentConfig>("colector = \"x\"")
            .expect_err("unknown key")
            .to_string();
        assert!(error.contains("unknown field `colector`"), "{error}");
    }

    #[test]
    fn inference_targets_parse_with_defaults_and_errors_name_the_entry() {
        let config: AgentConfig = toml::from_str(
            "[[inference]]\nurl = \"http://127.0.0.1:8000/metrics\"\n\
             [[inference]]\nurl = \"http://tgi:80/metrics\"\nkind = \"tgi\"\n\
             timeout = \"500ms\"\nmodel = \"mistral-7b\"\n",
        )
        .expect("valid toml");
        let settings = with(|c| c.inference = config.inference.clone())
            .validate()
            .expect("valid");
        assert_eq!(
            settings.inference,
            vec![
                InferenceTarget {
                    url: "http://127.0.0.1:8000/metrics".into(),
                    kind: None,
                    timeout: Duration::from_secs(2),
                    model: None,
                },
                InferenceTarget {
                    url: "http://tgi:80/metrics".into(),
                    kind: Some(ServerKind::Tgi),
                    timeout: Duration::from_millis(500),
                    model: Some("mistral-7b".into()),
                },
            ]
        );
        assert_eq!(
            with(|c| c.inference = vec![InferenceConfig::default()])
                .validate()
                .expect_err("no url")
                .to_string(),
            "agent.inference[0].url must be an http:// or https:// URL such as http://127.0.0.1:8000/metrics, got \"\""
        );
        let valid = InferenceConfig {
            url: "http://b/metrics".into(),
            ..InferenceConfig::default()
        };
        let bad = |edit: fn(&mut InferenceConfig)| {
            let mut target = InferenceConfig {
                url: "http://a/metrics".into(),
                ..InferenceConfig::default()
            };
            edit(&mut target);
            with(|c| c.inference = vec![valid.clone(), target])
                .validate()
                .expect_err("invalid")
                .to_string()
        };
        assert_eq!(
            bad(|t| t.kind = "ollama".into()),
            "agent.inference[1].kind must be \"vllm\", \"sglang\", \"triton\", \"tgi\" or \"auto\", got \"ollama\""
        );
        assert_eq!(
            bad(|t| t.timeout = "0s".into()),
            "agent.inference[1].timeout must be more than 0s, got 0s"
        );
        assert!(bad(|t| t.timeout = "soon".into())
            .starts_with("agent.inference[1].timeout must be a duration"));
        let error = toml::from_str::<AgentConfig>("[[inference]]\nurl = \"http://a\"\nkind2 = 1")
            .expect_err("unknown key")
            .to_string();
        assert!(error.contains("unknown field `kind2`"), "{error}");
    }

    #[test]
    fn default_config_round_trips_through_toml() {
        let text = toml::to_string(&AgentConfig::default()).expect("serialises");
        let back: AgentConfig = toml::from_str(&text).expect("parses");
        assert_eq!(back, AgentConfig::default());
    }
}
