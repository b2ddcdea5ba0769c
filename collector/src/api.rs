//! The HTTP API on 9464: `/api/v1/gpus`, `/api/v1/series`, `/api/v1/alerts`,
//! `/metrics` (Prometheus), `/healthz`, `/readyz`.

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
