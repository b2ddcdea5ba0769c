//! OTLP metrics into the store: the hot path. Attribute sets are hashed without
//! allocating; a `String` is made only for a new series or a non-string attribute.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    AggregationTemporality, ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint,
    SummaryDataPoint,
};

use crate::store::{
    attr_hash, identity_hash, HistogramPoint, PointValue, RejectReason, SeriesKind, Store,
};

/// `DataPointFlags.FLAG_NO_RECORDED_VALUE`: the point marks a gap, it holds no value.
const FLAG_NO_RECORDED_VALUE: u32 = 1;

/// What happened to one request's points.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    pub accepted: u64,
    pub rejected: BTreeMap<RejectReason, u64>,
}

impl IngestOutcome {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// The OTLP response: `partial_success` set when anything was refused.
    pub fn response(&self) -> ExportMetricsServiceResponse {
        let rejected = self.rejected_total();
        if rejected == 0 {
            return ExportMetricsServiceResponse::default();
        }
        let reasons: Vec<String> = self
            .rejected
            .iter()
            .map(|(r, n)| format!("{} {n}", r.as_str()))
            .collect();
        ExportMetricsServiceResponse {
            partial_success: Some(ExportMetricsPartialSuccess {
                rejected_data_points: i64::try_from(rejected).unwrap_or(i64::MAX),
                error_message: format!(
                    "gpuwatch refused {rejected} data points ({}); see the collector's \
                     gpuwatch_ingest_rejected_total and its [collector.store] limits",
                    reasons.join(", ")
                ),
            }),
        }
    }

    fn reject(&mut self, store: &mut Store, reason: RejectReason, n: u64) {
        if n == 0 {
            return;
        }
        *self.rejected.entry(reason).or_default() += n;
        store.count_rejected(reason, n);
    }
}

/// The string form of an attribute value, as the store keys it.
fn value_str(v: Option<&AnyValue>) -> Cow<'_, str> {
    let Some(value) = v.and_then(|v| v.value.as_ref()) else {
        return Cow::Borrowed("");
    };
    match value {
        any_value::Value::StringValue(s) => Cow::Borrowed(s.as_str()),
        any_value::Value::BoolValue(true) => Cow::Borrowed("true"),
        any_value::Value::BoolValue(false) => Cow::Borrowed("false"),
        any_value::Value::IntValue(i) => Cow::Owned(i.to_string()),
        any_value::Value::DoubleValue(d) => Cow::Owned(d.to_string()),
        any_value::Value::BytesValue(b) => {
            let mut s = String::with_capacity(b.len() * 2);
            for byte in b {
                let _ = write!(s, "{byte:02x}");
            }
            Cow::Owned(s)
        }
        any_value::Value::ArrayValue(a) => {
            let parts: Vec<Cow<str>> = a.values.iter().map(|v| value_str(Some(v))).collect();
            Cow::Owned(format!("[{}]", parts.join(",")))
        }
        any_value::Value::KvlistValue(kv) => {
            let parts: Vec<String> = kv
                .values
                .iter()
                .map(|p| format!("{}={}", p.key, value_str(p.value.as_ref())))
                .collect();
            Cow::Owned(format!("{{{}}}", parts.join(",")))
        }
        any_value::Value::StringValueStrindex(i) => Cow::Owned(format!("#{i}")),
    }
}

/// The attributes of one point: the resource's, then the point's (a point attribute
/// replaces a resource attribute or an earlier one of the same key), with the
/// order-independent hash sum of the set.
struct AttrSet<'a> {
    resource: Vec<(&'a str, Cow<'a, str>, u64)>,
    pairs: Vec<(&'a str, Cow<'a, str>)>,
    hashes: Vec<u64>,
}

impl<'a> AttrSet<'a> {
    fn new() -> Self {
        AttrSet {
            resource: Vec::new(),
            pairs: Vec::new(),
            hashes: Vec::new(),
        }
    }

    fn set_resource(&mut self, attrs: &'a [KeyValue]) {
        self.resource.clear();
        self.pairs.clear();
        self.hashes.clear();
        for kv in attrs {
            self.push(&kv.key, value_str(kv.value.as_ref()));
        }
        self.resource.extend(
            self.pairs
                .drain(..)
                .zip(self.hashes.drain(..))
                .map(|((k, v), h)| (k, v, h)),
        );
    }

    fn push(&mut self, key: &'a str, value: Cow<'a, str>) {
        let h = attr_hash(key, &value);
        match self.pairs.iter().position(|(k, _)| *k == key) {
            Some(i) => {
                self.pairs[i].1 = value;
                self.hashes[i] = h;
            }
            None => {
                self.pairs.push((key, value));
                self.hashes.push(h);
            }
        }
    }

    /// The resource attributes plus `point`'s; returns the set's hash sum.
    fn with_point(&mut self, point: &'a [KeyValue]) -> u64 {
        self.pairs.clear();
        self.hashes.clear();
        for (k, v, h) in &self.resource {
            self.pairs.push((k, v.clone()));
            self.hashes.push(*h);
        }
        for kv in point {
            self.push(&kv.key, value_str(kv.value.as_ref()));
        }
        self.hashes.iter().fold(0, |a, h| a.wrapping_add(*h))
    }
}

fn nanos(t: u64) -> Option<i64> {
    (t != 0).then(|| i64::try_from(t).unwrap_or(i64::MAX))
}

fn number(p: &NumberDataPoint) -> Option<f64> {
    match p.value? {
        number_data_point::Value::AsDouble(d) => Some(d),
        number_data_point::Value::AsInt(i) => Some(i as f64),
    }
}

fn explicit_histogram(p: &HistogramDataPoint) -> HistogramPoint {
    let well_formed = p.bucket_counts.len() == p.explicit_bounds.len() + 1;
    HistogramPoint {
        count: p.count,
        sum: p.sum.unwrap_or(f64::NAN),
        bounds: if well_formed {
            Arc::from(p.explicit_bounds.as_slice())
        } else {
            Arc::from(Vec::new())
        },
        counts: if well_formed {
            p.bucket_counts.clone()
        } else {
            Vec::new()
        },
    }
}

/// An exponential histogram as explicit buckets: `(-inf, 0]` holds the zero and
/// negative counts, then one bucket per positive exponential bucket with upper bound
/// `base^(offset + i + 1)`, `base = 2^(2^-scale)`.
fn exponential_histogram(p: &ExponentialHistogramDataPoint) -> HistogramPoint {
    let negative: u64 = p
        .negative
        .as_ref()
        .map_or(0, |b: &Buckets| b.bucket_counts.iter().sum());
    let (offset, positive) = p
        .positive
        .as_ref()
        .map_or((0, &[][..]), |b| (b.offset, b.bucket_counts.as_slice()));
    let base = 2f64.powf(2f64.powi(-p.scale));
    let mut bounds = Vec::with_capacity(positive.len() + 2);
    let mut counts = Vec::with_capacity(positive.len() + 3);
    bounds.push(0.0);
    counts.push(p.zero_count + negative);
    bounds.push(base.powi(offset));
    counts.push(0);
    for (i, c) in positive.iter().enumerate() {
        bounds.push(base.powi(offset + i as i32 + 1));
        counts.push(*c);
    }
    counts.push(0);
    HistogramPoint {
        count: p.count,
        sum: p.sum.unwrap_or(f64::NAN),
        bounds: Arc::from(bounds),
        counts,
    }
}

fn summary(p: &SummaryDataPoint) -> HistogramPoint {
    HistogramPoint {
        count: p.count,
        sum: p.sum,
        bounds: Arc::from(Vec::new()),
        counts: Vec::new(),
    }
}

/// A point, wire-independent, before it is keyed.
struct Point<'a> {
    attrs: &'a [KeyValue],
    time: u64,
    flags: u32,
    value: Option<PointValue>,
}

/// Stores every point of `request`; refused points are counted by reason.
pub fn ingest(store: &mut Store, request: &ExportMetricsServiceRequest) -> IngestOutcome {
    let mut out = IngestOutcome::default();
    let mut set = AttrSet::new();
    for rm in &request.resource_metrics {
        let resource_attrs = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        set.set_resource(resource_attrs);
        for sm in &rm.scope_metrics {
            for metric in &sm.metrics {
                ingest_metric(store, &mut set, metric, &mut out);
            }
        }
    }
    out
}

fn ingest_metric<'a>(
    store: &mut Store,
    set: &mut AttrSet<'a>,
    metric: &'a opentelemetry_proto::tonic::metrics::v1::Metric,
    out: &mut IngestOutcome,
) {
    let delta_of = |t: i32| t == AggregationTemporality::Delta as i32;
    let (kind, delta, points): (SeriesKind, bool, Vec<Point>) = match &metric.data {
        None => return,
        Some(Data::Gauge(g)) => (
            SeriesKind::Gauge,
            false,
            g.data_points.iter().map(number_point).collect(),
        ),
        Some(Data::Sum(s)) => (
            if s.is_monotonic {
                SeriesKind::Counter
            } else {
                SeriesKind::UpDownCounter
            },
            delta_of(s.aggregation_temporality),
            s.data_points.iter().map(number_point).collect(),
        ),
        Some(Data::Histogram(h)) => (
            SeriesKind::Histogram,
            delta_of(h.aggregation_temporality),
            h.data_points
                .iter()
                .map(|p| Point {
                    attrs: &p.attributes,
                    time: p.time_unix_nano,
                    flags: p.flags,
                    value: Some(PointValue::Histogram(explicit_histogram(p))),
                })
                .collect(),
        ),
        Some(Data::ExponentialHistogram(h)) => (
            SeriesKind::Histogram,
            delta_of(h.aggregation_temporality),
            h.data_points
                .iter()
                .map(|p| Point {
                    attrs: &p.attributes,
                    time: p.time_unix_nano,
                    flags: p.flags,
                    value: Some(PointValue::Histogram(exponential_histogram(p))),
                })
                .collect(),
        ),
        Some(Data::Summary(s)) => (
            SeriesKind::Summary,
            false,
            s.data_points
                .iter()
                .map(|p| Point {
                    attrs: &p.attributes,
                    time: p.time_unix_nano,
                    flags: p.flags,
                    value: Some(PointValue::Histogram(summary(p))),
                })
                .collect(),
        ),
    };
    if metric.name.is_empty() {
        out.reject(store, RejectReason::MissingName, points.len() as u64);
        return;
    }
    for p in points {
        if p.flags & FLAG_NO_RECORDED_VALUE != 0 {
            continue;
        }
        let Some(ts) = nanos(p.time) else {
            out.reject(store, RejectReason::MissingTimestamp, 1);
            continue;
        };
        let Some(value) = p.value else {
            out.reject(store, RejectReason::NoValue, 1);
            continue;
        };
        let sum = set.with_point(p.attrs);
        let hash = identity_hash(&metric.name, sum);
        let result = store
            .resolve(hash, &metric.name, &metric.unit, kind, &set.pairs)
            .and_then(|id| store.insert(id, ts, value, delta));
        match result {
            Ok(()) => out.accepted += 1,
            Err(reason) => out.reject(store, reason, 1),
        }
    }
}

fn number_point(p: &NumberDataPoint) -> Point<'_> {
    Point {
        attrs: &p.attributes,
        time: p.time_unix_nano,
        flags: p.flags,
        value: number(p).map(PointValue::Number),
    }
}

#[cfg(test)]
mod tests;
