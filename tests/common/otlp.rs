//! OTLP requests built by hand, for the tests that send them to a collector.

use gpuwatch_collector::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use gpuwatch_collector::otlp::common::v1::{any_value, AnyValue, KeyValue};
use gpuwatch_collector::otlp::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use gpuwatch_collector::otlp::resource::v1::Resource;

/// A string attribute.
pub fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

/// One request: `metrics` from the node `host` (`host.name`).
pub fn request(host: &str, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("host.name", host)],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
