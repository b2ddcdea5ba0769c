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

    pub fn build(&mut self) -> Store {
        std::mem::replace(&mut self.store, Builder::new().store)
    }
}

/// `(seconds, value)` every `step` seconds over `[from, to]`, the value from `f(t)`.
pub fn every(step: i64, from: i64, to: i64, f: impl Fn(i64) -> f64) -> Vec<(i64, f64)> {
    (from..=to)
        .step_by(step as usize)
        .map(|t| (t, f(t)))
        .collect()
}
