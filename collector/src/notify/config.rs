//! `[[collector.notifiers]]` and `collector.notify_spool_dir`: parsed with serde
//! (unknown keys refused), then validated into settings. URLs and routing keys may come
//! from environment variables and are held as [`Secret`]s.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use gpuwatch_model::{AlertKind, Severity};
use serde::{Deserialize, Serialize};

use gpuwatch_model::config::{duration_at_least as dur, http_url, ConfigError};

/// PagerDuty's Events API v2 endpoint, used when a `pagerduty` notifier has no `url`.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// A value that must not reach logs, `Debug` output or the API.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[secret]")
    }
}

/// Where a notifier sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifierKind {
    /// Alertmanager's webhook payload, version 4.
    Webhook,
    /// A Slack incoming webhook, with blocks.
    Slack,
    /// PagerDuty Events API v2.
    Pagerduty,
}

impl NotifierKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifierKind::Webhook => "webhook",
            NotifierKind::Slack => "slack",
            NotifierKind::Pagerduty => "pagerduty",
        }
    }
}

/// One `[[collector.notifiers]]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierConfig {
    /// Names the notifier in logs, in `gpuwatch_notifications_total{notifier}` and as
    /// the webhook payload's `receiver`; unique.
    pub name: String,
    /// `webhook`, `slack` or `pagerduty`.
    pub kind: NotifierKind,
    /// Where to POST. Required for `webhook` and `slack` unless `url_env` is set;
    /// `pagerduty` defaults to PagerDuty's Events API v2 endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// An environment variable that holds the URL (Slack webhook URLs are secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
    /// `pagerduty` only: the environment variable that holds the integration's
    /// routing key. The key is never written in the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key_env: Option<String>,
    /// Alert kinds to send; empty sends every kind.
    #[serde(default)]
    pub kinds: Vec<AlertKind>,
    /// The least severity sent: `info`, `warning` or `critical`.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Whether to notify when an alert resolves.
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    /// Labels whose values group alerts into one notification; `kind` (or
    /// `alertname`) is the alert kind, `severity` its severity.
    #[serde(default = "default_group_by")]
    pub group_by: Vec<String>,
    /// How long a new group waits for more alerts before its first notification.
    #[serde(default = "default_group_wait")]
    pub group_wait: String,
    /// How long a group waits before notifying about alerts added or resolved since
    /// its last notification.
    #[serde(default = "default_group_interval")]
    pub group_interval: String,
    /// How long before a notification that changed nothing is sent again.
    #[serde(default = "default_repeat_interval")]
    pub repeat_interval: String,
}

fn default_min_severity() -> Severity {
    Severity::Info
}
fn default_true() -> bool {
    true
}
fn default_group_by() -> Vec<String> {
    vec!["kind".to_string()]
}
fn default_group_wait() -> String {
    "30s".to_string()
}
fn default_group_interval() -> String {
    "5m".to_string()
}
fn default_repeat_interval() -> String {
    "4h".to_string()
}

impl NotifierConfig {
    /// A notifier of `kind` named `name` posting to `url`, every other key at its
    /// default.
    pub fn new(name: &str, kind: NotifierKind, url: Option<&str>) -> Self {
        NotifierConfig {
            name: name.to_string(),
            kind,
            url: url.map(str::to_string),
            url_env: None,
            routing_key_env: None,
            kinds: Vec::new(),
            min_severity: default_min_severity(),
            send_resolved: true,
            group_by: default_group_by(),
            group_wait: default_group_wait(),
            group_interval: default_group_interval(),
            repeat_interval: default_repeat_interval(),
        }
    }
}

/// The validated form of one notifier.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifierSettings {
    pub name: String,
    pub kind: NotifierKind,
    pub url: Secret,
    /// `pagerduty` only.
    pub routing_key: Option<Secret>,
    /// Empty: every kind.
    pub kinds: Vec<AlertKind>,
    pub min_severity: Severity,
    pub send_resolved: bool,
    pub group_by: Vec<String>,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
}

/// Every notifier and where pending notifications are kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifySettings {
    pub notifiers: Vec<NotifierSettings>,
    /// `None`: pending notifications live in memory only.
    pub spool_dir: Option<PathBuf>,
}

/// Reads `var` for `key`; the value is never shown.
fn from_env(key: &str, var: &str) -> Result<Secret, ConfigError> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim().to_string())),
        _ => Err(ConfigError::new(
            key,
            format!("names the environment variable {var}, which is not set or empty"),
        )),
    }
}

fn check_url(key: &str, url: &Secret, shown: bool) -> Result<(), ConfigError> {
    http_url(key, url.expose(), "", !shown)
}

impl NotifierConfig {
    pub fn validate(&self, index: usize) -> Result<NotifierSettings, ConfigError> {
        let key = |k: &str| format!("collector.notifiers[{index}].{k}");
        if self.name.trim().is_empty() {
            return Err(ConfigError::new(key("name"), "must not be empty"));
        }
        let url = match (&self.url, &self.url_env) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    key("url"),
                    "and url_env are both set; set one",
                ))
            }
            (Some(u), None) => {
                let url = Secret(u.clone());
                check_url(&key("url"), &url, false)?;
                url
            }
            (None, Some(var)) => {
                let url = from_env(&key("url_env"), var)?;
                check_url(&key("url_env"), &url, false)?;
                url
            }
            (None, None) if self.kind == NotifierKind::Pagerduty => {
                let url = Secret(PAGERDUTY_EVENTS_URL.to_string());
                check_url(&key("url"), &url, false)?;
                url
            }
            (None, None) => {
                return Err(ConfigError::new(
                    key("url"),
                    format!(
                        "is required for a {} notifier (or set url_env)",
                        self.kind.as_str()
                    ),
                ))
            }
        };
        let routing_key = match (self.kind, &self.routing_key_env) {
            (NotifierKind::Pagerduty, Some(var)) => Some(from_env(&key("routing_key_env"), var)?),
            (NotifierKind::Pagerduty, None) => {
                return Err(ConfigError::new(
                    key("routing_key_env"),
                    "is required for a pagerduty notifier: name the environment variable \
                     that holds the routing key",
                ))
            }
            (_, Some(_)) => {
                return Err(ConfigError::new(
                    key("routing_key_env"),
                    "is only for pagerduty notifiers",
                ))
            }
            (_, None) => None,
        };
        if let Some(bad) = self.group_by.iter().find(|l| l.trim().is_empty()) {
            return Err(ConfigError::new(
                key("group_by"),
                format!("holds an empty label name {bad:?}"),
            ));
        }
        let group_wait = dur(&key("group_wait"), &self.group_wait, Duration::ZERO)?;
        let group_interval = dur(&key("group_interval"), &self.group_interval, Duration::ZERO)?;
        let repeat_interval = dur(
            &key("repeat_interval"),
            &self.repeat_interval,
            Duration::from_secs(1),
        )?;
        Ok(NotifierSettings {
            name: self.name.trim().to_string(),
            kind: self.kind,
            url,
            routing_key,
            kinds: self.kinds.clone(),
            min_severity: self.min_severity,
            send_resolved: self.send_resolved,
            group_by: self.group_by.clone(),
            group_wait,
            group_interval,
            repeat_interval,
        })
    }
}

/// Validates every notifier (names unique) and the spool directory.
pub fn validate(
    notifiers: &[NotifierConfig],
    spool_dir: &str,
) -> Result<NotifySettings, ConfigError> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(notifiers.len());
    for (i, n) in notifiers.iter().enumerate() {
        let s = n.validate(i)?;
        if !names.insert(s.name.clone()) {
            return Err(ConfigError::new(
                format!("collector.notifiers[{i}].name"),
                format!(
                    "{:?} is used by an earlier notifier; names must be unique",
                    s.name
                ),
            ));
        }
        out.push(s);
    }
    let spool_dir = spool_dir.trim();
    Ok(NotifySettings {
        notifiers: out,
        spool_dir: (!spool_dir.is_empty()).then(|| PathBuf::from(spool_dir)),
    })
}
