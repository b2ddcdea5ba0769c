//! The HTTP API on 9464: `/api/v1/gpus`, `/api/v1/gpu` (one GPU in detail),
//! `/api/v1/nodes`, `/api/v1/inference`, `/api/v1/series`, `/api/v1/alerts`,
//! `/api/v1/cost`, `/metrics` (Prometheus), `/healthz`, `/readyz`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gpuwatch_model::api::AlertsResponse;
use serde::Deserialize;

use crate::alerts::StateFilter;
use crate::state::CollectorState;
use crate::view;

pub fn router(state: Arc<CollectorState>) -> Router {
    Router::new()
        .route("/api/v1/gpus", get(gpus))
        .route("/api/v1/gpu", get(gpu))
        .route("/api/v1/nodes", get(nodes))
        .route("/api/v1/inference", get(inference))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/series", get(series))
        .route("/api/v1/cost", get(cost))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ok\n" }))
        .with_state(state)
}

async fn gpus(State(state): State<Arc<CollectorState>>) -> Response {
    let body = view::gpus(&state.store());
    Json(body).into_response()
}

/// Charts cover this much event time unless `since` says otherwise.
const DEFAULT_SINCE: &str = "15m";
/// Steps per chart of `/api/v1/gpu` and `/api/v1/nodes` unless `points` says.
const DEFAULT_GPU_POINTS: usize = 120;
const DEFAULT_NODE_POINTS: usize = 48;
/// More steps than a terminal or a browser draws.
const MAX_POINTS: usize = 1_000;

/// `since` (a duration) and `points` (steps per chart) of a charting endpoint.
fn chart_params(
    since: Option<&str>,
    points: Option<usize>,
    default_points: usize,
) -> Result<(i64, usize), String> {
    let since = since.unwrap_or(DEFAULT_SINCE);
    let Ok(window) = gpuwatch_model::duration::parse(since) else {
        return Err(format!(
            "since must be a duration such as 5m or 15m, got {since:?}"
        ));
    };
    let points = points.unwrap_or(default_points);
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

/// `?node=NODE&id=UUID[&since=15m&points=120]`: one GPU with charts and processes.
async fn gpu(State(state): State<Arc<CollectorState>>, Query(q): Query<GpuQuery>) -> Response {
    let (Some(node), Some(id)) = (q.node, q.id) else {
        return bad_request(
            "name the GPU: /api/v1/gpu?node=node-01&id=GPU-... (host.name and hw.id)".into(),
        );
    };
    let (window, points) = match chart_params(q.since.as_deref(), q.points, DEFAULT_GPU_POINTS) {
        Ok(params) => params,
        Err(message) => return bad_request(message),
    };
    match view::gpu_detail(&state.store(), &node, &id, window, points) {
        Some(body) => Json(body).into_response(),
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
async fn nodes(State(state): State<Arc<CollectorState>>, Query(q): Query<NodesQuery>) -> Response {
    match chart_params(q.since.as_deref(), q.points, DEFAULT_NODE_POINTS) {
        Ok((window, points)) => Json(view::nodes(&state.store(), window, points)).into_response(),
        Err(message) => bad_request(message),
    }
}

/// Every served model over the latency-regression window.
async fn inference(State(state): State<Arc<CollectorState>>) -> Response {
    Json(state.inference()).into_response()
}

/// Prometheus text exposition, format 0.0.4.
async fn metrics(State(state): State<Arc<CollectorState>>) -> Response {
    let body = state.render_metrics();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct CostQuery {
    window: Option<String>,
    by: Option<String>,
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
}

async fn cost(State(state): State<Arc<CollectorState>>, Query(q): Query<CostQuery>) -> Response {
    let window = q.window.as_deref().unwrap_or("1h");
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
        Some(body) => Json(body).into_response(),
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
) -> Response {
    let Some(metric) = q.metric.filter(|m| !m.is_empty()) else {
        return (
            StatusCode::BAD_REQUEST,
            "name the metric: /api/v1/series?metric=hw.gpu.utilization\n",
        )
            .into_response();
    };
    Json(view::series(&state.store(), &metric)).into_response()
}

#[derive(Debug, Deserialize)]
struct AlertsQuery {
    state: Option<String>,
}

async fn alerts(
    State(state): State<Arc<CollectorState>>,
    Query(q): Query<AlertsQuery>,
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
    Json(AlertsResponse {
        alerts: state.alerts(filter),
    })
    .into_response()
}

#[cfg(test)]
mod tests;
