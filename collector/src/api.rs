//! The HTTP API on 9464: `/api/v1/gpus`, `/api/v1/gpu` (one GPU in detail),
//! `/api/v1/nodes`, `/api/v1/inference`, `/api/v1/series`, `/api/v1/alerts`,
//! `/api/v1/cost`, `/metrics` (Prometheus), `/healthz`, `/readyz`. Answers are
//! gzipped for clients that accept it. With `collector.auth.api_tokens_file` set, all
//! but `/healthz` and `/readyz` need one of its tokens.

use gpuwatch_model::views::{self, ChartView};
use std::sync::Arc;

use std::io::Write;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use gpuwatch_model::api::AlertsResponse;
use gpuwatch_model::gpu_state::GpuState;
use serde::{Deserialize, Serialize};

use crate::alerts::StateFilter;
use crate::state::CollectorState;
use crate::view;

pub fn router(state: Arc<CollectorState>) -> Router {
    let open = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ok\n" }));
    Router::new()
        .route("/api/v1/gpus", get(gpus))
        .route("/api/v1/gpu", get(gpu))
        .route("/api/v1/nodes", get(nodes))
        .route("/api/v1/inference", get(inference))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/series", get(series))
        .route("/api/v1/cost", get(cost))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        .merge(open)
        .with_state(state)
}

/// `collector.auth.api_tokens_file`, when set: 401 without one of its tokens.
async fn authenticate(
    State(state): State<Arc<CollectorState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match state.auth().api(authorization) {
        Ok(()) => next.run(request).await,
        Err(denied) => {
            state.telemetry.api_unauthenticated();
            tracing::debug!(path = %request.uri().path(), "API request refused: {denied}");
            (
                StatusCode::UNAUTHORIZED,
                [(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"gpuwatch\""),
                )],
                format!("{denied}\n"),
            )
                .into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
struct GpusQuery {
    node: Option<String>,
    job: Option<String>,
    state: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// `[?node=A,B&job=J&state=hang,xid&offset=0&limit=100]`: the GPUs' latest values, in
/// node and index order; `X-Total-Count` says how many matched before `offset` and
/// `limit`.
async fn gpus(
    State(state): State<Arc<CollectorState>>,
    Query(q): Query<GpusQuery>,
    headers: HeaderMap,
) -> Response {
    let list = |v: &Option<String>| -> Vec<String> {
        v.iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut states = Vec::new();
    for word in list(&q.state) {
        match GpuState::parse(&word) {
            Some(s) => states.push(s),
            None => {
                let words: Vec<String> = GpuState::ALL
                    .iter()
                    .map(|s| s.word().to_ascii_lowercase())
                    .collect();
                return bad_request(format!(
                    "state must be one or more of {}, got {word:?}",
                    words.join(", ")
                ));
            }
        }
    }
    let filter = view::GpuFilter {
        nodes: list(&q.node),
        job: q.job.filter(|j| !j.is_empty()),
        offset: q.offset.unwrap_or(0),
        limit: q.limit,
        states,
    };
    // Alerts first: the store's lock is held only to read the GPUs.
    let firing = if filter.states.is_empty() {
        Vec::new()
    } else {
        state.alerts(StateFilter::Firing)
    };
    let (body, total) = view::gpus_where(&state.store(), &filter, &firing);
    let mut response = json(&headers, &body);
    response
        .headers_mut()
        .insert("x-total-count", HeaderValue::from(total));
    response
}

/// Bodies smaller than this go uncompressed: gzip would not save a packet.
const GZIP_FROM_BYTES: usize = 1400;

/// `body` as JSON, gzipped when the client accepts it.
fn json<T: Serialize>(headers: &HeaderMap, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => negotiated(headers, "application/json", bytes),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not encode the answer: {e}\n"),
        )
            .into_response(),
    }
}

/// `bytes` gzipped as the API sends them (fast level).
pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 6),
        flate2::Compression::fast(),
    );
    gz.write_all(bytes)?;
    gz.finish()
}

/// `bytes` with `content_type`, gzipped (fast level) when `Accept-Encoding` allows
/// gzip and the body is worth it.
fn negotiated(headers: &HeaderMap, content_type: &'static str, bytes: Vec<u8>) -> Response {
    let mut response = if bytes.len() >= GZIP_FROM_BYTES && accepts_gzip(headers) {
        match gzip(&bytes) {
            Ok(compressed) => {
                let mut r = compressed.into_response();
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }
            Err(_) => bytes.into_response(),
        }
    } else {
        bytes.into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// `Accept-Encoding` names `gzip` (or `*`) with a non-zero weight.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let weight = parts
                .find_map(|p| p.strip_prefix("q="))
                .map_or(1.0, |q| q.trim().parse::<f64>().unwrap_or(0.0));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && weight > 0.0
        })
}

/// More steps than a terminal or a browser draws.
const MAX_POINTS: usize = 1_000;

/// `since` (a duration) and `points` (steps per chart) of a charting endpoint, the
/// view's own (`gpuwatch_model::views`) where the request leaves them out.
fn chart_params(
    since: Option<&str>,
    points: Option<usize>,
    view: ChartView,
) -> Result<(i64, usize), String> {
    let since = since.unwrap_or(view.since);
    let Ok(window) = gpuwatch_model::duration::parse(since) else {
        return Err(format!(
            "since must be a duration such as 5m or 15m, got {since:?}"
        ));
    };
    let points = points.unwrap_or(view.points);
    if points == 0 || points > MAX_POINTS {
        return Err(format!("points must be 1 to {MAX_POINTS}, got {points}"));
    }
    let window = i64::try_from(window.as_nanos()).unwrap_or(i64::MAX).max(1);
    Ok((window, points))
}

#[derive(Debug, Deserialize)]
struct GpuQuery {
    node: Option<String>,
    id: Option<String>,
    since: Option<String>,
    points: Option<usize>,
}

/// `?node=NODE&id=UUID[&since=15m&points=240]`: one GPU with charts and processes.
async fn gpu(
    State(state): State<Arc<CollectorState>>,
    Query(q): Query<GpuQuery>,
    headers: HeaderMap,
) -> Response {
    let (Some(node), Some(id)) = (q.node, q.id) else {
        return bad_request(
            "name the GPU: /api/v1/gpu?node=node-01&id=GPU-... (host.name and hw.id)".into(),
        );
    };
    let (window, points) = match chart_params(q.since.as_deref(), q.points, views::GPU_DETAIL) {
        Ok(params) => params,
        Err(message) => return bad_request(message),
    };
    match state.gpu_detail(&node, &id, window, points) {
        Some(body) => json(&headers, &body),
        None => (
            StatusCode::NOT_FOUND,
            format!("no GPU {id:?} on node {node:?}\n"),
        )
            .into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct NodesQuery {
    since: Option<String>,
    points: Option<usize>,
}

/// `[?since=15m&points=48]`: every node's host.
async fn nodes(
    State(state): State<Arc<CollectorState>>,
    Query(q): Query<NodesQuery>,
    headers: HeaderMap,
) -> Response {
    match chart_params(q.since.as_deref(), q.points, views::NODES) {
        Ok((window, points)) => {
            let body = view::nodes(&state.store(), window, points);
            json(&headers, &body)
        }
        Err(message) => bad_request(message),
    }
}

/// Every served model over the latency-regression window.
async fn inference(State(state): State<Arc<CollectorState>>, headers: HeaderMap) -> Response {
    json(&headers, &state.inference())
}

/// Prometheus text exposition, format 0.0.4.
async fn metrics(State(state): State<Arc<CollectorState>>, headers: HeaderMap) -> Response {
    let body = state.render_metrics();
    negotiated(
        &headers,
        "text/plain; version=0.0.4; charset=utf-8",
        body.into_bytes(),
    )
}

#[derive(Debug, Deserialize)]
struct CostQuery {
    window: Option<String>,
    by: Option<String>,
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
}

async fn cost(
    State(state): State<Arc<CollectorState>>,
    Query(q): Query<CostQuery>,
    headers: HeaderMap,
) -> Response {
    let window = q.window.as_deref().unwrap_or(views::COST.window);
    let Ok(length) = gpuwatch_model::duration::parse(window) else {
        return bad_request(format!(
            "window must be a duration such as 15m or 1h, got {window:?}"
        ));
    };
    let by = q.by.as_deref().unwrap_or("job");
    let Some(by) = crate::cost::By::parse(by) else {
        return bad_request(format!("by must be job, team, node or model, got {by:?}"));
    };
    let length = i64::try_from(length.as_nanos()).unwrap_or(i64::MAX);
    match state.cost(length, by) {
        Some(body) => json(&headers, &body),
        None => bad_request(format!(
            "the live ledger keeps the last hour (or collector.cost.idle_window); \
             window {window} is longer: use `gpuwatch report cost` for history"
        )),
    }
}

#[derive(Debug, Deserialize)]
struct SeriesQuery {
    metric: Option<String>,
}

async fn series(
    State(state): State<Arc<CollectorState>>,
    Query(q): Query<SeriesQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(metric) = q.metric.filter(|m| !m.is_empty()) else {
        return (
            StatusCode::BAD_REQUEST,
            "name the metric: /api/v1/series?metric=hw.gpu.utilization\n",
        )
            .into_response();
    };
    let body = view::series(&state.store(), &metric);
    json(&headers, &body)
}

#[derive(Debug, Deserialize)]
struct AlertsQuery {
    state: Option<String>,
}

async fn alerts(
    State(state): State<Arc<CollectorState>>,
    Query(q): Query<AlertsQuery>,
    headers: HeaderMap,
) -> Response {
    let filter = match q.state.as_deref().unwrap_or("firing") {
        "firing" => StateFilter::Firing,
        "resolved" => StateFilter::Resolved,
        "all" => StateFilter::All,
        other => {
            return (
                StatusCode::BAD_REQUEST,
                format!("state must be firing, resolved or all, got {other:?}\n"),
            )
                .into_response()
        }
    };
    json(
        &headers,
        &AlertsResponse {
            alerts: state.alerts(filter),
        },
    )
}

#[cfg(test)]
mod tests;
