//! Notifiers against real HTTP receivers on loopback: Alertmanager's webhook payload,
//! Slack blocks, PagerDuty events, retries, refusals, grouping, and a receiver that is
//! down across a collector restart.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use gpuwatch_collector::alerts::Transition;
use gpuwatch_collector::config::CollectorSettings;
use gpuwatch_collector::notify::{Notifier, NotifierConfig, NotifierKind, NotifySettings};
use gpuwatch_collector::telemetry::{NotificationCounters, NotificationOutcome};
use gpuwatch_model::{Alert, AlertKind, AlertState, Severity, Timestamp};
use serde_json::Value;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(15);

/// One scripted answer: status and an optional Retry-After.
type Reply = (u16, Option<&'static str>);

#[derive(Clone)]
struct Script {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    got: mpsc::UnboundedSender<(u16, Value)>,
}

struct Receiver {
    addr: SocketAddr,
    got: mpsc::UnboundedReceiver<(u16, Value)>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The next request that reached the receiver, and the status it got.
    async fn next(&mut self) -> (u16, Value) {
        tokio::time::timeout(WAIT, self.got.recv())
            .await
            .expect("a request within the timeout")
            .expect("receiver alive")
    }

    /// The next request answered 2xx.
    async fn next_delivered(&mut self) -> Value {
        loop {
            let (status, body) = self.next().await;
            if status < 300 {
                return body;
            }
        }
    }
}

async fn hook(State(s): State<Script>, body: Bytes) -> impl IntoResponse {
    let (status, retry_after) = s
        .replies
        .lock()
        .expect("lock")
        .pop_front()
        .unwrap_or((200, None));
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = s.got.send((status, body));
    let mut headers = HeaderMap::new();
    if let Some(after) = retry_after {
        headers.insert("retry-after", after.parse().expect("header"));
    }
    let status = StatusCode::from_u16(status).expect("status");
    (status, headers, "{\"status\":\"scripted\"}")
}

async fn receiver_on(addr: SocketAddr, replies: Vec<Reply>) -> Receiver {
    let (tx, got) = mpsc::unbounded_channel();
    let script = Script {
        replies: Arc::new(Mutex::new(replies.into())),
        got: tx,
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(script);
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver { addr, got, server }
}

async fn receiver(replies: Vec<Reply>) -> Receiver {
    receiver_on(SocketAddr::from(([127, 0, 0, 1], 0)), replies).await
}

fn alert(kind: AlertKind, node: &str, state: AlertState) -> Alert {
    let labels = BTreeMap::from([
        ("host.name".to_string(), node.to_string()),
        ("hw.id".to_string(), format!("GPU-{node}")),
    ]);
    Alert {
        id: Alert::fingerprint(kind, &labels),
        kind,
        severity: Severity::Critical,
        state,
        summary: format!("{node}: 99% busy at 71 W"),
        labels,
        value: 0.99,
        started_at: Timestamp(1_795_860_000_000_000_000),
        ended_at: (state == AlertState::Resolved).then_some(Timestamp(1_795_860_300_000_000_000)),
    }
}

fn firing(node: &str) -> Transition {
    Transition::Firing(alert(AlertKind::GpuHang, node, AlertState::Firing))
}

fn resolved(node: &str) -> Transition {
    Transition::Resolved(alert(AlertKind::GpuHang, node, AlertState::Resolved))
}

fn config(kind: NotifierKind, url: &str) -> NotifierConfig {
    let mut c = NotifierConfig::new("ops", kind, Some(url));
    c.group_wait = "100ms".into();
    c.group_interval = "0s".into();
    c
}

fn settings(c: NotifierConfig, spool_dir: Option<PathBuf>) -> NotifySettings {
    NotifySettings {
        notifiers: vec![c.validate(0).expect("valid notifier")],
        spool_dir,
    }
}

fn start(c: NotifierConfig) -> (Notifier, Arc<NotificationCounters>) {
    let counters = Arc::new(NotificationCounters::default());
    let n = Notifier::start(
        &settings(c, None),
        counters.clone(),
        "http://127.0.0.1:9464",
        &[],
        &Default::default(),
    );
    (n, counters)
}

async fn until(what: &str, f: impl Fn() -> bool) {
    common::until(what, WAIT, f).await;
}

#[tokio::test]
async fn firing_then_resolved_reach_a_webhook_as_alertmanager_v4() {
    let mut rx = receiver(vec![]).await;
    let (n, counters) = start(config(NotifierKind::Webhook, &rx.url()));
    n.sender().submit(firing("node-07"));
    let msg = rx.next_delivered().await;
    assert_eq!(msg["version"], "4");
    assert_eq!(msg["status"], "firing");
    assert_eq!(msg["receiver"], "ops");
    assert_eq!(msg["groupLabels"], serde_json::json!({"kind": "gpu_hang"}));
    assert_eq!(msg["commonLabels"]["alertname"], "gpu_hang");
    assert_eq!(msg["commonLabels"]["host.name"], "node-07");
    assert_eq!(
        msg["commonAnnotations"]["summary"],
        "node-07: 99% busy at 71 W"
    );
    assert_eq!(msg["externalURL"], "http://127.0.0.1:9464");
    assert!(msg["groupKey"].as_str().is_some_and(|k| !k.is_empty()));
    let a = &msg["alerts"][0];
    assert_eq!(a["status"], "firing");
    assert_eq!(a["labels"]["severity"], "critical");
    assert_eq!(a["startsAt"], "2026-11-28T10:00:00Z");
    assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
    assert!(a["generatorURL"]
        .as_str()
        .is_some_and(|u| u.starts_with("http://127.0.0.1:9464/")));
    let fp = alert(AlertKind::GpuHang, "node-07", AlertState::Firing).id;
    assert_eq!(a["fingerprint"], fp.as_str());

    n.sender().submit(resolved("node-07"));
    let msg = rx.next_delivered().await;
    assert_eq!(msg["status"], "resolved");
    assert_eq!(msg["alerts"][0]["status"], "resolved");
    assert_eq!(msg["alerts"][0]["endsAt"], "2026-11-28T10:05:00Z");
    assert_eq!(msg["alerts"][0]["fingerprint"], fp.as_str());
    n.shutdown(WAIT).await;
    assert_eq!(counters.count("ops", NotificationOutcome::Sent), 2);
    rx.server.abort();
}

#[tokio::test]
async fn slack_gets_blocks_within_limits() {
    let mut rx = receiver(vec![]).await;
    let (n, _) = start(config(NotifierKind::Slack, &rx.url()));
    let mut long = alert(AlertKind::GpuHang, "node-1", AlertState::Firing);
    long.summary = "stalled ".repeat(1000);
    n.sender().submit(Transition::Firing(long));
    let msg = rx.next_delivered().await;
    let blocks = msg["blocks"].as_array().expect("blocks");
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[1]["type"], "section");
    let text = blocks[1]["text"]["text"].as_str().expect("section text");
    assert!(text.chars().count() <= 3000);
    assert!(text.ends_with('…'));
    assert!(msg["text"].as_str().is_some_and(|t| t.contains("FIRING")));
    n.shutdown(WAIT).await;
    rx.server.abort();
}

#[tokio::test]
async fn pagerduty_triggers_then_resolves_on_the_fingerprint() {
    let mut rx = receiver(vec![]).await;
    std::env::set_var("GPUWATCH_TEST_PD_ROUTING_KEY", "pd-routing-key-123");
    let mut c = config(NotifierKind::Pagerduty, &rx.url());
    c.routing_key_env = Some("GPUWATCH_TEST_PD_ROUTING_KEY".into());
    let (n, _) = start(c);
    let fp = alert(AlertKind::GpuHang, "node-07", AlertState::Firing).id;
    n.sender().submit(firing("node-07"));
    let ev = rx.next_delivered().await;
    assert_eq!(ev["routing_key"], "pd-routing-key-123");
    assert_eq!(ev["event_action"], "trigger");
    assert_eq!(ev["dedup_key"], fp.as_str());
    assert_eq!(ev["payload"]["severity"], "critical");
    assert_eq!(ev["payload"]["source"], "node-07");
    assert_eq!(ev["payload"]["class"], "gpu_hang");
    for key in ["summary", "component", "group", "custom_details"] {
        assert!(ev["payload"].get(key).is_some(), "payload.{key}: {ev}");
    }
    n.sender().submit(resolved("node-07"));
    let ev = rx.next_delivered().await;
    assert_eq!(ev["event_action"], "resolve");
    assert_eq!(ev["dedup_key"], fp.as_str());
    n.shutdown(WAIT).await;
    rx.server.abort();
}

#[tokio::test]
async fn a_503_is_retried_and_delivered_once() {
    let mut rx = receiver(vec![(503, None)]).await;
    let (n, counters) = start(config(NotifierKind::Webhook, &rx.url()));
    n.sender().submit(firing("node-1"));
    assert_eq!(rx.next().await.0, 503);
    let (status, body) = rx.next().await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "firing");
    n.shutdown(WAIT).await;
    assert!(rx.got.try_recv().is_err(), "delivered once");
    assert_eq!(counters.count("ops", NotificationOutcome::Sent), 1);
    assert_eq!(counters.count("ops", NotificationOutcome::Retried), 1);
    rx.server.abort();
}

#[tokio::test]
async fn a_429_waits_for_retry_after() {
    let mut rx = receiver(vec![(429, Some("1"))]).await;
    let (n, counters) = start(config(NotifierKind::Webhook, &rx.url()));
    n.sender().submit(firing("node-1"));
    assert_eq!(rx.next().await.0, 429);
    assert_eq!(rx.next().await.0, 200);
    n.shutdown(WAIT).await;
    assert_eq!(counters.count("ops", NotificationOutcome::Sent), 1);
    assert_eq!(counters.count("ops", NotificationOutcome::Retried), 1);
    rx.server.abort();
}

#[tokio::test]
async fn a_400_is_dropped_and_counted() {
    let mut rx = receiver(vec![(400, None)]).await;
    let (n, counters) = start(config(NotifierKind::Webhook, &rx.url()));
    n.sender().submit(firing("node-1"));
    assert_eq!(rx.next().await.0, 400);
    until("the refusal to be counted", || {
        counters.count("ops", NotificationOutcome::Rejected) == 1
    })
    .await;
    n.shutdown(WAIT).await;
    assert!(rx.got.try_recv().is_err(), "not tried again");
    assert_eq!(counters.count("ops", NotificationOutcome::Sent), 0);
    rx.server.abort();
}

#[tokio::test]
async fn alerts_of_one_kind_within_group_wait_share_a_message() {
    let mut rx = receiver(vec![]).await;
    let mut c = config(NotifierKind::Webhook, &rx.url());
    c.group_wait = "300ms".into();
    let (n, _) = start(c);
    n.sender().submit(firing("node-1"));
    n.sender().submit(firing("node-2"));
    let msg = rx.next_delivered().await;
    assert_eq!(msg["alerts"].as_array().map(Vec::len), Some(2), "{msg}");
    assert!(msg["commonLabels"].get("host.name").is_none());
    n.shutdown(WAIT).await;
    assert!(rx.got.try_recv().is_err(), "one message");
    rx.server.abort();
}

#[tokio::test]
async fn shutdown_flushes_groups_still_waiting() {
    let mut rx = receiver(vec![]).await;
    let mut c = config(NotifierKind::Webhook, &rx.url());
    c.group_wait = "1h".into();
    let (n, counters) = start(c);
    n.sender().submit(firing("node-1"));
    n.shutdown(WAIT).await;
    let msg = rx.next_delivered().await;
    assert_eq!(msg["status"], "firing");
    assert_eq!(counters.count("ops", NotificationOutcome::Sent), 1);
    rx.server.abort();
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gpuwatch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn spooled(dir: &PathBuf) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .count()
    })
}

#[tokio::test]
async fn a_receiver_down_across_a_collector_restart_gets_the_notification() {
    // A free port with nothing listening on it, yet.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let spool = temp_dir("notify-spool");
    let mut s = CollectorSettings::ephemeral();
    s.notify = settings(
        config(NotifierKind::Webhook, &format!("http://{addr}/hook")),
        Some(spool.clone()),
    );

    let first = gpuwatch_collector::start(&s).await.expect("start");
    let state = first.state();
    first.notifications().submit(firing("node-07"));
    until("a failed attempt", || {
        state
            .telemetry
            .notifications
            .count("ops", NotificationOutcome::Retried)
            >= 1
    })
    .await;
    first.shutdown(Duration::from_secs(5)).await;
    assert_eq!(spooled(&spool), 1, "kept on disk");

    let mut rx = receiver_on(addr, vec![]).await;
    let second = gpuwatch_collector::start(&s).await.expect("restart");
    let msg = rx.next_delivered().await;
    assert_eq!(msg["status"], "firing");
    assert_eq!(msg["alerts"][0]["labels"]["host.name"], "node-07");
    let state = second.state();
    until("the send to be counted", || {
        state
            .telemetry
            .notifications
            .count("ops", NotificationOutcome::Sent)
            == 1
    })
    .await;
    let metrics = state.render_metrics();
    assert!(
        metrics.contains("gpuwatch_notifications_total{notifier=\"ops\",outcome=\"sent\"} 1"),
        "{metrics}"
    );
    second.shutdown(Duration::from_secs(5)).await;
    assert_eq!(spooled(&spool), 0, "delivered and forgotten");
    let _ = std::fs::remove_dir_all(&spool);
    rx.server.abort();
}

#[test]
fn secrets_never_appear_in_debug_output() {
    std::env::set_var("GPUWATCH_TEST_DEBUG_KEY", "pd-secret-routing-key");
    std::env::set_var(
        "GPUWATCH_TEST_DEBUG_URL",
        "http://relay.example/services/T000/B000/secret-token",
    );
    let mut pd = NotifierConfig::new(
        "pd",
        NotifierKind::Pagerduty,
        Some("http://relay.example/v2/enqueue"),
    );
    pd.routing_key_env = Some("GPUWATCH_TEST_DEBUG_KEY".into());
    let mut slack = NotifierConfig::new("chat", NotifierKind::Slack, None);
    slack.url_env = Some("GPUWATCH_TEST_DEBUG_URL".into());
    let c = gpuwatch_collector::CollectorConfig {
        notifiers: vec![pd, slack],
        ..Default::default()
    };
    let s = c.validate().expect("valid");
    let debug = format!("{s:?}");
    assert!(!debug.contains("pd-secret-routing-key"), "{debug}");
    assert!(!debug.contains("secret-token"), "{debug}");
    assert!(debug.contains("[secret]"));
}
