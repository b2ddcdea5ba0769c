use std::io::Write;
use std::process::{Command, Stdio};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::*;
use crate::ingest::ingest;
use crate::store::StoreSettings;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn number(attrs: Vec<KeyValue>, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: 1_795_860_000_000_000_000,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn store() -> Store {
    let gpu = || vec![kv("hw.id", "GPU-1"), kv("hw.name", "gpu0")];
    let metrics = vec![
        Metric {
            name: "hw.gpu.utilization".into(),
            unit: "1".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![number(gpu(), 0.5)],
            })),
            ..Default::default()
        },
        Metric {
            name: "hw.gpu.io".into(),
            unit: "By".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![number(
                    [
                        gpu(),
                        vec![
                            kv("gpuwatch.link", "nvlink"),
                            kv("network.io.direction", "transmit"),
                        ],
                    ]
                    .concat(),
                    1e12,
                )],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        },
        Metric {
            name: "gpuwatch.inference.duration".into(),
            unit: "s".into(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes: vec![kv("gpuwatch.model", "fraud \"v3\"")],
                    time_unix_nano: 1_795_860_000_000_000_000,
                    count: 6,
                    sum: Some(1.5),
                    bucket_counts: vec![1, 2, 3],
                    explicit_bounds: vec![0.1, 0.5],
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Default::default()
        },
    ];
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("host.name", "node-0"),
                    kv("gpuwatch.cluster", "prod"),
                    kv("service.name", "gpuwatch-agent"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let mut store = Store::new(StoreSettings {
        retention_ns: 900_000_000_000,
        max_points_per_series: 100,
        max_series: 100,
        max_future_ns: 600 * 1_000_000_000,
        max_bytes: u64::MAX,
        max_attributes: crate::store::DEFAULT_MAX_ATTRIBUTES,
        max_attribute_length: crate::store::DEFAULT_MAX_ATTRIBUTE_LENGTH,
    });
    assert_eq!(ingest(&mut store, &request).accepted, 3);
    store
}

/// A ledger that priced one step of `store()`'s GPU.
fn ledger() -> Ledger {
    let mut l = Ledger::new(
        crate::cost::CostConfig::default()
            .validate()
            .expect("defaults"),
    );
    l.accrue(&store(), 1_795_860_000_000_000_000, 5_000_000_000);
    l
}

fn models() -> ModelView {
    ModelView {
        scores: vec![crate::detect::drift::Score {
            model: "fraud \"v3\"".into(),
            feature: "prediction".into(),
            method: "psi",
            value: 0.25,
        }],
        latency: vec![(
            "llama".into(),
            "gen_ai.server.request.duration".into(),
            0.99,
            1.5,
        )],
    }
}

fn firing() -> Vec<Alert> {
    let labels = std::collections::BTreeMap::from([
        ("host.name".to_string(), "node-0".to_string()),
        ("gpuwatch.xid.code".to_string(), "79".to_string()),
    ]);
    vec![Alert {
        id: Alert::fingerprint(AlertKind::GpuXid, &labels),
        kind: AlertKind::GpuXid,
        severity: Severity::Critical,
        state: gpuwatch_model::AlertState::Firing,
        summary: "node-0 gpu0: XID 79".into(),
        labels,
        value: 1.0,
        started_at: gpuwatch_model::Timestamp(0),
        ended_at: None,
    }]
}

#[test]
fn series_are_named_typed_and_labelled_as_the_contract_says() {
    let text = render(
        &store(),
        &firing(),
        &ledger(),
        &models(),
        &Telemetry::default(),
    );
    for line in [
        "# TYPE hw_gpu_utilization_ratio gauge",
        r#"hw_gpu_utilization_ratio{gpuwatch_cluster="prod",host_name="node-0",hw_id="GPU-1",hw_name="gpu0"} 0.5"#,
        "# TYPE hw_gpu_io_bytes_total counter",
        r#"hw_gpu_io_bytes_total{gpuwatch_cluster="prod",gpuwatch_link="nvlink",host_name="node-0",hw_id="GPU-1",hw_name="gpu0",network_io_direction="transmit"} 1000000000000"#,
        "# TYPE gpuwatch_inference_duration_seconds histogram",
        r#"gpuwatch_inference_duration_seconds_bucket{gpuwatch_cluster="prod",gpuwatch_model="fraud \"v3\"",host_name="node-0",le="0.1"} 1"#,
        r#"gpuwatch_inference_duration_seconds_bucket{gpuwatch_cluster="prod",gpuwatch_model="fraud \"v3\"",host_name="node-0",le="0.5"} 3"#,
        r#"gpuwatch_inference_duration_seconds_bucket{gpuwatch_cluster="prod",gpuwatch_model="fraud \"v3\"",host_name="node-0",le="+Inf"} 6"#,
        r#"gpuwatch_inference_duration_seconds_sum{gpuwatch_cluster="prod",gpuwatch_model="fraud \"v3\"",host_name="node-0"} 1.5"#,
        r#"gpuwatch_inference_duration_seconds_count{gpuwatch_cluster="prod",gpuwatch_model="fraud \"v3\"",host_name="node-0"} 6"#,
        r#"gpuwatch_alerts_firing{kind="gpu_xid",severity="critical"} 1"#,
        r#"gpuwatch_alerts_firing{kind="gpu_hang",severity="critical"} 0"#,
        "gpuwatch_ingest_points_total 3",
        "gpuwatch_store_series 3",
        "gpuwatch_store_points 3",
        &format!("gpuwatch_store_max_bytes {}", u64::MAX),
        r#"gpuwatch_store_evicted_points_total{reason="memory_budget"} 0"#,
        r#"gpuwatch_store_evicted_points_total{reason="retention"} 0"#,
        r#"gpuwatch_ingest_rejected_total{reason="cardinality_limit"} 0"#,
        r#"gpuwatch_ingest_rejected_total{reason="undecodable"} 0"#,
        r#"gpuwatch_drift_score{feature="prediction",method="psi",model="fraud \"v3\""} 0.25"#,
        r#"gpuwatch_inference_latency_seconds{metric="gen_ai.server.request.duration",model="llama",quantile="0.99"} 1.5"#,
        // No hw.model: priced at the fallback, $2/h; busy at 50%.
        r#"gpuwatch_gpu_cost_usd_per_hour{host_name="node-0",hw_id="GPU-1",hw_model="unknown",hw_name="gpu0"} 2"#,
        r#"gpuwatch_gpu_idle_cost_usd_per_hour{host_name="node-0",hw_id="GPU-1",hw_model="unknown",hw_name="gpu0"} 0"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    let alert = text
        .lines()
        .find(|l| l.starts_with("gpuwatch_alert{"))
        .expect("the firing alert");
    assert!(
        alert.contains(r#"gpuwatch_xid_code="79""#) && alert.contains(r#"kind="gpu_xid""#),
        "{alert}"
    );
    // The sender's own attributes are not labels.
    assert!(!text.contains("service_name"), "{text}");
    let bytes: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("gpuwatch_store_bytes "))
        .expect("gpuwatch_store_bytes")
        .parse()
        .expect("a number");
    // Three series' keys alone are over a hundred bytes; three points are not a megabyte.
    assert!(
        (100.0..1e6).contains(&bytes),
        "gpuwatch_store_bytes {bytes}"
    );
}

/// `promtool check metrics` on the exposition. promtool comes with Debian's
/// `prometheus` package, which `.ci/run` installs; without it the check fails under
/// CI and is skipped, loudly, elsewhere.
#[test]
fn promtool_accepts_the_exposition() {
    let text = render(
        &store(),
        &firing(),
        &ledger(),
        &models(),
        &Telemetry::default(),
    );
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "promtool is not installed ({e}); apt-get install prometheus"
            );
            eprintln!("SKIPPED promtool_accepts_the_exposition: promtool not found ({e})");
            return;
        }
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool: {report}\n{text}");
    // promtool only lints; errors in the format fail above, and lint problems print.
    assert!(report.trim().is_empty(), "promtool lint: {report}\n{text}");
}
