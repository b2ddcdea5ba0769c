//! `kill -9` of a real `gpuwatch collector` process mid-incident, and a restart on the
//! same config and `collector.data_dir`: every point answered 200 is back in the store,
//! the firing alerts are still firing (with the same start) without a second "firing"
//! notification, and once the node is healthy the webhook hears the resolution once.
//!
//! The node is the agent's simulated sampler, exported by the agent's real OTLP
//! exporter, stamped from a past instant so that minutes of event time take seconds;
//! the webhook receiver is a plain HTTP server on loopback.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gpuwatch_agent::{
    AgentConfig, Fault, FaultSchedule, OtlpExporter, Profile, Sampler, SimulatedSampler,
};
use serde_json::Value;

/// 2026-11-28T10:00:00Z.
const T0: u64 = 1_795_860_000;
const GPUS: usize = 4;
/// The node hangs from 30 s to 480 s of event time.
const HANG: (u64, u64) = (30, 480);

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gpuwatch-restart-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

struct Collector {
    child: Child,
    api: String,
}

impl Collector {
    fn start(config: &Path, api_port: u16) -> Collector {
        let child = Command::new(env!("CARGO_BIN_EXE_gpuwatch"))
            .args(["collector", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("gpuwatch collector runs");
        let collector = Collector {
            child,
            api: format!("http://127.0.0.1:{api_port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::blocking_get(&format!("{}/readyz", collector.api)).is_none() {
            assert!(Instant::now() < deadline, "the collector did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        collector
    }

    fn metric(&self, name: &str) -> f64 {
        let text = reqwest::blocking_get(&format!("{}/metrics", self.api)).expect("/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} not on /metrics"))
    }

    fn alerts(&self, state: &str) -> Vec<Value> {
        let text = reqwest::blocking_get(&format!("{}/api/v1/alerts?state={state}", self.api))
            .expect("/api/v1/alerts");
        let v: Value = serde_json::from_str(&text).expect("json");
        v["alerts"].as_array().cloned().unwrap_or_default()
    }

    fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking GET without a blocking client: a current-thread runtime per call.
mod reqwest {
    pub fn blocking_get(url: &str) -> Option<String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            let r = ::reqwest::get(url).await.ok()?;
            r.status().is_success().then_some(())?;
            r.text().await.ok()
        })
    }
}

struct Node {
    sampler: SimulatedSampler,
    exporter: OtlpExporter,
    rt: tokio::runtime::Runtime,
    /// Event seconds after T0 sent so far.
    next: u64,
}

impl Node {
    fn new(otlp_http_port: u16) -> Node {
        let settings = AgentConfig {
            collector: format!("http://127.0.0.1:{otlp_http_port}"),
            host_name: "node-01".into(),
            ..AgentConfig::default()
        }
        .validate()
        .expect("valid agent settings");
        let profiles = (0..GPUS)
            .map(|_| Profile::Training {
                job_id: "4411".into(),
                team: "research".into(),
            })
            .collect();
        let faults = FaultSchedule::new().with(
            gpuwatch_agent::Target::Node,
            Fault::Hang,
            Duration::from_secs(HANG.0),
            Some(Duration::from_secs(HANG.1)),
        );
        Node {
            sampler: SimulatedSampler::new(1, profiles, 7).with_faults(faults),
            exporter: OtlpExporter::new(settings.exporter_settings("test")).expect("exporter"),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            next: 0,
        }
    }

    /// The node's sample at `second` of event time.
    fn sample_at(&mut self, second: u64) -> gpuwatch_model::NodeSample {
        self.sampler
            .sample(gpuwatch_model::Timestamp::from_unix_nanos_u64(
                (T0 + second) * 1_000_000_000,
            ))
            .expect("simulated sample")
    }

    /// The sample of the next event second, counted as sent.
    fn next_sample(&mut self) -> gpuwatch_model::NodeSample {
        let sample = self.sample_at(self.next);
        self.next += 1;
        sample
    }

    /// Sends event seconds up to `until`, each answered 200 before the next.
    fn send_until(&mut self, until: u64) {
        while self.next <= until {
            let sample = self.sample_at(self.next);
            // The first send after a restart may find the old connection closed; the
            // agent's delivery queue retries it, as this does.
            let mut tries = 0;
            while let Err(e) = self.rt.block_on(self.exporter.export(&sample)) {
                tries += 1;
                assert!(tries < 3, "not answered 200: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            self.next += 1;
        }
    }
}

/// The points a collector holds after the node's first `requests` requests, stored by
/// an in-process collector from the same encoding.
fn points_of(requests: u64) -> u64 {
    let settings = gpuwatch_collector::CollectorConfig::default()
        .validate()
        .expect("default config");
    let state =
        gpuwatch_collector::CollectorState::new(settings.store, settings.alerts, settings.cost);
    let mut node = Node::new(common::free_port());
    for _ in 0..requests {
        let sample = node.next_sample();
        state
            .ingest_protobuf(&node.exporter.encode(&sample))
            .expect("parses");
    }
    let points = state.store().usage().points;
    points
}

/// `(status, fingerprints)` of each notification received within `wait`.
fn notifications(rx: &mpsc::Receiver<Vec<u8>>, wait: Duration) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let deadline = Instant::now() + wait;
    while let Ok(body) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
            continue;
        };
        let ids = msg["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                format!(
                    "{}:{}",
                    a["status"].as_str().unwrap_or(""),
                    a["fingerprint"].as_str().unwrap_or("")
                )
            })
            .collect();
        out.push((msg["status"].as_str().unwrap_or("").to_string(), ids));
    }
    out
}

/// A collector config on these ports, with its data in `dir`, telling gpu_hang to a
/// webhook on `hook_port` after `group_wait`.
fn write_config(
    dir: &Path,
    (grpc, http, api): (u16, u16, u16),
    hook_port: u16,
    group_wait: &str,
) -> PathBuf {
    let config = dir.join("gpuwatch.toml");
    std::fs::write(
        &config,
        format!(
            r#"[collector]
otlp_grpc_listen = "127.0.0.1:{grpc}"
otlp_http_listen = "127.0.0.1:{http}"
api_listen = "127.0.0.1:{api}"
data_dir = {data:?}
notify_spool_dir = {spool:?}
# A snapshot of the store every second: a restart reads the newest and replays only
# the log written since.
snapshot_interval = "1s"

[collector.history]
dir = {history:?}

[[collector.notifiers]]
name = "oncall"
kind = "webhook"
url = "http://127.0.0.1:{hook_port}/hook"
kinds = ["gpu_hang"]
send_resolved = true
group_wait = "{group_wait}"
group_interval = "1s"
"#,
            data = dir.join("data"),
            spool = dir.join("spool"),
            history = dir.join("history"),
        ),
    )
    .expect("config");

    config
}

#[test]
fn kill_9_mid_incident_keeps_every_point_and_the_incident_resolves_once() {
    let dir = temp_dir("kill9");
    let (hook_port, hooks) = common::http_sink::start();
    let (grpc, http, api) = (
        common::free_port(),
        common::free_port(),
        common::free_port(),
    );
    let config = write_config(&dir, (grpc, http, api), hook_port, "0s");
    let first = Collector::start(&config, api);
    let mut node = Node::new(http);
    // The hang's 1-minute window empties ~60 s in, then `for` is 5 minutes: firing by
    // ~400 s of event time. Send until the webhook has heard it.
    let mut heard = Vec::new();
    while heard.is_empty() {
        assert!(
            node.next < HANG.1,
            "gpu_hang never fired: {:?}",
            first.alerts("all")
        );
        node.send_until(node.next + 10);
        heard = notifications(&hooks, Duration::from_millis(300));
    }
    heard.extend(notifications(&hooks, Duration::from_secs(2)));
    let fired: Vec<&String> = heard.iter().flat_map(|(_, ids)| ids).collect();
    assert!(heard.iter().all(|(s, _)| s == "firing"), "{heard:?}");
    // Every GPU of job 4411 hangs: one alert names the job.
    assert_eq!(
        fired.len(),
        1,
        "one gpu_hang for the job, heard once: {heard:?}"
    );
    let firing_before = first.alerts("firing");
    let points_before = first.metric("gpuwatch_store_points");
    assert!(points_before > 0.0);

    first.kill_9();
    let second = Collector::start(&config, api);
    // Everything answered 200 is back, before the node sends anything new: from the
    // newest snapshot, and the log written after it.
    assert_eq!(second.metric("gpuwatch_store_points"), points_before);
    let loaded = second.metric("gpuwatch_store_snapshot_loaded_points");
    assert!(loaded > 0.0, "the run took snapshots");
    assert_eq!(
        loaded + second.metric("gpuwatch_wal_replayed_points"),
        points_before
    );
    let firing_after = second.alerts("firing");
    let started = |alerts: &[Value]| -> Vec<(String, String)> {
        let mut v: Vec<_> = alerts
            .iter()
            .map(|a| (a["id"].to_string(), a["started_at"].to_string()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        started(&firing_after),
        started(&firing_before),
        "still firing, since the same time"
    );

    // The node heals at 480 s; `clear_for` is a minute.
    node.send_until(HANG.1 + 150);
    let mut after = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while after
        .iter()
        .flat_map(|(_, ids): &(String, Vec<String>)| ids)
        .count()
        < fired.len()
    {
        assert!(Instant::now() < deadline, "no resolution heard: {after:?}");
        after.extend(notifications(&hooks, Duration::from_millis(500)));
    }
    after.extend(notifications(&hooks, Duration::from_secs(2)));
    let resolved: Vec<&String> = after.iter().flat_map(|(_, ids)| ids).collect();
    assert!(
        resolved.iter().all(|id| id.starts_with("resolved:")),
        "no second firing after the restart: {after:?}"
    );
    let mut want: Vec<String> = fired
        .iter()
        .map(|id| id.replacen("firing:", "resolved:", 1))
        .collect();
    let mut got: Vec<String> = resolved.iter().map(|s| s.to_string()).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "each alert resolves, once");
    assert!(second.alerts("firing").is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kill_9_while_a_sender_sends_loses_nothing_it_was_answered_200_for() {
    let dir = temp_dir("kill9-sending");
    let ports = (
        common::free_port(),
        common::free_port(),
        common::free_port(),
    );
    let config = write_config(&dir, ports, common::free_port(), "0s");
    let first = Collector::start(&config, ports.2);
    let (answered_tx, answered_rx) = mpsc::channel();
    let sender = std::thread::spawn(move || {
        let mut node = Node::new(ports.1);
        let mut answered = 0u64;
        loop {
            let sample = node.next_sample();
            match node.rt.block_on(node.exporter.export(&sample)) {
                Ok(()) => {
                    answered += 1;
                    let _ = answered_tx.send(answered);
                }
                Err(_) => return answered,
            }
        }
    });
    // Kill it mid-stream, once it has written a snapshot of the store (taken while
    // requests arrive), and a second or so after the sender has been answered.
    while answered_rx.recv().expect("answers") < 30 {}
    while first.metric("gpuwatch_store_snapshot_timestamp_seconds") == 0.0 {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    first.kill_9();
    let answered = sender.join().expect("sender");
    assert!(answered > 30);
    let second = Collector::start(&config, ports.2);
    assert!(second.metric("gpuwatch_store_snapshot_loaded_points") > 0.0);
    // Each request answered 200 was logged first; the one in flight may be logged too.
    // The store holds exactly what those requests hold, whether it came back from the
    // snapshot or from the log.
    let points = second.metric("gpuwatch_store_points") as u64;
    let want = [points_of(answered), points_of(answered + 1)];
    assert!(
        want.contains(&points),
        "{answered} answered 200: {points} points stored, want {want:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_saves_everything_and_exits_0() {
    let dir = temp_dir("sigterm");
    let ports = (
        common::free_port(),
        common::free_port(),
        common::free_port(),
    );
    let config = write_config(&dir, ports, common::free_port(), "0s");
    let mut first = Collector::start(&config, ports.2);
    let mut node = Node::new(ports.1);
    // Past a minute, so the cost ledger's windows hold more than the minute history
    // is writing.
    node.send_until(150);
    // The evaluator's first step waits 2 s of wall time after the first point; then
    // it catches up with what was sent.
    std::thread::sleep(Duration::from_secs(3));
    let cost = |c: &Collector| -> Value {
        let body = reqwest::blocking_get(&format!("{}/api/v1/cost?window=5m&by=node", c.api))
            .expect("/api/v1/cost");
        serde_json::from_str(&body).expect("json")
    };
    let mut spent = cost(&first);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let again = cost(&first);
        if again == spent {
            break;
        }
        spent = again;
    }
    assert!(
        spent["total"]["gpu_hours"].as_f64().unwrap_or(0.0) > 0.0,
        "{spent}"
    );
    let points = first.metric("gpuwatch_store_points");
    let pid = first.child.id().to_string();
    let term = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = first.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 30 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let state: Value = serde_json::from_slice(
        &std::fs::read(dir.join("data").join("state.json")).expect("state.json saved"),
    )
    .expect("json");
    assert!(state["done_to"].is_i64(), "{state}");
    let second = Collector::start(&config, ports.2);
    assert_eq!(second.metric("gpuwatch_store_points"), points);
    // The ledger's steps are accrued again from the replayed store: the same spend
    // over the window, not only the last minute's.
    assert_eq!(cost(&second), spent);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether `unshare --user --map-root-user --mount` works here (a tmpfs of our own
/// without privileges). Without it the test fails under CI and is skipped elsewhere.
fn user_namespaces(test: &str) -> bool {
    let ok = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let msg = "unshare --user --map-root-user --mount does not work here (util-linux, \
                   and unprivileged user namespaces)";
        assert!(std::env::var_os("CI").is_none(), "{test}: {msg}");
        eprintln!("SKIPPED {test}: {msg}");
    }
    ok
}

#[test]
fn a_full_disk_is_said_and_counted_and_the_collector_keeps_serving() {
    let test = "a_full_disk_is_said_and_counted_and_the_collector_keeps_serving";
    if !user_namespaces(test) {
        return;
    }
    let dir = temp_dir("full");
    let ports = (
        common::free_port(),
        common::free_port(),
        common::free_port(),
    );
    let config = write_config(&dir, ports, common::free_port(), "0s");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let log = dir.join("collector.log");
    let child = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs -o size=256k tmpfs {data:?} && exec {bin:?} collector --config {config:?}",
            bin = env!("CARGO_BIN_EXE_gpuwatch"),
        ))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("unshare runs");
    let collector = Collector {
        child,
        api: format!("http://127.0.0.1:{}", ports.2),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::blocking_get(&format!("{}/readyz", collector.api)).is_none() {
        assert!(
            Instant::now() < deadline,
            "the collector did not come up: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut node = Node::new(ports.1);
    // A request is ~1 KiB deflated: 256 KiB fills within a few hundred; each is still
    // answered 200 (`send_until` asserts it).
    while collector.metric("gpuwatch_wal_write_errors_total") == 0.0 {
        assert!(node.next < 3000, "the tmpfs never filled");
        node.send_until(node.next + 50);
    }
    node.send_until(node.next + 20);
    let stored = collector.metric("gpuwatch_store_points");
    let gpus = reqwest::blocking_get(&format!("{}/api/v1/gpus", collector.api)).expect("serves");
    let gpus: Value = serde_json::from_str(&gpus).expect("json");
    assert_eq!(gpus["gpus"].as_array().map(Vec::len), Some(GPUS));
    assert!(stored > 0.0);
    let said = std::fs::read_to_string(&log).expect("log");
    assert_eq!(
        said.matches("cannot write the write-ahead log").count(),
        1,
        "said once: {said}"
    );
    assert!(said.contains("is the disk full?"), "{said}");
    drop(collector);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_notification_still_waiting_in_its_group_is_sent_after_kill_9() {
    let dir = temp_dir("kill9-unsent");
    let (hook_port, hooks) = common::http_sink::start();
    let ports = (
        common::free_port(),
        common::free_port(),
        common::free_port(),
    );
    // Long enough that the kill comes first; the next run waits it out again.
    let config = write_config(&dir, ports, hook_port, "4s");
    let first = Collector::start(&config, ports.2);
    let mut node = Node::new(ports.1);
    while first.alerts("firing").is_empty() {
        assert!(node.next < HANG.1, "gpu_hang never fired");
        node.send_until(node.next + 10);
        // Paced, if far faster than 1 Hz: the collector evaluates only after its
        // warm-up of wall time, and a sender done within it would find nothing fired.
        std::thread::sleep(Duration::from_millis(100));
    }
    first.kill_9();
    assert!(
        notifications(&hooks, Duration::from_millis(100)).is_empty(),
        "nothing was sent before the kill"
    );
    let second = Collector::start(&config, ports.2);
    let heard = notifications(&hooks, Duration::from_secs(15));
    assert_eq!(heard.len(), 1, "the firing, once: {heard:?}");
    assert_eq!(heard[0].0, "firing");
    assert_eq!(second.alerts("firing").len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
