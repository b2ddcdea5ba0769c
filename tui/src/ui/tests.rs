//! Snapshots of whole screens drawn from fixed data at a fixed "now".

use std::collections::BTreeMap;

use gpuwatch_model::api::{AlertsResponse, GpuView, GpusResponse};
use gpuwatch_model::{Alert, AlertKind, AlertState, Severity, Timestamp};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::*;
use crate::app::{Event, Key};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn now() -> i64 {
    Timestamp::parse_rfc3339("2026-11-28T10:00:00Z")
        .expect("valid time")
        .unix_millis()
}

#[allow(clippy::too_many_arguments)]
fn h100(
    node: &str,
    index: u32,
    util: f64,
    mem_gib: f64,
    watts: f64,
    celsius: f64,
    nvlink: f64,
    job: Option<(&str, &str)>,
) -> GpuView {
    GpuView {
        node: node.into(),
        cluster: Some("train-a".into()),
        id: format!("GPU-{node}-{index}"),
        name: format!("gpu{index}"),
        model: Some("NVIDIA H100 80GB HBM3".into()),
        utilization: Some(util),
        memory_used_bytes: Some(mem_gib * GIB),
        memory_limit_bytes: Some(80.0 * GIB),
        power_watts: Some(watts),
        power_limit_watts: Some(700.0),
        temperature_celsius: Some(celsius),
        nvlink_tx_bytes_per_second: Some(nvlink),
        nvlink_rx_bytes_per_second: Some(nvlink * 0.98),
        pcie_tx_bytes_per_second: Some(1.2e9),
        pcie_rx_bytes_per_second: Some(3.4e9),
        job: job.map(|(job, _)| job.into()),
        team: job.map(|(_, team)| team.into()),
        last_seen_unix_ms: now() - 1_200,
        ..GpuView::default()
    }
}

/// Five nodes: a training job with NVLink traffic (one GPU straggling, one
/// throttling), a GPU that hangs next to an idle one and one idle under a notebook, an
/// A100 box serving a model (with an XID) beside a GPU that sent only its name, a node
/// that fell silent 40 s ago, and an ETL node starved by storage with a stalled GPU.
/// [`alerts`] puts every state on some GPU.
fn fleet() -> GpusResponse {
    let train = Some(("4411", "llm-pretrain"));
    let etl = Some(("etl-77", "data"));
    let mut gpus = vec![
        h100("node-01", 0, 0.97, 71.3, 612.0, 71.0, 182.3e9, train),
        h100("node-01", 1, 0.96, 71.1, 598.0, 69.0, 181.9e9, train),
        h100("node-01", 2, 0.52, 70.8, 455.0, 64.0, 95.0e9, train),
        h100("node-01", 3, 0.98, 71.4, 689.0, 86.0, 180.0e9, train),
        h100("node-02", 0, 0.99, 64.0, 71.0, 41.0, 0.0, train),
        h100("node-02", 1, 0.0, 0.5, 62.0, 33.0, 0.0, None),
        h100(
            "node-02",
            2,
            0.01,
            2.1,
            64.0,
            34.0,
            0.0,
            Some(("nb-sweep", "research")),
        ),
        h100("node-05", 0, 0.35, 22.0, 210.0, 48.0, 0.0, etl),
        h100("node-05", 1, 0.0, 61.0, 68.0, 36.0, 0.0, etl),
    ];
    gpus.push(GpuView {
        node: "node-03".into(),
        id: "GPU-node-03-0".into(),
        name: "gpu0".into(),
        model: Some("NVIDIA A100-SXM4-40GB".into()),
        utilization: Some(0.31),
        memory_used_bytes: Some(12.5 * GIB),
        memory_limit_bytes: Some(40.0 * GIB),
        power_watts: Some(180.0),
        power_limit_watts: None,
        temperature_celsius: Some(55.0),
        nvlink_tx_bytes_per_second: Some(1_500.0),
        nvlink_rx_bytes_per_second: Some(25.0e6),
        job: Some("infer-llama-3.1-8b".into()),
        team: Some("search".into()),
        last_seen_unix_ms: now() - 1_200,
        ..GpuView::default()
    });
    gpus.push(GpuView {
        node: "node-03".into(),
        id: "GPU-node-03-1".into(),
        name: "gpu1".into(),
        last_seen_unix_ms: now() - 1_200,
        ..GpuView::default()
    });
    let silent = Some(("ft-812", "ranking"));
    for index in 0..2 {
        let mut gpu = h100("node-04", index, 0.88, 40.0, 420.0, 77.0, 60.0e9, silent);
        gpu.last_seen_unix_ms = now() - 40_000;
        gpus.push(gpu);
    }
    // Shuffled on purpose: the app sorts.
    gpus.reverse();
    GpusResponse {
        gpus,
        newest_point_unix_ms: Some(now() - 1_200),
        points_received: 12_345,
        nodes: 5,
    }
}

/// An alert that started `minutes` before [`now`] (and, resolved, ended `ended`
/// minutes before it).
fn alert(
    kind: AlertKind,
    severity: Severity,
    labels: &[(&str, &str)],
    summary: &str,
    minutes: i64,
    ended: Option<i64>,
) -> Alert {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let ago = |m: i64| Timestamp::from_unix_millis(now() - m * 60_000);
    Alert {
        id: Alert::fingerprint(kind, &labels),
        kind,
        severity,
        state: if ended.is_some() {
            AlertState::Resolved
        } else {
            AlertState::Firing
        },
        summary: summary.into(),
        labels,
        value: 1.0,
        started_at: ago(minutes),
        ended_at: ended.map(ago),
    }
}

/// What the collector's detectors would say about [`fleet`]: a firing alert for each
/// state (ABSENT also from node-04's silence; IDLE from utilization alone), and two
/// resolved ones. Shuffled on purpose: the app orders them.
fn alerts() -> AlertsResponse {
    use AlertKind::*;
    use Severity::{Critical, Warning};
    let alerts = vec![
        alert(
            GpuThrottle,
            Warning,
            &[
                ("host.name", "node-01"),
                ("hw.id", "GPU-node-01-3"),
                ("gpuwatch.throttle.reason", "thermal"),
            ],
            "node-01 gpu3: thermal throttling at 86°C for 4m",
            6,
            None,
        ),
        alert(
            GpuHang,
            Critical,
            &[
                ("host.name", "node-02"),
                ("hw.id", "GPU-node-02-0"),
                ("gpuwatch.job.id", "4411"),
            ],
            "node-02 gpu0: 99% busy at 71 W with no NVLink traffic for 5m (job 4411)",
            12,
            None,
        ),
        alert(
            GpuStraggler,
            Warning,
            &[
                ("host.name", "node-01"),
                ("hw.id", "GPU-node-01-2"),
                ("gpuwatch.job.id", "4411"),
            ],
            "node-01 gpu2: 52% busy against the job's median 97%, NVLink 95 GB/s against 181 GB/s (score 0.52)",
            9,
            None,
        ),
        alert(
            NodeAbsent,
            Critical,
            &[("host.name", "node-04")],
            "node-04: no data for 40s",
            0,
            None,
        ),
        alert(
            GpuXid,
            Critical,
            &[
                ("host.name", "node-03"),
                ("hw.id", "GPU-node-03-0"),
                ("gpuwatch.xid.code", "31"),
            ],
            "node-03 gpu0: XID 31 (GPU memory page fault)",
            3,
            None,
        ),
        alert(
            DataBottleneck,
            Warning,
            &[("host.name", "node-05"), ("gpuwatch.bottleneck", "storage")],
            "node-05: 2 GPUs starved by storage: 18% busy on average, swinging 40 points; disk 98% busy",
            15,
            None,
        ),
        alert(
            GpuStalled,
            Warning,
            &[
                ("host.name", "node-05"),
                ("hw.id", "GPU-node-05-1"),
                ("gpuwatch.job.id", "etl-77"),
            ],
            "node-05 gpu1: 61 GiB held at 0% busy for 10m (job etl-77)",
            14,
            None,
        ),
        alert(
            GpuXid,
            Critical,
            &[
                ("host.name", "node-01"),
                ("hw.id", "GPU-node-01-1"),
                ("gpuwatch.xid.code", "79"),
            ],
            "node-01 gpu1: XID 79 (GPU has fallen off the bus)",
            95,
            Some(80),
        ),
        alert(
            GpuHang,
            Critical,
            &[("gpuwatch.job.id", "ft-812")],
            "job ft-812: every GPU hangs: node-04 gpu0, node-04 gpu1",
            40,
            Some(22),
        ),
    ];
    AlertsResponse { alerts }
}

fn app_with(response: GpusResponse, width: u16, height: u16) -> App {
    let mut app = App::new("collector http://127.0.0.1:9464");
    app.update(Event::Resize { width, height });
    app.update(Event::Data {
        result: Ok(response),
        at_unix_ms: now() - 800,
    });
    app.update(Event::Alerts {
        result: Ok(alerts()),
        at_unix_ms: now() - 800,
    });
    app
}

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal
        .draw(|frame| render(app, now(), frame.area(), frame.buffer_mut()))
        .expect("draw");
    terminal.backend().to_string()
}

/// Compares with `tui/src/snapshots/<name>.snap`.
fn assert_screen(name: &str, screen: String) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, screen));
}

/// The sizes every screen is checked at: the smallest the dashboard is made for, and
/// a large terminal.
const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn keys(app: &mut App, keys: &[Key]) {
    for &k in keys {
        app.update(Event::Key(k));
    }
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(Event::Key(Key::Char(c)));
    }
}

/// Draws the fleet at both sizes after `setup`, as `<name>_<w>x<h>`.
fn assert_at_both_sizes(name: &str, setup: impl Fn(&mut App)) {
    for (width, height) in SIZES {
        let mut app = app_with(fleet(), width, height);
        setup(&mut app);
        assert_screen(
            &format!("{name}_{width}x{height}"),
            screen(&app, width, height),
        );
    }
}

#[test]
fn fleet_grouped_by_node_with_a_gpu_selected() {
    assert_at_both_sizes("fleet", |app| keys(app, &[Key::Down, Key::Down]));
}

/// node-06: an H100 in MIG mode (NVML gives it no utilization) with two instances,
/// one serving a model, beside a whole H100.
fn mig_node() -> GpusResponse {
    let mut parent = h100("node-06", 0, 0.0, 25.0, 250.0, 45.0, 0.0, None);
    parent.utilization = None;
    let slice = |slot: u32, profile: &str, used: f64, limit: f64, job| GpuView {
        id: format!("MIG-node-06-0-{slot}"),
        name: format!("gpu0-mig{slot}"),
        parent: Some(parent.id.clone()),
        mig_profile: Some(profile.into()),
        utilization: None,
        memory_used_bytes: Some(used * GIB),
        memory_limit_bytes: Some(limit * GIB),
        power_watts: None,
        power_limit_watts: None,
        temperature_celsius: None,
        nvlink_tx_bytes_per_second: None,
        nvlink_rx_bytes_per_second: None,
        pcie_tx_bytes_per_second: None,
        pcie_rx_bytes_per_second: None,
        ..h100("node-06", 0, 0.0, 0.0, 0.0, 0.0, 0.0, job)
    };
    let gpus = vec![
        slice(1, "1g.10gb", 1.0, 10.0, None),
        slice(0, "3g.40gb", 24.0, 40.0, Some(("infer-qwen", "search"))),
        parent.clone(),
        h100("node-06", 1, 0.62, 30.0, 400.0, 60.0, 0.0, None),
    ];
    GpusResponse {
        gpus,
        newest_point_unix_ms: Some(now() - 1_200),
        points_received: 420,
        nodes: 1,
    }
}

#[test]
fn a_gpu_in_mig_mode_lists_its_instances_under_it() {
    for (width, height) in SIZES {
        let mut app = app_with(mig_node(), width, height);
        keys(&mut app, &[Key::Down, Key::Down]);
        assert_screen(
            &format!("mig_{width}x{height}"),
            screen(&app, width, height),
        );
    }
}

#[test]
fn a_folded_node_shows_only_its_totals() {
    // Down to node-02's row (node-01 and its four GPUs above), Enter folds it.
    assert_at_both_sizes("folded", |app| {
        keys(app, &[Key::Down; 5]);
        keys(app, &[Key::Enter]);
    });
}

#[test]
fn c_folds_every_node() {
    assert_at_both_sizes("all_folded", |app| keys(app, &[Key::Char('c'), Key::Down]));
}

#[test]
fn a_filter_keeps_matching_gpus_under_their_nodes() {
    assert_at_both_sizes("filtered", |app| {
        keys(app, &[Key::Char('/')]);
        type_text(app, "util>50 node=node-0*");
        keys(app, &[Key::Enter]);
    });
}

#[test]
fn sorted_by_power_lowest_first() {
    // Name → model → util → memory → power, then reversed.
    assert_at_both_sizes("sorted", |app| {
        keys(app, &[Key::Char('s'); 4]);
        keys(app, &[Key::Char('S')]);
    });
}

#[test]
fn a_bad_filter_says_why_in_the_footer() {
    assert_at_both_sizes("filter_error", |app| {
        keys(app, &[Key::Char('/')]);
        type_text(app, "job=4411 util<abc");
        keys(app, &[Key::Enter]);
    });
}

#[test]
fn help_lists_every_key() {
    assert_at_both_sizes("help", |app| keys(app, &[Key::Char('?')]));
}

#[test]
fn the_alerts_tab_lists_firing_then_resolved() {
    assert_at_both_sizes("alerts", |app| keys(app, &[Key::Tab, Key::Down]));
}

#[test]
fn a_state_filter_keeps_the_gpus_in_that_state() {
    assert_at_both_sizes("state_filtered", |app| {
        keys(app, &[Key::Char('/')]);
        type_text(app, "state!=ok");
        keys(app, &[Key::Enter]);
    });
}

#[test]
fn sorted_by_state_worst_first() {
    // Name → model → util → memory → power → temp → 4 rates → state.
    let mut app = app_with(fleet(), 160, 48);
    keys(&mut app, &[Key::Char('s'); 10]);
    assert_screen("sorted_by_state_160x48", screen(&app, 160, 48));
}

#[test]
fn a_failed_alerts_fetch_keeps_the_table_and_says_why() {
    let mut app = app_with(fleet(), 100, 12);
    app.update(Event::Alerts {
        result: Err("collector answered HTTP 404".into()),
        at_unix_ms: now(),
    });
    assert_screen("alerts_failed_100x12", screen(&app, 100, 12));
    // Never any alerts: the header does not claim there are none.
    let mut app = App::new("collector http://127.0.0.1:9464");
    app.update(Event::Resize {
        width: 100,
        height: 12,
    });
    app.update(Event::Data {
        result: Ok(fleet()),
        at_unix_ms: now(),
    });
    app.update(Event::Alerts {
        result: Err("collector answered HTTP 404".into()),
        at_unix_ms: now(),
    });
    let text = screen(&app, 100, 12);
    assert!(text.contains("alerts ?"), "{text}");
    assert!(
        text.contains("alerts: collector answered HTTP 404"),
        "{text}"
    );
    keys(&mut app, &[Key::Char('2')]);
    assert_screen("alerts_unavailable_100x12", screen(&app, 100, 12));
}

#[test]
fn a_filter_that_matches_nothing_says_so() {
    let mut app = app_with(fleet(), 80, 10);
    keys(&mut app, &[Key::Char('/')]);
    type_text(&mut app, "team=nobody");
    keys(&mut app, &[Key::Enter]);
    assert_screen("no_match_80x10", screen(&app, 80, 10));
}

#[test]
fn very_wide_terminal_caps_the_bars() {
    let app = app_with(fleet(), 200, 16);
    assert_screen("fleet_200x16", screen(&app, 200, 16));
}

#[test]
fn short_terminal_scrolls_to_the_selection() {
    let mut app = app_with(fleet(), 100, 10);
    app.update(Event::Key(Key::End));
    assert_screen("fleet_100x10_scrolled", screen(&app, 100, 10));
}

#[test]
fn failed_fetch_says_since_when_the_data_is_stale() {
    let mut app = app_with(fleet(), 120, 12);
    app.update(Event::Data {
        result: Err("collector unreachable: Connection refused".into()),
        at_unix_ms: now(),
    });
    assert_screen("fleet_120x12_error", screen(&app, 120, 12));
}

#[test]
fn error_footer_on_a_narrow_terminal_keeps_the_keys() {
    let mut app = app_with(fleet(), 60, 10);
    app.update(Event::Data {
        result: Err("collector unreachable: Connection refused".into()),
        at_unix_ms: now(),
    });
    assert_screen("fleet_60x10_error", screen(&app, 60, 10));
}

#[test]
fn paused_dashboard_says_so() {
    let mut app = app_with(fleet(), 100, 12);
    app.update(Event::Key(Key::Char('p')));
    assert_screen("fleet_100x12_paused", screen(&app, 100, 12));
}

#[test]
fn before_the_first_answer_the_dashboard_waits() {
    let mut app = App::new("collector http://127.0.0.1:9464");
    app.update(Event::Resize {
        width: 80,
        height: 10,
    });
    assert_screen("waiting_80x10", screen(&app, 80, 10));
    app.update(Event::Data {
        result: Err("collector unreachable: Connection refused".into()),
        at_unix_ms: now(),
    });
    assert_screen("unreachable_80x10", screen(&app, 80, 10));
}

#[test]
fn tiny_terminal_says_it_is_too_small() {
    let app = app_with(fleet(), 50, 8);
    assert_screen("too_small_50x8", screen(&app, 50, 8));
}

#[test]
fn rendering_does_not_change_the_app() {
    let mut app = app_with(fleet(), 100, 10);
    app.update(Event::Key(Key::End));
    let before = format!("{app:?}");
    let _ = screen(&app, 100, 10);
    let _ = screen(&app, 60, 40);
    assert_eq!(format!("{app:?}"), before);
}

#[test]
fn styles_mark_the_title_the_selection_nodes_and_silent_gpus() {
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    use ratatui::style::Modifier;

    let mut app = app_with(fleet(), 160, 48);
    app.update(Event::Key(Key::Down));
    let area = Rect::new(0, 0, 160, 48);
    let mut buf = Buffer::empty(area);
    render(&app, now(), area, &mut buf);
    let line = |y: u16| -> String { (0..160).map(|x| buf[(x, y)].symbol()).collect() };
    let modifiers = |y: u16| buf[(6, y)].modifier;
    let find = |text: &str| (0..48).find(|&y| line(y).contains(text)).unwrap_or(0);

    assert!(
        modifiers(2).contains(Modifier::BOLD | Modifier::UNDERLINED),
        "title row"
    );
    let node_01 = find("node-01 (4)");
    assert!(
        modifiers(node_01).contains(Modifier::BOLD),
        "node rows are bold"
    );
    assert!(!modifiers(node_01).contains(Modifier::REVERSED));
    let selected = node_01 + 1;
    assert!(line(selected).starts_with("▶   gpu0"), "{}", line(selected));
    assert!(modifiers(selected).contains(Modifier::REVERSED));
    assert!(!modifiers(selected).contains(Modifier::DIM));
    let silent = find("node-04 (2)");
    assert!(
        modifiers(silent).contains(Modifier::DIM),
        "node-04 fell silent"
    );
    assert!(modifiers(silent + 1).contains(Modifier::DIM));
}

#[test]
fn state_badges_are_coloured_and_keep_their_words() {
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    use ratatui::style::Color;

    let app = app_with(fleet(), 160, 48);
    let area = Rect::new(0, 0, 160, 48);
    let mut buf = Buffer::empty(area);
    render(&app, now(), area, &mut buf);
    let line = |y: u16| -> String { (0..160).map(|x| buf[(x, y)].symbol()).collect() };
    let title = line(2);
    let Some(column) = title.find("STATE") else {
        panic!("no STATE column: {title}");
    };
    // Bytes to cells: everything left of STATE on the title row is ASCII.
    let x = u16::try_from(column).unwrap_or(0);
    let badge = |y: u16| -> (String, Color, Color) {
        let word: String = (x..x + 9).map(|x| buf[(x, y)].symbol()).collect();
        (word.trim().to_string(), buf[(x, y)].fg, buf[(x, y)].bg)
    };
    let mut seen = Vec::new();
    // The footer is not the table.
    for y in 3..47 {
        let (word, fg, bg) = badge(y);
        if word.is_empty() {
            continue;
        }
        let want = match word.as_str() {
            "XID" | "HANG" => (Color::White, Color::Red),
            "ABSENT" | "STALL" => (Color::Red, Color::Reset),
            "STRAGGLER" | "STARVED" | "THROTTLE" => (Color::Yellow, Color::Reset),
            "IDLE" => (Color::Magenta, Color::Reset),
            "OK" => (Color::Green, Color::Reset),
            other => panic!("row {y}: unknown badge {other:?} in {}", line(y)),
        };
        assert_eq!((fg, bg), want, "{word} on row {y}");
        seen.push(word);
    }
    for state in crate::gpu_state::GpuState::ALL {
        assert!(
            seen.iter().any(|w| w == state.word()),
            "{state:?} in {seen:?}"
        );
    }
}

#[test]
fn the_header_shows_the_burn_when_the_source_prices_gpus() {
    let mut app = app_with(fleet(), 160, 48);
    let without = screen(&app, 160, 48);
    assert!(!without.contains("/h"), "no burn without a cost ledger");
    let burn = gpuwatch_model::api::CostRow {
        burn_usd_per_hour: 52.0,
        idle_burn_usd_per_hour: 16.0,
        ..Default::default()
    };
    assert!(app.update(Event::Burn(Some(burn.clone()))));
    assert!(
        !app.update(Event::Burn(Some(burn))),
        "the same burn needs no redraw"
    );
    let header = screen(&app, 160, 48);
    let first = header.lines().next().unwrap_or_default().to_string();
    assert!(first.contains("$52.00/h (idle $16.00/h)"), "{first}");
    // Paused, the header keeps what it showed.
    keys(&mut app, &[Key::Char('p')]);
    assert!(!app.update(Event::Burn(None)));
    assert!(screen(&app, 160, 48).contains("$52.00/h"));
}

mod views;
