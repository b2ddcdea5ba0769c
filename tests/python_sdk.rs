//! The official OpenTelemetry Python SDK sends to the collector over OTLP/HTTP and
//! OTLP/gRPC; what it sent is found through the collector's API.
//!
//! Needs `python3` with `opentelemetry-sdk`, `opentelemetry-exporter-otlp-proto-http`
//! and `opentelemetry-exporter-otlp-proto-grpc` (`.ci/run` installs them). Without
//! them the test fails under CI (`CI` set) and is skipped, loudly, elsewhere.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gpuwatch_collector::config::CollectorSettings;
use gpuwatch_model::api::{GpusResponse, SeriesResponse};

use common::python::{self, python};

async fn get<T: serde::de::DeserializeOwned>(url: String) -> T {
    reqwest::get(&url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_over_http_and_grpc() {
    if !python::imports(
        "python_sdk",
        "opentelemetry.sdk.metrics, opentelemetry.exporter.otlp.proto.http.metric_exporter, \
         opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
        "the OpenTelemetry Python SDK is",
        "it with `pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http \
         opentelemetry-exporter-otlp-proto-grpc`",
    ) {
        return;
    }
    let collector = gpuwatch_collector::start(&CollectorSettings::ephemeral())
        .await
        .expect("collector starts");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/send_metrics.py");
    let http = format!("http://{}", collector.otlp_http);
    let grpc = collector.otlp_grpc.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(script)
            .args(["--http", &http, "--grpc", &grpc])
            .output()
            .expect("python3 runs")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "send_metrics.py failed\n{stdout}\n{stderr}"
    );

    let api = format!("http://{}", collector.api);
    let gpus: GpusResponse = get(format!("{api}/api/v1/gpus")).await;
    for host in ["py-http", "py-grpc"] {
        let mine: Vec<_> = gpus.gpus.iter().filter(|g| g.node == host).collect();
        assert_eq!(mine.len(), 2, "{host}: {gpus:?}");
        // Values from send_metrics.py: UTILIZATION and POWER_WATTS.
        assert_eq!(mine[0].name, "gpu0");
        assert_eq!(mine[0].utilization, Some(0.87));
        assert_eq!(mine[1].utilization, Some(0.12));
        assert_eq!(mine[0].power_watts, Some(412.5));
        assert_eq!(mine[0].cluster.as_deref(), Some("py"));
        assert_eq!(mine[0].model.as_deref(), Some("NVIDIA H100 80GB HBM3"));
    }

    let steps: SeriesResponse =
        get(format!("{api}/api/v1/series?metric=gpuwatch.train.step")).await;
    assert_eq!(steps.series.len(), 2);
    for s in &steps.series {
        assert_eq!(s.kind, "counter");
        assert_eq!(s.last.as_ref().and_then(|p| p.value), Some(42.0));
    }
    let latency: SeriesResponse = get(format!(
        "{api}/api/v1/series?metric=gpuwatch.inference.duration"
    ))
    .await;
    assert_eq!(latency.series.len(), 2);
    for s in &latency.series {
        assert_eq!(s.kind, "histogram");
        assert_eq!(s.attributes["gpuwatch.model"], "fraud-v3");
        let last = s.last.as_ref().expect("a point");
        // LATENCIES in send_metrics.py: five observations summing to 1.117 s.
        assert_eq!(last.count, Some(5));
        assert!(
            (last.sum.unwrap_or_default() - 1.117).abs() < 1e-9,
            "{last:?}"
        );
    }
    collector.shutdown(Duration::from_secs(5)).await;
}
