//! A real Prometheus scrapes the collector's `/metrics` while the demo runs, and the
//! contract's names come back through Prometheus's own query API.
//!
//! Needs the `prometheus` binary (Debian's `prometheus` package; `.ci/run` installs
//! it). Without it the test fails under CI (`CI` set) and is skipped, loudly, elsewhere.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gpuwatch::demo::{Demo, DemoOptions};
use gpuwatch_agent::AgentConfig;
use gpuwatch_collector::CollectorSettings;

/// Stops Prometheus however the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The value of a PromQL query that returns one sample, once it does.
async fn query(prom: &str, promql: &str) -> Option<f64> {
    let url = format!("{prom}/api/v1/query");
    let resp = reqwest::Client::new()
        .get(&url)
        .query(&[("query", promql)])
        .send()
        .await
        .ok()?;
    let body: serde_json::Value = resp.json().await.ok()?;
    let result = body["data"]["result"].as_array()?;
    let [one] = result.as_slice() else {
        return None;
    };
    one["value"][1].as_str()?.parse().ok()
}

async fn wait_for(prom: &str, promql: &str, want: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = query(prom, promql).await.filter(|v| want(*v)) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never answered {promql:?} as expected (last: {:?})",
            query(prom, promql).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_contract_names() {
    if let Err(e) = Command::new("prometheus").arg("--version").output() {
        let msg = format!("prometheus is not installed ({e}); apt-get install prometheus");
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("SKIPPED prometheus_scrapes_the_contract_names: {msg}");
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

    let dir = std::env::temp_dir().join(format!("gpuwatch-prometheus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: gpuwatch\n    static_configs:\n      - targets: ['{}']\n",
            demo.collector.api
        ),
    )
    .expect("config written");
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus starts");
    let _prometheus = Running(child);
    let prom = format!("http://127.0.0.1:{port}");

    assert_eq!(
        wait_for(&prom, r#"up{job="gpuwatch"}"#, |v| v == 1.0).await,
        1.0
    );
    let general = r#"count(hw_gpu_utilization_ratio{hw_gpu_task="general"})"#;
    assert_eq!(wait_for(&prom, general, |v| v == 8.0).await, 8.0);
    let nvlink = r#"sum(rate(hw_gpu_io_bytes_total{gpuwatch_link="nvlink",network_io_direction="transmit",host_name="node-00"}[5s]))"#;
    // Node 00 trains: four GPUs at over a hundred GB/s each.
    wait_for(&prom, nvlink, |v| v > 100e9).await;
    wait_for(&prom, "gpuwatch_ingest_points_total", |v| v > 0.0).await;
    // The names dashboards/alerts.rules.yml reads are there.
    for name in [
        "gpuwatch_gpu_power_limit_watts",
        "gpuwatch_gpu_throttle_ratio",
        "hw_power_watts",
        "gpuwatch_gpu_cost_usd_per_hour",
    ] {
        wait_for(&prom, &format!("count({name})"), |v| v > 0.0).await;
    }
    assert_eq!(
        wait_for(&prom, "count(gpuwatch_alerts_firing)", |v| v > 0.0).await,
        30.0,
        "every kind at every severity"
    );
    assert_eq!(
        wait_for(&prom, "count(count by (host_name) (hw_power_watts))", |v| v
            == 2.0)
        .await,
        2.0
    );
    demo.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
