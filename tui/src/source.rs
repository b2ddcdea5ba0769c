//! Where the dashboard's data comes from: a collector's JSON API over HTTP
//! ([`HttpSource`]), several of them merged ([`MultiSource`]), or a function in the
//! same process ([`FnSource`], for `gpuwatch up` and `demo`, where the binary hands in
//! the collector's store). Reads: the GPUs, the alerts and the burn on every refresh;
//! the nodes, the models, the cost and one GPU's detail when a view shows them. The
//! TUI knows nothing else about the collector.

mod in_process;
mod multi;

pub use in_process::{AlertsFn, BurnFn, DetailFn, FnSource, ViewFn};
pub use multi::MultiSource;

use gpuwatch_model::credentials::ClientAuth;
use gpuwatch_model::views;
use std::time::Duration;

use futures::future::BoxFuture;
use gpuwatch_model::api::{
    AlertsResponse, CostResponse, CostRow, GpuDetailResponse, GpusResponse, InferenceResponse,
    NodesResponse,
};

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

    /// Every node's host: CPU, memory, disks, network, with charts.
    fn fetch_nodes(&self) -> BoxFuture<'_, Result<NodesResponse, SourceError>> {
        Box::pin(std::future::ready(Err(SourceError::Unsupported("nodes"))))
    }

    /// Every served model: traffic, latency, drift.
    fn fetch_inference(&self) -> BoxFuture<'_, Result<InferenceResponse, SourceError>> {
        Box::pin(std::future::ready(Err(SourceError::Unsupported(
            "inference",
        ))))
    }

    /// Spend over the last hour by team, job and node.
    fn fetch_cost(&self) -> BoxFuture<'_, Result<CostBreakdown, SourceError>> {
        Box::pin(std::future::ready(Err(SourceError::Unsupported("cost"))))
    }

    /// One GPU with charts over the store's window and its processes.
    fn fetch_detail(&self, _gpu: GpuRef) -> BoxFuture<'_, Result<GpuDetailResponse, SourceError>> {
        Box::pin(std::future::ready(Err(SourceError::Unsupported(
            "GPU details",
        ))))
    }

    /// Why some of the collectors behind the source did not answer the last fetch,
    /// while others did (the data is then partial). Empty for a single collector.
    fn partial_failures(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A GPU by node and UUID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GpuRef {
    pub node: String,
    pub id: String,
}

/// The Cost tab's data: one window (the last hour), three groupings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostBreakdown {
    pub by_team: CostResponse,
    pub by_job: CostResponse,
    pub by_node: CostResponse,
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
    #[error(
        "the collector wants a token (HTTP 401): pass --token-file FILE or set GPUWATCH_TOKEN \
         to one of its collector.auth.api_tokens_file tokens"
    )]
    Unauthorized,
    #[error("cannot use the TLS files: {0}")]
    Tls(String),
    #[error("unreadable answer from the collector: {0}")]
    Decode(#[source] serde_json::Error),
    #[error("this source does not serve {0}")]
    Unsupported(&'static str),
}

/// Reads `GET {base}/api/v1/gpus`, `/api/v1/alerts?state=all`, `/api/v1/cost`,
/// `/api/v1/nodes`, `/api/v1/inference` and `/api/v1/gpu` from a running collector.
#[derive(Debug, Clone)]
pub struct HttpSource {
    base: String,
    gpus_url: reqwest::Url,
    alerts_url: reqwest::Url,
    cost_url: reqwest::Url,
    nodes_url: reqwest::Url,
    inference_url: reqwest::Url,
    /// `by` is appended.
    cost_hour_url: reqwest::Url,
    /// `node` and `id` are appended.
    detail_url: reqwest::Url,
    client: reqwest::Client,
}

impl HttpSource {
    /// `base_url` is the collector's API address, e.g. `http://127.0.0.1:9464`; a bare
    /// `host:port` means `http://host:port`. Plain `http` only: see `with_auth`.
    pub fn new(base_url: &str) -> Result<Self, SourceError> {
        Self::with_auth(base_url, &ClientAuth::default())
    }

    /// `new`, sending `auth`'s token, trusting its CA beside the system's roots and
    /// presenting its client certificate; `https://` is spoken.
    pub fn with_auth(base_url: &str, auth: &ClientAuth) -> Result<Self, SourceError> {
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
        let tls = auth.ca_pem.is_some() || auth.identity_pem.is_some();
        match gpus_url.scheme() {
            "https" => {}
            "http" if !tls => {}
            "http" => {
                return Err(invalid(
                    "--ca-file and --cert-file are for https://; use https://".into(),
                ))
            }
            other => {
                return Err(invalid(format!(
                    "scheme {other:?} is not supported, use http:// or https://"
                )))
            }
        }
        let alerts_url = parse("/api/v1/alerts?state=all")?;
        // The views' windows and steps, as the API's defaults and the in-process
        // source have them (`gpuwatch_model::views`); the terminal resamples charts.
        let cost_url = parse(&format!(
            "/api/v1/cost?window={}&by=team",
            views::BURN.window
        ))?;
        let nodes_url = parse(&format!("/api/v1/nodes?{}", views::NODES.query()))?;
        let inference_url = parse("/api/v1/inference")?;
        let cost_hour_url = parse(&format!("/api/v1/cost?window={}", views::COST.window))?;
        let detail_url = parse(&format!("/api/v1/gpu?{}", views::GPU_DETAIL.query()))?;
        let client = client(auth)?;
        Ok(HttpSource {
            base,
            gpus_url,
            alerts_url,
            cost_url,
            nodes_url,
            inference_url,
            cost_hour_url,
            detail_url,
            client,
        })
    }

    /// The collector's base URL, `http://host:port`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The body of `GET url`, decoded.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &reqwest::Url,
    ) -> Result<T, SourceError> {
        let body = self.get(url).await?;
        serde_json::from_slice(&body).map_err(SourceError::Decode)
    }

    async fn get_cost(&self) -> Result<CostBreakdown, SourceError> {
        let by = |by: &str| {
            let mut url = self.cost_hour_url.clone();
            url.query_pairs_mut().append_pair("by", by);
            url
        };
        let (team, job, node) = (by("team"), by("job"), by("node"));
        let (by_team, by_job, by_node) = futures::join!(
            self.get_json::<CostResponse>(&team),
            self.get_json::<CostResponse>(&job),
            self.get_json::<CostResponse>(&node)
        );
        Ok(CostBreakdown {
            by_team: by_team?,
            by_job: by_job?,
            by_node: by_node?,
        })
    }

    async fn get_detail(&self, gpu: GpuRef) -> Result<GpuDetailResponse, SourceError> {
        let mut url = self.detail_url.clone();
        url.query_pairs_mut()
            .append_pair("node", &gpu.node)
            .append_pair("id", &gpu.id);
        self.get_json(&url).await
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
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(SourceError::Unauthorized);
        }
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

    fn fetch_nodes(&self) -> BoxFuture<'_, Result<NodesResponse, SourceError>> {
        Box::pin(self.get_json(&self.nodes_url))
    }

    fn fetch_inference(&self) -> BoxFuture<'_, Result<InferenceResponse, SourceError>> {
        Box::pin(self.get_json(&self.inference_url))
    }

    fn fetch_cost(&self) -> BoxFuture<'_, Result<CostBreakdown, SourceError>> {
        Box::pin(self.get_cost())
    }

    fn fetch_detail(&self, gpu: GpuRef) -> BoxFuture<'_, Result<GpuDetailResponse, SourceError>> {
        Box::pin(self.get_detail(gpu))
    }
}

/// Turns a reqwest error into the short text a person needs: the innermost cause
/// (`Connection refused (os error 111)`), not the wrapped chain.
/// The HTTP client: `auth`'s token on every request, its CA and client certificate.
fn client(auth: &ClientAuth) -> Result<reqwest::Client, SourceError> {
    let mut builder = reqwest::Client::builder().timeout(HTTP_TIMEOUT);
    if let Some(token) = &auth.token {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| SourceError::Tls("the token holds characters a header cannot".into()))?;
        value.set_sensitive(true);
        builder = builder.default_headers(reqwest::header::HeaderMap::from_iter([(
            reqwest::header::AUTHORIZATION,
            value,
        )]));
    }
    if let Some(ca) = &auth.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(ca)
            .map_err(|e| SourceError::Tls(format!("--ca-file: {e}")))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let Some((cert, key)) = &auth.identity_pem {
        let pem = [cert.as_slice(), b"\n", key.as_slice()].concat();
        let identity = reqwest::Identity::from_pem(&pem)
            .map_err(|e| SourceError::Tls(format!("--cert-file and --key-file: {e}")))?;
        builder = builder.identity(identity);
    }
    builder.build().map_err(SourceError::Client)
}

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

#[cfg(test)]
mod tests;
