//! OTLP metrics into the store: the hot path. Attribute sets are hashed without
//! allocating; a `String` is made only for a new series or a non-string attribute.
//!
//! Two doors, one room: `ingest` takes a request prost decoded (gRPC, JSON), and
//! `ingest_protobuf` reads OTLP/protobuf bytes without copying them (`wire`). Both key
//! and store every point through `store_point`.

mod attrs;
mod convert;
mod wire;

use std::borrow::Cow;
use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, AggregationTemporality, ExponentialHistogramDataPoint, HistogramDataPoint,
    Metric, NumberDataPoint, SummaryDataPoint,
};

use gpuwatch_model::Timestamp;

use crate::store::{identity_hash, PointValue, RejectReason, SeriesKind, Store};
use attrs::{value_str, AttrSet};
use convert::{explicit_histogram, exponential_histogram, nanos, number, summary};
pub use wire::WireError;

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

    pub(crate) fn reject(&mut self, store: &mut Store, reason: RejectReason, n: u64) {
        if n == 0 {
            return;
        }
        *self.rejected.entry(reason).or_default() += n;
        store.count_rejected(reason, n);
    }
}

/// What every point of a metric shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MetricInfo<'a> {
    pub name: &'a str,
    pub unit: &'a str,
    pub kind: SeriesKind,
    pub delta: bool,
}

/// One data point as it came, before it is keyed.
struct RawPoint {
    time: u64,
    flags: u32,
    value: Option<PointValue>,
}

/// Keys one point by the resource's and its own attributes, and stores it.
fn store_point<'a>(
    store: &mut Store,
    set: &mut AttrSet<'a>,
    metric: MetricInfo<'_>,
    attrs: impl IntoIterator<Item = (&'a str, Cow<'a, str>)>,
    point: RawPoint,
    out: &mut IngestOutcome,
) {
    let RawPoint { time, flags, value } = point;
    if flags & FLAG_NO_RECORDED_VALUE != 0 {
        return;
    }
    if metric.name.is_empty() {
        return out.reject(store, RejectReason::MissingName, 1);
    }
    let Some(ts) = nanos(time) else {
        return out.reject(store, RejectReason::MissingTimestamp, 1);
    };
    let Some(value) = value else {
        return out.reject(store, RejectReason::NoValue, 1);
    };
    let sum = set.with_point(attrs);
    let limits = store.settings();
    let (most, longest) = (limits.max_attributes, limits.max_attribute_length);
    if set.pairs.len() > most
        || metric.name.len() > longest
        || set
            .pairs
            .iter()
            .any(|(k, v)| k.len() > longest || v.len() > longest)
    {
        return out.reject(store, RejectReason::LabelLimit, 1);
    }
    let hash = identity_hash(metric.name, sum);
    let result = store
        .resolve(hash, metric.name, metric.unit, metric.kind, &set.pairs)
        .and_then(|id| store.insert(id, ts, value, metric.delta));
    match result {
        Ok(()) => out.accepted += 1,
        Err(reason) => out.reject(store, reason, 1),
    }
}

/// Stores every point of a decoded request that arrived now.
pub fn ingest(store: &mut Store, request: &ExportMetricsServiceRequest) -> IngestOutcome {
    ingest_at(store, request, Timestamp::now().0)
}

/// Stores every point of a decoded request that arrived at `arrival` (wall time, Unix
/// ns); refused points are counted by reason.
pub fn ingest_at(
    store: &mut Store,
    request: &ExportMetricsServiceRequest,
    arrival: i64,
) -> IngestOutcome {
    store.begin_request(arrival);
    let mut out = IngestOutcome::default();
    let mut set = AttrSet::default();
    for rm in &request.resource_metrics {
        let resource = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        set.set_resource(
            resource
                .iter()
                .map(|kv| (kv.key.as_str(), value_str(kv.value.as_ref()))),
        );
        for sm in &rm.scope_metrics {
            for metric in &sm.metrics {
                ingest_metric(store, &mut set, metric, &mut out);
            }
        }
    }
    store.end_request();
    out
}

/// An OTLP/protobuf request read without copying its strings, ready to store.
#[derive(Debug)]
pub struct ParsedRequest<'a>(wire::Batch<'a>);

impl ParsedRequest<'_> {
    /// Each resource's `host.name`, `None` where it has none.
    pub fn hosts(&self) -> impl Iterator<Item = Option<&str>> {
        let batch = &self.0;
        batch.resources.iter().map(|r| {
            batch.attrs[r.attrs.clone()]
                .iter()
                .rev()
                .find(|(k, _)| *k == gpuwatch_model::names::attr::HOST_NAME)
                .map(|(_, v)| v.as_ref())
        })
    }
}

/// The data points of one resource's metrics, of every type.
fn points_of(rm: &opentelemetry_proto::tonic::metrics::v1::ResourceMetrics) -> u64 {
    let n = |m: &Metric| match &m.data {
        None => 0,
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
    };
    rm.scope_metrics
        .iter()
        .flat_map(|sm| &sm.metrics)
        .map(|m| n(m) as u64)
        .sum()
}

/// `request` without the resources whose `host.name` `allowed` refuses, and how many
/// data points those held; `None` when every resource is allowed.
pub fn without_forbidden(
    request: &ExportMetricsServiceRequest,
    allowed: impl Fn(Option<&str>) -> bool,
) -> Option<(ExportMetricsServiceRequest, u64)> {
    fn host(rm: &opentelemetry_proto::tonic::metrics::v1::ResourceMetrics) -> Option<Cow<'_, str>> {
        let attrs = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        attrs
            .iter()
            .rev()
            .find(|kv| kv.key == gpuwatch_model::names::attr::HOST_NAME)
            .map(|kv| value_str(kv.value.as_ref()))
    }
    let ok = |rm: &_| allowed(host(rm).as_deref());
    if request.resource_metrics.iter().all(ok) {
        return None;
    }
    let (kept, refused): (Vec<_>, Vec<_>) = request.resource_metrics.iter().cloned().partition(ok);
    let points = refused.iter().map(points_of).sum();
    Some((
        ExportMetricsServiceRequest {
            resource_metrics: kept,
        },
        points,
    ))
}

/// Reads a whole OTLP/protobuf `ExportMetricsServiceRequest`; fails on malformed bytes.
pub fn parse_protobuf(body: &[u8]) -> Result<ParsedRequest<'_>, WireError> {
    wire::parse(body).map(ParsedRequest)
}

/// Reads OTLP/protobuf bytes and stores every point; nothing is stored when the body
/// does not parse.
pub fn ingest_protobuf(store: &mut Store, body: &[u8]) -> Result<IngestOutcome, WireError> {
    Ok(ingest_parsed(store, &parse_protobuf(body)?))
}

/// Stores every point of a parsed request that arrived now.
pub fn ingest_parsed(store: &mut Store, parsed: &ParsedRequest<'_>) -> IngestOutcome {
    ingest_parsed_at(store, parsed, Timestamp::now().0)
}

/// Stores every point of a parsed request that arrived at `arrival` (wall time, Unix
/// ns): now, or when the write-ahead log recorded it.
pub fn ingest_parsed_at(
    store: &mut Store,
    parsed: &ParsedRequest<'_>,
    arrival: i64,
) -> IngestOutcome {
    store.begin_request(arrival);
    let batch = &parsed.0;
    let mut out = IngestOutcome::default();
    let mut set = AttrSet::default();
    for resource in &batch.resources {
        set.set_resource(
            batch.attrs[resource.attrs.clone()]
                .iter()
                .map(|(k, v)| (*k, v.clone())),
        );
        for m in &batch.metrics[resource.metrics.clone()] {
            match &m.body {
                wire::MetricBody::Numbers(points) => {
                    for p in &batch.points[points.clone()] {
                        let attrs = batch.attrs[p.attrs.clone()]
                            .iter()
                            .map(|(k, v)| (*k, v.clone()));
                        let value = p.value.map(PointValue::Number);
                        store_point(
                            store,
                            &mut set,
                            m.info,
                            attrs,
                            RawPoint {
                                time: p.time,
                                flags: p.flags,
                                value,
                            },
                            &mut out,
                        );
                    }
                }
                wire::MetricBody::Other(metric) => ingest_metric(store, &mut set, metric, &mut out),
            }
        }
    }
    store.end_request();
    out
}

/// The parts of an OTLP data point the store needs, whatever its type.
trait WirePoint {
    fn attributes(&self) -> &[KeyValue];
    fn raw(&self) -> RawPoint;
}

macro_rules! wire_point {
    ($t:ty, $value:expr) => {
        impl WirePoint for $t {
            fn attributes(&self) -> &[KeyValue] {
                &self.attributes
            }
            fn raw(&self) -> RawPoint {
                RawPoint {
                    time: self.time_unix_nano,
                    flags: self.flags,
                    value: $value(self),
                }
            }
        }
    };
}

wire_point!(NumberDataPoint, |p| number(p).map(PointValue::Number));
wire_point!(HistogramDataPoint, |p| Some(PointValue::Histogram(
    explicit_histogram(p)
)));
wire_point!(ExponentialHistogramDataPoint, |p| Some(
    PointValue::Histogram(exponential_histogram(p))
));
wire_point!(SummaryDataPoint, |p| Some(PointValue::Histogram(summary(
    p
))));

fn store_all<'a, P: WirePoint>(
    store: &mut Store,
    set: &mut AttrSet<'a>,
    metric: MetricInfo<'_>,
    points: &'a [P],
    out: &mut IngestOutcome,
) {
    for p in points {
        let attrs = p
            .attributes()
            .iter()
            .map(|kv| (kv.key.as_str(), value_str(kv.value.as_ref())));
        store_point(store, set, metric, attrs, p.raw(), out);
    }
}

fn ingest_metric<'a>(
    store: &mut Store,
    set: &mut AttrSet<'a>,
    metric: &'a Metric,
    out: &mut IngestOutcome,
) {
    let delta = |t: i32| t == AggregationTemporality::Delta as i32;
    let info = |kind, delta| MetricInfo {
        name: &metric.name,
        unit: &metric.unit,
        kind,
        delta,
    };
    match &metric.data {
        None => {}
        Some(Data::Gauge(g)) => {
            store_all(
                store,
                set,
                info(SeriesKind::Gauge, false),
                &g.data_points,
                out,
            );
        }
        Some(Data::Sum(s)) => {
            let kind = if s.is_monotonic {
                SeriesKind::Counter
            } else {
                SeriesKind::UpDownCounter
            };
            let m = info(kind, delta(s.aggregation_temporality));
            store_all(store, set, m, &s.data_points, out);
        }
        Some(Data::Histogram(h)) => {
            let m = info(SeriesKind::Histogram, delta(h.aggregation_temporality));
            store_all(store, set, m, &h.data_points, out);
        }
        Some(Data::ExponentialHistogram(h)) => {
            let m = info(SeriesKind::Histogram, delta(h.aggregation_temporality));
            store_all(store, set, m, &h.data_points, out);
        }
        Some(Data::Summary(s)) => {
            store_all(
                store,
                set,
                info(SeriesKind::Summary, false),
                &s.data_points,
                out,
            );
        }
    }
}

#[cfg(test)]
mod tests;
