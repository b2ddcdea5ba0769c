//! A real Prometheus scrapes the collector's `/metrics` while the demo runs, and the
//! contract's names come back through Prometheus's own query API.
//!
//! Needs the `prometheus` binary (Debian's `prometheus` package; `.ci/run` installs
//! it). Without it the test fails under CI (`CI` set) and is skipped, loudly, elsewhere.

mod common;

use common::{prometheus_available, Prometheus};
use gpuwatch::demo::{Demo, DemoOptions};
use gpuwatch_agent::AgentConfig;
use gpuwatch_collector::CollectorSettings;
use gpuwatch_model::AlertKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_contract_names() {
    if !prometheus_available("prometheus_scrapes_the_contract_names") {
        return;
    }
    let agent = AgentConfig {
        interval: "250ms".into(),
        ..AgentConfig::default()
    }
    .validate()
    .expect("agent settings");
    let demo = Demo::start(DemoOptions {
        nodes: 2,
        gpus_per_node: 4,
        seed: 3,
        faults: true,
        collector: CollectorSettings::ephemeral(),
        agent,
    })
    .await
    .expect("demo starts");

    let prom = Prometheus::start("prometheus-scrape", demo.collector.api, "1s");

    assert_eq!(
        prom.wait_for(r#"up{job="gpuwatch"}"#, |v| v == 1.0).await,
        1.0
    );
    let general = r#"count(hw_gpu_utilization_ratio{hw_gpu_task="general"})"#;
    assert_eq!(prom.wait_for(general, |v| v == 8.0).await, 8.0);
    let nvlink = r#"sum(rate(hw_gpu_io_bytes_total{gpuwatch_link="nvlink",network_io_direction="transmit",host_name="node-00"}[5s]))"#;
    // Node 00 trains: four GPUs at over a hundred GB/s each.
    prom.wait_for(nvlink, |v| v > 100e9).await;
    prom.wait_for("gpuwatch_ingest_points_total", |v| v > 0.0)
        .await;
    // The names dashboards/alerts.rules.yml reads are there.
    for name in [
        "gpuwatch_gpu_power_limit_watts",
        "gpuwatch_gpu_throttle_ratio",
        "hw_power_watts",
        "gpuwatch_gpu_cost_usd_per_hour",
    ] {
        prom.wait_for(&format!("count({name})"), |v| v > 0.0).await;
    }
    // Every kind at every severity (info, warning, critical), zero when quiet.
    let kinds_and_severities = (AlertKind::ALL.len() * 3) as f64;
    assert_eq!(
        prom.wait_for("count(gpuwatch_alerts_firing)", |v| v > 0.0)
            .await,
        kinds_and_severities,
        "every kind at every severity"
    );
    assert_eq!(
        prom.wait_for("count(count by (host_name) (hw_power_watts))", |v| v == 2.0)
            .await,
        2.0
    );
    drop(prom);
    demo.shutdown().await;
}
