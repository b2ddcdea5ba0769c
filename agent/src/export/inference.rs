//! The inference scraper's snapshots as OTLP metrics (`crate::inference`): the
//! scraper reads and maps the servers' pages, this builds what the agent sends.

use gpuwatch_model::names::{attr, unit};
use gpuwatch_model::HistogramSample;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint,
};

use super::stamp::{push_histogram, string_attr};
use crate::inference::{Snapshot, LATENCY_MEAN, PHASE};

/// Snapshots as OTLP metrics: one histogram `Metric` per contract name (cumulative,
/// one point per model) and the gauge of Triton's means.
pub(crate) fn inference_metrics(snapshots: &[Snapshot]) -> Vec<Metric> {
    let mut histograms: Vec<Metric> = Vec::new();
    let mut means: Vec<NumberDataPoint> = Vec::new();
    for snapshot in snapshots {
        for (h, start) in &snapshot.histograms {
            let sample = HistogramSample {
                metric: h.metric.to_string(),
                unit: unit::SECONDS.to_string(),
                attributes: vec![(h.model_key.to_string(), h.model.clone())],
                start_time_unix_nano: *start,
                bounds: h.bounds.clone(),
                bucket_counts: h.bucket_counts.clone(),
                sum: h.sum,
            };
            push_histogram(&mut histograms, &sample, snapshot.time.unix_nanos_u64());
        }
        for m in &snapshot.means {
            means.push(NumberDataPoint {
                attributes: vec![
                    string_attr(attr::MODEL, &m.model),
                    string_attr(PHASE, m.phase),
                ],
                start_time_unix_nano: 0,
                time_unix_nano: snapshot.time.unix_nanos_u64(),
                value: Some(number_data_point::Value::AsDouble(m.seconds)),
                ..NumberDataPoint::default()
            });
        }
    }
    if !means.is_empty() {
        histograms.push(Metric {
            name: LATENCY_MEAN.to_string(),
            description: "Mean latency of a model's requests over the last interval, by phase"
                .to_string(),
            unit: unit::SECONDS.to_string(),
            metadata: Vec::new(),
            data: Some(metric::Data::Gauge(Gauge { data_points: means })),
        });
    }
    histograms
}
