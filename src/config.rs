//! The whole configuration file: one section per component, each validated by the
//! crate that owns it. Unknown keys are refused with their path.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use gpuwatch_agent::{AgentConfig, AgentSettings};
use gpuwatch_collector::{CollectorConfig, CollectorSettings};
use gpuwatch_model::config::{duration_at_least, http_url};
use serde::{Deserialize, Serialize};

/// The documented default configuration, as `gpuwatch config default` prints it.
pub const DEFAULT_TOML: &str = include_str!("../config.toml");

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub agent: AgentConfig,
    pub collector: CollectorConfig,
    pub top: TopConfig,
}

/// `[top]`: the terminal dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopConfig {
    /// The collector API to read.
    pub collector: String,
    /// How often to fetch new data.
    pub refresh: String,
}

impl Default for TopConfig {
    fn default() -> Self {
        TopConfig {
            collector: "http://127.0.0.1:9464".into(),
            refresh: "1s".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TopSettings {
    pub collector: String,
    pub refresh: Duration,
}

impl TopConfig {
    pub fn validate(&self) -> anyhow::Result<TopSettings> {
        let refresh = duration_at_least("top.refresh", &self.refresh, Duration::from_millis(100))?;
        http_url(
            "top.collector",
            &self.collector,
            "http://127.0.0.1:9464",
            false,
        )?;
        Ok(TopSettings {
            collector: self.collector.trim_end_matches('/').to_string(),
            refresh,
        })
    }
}

/// Every section, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub agent: AgentSettings,
    pub collector: CollectorSettings,
    pub top: TopSettings,
}

impl Config {
    /// Parses TOML text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<Config> {
        let de = toml::Deserializer::parse(text)
            .map_err(|e| anyhow::anyhow!("{origin}: not valid TOML: {e}"))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let line = inner
                .span()
                .map(|span| {
                    format!(
                        ":{}",
                        text[..span.start.min(text.len())].matches('\n').count() + 1
                    )
                })
                .unwrap_or_default();
            let message = inner.message().trim_end().to_string();
            let at = if path == "." || path.is_empty() {
                String::new()
            } else {
                format!(" in {path}:")
            };
            anyhow::anyhow!("{origin}{line}:{at} {message}")
        })
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        Config::parse(&text, &path.display().to_string())
    }

    /// The file at `path`, or the defaults when there is none.
    pub fn load_or_default(path: Option<&Path>) -> anyhow::Result<Config> {
        path.map_or_else(|| Ok(Config::default()), Config::load)
    }

    pub fn validate(&self) -> anyhow::Result<Settings> {
        Ok(Settings {
            agent: self.agent.validate()?,
            collector: self.collector.validate()?,
            top: self.top.validate()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn keys(prefix: &str, v: &toml::Value, out: &mut BTreeSet<String>) {
        if let toml::Value::Table(t) = v {
            for (k, v) in t {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if v.is_table() {
                    keys(&path, v, out);
                } else {
                    out.insert(path);
                }
            }
        }
    }

    #[test]
    fn the_documented_file_is_the_defaults() {
        let parsed = Config::parse(DEFAULT_TOML, "config.toml").expect("config.toml parses");
        assert_eq!(parsed, Config::default());
        parsed.validate().expect("defaults validate");
    }

    #[test]
    fn the_documented_file_names_every_key() {
        let mut documented = BTreeSet::new();
        keys(
            "",
            &toml::from_str(DEFAULT_TOML).expect("toml"),
            &mut documented,
        );
        let mut all = BTreeSet::new();
        keys(
            "",
            &toml::Value::try_from(Config::default()).expect("serializes"),
            &mut all,
        );
        assert_eq!(documented, all);
        // Optional keys without a default are documented as comments.
        assert!(DEFAULT_TOML.contains("# nvml_library = "));
    }

    #[test]
    fn unknown_keys_are_named_with_their_section() {
        let err = Config::parse("[agent]\nintervall = \"1s\"\n", "x.toml")
            .expect_err("unknown key")
            .to_string();
        assert!(err.contains("in agent"), "{err}");
        assert!(err.contains("intervall"), "{err}");
        let err = Config::parse("[colector]\n", "x.toml")
            .expect_err("unknown section")
            .to_string();
        assert!(err.contains("colector"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key_and_rule() {
        let cases = [
            (
                "[top]\nrefresh = \"10ms\"\n",
                "top.refresh must be at least 100ms, got 10ms",
            ),
            (
                "[top]\ncollector = \"localhost:9464\"\n",
                "top.collector must be an http:// or https:// URL",
            ),
            (
                "[collector.store]\nretention = \"1s\"\n",
                "collector.store.retention must be at least 10s",
            ),
            ("[agent]\ninterval = \"10ms\"\n", "agent.interval"),
            ("[agent]\nprotocol = \"udp\"\n", "agent.protocol"),
        ];
        for (text, want) in cases {
            let err = Config::parse(text, "x.toml")
                .expect("parses")
                .validate()
                .expect_err(want)
                .to_string();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
        let err = Config::parse("[collector]\nmax_request_bytes = \"big\"\n", "x.toml")
            .expect_err("type error")
            .to_string();
        assert!(err.contains("collector.max_request_bytes"), "{err}");
    }
}
