//! Grouping as Alertmanager does it: alerts with the same values of `group_by` share a
//! group; a new group waits `group_wait` for more alerts before its first
//! notification, later changes wait until `group_interval` after the last one, and a
//! group whose alerts still fire but changed nothing is sent again after
//! `repeat_interval`. Pure: the caller passes the time.

use std::collections::BTreeMap;

use gpuwatch_model::{Alert, AlertState};
use tokio::time::Instant;

use super::config::NotifierSettings;
use super::notification::{group_value, Notification};

#[derive(Debug)]
struct Group {
    labels: BTreeMap<String, String>,
    /// By fingerprint: firing alerts, and resolved ones not yet sent.
    alerts: BTreeMap<String, Alert>,
    /// Something changed since the last notification.
    dirty: bool,
    /// When this group is looked at next.
    next_flush: Instant,
    last_flush: Option<Instant>,
}

/// One notifier's groups.
#[derive(Debug)]
pub struct Groups {
    settings: NotifierSettings,
    groups: BTreeMap<String, Group>,
}

impl Groups {
    pub fn new(settings: NotifierSettings) -> Self {
        Groups {
            settings,
            groups: BTreeMap::new(),
        }
    }

    pub fn settings(&self) -> &NotifierSettings {
        &self.settings
    }

    /// Whether this notifier wants `alert` at all (its kind and severity filters).
    pub fn wants(&self, alert: &Alert) -> bool {
        let s = &self.settings;
        (s.kinds.is_empty() || s.kinds.contains(&alert.kind)) && alert.severity >= s.min_severity
    }

    /// The group `alert` belongs to: its key and its `group_by` labels.
    fn group_of(&self, alert: &Alert) -> (String, BTreeMap<String, String>) {
        let labels: BTreeMap<String, String> = self
            .settings
            .group_by
            .iter()
            .filter_map(|name| group_value(alert, name).map(|v| (name.clone(), v)))
            .collect();
        let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        (
            format!("{}:{{{}}}", self.settings.name, pairs.join(",")),
            labels,
        )
    }

    /// Takes up, after a restart, an alert still firing that an earlier run already
    /// told this notifier about: back in its group, with nothing new to say, so it is
    /// not sent again as new but repeats `repeat_interval` after the group's last
    /// notification (`told_ago` of each group key, as `told` gave them; from now when
    /// unknown), and a later notification of its group (its resolution, another alert)
    /// lists it as Alertmanager would.
    pub fn resume(
        &mut self,
        alert: Alert,
        now: Instant,
        told_ago: &BTreeMap<String, std::time::Duration>,
    ) {
        if !self.wants(&alert) || alert.state == AlertState::Resolved {
            return;
        }
        let (key, labels) = self.group_of(&alert);
        let repeat = self.settings.repeat_interval;
        let last = told_ago
            .get(&key)
            .and_then(|ago| now.checked_sub(*ago))
            .unwrap_or(now);
        let group = self.groups.entry(key).or_insert_with(|| Group {
            labels,
            alerts: BTreeMap::new(),
            dirty: false,
            next_flush: last + repeat,
            last_flush: Some(last),
        });
        group.alerts.insert(alert.id.clone(), alert);
    }

    /// When each group was last notified, as wall time (Unix ns) given `now` and the
    /// wall clock's `wall_now`: what a restart needs to keep `repeat_interval`.
    pub fn told(&self, now: Instant, wall_now: i64) -> Vec<(String, i64)> {
        self.groups
            .iter()
            .filter_map(|(key, g)| {
                let ago = now.saturating_duration_since(g.last_flush?);
                let ago = i64::try_from(ago.as_nanos()).unwrap_or(i64::MAX);
                Some((key.clone(), wall_now.saturating_sub(ago)))
            })
            .collect()
    }

    /// Takes an alert that started firing or resolved.
    pub fn add(&mut self, alert: Alert, now: Instant) {
        if !self.wants(&alert) {
            return;
        }
        let (key, labels) = self.group_of(&alert);
        let resolved = alert.state == AlertState::Resolved;
        let send_resolved = self.settings.send_resolved;
        let group_wait = self.settings.group_wait;
        let group_interval = self.settings.group_interval;
        if resolved && !send_resolved {
            // Nothing to say: forget it (it leaves the next notification's firing list).
            if let Some(g) = self.groups.get_mut(&key) {
                g.alerts.remove(&alert.id);
                if g.alerts.is_empty() {
                    self.groups.remove(&key);
                }
            }
            return;
        }
        let group = self.groups.entry(key).or_insert_with(|| Group {
            labels,
            alerts: BTreeMap::new(),
            dirty: false,
            next_flush: now + group_wait,
            last_flush: None,
        });
        group.alerts.insert(alert.id.clone(), alert);
        if !group.dirty {
            group.dirty = true;
            if let Some(last) = group.last_flush {
                group.next_flush = (last + group_interval).max(now);
            }
        }
    }

    /// Whether `t` waits in a group for its first notification (a crash now would
    /// lose it).
    pub fn holds_unsent(&self, t: &crate::alerts::Transition) -> bool {
        let (crate::alerts::Transition::Firing(a) | crate::alerts::Transition::Resolved(a)) = t;
        self.groups.values().any(|g| {
            g.dirty
                && g.alerts
                    .get(&a.id)
                    .is_some_and(|held| held.state == a.state)
        })
    }

    /// When the next group is due, if any.
    pub fn next_due(&self) -> Option<Instant> {
        self.groups.values().map(|g| g.next_flush).min()
    }

    /// The notifications of every group due at `now` (every group with something to
    /// say when `all`, as at shutdown).
    pub fn flush(&mut self, now: Instant, all: bool) -> Vec<Notification> {
        let mut out = Vec::new();
        let repeat = self.settings.repeat_interval;
        let name = self.settings.name.clone();
        self.groups.retain(|key, g| {
            if !(g.next_flush <= now || (all && g.dirty)) {
                return true;
            }
            let firing: Vec<Alert> = g
                .alerts
                .values()
                .filter(|a| a.state != AlertState::Resolved)
                .cloned()
                .collect();
            let resolved: Vec<Alert> = g
                .alerts
                .values()
                .filter(|a| a.state == AlertState::Resolved)
                .cloned()
                .collect();
            let repeat_due = g.last_flush.is_none_or(|last| now >= last + repeat);
            if g.dirty || (!firing.is_empty() && repeat_due) {
                let mut alerts = firing.clone();
                alerts.extend(resolved);
                if !alerts.is_empty() {
                    out.push(Notification {
                        notifier: name.clone(),
                        group_key: key.clone(),
                        group_labels: g.labels.clone(),
                        alerts,
                    });
                }
                g.last_flush = Some(now);
            }
            g.alerts.retain(|_, a| a.state != AlertState::Resolved);
            g.dirty = false;
            g.next_flush = g.last_flush.map_or(now, |last| last + repeat);
            !g.alerts.is_empty()
        });
        out
    }
}
