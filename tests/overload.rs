//! A collector over its memory limit answers 429 with `Retry-After`; the real agent
//! holds its exports, in order, and once the collector takes requests again replays
//! them: every sample arrives, none is dropped.

use std::sync::Arc;
use std::time::Duration;

use gpuwatch_agent::{
    demo_profiles, Agent, AgentConfig, AgentStatus, OtlpExporter, SimulatedSampler,
};
use gpuwatch_collector::telemetry::RequestRejection;
use gpuwatch_collector::CollectorSettings;
use tokio::sync::watch;

async fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_collector_makes_the_agent_wait_and_it_loses_nothing() {
    let mut settings = CollectorSettings::ephemeral();
    // Over a limit any process is over from the first check on; the test lifts it by
    // hand (the next check is an hour away).
    settings.limits.soft_limit = Some(1);
    settings.limits.check_interval = Duration::from_secs(3600);
    let collector = gpuwatch_collector::start(&settings).await.expect("starts");
    let state = collector.state();
    until("the first memory check", || state.limiter().is_over()).await;

    let agent_settings = AgentConfig {
        collector: format!("http://{}", collector.otlp_http),
        interval: "100ms".into(),
        host_name: "node-03".into(),
        ..AgentConfig::default()
    }
    .validate()
    .expect("valid");
    let exporter = OtlpExporter::new(agent_settings.exporter_settings("test")).expect("exporter");
    let sampler = Box::new(SimulatedSampler::new(3, demo_profiles(3, 2), 7));
    let status = Arc::new(AgentStatus::new());
    let (stop, stop_rx) = watch::channel(false);
    let agent = tokio::spawn(Agent::run(
        agent_settings,
        sampler,
        exporter,
        stop_rx,
        status.clone(),
    ));

    until("refusals", || {
        state
            .telemetry
            .requests_rejected(RequestRejection::Overloaded)
            >= 1
            && status.queued() >= 5
    })
    .await;
    assert_eq!(status.exports_ok(), 0);
    assert!(
        status.last_error().unwrap_or_default().contains("429"),
        "{:?}",
        status.last_error()
    );

    state.limiter().observe(0);
    until("the backlog replayed", || {
        status.queued() == 0 && status.replayed() >= 5
    })
    .await;
    let _ = stop.send(true);
    agent.await.expect("agent task");

    assert_eq!(status.dropped(), 0, "nothing lost");
    assert_eq!(status.rejected(), 0);
    // Every sample, and at stop the last once more, delivered.
    assert_eq!(status.exports_ok(), status.samples() + 1);
    // The oldest sample, refused first, is in the store.
    let (oldest, newest) = {
        let store = state.store();
        (store.oldest_ts(), store.newest_ts())
    };
    let (Some(oldest), Some(newest)) = (oldest, newest) else {
        panic!("nothing stored");
    };
    let span = Duration::from_nanos((newest - oldest) as u64);
    let sampled = Duration::from_millis(100) * (status.samples() as u32 - 1);
    assert!(
        span + Duration::from_millis(150) >= sampled,
        "{span:?} stored of {sampled:?} sampled"
    );
    collector.shutdown(Duration::from_secs(5)).await;
}
