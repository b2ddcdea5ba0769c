//! The alert manager: findings become alerts with stable fingerprints. A finding is
//! `pending` until it has held for its kind's `for`, then `firing`; a firing alert
//! resolves only after its condition has stayed clear for `clear_for`, so a value
//! oscillating around a threshold does not flap. Everything runs on event time.

use std::collections::{BTreeMap, HashSet, VecDeque};

use gpuwatch_model::{Alert, AlertKind, AlertState, Finding, Timestamp};

use crate::detect::AlertSettings;

/// What changed at one evaluation, for notifiers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "transition", content = "alert", rename_all = "snake_case")]
pub enum Transition {
    Firing(Alert),
    Resolved(Alert),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Tracked {
    alert: Alert,
    /// When the condition was first seen, this episode.
    since: i64,
    /// When the condition was last seen.
    last_seen: i64,
}

/// Which alerts `alerts()` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Firing,
    Resolved,
    /// Pending, firing and resolved.
    All,
}

#[derive(Debug)]
pub struct AlertManager {
    settings: AlertSettings,
    active: BTreeMap<String, Tracked>,
    resolved: VecDeque<Alert>,
}

/// What the alert manager knows, as `collector.data_dir` keeps it across restarts.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedAlerts {
    /// Pending and firing alerts, by fingerprint.
    active: Vec<(String, Tracked)>,
    /// Resolved alerts still listed, oldest first.
    resolved: Vec<Alert>,
}

impl SavedAlerts {
    /// How many of the saved alerts were firing.
    pub(crate) fn firing(&self) -> usize {
        self.active
            .iter()
            .filter(|(_, t)| t.alert.state == AlertState::Firing)
            .count()
    }
}

impl AlertManager {
    pub(crate) fn saved(&self) -> SavedAlerts {
        SavedAlerts {
            active: self
                .active
                .iter()
                .map(|(id, t)| (id.clone(), t.clone()))
                .collect(),
            resolved: self.resolved.iter().cloned().collect(),
        }
    }

    /// Takes up what an earlier run saved: a firing alert stays firing, with no
    /// second "firing" transition, and resolves when its condition has cleared.
    pub(crate) fn restore(&mut self, saved: SavedAlerts) {
        self.active = saved.active.into_iter().collect();
        self.resolved = saved.resolved.into_iter().collect();
    }

    pub fn new(settings: AlertSettings) -> Self {
        AlertManager {
            settings,
            active: BTreeMap::new(),
            resolved: VecDeque::new(),
        }
    }

    /// The `for` duration of a kind, nanoseconds.
    fn for_of(&self, kind: AlertKind) -> i64 {
        let s = &self.settings;
        match kind {
            AlertKind::GpuHang => s.gpu_hang.for_,
            AlertKind::GpuStalled => s.gpu_stalled.for_,
            AlertKind::GpuThrottle => s.gpu_throttle.for_,
            AlertKind::GpuStraggler => s.gpu_straggler.for_,
            AlertKind::DataBottleneck => s.data_bottleneck.for_,
            AlertKind::ModelDrift => s.model_drift.for_,
            AlertKind::LatencyRegression => s.latency_regression.for_,
            AlertKind::ClockSkew => s.clock_skew.for_,
            AlertKind::FabricDegraded => s.fabric_degraded.for_,
            _ => 0,
        }
    }

    /// Takes every finding of the evaluation at `t`; returns what started firing or
    /// resolved.
    pub fn update(&mut self, findings: Vec<Finding>, t: i64) -> Vec<Transition> {
        let mut changes = Vec::new();
        let mut seen = HashSet::with_capacity(findings.len());
        for f in findings {
            let id = f.fingerprint();
            let for_ = self.for_of(f.kind);
            seen.insert(id.clone());
            let tracked = self.active.entry(id.clone()).or_insert_with(|| Tracked {
                alert: Alert {
                    id,
                    kind: f.kind,
                    severity: f.severity,
                    state: AlertState::Pending,
                    summary: String::new(),
                    labels: f.labels.clone(),
                    value: f.value,
                    started_at: Timestamp(t),
                    ended_at: None,
                },
                since: t,
                last_seen: t,
            });
            tracked.last_seen = t;
            tracked.alert.summary = f.summary;
            tracked.alert.value = f.value;
            tracked.alert.severity = f.severity;
            if tracked.alert.state == AlertState::Pending && t - tracked.since >= for_ {
                tracked.alert.state = AlertState::Firing;
                tracked.alert.started_at = Timestamp(t);
                changes.push(Transition::Firing(tracked.alert.clone()));
            }
        }
        let clear_for = self.settings.clear_for;
        let mut ended = Vec::new();
        self.active.retain(|id, tr| {
            if seen.contains(id) {
                return true;
            }
            match tr.alert.state {
                // A condition that clears before its `for` never becomes an alert.
                AlertState::Pending => false,
                AlertState::Firing if t - tr.last_seen >= clear_for => {
                    let mut alert = tr.alert.clone();
                    alert.state = AlertState::Resolved;
                    alert.ended_at = Some(Timestamp(t));
                    ended.push(alert);
                    false
                }
                _ => true,
            }
        });
        for alert in ended {
            changes.push(Transition::Resolved(alert.clone()));
            self.resolved.push_back(alert);
        }
        let horizon = t.saturating_sub(self.settings.keep_resolved);
        while self
            .resolved
            .front()
            .is_some_and(|a| a.ended_at.is_some_and(|e| e.0 < horizon))
        {
            self.resolved.pop_front();
        }
        changes
    }

    /// Alerts in `state`, most severe first, then oldest first.
    pub fn alerts(&self, state: StateFilter) -> Vec<Alert> {
        let active = self.active.values().map(|t| &t.alert);
        let mut out: Vec<Alert> = match state {
            StateFilter::Firing => active
                .filter(|a| a.state == AlertState::Firing)
                .cloned()
                .collect(),
            StateFilter::Resolved => self.resolved.iter().rev().cloned().collect(),
            StateFilter::All => active.chain(self.resolved.iter().rev()).cloned().collect(),
        };
        out.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.started_at.cmp(&b.started_at))
                .then(a.id.cmp(&b.id))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use gpuwatch_model::Severity;

    use super::*;
    use crate::detect::AlertsConfig;

    const S: i64 = 1_000_000_000;

    fn hang(node: &str) -> Finding {
        Finding {
            kind: AlertKind::GpuHang,
            severity: Severity::Critical,
            labels: BTreeMap::from([("host.name".to_string(), node.to_string())]),
            value: 0.99,
            summary: format!("{node} hangs"),
        }
    }

    /// Defaults: gpu_hang `for` 5m, clear_for 1m.
    fn manager() -> AlertManager {
        AlertManager::new(AlertsConfig::default().validate().expect("defaults"))
    }

    fn states(m: &AlertManager) -> Vec<(String, AlertState)> {
        m.alerts(StateFilter::All)
            .into_iter()
            .map(|a| (a.summary, a.state))
            .collect()
    }

    #[test]
    fn pending_then_firing_after_for_then_resolved_after_clear_for() {
        let mut m = manager();
        let mut fired_at = None;
        for t in (0..=300).step_by(5) {
            for change in m.update(vec![hang("a")], t * S) {
                if let Transition::Firing(a) = change {
                    fired_at = Some(a.started_at);
                }
            }
            if t < 300 {
                assert_eq!(
                    states(&m),
                    vec![("a hangs".into(), AlertState::Pending)],
                    "t={t}"
                );
            }
        }
        assert_eq!(fired_at, Some(Timestamp(300 * S)));
        assert_eq!(m.alerts(StateFilter::Firing).len(), 1);
        // Clear for less than a minute: still firing.
        for t in (305..360).step_by(5) {
            assert!(m.update(vec![], t * S).is_empty(), "t={t}");
        }
        assert_eq!(m.alerts(StateFilter::Firing).len(), 1);
        let changes = m.update(vec![], 360 * S);
        let [Transition::Resolved(a)] = changes.as_slice() else {
            panic!("expected one resolution, got {changes:?}");
        };
        assert_eq!(a.ended_at, Some(Timestamp(360 * S)));
        assert_eq!(a.started_at, Timestamp(300 * S));
        assert!(m.alerts(StateFilter::Firing).is_empty());
        assert_eq!(m.alerts(StateFilter::Resolved).len(), 1);
    }

    #[test]
    fn a_condition_that_clears_while_pending_never_fires() {
        let mut m = manager();
        m.update(vec![hang("a")], 0);
        m.update(vec![hang("a")], 200 * S);
        assert!(m.update(vec![], 205 * S).is_empty());
        assert!(m.alerts(StateFilter::All).is_empty());
        // It starts over: the next episode waits its full `for` again.
        m.update(vec![hang("a")], 210 * S);
        m.update(vec![hang("a")], 500 * S);
        assert!(m.alerts(StateFilter::Firing).is_empty());
        assert_eq!(m.update(vec![hang("a")], 510 * S).len(), 1);
    }

    #[test]
    fn oscillating_around_the_threshold_does_not_flap() {
        let mut m = manager();
        let mut transitions = Vec::new();
        // Held for 5 minutes, then on for 20 s and off for 20 s for ten minutes.
        for t in (0..=900).step_by(5) {
            let on = t <= 300 || (t / 20) % 2 == 0;
            let findings = if on { vec![hang("a")] } else { vec![] };
            transitions.extend(m.update(findings, t * S));
        }
        assert_eq!(transitions.len(), 1, "{transitions:?}");
        assert!(matches!(transitions[0], Transition::Firing(_)));
        assert_eq!(m.alerts(StateFilter::Firing).len(), 1);
    }

    #[test]
    fn zero_for_fires_at_once_and_fingerprints_are_per_labels() {
        let mut m = manager();
        let absent = |node: &str| Finding {
            kind: AlertKind::NodeAbsent,
            severity: Severity::Critical,
            labels: BTreeMap::from([("host.name".to_string(), node.to_string())]),
            value: 40.0,
            summary: format!("{node} gone"),
        };
        let changes = m.update(vec![absent("a"), absent("b")], 10 * S);
        assert_eq!(changes.len(), 2);
        let ids: HashSet<String> = m
            .alerts(StateFilter::Firing)
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&absent("a").fingerprint()));
    }

    #[test]
    fn resolved_alerts_age_out() {
        let mut m = manager();
        let absent = Finding {
            kind: AlertKind::NodeAbsent,
            severity: Severity::Critical,
            labels: BTreeMap::new(),
            value: 1.0,
            summary: "gone".into(),
        };
        m.update(vec![absent], 0);
        m.update(vec![], 60 * S);
        assert_eq!(m.alerts(StateFilter::Resolved).len(), 1);
        m.update(vec![], (60 + 24 * 3600) * S);
        assert_eq!(
            m.alerts(StateFilter::Resolved).len(),
            1,
            "kept for exactly 24h"
        );
        m.update(vec![], (61 + 24 * 3600) * S);
        assert!(m.alerts(StateFilter::Resolved).is_empty());
    }
}
