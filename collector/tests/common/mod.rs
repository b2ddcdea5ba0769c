//! Helpers the collector's integration tests share.

use gpuwatch_collector::otlp::common::v1::{any_value, AnyValue, KeyValue};

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
