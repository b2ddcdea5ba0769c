//! The endpoints over a real socket, with a store built point by point.

use std::sync::Arc;

use gpuwatch_model::api::{GpuDetailResponse, InferenceResponse, NodesResponse};
use gpuwatch_model::names::{attr, metric};

use super::router;
use crate::state::CollectorState;
use crate::store::builder::{every, Builder};

/// Serves the API of a collector holding one GPU and its node's CPU; returns the base
/// URL.
async fn serve() -> String {
    let settings = crate::CollectorConfig::default()
        .validate()
        .expect("default config");
    let state = Arc::new(CollectorState::new(
        settings.store,
        settings.alerts,
        settings.cost,
    ));
    let mut b = Builder::new();
    b.gpu(
        "node-01",
        0,
        None,
        metric::GPU_UTILIZATION,
        &[],
        every(10, 0, 120, |_| 0.5),
    )
    .series(
        metric::CPU_UTILIZATION,
        &[(attr::HOST_NAME, "node-01"), (attr::CPU_MODE, "idle")],
        every(10, 0, 120, |_| 0.9),
    );
    *state.store() = b.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(state)).await;
    });
    format!("http://{addr}")
}

async fn get(url: String) -> (u16, String) {
    let response = reqwest::get(url).await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn api_gpu_detail_nodes_and_inference() {
    let base = serve().await;
    let (status, body) = get(format!(
        "{base}/api/v1/gpu?node=node-01&id=GPU-node-01-0&since=2m&points=12"
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let detail: GpuDetailResponse = serde_json::from_str(&body).expect("json");
    assert_eq!(detail.gpu.name, "gpu0");
    assert_eq!(detail.charts[0].points.len(), 12);

    let (status, body) = get(format!("{base}/api/v1/nodes")).await;
    assert_eq!(status, 200, "{body}");
    let nodes: NodesResponse = serde_json::from_str(&body).expect("json");
    assert_eq!(nodes.nodes.len(), 1);
    assert_eq!(nodes.nodes[0].cpu_idle, Some(0.9));
    assert_eq!(nodes.nodes[0].gpus, 1);

    let (status, body) = get(format!("{base}/api/v1/inference")).await;
    assert_eq!(status, 200, "{body}");
    let inference: InferenceResponse = serde_json::from_str(&body).expect("json");
    assert!(inference.models.is_empty());
}

#[tokio::test]
async fn api_new_endpoints_refuse_bad_queries() {
    let base = serve().await;
    for (query, status, says) in [
        ("gpu?node=node-01", 400, "name the GPU"),
        ("gpu?node=node-01&id=GPU-x", 404, "no GPU"),
        (
            "gpu?node=node-01&id=GPU-node-01-0&since=soon",
            400,
            "since must be",
        ),
        ("nodes?points=0", 400, "points must be"),
        ("nodes?points=5000", 400, "points must be"),
    ] {
        let (got, body) = get(format!("{base}/api/v1/{query}")).await;
        assert_eq!(got, status, "{query}: {body}");
        assert!(body.contains(says), "{query}: {body}");
    }
}
