//! Per-source clocks: how far each sender's timestamps run from the fleet's.
//!
//! Windows run on the data's own timestamps (CONTRACT.md "Time"), so one sender whose
//! clock is wrong must not move everyone's "now". Each source (a node by `host.name`,
//! an application by `service.instance.id` or `service.name`) gets a *skew*: how far
//! its newest point runs ahead of (positive) or behind (negative) the fleet's event
//! time when its request arrives. Detectors read a source at `t + skew`, its own clock
//! ("local time"), so a node three minutes ahead is judged on its own data beside its
//! peers; absence is judged on the aligned clock too, so a node that sends is never
//! absent because its timestamps are behind.
//!
//! How a skew is measured, at the end of each request that brought points:
//! - **The fleet's time** is the median, over the sources that sent within the last
//!   30 s of wall time, of their newest points (a median, so skewed senders up to half
//!   the fleet do not move it; their own newest, not aligned ones, so a skew shared by
//!   every voter cannot sustain itself). A voter behind the request by no more than one
//!   of its own sampling steps, or than the wall time since it last sent, counts as
//!   level with it: senders taking turns in the same second, an SDK exporting once a
//!   minute and a node that just stopped do not look behind. At least three current
//!   sources are needed (two cannot tell which one is wrong).
//! - **A lead** is the request's newest point minus the fleet's time. The skew is the
//!   median of a source's last five leads, so one late request (a retransmission) does
//!   not move it and a clock that jumps (NTP stepping it) is followed within three.
//! - **Jitter is no skew.** Within 5 s, or two of the source's own sampling steps,
//!   the skew is 0; a skew changes only when the measured lead leaves that band around
//!   it, and then to whole seconds. Healthy senders keep a skew of exactly 0, which
//!   is why replays (every source far in the past by the same amount, sent faster
//!   than real time) give exactly the alerts they gave without this module.
//!
//! The skews are kept as change points in the fleet's event time, so a detector
//! evaluating an instant after the fact (the evaluator runs behind ingest) reads the
//! skew that held then, and replays stay deterministic.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

const S: i64 = 1_000_000_000;
/// A source votes on the fleet's time while it sent within this much wall time.
const CURRENT_WITHIN: i64 = 30 * S;
/// Sources needed beside the one judged.
const MIN_VOTERS: usize = 3;
/// Leads a skew is the median of.
const LEADS: usize = 5;
/// Leads within this much of the skew (or two of the source's steps) are jitter.
pub const TOLERANCE: i64 = 5 * S;
/// A source's sampling step counts up to this much.
const MAX_STEP: i64 = 60 * S;

/// Index of a source in `Clocks`.
pub type SourceId = u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SourceKind {
    /// A node, by `host.name`.
    Node,
    /// An application without `host.name`, by `service.instance.id` or `service.name`.
    Application,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Source {
    name: String,
    kind: SourceKind,
    /// Newest point, on the source's own clock; `i64::MIN` before the first.
    newest: i64,
    /// Newest point of the request being stored.
    request_newest: i64,
    /// Newest point of the previous request.
    last_request_newest: i64,
    /// Wall time (Unix ns) of the last request.
    last_arrival: Option<i64>,
    /// Event time between the source's last two requests, up to `MAX_STEP`.
    step: i64,
    leads: VecDeque<i64>,
    /// `(from, skew)`: from the fleet's event time `from`, the skew; oldest first.
    skews: VecDeque<(i64, i64)>,
}

impl Source {
    fn skew_now(&self) -> i64 {
        self.skews.back().map_or(0, |(_, s)| *s)
    }

    fn skew_at(&self, t: i64) -> i64 {
        // Before the first change point the first skew holds: those points came from
        // the same clock.
        let i = self.skews.partition_point(|(from, _)| *from <= t);
        match i {
            0 => self.skews.front().map_or(0, |(_, s)| *s),
            i => self.skews[i - 1].1,
        }
    }

    fn tolerance(&self) -> i64 {
        TOLERANCE.max(self.step.saturating_mul(2))
    }
}

/// Every source's clock, and the fleet's event time they give.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Clocks {
    sources: Vec<Source>,
    index: FxHashMap<(SourceKind, String), SourceId>,
    /// Sources that got points in the request being stored.
    #[serde(skip)]
    touched: Vec<SourceId>,
    /// Wall time the request being stored arrived, between `begin` and `end`.
    #[serde(skip)]
    arrival: Option<i64>,
    /// Wall time the first request arrived.
    first_arrival: Option<i64>,
    /// Newest point of the series that belong to no source.
    unsourced_newest: Option<i64>,
    fleet_now: Option<i64>,
    /// How long change points are kept behind the fleet's time.
    retention: i64,
    /// The fleet's time when this collector came back after a restart (`resume`).
    resumed: Option<i64>,
}

/// One source as the detectors see it at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceAt<'a> {
    pub name: &'a str,
    pub kind: SourceKind,
    /// Newest point, on the fleet's clock (the source's own minus its skew).
    pub newest: i64,
    /// How far its clock runs ahead of the fleet's, nanoseconds.
    pub skew: i64,
}

impl Clocks {
    /// How long change points are kept (a snapshot read back under today's config).
    pub(super) fn set_retention(&mut self, retention: i64) {
        self.retention = retention;
    }

    pub fn new(retention: i64) -> Self {
        Clocks {
            sources: Vec::new(),
            index: FxHashMap::default(),
            touched: Vec::new(),
            arrival: None,
            first_arrival: None,
            unsourced_newest: None,
            fleet_now: None,
            retention,
            resumed: None,
        }
    }

    /// The collector is back after a restart, at wall time `wall_now`, with its log
    /// replayed: the fleet's clock went on while it was down, by the wall time since
    /// the last request. Senders had nothing to send to a dead collector, so none is
    /// absent until it has been silent for a while since then (`detect::absent`).
    pub fn resume(&mut self, wall_now: i64) {
        let last = self.sources.iter().filter_map(|s| s.last_arrival).max();
        if let (Some(fleet), Some(last)) = (self.fleet_now, last) {
            self.resumed = Some(fleet.saturating_add(wall_now.saturating_sub(last).max(0)));
        }
    }

    /// The fleet's time this collector came back at, after a restart.
    pub fn resumed(&self) -> Option<i64> {
        self.resumed
    }

    #[cfg(test)]
    pub(crate) fn set_resumed(&mut self, fleet_t: i64) {
        self.resumed = Some(fleet_t);
    }

    /// The source with this name, created when new.
    pub fn source(&mut self, kind: SourceKind, name: &str) -> SourceId {
        if let Some(&id) = self.index.get(&(kind, name.to_string())) {
            return id;
        }
        let id = self.sources.len() as SourceId;
        self.sources.push(Source {
            name: name.to_string(),
            kind,
            newest: i64::MIN,
            request_newest: i64::MIN,
            last_request_newest: i64::MIN,
            last_arrival: None,
            step: 0,
            leads: VecDeque::with_capacity(LEADS),
            skews: VecDeque::new(),
        });
        self.index.insert((kind, name.to_string()), id);
        id
    }

    /// A request that arrived at `arrival` (wall time, Unix ns) is about to be stored.
    pub fn begin(&mut self, arrival: i64) {
        self.arrival = Some(arrival);
        self.first_arrival.get_or_insert(arrival);
    }

    /// Wall time of the request being stored, between `begin` and `end`.
    pub fn arrival(&self) -> Option<i64> {
        self.arrival
    }

    /// Wall time the first request arrived.
    pub fn first_arrival(&self) -> Option<i64> {
        self.first_arrival
    }

    /// A point at `ts` was stored for `source`.
    pub fn observe(&mut self, source: Option<SourceId>, ts: i64) {
        let aligned = match source {
            Some(id) => {
                let s = &mut self.sources[id as usize];
                s.newest = s.newest.max(ts);
                if self.arrival.is_some() {
                    if s.request_newest == i64::MIN {
                        self.touched.push(id);
                    }
                    s.request_newest = s.request_newest.max(ts);
                }
                ts.saturating_sub(s.skew_now())
            }
            None => {
                self.unsourced_newest = Some(self.unsourced_newest.map_or(ts, |n| n.max(ts)));
                ts
            }
        };
        self.fleet_now = Some(self.fleet_now.map_or(aligned, |n| n.max(aligned)));
    }

    /// The request is stored: measure the lead of every source it brought points for.
    pub fn end(&mut self) {
        let Some(arrival) = self.arrival.take() else {
            return;
        };
        let touched = std::mem::take(&mut self.touched);
        let mut xs = Vec::with_capacity(touched.len());
        for &id in &touched {
            let s = &mut self.sources[id as usize];
            let x = std::mem::replace(&mut s.request_newest, i64::MIN);
            if s.last_request_newest != i64::MIN && x > s.last_request_newest {
                s.step = (x - s.last_request_newest).min(MAX_STEP);
            }
            s.last_request_newest = x;
            s.last_arrival = Some(arrival);
            xs.push(x);
        }
        if touched.is_empty() {
            self.touched = touched;
            return;
        }
        // The fleet's time, judged against the request's median newest point.
        let mut sorted = xs.clone();
        let x_ref = *median_of(&mut sorted);
        let since = arrival.saturating_sub(CURRENT_WITHIN);
        let mut votes: Vec<i64> = self
            .sources
            .iter()
            .filter(|s| s.newest != i64::MIN && s.last_arrival.is_some_and(|a| a >= since))
            .map(|s| {
                if s.newest >= x_ref {
                    return s.newest;
                }
                // Behind the request: level with it when within one of the voter's
                // steps (taking turns) or within the wall time since it last sent (an
                // exporter that sends once a minute, or one that just stopped).
                let elapsed = s.last_arrival.map_or(0, |a| arrival.saturating_sub(a));
                let caught_up = s.step.max(elapsed);
                x_ref.min(s.newest.saturating_add(caught_up))
            })
            .collect();
        let mut changed = false;
        if votes.len() >= MIN_VOTERS {
            let fleet = *median_of(&mut votes);
            for (&id, &x) in touched.iter().zip(&xs) {
                changed |= self.measured(id, fleet, x.saturating_sub(fleet));
            }
        }
        if changed {
            self.recompute_fleet_now();
        }
        let mut touched = touched;
        touched.clear();
        self.touched = touched;
    }

    /// Takes one lead of `id` measured at the fleet's time `fleet`; true when its skew
    /// changed.
    fn measured(&mut self, id: SourceId, fleet: i64, lead: i64) -> bool {
        let retention = self.retention;
        let s = &mut self.sources[id as usize];
        if s.leads.len() == LEADS {
            s.leads.pop_front();
        }
        s.leads.push_back(lead);
        let mut leads: Vec<i64> = s.leads.iter().copied().collect();
        let raw = *median_of(&mut leads);
        let (current, tolerance) = (s.skew_now(), s.tolerance());
        let next = if raw.abs_diff(current) <= tolerance.unsigned_abs() && !s.skews.is_empty() {
            current
        } else if raw.abs() <= tolerance {
            0
        } else {
            // Whole seconds, away from zero at the half.
            raw.saturating_add(raw.signum() * (S / 2)) / S * S
        };
        if !s.skews.is_empty() && next == current {
            return false;
        }
        if s.skews.is_empty() && next == 0 {
            // A healthy first judgement: nothing to record.
            s.skews.push_back((fleet, 0));
            return false;
        }
        s.skews.push_back((fleet, next));
        // Keep the change points the retention can still ask about, and the one in
        // force at its start.
        let horizon = fleet.saturating_sub(retention);
        while s.skews.len() > 1 && s.skews[1].0 <= horizon {
            s.skews.pop_front();
        }
        true
    }

    fn recompute_fleet_now(&mut self) {
        self.fleet_now = self
            .sources
            .iter()
            .filter(|s| s.newest != i64::MIN)
            .map(|s| s.newest.saturating_sub(s.skew_now()))
            .chain(self.unsourced_newest)
            .max();
    }

    /// The fleet's event time: the newest point of any source, each on the fleet's
    /// clock.
    pub fn fleet_now(&self) -> Option<i64> {
        self.fleet_now
    }

    /// `t` (fleet time) on the source's own clock.
    pub fn local_time(&self, source: Option<SourceId>, t: i64) -> i64 {
        match source.and_then(|id| self.sources.get(id as usize)) {
            Some(s) => t.saturating_add(s.skew_at(t)),
            None => t,
        }
    }

    /// Every source with a point, as of the fleet's instant `t`.
    pub fn sources_at(&self, t: i64) -> impl Iterator<Item = SourceAt<'_>> + '_ {
        self.sources
            .iter()
            .filter(|s| s.newest != i64::MIN)
            .map(move |s| {
                let skew = s.skew_at(t);
                SourceAt {
                    name: &s.name,
                    kind: s.kind,
                    newest: s.newest.saturating_sub(skew),
                    skew,
                }
            })
    }

    /// Sets a source's skew from the fleet's time `from` (detector tests).
    #[cfg(test)]
    pub fn set_skew(&mut self, id: SourceId, from: i64, skew: i64) {
        self.sources[id as usize].skews.push_back((from, skew));
        self.recompute_fleet_now();
    }
}

/// The middle value (the lower of the two middle ones), reordering `values`.
fn median_of(values: &mut [i64]) -> &i64 {
    let mid = (values.len() - 1) / 2;
    values.select_nth_unstable(mid).1
}

#[cfg(test)]
mod tests;
