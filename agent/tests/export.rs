//! The exporter against a fake collector: what goes over the wire.

mod common;

use gpuwatch_model::Timestamp;
use std::time::Duration;

use common::{attr, metric, metrics, number, point, points, settings, FakeCollector};
use gpuwatch_agent::{demo_profiles, OtlpExporter, Protocol, Sampler, SimulatedSampler};
use gpuwatch_model::names::metric as name;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality,
};
use tokio::io::AsyncReadExt;

const T0: u64 = 1_764_320_000_000_000_000;

fn sampler() -> SimulatedSampler {
    SimulatedSampler::new(0, demo_profiles(0, 2), 17)
}

#[tokio::test]
async fn exports_a_sample_as_otlp_http_protobuf() {
    let mut collector = FakeCollector::start(200).await;
    let exporter =
        OtlpExporter::new(settings(collector.endpoint(), Protocol::Http)).expect("exporter");
    assert_eq!(
        exporter.url(),
        format!("{}/v1/metrics", collector.endpoint())
    );
    let mut sampler = sampler();
    let sample = sampler
        .sample(Timestamp::from_unix_nanos_u64(T0))
        .expect("sample");
    exporter.export(&sample).await.expect("export succeeds");

    let request = collector.next().await;
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/metrics");
    assert_eq!(
        request.header("content-type"),
        Some("application/x-protobuf")
    );
    let body = request.decode();

    assert_eq!(body.resource_metrics.len(), 1);
    let resource = body.resource_metrics[0]
        .resource
        .as_ref()
        .expect("resource");
    let resource_attr = |k| attr(&resource.attributes, k);
    assert_eq!(resource_attr("host.name").as_deref(), Some("node-00"));
    assert_eq!(
        resource_attr("service.name").as_deref(),
        Some("gpuwatch-agent")
    );
    assert_eq!(resource_attr("service.version").as_deref(), Some("9.9.9"));
    assert_eq!(
        resource_attr("gpuwatch.cluster").as_deref(),
        Some("test-cluster")
    );
    assert_eq!(resource_attr("k8s.node.name").as_deref(), Some("worker-a"));

    let utilization = metric(&body, name::GPU_UTILIZATION);
    assert_eq!(utilization.unit, "1");
    assert!(matches!(utilization.data, Some(Data::Gauge(_))));
    for gpu in &sample.gpus {
        let p = point(
            utilization,
            &[("hw.id", &gpu.uuid), ("hw.gpu.task", "general")],
        );
        assert_eq!(
            p.value,
            Some(number_data_point::Value::AsDouble(gpu.utilization))
        );
        assert_eq!(attr(&p.attributes, "hw.name"), Some(gpu.hw_name()));
        assert_eq!(
            attr(&p.attributes, "hw.model").as_deref(),
            Some("NVIDIA H100 80GB HBM3")
        );
        assert_eq!(attr(&p.attributes, "hw.vendor").as_deref(), Some("nvidia"));
        assert_eq!(
            attr(&p.attributes, "gpuwatch.job.id").as_deref(),
            Some("4411")
        );
        assert_eq!(
            attr(&p.attributes, "gpuwatch.team").as_deref(),
            Some("llm-pretrain")
        );

        let memory = point(
            metric(&body, name::GPU_MEMORY_USAGE),
            &[("hw.id", &gpu.uuid)],
        );
        assert_eq!(
            memory.value,
            Some(number_data_point::Value::AsInt(
                gpu.memory_used_bytes as i64
            ))
        );
        let nvlink_tx = point(
            metric(&body, name::GPU_IO),
            &[
                ("hw.id", &gpu.uuid),
                ("gpuwatch.link", "nvlink"),
                ("network.io.direction", "transmit"),
            ],
        );
        assert_eq!(number(nvlink_tx), gpu.nvlink_tx_bytes.unwrap_or(0) as f64);
        let energy = point(metric(&body, name::ENERGY), &[("hw.id", &gpu.uuid)]);
        assert_eq!(
            energy.value,
            gpu.energy_joules.map(number_data_point::Value::AsDouble)
        );
        let process = point(
            metric(&body, name::GPU_PROCESS_MEMORY),
            &[("hw.id", &gpu.uuid), ("process.executable.name", "python")],
        );
        assert_eq!(
            attr(&process.attributes, "process.pid"),
            Some(gpu.processes[0].pid.to_string())
        );
    }

    // Counters are cumulative and monotonic sums.
    for counter in [
        name::GPU_IO,
        name::ENERGY,
        name::ERRORS,
        name::DISK_IO,
        name::DISK_IO_TIME,
        name::NETWORK_IO,
    ] {
        match &metric(&body, counter).data {
            Some(Data::Sum(sum)) => {
                assert!(sum.is_monotonic, "{counter}");
                assert_eq!(
                    sum.aggregation_temporality,
                    AggregationTemporality::Cumulative as i32
                );
            }
            other => panic!("{counter} is not a sum: {other:?}"),
        }
    }

    // Every contract metric the simulated sample has is there, with its unit.
    let expected = [
        (name::GPU_UTILIZATION, "1"),
        (name::GPU_MEMORY_USAGE, "By"),
        (name::GPU_MEMORY_LIMIT, "By"),
        (name::GPU_IO, "By"),
        (name::POWER, "W"),
        (name::GPU_POWER_LIMIT, "W"),
        (name::ENERGY, "J"),
        (name::ERRORS, "{error}"),
        (name::GPU_TEMPERATURE, "Cel"),
        (name::GPU_CLOCK_SM, "Hz"),
        (name::GPU_THROTTLE, "1"),
        (name::GPU_PROCESS_MEMORY, "By"),
        (name::CPU_UTILIZATION, "1"),
        (name::MEMORY_USAGE, "By"),
        (name::DISK_IO, "By"),
        (name::DISK_IO_TIME, "s"),
        (name::NETWORK_IO, "By"),
    ];
    for (metric_name, unit) in expected {
        assert_eq!(metric(&body, metric_name).unit, unit, "{metric_name}");
    }
    assert_eq!(points(metric(&body, name::GPU_THROTTLE)).len(), 10);
    assert!(
        metrics(&body).iter().all(|m| m.name != name::GPU_XID),
        "no XID points without XID events"
    );

    // The next export carries the next sample's values, nothing stale.
    let next = sampler
        .sample(Timestamp::from_unix_nanos_u64(T0 + 1_000_000_000))
        .expect("sample");
    exporter.export(&next).await.expect("second export");
    let body = collector.next().await.decode();
    let utilization = metric(&body, name::GPU_UTILIZATION);
    assert_eq!(points(utilization).len(), 6);
    let p = point(
        utilization,
        &[("hw.id", &next.gpus[1].uuid), ("hw.gpu.task", "general")],
    );
    assert_eq!(number(p), next.gpus[1].utilization);
}

#[tokio::test]
async fn a_refusing_collector_is_an_error_not_a_panic() {
    let collector = FakeCollector::start(400).await;
    let exporter =
        OtlpExporter::new(settings(collector.endpoint(), Protocol::Http)).expect("exporter");
    let sample = sampler()
        .sample(Timestamp::from_unix_nanos_u64(T0))
        .expect("sample");
    let error = exporter.export(&sample).await.expect_err("400 fails");
    let message = error.to_string();
    assert!(message.contains(&collector.endpoint()), "{message}");
    assert!(message.contains("400"), "{message}");

    // Nobody listening at all.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let exporter = OtlpExporter::new(settings(format!("http://127.0.0.1:{port}"), Protocol::Http))
        .expect("exporter");
    assert!(exporter.export(&sample).await.is_err());
}

/// The first `n` bytes a gRPC export sends to a `scheme://` endpoint that accepts the
/// connection and then drops it; the export must then fail, not hang or panic.
async fn first_bytes_of_a_grpc_export(scheme: &str, n: usize) -> Vec<u8> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("{scheme}://{}", listener.local_addr().expect("addr"));
    let exporter = OtlpExporter::new(settings(endpoint.clone(), Protocol::Grpc)).expect("exporter");
    assert_eq!(exporter.url(), endpoint);
    let sample = sampler()
        .sample(Timestamp::from_unix_nanos_u64(T0))
        .expect("sample");
    let export = tokio::spawn(async move { exporter.export(&sample).await });

    let (mut stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("the gRPC client connects")
        .expect("accept");
    let mut bytes = vec![0u8; n];
    stream.read_exact(&mut bytes).await.expect("first bytes");
    drop(stream);
    drop(listener);
    let result = tokio::time::timeout(Duration::from_secs(10), export)
        .await
        .expect("export gives up within its timeout")
        .expect("no panic");
    assert!(result.is_err());
    bytes
}

#[tokio::test]
async fn grpc_exporter_speaks_http2_to_the_endpoint() {
    let preface = first_bytes_of_a_grpc_export("http", 24).await;
    assert_eq!(preface, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
}

#[tokio::test]
async fn grpc_to_an_https_endpoint_starts_with_a_tls_handshake() {
    // A TLS record: content type 22 (handshake), protocol version 3.x (ClientHello).
    let record = first_bytes_of_a_grpc_export("https", 2).await;
    assert_eq!(
        record,
        [0x16, 0x03],
        "a TLS ClientHello, not an HTTP/2 preface"
    );
}
