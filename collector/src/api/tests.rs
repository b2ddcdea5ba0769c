//! The endpoints over a real socket, with a store built point by point.

use std::sync::Arc;

use gpuwatch_model::api::{GpuDetailResponse, InferenceResponse, NodesResponse};
use gpuwatch_model::names::{attr, metric};

use super::router;
use crate::state::CollectorState;
use crate::store::builder::{every, Builder};

/// A collector's state with the default config holding `store`.
fn state_holding(store: crate::store::Store) -> Arc<CollectorState> {
    let settings = crate::CollectorConfig::default()
        .validate()
        .expect("default config");
    let state = Arc::new(CollectorState::new(
        settings.store,
        settings.alerts,
        settings.cost,
    ));
    *state.store() = store;
    state
}

/// Serves the API of a collector with the default config holding `store`; returns the
/// base URL.
async fn serve_store(store: crate::store::Store) -> String {
    serve_state(state_holding(store)).await
}

/// Serves the API of `state`; returns the base URL.
async fn serve_state(state: Arc<CollectorState>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(state)).await;
    });
    format!("http://{addr}")
}

/// Serves the API of a collector holding one GPU and its node's CPU; returns the base
/// URL.
async fn serve() -> String {
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
    serve_store(b.build()).await
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

/// A busy GPU that reports no power cannot be judged hung or not, nor one without
/// throttle reasons throttled: its detail says so, and names nothing it could judge.
#[tokio::test]
async fn api_gpu_detail_names_what_the_detectors_could_not_judge() {
    let mut b = Builder::new();
    b.gpu(
        "node-01",
        0,
        None,
        metric::GPU_UTILIZATION,
        &[],
        every(5, 0, 120, |_| 0.99),
    )
    .gpu(
        "node-01",
        1,
        None,
        metric::GPU_UTILIZATION,
        &[],
        every(5, 0, 120, |_| 0.1),
    );
    let state = state_holding(b.build());
    let (_, caught_up) = state.evaluate();
    assert!(caught_up);
    let base = serve_state(state).await;
    let detail = |gpu: u32| {
        let url = format!("{base}/api/v1/gpu?node=node-01&id=GPU-node-01-{gpu}");
        async move {
            let (status, body) = get(url).await;
            assert_eq!(status, 200, "{body}");
            serde_json::from_str::<GpuDetailResponse>(&body).expect("json")
        }
    };
    let not_judged = |kind, missing: &str| gpuwatch_model::api::NotJudged {
        kind,
        what: String::new(),
        missing: missing.into(),
    };
    use gpuwatch_model::AlertKind::{GpuHang, GpuThrottle};
    // Neither reports throttle reasons; the busy one no power either.
    assert_eq!(
        detail(0).await.not_judged,
        [
            not_judged(GpuHang, "no power"),
            not_judged(GpuThrottle, "no throttle reasons")
        ]
    );
    // Idle: not hung whatever its power, so judged for that.
    assert_eq!(
        detail(1).await.not_judged,
        [not_judged(GpuThrottle, "no throttle reasons")]
    );
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

/// Serves a fleet of three nodes of four GPUs: node-a runs job j1, node-b sits idle
/// with job j2, node-c stopped sending 100 s before the others.
async fn serve_fleet() -> String {
    let mut b = Builder::new();
    for (node, job, util, until) in [
        ("node-a", Some("j1"), 0.9, 300),
        ("node-b", Some("j2"), 0.0, 300),
        ("node-c", None, 0.8, 200),
    ] {
        for i in 0..4 {
            b.gpu(
                node,
                i,
                job,
                metric::GPU_UTILIZATION,
                &[],
                every(10, 0, until, move |_| util),
            );
        }
    }
    serve_store(b.build()).await
}

/// `(node, name)` of each GPU listed, and `X-Total-Count`.
async fn listed(url: String) -> (Vec<(String, String)>, usize) {
    let response = reqwest::get(&url).await.expect("request");
    assert_eq!(response.status().as_u16(), 200, "{url}");
    let total = response
        .headers()
        .get("x-total-count")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("X-Total-Count");
    let body: gpuwatch_model::api::GpusResponse = response.json().await.expect("json");
    assert_eq!(body.nodes, 3, "the fleet's nodes, whatever the filter");
    let gpus = body.gpus.into_iter().map(|g| (g.node, g.name)).collect();
    (gpus, total)
}

#[tokio::test]
async fn api_gpus_filters_pages_and_counts() {
    let base = serve_fleet().await;
    let nodes_of = |gpus: &[(String, String)]| {
        let mut n: Vec<String> = gpus.iter().map(|(n, _)| n.clone()).collect();
        n.dedup();
        n
    };
    let cases: [(&str, &[&str], usize); 9] = [
        ("", &["node-a", "node-b", "node-c"], 12),
        ("node=node-b", &["node-b"], 4),
        ("node=node-c,node-a", &["node-a", "node-c"], 8),
        ("node=node-z", &[], 0),
        ("job=j1", &["node-a"], 4),
        ("state=idle", &["node-b"], 4),
        ("state=absent", &["node-c"], 4),
        ("state=ok,idle&job=j2", &["node-b"], 4),
        ("state=hang", &[], 0),
    ];
    for (query, nodes, total) in cases {
        let (gpus, got) = listed(format!("{base}/api/v1/gpus?{query}")).await;
        assert_eq!(nodes_of(&gpus), nodes, "{query}");
        assert_eq!((gpus.len(), got), (total, total), "{query}");
    }
    let (all, _) = listed(format!("{base}/api/v1/gpus")).await;
    let (page, total) = listed(format!("{base}/api/v1/gpus?offset=10&limit=5")).await;
    assert_eq!((page.as_slice(), total), (&all[10..], 12));
    let (page, _) = listed(format!("{base}/api/v1/gpus?node=node-a&offset=1&limit=2")).await;
    assert_eq!(page, all[1..3]);
    let (page, total) = listed(format!("{base}/api/v1/gpus?offset=99")).await;
    assert_eq!((page.len(), total), (0, 12));

    let (status, body) = get(format!("{base}/api/v1/gpus?state=sleepy")).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("state must be one or more of absent, xid, hang"),
        "{body}"
    );
    let (status, _) = get(format!("{base}/api/v1/gpus?limit=many")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn api_answers_gzip_to_clients_that_accept_it() {
    use std::io::Read;

    let base = serve_fleet().await;
    let client = reqwest::Client::new();
    for path in ["api/v1/gpus", "metrics"] {
        let plain = client
            .get(format!("{base}/{path}"))
            .send()
            .await
            .expect("request");
        assert!(plain.headers().get("content-encoding").is_none());
        let plain = plain.bytes().await.expect("body");
        for (accept, gzipped) in [
            ("gzip", true),
            ("br;q=1.0, gzip;q=0.5", true),
            ("*", true),
            ("gzip;q=0", false),
            ("identity", false),
        ] {
            let r = client
                .get(format!("{base}/{path}"))
                .header("accept-encoding", accept)
                .send()
                .await
                .expect("request");
            let encoding = r.headers().get("content-encoding").cloned();
            assert_eq!(
                r.headers().get("vary").and_then(|v| v.to_str().ok()),
                Some("accept-encoding")
            );
            let body = r.bytes().await.expect("body");
            if gzipped {
                assert_eq!(
                    encoding.as_ref().and_then(|v| v.to_str().ok()),
                    Some("gzip")
                );
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut out)
                    .expect("gzip");
                assert_eq!(out, plain, "{path} with {accept}");
                assert!(body.len() < plain.len() / 2, "{path}: gzip saves little");
            } else {
                assert_eq!(encoding, None, "{path} with {accept}");
                assert_eq!(body, plain);
            }
        }
    }
}
