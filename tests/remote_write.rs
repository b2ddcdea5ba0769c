//! Remote write into a real Prometheus (`--web.enable-remote-write-receiver`): the demo
//! runs with `collector.remote_write` pointed at it, and every GPU's utilization and the
//! served model's latency histogram come back out of Prometheus's query API with the
//! values the collector holds.

mod common;

use std::time::Duration;

use common::{prometheus_available, Prometheus};
use gpuwatch::demo::{Demo, DemoOptions};
use gpuwatch_agent::AgentConfig;
use gpuwatch_collector::remote_write::RemoteWriteSettings;
use gpuwatch_collector::CollectorSettings;
use gpuwatch_model::api::GpusResponse;

const NODES: usize = 3;
const GPUS: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_receives_every_series_by_remote_write() {
    if !prometheus_available("prometheus_receives_every_series_by_remote_write") {
        return;
    }
    let prometheus = Prometheus::receiver("remote-write");
    let mut collector = CollectorSettings::ephemeral();
    collector.remote_write = Some(RemoteWriteSettings {
        url: format!("{}/api/v1/write", prometheus.url),
        interval: Duration::from_millis(500),
        timeout: Duration::from_secs(5),
        batch_samples: 500,
        queue_samples: 1_000_000,
    });
    let agent = AgentConfig {
        interval: "250ms".into(),
        ..AgentConfig::default()
    }
    .validate()
    .expect("valid agent settings");
    // Node 2 serves a model: its latency histograms travel too.
    let mut demo = Demo::start(DemoOptions {
        nodes: NODES,
        gpus_per_node: GPUS,
        seed: 5,
        faults: false,
        collector,
        agent,
    })
    .await
    .expect("demo starts");

    // Prometheus may still be starting: samples sent before it listens are retried.
    prometheus
        .wait_for(
            r#"count(hw_gpu_utilization_ratio{hw_gpu_task="general"})"#,
            |n| n == (NODES * GPUS) as f64,
        )
        .await;
    prometheus
        .wait_for(
            "count(gen_ai_server_request_duration_seconds_bucket{le=\"+Inf\"})",
            |n| n >= 1.0,
        )
        .await;

    // Once the agents stop and the last points are written, every GPU's newest
    // utilization in Prometheus is the collector's.
    demo.stop_agents().await;
    let api = format!("http://{}/api/v1/gpus", demo.collector.api);
    let gpus: GpusResponse = reqwest::get(&api)
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    assert_eq!(gpus.gpus.len(), NODES * GPUS);
    for g in &gpus.gpus {
        let want = g.utilization.expect("utilization");
        let promql = format!(
            "hw_gpu_utilization_ratio{{host_name=\"{}\",hw_name=\"{}\",hw_gpu_task=\"general\"}}",
            g.node, g.name
        );
        prometheus
            .wait_for(&promql, |v| (v - want).abs() < 1e-12)
            .await;
    }
    let stats = demo
        .collector
        .remote_write_stats()
        .expect("remote write is on");
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert!(load(&stats.samples_sent) > 0);
    assert_eq!(
        (load(&stats.samples_dropped), load(&stats.samples_refused)),
        (0, 0),
        "{}",
        prometheus.log_tail()
    );
    demo.shutdown().await;
}
