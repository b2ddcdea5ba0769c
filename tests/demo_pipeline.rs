//! The whole pipeline, end to end: simulated agents export OTLP over loopback to a
//! real collector, and the collector's API holds every simulated GPU with exactly the
//! values the simulator produced.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use gpuwatch::demo::{node_name, Demo, DemoOptions};
use gpuwatch_agent::AgentConfig;
use gpuwatch_collector::CollectorSettings;
use gpuwatch_model::api::{GpusResponse, SeriesResponse};

const NODES: usize = 4;
const GPUS: usize = 8;

async fn get<T: serde::de::DeserializeOwned>(url: &str) -> T {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

async fn start(protocol: &str) -> Demo {
    let agent = AgentConfig {
        interval: "200ms".into(),
        protocol: protocol.into(),
        ..AgentConfig::default()
    }
    .validate()
    .expect("valid agent settings");
    Demo::start(DemoOptions {
        nodes: NODES,
        gpus_per_node: GPUS,
        seed: 11,
        faults: true,
        collector: CollectorSettings::ephemeral(),
        agent,
    })
    .await
    .expect("demo starts")
}

/// Polls the API until every GPU has sent at least two points of its counters.
async fn wait_for_all_gpus(api: &str) -> GpusResponse {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let gpus: GpusResponse = get(&format!("{api}/api/v1/gpus")).await;
        let complete = gpus.gpus.len() == NODES * GPUS
            && gpus
                .gpus
                .iter()
                .all(|g| g.nvlink_tx_bytes_per_second.is_some());
        if complete {
            return gpus;
        }
        assert!(
            Instant::now() < deadline,
            "not every GPU arrived within 30s: {} of {}",
            gpus.gpus.len(),
            NODES * GPUS
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn check_pipeline(protocol: &str) {
    let mut demo = start(protocol).await;
    let api = format!("http://{}", demo.collector.api);

    let live = wait_for_all_gpus(&api).await;
    assert_eq!(live.nodes, NODES);
    // While it runs, training GPUs move data over NVLink and free ones do not.
    for g in &live.gpus {
        let rate = g.nvlink_tx_bytes_per_second.unwrap_or(-1.0);
        match g.job.as_deref() {
            Some("4411") => assert!(rate > 1e9, "{} {}: NVLink {rate} B/s", g.node, g.name),
            None => assert_eq!(rate, 0.0, "{} {} is free", g.node, g.name),
            Some(_) => {}
        }
    }

    demo.stop_agents().await;
    let gpus: GpusResponse = get(&format!("{api}/api/v1/gpus")).await;
    let by_id: HashMap<(&str, &str), _> = gpus
        .gpus
        .iter()
        .map(|g| ((g.node.as_str(), g.id.as_str()), g))
        .collect();
    let nvlink: SeriesResponse = get(&format!("{api}/api/v1/series?metric=hw.gpu.io")).await;

    let mut checked = 0;
    for (i, node) in demo.nodes.iter().enumerate() {
        assert_eq!(node.host_name, node_name(i));
        let sample = node.status.last_sample().expect("the agent sampled");
        assert_eq!(sample.gpus.len(), GPUS);
        for s in &sample.gpus {
            let v = by_id
                .get(&(node.host_name.as_str(), s.uuid.as_str()))
                .unwrap_or_else(|| panic!("{} {} is missing", node.host_name, s.uuid));
            let at = format!("{} {}", node.host_name, s.hw_name());
            assert_eq!(v.name, s.hw_name(), "{at}");
            assert_eq!(v.model.as_deref(), Some(s.model.as_str()), "{at}");
            assert_eq!(v.utilization, Some(s.utilization), "{at}");
            assert_eq!(
                v.memory_used_bytes,
                Some(s.memory_used_bytes as f64),
                "{at}"
            );
            assert_eq!(
                v.memory_limit_bytes,
                Some(s.memory_total_bytes as f64),
                "{at}"
            );
            assert_eq!(v.power_watts, Some(s.power_watts), "{at}");
            assert_eq!(v.power_limit_watts, s.power_limit_watts, "{at}");
            assert_eq!(v.temperature_celsius, Some(s.temperature_celsius), "{at}");
            let job = s.job.as_ref();
            assert_eq!(
                v.job.as_deref(),
                job.and_then(|j| j.job_id.as_deref()),
                "{at}"
            );
            assert_eq!(
                v.team.as_deref(),
                job.and_then(|j| j.team.as_deref()),
                "{at}"
            );
            assert_eq!(v.cluster.as_deref(), Some("default"), "{at}");
            // Cumulative NVLink bytes arrive exactly.
            let tx = nvlink
                .series
                .iter()
                .filter(|x| {
                    x.attributes.get("hw.id") == Some(&s.uuid)
                        && x.attributes.get("gpuwatch.link").map(String::as_str) == Some("nvlink")
                        && x.attributes.get("network.io.direction").map(String::as_str)
                            == Some("transmit")
                })
                .filter_map(|x| x.last.as_ref()?.value)
                .collect::<Vec<_>>();
            assert_eq!(
                tx,
                vec![s.nvlink_tx_bytes.unwrap_or_default() as f64],
                "{at}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, NODES * GPUS);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_pipeline_over_otlp_http() {
    check_pipeline("http").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_pipeline_over_otlp_grpc() {
    check_pipeline("grpc").await;
}
