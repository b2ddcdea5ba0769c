//! The sources against canned HTTP and in-process functions.

use std::sync::Arc;

use super::*;
use gpuwatch_model::api::GpuView;
use gpuwatch_model::credentials::ClientAuth;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves exactly one HTTP response with `status` and `body`, and returns the
/// address and the request line it got.
async fn serve_once(
    status: &'static str,
    body: String,
) -> (String, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let server = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.expect("accept");
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(response.as_bytes()).await.expect("write");
        conn.shutdown().await.expect("shutdown");
        String::from_utf8_lossy(&request)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    });
    (format!("http://{addr}"), server)
}

fn canned() -> GpusResponse {
    GpusResponse {
        gpus: vec![GpuView {
            node: "node-01".into(),
            id: "GPU-1".into(),
            name: "gpu0".into(),
            utilization: Some(0.5),
            last_seen_unix_ms: 1_000,
            ..GpuView::default()
        }],
        newest_point_unix_ms: Some(1_000),
        points_received: 42,
        nodes: 1,
    }
}

#[tokio::test]
async fn http_source_reads_the_gpus_endpoint() {
    let body = serde_json::to_string(&canned()).expect("serialize");
    let (base, server) = serve_once("200 OK", body).await;
    let source = HttpSource::new(&format!("{base}/")).expect("source");
    assert_eq!(source.describe(), format!("collector {base}"));
    let got = source.fetch().await.expect("fetch");
    assert_eq!(got, canned());
    assert_eq!(server.await.expect("server"), "GET /api/v1/gpus HTTP/1.1");
}

fn canned_alerts() -> AlertsResponse {
    use gpuwatch_model::{Alert, AlertKind, AlertState, Severity, Timestamp};
    let labels = [("host.name", "node-01"), ("hw.id", "GPU-1")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    AlertsResponse {
        alerts: vec![Alert {
            id: "f00d".into(),
            kind: AlertKind::GpuHang,
            severity: Severity::Critical,
            state: AlertState::Firing,
            summary: "node-01 gpu0: 99% busy at 71 W".into(),
            labels,
            value: 0.99,
            started_at: Timestamp::from_unix_millis(1_000),
            ended_at: None,
        }],
    }
}

#[tokio::test]
async fn http_source_reads_every_alert() {
    let body = serde_json::to_string(&canned_alerts()).expect("serialize");
    let (base, server) = serve_once("200 OK", body).await;
    let source = HttpSource::new(&base).expect("source");
    let got = source.fetch_alerts().await.expect("fetch");
    assert_eq!(got, canned_alerts());
    assert_eq!(
        server.await.expect("server"),
        "GET /api/v1/alerts?state=all HTTP/1.1"
    );

    let (base, _server) = serve_once("404 Not Found", String::new()).await;
    let source = HttpSource::new(&base).expect("source");
    let err = source.fetch_alerts().await.expect_err("an older collector");
    assert!(matches!(err, SourceError::Status(404)), "{err}");
}

#[tokio::test]
async fn http_source_reports_status_and_bad_json() {
    let (base, _server) = serve_once("503 Service Unavailable", String::new()).await;
    let source = HttpSource::new(&base).expect("source");
    let err = source.fetch().await.expect_err("503 is an error");
    assert!(matches!(err, SourceError::Status(503)), "{err}");

    let (base, _server) = serve_once("200 OK", "{\"gpus\": 7}".into()).await;
    let source = HttpSource::new(&base).expect("source");
    let err = source.fetch().await.expect_err("bad body is an error");
    assert!(matches!(err, SourceError::Decode(_)), "{err}");
}

#[tokio::test]
async fn http_source_on_a_closed_port_is_an_error() {
    // Bind and drop: the port is then (almost certainly) closed.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("local addr").port()
    };
    let source = HttpSource::new(&format!("127.0.0.1:{port}")).expect("source");
    let err = source.fetch().await.expect_err("closed port");
    assert!(
        matches!(
            err,
            SourceError::Unreachable { .. } | SourceError::Timeout(_)
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(!text.contains("os error"), "{text}");
    assert!(
        text.starts_with("collector unreachable") || text.contains("answer"),
        "{text}"
    );
}

#[test]
fn http_source_refuses_what_it_cannot_speak() {
    assert!(matches!(
        HttpSource::new("ftp://collector:9464"),
        Err(SourceError::InvalidUrl { .. })
    ));
    let with_ca = ClientAuth {
        ca_pem: Some(b"-----BEGIN CERTIFICATE-----".to_vec()),
        ..ClientAuth::default()
    };
    assert!(matches!(
        HttpSource::with_auth("http://collector:9464", &with_ca),
        Err(SourceError::InvalidUrl { .. })
    ));
    assert!(HttpSource::new("https://collector:9464").is_ok());
    assert!(matches!(
        HttpSource::new("http://[::1"),
        Err(SourceError::InvalidUrl { .. })
    ));
    let ok = HttpSource::new("collector.example:9464").expect("bare host:port");
    assert_eq!(ok.describe(), "collector http://collector.example:9464");
}

#[test]
fn os_error_codes_are_left_out() {
    assert_eq!(
        without_os_error_code("Connection refused (os error 111)"),
        "Connection refused"
    );
    assert_eq!(without_os_error_code("dns error"), "dns error");
}

#[tokio::test]
async fn fn_source_calls_the_function() {
    let source = FnSource::new("in-process collector", Arc::new(canned));
    assert_eq!(source.describe(), "in-process collector");
    assert_eq!(source.fetch().await.expect("fetch"), canned());
    let none = source
        .fetch_alerts()
        .await
        .expect("no alerts is not an error");
    assert_eq!(none, AlertsResponse::default());

    let source = source.with_alerts(Arc::new(canned_alerts));
    assert_eq!(source.fetch().await.expect("fetch"), canned());
    let alerts = source.fetch_alerts().await.expect("fetch alerts");
    assert_eq!(alerts, canned_alerts());
    assert!(format!("{source:?}").contains("alerts: true"));
}

/// A source written before alerts existed still compiles and has none.
struct GpusOnly;

impl Source for GpusOnly {
    fn describe(&self) -> String {
        "gpus only".into()
    }

    fn fetch(&self) -> BoxFuture<'_, Result<GpusResponse, SourceError>> {
        Box::pin(async { Ok(canned()) })
    }
}

#[tokio::test]
async fn sources_have_no_alerts_unless_they_say() {
    let alerts = GpusOnly.fetch_alerts().await.expect("default");
    assert!(alerts.alerts.is_empty());
}

#[tokio::test]
async fn fn_source_serves_the_views_it_is_given() {
    use gpuwatch_model::api::{GpuDetailResponse, NodesResponse};
    let source = FnSource::new("in-process collector", Arc::new(canned));
    let err = source.fetch_nodes().await.expect_err("no nodes function");
    assert_eq!(err.to_string(), "this source does not serve nodes");
    let source = source
        .with_nodes(Arc::new(NodesResponse::default))
        .with_detail(Arc::new(|gpu: &GpuRef| {
            (gpu.id == "GPU-1").then(GpuDetailResponse::default)
        }));
    assert_eq!(
        source.fetch_nodes().await.expect("nodes"),
        NodesResponse::default()
    );
    let gpu = |id: &str| GpuRef {
        node: "node-01".into(),
        id: id.into(),
    };
    assert!(source.fetch_detail(gpu("GPU-1")).await.is_ok());
    assert!(matches!(
        source.fetch_detail(gpu("GPU-2")).await,
        Err(SourceError::Status(404))
    ));
    assert!(source.fetch_cost().await.is_err());
}

#[tokio::test]
async fn http_source_asks_for_a_gpu_by_node_and_id() {
    use gpuwatch_model::api::GpuDetailResponse;
    let body = serde_json::to_string(&GpuDetailResponse::default()).expect("serialize");
    let (base, server) = serve_once("200 OK", body).await;
    let source = HttpSource::new(&base).expect("source");
    let gpu = GpuRef {
        node: "node 01".into(),
        id: "GPU-1".into(),
    };
    source.fetch_detail(gpu).await.expect("detail");
    assert_eq!(
        server.await.expect("server"),
        "GET /api/v1/gpu?since=15m&points=240&node=node+01&id=GPU-1 HTTP/1.1"
    );
}
