//! Event time on every point: the SDK stamps a collection with the time it ran, but a
//! request carries one sample, so its points get the time the sample was taken, and
//! cumulative points count from the first sample this exporter sent. A sample taken
//! an instant ago changes little; a sample replayed from the past (a test, a backfill)
//! keeps its own time.

use gpuwatch_model::HistogramSample;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
};

/// Sets every point's time to `time` and every start time to `start` (at most `time`).
pub(crate) fn stamp(request: &mut ExportMetricsServiceRequest, time: u64, start: u64) {
    let start = start.min(time);
    let metrics = request
        .resource_metrics
        .iter_mut()
        .flat_map(|r| r.scope_metrics.iter_mut())
        .flat_map(|s| s.metrics.iter_mut());
    for m in metrics {
        match m.data.as_mut() {
            Some(metric::Data::Gauge(g)) => {
                for p in &mut g.data_points {
                    p.time_unix_nano = time;
                    p.start_time_unix_nano = 0;
                }
            }
            Some(metric::Data::Sum(s)) => {
                for p in &mut s.data_points {
                    p.time_unix_nano = time;
                    p.start_time_unix_nano = start;
                }
            }
            Some(metric::Data::Histogram(h)) => {
                for p in &mut h.data_points {
                    p.time_unix_nano = time;
                    p.start_time_unix_nano = start;
                }
            }
            _ => {}
        }
    }
}

pub(crate) fn string_attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..KeyValue::default()
    }
}

/// Histograms as OTLP metrics, one cumulative `Metric` per name with a point per
/// histogram, at `time`.
pub(crate) fn histogram_metrics(histograms: &[HistogramSample], time: u64) -> Vec<Metric> {
    let mut out: Vec<Metric> = Vec::new();
    for h in histograms {
        push_histogram(&mut out, h, time);
    }
    out
}

/// Adds `h` at `time` to the metric of its name in `out`, or as a new metric.
pub(crate) fn push_histogram(out: &mut Vec<Metric>, h: &HistogramSample, time: u64) {
    let point = HistogramDataPoint {
        attributes: h
            .attributes
            .iter()
            .map(|(k, v)| string_attr(k, v))
            .collect(),
        start_time_unix_nano: h.start_time_unix_nano,
        time_unix_nano: time,
        count: h.count(),
        sum: Some(h.sum),
        bucket_counts: h.bucket_counts.clone(),
        explicit_bounds: h.bounds.clone(),
        ..HistogramDataPoint::default()
    };
    let existing = out.iter_mut().find(|m| m.name == h.metric);
    match existing.and_then(|m| m.data.as_mut()) {
        Some(metric::Data::Histogram(data)) => data.data_points.push(point),
        _ => out.push(Metric {
            name: h.metric.clone(),
            description: String::new(),
            unit: h.unit.clone(),
            metadata: Vec::new(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points: vec![point],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    };

    #[test]
    fn points_take_the_sample_time_and_counters_the_first() {
        let gauge = Metric {
            name: "g".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    time_unix_nano: 99,
                    start_time_unix_nano: 98,
                    ..NumberDataPoint::default()
                }],
            })),
            ..Metric::default()
        };
        let sum = Metric {
            name: "s".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![NumberDataPoint {
                    time_unix_nano: 99,
                    start_time_unix_nano: 98,
                    ..NumberDataPoint::default()
                }],
                ..Sum::default()
            })),
            ..Metric::default()
        };
        let mut request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![gauge, sum],
                    ..ScopeMetrics::default()
                }],
                ..ResourceMetrics::default()
            }],
        };
        stamp(&mut request, 50, 10);
        let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
        let times: Vec<(u64, u64)> = metrics
            .iter()
            .map(|m| match m.data.as_ref() {
                Some(metric::Data::Gauge(g)) => (
                    g.data_points[0].time_unix_nano,
                    g.data_points[0].start_time_unix_nano,
                ),
                Some(metric::Data::Sum(s)) => (
                    s.data_points[0].time_unix_nano,
                    s.data_points[0].start_time_unix_nano,
                ),
                _ => (0, 0),
            })
            .collect();
        assert_eq!(times, [(50, 0), (50, 10)]);
        // A start after the point is clamped to it.
        stamp(&mut request, 5, 10);
        let Some(metric::Data::Sum(s)) = request.resource_metrics[0].scope_metrics[0].metrics[1]
            .data
            .as_ref()
        else {
            panic!("a sum")
        };
        assert_eq!(s.data_points[0].start_time_unix_nano, 5);
    }

    #[test]
    fn histograms_of_one_name_share_a_metric() {
        let h = |model: &str| HistogramSample {
            metric: "gpuwatch.model.prediction".into(),
            unit: "1".into(),
            attributes: vec![("gpuwatch.model".into(), model.into())],
            start_time_unix_nano: 1,
            bounds: vec![0.5],
            bucket_counts: vec![3, 4],
            sum: 2.5,
        };
        let metrics = histogram_metrics(&[h("a"), h("b")], 7);
        assert_eq!(metrics.len(), 1);
        let Some(metric::Data::Histogram(data)) = metrics[0].data.as_ref() else {
            panic!("a histogram")
        };
        assert_eq!(data.data_points.len(), 2);
        assert_eq!(data.data_points[1].count, 7);
        assert_eq!(data.data_points[1].time_unix_nano, 7);
        assert_eq!(metrics[0].unit, "1");
    }
}
