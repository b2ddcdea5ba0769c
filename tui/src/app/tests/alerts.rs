//! Tabs, the Alerts list, and state badges that follow the alerts.

use std::collections::BTreeMap;

use gpuwatch_model::{Alert, AlertKind, AlertState, Severity, Timestamp};

use super::*;

fn alert(kind: AlertKind, severity: Severity, labels: &[(&str, &str)], started: i64) -> Alert {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Alert {
        id: Alert::fingerprint(kind, &labels),
        kind,
        severity,
        state: AlertState::Firing,
        summary: format!("{kind} {labels:?}"),
        labels,
        value: 1.0,
        started_at: Timestamp::from_unix_millis(started),
        ended_at: None,
    }
}

fn resolved(mut a: Alert, ended: i64) -> Alert {
    a.state = AlertState::Resolved;
    a.ended_at = Some(Timestamp::from_unix_millis(ended));
    a
}

fn hang_on(node: &str, index: usize) -> Alert {
    let id = format!("GPU-{node}-{index}");
    alert(
        AlertKind::GpuHang,
        Severity::Critical,
        &[("host.name", node), ("hw.id", &id)],
        1_000,
    )
}

fn alerts(list: Vec<Alert>) -> Event {
    Event::Alerts {
        result: Ok(AlertsResponse { alerts: list }),
        at_unix_ms: 2_000,
    }
}

fn alerts_failed(why: &str) -> Event {
    Event::Alerts {
        result: Err(why.into()),
        at_unix_ms: 3_000,
    }
}

fn kinds(app: &App) -> Vec<String> {
    app.alerts
        .alerts
        .iter()
        .map(|a| format!("{:?} {}", a.state, a.kind))
        .collect()
}

#[test]
fn tab_and_number_keys_switch_views_and_esc_comes_back() {
    let mut app = three_nodes();
    assert_eq!(app.tab, Tab::Gpus);
    assert!(key(&mut app, Key::Tab));
    assert_eq!(app.tab, Tab::Alerts);
    assert!(key(&mut app, Key::BackTab));
    assert_eq!(app.tab, Tab::Gpus);
    assert!(key(&mut app, Key::Char('2')));
    assert_eq!(app.tab, Tab::Alerts);
    assert!(!key(&mut app, Key::Char('2')), "already there");
    // Table keys do nothing here; Esc goes back to the GPUs rather than quitting.
    assert!(!key(&mut app, Key::Char('s')));
    assert!(!key(&mut app, Key::Char('/')));
    assert_eq!(app.mode, Mode::Table);
    assert!(key(&mut app, Key::Esc));
    assert_eq!(app.tab, Tab::Gpus);
    assert!(!app.should_quit());
    keys(&mut app, &[Key::Char('2'), Key::Char('1')]);
    assert_eq!(app.tab, Tab::Gpus);
    // q, ? and p work on both tabs.
    keys(&mut app, &[Key::Tab, Key::Char('?')]);
    assert_eq!(app.mode, Mode::Help);
    keys(&mut app, &[Key::Esc, Key::Char('p')]);
    assert!(app.paused);
    assert_eq!(app.tab, Tab::Alerts, "help closes onto the same tab");
    key(&mut app, Key::Char('q'));
    assert!(app.should_quit());
    // In the filter prompt, Tab and digits are not switches.
    let mut app = three_nodes();
    keys(&mut app, &[Key::Char('/'), Key::Tab, Key::Char('2')]);
    assert_eq!(app.tab, Tab::Gpus);
    assert!(matches!(&app.mode, Mode::Filter { input, .. } if input == "2"));
}

#[test]
fn alerts_list_firing_then_pending_then_resolved_worst_and_newest_first() {
    let mut app = three_nodes();
    let mut pending = alert(
        AlertKind::GpuStalled,
        Severity::Warning,
        &[("host.name", "x")],
        900,
    );
    pending.state = AlertState::Pending;
    app.update(alerts(vec![
        resolved(hang_on("node-09", 0), 1_500),
        alert(
            AlertKind::GpuThrottle,
            Severity::Warning,
            &[("host.name", "a")],
            500,
        ),
        pending,
        alert(
            AlertKind::GpuXid,
            Severity::Critical,
            &[("host.name", "b")],
            100,
        ),
        alert(
            AlertKind::NodeAbsent,
            Severity::Critical,
            &[("host.name", "c")],
            700,
        ),
        resolved(hang_on("node-08", 0), 1_900),
        alert(
            AlertKind::ModelDrift,
            Severity::Info,
            &[("gpuwatch.model", "m")],
            800,
        ),
    ]));
    assert_eq!(
        kinds(&app),
        [
            "Firing node_absent",
            "Firing gpu_xid",
            "Firing gpu_throttle",
            "Firing model_drift",
            "Pending gpu_stalled",
            "Resolved gpu_hang",
            "Resolved gpu_hang",
        ]
    );
    assert_eq!(
        app.alerts.alerts[5]
            .labels
            .get("host.name")
            .map(String::as_str),
        Some("node-08"),
        "the most recently resolved first"
    );
    let counts = app.alerts.firing_counts();
    assert_eq!((counts.critical, counts.warning, counts.info), (2, 1, 1));
}

#[test]
fn the_alerts_list_scrolls_and_keeps_its_highlight_on_its_alert() {
    let mut app = three_nodes();
    app.visible_rows = 3;
    let many: Vec<Alert> = (0..10).map(|i| hang_on("node-01", i)).collect();
    app.update(alerts(many.clone()));
    key(&mut app, Key::Tab);
    key(&mut app, Key::End);
    assert_eq!((app.alerts.selected, app.alerts.offset), (9, 7));
    key(&mut app, Key::PageUp);
    assert_eq!((app.alerts.selected, app.alerts.offset), (6, 6));
    keys(&mut app, &[Key::Char('k'), Key::Up]);
    assert_eq!((app.alerts.selected, app.alerts.offset), (4, 4));
    let on = app.alerts.alerts[4].id.clone();
    // A new alert sorts first (newest): the highlight stays on its alert.
    let mut more = many;
    more.push(alert(
        AlertKind::GpuXid,
        Severity::Critical,
        &[("host.name", "z")],
        5_000,
    ));
    app.update(alerts(more));
    assert_eq!(app.alerts.alerts[app.alerts.selected].id, on);
    assert_eq!(app.alerts.selected, 5);
    // Gone: the same place, clamped.
    app.update(alerts(vec![hang_on("node-01", 0)]));
    assert_eq!((app.alerts.selected, app.alerts.offset), (0, 0));
    key(&mut app, Key::Char('g'));
    app.update(alerts(Vec::new()));
    assert_eq!((app.alerts.selected, app.alerts.offset), (0, 0));
    assert!(!key(&mut app, Key::Other));
}

#[test]
fn badges_follow_the_alerts_and_the_filter_and_sort_follow_the_badges() {
    let mut app = three_nodes();
    let state_of = |app: &App, node: &str, index: usize| {
        let id = format!("GPU-{node}-{index}");
        let i = app
            .gpus
            .iter()
            .position(|g| g.id == id)
            .unwrap_or(usize::MAX);
        app.states.get(i).copied()
    };
    // node-02 gpu1 is 2% busy: IDLE before any alert.
    assert_eq!(state_of(&app, "node-02", 1), Some(GpuState::Idle));
    assert_eq!(state_of(&app, "node-01", 0), Some(GpuState::Ok));
    key(&mut app, Key::Char('/'));
    type_text(&mut app, "state=hang");
    key(&mut app, Key::Enter);
    assert!(rows(&app).is_empty());

    app.update(alerts(vec![hang_on("node-03", 0)]));
    assert_eq!(rows(&app), ["node-03", "node-03/gpu0"]);
    assert_eq!(state_of(&app, "node-03", 0), Some(GpuState::Hang));
    assert_eq!(app.node_state(&app.groups[0]), GpuState::Hang);

    // A failed alerts fetch keeps the badges and the GPUs; the same failure again
    // shows nothing new.
    assert!(app.update(alerts_failed("collector answered HTTP 500")));
    assert!(!app.update(alerts_failed("collector answered HTTP 500")));
    assert_eq!(rows(&app), ["node-03", "node-03/gpu0"]);
    assert_eq!(app.gpus.len(), 5);
    assert_eq!(app.last_error, None, "the GPUs are fine");
    assert_eq!(
        app.alerts.error.as_deref(),
        Some("collector answered HTTP 500")
    );

    // New GPU data keeps the badges of the alerts in force.
    app.update(data(vec![gpu("node-03", 0), gpu("node-01", 0)]));
    assert_eq!(state_of(&app, "node-03", 0), Some(GpuState::Hang));
    assert_eq!(
        app.alerts.error.as_deref(),
        Some("collector answered HTTP 500")
    );

    // Sorting by state puts the worst first.
    let mut app = three_nodes();
    app.update(alerts(vec![hang_on("node-02", 0)]));
    while app.sort.column != crate::column::Column::State {
        key(&mut app, Key::Char('s'));
    }
    assert!(app.sort.descending, "worst first");
    assert_eq!(
        rows(&app)[..3],
        ["node-02", "node-02/gpu0", "node-02/gpu1"],
        "HANG, then IDLE"
    );
}

#[test]
fn pause_holds_back_alerts_too() {
    let mut app = three_nodes();
    key(&mut app, Key::Char('p'));
    assert!(!app.update(alerts(vec![hang_on("node-01", 0)])));
    assert!(!app.update(data(vec![gpu("node-01", 0), gpu("node-01", 1)])));
    assert!(app.alerts.alerts.is_empty());
    assert_eq!(app.gpus.len(), 5);
    key(&mut app, Key::Char('p'));
    assert_eq!(app.alerts.alerts.len(), 1);
    assert_eq!(app.gpus.len(), 2);
    assert_eq!(app.states, [GpuState::Hang, GpuState::Ok]);
}
