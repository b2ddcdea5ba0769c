//! Stores built point by point, for detector tests and benchmarks.

use std::borrow::Cow;

use crate::store::{
    attr_hash, identity_hash, PointValue, SeriesId, SeriesKind, Store, StoreSettings,
};

/// One second of event time, in nanoseconds.
pub const S: i64 = 1_000_000_000;
/// One minute.
pub const M: i64 = 60 * S;

/// Fills a store directly, bypassing OTLP: an hour of retention, room for a million
/// series.
#[derive(Debug)]
pub struct Builder {
    store: Store,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    pub fn new() -> Self {
        Builder {
            store: Store::new(StoreSettings {
                retention_ns: 3600 * S,
                max_points_per_series: 10_000,
                max_series: 1_000_000,
                max_future_ns: 600 * 1_000_000_000,
                max_bytes: u64::MAX,
                max_attributes: crate::store::DEFAULT_MAX_ATTRIBUTES,
                max_attribute_length: crate::store::DEFAULT_MAX_ATTRIBUTE_LENGTH,
            }),
        }
    }

    /// The series of `metric` with these attributes, created when new.
    fn resolve(&mut self, metric: &str, kind: SeriesKind, attrs: &[(&str, &str)]) -> SeriesId {
        let pairs: Vec<(&str, Cow<str>)> =
            attrs.iter().map(|(k, v)| (*k, Cow::Borrowed(*v))).collect();
        let sum = pairs
            .iter()
            .fold(0u128, |a, (k, v)| a.wrapping_add(attr_hash(k, v)));
        self.store
            .resolve(identity_hash(metric, sum), metric, "", kind, &pairs)
            .expect("room for the series")
    }

    /// Points `(seconds, value)` of `metric` with these attributes.
    pub fn series(
        &mut self,
        metric: &str,
        attrs: &[(&str, &str)],
        points: impl IntoIterator<Item = (i64, f64)>,
    ) -> &mut Self {
        let id = self.resolve(metric, SeriesKind::Gauge, attrs);
        for (secs, v) in points {
            self.store
                .insert(id, secs * S, PointValue::Number(v), false)
                .expect("in the window");
        }
        self
    }

    /// Points of a GPU metric: `host`, `gpu{index}`, and the job when given.
    pub fn gpu(
        &mut self,
        host: &str,
        index: u32,
        job: Option<&str>,
        metric: &str,
        extra: &[(&str, &str)],
        points: impl IntoIterator<Item = (i64, f64)>,
    ) -> &mut Self {
        let name = format!("gpu{index}");
        let id = format!("GPU-{host}-{index}");
        let mut attrs = vec![
            ("host.name", host),
            ("hw.id", id.as_str()),
            ("hw.name", name.as_str()),
        ];
        if let Some(job) = job {
            attrs.push(("gpuwatch.job.id", job));
        }
        attrs.extend_from_slice(extra);
        self.series(metric, &attrs, points)
    }

    /// Cumulative histogram points `(seconds, counts per bucket)` over `bounds`.
    pub fn histogram(
        &mut self,
        metric: &str,
        attrs: &[(&str, &str)],
        bounds: &[f64],
        points: impl IntoIterator<Item = (i64, Vec<u64>)>,
    ) -> &mut Self {
        let id = self.resolve(metric, SeriesKind::Histogram, attrs);
        let bounds: std::sync::Arc<[f64]> = std::sync::Arc::from(bounds);
        for (secs, counts) in points {
            let point = crate::store::HistogramPoint {
                count: counts.iter().sum(),
                sum: f64::NAN,
                bounds: bounds.clone(),
                counts,
            };
            self.store
                .insert(id, secs * S, PointValue::Histogram(point), false)
                .expect("in the window");
        }
        self
    }

    /// From the start, `host`'s clock runs `secs` seconds ahead of the fleet's (behind
    /// when negative), as `store::clock` would have measured; its points must be on
    /// that clock.
    #[cfg(test)]
    pub fn skew(&mut self, host: &str, secs: i64) -> &mut Self {
        let id = self
            .store
            .clocks
            .source(crate::store::SourceKind::Node, host);
        self.store.clocks.set_skew(id, i64::MIN, secs * S);
        self
    }

    pub fn build(&mut self) -> Store {
        std::mem::replace(&mut self.store, Builder::new().store)
    }
}

/// How a copy of a store differs from the original in `same_on_any_clock`.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq)]
enum Variant<'a> {
    /// The host's clock runs this many seconds ahead (behind when negative), and the
    /// store's clocks measured it.
    Skewed(&'a str, i64),
    /// The host's points arrive after everyone else's, newest first (a spooled
    /// backlog drained late, or retransmissions out of order).
    Late(&'a str),
    /// Every point this many seconds earlier (a replay far in the past).
    Replayed(i64),
}

/// A copy of `store` as `variant` says.
#[cfg(test)]
fn copy(store: &Store, variant: Variant<'_>) -> Store {
    use gpuwatch_model::names::attr;

    use crate::store::{SeriesData, SourceKind};

    let mut out = Builder::new().store;
    let host_of = |s: &crate::store::Series| s.key.get(attr::HOST_NAME).map(str::to_string);
    let mut order: Vec<&crate::store::Series> = store.series().iter().collect();
    if let Variant::Late(host) = variant {
        // Stable: everyone else first, in the original order.
        order.sort_by_key(|s| host_of(s).as_deref() == Some(host));
    }
    for series in order {
        let host = host_of(series);
        let shift = match variant {
            Variant::Skewed(h, secs) if host.as_deref() == Some(h) => secs * S,
            Variant::Replayed(secs) => -secs * S,
            _ => 0,
        };
        let reversed = matches!(variant, Variant::Late(h) if host.as_deref() == Some(h));
        let attrs: Vec<(&str, Cow<str>)> = series
            .key
            .pairs()
            .map(|(k, v)| (k, Cow::Borrowed(v)))
            .collect();
        let sum = attrs
            .iter()
            .fold(0u128, |a, (k, v)| a.wrapping_add(attr_hash(k, v)));
        let id = out
            .resolve(
                identity_hash(&series.key.metric, sum),
                &series.key.metric,
                &series.unit,
                series.kind,
                &attrs,
            )
            .expect("room for the series");
        let mut points: Vec<(i64, PointValue)> = match &series.data {
            SeriesData::Scalar(r) => r.iter().map(|(t, v)| (t, PointValue::Number(v))).collect(),
            SeriesData::Histogram(r) => r
                .iter()
                .map(|(t, h)| (t, PointValue::Histogram(h.clone())))
                .collect(),
        };
        if reversed {
            points.reverse();
        }
        for (t, v) in points {
            out.insert(id, t + shift, v, false).expect("in the window");
        }
    }
    if let Variant::Skewed(host, secs) = variant {
        let id = out.clocks.source(SourceKind::Node, host);
        out.clocks.set_skew(id, i64::MIN, secs * S);
    }
    out
}

/// Checks that a detector finds the same in `store` whatever the clocks: with each
/// node's clock three minutes ahead and three behind (measured, as `store::clock`
/// does), with each node's points delivered late and out of order, and with the whole
/// case replayed two days in the past. `evaluate(store, shift)` runs the detector at
/// the case's instant plus `shift` nanoseconds.
#[cfg(test)]
pub fn same_on_any_clock(
    case: &str,
    store: &Store,
    evaluate: impl Fn(&Store, i64) -> Vec<gpuwatch_model::Finding>,
) {
    use gpuwatch_model::names::attr;

    let key = |f: &gpuwatch_model::Finding, summary: bool| {
        format!(
            "{} {:?} {:?} {} {}",
            f.kind,
            f.severity,
            f.labels,
            f.value,
            if summary { f.summary.as_str() } else { "" }
        )
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let mut hosts: Vec<&str> = store
        .series()
        .iter()
        .filter_map(|s| s.key.get(attr::HOST_NAME))
        .collect();
    hosts.sort_unstable();
    hosts.dedup();
    let mut variants = vec![Variant::Replayed(2 * 86_400)];
    for host in hosts {
        variants.extend([
            Variant::Skewed(host, 180),
            Variant::Skewed(host, -180),
            Variant::Late(host),
        ]);
    }
    for variant in variants {
        let (shift, summaries) = match variant {
            Variant::Replayed(secs) => (-secs * S, false),
            _ => (0, true),
        };
        let want = sorted(
            evaluate(store, 0)
                .iter()
                .map(|f| key(f, summaries))
                .collect(),
        );
        let got = sorted(
            evaluate(&copy(store, variant), shift)
                .iter()
                .map(|f| key(f, summaries))
                .collect(),
        );
        assert_eq!(got, want, "{case}: {variant:?}");
    }
}

/// `(seconds, value)` every `step` seconds over `[from, to]`, the value from `f(t)`.
pub fn every(step: i64, from: i64, to: i64, f: impl Fn(i64) -> f64) -> Vec<(i64, f64)> {
    (from..=to)
        .step_by(step as usize)
        .map(|t| (t, f(t)))
        .collect()
}
