//! `pagerduty`: PagerDuty Events API v2, one event per alert: `trigger` while it
//! fires, `resolve` when it resolves, `dedup_key` = the alert's fingerprint so the two
//! meet in one PagerDuty incident.

use gpuwatch_model::{Alert, AlertState};
use serde_json::{json, Value};

use super::config::Secret;
use super::notification::{severity_str, truncate};

/// PagerDuty's limit on `payload.summary`.
const SUMMARY_MAX_CHARS: usize = 1024;

pub fn render(alert: &Alert, routing_key: &Secret) -> Value {
    let action = if alert.state == AlertState::Resolved {
        "resolve"
    } else {
        "trigger"
    };
    let label = |k: &str| alert.labels.get(k).cloned();
    let summary = if alert.summary.is_empty() {
        alert.kind.to_string()
    } else {
        alert.summary.clone()
    };
    json!({
        "routing_key": routing_key.expose(),
        "event_action": action,
        "dedup_key": alert.id,
        "client": "gpuwatch",
        "payload": {
            "summary": truncate(&summary, SUMMARY_MAX_CHARS),
            "source": label("host.name").unwrap_or_else(|| "gpuwatch".to_string()),
            "severity": severity_str(alert.severity),
            "timestamp": alert.started_at.to_rfc3339(),
            "component": label("hw.id").unwrap_or_else(|| alert.kind.to_string()),
            "group": label("gpuwatch.job.id")
                .or_else(|| label("gpuwatch.cluster"))
                .unwrap_or_else(|| "gpuwatch".to_string()),
            "class": alert.kind.as_str(),
            "custom_details": {
                "labels": alert.labels,
                "value": alert.value,
                "started_at": alert.started_at.to_rfc3339(),
                "ended_at": alert.ended_at.map(|t| t.to_rfc3339()),
            },
        },
    })
}
