//! Helpers the collector's integration tests share.

// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use std::time::Duration;

use gpuwatch_collector::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use gpuwatch_collector::otlp::common::v1::{any_value, AnyValue, KeyValue};
use gpuwatch_collector::otlp::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use gpuwatch_collector::otlp::resource::v1::Resource;

/// A string attribute.
pub fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// A request with one `hw.power` point per GPU of `host`.
pub fn power_request(host: &str, gpus: usize, watts: f64) -> ExportMetricsServiceRequest {
    let points = (0..gpus)
        .map(|i| NumberDataPoint {
            attributes: vec![
                kv("hw.id", &format!("GPU-{host}-{i}")),
                kv("hw.name", &format!("gpu{i}")),
            ],
            time_unix_nano: 1_795_860_000_000_000_000,
            value: Some(number_data_point::Value::AsDouble(watts)),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("host.name", host)],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "hw.power".into(),
                    unit: "W".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: points,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// Waits until `f` holds, at most `within`.
pub async fn until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    tokio::time::timeout(within, async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}
