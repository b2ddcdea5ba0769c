use std::collections::BTreeMap;
use std::time::Duration;

use gpuwatch_model::{Alert, AlertKind, AlertState, Severity, Timestamp};
use tokio::time::Instant;

use super::config::{validate, NotifierConfig, NotifierKind, Secret};
use super::group::Groups;
use super::notification::Notification;
use super::{pagerduty, slack, webhook};
use crate::config::CollectorConfig;

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
        summary: format!("{node} is in trouble"),
        labels,
        value: 0.99,
        started_at: Timestamp(1_795_860_000_000_000_000),
        ended_at: (state == AlertState::Resolved).then_some(Timestamp(1_795_860_300_000_000_000)),
    }
}

fn notifier(kind: NotifierKind) -> NotifierConfig {
    NotifierConfig::new("ops", kind, Some("http://127.0.0.1:9/hook"))
}

#[test]
fn defaults_have_no_notifiers() {
    let s = CollectorConfig::default().validate().expect("valid");
    assert!(s.notify.notifiers.is_empty());
    assert!(s.notify.spool_dir.is_none());
}

#[test]
fn notifier_defaults_are_alertmanagers() {
    let toml_like = serde_json::json!({"name": "a", "kind": "webhook", "url": "http://x/"});
    let c: NotifierConfig = serde_json::from_value(toml_like).expect("parses");
    let s = c.validate(0).expect("valid");
    assert_eq!(s.group_by, vec!["kind".to_string()]);
    assert_eq!(s.group_wait, Duration::from_secs(30));
    assert_eq!(s.group_interval, Duration::from_secs(300));
    assert_eq!(s.repeat_interval, Duration::from_secs(4 * 3600));
    assert!(s.send_resolved);
    assert_eq!(s.min_severity, Severity::Info);
    let unknown =
        serde_json::json!({"name": "a", "kind": "webhook", "url": "http://x/", "color": 1});
    assert!(serde_json::from_value::<NotifierConfig>(unknown).is_err());
    let bad_kind = serde_json::json!({"name": "a", "kind": "email"});
    assert!(serde_json::from_value::<NotifierConfig>(bad_kind).is_err());
}

#[test]
fn errors_name_key_and_rule() {
    type Mutation = Box<dyn Fn(&mut NotifierConfig)>;
    let cases: Vec<(NotifierKind, Mutation, &str)> = vec![
        (
            NotifierKind::Webhook,
            Box::new(|c| c.name = " ".into()),
            "collector.notifiers[0].name must not be empty",
        ),
        (
            NotifierKind::Webhook,
            Box::new(|c| c.url = None),
            "collector.notifiers[0].url is required for a webhook notifier",
        ),
        (
            NotifierKind::Slack,
            Box::new(|c| c.url = Some("hooks.slack.com/x".into())),
            "collector.notifiers[0].url must be an http:// or https:// URL",
        ),
        (
            NotifierKind::Webhook,
            Box::new(|c| c.url_env = Some("PATH".into())),
            "collector.notifiers[0].url and url_env are both set",
        ),
        (
            NotifierKind::Slack,
            Box::new(|c| {
                c.url = None;
                c.url_env = Some("GPUWATCH_TEST_SURELY_UNSET".into());
            }),
            "collector.notifiers[0].url_env names the environment variable \
             GPUWATCH_TEST_SURELY_UNSET, which is not set or empty",
        ),
        (
            NotifierKind::Pagerduty,
            Box::new(|_| {}),
            "collector.notifiers[0].routing_key_env is required for a pagerduty notifier",
        ),
        (
            NotifierKind::Webhook,
            Box::new(|c| c.routing_key_env = Some("PATH".into())),
            "collector.notifiers[0].routing_key_env is only for pagerduty notifiers",
        ),
        (
            NotifierKind::Webhook,
            Box::new(|c| c.group_wait = "soon".into()),
            "collector.notifiers[0].group_wait `soon` is not a duration",
        ),
        (
            NotifierKind::Webhook,
            Box::new(|c| c.repeat_interval = "0s".into()),
            "collector.notifiers[0].repeat_interval must be at least 1s, got 0s",
        ),
    ];
    for (kind, mutate, want) in cases {
        let mut c = notifier(kind);
        mutate(&mut c);
        let err = validate(&[c], "").expect_err(want).to_string();
        assert!(err.starts_with(want), "{err:?} should start with {want:?}");
    }
    let dup = validate(
        &[
            notifier(NotifierKind::Webhook),
            notifier(NotifierKind::Slack),
        ],
        "",
    )
    .expect_err("duplicate")
    .to_string();
    assert!(
        dup.starts_with("collector.notifiers[1].name \"ops\" is used"),
        "{dup}"
    );
}

#[test]
fn a_url_from_the_environment_is_never_shown() {
    // PATH is set everywhere and is no URL: the error says so without printing it.
    let mut c = notifier(NotifierKind::Slack);
    c.url = None;
    c.url_env = Some("PATH".into());
    let err = validate(&[c], "").expect_err("not a url").to_string();
    let path = std::env::var("PATH").unwrap_or_default();
    assert!(!err.contains(&path), "{err}");
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let mut c = notifier(NotifierKind::Pagerduty);
    c.url = Some("http://events.example/v2/enqueue?token=hunter2-url".into());
    c.routing_key_env = Some("HOME".into());
    let home = std::env::var("HOME").unwrap_or_default();
    let s = validate(&[c], "/tmp/spool").expect("valid");
    let debug = format!("{s:?} {:?}", Secret::new("hunter2"));
    assert!(!debug.contains("hunter2"), "{debug}");
    if home.len() > 3 {
        assert!(!debug.contains(&home), "{debug}");
    }
    assert!(debug.contains("[secret]"));
    assert_eq!(format!("{:?}", Secret::new("x")), "[secret]");
}

fn notification(alerts: Vec<Alert>) -> Notification {
    Notification {
        notifier: "ops".into(),
        group_key: "ops:{kind=\"gpu_hang\"}".into(),
        group_labels: BTreeMap::from([("kind".into(), "gpu_hang".into())]),
        alerts,
    }
}

#[test]
fn webhook_payload_is_alertmanagers_version_4() {
    let n = notification(vec![
        alert(AlertKind::GpuHang, "node-1", AlertState::Firing),
        alert(AlertKind::GpuHang, "node-2", AlertState::Resolved),
    ]);
    let v = webhook::render(&n, "http://127.0.0.1:9464");
    assert_eq!(v["version"], "4");
    assert_eq!(v["status"], "firing");
    assert_eq!(v["receiver"], "ops");
    assert_eq!(v["groupKey"], "ops:{kind=\"gpu_hang\"}");
    assert_eq!(v["groupLabels"]["kind"], "gpu_hang");
    assert_eq!(v["commonLabels"]["alertname"], "gpu_hang");
    assert_eq!(v["commonLabels"]["severity"], "critical");
    assert!(v["commonLabels"].get("host.name").is_none());
    assert_eq!(v["externalURL"], "http://127.0.0.1:9464");
    assert_eq!(v["truncatedAlerts"], 0);
    let a = &v["alerts"][0];
    for key in [
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    ] {
        assert!(a.get(key).is_some(), "alerts[0].{key} missing: {a}");
    }
    assert_eq!(a["labels"]["host.name"], "node-1");
    assert_eq!(a["annotations"]["summary"], "node-1 is in trouble");
    assert_eq!(a["startsAt"], "2026-11-28T10:00:00Z");
    assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(a["fingerprint"], n.alerts[0].id.as_str());
    assert_eq!(v["alerts"][1]["status"], "resolved");
    assert_eq!(v["alerts"][1]["endsAt"], "2026-11-28T10:05:00Z");
}

#[test]
fn slack_sections_stay_within_limits() {
    let mut long = alert(AlertKind::GpuHang, "node-1", AlertState::Firing);
    long.summary = "x".repeat(10_000);
    let mut alerts = vec![long];
    for i in 0..60 {
        alerts.push(alert(
            AlertKind::GpuHang,
            &format!("n{i}"),
            AlertState::Firing,
        ));
    }
    let v = slack::render(&notification(alerts), "http://c");
    let blocks = v["blocks"].as_array().expect("blocks");
    assert!(blocks.len() <= 50, "{}", blocks.len());
    assert_eq!(blocks[0]["type"], "header");
    for b in &blocks[1..] {
        assert_eq!(b["type"], "section");
        let text = b["text"]["text"].as_str().expect("text");
        assert!(text.chars().count() <= slack::SECTION_MAX_CHARS);
    }
    let first = blocks[1]["text"]["text"].as_str().expect("text");
    assert_eq!(first.chars().count(), slack::SECTION_MAX_CHARS);
    assert!(first.ends_with('…'));
    assert!(blocks.last().expect("last")["text"]["text"]
        .as_str()
        .is_some_and(|t| t.contains("13 more")));
}

#[test]
fn slack_shows_what_senders_wrote_without_links_mentions_or_formatting() {
    let mut a = alert(AlertKind::GpuHang, "node-1", AlertState::Firing);
    a.summary = "<!channel> node-1` *urgent* <https://evil.example|click here> & \u{1b}[2J".into();
    a.labels
        .insert("host.name".into(), "node-1` <@U123>".into());
    let v = slack::render(&notification(vec![a]), "http://c");
    let text = v["blocks"][1]["text"]["text"].as_str().expect("text");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[1],
        "`&lt;!channel&gt; node-1\u{2cb} *urgent* &lt;https://evil.example|click here&gt; &amp; [2J`"
    );
    assert!(
        lines[2].contains("`host.name=node-1\u{2cb} &lt;@U123&gt;`"),
        "{}",
        lines[2]
    );
    for l in &lines[1..] {
        // Every backtick opens or closes one of our code spans.
        assert_eq!(l.matches('`').count() % 2, 0, "{l}");
        assert!(!l.contains('<') && !l.contains('\u{1b}'), "{l}");
    }
}

#[test]
fn pagerduty_events_key_on_the_fingerprint() {
    let key = Secret::new("R0UTING");
    let firing = alert(AlertKind::GpuXid, "node-1", AlertState::Firing);
    let v = pagerduty::render(&firing, &key);
    assert_eq!(v["routing_key"], "R0UTING");
    assert_eq!(v["event_action"], "trigger");
    assert_eq!(v["dedup_key"], firing.id.as_str());
    assert_eq!(v["payload"]["severity"], "critical");
    assert_eq!(v["payload"]["source"], "node-1");
    assert_eq!(v["payload"]["class"], "gpu_xid");
    let resolved = alert(AlertKind::GpuXid, "node-1", AlertState::Resolved);
    let v = pagerduty::render(&resolved, &key);
    assert_eq!(v["event_action"], "resolve");
    assert_eq!(v["dedup_key"], firing.id.as_str());
}

fn groups(wait: &str, interval: &str, repeat: &str) -> Groups {
    let mut c = notifier(NotifierKind::Webhook);
    c.group_wait = wait.into();
    c.group_interval = interval.into();
    c.repeat_interval = repeat.into();
    Groups::new(c.validate(0).expect("valid"))
}

#[test]
fn grouping_follows_group_wait_interval_and_repeat() {
    let mut g = groups("30s", "5m", "4h");
    let t0 = Instant::now();
    let s = Duration::from_secs;
    g.add(alert(AlertKind::GpuHang, "a", AlertState::Firing), t0);
    g.add(
        alert(AlertKind::GpuHang, "b", AlertState::Firing),
        t0 + s(10),
    );
    g.add(
        alert(AlertKind::GpuXid, "a", AlertState::Firing),
        t0 + s(10),
    );
    assert!(g.flush(t0 + s(29), false).is_empty(), "inside group_wait");
    let sent = g.flush(t0 + s(30), false);
    assert_eq!(sent.len(), 1, "gpu_hang's group only: {sent:?}");
    assert_eq!(sent[0].alerts.len(), 2);
    assert_eq!(g.flush(t0 + s(40), false).len(), 1, "gpu_xid's group");
    // A resolution waits for group_interval after the last notification.
    g.add(
        alert(AlertKind::GpuHang, "a", AlertState::Resolved),
        t0 + s(60),
    );
    assert_eq!(g.next_due(), Some(t0 + s(330)).min(g.next_due()));
    assert!(g.flush(t0 + s(100), false).is_empty());
    let sent = g.flush(t0 + s(330), false);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status(), "firing");
    assert_eq!(sent[0].alerts.len(), 2, "b firing, a resolved");
    // Nothing changes: sent again after repeat_interval, not before.
    assert!(g.flush(t0 + s(3600), false).is_empty());
    let again = g.flush(t0 + s(330 + 4 * 3600), false);
    assert_eq!(again.len(), 2, "both groups repeat: {again:?}");
}

/// After a restart, alerts still firing that the last run told about are back in
/// their group: nothing is sent again as new, the group repeats after
/// `repeat_interval`, and a resolution lists the group's other firing alerts.
#[test]
fn a_resumed_group_says_nothing_new_repeats_and_lists_its_alerts() {
    let mut g = groups("30s", "5m", "4h");
    let t0 = Instant::now();
    let s = Duration::from_secs;
    let unknown = BTreeMap::new();
    g.resume(
        alert(AlertKind::GpuHang, "a", AlertState::Firing),
        t0,
        &unknown,
    );
    g.resume(
        alert(AlertKind::GpuHang, "b", AlertState::Firing),
        t0,
        &unknown,
    );
    // Not wanted by a notifier, or already resolved: not taken up.
    g.resume(
        alert(AlertKind::GpuHang, "c", AlertState::Resolved),
        t0,
        &unknown,
    );
    assert!(g.flush(t0 + s(3600), false).is_empty(), "already told");
    let again = g.flush(t0 + s(4 * 3600), false);
    assert_eq!(again.len(), 1, "repeated after repeat_interval: {again:?}");
    assert_eq!(again[0].alerts.len(), 2);
    // One resolves: sent within group_interval, with the other still firing.
    g.add(
        alert(AlertKind::GpuHang, "a", AlertState::Resolved),
        t0 + s(4 * 3600 + 10),
    );
    let sent = g.flush(t0 + s(4 * 3600 + 300), false);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let states: Vec<AlertState> = sent[0].alerts.iter().map(|a| a.state).collect();
    assert_eq!(states, [AlertState::Firing, AlertState::Resolved]);
}

/// A group notified three hours before the restart (`repeat_interval` 4h) repeats an
/// hour after it, not four; what `told` says of it is what a restart reads back.
#[test]
fn a_resumed_group_repeats_on_from_its_last_notification() {
    let mut g = groups("30s", "5m", "4h");
    let firing = alert(AlertKind::GpuHang, "a", AlertState::Firing);
    let s = Duration::from_secs;
    let t0 = Instant::now() + s(4 * 3600);
    let mut probe = groups("30s", "5m", "4h");
    probe.resume(firing.clone(), t0, &BTreeMap::new());
    let (key, _) = probe.told(t0, 0).pop().expect("a group");
    g.resume(firing, t0, &BTreeMap::from([(key.clone(), s(3 * 3600))]));
    assert!(g.flush(t0 + s(3500), false).is_empty(), "not yet");
    assert_eq!(g.flush(t0 + s(3600), false).len(), 1, "4h after the last");
    // Told just now, wall time 1000 s: 10 s later it reads 1000 s.
    let told = g.told(t0 + s(3610), 1_010_000_000_000);
    assert_eq!(told, [(key, 1_000_000_000_000)]);
}

#[test]
fn filters_and_send_resolved() {
    let mut c = notifier(NotifierKind::Webhook);
    c.group_wait = "0s".into();
    c.kinds = vec![AlertKind::GpuHang];
    c.min_severity = Severity::Critical;
    c.send_resolved = false;
    let mut g = Groups::new(c.validate(0).expect("valid"));
    let t0 = Instant::now();
    g.add(alert(AlertKind::GpuXid, "a", AlertState::Firing), t0);
    let mut warning = alert(AlertKind::GpuHang, "w", AlertState::Firing);
    warning.severity = Severity::Warning;
    g.add(warning, t0);
    assert!(g.next_due().is_none(), "filtered out");
    g.add(alert(AlertKind::GpuHang, "a", AlertState::Firing), t0);
    assert_eq!(g.flush(t0, false).len(), 1);
    g.add(alert(AlertKind::GpuHang, "a", AlertState::Resolved), t0);
    assert!(g.flush(t0 + Duration::from_secs(600), false).is_empty());
    assert!(g.next_due().is_none(), "the group is gone");
}

#[test]
fn https_urls_are_accepted() {
    let c = NotifierConfig::new(
        "ops",
        NotifierKind::Webhook,
        Some("https://hooks.example.com/hook"),
    );
    assert!(c.validate(0).is_ok());
}

/// The client speaks TLS to an https URL: against a loopback server that answers in
/// plain HTTP the handshake fails, which is worth retrying (a receiver restarting
/// behind a proxy looks the same), rather than the URL being refused as unsupported.
#[tokio::test]
async fn https_goes_through_a_tls_handshake() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let url = Secret::new(format!("https://{addr}/hook"));
    let attempt =
        super::delivery::post(&reqwest::Client::new(), &url, &serde_json::json!({}), &[]).await;
    match attempt {
        super::delivery::Attempt::Retry { reason, .. } => {
            assert!(!reason.contains("scheme"), "{reason}");
        }
        other => panic!("expected a TLS failure to retry, got {other:?}"),
    }
}
