//! One exported metric as a table row: name, unit, description, kind, and a pure
//! function from the source (a `NodeSample`, a `HostIo`) to its points.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint, Sum,
};

/// One data point.
pub(crate) type Point<T> = (T, Vec<KeyValue>);

/// How a metric's points are exported.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// The value now.
    Gauge,
    /// A cumulative, monotonic sum.
    Counter,
}

/// Where a metric's points come from in `S`, and their number type.
pub(crate) enum Points<S> {
    Double(fn(&S) -> Vec<Point<f64>>),
    Int(fn(&S) -> Vec<Point<u64>>),
}

/// One metric: name, unit, description, kind and the points it has in an `S`.
pub(crate) struct Spec<S> {
    name: &'static str,
    unit: &'static str,
    description: &'static str,
    kind: Kind,
    points: Points<S>,
}

pub(crate) const fn spec<S>(
    kind: Kind,
    name: &'static str,
    unit: &'static str,
    description: &'static str,
    points: Points<S>,
) -> Spec<S> {
    Spec {
        name,
        unit,
        description,
        kind,
        points,
    }
}

fn data_point(
    (value, attributes): Point<number_data_point::Value>,
    start: u64,
    time: u64,
) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(value),
        ..NumberDataPoint::default()
    }
}

impl<S> Spec<S> {
    /// The metric with its points in `source`; `None` when it has none.
    pub(crate) fn metric(&self, source: &S, time: u64, start: u64) -> Option<Metric> {
        let values: Vec<Point<number_data_point::Value>> = match self.points {
            Points::Double(points) => points(source)
                .into_iter()
                .map(|(v, a)| (number_data_point::Value::AsDouble(v), a))
                .collect(),
            Points::Int(points) => points(source)
                .into_iter()
                .map(|(v, a)| {
                    let v = i64::try_from(v).unwrap_or(i64::MAX);
                    (number_data_point::Value::AsInt(v), a)
                })
                .collect(),
        };
        if values.is_empty() {
            return None;
        }
        let data = match self.kind {
            Kind::Gauge => Data::Gauge(Gauge {
                data_points: values.into_iter().map(|p| data_point(p, 0, time)).collect(),
            }),
            Kind::Counter => Data::Sum(Sum {
                data_points: values
                    .into_iter()
                    .map(|p| data_point(p, start, time))
                    .collect(),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
        };
        Some(Metric {
            name: self.name.to_string(),
            description: self.description.to_string(),
            unit: self.unit.to_string(),
            metadata: Vec::<KeyValue>::new(),
            data: Some(data),
        })
    }
}
