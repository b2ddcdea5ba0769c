//! `[collector.auth]` on a real collector over loopback: OTLP/HTTP and gRPC without the
//! token are refused (401 / UNAUTHENTICATED) and counted; a token bound to `node-0*`
//! cannot send as `node-17`; the API and `/metrics` need an API token while `/healthz`
//! stays open; SIGHUP's reload swaps the tokens.

mod common;

use std::path::PathBuf;

use gpuwatch_collector::config::CollectorSettings;
use gpuwatch_collector::otlp::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use gpuwatch_collector::otlp::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use gpuwatch_collector::store::RejectReason;
use gpuwatch_collector::telemetry::RequestRejection;
use gpuwatch_collector::{start, RunningCollector};
use prost::Message;

use common::{power_request, Status};

const AGENT: &str = "agent-token-0123456789abcdef";
const RACK0: &str = "rack0-token-0123456789abcdef";
const READER: &str = "reader-token-0123456789abcdef";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gpuwatch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

async fn collector(dir: &std::path::Path) -> RunningCollector {
    let ingest = dir.join("ingest-tokens");
    let api = dir.join("api-tokens");
    std::fs::write(&ingest, format!("# agents\n{AGENT}\n{RACK0} node-0*\n")).expect("write");
    std::fs::write(&api, format!("{READER}\n")).expect("write");
    let mut settings = CollectorSettings::ephemeral();
    settings.auth.ingest_tokens_file = Some(ingest);
    settings.auth.api_tokens_file = Some(api);
    start(&settings).await.expect("starts")
}

async fn post(
    c: &RunningCollector,
    token: Option<&str>,
    request: &ExportMetricsServiceRequest,
) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .post(format!("http://{}/v1/metrics", c.otlp_http))
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec());
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.expect("the receiver answers")
}

#[tokio::test]
async fn ingest_needs_a_token_over_http_and_grpc() {
    let dir = temp_dir("auth-ingest");
    let c = collector(&dir).await;
    let state = c.state();
    let request = power_request("node-17", 2, 300.0);

    for token in [None, Some("wrong-token-0123456789abcdef")] {
        let r = post(&c, token, &request).await;
        assert_eq!(r.status(), 401, "{token:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"gpuwatch\"");
        let status = Status::decode(r.bytes().await.expect("body")).expect("a Status");
        assert_eq!(status.code, 16, "UNAUTHENTICATED");
        assert!(
            status.message.contains("ingest_tokens_file"),
            "{}",
            status.message
        );
        assert!(!status.message.contains(AGENT), "the answer shows a token");
    }
    assert_eq!(
        state
            .telemetry
            .requests_rejected(RequestRejection::Unauthenticated),
        2
    );
    assert_eq!(
        state.store().points_accepted(),
        0,
        "nothing stored without a token"
    );

    let r = post(&c, Some(AGENT), &request).await;
    assert_eq!(r.status(), 200);
    assert_eq!(state.store().points_accepted(), 2);

    let mut client = MetricsServiceClient::connect(format!("http://{}", c.otlp_grpc))
        .await
        .expect("connects");
    let status = client.export(request.clone()).await.expect_err("no token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let mut with_token = tonic::Request::new(power_request("node-18", 1, 300.0));
    with_token.metadata_mut().insert(
        "authorization",
        format!("Bearer {AGENT}").parse().expect("metadata"),
    );
    client.export(with_token).await.expect("with the token");
    assert_eq!(state.store().points_accepted(), 3);
    assert_eq!(
        state
            .telemetry
            .requests_rejected(RequestRejection::Unauthenticated),
        3
    );
    let metrics = state.render_metrics();
    assert!(
        metrics.contains("gpuwatch_ingest_rejected_total{reason=\"unauthenticated\"} 3"),
        "{metrics}"
    );
    c.shutdown(std::time::Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_token_bound_to_hosts_cannot_send_as_another() {
    let dir = temp_dir("auth-hosts");
    let c = collector(&dir).await;
    let state = c.state();
    // node-01 may, node-17 may not: one request holding both.
    let mut request = power_request("node-01", 2, 300.0);
    request
        .resource_metrics
        .extend(power_request("node-17", 3, 300.0).resource_metrics);
    let r = post(&c, Some(RACK0), &request).await;
    assert_eq!(r.status(), 200);
    let answer =
        ExportMetricsServiceResponse::decode(r.bytes().await.expect("body")).expect("a response");
    let partial = answer.partial_success.expect("partial success");
    assert_eq!(partial.rejected_data_points, 3);
    assert!(
        partial.error_message.contains("forbidden_host 3"),
        "{}",
        partial.error_message
    );
    assert_eq!(state.store().points_accepted(), 2);
    assert_eq!(state.store().rejected(RejectReason::ForbiddenHost), 3);
    let nodes: Vec<String> = state
        .store()
        .gpus()
        .keys()
        .map(|(node, _)| node.clone())
        .collect();
    assert_eq!(
        nodes,
        ["node-01", "node-01"],
        "only node-01's GPUs are stored"
    );
    // A restricted token must say which host it is.
    let r = post(&c, Some(RACK0), &power_request("", 1, 1.0)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(state.store().rejected(RejectReason::ForbiddenHost), 4);
    // The unrestricted token sends as anyone.
    let r = post(&c, Some(AGENT), &power_request("node-17", 3, 300.0)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(state.store().points_accepted(), 5);
    c.shutdown(std::time::Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_api_needs_a_reader_token_and_health_stays_open() {
    let dir = temp_dir("auth-api");
    let c = collector(&dir).await;
    let client = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut r = client.get(format!("http://{}{path}", c.api));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    for path in ["/api/v1/gpus", "/api/v1/alerts", "/api/v1/cost", "/metrics"] {
        let r = get(path, None).await.expect("answers");
        assert_eq!(r.status(), 401, "{path}");
        let body = r.text().await.expect("body");
        assert!(body.contains("api_tokens_file"), "{path}: {body}");
        // An ingest token does not read.
        assert_eq!(get(path, Some(AGENT)).await.expect("answers").status(), 401);
        assert_eq!(
            get(path, Some(READER)).await.expect("answers").status(),
            200
        );
    }
    for path in ["/healthz", "/readyz"] {
        assert_eq!(
            get(path, None).await.expect("answers").status(),
            200,
            "{path}"
        );
    }
    // Every refusal counted: four paths, each without a token and with the ingest one.
    let metrics = get("/metrics", Some(READER))
        .await
        .expect("answers")
        .text()
        .await
        .expect("body");
    assert!(
        metrics.contains("gpuwatch_api_requests_refused_total{reason=\"unauthenticated\"} 8\n"),
        "{metrics}"
    );

    // A new token file, read on reload; the old token no longer reads.
    const NEXT: &str = "next-reader-0123456789abcdef";
    std::fs::write(dir.join("api-tokens"), format!("{NEXT}\n")).expect("write");
    c.reload().expect("reloads");
    assert_eq!(
        get("/metrics", Some(NEXT)).await.expect("answers").status(),
        200
    );
    assert_eq!(
        get("/metrics", Some(READER))
            .await
            .expect("answers")
            .status(),
        401
    );
    // A broken file is refused by name, and the tokens in force stay.
    std::fs::write(dir.join("api-tokens"), "short\n").expect("write");
    let err = c.reload().expect_err("a short token");
    assert!(err.contains("api-tokens: line 1"), "{err}");
    assert_eq!(
        get("/metrics", Some(NEXT)).await.expect("answers").status(),
        200
    );
    c.shutdown(std::time::Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_missing_token_file_stops_the_start_with_its_name() {
    let mut settings = CollectorSettings::ephemeral();
    settings.auth.ingest_tokens_file = Some("/nonexistent/gpuwatch-tokens".into());
    let err = start(&settings).await.expect_err("no such file");
    assert!(
        err.to_string()
            .starts_with("collector.auth: cannot read the token file /nonexistent/gpuwatch-tokens"),
        "{err}"
    );
}
