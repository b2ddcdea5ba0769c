//! `node_absent`: an agent stopped reporting. A node is absent when its newest point
//! is more than `after` behind the evaluation time, both on the fleet's clock: a node
//! that keeps sending is not absent because its own clock is behind (`store::clock`).
//! After a collector restart a node is not absent before `after` past the restart
//! either: it had nothing to send to a dead collector, and its agent is still
//! replaying what it spooled.

use std::collections::BTreeMap;
use std::time::Duration;

use gpuwatch_model::config::ConfigError;
use gpuwatch_model::names::attr;
use gpuwatch_model::{AlertKind, Finding, Severity, Timestamp};
use serde::{Deserialize, Serialize};

use super::config::{dur, s};
use crate::store::{SourceKind, Store};

/// `node_absent`: an agent stopped reporting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AbsentConfig {
    /// A node is absent when its newest point is this far behind the evaluation time.
    pub after: String,
}

impl Default for AbsentConfig {
    fn default() -> Self {
        AbsentConfig { after: s("30s") }
    }
}

impl AbsentConfig {
    /// `after`, in nanoseconds.
    pub fn validate(&self) -> Result<i64, ConfigError> {
        dur(
            "collector.alerts.node_absent.after",
            &self.after,
            Duration::from_secs(1),
        )
    }
}

pub fn evaluate(store: &Store, after: i64, t: i64) -> Vec<Finding> {
    let resumed = store.clocks().resumed().unwrap_or(i64::MIN);
    store
        .clocks()
        .sources_at(t)
        .filter(|s| s.kind == SourceKind::Node && s.newest.max(resumed) < t.saturating_sub(after))
        .map(|s| (s.name, s.newest))
        .map(|(node, newest)| {
            let silent = (t - newest) as f64 / 1e9;
            Finding {
                kind: AlertKind::NodeAbsent,
                severity: Severity::Critical,
                labels: BTreeMap::from([(attr::HOST_NAME.to_string(), node.to_string())]),
                value: silent,
                summary: format!(
                    "{node}: no data for {:.0}s (last point {})",
                    silent,
                    Timestamp(newest)
                ),
            }
        })
        .collect()
}

/// The `absent` detector in the one list (`detect.rs`).
#[derive(Debug)]
pub struct NodeAbsent;

impl super::detector::Detector for NodeAbsent {
    /// `node_absent.after`, nanoseconds.
    type Settings = i64;
    fn settings(all: &super::config::AlertSettings) -> &i64 {
        &all.node_absent_after
    }
    fn evaluate(cx: &mut super::detector::Context<'_>, after: &i64) -> super::detector::Evaluation {
        evaluate(cx.store, *after, cx.t).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::builder::{same_on_any_clock, Builder, S};

    #[test]
    fn cases() {
        let after = 30 * S;
        let store = Builder::new()
            .series("hw.power", &[("host.name", "fresh")], [(100, 1.0)])
            .series("hw.power", &[("host.name", "borderline")], [(70, 1.0)])
            .series("hw.power", &[("host.name", "gone")], [(60, 1.0)])
            .series("hw.power", &[("service.name", "no-host")], [(0, 1.0)])
            .build();
        let got: Vec<String> = evaluate(&store, after, 100 * S)
            .iter()
            .map(|f| format!("{} {}", f.labels["host.name"], f.value))
            .collect();
        // Exactly 30s behind is still present; a series without host.name is no node.
        assert_eq!(got, vec!["gone 40"]);
        same_on_any_clock("absent", &store, |st, shift| {
            evaluate(st, after, 100 * S + shift)
        });
        // After a restart at 90 s, nobody is absent before 120 s; then "gone" is, for
        // as long as it has really been silent.
        let mut restarted = store;
        restarted.clocks_mut().set_resumed(90 * S);
        let at = |t: i64| -> Vec<String> {
            evaluate(&restarted, after, t * S)
                .iter()
                .map(|f| format!("{} {}", f.labels["host.name"], f.value))
                .collect()
        };
        assert!(at(100).is_empty());
        assert!(at(120).is_empty());
        assert_eq!(at(121), vec!["borderline 51", "gone 61"]);
        // Missing data: an empty store has no nodes to miss.
        assert!(evaluate(&Builder::new().build(), after, 100 * S).is_empty());
    }
}
