//! The Alerts tab's list: firing alerts, then pending ones, then the recently resolved,
//! as the latest alerts fetch returned them; a highlighted row that stays on its alert
//! across fetches, scrolled like the GPU table.

use std::cmp::Reverse;

use gpuwatch_model::{Alert, AlertState, Severity};

use super::Key;

/// The alerts and where the list is scrolled to.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AlertList {
    /// In display order: firing, pending, resolved; worst severity first, then newest.
    pub(crate) alerts: Vec<Alert>,
    /// Index into `alerts` of the highlighted row; 0 when there are none.
    pub(crate) selected: usize,
    /// Index into `alerts` of the first visible row.
    pub(crate) offset: usize,
    /// Why the latest alerts fetch failed; `None` after a good one. The list keeps the
    /// alerts of the last good one.
    pub(crate) error: Option<String>,
    /// When the latest good alerts fetch completed, wall clock, Unix ms.
    pub(crate) last_ok_fetch_unix_ms: Option<i64>,
}

/// How many alerts fire, by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FiringCounts {
    pub(crate) critical: usize,
    pub(crate) warning: usize,
    pub(crate) info: usize,
}

impl FiringCounts {
    pub(crate) fn total(self) -> usize {
        self.critical + self.warning + self.info
    }
}

/// Firing first, then pending, then resolved.
fn state_rank(state: AlertState) -> u8 {
    match state {
        AlertState::Firing => 0,
        AlertState::Pending => 1,
        AlertState::Resolved => 2,
    }
}

/// When an alert last changed: its end once resolved, else its start.
pub(crate) fn changed_unix_ms(alert: &Alert) -> i64 {
    alert.ended_at.unwrap_or(alert.started_at).unix_millis()
}

impl AlertList {
    /// Takes the alerts of a good fetch, keeping the highlight on the alert it was on.
    pub(crate) fn set(&mut self, mut alerts: Vec<Alert>, at_unix_ms: i64, visible_rows: usize) {
        let key = |a: &Alert| {
            (
                state_rank(a.state),
                Reverse(a.severity),
                Reverse(changed_unix_ms(a)),
            )
        };
        alerts.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id)));
        let anchor = self.alerts.get(self.selected).map(|a| a.id.clone());
        self.alerts = alerts;
        self.error = None;
        self.last_ok_fetch_unix_ms = Some(at_unix_ms);
        let index = anchor
            .and_then(|id| self.alerts.iter().position(|a| a.id == id))
            .unwrap_or(self.selected);
        self.select(index, visible_rows);
    }

    /// Records a failed fetch; false when it is the same failure again.
    pub(crate) fn fail(&mut self, message: String) -> bool {
        if self.error.as_ref() == Some(&message) {
            return false;
        }
        self.error = Some(message);
        true
    }

    pub(crate) fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(|a| a.state == AlertState::Firing)
    }

    pub(crate) fn firing_counts(&self) -> FiringCounts {
        let mut counts = FiringCounts::default();
        for alert in self.firing() {
            match alert.severity {
                Severity::Critical => counts.critical += 1,
                Severity::Warning => counts.warning += 1,
                Severity::Info => counts.info += 1,
            }
        }
        counts
    }

    /// Moves the highlight as the GPU table does (arrows, j k, pages, g G); false for
    /// keys that do not move it.
    pub(crate) fn on_key(&mut self, key: Key, visible_rows: usize) -> bool {
        let Some(index) = super::fetched::moved(key, self.selected, visible_rows) else {
            return false;
        };
        self.select(index, visible_rows);
        true
    }

    /// Highlights row `index`, clamped to the rows there are, and scrolls it into a
    /// view of `visible_rows`.
    pub(crate) fn select(&mut self, index: usize, visible_rows: usize) {
        self.selected = index.min(self.alerts.len().saturating_sub(1));
        self.keep_selection_visible(visible_rows);
    }

    pub(crate) fn keep_selection_visible(&mut self, visible_rows: usize) {
        let rows = visible_rows.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + rows {
            self.offset = self.selected + 1 - rows;
        }
        self.offset = self.offset.min(self.alerts.len().saturating_sub(rows));
    }
}
