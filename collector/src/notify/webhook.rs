//! `webhook`: Alertmanager's webhook payload, version 4, so anything that takes
//! Alertmanager webhooks takes ours (prometheus/alertmanager `notify/webhook` and
//! `template.Data`).

use std::collections::BTreeMap;

use gpuwatch_model::Alert;
use serde::Serialize;

use super::notification::{alert_labels, state_str, Notification};

/// Alertmanager's zero time, its `endsAt` for an alert still firing.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub version: &'static str,
    pub group_key: String,
    pub truncated_alerts: u64,
    pub status: &'static str,
    pub receiver: String,
    pub group_labels: BTreeMap<String, String>,
    pub common_labels: BTreeMap<String, String>,
    pub common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<WebhookAlert>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    pub status: &'static str,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

fn annotations(a: &Alert) -> BTreeMap<String, String> {
    BTreeMap::from([("summary".to_string(), a.summary.clone())])
}

/// The pairs every map holds with the same value.
fn common(maps: &[BTreeMap<String, String>]) -> BTreeMap<String, String> {
    let Some((first, rest)) = maps.split_first() else {
        return BTreeMap::new();
    };
    first
        .iter()
        .filter(|(k, v)| rest.iter().all(|m| m.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub fn render(n: &Notification, external_url: &str) -> serde_json::Value {
    let generator_url = format!("{external_url}/api/v1/alerts?state=all");
    let labels: Vec<_> = n.alerts.iter().map(alert_labels).collect();
    let notes: Vec<_> = n.alerts.iter().map(annotations).collect();
    let alerts = n
        .alerts
        .iter()
        .zip(labels.iter().zip(&notes))
        .map(|(a, (l, an))| WebhookAlert {
            status: state_str(a),
            labels: l.clone(),
            annotations: an.clone(),
            starts_at: a.started_at.to_rfc3339(),
            ends_at: a
                .ended_at
                .map_or_else(|| ZERO_TIME.to_string(), |t| t.to_rfc3339()),
            generator_url: generator_url.clone(),
            fingerprint: a.id.clone(),
        })
        .collect();
    let message = Message {
        version: "4",
        group_key: n.group_key.clone(),
        truncated_alerts: 0,
        status: n.status(),
        receiver: n.notifier.clone(),
        group_labels: n.group_labels.clone(),
        common_labels: common(&labels),
        common_annotations: common(&notes),
        external_url: external_url.to_string(),
        alerts,
    };
    serde_json::to_value(message).unwrap_or(serde_json::Value::Null)
}
