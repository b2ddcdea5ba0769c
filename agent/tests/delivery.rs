//! Delivery against a fake collector that refuses, goes away and comes back: every
//! sample within the bound arrives, in order; what had to go is counted.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{metric, points, FakeCollector, Request, Running};
use gpuwatch_agent::{demo_profiles, AgentConfig, SimulatedSampler};
use gpuwatch_model::names::metric as name;

fn config(collector: String) -> AgentConfig {
    AgentConfig {
        collector,
        interval: "100ms".to_string(),
        timeout: "2s".to_string(),
        cluster: "test".to_string(),
        host_name: "node-03".to_string(),
        ..AgentConfig::default()
    }
}

fn start(config: AgentConfig) -> Running {
    Running::start(
        config,
        Box::new(SimulatedSampler::new(3, demo_profiles(3, 1), 7)),
    )
}

/// How long an agent may take to stop.
const STOP: Duration = Duration::from_secs(15);

/// How long a test waits for what it expects.
const WAIT: Duration = Duration::from_secs(30);

async fn wait_until(what: &str, check: impl Fn() -> bool) {
    common::wait_until(what, WAIT, check).await;
}

/// When each accepted request was collected (its points' time), in arrival order; a
/// request resent because its answer was cut off counts once.
fn accepted_times(requests: &[Request]) -> Vec<u64> {
    let mut times: Vec<u64> = requests
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| points(metric(&r.decode(), name::GPU_UTILIZATION))[0].time_unix_nano)
        .collect();
    times.dedup();
    times
}

fn assert_in_order(times: &[u64]) {
    for pair in times.windows(2) {
        assert!(pair[0] < pair[1], "out of order: {pair:?} in {times:?}");
    }
}

#[tokio::test]
async fn exports_refused_with_503_are_replayed_in_order() {
    let mut collector = FakeCollector::start(503).await;
    let agent = start(config(collector.endpoint()));
    let status = agent.status.clone();
    wait_until("exports held", || {
        status.queued() >= 5 && status.exports_failed() >= 2
    })
    .await;
    assert_eq!(status.exports_ok(), 0);
    assert!(
        status.samples() >= 5,
        "sampling goes on while the collector refuses"
    );

    collector.set_status(200);
    wait_until("the backlog replayed", || {
        status.queued() == 0 && status.replayed() >= 5
    })
    .await;
    wait_until("two more exports", || {
        status.exports_ok() >= status.replayed() + 2
    })
    .await;
    let status = agent.stop(STOP).await;

    let times = accepted_times(&collector.received());
    assert_in_order(&times);
    assert_eq!(
        times.len() as u64,
        status.samples() + 1,
        "every sample, and the last once more, arrived"
    );
    assert_eq!(status.exports_ok(), times.len() as u64);
    assert_eq!(
        (status.dropped(), status.rejected(), status.queued()),
        (0, 0, 0)
    );
    let error = status.last_error().expect("the refusals are reported");
    assert!(error.contains("503"), "{error}");
}

#[tokio::test]
async fn a_collector_that_goes_away_gets_everything_when_back() {
    let mut collector = FakeCollector::start(200).await;
    let agent = start(config(collector.endpoint()));
    let status = agent.status.clone();
    wait_until("three exports", || status.exports_ok() >= 3).await;

    collector.stop().await;
    let delivered_before = status.exports_ok();
    wait_until("exports held while the port is closed", || {
        status.queued() >= 5 && status.exports_failed() >= 2
    })
    .await;

    collector.restart().await;
    wait_until("the backlog replayed", || {
        status.queued() == 0 && status.exports_ok() >= delivered_before + 5
    })
    .await;
    let status = agent.stop(STOP).await;

    let times = accepted_times(&collector.received());
    assert_in_order(&times);
    assert_eq!(times.len() as u64, status.samples() + 1, "nothing lost");
    assert!(status.replayed() >= 5, "{}", status.replayed());
    assert_eq!((status.dropped(), status.queued()), (0, 0));
}

#[tokio::test]
async fn a_refused_export_is_dropped_and_counted() {
    let mut collector = FakeCollector::start(400).await;
    let agent = start(config(collector.endpoint()));
    let status = agent.status.clone();
    wait_until("three refusals", || status.rejected() >= 3).await;
    assert!(status.queued() <= 1, "refused exports are not held");
    collector.set_status(200);
    wait_until("exports delivered again", || status.exports_ok() >= 3).await;
    let status = agent.stop(STOP).await;

    let error = status.last_error().expect("the refusal is kept");
    assert!(error.contains("400"), "{error}");
    assert_eq!(status.dropped(), status.rejected());
    assert_eq!(status.replayed(), 0, "nothing was held");
    // Each sample (and the last once more) was either refused or delivered, once.
    assert_eq!(
        status.rejected() + status.exports_ok(),
        status.samples() + 1
    );
    let requests = collector.received();
    assert_eq!(requests.len() as u64, status.samples() + 1, "no retries");
    assert_in_order(&accepted_times(&requests));
}

#[tokio::test]
async fn the_bound_drops_the_oldest_and_counts_them() {
    let mut collector = FakeCollector::start(503).await;
    let agent = start(AgentConfig {
        queue_for: "500ms".to_string(), // 5 exports at 100ms
        ..config(collector.endpoint())
    });
    let status = agent.status.clone();
    wait_until("drops past the bound", || status.dropped() >= 3).await;
    assert!(status.queued() <= 5, "{} queued", status.queued());

    collector.set_status(200);
    wait_until("the backlog replayed", || {
        status.queued() == 0 && status.replayed() >= 5
    })
    .await;
    let status = agent.stop(STOP).await;

    let times = accepted_times(&collector.received());
    assert_in_order(&times);
    assert_eq!(status.rejected(), 0);
    assert_eq!(
        status.dropped() + times.len() as u64,
        status.samples() + 1,
        "each sample was either delivered or counted as dropped"
    );
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gpuwatch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn spooled_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".otlp.gz"))
            .count()
    })
}

#[tokio::test]
async fn the_spool_survives_an_agent_restart() {
    let dir = temp_dir("spool-restart");
    let mut collector = FakeCollector::start(503).await;
    let with_spool = || AgentConfig {
        spool_dir: dir.display().to_string(),
        ..config(collector.endpoint())
    };

    let first = start(with_spool());
    let status = first.status.clone();
    wait_until("exports held", || status.queued() >= 5).await;
    let first = first.stop(STOP).await;
    let spooled = spooled_files(&dir) as u64;
    assert_eq!(spooled, first.samples() + 1, "everything held is on disk");
    assert_eq!((first.exports_ok(), first.dropped()), (0, 0));
    assert_eq!(first.queued(), spooled);

    collector.set_status(200);
    let second = start(with_spool());
    let status = second.status.clone();
    wait_until("the spool replayed", || status.replayed() >= spooled).await;
    wait_until("new exports after it", || {
        status.exports_ok() >= spooled + 2
    })
    .await;
    let second = second.stop(STOP).await;

    assert_eq!(spooled_files(&dir), 0, "delivered files are removed");
    let times = accepted_times(&collector.received());
    assert_in_order(&times);
    assert_eq!(
        times.len() as u64,
        first.samples() + 1 + second.samples() + 1,
        "both runs' samples arrived, the first run's first"
    );
    assert_eq!(second.replayed(), spooled);
    assert_eq!(second.dropped(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
