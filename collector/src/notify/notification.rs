//! What a notifier sends: one group's alerts at one flush. Rendered into each kind's
//! payload only when sent, so what is spooled to disk holds no secret.

use std::collections::BTreeMap;

use gpuwatch_model::{Alert, AlertState, Severity};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The notifier's name.
    pub notifier: String,
    /// Identifies the group: the notifier and the group labels.
    pub group_key: String,
    pub group_labels: BTreeMap<String, String>,
    /// Firing alerts, then resolved ones.
    pub alerts: Vec<Alert>,
}

impl Notification {
    /// `firing` if any alert fires, else `resolved`.
    pub fn status(&self) -> &'static str {
        if self.alerts.iter().any(|a| a.state != AlertState::Resolved) {
            "firing"
        } else {
            "resolved"
        }
    }
}

pub fn severity_str(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

pub fn state_str(a: &Alert) -> &'static str {
    if a.state == AlertState::Resolved {
        "resolved"
    } else {
        "firing"
    }
}

/// An alert's labels as Alertmanager sees them: its own, plus `alertname` (the kind)
/// and `severity`.
pub fn alert_labels(a: &Alert) -> BTreeMap<String, String> {
    let mut l = a.labels.clone();
    l.insert("alertname".into(), a.kind.as_str().into());
    l.insert("severity".into(), severity_str(a.severity).into());
    l
}

/// The value of group label `name` for `a`: `kind` is an alias of `alertname`.
pub fn group_value(a: &Alert, name: &str) -> Option<String> {
    match name {
        "kind" | "alertname" => Some(a.kind.as_str().to_string()),
        "severity" => Some(severity_str(a.severity).to_string()),
        _ => a.labels.get(name).cloned(),
    }
}

/// Cuts `s` to at most `max` characters, ending in "…" when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
