//! Snapshots of whole screens drawn from fixed data at a fixed "now".

use gpuwatch_model::api::{GpuView, GpusResponse};
use gpuwatch_model::Timestamp;
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
    }
}

/// Four nodes: a training job with NVLink traffic, a GPU that looks hung next to an
/// idle one, an A100 box serving a model beside a GPU that sent only its name, and a
/// node that fell silent 40 s ago.
fn fleet() -> GpusResponse {
    let train = Some(("4411", "llm-pretrain"));
    let mut gpus = vec![
        h100("node-01", 0, 0.97, 71.3, 612.0, 71.0, 182.3e9, train),
        h100("node-01", 1, 0.96, 71.1, 598.0, 69.0, 181.9e9, train),
        h100("node-01", 2, 0.52, 70.8, 455.0, 64.0, 95.0e9, train),
        h100("node-01", 3, 0.98, 71.4, 689.0, 86.0, 180.0e9, train),
        h100("node-02", 0, 0.99, 64.0, 71.0, 41.0, 0.0, train),
        h100("node-02", 1, 0.0, 0.5, 62.0, 33.0, 0.0, None),
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
        nodes: 4,
    }
}

fn app_with(response: GpusResponse, width: u16, height: u16) -> App {
    let mut app = App::new("collector http://127.0.0.1:9464");
    app.update(Event::Resize { width, height });
    app.update(Event::Data {
        result: Ok(response),
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
        modifiers(1).contains(Modifier::BOLD | Modifier::UNDERLINED),
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
