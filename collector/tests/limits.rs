//! `[collector.limits]` as senders meet it on a real collector over loopback: over the
//! memory limit every OTLP request is 429 with `Retry-After` (gRPC
//! `RESOURCE_EXHAUSTED`); past `max_concurrent_requests` one more is refused the same
//! way; a sender trickling its body gets 408 at `request_timeout` and frees its slot.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use gpuwatch_collector::config::CollectorSettings;
use gpuwatch_collector::otlp::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use gpuwatch_collector::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use gpuwatch_collector::telemetry::RequestRejection;
use gpuwatch_collector::{start, RunningCollector};
use prost::Message;

use common::{power_request, until, Status};

/// How long a test waits for what it expects.
const WAIT: Duration = Duration::from_secs(10);

fn request() -> ExportMetricsServiceRequest {
    power_request("node-1", 1, 300.0)
}

async fn post(c: &RunningCollector) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://{}/v1/metrics", c.otlp_http))
        .header("content-type", "application/x-protobuf")
        .body(request().encode_to_vec())
        .send()
        .await
        .expect("the receiver answers")
}

#[tokio::test]
async fn over_the_memory_limit_every_request_is_429_with_retry_after() {
    let mut settings = CollectorSettings::ephemeral();
    // A soft limit any process is over.
    settings.limits.soft_limit = Some(1);
    settings.limits.check_interval = Duration::from_millis(100);
    let c = start(&settings).await.expect("starts");
    let state = c.state();
    until("the first memory check", WAIT, || state.limiter().is_over()).await;

    let r = post(&c).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "5");
    assert_eq!(r.headers()["content-type"], "application/x-protobuf");
    let status = Status::decode(r.bytes().await.expect("body")).expect("a Status");
    assert_eq!(status.code, 8, "RESOURCE_EXHAUSTED");
    assert!(
        status.message.contains("collector.limits.memory_limit"),
        "{}",
        status.message
    );

    let mut client = MetricsServiceClient::connect(format!("http://{}", c.otlp_grpc))
        .await
        .expect("gRPC connects");
    let err = client.export(request()).await.expect_err("refused");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");

    assert_eq!(
        state
            .telemetry
            .requests_rejected(RequestRejection::Overloaded),
        2
    );
    assert_eq!(state.store().usage().points, 0, "nothing stored");
    let metrics = reqwest::get(format!("http://{}/metrics", c.api))
        .await
        .expect("/metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("gpuwatch_ingest_rejected_total{reason=\"overloaded\"} 2"));
    assert!(metrics.contains("gpuwatch_overloaded 1"));
    assert!(metrics.contains("gpuwatch_memory_limit_bytes 1"));
    c.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_slow_sender_holds_its_slot_only_until_the_request_timeout() {
    let mut settings = CollectorSettings::ephemeral();
    settings.limits.max_concurrent_requests = 1;
    settings.limits.request_timeout = Duration::from_secs(1);
    let c = start(&settings).await.expect("starts");
    let state = c.state();

    // Headers and a tenth of the body, then nothing: one byte a second at best.
    let addr = c.otlp_http;
    let slow = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.write_all(
            b"POST /v1/metrics HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n\
              content-length: 100\r\n\r\n0123456789",
        )
        .expect("write");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut answer = Vec::new();
        // The collector answers and closes the connection.
        let _ = s.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).to_string()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = post(&c).await;
    assert_eq!(r.status(), 429, "the one slot is taken");
    assert!(r.headers().contains_key("retry-after"));

    let answer = tokio::task::spawn_blocking(move || slow.join().expect("slow sender"))
        .await
        .expect("join");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("collector.limits.request_timeout"),
        "{answer}"
    );
    assert_eq!(
        state.telemetry.requests_rejected(RequestRejection::Timeout),
        1
    );
    assert_eq!(
        state
            .telemetry
            .requests_rejected(RequestRejection::Overloaded),
        1
    );

    let r = post(&c).await;
    assert_eq!(r.status(), 200, "the slot came free");
    assert_eq!(state.store().usage().points, 1);
    c.shutdown(Duration::from_secs(5)).await;
}
