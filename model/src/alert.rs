//! Alerts as `GET /api/v1/alerts` returns them (CONTRACT.md "Alerts").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// The fixed vocabulary of alert kinds: add, never rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    GpuHang,
    GpuStalled,
    GpuStraggler,
    DataBottleneck,
    ModelDrift,
    LatencyRegression,
    GpuXid,
    GpuThrottle,
    IdleGpuCost,
    BudgetBurn,
    NodeAbsent,
    ClockSkew,
    FabricDegraded,
}

impl AlertKind {
    pub const ALL: [AlertKind; 13] = [
        AlertKind::GpuHang,
        AlertKind::GpuStalled,
        AlertKind::GpuStraggler,
        AlertKind::DataBottleneck,
        AlertKind::ModelDrift,
        AlertKind::LatencyRegression,
        AlertKind::GpuXid,
        AlertKind::GpuThrottle,
        AlertKind::IdleGpuCost,
        AlertKind::BudgetBurn,
        AlertKind::NodeAbsent,
        AlertKind::ClockSkew,
        AlertKind::FabricDegraded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::GpuHang => "gpu_hang",
            AlertKind::GpuStalled => "gpu_stalled",
            AlertKind::GpuStraggler => "gpu_straggler",
            AlertKind::DataBottleneck => "data_bottleneck",
            AlertKind::ModelDrift => "model_drift",
            AlertKind::LatencyRegression => "latency_regression",
            AlertKind::GpuXid => "gpu_xid",
            AlertKind::GpuThrottle => "gpu_throttle",
            AlertKind::IdleGpuCost => "idle_gpu_cost",
            AlertKind::BudgetBurn => "budget_burn",
            AlertKind::NodeAbsent => "node_absent",
            AlertKind::ClockSkew => "clock_skew",
            AlertKind::FabricDegraded => "fabric_degraded",
        }
    }
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Pending,
    Firing,
    Resolved,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable fingerprint of kind and identifying labels.
    pub id: String,
    pub kind: AlertKind,
    pub severity: Severity,
    pub state: AlertState,
    pub summary: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
}

impl Alert {
    /// A stable fingerprint of the kind and the identifying labels: 64-bit FNV-1a over
    /// `kind`, then each `key=value` in key order, as 16 hex digits. Independent of
    /// process, platform and Rust version, so it survives restarts and can key
    /// PagerDuty's `dedup_key`.
    pub fn fingerprint(kind: AlertKind, labels: &BTreeMap<String, String>) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        eat(kind.as_str().as_bytes());
        for (k, v) in labels {
            eat(&[0]);
            eat(k.as_bytes());
            eat(b"=");
            eat(v.as_bytes());
        }
        format!("{h:016x}")
    }
}

/// What a detector found at one instant: the alert manager turns a finding that holds
/// for its `for` duration into a firing alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: AlertKind,
    pub severity: Severity,
    /// Identify the thing the finding is about (node, GPU, job, code): they make the
    /// fingerprint, so they hold no values that change from one evaluation to the next.
    pub labels: BTreeMap<String, String>,
    /// The measured value that crossed the threshold.
    pub value: f64,
    pub summary: String,
}

impl Finding {
    pub fn fingerprint(&self) -> String {
        Alert::fingerprint(self.kind, &self.labels)
    }
}

/// `GET /api/v1/alerts` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertsResponse {
    pub alerts: Vec<Alert>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialize_as_contract_names() {
        for kind in AlertKind::ALL {
            let json = serde_json::to_string(&kind).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }

    #[test]
    fn alert_matches_contract_shape() {
        let labels: BTreeMap<String, String> = [
            ("host.name", "node-07"),
            ("hw.id", "GPU-1"),
            ("gpuwatch.job.id", "4411"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let alert = Alert {
            id: Alert::fingerprint(AlertKind::GpuHang, &labels),
            kind: AlertKind::GpuHang,
            severity: Severity::Critical,
            state: AlertState::Firing,
            summary: "node-07 gpu3: 99% busy at 71 W with no NVLink traffic for 5m".into(),
            labels,
            value: 0.99,
            started_at: Timestamp(1_795_860_000 * 1_000_000_000),
            ended_at: None,
        };
        let v = serde_json::to_value(&alert).unwrap_or_default();
        assert_eq!(v["kind"], "gpu_hang");
        assert_eq!(v["severity"], "critical");
        assert_eq!(v["state"], "firing");
        assert_eq!(v["started_at"], "2026-11-28T10:00:00Z");
        assert!(v["ended_at"].is_null());
        assert_eq!(v["labels"]["host.name"], "node-07");
        let back: Alert = serde_json::from_value(v).expect("round trip");
        assert_eq!(back, alert);
    }

    #[test]
    fn fingerprint_is_stable_and_label_sensitive() {
        let mut labels = BTreeMap::new();
        labels.insert("host.name".to_string(), "node-0".to_string());
        let a = Alert::fingerprint(AlertKind::NodeAbsent, &labels);
        // Pinned (FNV-1a 64 computed independently in Python): a change here breaks
        // dedup keys already sent to PagerDuty.
        assert_eq!(a, "d6b89a2ef8a4f7ba");
        assert_ne!(a, Alert::fingerprint(AlertKind::GpuHang, &labels));
        labels.insert("host.name".to_string(), "node-1".to_string());
        assert_ne!(a, Alert::fingerprint(AlertKind::NodeAbsent, &labels));
    }
}
