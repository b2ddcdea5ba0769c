//! The live store: one bounded, columnar ring per series, found by a hash of the
//! series' identity so that ingest allocates only when a series is new.
//!
//! Everything runs on event time: eviction, windows and "now" come from the points'
//! own timestamps (CONTRACT.md "Time").

pub mod builder;
pub mod clock;
mod gorilla;
mod histograms;
mod ring;
mod scalars;
mod settings;
mod snapshot;

use std::collections::BTreeMap;
use std::sync::Arc;

use gpuwatch_model::names::attr;
use gpuwatch_model::series::{Attr, Interner as _};
use gpuwatch_model::SeriesKey;
use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::xxh3_128;

pub use clock::{Clocks, SourceAt, SourceId, SourceKind};
pub use histograms::Histograms;
pub use ring::{Dropped, Refusal, Ring};
pub use scalars::{Points, Scalars};
pub use settings::{ByteSize, StoreConfig, StoreSettings};

/// What one series costs before its points: its slot in the series table and in the
/// index. Its key's strings come on top.
pub const SERIES_OVERHEAD: usize =
    std::mem::size_of::<Series>() + std::mem::size_of::<(u64, SeriesId)>();

/// Index of a series in the store; stable for the store's life.
pub type SeriesId = u32;

/// What kind of instrument a series came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SeriesKind {
    Gauge,
    /// Monotonic sum, stored cumulative (delta sums are accumulated on ingest).
    Counter,
    /// Non-monotonic sum, stored cumulative.
    UpDownCounter,
    /// Explicit-bucket histogram (exponential histograms are converted on ingest).
    Histogram,
    /// Summary: count and sum kept, quantiles dropped.
    Summary,
}

impl SeriesKind {
    fn is_scalar(self) -> bool {
        matches!(
            self,
            SeriesKind::Gauge | SeriesKind::Counter | SeriesKind::UpDownCounter
        )
    }
}

/// One cumulative histogram observation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistogramPoint {
    pub count: u64,
    pub sum: f64,
    /// Upper bounds; `counts` has one more entry (the `+Inf` bucket). Empty for summaries.
    pub bounds: Arc<[f64]>,
    pub counts: Vec<u64>,
}

#[derive(Debug, Clone)]
pub enum SeriesData {
    Scalar(Scalars),
    Histogram(Histograms),
}

#[derive(Debug, Clone)]
pub struct Series {
    pub key: SeriesKey,
    pub kind: SeriesKind,
    pub unit: Arc<str>,
    pub data: SeriesData,
    /// The sender whose clock the series' timestamps are on (`host.name`, else
    /// `service.instance.id` or `service.name`).
    source: Option<SourceId>,
    /// `identity_hash` of the key.
    identity: u128,
    /// The metric name's index in the store's metric list: detectors that look for
    /// one metric among a GPU's series compare numbers, not strings.
    pub metric_id: u32,
    /// Next series whose identity hash is the same (collision chain).
    next_same_hash: Option<SeriesId>,
}

impl Series {
    /// The newest scalar point.
    pub fn last_scalar(&self) -> Option<(i64, f64)> {
        match &self.data {
            SeriesData::Scalar(r) => r.last(),
            SeriesData::Histogram(_) => None,
        }
    }

    /// Event time of the newest point of any kind.
    pub fn last_ts(&self) -> Option<i64> {
        match &self.data {
            SeriesData::Scalar(r) => r.last().map(|(t, _)| t),
            SeriesData::Histogram(r) => r.last().map(|(t, _)| t),
        }
    }

    /// Per-second rate of a cumulative series over its two newest points.
    pub fn rate(&self) -> Option<f64> {
        let SeriesData::Scalar(r) = &self.data else {
            return None;
        };
        let (t1, v1) = r.last()?;
        let (t0, v0) = r.previous()?;
        let dt = (t1 - t0) as f64 / 1e9;
        // A counter that went down was reset: no rate across the reset.
        (dt > 0.0 && v1 >= v0).then(|| (v1 - v0) / dt)
    }

    /// Adds the points the series holds and the bytes they take to `u`.
    fn add_points_to(&self, u: &mut Usage) {
        let (points, bytes) = match &self.data {
            SeriesData::Scalar(r) => (r.stored_points(), r.bytes()),
            SeriesData::Histogram(r) => (r.len() as u64, r.bytes()),
        };
        u.points += points;
        u.point_bytes += bytes;
    }

    pub fn scalars(&self) -> Option<&Scalars> {
        match &self.data {
            SeriesData::Scalar(r) => Some(r),
            SeriesData::Histogram(_) => None,
        }
    }

    pub fn histograms(&self) -> Option<&Histograms> {
        match &self.data {
            SeriesData::Histogram(r) => Some(r),
            SeriesData::Scalar(_) => None,
        }
    }
}

/// `collector.store.max_attributes` by default: far more than the agent (about 15) or
/// an SDK's resource and a point need.
pub const DEFAULT_MAX_ATTRIBUTES: usize = 64;
/// `collector.store.max_attribute_length` by default, in bytes.
pub const DEFAULT_MAX_ATTRIBUTE_LENGTH: usize = 1024;

/// Why a data point was refused. Counted per reason, reported in `partial_success`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum RejectReason {
    /// The store holds `max_series` series already.
    CardinalityLimit,
    /// Older than the retention window behind the series' newest point.
    TooOld,
    /// `time_unix_nano` is 0.
    MissingTimestamp,
    /// A number point without a value.
    NoValue,
    /// The same series arrived as a number and as a histogram.
    TypeConflict,
    /// A metric without a name.
    MissingName,
    /// More than `max_future` ahead of the collector's clock when it arrived.
    Future,
    /// A new series while the store is at `max_bytes` with nothing old left to let go.
    MemoryBudget,
    /// Its resource's `host.name` is not one the sender's token may send as
    /// (`collector.auth.ingest_tokens_file`).
    ForbiddenHost,
    /// More attributes than `collector.store.max_attributes`, or a name or value longer
    /// than `max_attribute_length`.
    LabelLimit,
}

impl RejectReason {
    pub const ALL: [RejectReason; 10] = [
        RejectReason::CardinalityLimit,
        RejectReason::TooOld,
        RejectReason::MissingTimestamp,
        RejectReason::NoValue,
        RejectReason::TypeConflict,
        RejectReason::MissingName,
        RejectReason::Future,
        RejectReason::MemoryBudget,
        RejectReason::ForbiddenHost,
        RejectReason::LabelLimit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::CardinalityLimit => "cardinality_limit",
            RejectReason::TooOld => "too_old",
            RejectReason::MissingTimestamp => "missing_timestamp",
            RejectReason::NoValue => "no_value",
            RejectReason::TypeConflict => "type_conflict",
            RejectReason::MissingName => "missing_name",
            RejectReason::Future => "future",
            RejectReason::MemoryBudget => "memory_budget",
            RejectReason::ForbiddenHost => "forbidden_host",
            RejectReason::LabelLimit => "label_limit",
        }
    }
}

/// The GPUs the store has seen: `(host.name, hw.id)` to their series.
#[derive(Debug, Clone, Default)]
pub struct GpuEntry {
    pub series: Vec<SeriesId>,
    /// The GPU's node, whose clock its series are on.
    pub source: Option<SourceId>,
}

/// A value to insert, already converted from the wire.
#[derive(Debug, Clone)]
pub enum PointValue {
    Number(f64),
    Histogram(HistogramPoint),
}

#[derive(Debug)]
pub struct Store {
    settings: StoreSettings,
    series: Vec<Series>,
    index: FxHashMap<u64, SeriesId>,
    gpus: BTreeMap<(String, String), GpuEntry>,
    metric_ids: FxHashMap<Arc<str>, u32>,
    /// Every metric name, unit, attribute key and value the series' keys hold, once.
    strings: Interner,
    pub(crate) clocks: Clocks,
    oldest_ts: Option<i64>,
    points_accepted: u64,
    rejected: BTreeMap<RejectReason, u64>,
    evicted: Evicted,
    budget: Budget,
}

/// Why points left the store: counted for `gpuwatch_store_evicted_points_total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Evicted {
    pub retention: u64,
    pub max_points: u64,
    pub memory_budget: u64,
}

impl Evicted {
    fn add(&mut self, d: Dropped) {
        self.retention += d.retention;
        self.max_points += d.max_points;
    }
}

/// The memory budget's state, checked every so many accepted points.
#[derive(Debug, Default)]
struct Budget {
    /// `points_accepted` at the last check.
    checked_at: u64,
    /// The last check found the store over `max_bytes` with nothing left to let go:
    /// new series are refused until it is under again.
    full: bool,
    warned: bool,
}

/// Hashes one attribute, 128 bits, for an order-independent sum over the set.
pub fn attr_hash(key: &str, value: &str) -> u128 {
    let k = xxh3_128(key.as_bytes());
    let v = xxh3_128(value.as_bytes());
    // Asymmetric, so `a=b` and `b=a` differ.
    mix128(k.rotate_left(43) ^ v.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
}

fn mix128(x: u128) -> u128 {
    let lo = x as u64;
    let hi = (x >> 64) as u64;
    let f = |mut z: u64| {
        z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        z = (z ^ (z >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        z ^ (z >> 33)
    };
    (u128::from(f(hi ^ lo.rotate_left(29))) << 64) | u128::from(f(lo ^ hi.rotate_left(17)))
}

/// The identity of a series: the metric name with the wrapping sum of its attributes'
/// `attr_hash`es. 128 bits make an accidental collision among even billions of series
/// vanishingly unlikely (about 2^-64 at 2^32 series), so a match is not re-checked
/// attribute by attribute (debug builds still check). A sender who could craft a
/// collision gains nothing: it can already send points with any labels it likes.
pub fn identity_hash(metric: &str, attr_sum: u128) -> u128 {
    mix128(xxh3_128(metric.as_bytes()) ^ attr_sum.rotate_left(64))
}

impl Store {
    pub fn new(settings: StoreSettings) -> Self {
        Store {
            clocks: Clocks::new(settings.retention_ns),
            settings,
            series: Vec::new(),
            index: FxHashMap::default(),
            gpus: BTreeMap::new(),
            metric_ids: FxHashMap::default(),
            strings: Interner::default(),
            oldest_ts: None,
            points_accepted: 0,
            rejected: BTreeMap::new(),
            evicted: Evicted::default(),
            budget: Budget::default(),
        }
    }

    pub fn settings(&self) -> &StoreSettings {
        &self.settings
    }

    /// Finds the series with this identity, or creates it. `attrs` must have unique
    /// keys; `identity` is `identity_hash(metric, sum of attr_hash)` over them.
    pub fn resolve<'a>(
        &mut self,
        identity: u128,
        metric: &str,
        unit: &str,
        kind: SeriesKind,
        attrs: &[(&'a str, std::borrow::Cow<'a, str>)],
    ) -> Result<SeriesId, RejectReason> {
        let bucket = identity as u64;
        let mut cursor = self.index.get(&bucket).copied();
        let mut tail = None;
        while let Some(id) = cursor {
            let s = &self.series[id as usize];
            // The identity holds the metric's name too: no string to compare (and no
            // cache line of it to read) on the path every point takes.
            if s.identity == identity {
                debug_assert!(
                    s.key.metric() == metric
                        && s.key.attrs.len() == attrs.len()
                        && attrs.iter().all(|(k, v)| s.key.get(k) == Some(v.as_ref())),
                    "identity collision: {} and {attrs:?}",
                    s.key
                );
                if s.kind.is_scalar() != kind.is_scalar() {
                    return Err(RejectReason::TypeConflict);
                }
                return Ok(id);
            }
            tail = Some(id);
            cursor = s.next_same_hash;
        }
        if self.series.len() >= self.settings.max_series {
            return Err(RejectReason::CardinalityLimit);
        }
        if self.budget.full {
            return Err(RejectReason::MemoryBudget);
        }
        let id =
            SeriesId::try_from(self.series.len()).map_err(|_| RejectReason::CardinalityLimit)?;
        let key = SeriesKey::interned(
            metric,
            attrs.iter().map(|(k, v)| (*k, v.as_ref())),
            &mut self.strings,
        );
        let source = match key.get(attr::HOST_NAME) {
            Some(host) => Some(self.clocks.source(SourceKind::Node, host)),
            None => key
                .get(attr::SERVICE_INSTANCE_ID)
                .or_else(|| key.get(attr::SERVICE_NAME))
                .map(|app| self.clocks.source(SourceKind::Application, app)),
        };
        let next_metric = self.metric_ids.len() as u32;
        let metric_id = *self
            .metric_ids
            .entry(Arc::clone(&key.metric))
            .or_insert(next_metric);
        // `hw.id` names any hardware; a fabric port (`hw.type = network`) is no GPU.
        let is_gpu = key.get(attr::HW_TYPE).is_none_or(|t| t == "gpu");
        if let (Some(host), Some(gpu), true) =
            (key.get(attr::HOST_NAME), key.get(attr::HW_ID), is_gpu)
        {
            let entry = self
                .gpus
                .entry((host.to_string(), gpu.to_string()))
                .or_default();
            entry.series.push(id);
            entry.source = source;
        }
        let data = if kind.is_scalar() {
            SeriesData::Scalar(Scalars::default())
        } else {
            SeriesData::Histogram(Histograms::default())
        };
        if self.series.len() == self.series.capacity() {
            // By an eighth, not double: a table of a million series holds 300 MB.
            self.series.reserve_exact((self.series.len() / 8).max(16));
        }
        self.series.push(Series {
            key,
            kind,
            unit: self.strings.string(unit),
            data,
            source,
            identity,
            metric_id,
            next_same_hash: None,
        });
        match tail {
            Some(t) => self.series[t as usize].next_same_hash = Some(id),
            None => {
                self.index.insert(bucket, id);
            }
        }
        Ok(id)
    }

    /// A request that arrived at `arrival` (wall time, Unix ns) is about to be stored:
    /// points too far ahead of it are refused, and once `end_request` runs the senders'
    /// clocks are compared (`clock`).
    pub fn begin_request(&mut self, arrival: i64) {
        self.clocks.begin(arrival);
    }

    /// The request begun by `begin_request` is stored.
    pub fn end_request(&mut self) {
        self.clocks.end();
        if self.points_accepted - self.budget.checked_at >= self.budget_interval() {
            self.enforce_budget();
        }
    }

    /// Accepted points between two checks of the memory budget: about one per series,
    /// so the walk over every series costs a constant per point, and few enough that
    /// the store cannot overshoot its budget by much between checks.
    fn budget_interval(&self) -> u64 {
        let per_series = (self.series.len() as u64).max(4096);
        per_series.min((self.settings.max_bytes / 64).max(4096))
    }

    /// Keeps the store within `max_bytes`: past it, the chunks oldest behind their
    /// series' newest point go first (counted as `memory_budget`) until the store is
    /// at 95% of the budget. When even that is not enough, new series are refused
    /// until it is.
    pub fn enforce_budget(&mut self) {
        self.budget.checked_at = self.points_accepted;
        let max = usize::try_from(self.settings.max_bytes).unwrap_or(usize::MAX);
        let used = self.usage().bytes();
        if used <= max {
            self.budget.full = false;
            return;
        }
        let excess = used - max / 20 * 19;
        // Bytes of the evictable chunks by age, oldest bucket last.
        const BUCKETS: usize = 256;
        let width = (self.settings.retention_ns / BUCKETS as i64).max(1);
        let mut by_age = [0usize; BUCKETS + 1];
        let bucket = |age: i64| usize::try_from(age / width).unwrap_or(0).min(BUCKETS);
        for s in &self.series {
            match &s.data {
                SeriesData::Scalar(r) => r.sealed_ages(|age, b| by_age[bucket(age)] += b),
                SeriesData::Histogram(r) => r.chunk_ages(|age, b| by_age[bucket(age)] += b),
            }
        }
        let mut freed = 0;
        let mut cutoff = 0;
        for b in (0..=BUCKETS).rev() {
            freed += by_age[b];
            cutoff = b as i64 * width;
            if freed >= excess {
                break;
            }
        }
        let mut evicted = 0;
        for s in &mut self.series {
            evicted += match &mut s.data {
                SeriesData::Scalar(r) => r.evict_older_than(cutoff),
                SeriesData::Histogram(r) => r.evict_older_than(cutoff),
            };
        }
        self.evicted.memory_budget += evicted;
        self.budget.full = freed < excess;
        if !self.budget.warned {
            self.budget.warned = true;
            tracing::warn!(
                max_bytes = self.settings.max_bytes,
                used_bytes = used,
                evicted_points = evicted,
                kept_seconds = cutoff / 1_000_000_000,
                "the live store reached collector.store.max_bytes: it now keeps less than \
                 collector.store.retention for the oldest data (counted in \
                 gpuwatch_store_evicted_points_total{{reason=\"memory_budget\"}}); raise \
                 max_bytes or lower max_series or retention. Said once."
            );
        }
    }

    /// The store is at its memory budget with nothing old left to let go of.
    pub fn is_full(&self) -> bool {
        self.budget.full
    }

    /// Points let go of since the store began, by why.
    pub fn evicted(&self) -> Evicted {
        self.evicted
    }

    /// Stores one point. Delta points (`delta = true`) are added to the series'
    /// running total so every sum is kept cumulative.
    pub fn insert(
        &mut self,
        id: SeriesId,
        ts: i64,
        value: PointValue,
        delta: bool,
    ) -> Result<(), RejectReason> {
        let max_points = self.settings.max_points_per_series;
        let retention = self.settings.retention_ns;
        if let Some(arrival) = self.clocks.arrival() {
            if ts > arrival.saturating_add(self.settings.max_future_ns) {
                return Err(RejectReason::Future);
            }
        }
        let series = &mut self.series[id as usize];
        let result = match (&mut series.data, value) {
            (SeriesData::Scalar(ring), PointValue::Number(v)) => {
                let v = match (delta, ring.last()) {
                    (true, Some((_, prev))) => prev + v,
                    _ => v,
                };
                ring.insert(ts, v, max_points, retention)
            }
            (SeriesData::Histogram(ring), PointValue::Histogram(mut h)) => {
                if let (true, Some((_, prev))) = (delta, ring.last()) {
                    if prev.bounds == h.bounds && prev.counts.len() == h.counts.len() {
                        // Counts from a sender: saturate rather than overflow.
                        for (c, p) in h.counts.iter_mut().zip(&prev.counts) {
                            *c = c.saturating_add(*p);
                        }
                        h.count = h.count.saturating_add(prev.count);
                        h.sum += prev.sum;
                    }
                }
                ring.insert(ts, h, max_points, retention)
            }
            _ => return Err(RejectReason::TypeConflict),
        };
        let dropped = result.map_err(|Refusal::TooOld| RejectReason::TooOld)?;
        self.evicted.add(dropped);
        self.clocks.observe(series.source, ts);
        self.oldest_ts = Some(self.oldest_ts.map_or(ts, |n| n.min(ts)));
        self.points_accepted += 1;
        Ok(())
    }

    /// Counts `n` refused points.
    pub fn count_rejected(&mut self, reason: RejectReason, n: u64) {
        *self.rejected.entry(reason).or_default() += n;
    }

    /// The index of a metric name, when any series of it exists.
    pub fn metric_id(&self, metric: &str) -> Option<u32> {
        self.metric_ids.get(metric).copied()
    }

    pub fn series(&self) -> &[Series] {
        &self.series
    }

    pub fn get(&self, id: SeriesId) -> Option<&Series> {
        self.series.get(id as usize)
    }

    pub fn gpus(&self) -> &BTreeMap<(String, String), GpuEntry> {
        &self.gpus
    }

    /// Every node that sent a series with `host.name`, with its newest point's time
    /// on the fleet's clock (its own minus its skew now).
    pub fn nodes(&self) -> impl Iterator<Item = (&str, i64)> + '_ {
        self.clocks
            .sources_at(i64::MAX)
            .filter(|s| s.kind == SourceKind::Node)
            .map(|s| (s.name, s.newest))
    }

    /// The fleet's event time, "now": the newest point from any source, each source's
    /// points on the fleet's clock (`clock`).
    pub fn newest_ts(&self) -> Option<i64> {
        self.clocks.fleet_now()
    }

    /// The senders' clocks.
    pub fn clocks(&self) -> &Clocks {
        &self.clocks
    }

    /// See `Clocks::resume`.
    pub fn resume(&mut self, wall_now: i64) {
        self.clocks.resume(wall_now);
    }

    #[cfg(test)]
    pub(crate) fn clocks_mut(&mut self) -> &mut Clocks {
        &mut self.clocks
    }

    /// `t` (the fleet's time) on the clock of the GPU's node.
    pub fn gpu_time(&self, gpu: &GpuEntry, t: i64) -> i64 {
        self.clocks.local_time(gpu.source, t)
    }

    /// `t` (the fleet's time) on the clock of the series' sender.
    pub fn series_time(&self, series: &Series, t: i64) -> i64 {
        self.clocks.local_time(series.source, t)
    }

    /// Event time of the oldest point ever accepted (it may have been evicted since).
    pub fn oldest_ts(&self) -> Option<i64> {
        self.oldest_ts
    }

    pub fn points_accepted(&self) -> u64 {
        self.points_accepted
    }

    pub fn rejected(&self, reason: RejectReason) -> u64 {
        self.rejected.get(&reason).copied().unwrap_or(0)
    }

    /// Points refused for any reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// What the store holds and the memory it takes. Walks every series without
    /// decoding: a few milliseconds at a million series.
    pub fn usage(&self) -> Usage {
        let mut u = Usage::default();
        for s in &self.series {
            s.add_points_to(&mut u);
            u.series_bytes += std::mem::size_of::<Series>();
        }
        u.series_bytes += self.strings.bytes()
            + self.metric_ids.capacity() * std::mem::size_of::<(Arc<str>, u32)>();
        u.series_bytes += self.series.capacity().saturating_sub(self.series.len())
            * std::mem::size_of::<Series>()
            + self.index.capacity() * std::mem::size_of::<(u64, SeriesId)>();
        u
    }
}

impl Store {
    /// `usage`, per metric name.
    pub fn usage_by_metric(&self) -> BTreeMap<String, Usage> {
        let mut out: BTreeMap<String, Usage> = BTreeMap::new();
        for s in &self.series {
            s.add_points_to(out.entry(s.key.metric.to_string()).or_default());
        }
        out
    }
}

/// Shared copies of the strings and attribute sets series keys hold.
#[derive(Debug, Default)]
struct Interner {
    strings: rustc_hash::FxHashSet<Arc<str>>,
    /// Each `key=value` pair, by its `attr_hash`.
    pairs: FxHashMap<u128, Attr>,
    sets: rustc_hash::FxHashSet<Arc<[Attr]>>,
    /// Bytes of the strings, the pairs and the sets' slices.
    held: usize,
}

impl gpuwatch_model::series::Interner for Interner {
    fn string(&mut self, s: &str) -> Arc<str> {
        if let Some(have) = self.strings.get(s) {
            return Arc::clone(have);
        }
        let new: Arc<str> = Arc::from(s);
        self.held += s.len() + ARC_COUNTS;
        self.strings.insert(Arc::clone(&new));
        new
    }

    fn attr(&mut self, key: &str, value: &str) -> Attr {
        let hash = attr_hash(key, value);
        match self.pairs.get(&hash) {
            Some(have) if have.pair() == (key, value) => return have.clone(),
            // Another pair with the same 128-bit hash: held unshared.
            Some(_) => return Attr::new(self.string(key), self.string(value)),
            None => {}
        }
        let new = Attr::new(self.string(key), self.string(value));
        self.held += std::mem::size_of::<(Arc<str>, Arc<str>)>() + ARC_COUNTS;
        self.pairs.insert(hash, new.clone());
        new
    }

    fn attrs(&mut self, attrs: Vec<Attr>) -> Arc<[Attr]> {
        if let Some(have) = self.sets.get(attrs.as_slice()) {
            return Arc::clone(have);
        }
        let new: Arc<[Attr]> = attrs.into();
        self.held += std::mem::size_of_val::<[Attr]>(&new) + ARC_COUNTS;
        self.sets.insert(Arc::clone(&new));
        new
    }
}

/// An `Arc`'s two reference counts, before its data.
const ARC_COUNTS: usize = 2 * std::mem::size_of::<usize>();

impl Interner {
    /// What is held, and the sets' slots.
    fn bytes(&self) -> usize {
        self.held
            + self.strings.capacity() * std::mem::size_of::<Arc<str>>()
            + self.pairs.capacity() * std::mem::size_of::<(u128, Attr)>()
            + self.sets.capacity() * std::mem::size_of::<Arc<[Attr]>>()
    }
}

/// `Store::usage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Points held, including the few past the bounds that wait for their chunk to go.
    pub points: u64,
    /// Bytes the points take: compressed chunks, histogram rings and their spare room.
    pub point_bytes: usize,
    /// Bytes the series themselves take: keys, units, the series table and its index.
    pub series_bytes: usize,
}

impl Usage {
    pub fn bytes(&self) -> usize {
        self.point_bytes + self.series_bytes
    }
}

/// A xorshift64 generator from `seed`: the tests' reproducible random numbers.
#[cfg(test)]
pub(crate) fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn settings(max_series: usize) -> StoreSettings {
        StoreSettings {
            max_series,
            max_points_per_series: 100,
            retention_ns: 900 * 1_000_000_000,
            max_future_ns: 600 * 1_000_000_000,
            max_bytes: u64::MAX,
            max_attributes: DEFAULT_MAX_ATTRIBUTES,
            max_attribute_length: DEFAULT_MAX_ATTRIBUTE_LENGTH,
        }
    }

    fn resolve(
        store: &mut Store,
        metric: &str,
        attrs: &[(&str, &str)],
    ) -> Result<SeriesId, RejectReason> {
        let attrs: Vec<(&str, Cow<str>)> =
            attrs.iter().map(|(k, v)| (*k, Cow::Borrowed(*v))).collect();
        let sum = attrs
            .iter()
            .fold(0u128, |acc, (k, v)| acc.wrapping_add(attr_hash(k, v)));
        store.resolve(
            identity_hash(metric, sum),
            metric,
            "1",
            SeriesKind::Gauge,
            &attrs,
        )
    }

    #[test]
    fn same_identity_in_any_order_is_one_series() {
        let mut store = Store::new(settings(10));
        let a = resolve(
            &mut store,
            "hw.power",
            &[("host.name", "n0"), ("hw.id", "GPU-0")],
        );
        let b = resolve(
            &mut store,
            "hw.power",
            &[("hw.id", "GPU-0"), ("host.name", "n0")],
        );
        let c = resolve(
            &mut store,
            "hw.power",
            &[("hw.id", "GPU-1"), ("host.name", "n0")],
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(store.series().len(), 2);
        assert_eq!(store.gpus().len(), 2);
    }

    #[test]
    fn series_share_their_attribute_pairs_and_sets() {
        let mut store = Store::new(settings(10));
        let gpu = [("host.name", "n0"), ("hw.id", "GPU-0")];
        let power = resolve(&mut store, "hw.power", &gpu).expect("room");
        let temp = resolve(&mut store, "gpuwatch.gpu.temperature", &gpu).expect("room");
        let link = resolve(
            &mut store,
            "hw.gpu.io",
            &[
                ("host.name", "n0"),
                ("hw.id", "GPU-0"),
                ("gpuwatch.link", "nvlink"),
            ],
        )
        .expect("room");
        let key = |id: SeriesId| &store.series()[id as usize].key;
        // The same set: one copy.
        assert!(Arc::ptr_eq(&key(power).attrs, &key(temp).attrs));
        // Another set, its pairs shared with the first.
        assert!(!Arc::ptr_eq(&key(power).attrs, &key(link).attrs));
        assert!(key(power).attrs[0].is_shared_with(&key(link).attrs[1]));
        assert_eq!(key(link).attrs[1].pair(), ("host.name", "n0"));
        assert!(key(power).attrs[1].is_shared_with(&key(link).attrs[2]));
        assert_eq!(
            key(link).pairs().collect::<Vec<_>>(),
            [
                ("gpuwatch.link", "nvlink"),
                ("host.name", "n0"),
                ("hw.id", "GPU-0")
            ]
        );
        // Equal to an unshared key of the same attributes.
        let plain = SeriesKey::new("hw.power", gpu);
        assert_eq!(key(power), &plain);
        assert!(!key(power).attrs[0].is_shared_with(&plain.attrs[0]));
    }

    #[test]
    fn bucket_collisions_are_told_apart() {
        let mut store = Store::new(settings(10));
        let attrs = [("k", Cow::Borrowed("v"))];
        // Two identities that share the low 64 bits, the index bucket.
        let (x, y) = (7u128, (1u128 << 64) | 7);
        let a = store.resolve(x, "m1", "1", SeriesKind::Gauge, &attrs);
        let b = store.resolve(y, "m1", "1", SeriesKind::Gauge, &attrs);
        let a2 = store.resolve(x, "m1", "1", SeriesKind::Gauge, &attrs);
        let b2 = store.resolve(y, "m1", "1", SeriesKind::Gauge, &attrs);
        assert_ne!(a, b);
        assert_eq!(a, a2);
        assert_eq!(b, b2);
    }

    #[test]
    fn identity_ignores_order_but_not_pairing() {
        let sum = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .fold(0u128, |acc, (k, v)| acc.wrapping_add(attr_hash(k, v)))
        };
        let a = sum(&[("a", "1"), ("b", "2")]);
        assert_eq!(a, sum(&[("b", "2"), ("a", "1")]));
        assert_ne!(a, sum(&[("a", "2"), ("b", "1")]));
        assert_ne!(attr_hash("a", "b"), attr_hash("b", "a"));
        assert_ne!(attr_hash("ab", ""), attr_hash("a", "b"));
        assert_ne!(identity_hash("m", a), identity_hash("n", a));
    }

    #[test]
    fn cardinality_limit_refuses_new_series_only() {
        let mut store = Store::new(settings(2));
        let a = resolve(&mut store, "m", &[("i", "0")]);
        assert!(resolve(&mut store, "m", &[("i", "1")]).is_ok());
        assert_eq!(
            resolve(&mut store, "m", &[("i", "2")]),
            Err(RejectReason::CardinalityLimit)
        );
        assert_eq!(resolve(&mut store, "m", &[("i", "0")]), a);
    }

    #[test]
    fn delta_sums_become_cumulative_and_give_rates() {
        let mut store = Store::new(settings(10));
        let id = resolve(&mut store, "hw.gpu.io", &[("host.name", "n0")]).expect("series");
        for (i, v) in [100.0, 50.0, 50.0].into_iter().enumerate() {
            store
                .insert(
                    id,
                    (i as i64 + 1) * 1_000_000_000,
                    PointValue::Number(v),
                    true,
                )
                .expect("insert");
        }
        let s = store.get(id).expect("series");
        assert_eq!(s.last_scalar(), Some((3_000_000_000, 200.0)));
        assert_eq!(s.rate(), Some(50.0));
        assert_eq!(store.points_accepted(), 3);
        assert_eq!(
            store.nodes().collect::<Vec<_>>(),
            vec![("n0", 3_000_000_000)]
        );
        assert_eq!(store.newest_ts(), Some(3_000_000_000));
    }

    #[test]
    fn counter_reset_gives_no_rate() {
        let mut store = Store::new(settings(10));
        let id = resolve(&mut store, "c", &[]).expect("series");
        store
            .insert(id, 1_000_000_000, PointValue::Number(500.0), false)
            .expect("insert");
        store
            .insert(id, 2_000_000_000, PointValue::Number(10.0), false)
            .expect("insert");
        assert_eq!(store.get(id).and_then(Series::rate), None);
    }

    /// `n` series of a noisy gauge (XOR chunks, several bytes a point), one request a
    /// second for `seconds`; returns the most bytes seen after any request.
    fn fill(store: &mut Store, n: usize, seconds: i64) -> usize {
        let ids: Vec<SeriesId> = (0..n)
            .map(|i| resolve(store, "hw.power", &[("hw.id", &format!("GPU-{i}"))]).expect("series"))
            .collect();
        let mut peak = 0;
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for t in 0..seconds {
            store.begin_request(t * 1_000_000_000);
            for &id in &ids {
                let v = 300.0 + (next() % 100_000) as f64 / 997.0;
                store
                    .insert(id, t * 1_000_000_000, PointValue::Number(v), false)
                    .expect("insert");
            }
            store.end_request();
            peak = peak.max(store.usage().bytes());
        }
        peak
    }

    #[test]
    fn hardware_other_than_gpus_is_not_listed_as_one() {
        let mut store = Store::new(settings(10));
        for (metric, attrs) in [
            (
                "hw.gpu.utilization",
                vec![("host.name", "n0"), ("hw.id", "GPU-0")],
            ),
            (
                "hw.power",
                vec![("host.name", "n0"), ("hw.id", "GPU-1"), ("hw.type", "gpu")],
            ),
            (
                "hw.network.io",
                vec![
                    ("host.name", "n0"),
                    ("hw.id", "mlx5_0:1"),
                    ("hw.type", "network"),
                ],
            ),
        ] {
            resolve(&mut store, metric, &attrs).expect("series");
        }
        let gpus: Vec<&str> = store.gpus().keys().map(|(_, id)| id.as_str()).collect();
        assert_eq!(gpus, ["GPU-0", "GPU-1"]);
    }

    #[test]
    fn past_the_memory_budget_the_oldest_chunks_go_and_are_counted() {
        let unbounded = {
            let mut store = Store::new(StoreSettings {
                max_points_per_series: 3600,
                ..settings(1000)
            });
            fill(&mut store, 50, 900);
            store.usage().bytes()
        };
        let max_bytes = unbounded / 2;
        let mut store = Store::new(StoreSettings {
            max_points_per_series: 3600,
            max_bytes: max_bytes as u64,
            ..settings(1000)
        });
        let peak = fill(&mut store, 50, 900);
        // Checked every 4,096 points: the overshoot is what arrives between checks.
        assert!(
            peak <= max_bytes + max_bytes / 4,
            "peak {peak} bytes over a budget of {max_bytes}"
        );
        store.enforce_budget();
        let usage = store.usage();
        assert!(
            usage.bytes() <= max_bytes,
            "{} > {max_bytes}",
            usage.bytes()
        );
        let evicted = store.evicted();
        assert!(evicted.memory_budget > 0);
        assert_eq!(evicted.retention + evicted.max_points, 0);
        // What went is the oldest: every series still ends at its newest point and
        // reads back in order from where it now starts, all alike.
        let starts: Vec<i64> = store
            .series()
            .iter()
            .map(|s| {
                let r = s.scalars().expect("scalar");
                assert_eq!(r.last().map(|(t, _)| t), Some(899 * 1_000_000_000));
                let ts: Vec<i64> = r.iter().map(|(t, _)| t).collect();
                assert!(ts.windows(2).all(|w| w[1] == w[0] + 1_000_000_000));
                ts[0]
            })
            .collect();
        assert!(starts[0] > 0, "nothing went");
        assert!(starts.iter().all(|&t| t == starts[0]), "{starts:?}");
        assert_eq!(
            usage.points + evicted.memory_budget,
            50 * 900,
            "every point is held or counted as gone"
        );
        // Room was made by old chunks, so new series are still welcome.
        assert!(resolve(&mut store, "hw.power", &[("hw.id", "GPU-new")]).is_ok());
    }

    #[test]
    fn a_budget_too_small_for_the_open_chunks_refuses_new_series_only() {
        let mut store = Store::new(StoreSettings {
            max_bytes: 40_000,
            ..settings(10_000)
        });
        let mut refused = 0;
        for i in 0..2000 {
            store.begin_request(i * 1_000_000_000);
            match resolve(&mut store, "hw.power", &[("hw.id", &format!("GPU-{i}"))]) {
                Ok(id) => store
                    .insert(id, i * 1_000_000_000, PointValue::Number(1.0), false)
                    .expect("insert"),
                Err(reason) => {
                    assert_eq!(reason, RejectReason::MemoryBudget);
                    refused += 1;
                }
            }
            store.end_request();
            store.enforce_budget();
        }
        assert!(refused > 0, "no series was refused");
        // Over by at most the series that made it full and a table's growth.
        let used = store.usage().bytes();
        assert!(used <= 40_000 * 5 / 4, "{used} bytes");
        // Series already held keep taking points.
        let first = store.series()[0].key.clone();
        let id = resolve(
            &mut store,
            "hw.power",
            &[("hw.id", first.get("hw.id").unwrap_or(""))],
        )
        .expect("an existing series resolves");
        store
            .insert(id, 3_000_000_000_000, PointValue::Number(2.0), false)
            .expect("insert");
    }

    #[test]
    fn bounds_count_what_they_let_go() {
        let mut store = Store::new(StoreSettings {
            max_points_per_series: 300,
            ..settings(10)
        });
        let a = resolve(&mut store, "a", &[]).expect("series");
        for t in 0..1000 {
            store
                .insert(a, t * 1_000_000_000, PointValue::Number(t as f64), false)
                .expect("insert");
        }
        let e = store.evicted();
        assert_eq!(e.retention, 0);
        assert!(e.max_points >= 1000 - 300 - 2 * 120, "{e:?}");
        let b = resolve(&mut store, "b", &[]).expect("series");
        for t in 0..100 {
            // 30 s apart: 900 s of retention holds 31 points.
            store
                .insert(b, t * 30_000_000_000, PointValue::Number(1.0), false)
                .expect("insert");
        }
        assert_eq!(store.evicted().max_points, e.max_points);
        // Retention frees whole chunks of 120 points: none is full of old points yet.
        assert_eq!(store.evicted().retention, 0);
        for t in 100..400 {
            store
                .insert(b, t * 30_000_000_000, PointValue::Number(1.0), false)
                .expect("insert");
        }
        assert_eq!(store.evicted().retention % 120, 0);
        assert!(store.evicted().retention >= 240, "{:?}", store.evicted());
    }

    #[test]
    fn usage_counts_what_is_held_and_drops_with_the_bounds() {
        let mut store = Store::new(StoreSettings {
            max_points_per_series: 600,
            ..settings(10)
        });
        assert_eq!(store.usage().points, 0);
        let id = resolve(&mut store, "hw.gpu.temperature", &[("hw.id", "GPU-1")]).expect("series");
        for i in 0..900i64 {
            // A temperature that wanders a degree at a time.
            let v = 60.0 + ((i / 7) % 5) as f64;
            store
                .insert(id, i * 1_000_000_000, PointValue::Number(v), false)
                .expect("insert");
        }
        let usage = store.usage();
        let visible = store
            .get(id)
            .and_then(Series::scalars)
            .map_or(0, Scalars::len);
        assert_eq!(visible, 600);
        // Evicted by whole chunks: at most one chunk's worth of hidden points stays.
        assert!(
            (600..600 + 120).contains(&usage.points),
            "{} points held",
            usage.points
        );
        let per_point = usage.point_bytes as f64 / usage.points as f64;
        assert!(per_point < 2.0, "{per_point:.2} bytes a point");
        assert!(usage.series_bytes > "hw.gpu.temperature".len() + "GPU-1".len());
        assert_eq!(usage.bytes(), usage.point_bytes + usage.series_bytes);
    }

    #[test]
    fn delta_histograms_accumulate_and_saturate() {
        let mut store = Store::new(settings(10));
        let id = store
            .resolve(
                identity_hash("lat", 0),
                "lat",
                "s",
                SeriesKind::Histogram,
                &[],
            )
            .expect("series");
        let h = |count, counts| HistogramPoint {
            count,
            sum: 1.0,
            bounds: Arc::from(vec![1.0]),
            counts,
        };
        for (i, p) in [h(3, vec![1, 2]), h(u64::MAX, vec![u64::MAX, 1])]
            .into_iter()
            .enumerate()
        {
            let ts = (i as i64 + 1) * 1_000_000_000;
            let inserted = store.insert(id, ts, PointValue::Histogram(p), true);
            assert_eq!(inserted, Ok(()));
        }
        let ring = store
            .get(id)
            .and_then(Series::histograms)
            .expect("histograms");
        let (_, last) = ring.last().expect("a point");
        assert_eq!(
            (last.count, last.counts.clone()),
            (u64::MAX, vec![u64::MAX, 3])
        );
        assert_eq!(last.sum, 2.0);
    }

    #[test]
    fn histogram_into_number_series_is_a_type_conflict() {
        let mut store = Store::new(settings(10));
        let id = resolve(&mut store, "m", &[]).expect("series");
        let h = HistogramPoint {
            count: 1,
            sum: 1.0,
            bounds: Arc::from(vec![1.0]),
            counts: vec![1, 0],
        };
        assert_eq!(
            store.insert(id, 1, PointValue::Histogram(h), false),
            Err(RejectReason::TypeConflict)
        );
    }
}
