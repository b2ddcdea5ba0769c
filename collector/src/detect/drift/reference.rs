//! Frozen drift references: per model series group, the first window of `window`
//! length that starts `reference_after` past the group's first point and holds at least
//! `min_count` observations. Once complete it is copied out of the store, so it
//! outlives the store's retention; a window with too few observations is skipped for
//! the next one. A collector restart freezes anew from what the store then holds.

use std::collections::BTreeMap;

use gpuwatch_model::AlertKind;

use super::{add, group_of, observed, settings, Group};
use crate::detect::config::{DriftSettings, Reference};
use crate::drift::stats::Buckets;
use crate::store::Store;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Frozen {
    /// Start of the reference window (or of the next candidate), Unix nanoseconds on
    /// the fleet's clock.
    start: i64,
    /// The observations of `(start, start + window]`, once complete and large enough.
    buckets: Option<Buckets>,
}

/// The frozen references of every group seen, kept beside the cost ledger.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DriftReferences {
    groups: BTreeMap<Group, Frozen>,
}

/// The references as `collector.data_dir` keeps them across restarts.
pub(crate) type SavedReferences = Vec<(Group, Frozen)>;

impl DriftReferences {
    pub fn new() -> DriftReferences {
        DriftReferences::default()
    }

    pub(crate) fn saved(&self) -> SavedReferences {
        self.groups
            .iter()
            .map(|(g, f)| (g.clone(), f.clone()))
            .collect()
    }

    /// Takes up what an earlier run froze (a reference seeded from history since is
    /// kept over it).
    pub(crate) fn restore(&mut self, saved: SavedReferences) {
        for (group, frozen) in saved {
            self.groups.entry(group).or_insert(frozen);
        }
    }

    /// The frozen reference of `group`, once there is one.
    pub(super) fn get(&self, group: &Group) -> Option<&Buckets> {
        self.groups.get(group)?.buckets.as_ref()
    }

    /// Where the frozen reference of `group` starts, once there is one.
    pub(super) fn since(&self, group: &Group) -> Option<i64> {
        let frozen = self.groups.get(group)?;
        frozen.buckets.as_ref().map(|_| frozen.start)
    }

    /// Sets the reference of `(kind, model, what)` (a feature, `prediction`, or a latency
    /// metric) from elsewhere, e.g. a date range of history, starting at `from`.
    pub fn seed(
        &mut self,
        kind: AlertKind,
        model: &str,
        what: &str,
        from: i64,
        bounds: Vec<f64>,
        counts: Vec<f64>,
    ) -> bool {
        let Some(buckets) = Buckets::new(bounds, counts) else {
            return false;
        };
        self.groups.insert(
            (kind, model.to_string(), what.to_string()),
            Frozen {
                start: from,
                buckets: Some(buckets),
            },
        );
        true
    }

    /// How many groups have a frozen reference.
    pub fn frozen(&self) -> usize {
        self.groups.values().filter(|f| f.buckets.is_some()).count()
    }

    /// Notes new groups and freezes the windows that are complete at `t`.
    pub fn update(
        &mut self,
        store: &Store,
        drift: &DriftSettings,
        latency: &DriftSettings,
        t: i64,
    ) {
        // New groups start their first candidate window `after` their first point.
        for s in store.series() {
            let Some(group) = group_of(s) else { continue };
            let Reference::Frozen { after } = settings(group.0, drift, latency).reference else {
                continue;
            };
            let Some((first, _)) = s.histograms().and_then(|r| r.iter().next()) else {
                continue;
            };
            // The first point on the fleet's clock, so a skewed sender starts the same
            // window as a right one (`store::clock`).
            let first = first.saturating_sub(store.series_time(s, first).saturating_sub(first));
            let start = first.saturating_add(after);
            self.groups.entry(group).or_insert(Frozen {
                start,
                buckets: None,
            });
        }
        // Candidates whose window ended by `t`: sum their series over the window.
        let mut ready: BTreeMap<Group, Option<Buckets>> = BTreeMap::new();
        for (group, f) in &self.groups {
            let window = settings(group.0, drift, latency).window;
            if f.buckets.is_none() && f.start.saturating_add(window) <= t {
                ready.insert(group.clone(), None);
            }
        }
        if ready.is_empty() {
            return;
        }
        for s in store.series() {
            let Some(group) = group_of(s) else { continue };
            let (Some(sum), Some(f)) = (ready.get_mut(&group), self.groups.get(&group)) else {
                continue;
            };
            let window = settings(group.0, drift, latency).window;
            let from = store.series_time(s, f.start);
            if let Some(b) = observed(s, from, from + window) {
                add(sum, b);
            }
        }
        for (group, sum) in ready {
            let cfg = settings(group.0, drift, latency);
            let Some(f) = self.groups.get_mut(&group) else {
                continue;
            };
            match sum.filter(|b| b.total() >= cfg.min_count) {
                Some(b) => f.buckets = Some(b),
                // Too few observations: try the next window.
                None => f.start += cfg.window,
            }
        }
    }
}
