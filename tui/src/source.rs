//! Where the dashboard's data comes from: a collector's JSON API over HTTP
//! ([`HttpSource`]), or a function in the same process ([`FnSource`], for `gpuwatch up`
//! and `demo`, where the binary hands in the collector's store). Two reads: the GPUs
//! and the alerts. The TUI knows nothing else about the collector.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use gpuwatch_model::api::{AlertsResponse, CostResponse, CostRow, GpusResponse};

/// How long one `GET` may take before it counts as failed.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(2);

/// Something that can be asked for the newest view of every GPU, and for the alerts.
pub trait Source: Send + Sync {
    /// One line for the footer: the collector URL, or `in-process collector`.
    fn describe(&self) -> String;

    /// The newest view of every GPU.
    fn fetch(&self) -> BoxFuture<'_, Result<GpusResponse, SourceError>>;

    /// The firing, pending and recently resolved alerts. A source that knows none
    /// answers an empty list: every GPU is then OK or IDLE.
    fn fetch_alerts(&self) -> BoxFuture<'_, Result<AlertsResponse, SourceError>> {
        Box::pin(std::future::ready(Ok(AlertsResponse::default())))
    }

    /// The cluster's burn now ($/h, and the part of it idle), when the source prices
    /// GPUs. `None` leaves it off the header.
    fn fetch_burn(&self) -> BoxFuture<'_, Result<Option<CostRow>, SourceError>> {
        Box::pin(std::future::ready(Ok(None)))
    }
}

/// Why a fetch failed. The text is short: the footer shows it next to the source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("bad collector URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("collector unreachable: {summary}")]
    Unreachable {
        summary: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("collector did not answer within {0:?}")]
    Timeout(Duration),
    #[error("collector answered HTTP {0}")]
    Status(u16),
    #[error("unreadable answer from the collector: {0}")]
    Decode(#[source] serde_json::Error),
}

/// Reads `GET {base}/api/v1/gpus` and `GET {base}/api/v1/alerts?state=all` from a
/// running collector.
#[derive(Debug, Clone)]
pub struct HttpSource {
    base: String,
    gpus_url: reqwest::Url,
    alerts_url: reqwest::Url,
    cost_url: reqwest::Url,
    client: reqwest::Client,
}

impl HttpSource {
    /// `base_url` is the collector's API address, e.g. `http://127.0.0.1:9464`; a bare
    /// `host:port` means `http://host:port`. Only plain `http` is supported.
    pub fn new(base_url: &str) -> Result<Self, SourceError> {
        let trimmed = base_url.trim().trim_end_matches('/');
        let base = if trimmed.contains("://") {
            trimmed.to_string()
        } else {
            format!("http://{trimmed}")
        };
        let invalid = |reason: String| SourceError::InvalidUrl {
            url: base_url.to_string(),
            reason,
        };
        let parse = |path: &str| {
            reqwest::Url::parse(&format!("{base}{path}")).map_err(|e| invalid(e.to_string()))
        };
        let gpus_url = parse("/api/v1/gpus")?;
        if gpus_url.scheme() != "http" {
            return Err(invalid(format!(
                "scheme {:?} is not supported, use http://",
                gpus_url.scheme()
            )));
        }
        let alerts_url = parse("/api/v1/alerts?state=all")?;
        let cost_url = parse("/api/v1/cost?window=5m&by=team")?;
        let client = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(SourceError::Client)?;
        Ok(HttpSource {
            base,
            gpus_url,
            alerts_url,
            cost_url,
            client,
        })
    }

    /// The body of a successful `GET url`.
    async fn get(&self, url: &reqwest::Url) -> Result<Vec<u8>, SourceError> {
        let response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(request_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(SourceError::Status(status.as_u16()));
        }
        let body = response.bytes().await.map_err(request_error)?;
        Ok(body.to_vec())
    }

    async fn get_gpus(&self) -> Result<GpusResponse, SourceError> {
        let body = self.get(&self.gpus_url).await?;
        serde_json::from_slice(&body).map_err(SourceError::Decode)
    }

    async fn get_alerts(&self) -> Result<AlertsResponse, SourceError> {
        let body = self.get(&self.alerts_url).await?;
        serde_json::from_slice(&body).map_err(SourceError::Decode)
    }

    async fn get_burn(&self) -> Result<Option<CostRow>, SourceError> {
        let body = self.get(&self.cost_url).await?;
        let cost: CostResponse = serde_json::from_slice(&body).map_err(SourceError::Decode)?;
        Ok(Some(cost.total))
    }
}

impl Source for HttpSource {
    fn describe(&self) -> String {
        format!("collector {}", self.base)
    }

    fn fetch(&self) -> BoxFuture<'_, Result<GpusResponse, SourceError>> {
        Box::pin(self.get_gpus())
    }

    fn fetch_alerts(&self) -> BoxFuture<'_, Result<AlertsResponse, SourceError>> {
        Box::pin(self.get_alerts())
    }

    fn fetch_burn(&self) -> BoxFuture<'_, Result<Option<CostRow>, SourceError>> {
        Box::pin(self.get_burn())
    }
}

/// Turns a reqwest error into the short text a person needs: the innermost cause
/// (`Connection refused (os error 111)`), not the wrapped chain.
fn request_error(e: reqwest::Error) -> SourceError {
    if e.is_timeout() {
        return SourceError::Timeout(HTTP_TIMEOUT);
    }
    let mut cause: &dyn std::error::Error = &e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    SourceError::Unreachable {
        summary: without_os_error_code(&cause.to_string()).to_string(),
        source: e,
    }
}

/// `Connection refused (os error 111)` → `Connection refused`: the number helps nobody
/// reading a footer.
fn without_os_error_code(text: &str) -> &str {
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => &text[..at],
        _ => text,
    }
}

/// The function that produces the alerts of an [`FnSource`].
pub type AlertsFn = Arc<dyn Fn() -> AlertsResponse + Send + Sync>;

/// The function that produces the burn of an [`FnSource`].
pub type BurnFn = Arc<dyn Fn() -> Option<CostRow> + Send + Sync>;

/// A function in the same process that produces the view, e.g. a read of the
/// collector's store that the binary wires in, and optionally one for the alerts
/// ([`FnSource::with_alerts`]). They are called on a tokio worker; keep them quick (a
/// snapshot under a lock), they do not block the keyboard either way.
#[derive(Clone)]
pub struct FnSource {
    description: String,
    produce: Arc<dyn Fn() -> GpusResponse + Send + Sync>,
    alerts: Option<AlertsFn>,
    burn: Option<BurnFn>,
}

impl FnSource {
    pub fn new(
        description: impl Into<String>,
        produce: Arc<dyn Fn() -> GpusResponse + Send + Sync>,
    ) -> Self {
        FnSource {
            description: description.into(),
            produce,
            alerts: None,
            burn: None,
        }
    }

    /// Answers [`Source::fetch_burn`] with `burn`: the cluster's spend rate now.
    pub fn with_burn(self, burn: BurnFn) -> Self {
        FnSource {
            burn: Some(burn),
            ..self
        }
    }

    /// Answers [`Source::fetch_alerts`] with `alerts`: firing, pending and recently
    /// resolved ones, as `GET /api/v1/alerts?state=all` would. Without it the source
    /// has no alerts.
    pub fn with_alerts(self, alerts: Arc<dyn Fn() -> AlertsResponse + Send + Sync>) -> Self {
        FnSource {
            alerts: Some(alerts),
            ..self
        }
    }
}

impl fmt::Debug for FnSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnSource")
            .field("description", &self.description)
            .field("alerts", &self.alerts.is_some())
            .finish_non_exhaustive()
    }
}

impl Source for FnSource {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn fetch(&self) -> BoxFuture<'_, Result<GpusResponse, SourceError>> {
        Box::pin(async move { Ok((self.produce)()) })
    }

    fn fetch_alerts(&self) -> BoxFuture<'_, Result<AlertsResponse, SourceError>> {
        Box::pin(async move { Ok(self.alerts.as_ref().map(|f| f()).unwrap_or_default()) })
    }

    fn fetch_burn(&self) -> BoxFuture<'_, Result<Option<CostRow>, SourceError>> {
        Box::pin(async move { Ok(self.burn.as_ref().and_then(|f| f())) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpuwatch_model::api::GpuView;
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
            HttpSource::new("https://collector:9464"),
            Err(SourceError::InvalidUrl { .. })
        ));
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
}
