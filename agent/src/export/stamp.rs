//! OTLP attributes and histogram metrics built from samples, shared by the exporter
//! and the inference scraper's metrics (`super::inference`).

use gpuwatch_model::HistogramSample;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
};

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
        start_time_unix_nano: h.start_time_unix_nano.unix_nanos_u64(),
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

    #[test]
    fn histograms_of_one_name_share_a_metric() {
        let h = |model: &str| HistogramSample {
            metric: "gpuwatch.model.prediction".into(),
            unit: "1".into(),
            attributes: vec![("gpuwatch.model".into(), model.into())],
            start_time_unix_nano: gpuwatch_model::Timestamp(1),
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
