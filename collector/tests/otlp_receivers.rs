//! The OTLP receivers as a client sees them: a real collector on loopback ports,
//! real HTTP and gRPC requests.

mod common;

use std::io::Write;
use std::time::Duration;

use gpuwatch_collector::config::CollectorSettings;
use gpuwatch_collector::otlp::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use gpuwatch_collector::otlp::collector::metrics::v1::ExportMetricsServiceResponse;
use gpuwatch_collector::telemetry::RequestRejection;
use gpuwatch_collector::{start, RunningCollector};
use gpuwatch_model::api::GpusResponse;
use prost::Message;

use common::{power_request, Status};

async fn collector(max_request_bytes: usize) -> RunningCollector {
    let mut settings = CollectorSettings::ephemeral();
    settings.max_request_bytes = max_request_bytes;
    start(&settings).await.expect("collector starts")
}

fn url(c: &RunningCollector) -> String {
    format!("http://{}/v1/metrics", c.otlp_http)
}

async fn gpus(c: &RunningCollector) -> GpusResponse {
    reqwest::get(format!("http://{}/api/v1/gpus", c.api))
        .await
        .expect("api answers")
        .json()
        .await
        .expect("GpusResponse")
}

async fn post(
    c: &RunningCollector,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(url(c))
        .header("content-type", content_type)
        .body(body);
    if let Some(e) = encoding {
        req = req.header("content-encoding", e);
    }
    req.send().await.expect("the receiver answers")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

#[tokio::test]
async fn protobuf_is_stored_and_answered_in_protobuf() {
    let c = collector(1 << 20).await;
    let resp = post(
        &c,
        "application/x-protobuf",
        None,
        power_request("node-0", 2, 312.5).encode_to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-protobuf");
    let body = resp.bytes().await.expect("body");
    let decoded = ExportMetricsServiceResponse::decode(&body[..]).expect("a response message");
    assert_eq!(decoded.partial_success, None);
    let g = gpus(&c).await;
    assert_eq!(g.gpus.len(), 2);
    assert_eq!(g.nodes, 1);
    assert_eq!(g.gpus[0].power_watts, Some(312.5));
    assert_eq!(g.gpus[1].name, "gpu1");
    assert_eq!(g.points_received, 2);
    c.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn gzip_protobuf_is_accepted() {
    let c = collector(1 << 20).await;
    let body = gzip(&power_request("node-g", 8, 100.0).encode_to_vec());
    let resp = post(&c, "application/x-protobuf", Some("gzip"), body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(gpus(&c).await.gpus.len(), 8);
    c.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn otlp_json_is_accepted_and_answered_in_json() {
    let c = collector(1 << 20).await;
    // The OTLP/JSON encoding as the specification's examples write it: camelCase
    // names, 64-bit integers as strings, enums as numbers.
    let json = r#"{"resourceMetrics":[{"resource":{"attributes":[
        {"key":"host.name","value":{"stringValue":"node-j"}}]},
      "scopeMetrics":[{"scope":{"name":"test"},"metrics":[
        {"name":"hw.gpu.utilization","unit":"1","gauge":{"dataPoints":[
          {"attributes":[{"key":"hw.id","value":{"stringValue":"GPU-j"}},
                         {"key":"hw.name","value":{"stringValue":"gpu0"}},
                         {"key":"hw.gpu.task","value":{"stringValue":"general"}}],
           "timeUnixNano":"1795860000000000000","asDouble":0.75}]}},
        {"name":"hw.gpu.io","unit":"By","sum":{"aggregationTemporality":2,"isMonotonic":true,
          "dataPoints":[{"attributes":[{"key":"hw.id","value":{"stringValue":"GPU-j"}},
                         {"key":"gpuwatch.link","value":{"stringValue":"nvlink"}},
                         {"key":"network.io.direction","value":{"stringValue":"transmit"}}],
           "timeUnixNano":"1795860000000000000","asInt":"1000"}]}}]}]}]}"#;
    let resp = post(&c, "application/json", None, json.as_bytes().to_vec()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let g = gpus(&c).await;
    assert_eq!(g.gpus.len(), 1);
    assert_eq!(g.gpus[0].utilization, Some(0.75));
    assert_eq!(g.points_received, 2);
    c.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn truncated_protobuf_is_400_with_a_status() {
    let c = collector(1 << 20).await;
    let full = power_request("node-t", 4, 1.0).encode_to_vec();
    let resp = post(
        &c,
        "application/x-protobuf",
        None,
        full[..full.len() - 7].to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let body = resp.bytes().await.expect("body");
    let status = Status::decode(&body[..]).expect("google.rpc.Status");
    assert_eq!(status.code, 3, "INVALID_ARGUMENT");
    assert!(status.message.contains("not an OTLP"), "{}", status.message);
    assert_eq!(
        c.state()
            .telemetry
            .requests_rejected(RequestRejection::Undecodable),
        1
    );
    assert_eq!(gpus(&c).await.gpus.len(), 0);
    c.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn bad_json_and_bad_gzip_are_400() {
    let c = collector(1 << 20).await;
    let resp = post(
        &c,
        "application/json",
        None,
        b"{\"resourceMetrics\": [".to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = resp.json().await.expect("JSON status");
    assert_eq!(v["code"], 3);
    let resp = post(
        &c,
        "application/x-protobuf",
        Some("gzip"),
        b"not gzip".to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 400);
    c.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn unknown_content_type_or_encoding_is_415() {
    let c = collector(1 << 20).await;
    let body = power_request("n", 1, 1.0).encode_to_vec();
    let resp = post(&c, "text/plain", None, body.clone()).await;
    assert_eq!(resp.status(), 415);
    let text = resp.text().await.expect("text");
    assert!(text.contains("application/x-protobuf"), "{text}");
    let resp = post(&c, "application/x-protobuf", Some("br"), body).await;
    assert_eq!(resp.status(), 415);
    let t = &c.state().telemetry;
    assert_eq!(
        t.requests_rejected(RequestRejection::UnsupportedMediaType),
        1
    );
    assert_eq!(
        t.requests_rejected(RequestRejection::UnsupportedEncoding),
        1
    );
    c.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn oversized_bodies_are_413_compressed_or_not() {
    let c = collector(4096).await;
    let big = power_request("node-big", 200, 1.0).encode_to_vec();
    assert!(big.len() > 4096);
    let resp = post(&c, "application/x-protobuf", None, big.clone()).await;
    assert_eq!(resp.status(), 413);
    // Small on the wire, over the limit once decompressed.
    let squeezed = gzip(&big);
    assert!(squeezed.len() < 4096);
    let resp = post(&c, "application/x-protobuf", Some("gzip"), squeezed).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(
        c.state()
            .telemetry
            .requests_rejected(RequestRejection::TooLarge),
        2
    );
    assert_eq!(gpus(&c).await.points_received, 0);
    c.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn empty_requests_are_fine() {
    let c = collector(1 << 20).await;
    for ct in ["application/x-protobuf", "application/json"] {
        let resp = post(&c, ct, None, Vec::new()).await;
        assert_eq!(resp.status(), 200, "{ct}");
    }
    let resp = post(&c, "application/json", None, b"{}".to_vec()).await;
    assert_eq!(resp.status(), 200);
    c.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn refused_points_come_back_as_partial_success() {
    let mut settings = CollectorSettings::ephemeral();
    settings.store.max_series = 3;
    let c = start(&settings).await.expect("collector starts");
    let resp = post(
        &c,
        "application/x-protobuf",
        None,
        power_request("node-p", 5, 1.0).encode_to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let decoded = ExportMetricsServiceResponse::decode(&resp.bytes().await.expect("body")[..])
        .expect("decode");
    let partial = decoded.partial_success.expect("partial_success");
    assert_eq!(partial.rejected_data_points, 2);
    assert!(partial.error_message.contains("cardinality_limit 2"));
    c.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn grpc_export_plain_and_gzip() {
    let c = collector(1 << 20).await;
    let mut client = MetricsServiceClient::connect(format!("http://{}", c.otlp_grpc))
        .await
        .expect("gRPC connects");
    let resp = client
        .export(power_request("node-grpc", 3, 250.0))
        .await
        .expect("export succeeds");
    assert_eq!(resp.get_ref().partial_success, None);
    let mut gz = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
    gz.export(power_request("node-grpc-gz", 2, 99.0))
        .await
        .expect("gzip export succeeds");
    let g = gpus(&c).await;
    assert_eq!(g.gpus.len(), 5);
    assert_eq!(g.nodes, 2);
    assert_eq!(c.state().telemetry.grpc_requests(), 2);
    c.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn grpc_oversized_message_is_resource_exhausted() {
    let c = collector(4096).await;
    let mut client = MetricsServiceClient::connect(format!("http://{}", c.otlp_grpc))
        .await
        .expect("gRPC connects");
    let err = client
        .export(power_request("node-big", 200, 1.0))
        .await
        .expect_err("too large");
    // tonic refuses it before decoding; OUT_OF_RANGE tells the client not to retry.
    assert_eq!(err.code(), tonic::Code::OutOfRange, "{err}");
    c.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn alerts_api_has_the_contract_shape() {
    let c = collector(1 << 20).await;
    let base = format!("http://{}", c.api);
    let v: serde_json::Value = reqwest::get(format!("{base}/api/v1/alerts"))
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(v, serde_json::json!({"alerts": []}));
    let resp = reqwest::get(format!("{base}/api/v1/alerts?state=all"))
        .await
        .expect("answers");
    assert_eq!(resp.status(), 200);
    let resp = reqwest::get(format!("{base}/api/v1/alerts?state=sleeping"))
        .await
        .expect("answers");
    assert_eq!(resp.status(), 400);
    let health = reqwest::get(format!("{base}/healthz"))
        .await
        .expect("answers");
    assert_eq!(health.status(), 200);
    c.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_port_in_use_is_a_clear_error() {
    let c = collector(1 << 20).await;
    let mut settings = CollectorSettings::ephemeral();
    settings.otlp_http_listen = c.otlp_http;
    let err = start(&settings).await.expect_err("port in use").to_string();
    assert!(err.contains("collector.otlp_http_listen"), "{err}");
    assert!(err.contains(&c.otlp_http.to_string()), "{err}");
    c.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn series_api_lists_any_metric() {
    let c = collector(1 << 20).await;
    post(
        &c,
        "application/x-protobuf",
        None,
        power_request("node-s", 2, 42.0).encode_to_vec(),
    )
    .await;
    let base = format!("http://{}", c.api);
    let v: gpuwatch_model::api::SeriesResponse =
        reqwest::get(format!("{base}/api/v1/series?metric=hw.power"))
            .await
            .expect("answers")
            .json()
            .await
            .expect("json");
    assert_eq!(v.series.len(), 2);
    assert_eq!(v.series[0].attributes["host.name"], "node-s");
    assert_eq!(v.series[0].kind, "gauge");
    assert_eq!(v.series[0].unit, "W");
    assert_eq!(v.series[0].last.as_ref().and_then(|p| p.value), Some(42.0));
    let resp = reqwest::get(format!("{base}/api/v1/series"))
        .await
        .expect("answers");
    assert_eq!(resp.status(), 400);
    c.shutdown(Duration::from_secs(5)).await;
}
