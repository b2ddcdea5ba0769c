//! The agent loop against a fake collector: samples flow, failures are counted, and
//! shutdown leaves the collector holding exactly the last sample.

mod common;

use std::time::Duration;

use common::{metric, number, point, FakeCollector, Running};
use gpuwatch_agent::{demo_profiles, AgentConfig, SimulatedSampler};
use gpuwatch_model::names::metric as name;

fn config(collector: String) -> AgentConfig {
    AgentConfig {
        collector,
        interval: "100ms".to_string(),
        timeout: "2s".to_string(),
        cluster: "test".to_string(),
        host_name: "node-02".to_string(),
        ..AgentConfig::default()
    }
}

/// How long an agent may take to stop.
const STOP: Duration = Duration::from_secs(10);

/// How long a test waits for what it expects.
const WAIT: Duration = Duration::from_secs(15);

async fn wait_until(what: &str, check: impl Fn() -> bool) {
    common::wait_until(what, WAIT, check).await;
}

#[tokio::test]
async fn shutdown_exports_the_last_sample_once_more() {
    let mut collector = FakeCollector::start(200).await;
    let agent = Running::start(
        config(collector.endpoint()),
        Box::new(SimulatedSampler::new(2, demo_profiles(2, 2), 5)),
    );

    wait_until("three exports", || agent.status.exports_ok() >= 3).await;
    let status = agent.stop(STOP).await;

    assert_eq!(status.exports_failed(), 0);
    // Every sample is exported, plus the final one; a shutdown that interrupts an
    // export in flight leaves that one to the final export.
    let (ok, samples) = (status.exports_ok(), status.samples());
    assert!(
        ok == samples + 1 || ok == samples,
        "{ok} exports for {samples} samples"
    );
    assert_eq!(status.last_error(), None);
    let last = status.last_sample().expect("a sample was taken");

    let mut requests = Vec::new();
    while let Ok(request) = collector.requests.try_recv() {
        requests.push(request);
    }
    let sent = requests.len() as u64;
    assert!(
        sent == ok || sent == ok + 1,
        "{sent} requests for {ok} exports"
    );
    let body = requests.last().expect("requests").decode();
    for gpu in &last.gpus {
        let utilization = point(
            metric(&body, name::GPU_UTILIZATION),
            &[("hw.id", &gpu.uuid), ("hw.gpu.task", "general")],
        );
        assert_eq!(number(utilization), gpu.utilization);
        let energy = point(metric(&body, name::ENERGY), &[("hw.id", &gpu.uuid)]);
        assert_eq!(Some(number(energy)), gpu.energy_joules);
        let pcie = point(
            metric(&body, name::GPU_IO),
            &[
                ("hw.id", &gpu.uuid),
                ("gpuwatch.link", "pcie"),
                ("network.io.direction", "receive"),
            ],
        );
        assert_eq!(Some(number(pcie) as u64), gpu.pcie_rx_bytes);
    }
}

#[tokio::test]
async fn export_failures_are_counted_and_the_loop_goes_on() {
    let collector = FakeCollector::start(400).await;
    let agent = Running::start(
        config(collector.endpoint()),
        Box::new(SimulatedSampler::new(0, demo_profiles(0, 1), 1)),
    );

    wait_until("three failed exports", || {
        agent.status.exports_failed() >= 3
    })
    .await;
    // A dropped sender stops the agent too.
    let status = agent.drop_stop(STOP).await;
    assert_eq!(status.exports_ok(), 0);
    assert!(status.samples() >= 3);
    let error = status.last_error().expect("the failure is kept");
    assert!(error.contains("400"), "{error}");
}
