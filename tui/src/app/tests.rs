//! Key handling and data arrival as a pure function: events in, state out. Folding,
//! sorting and filtering keys are in `tests/fold_sort_filter.rs`; tabs, alerts and
//! state badges in `tests/alerts.rs`; the other tabs, the detail view and the mouse
//! in `tests/views.rs`.

use super::*;

mod alerts;
mod fold_sort_filter;
mod views;

fn gpu(node: &str, index: usize) -> GpuView {
    GpuView {
        node: node.into(),
        id: format!("GPU-{node}-{index}"),
        name: format!("gpu{index}"),
        ..GpuView::default()
    }
}

fn with_util(mut g: GpuView, util: f64) -> GpuView {
    g.utilization = Some(util);
    g
}

fn data(gpus: Vec<GpuView>) -> Event {
    Event::Data {
        result: Ok(GpusResponse {
            gpus,
            newest_point_unix_ms: Some(1_000),
            points_received: 10,
            nodes: 1,
        }),
        at_unix_ms: 2_000,
    }
}

/// An app showing `n` GPUs on one node (so `n + 1` rows), `rows` of them at a time.
fn app_with(n: usize, rows: usize) -> App {
    let mut app = App::new("test");
    app.visible_rows = rows;
    app.update(data((0..n).map(|i| gpu("node-01", i)).collect()));
    app
}

/// Two nodes of two GPUs each, and node-03 with one.
fn three_nodes() -> App {
    let mut app = App::new("test");
    app.visible_rows = 20;
    app.update(data(vec![
        with_util(gpu("node-01", 0), 0.9),
        with_util(gpu("node-01", 1), 0.1),
        with_util(gpu("node-02", 0), 0.5),
        with_util(gpu("node-02", 1), 0.02),
        with_util(gpu("node-03", 0), 0.7),
    ]));
    app
}

fn key(app: &mut App, key: Key) -> bool {
    app.update(Event::Key(key))
}

fn keys(app: &mut App, keys: &[Key]) {
    for &k in keys {
        app.update(Event::Key(k));
    }
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, Key::Char(c));
    }
}

/// The rows as text: `node-01` for a node's row (`+node-01` folded), `node-01/gpu0`.
fn rows(app: &App) -> Vec<String> {
    app.rows
        .iter()
        .map(|r| match *r {
            RowRef::Node { group } => {
                let g = &app.groups[group];
                format!("{}{}", if g.folded { "+" } else { "" }, g.node)
            }
            RowRef::Gpu { gpu, .. } => format!("{}/{}", app.gpus[gpu].node, app.gpus[gpu].name),
        })
        .collect()
}

fn selected(app: &App) -> String {
    rows(app).get(app.selected).cloned().unwrap_or_default()
}

#[test]
fn quit_keys_quit_and_others_do_not() {
    for k in [Key::Char('q'), Key::Esc, Key::Ctrl('c')] {
        let mut app = app_with(3, 10);
        key(&mut app, k);
        assert!(app.should_quit(), "{k:?}");
    }
    for k in [Key::Char('c'), Key::Ctrl('q'), Key::Down, Key::Other] {
        let mut app = app_with(3, 10);
        key(&mut app, k);
        assert!(!app.should_quit(), "{k:?}");
    }
}

#[test]
fn crossterm_keys_map_to_keys() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let cases = [
        (KeyCode::Char('c'), KeyModifiers::CONTROL, Key::Ctrl('c')),
        (KeyCode::Char('q'), KeyModifiers::NONE, Key::Char('q')),
        (KeyCode::Char('S'), KeyModifiers::SHIFT, Key::Char('S')),
        (KeyCode::Enter, KeyModifiers::NONE, Key::Enter),
        (KeyCode::Backspace, KeyModifiers::NONE, Key::Backspace),
        (KeyCode::Left, KeyModifiers::NONE, Key::Left),
        (KeyCode::Tab, KeyModifiers::NONE, Key::Tab),
        (KeyCode::BackTab, KeyModifiers::SHIFT, Key::BackTab),
        (KeyCode::Right, KeyModifiers::NONE, Key::Right),
        (KeyCode::F(1), KeyModifiers::NONE, Key::Other),
    ];
    for (code, modifiers, want) in cases {
        assert_eq!(Key::from(KeyEvent::new(code, modifiers)), want, "{code:?}");
    }
}

#[test]
fn rows_are_grouped_by_node_then_sorted_by_index() {
    let mut app = App::new("test");
    app.update(data(vec![gpu("b", 0), gpu("a", 10), gpu("a", 2)]));
    assert_eq!(rows(&app), ["a", "a/gpu2", "a/gpu10", "b", "b/gpu0"]);
}

#[test]
fn movement_clamps_at_both_ends() {
    // Rows: the node, then gpu0..gpu4.
    let mut app = app_with(5, 10);
    key(&mut app, Key::Up);
    assert_eq!(app.selected, 0);
    for _ in 0..10 {
        key(&mut app, Key::Down);
    }
    assert_eq!(app.selected, 5);
    key(&mut app, Key::Home);
    assert_eq!(app.selected, 0);
    key(&mut app, Key::End);
    assert_eq!(app.selected, 5);
    key(&mut app, Key::PageUp);
    assert_eq!(app.selected, 0);
    key(&mut app, Key::PageDown);
    assert_eq!(app.selected, 5);
    key(&mut app, Key::Char('k'));
    assert_eq!(app.selected, 4);
    key(&mut app, Key::Char('g'));
    assert_eq!(app.selected, 0);
    key(&mut app, Key::Char('G'));
    assert_eq!(app.selected, 5);
    key(&mut app, Key::Char('j'));
    assert_eq!(app.selected, 5);
}

#[test]
fn movement_with_no_gpus_stays_at_zero() {
    let mut app = App::new("test");
    for k in [
        Key::Down,
        Key::End,
        Key::PageDown,
        Key::Up,
        Key::Enter,
        Key::Char(' '),
        Key::Left,
        Key::Char('c'),
        Key::Char('s'),
    ] {
        key(&mut app, k);
        assert_eq!((app.selected, app.offset), (0, 0), "{k:?}");
        assert!(app.selected_gpu().is_none());
    }
}

#[test]
fn scrolling_keeps_the_selection_in_view() {
    // 21 rows: the node and 20 GPUs.
    let mut app = app_with(20, 5);
    key(&mut app, Key::PageDown);
    assert_eq!((app.selected, app.offset), (5, 1));
    key(&mut app, Key::End);
    assert_eq!((app.selected, app.offset), (20, 16));
    key(&mut app, Key::Up);
    assert_eq!(
        (app.selected, app.offset),
        (19, 16),
        "no scroll while in view"
    );
    key(&mut app, Key::PageUp);
    assert_eq!((app.selected, app.offset), (14, 14));
    key(&mut app, Key::Home);
    assert_eq!((app.selected, app.offset), (0, 0));
}

#[test]
fn resize_scrolls_the_selection_back_into_view() {
    let mut app = app_with(20, 10);
    key(&mut app, Key::End);
    assert_eq!(app.offset, 11);
    // Four lines go to totals, tabs, table header and footer.
    app.update(Event::Resize {
        width: 100,
        height: 8,
    });
    assert_eq!(app.visible_rows, 4);
    assert_eq!((app.selected, app.offset), (20, 17));
    app.update(Event::Resize {
        width: 100,
        height: 40,
    });
    assert_eq!((app.selected, app.offset), (20, 0), "all rows fit");
}

#[test]
fn selection_clamps_when_data_shrinks() {
    let mut app = app_with(10, 4);
    key(&mut app, Key::End);
    assert_eq!((app.selected, app.offset), (10, 7));
    // gpu9 left: the highlight goes to its node's row.
    app.update(data((0..3).map(|i| gpu("node-01", i)).collect()));
    assert_eq!((app.selected, app.offset), (0, 0));
    key(&mut app, Key::End);
    assert_eq!((app.selected, app.offset), (3, 0));
    app.update(data(vec![gpu("node-02", 0)]));
    assert_eq!(
        (app.selected, app.offset),
        (1, 0),
        "node-01 gone: the same place"
    );
    app.update(data(Vec::new()));
    assert_eq!((app.selected, app.offset), (0, 0));
    assert!(app.selected_gpu().is_none());
}

#[test]
fn selection_follows_its_gpu_when_rows_move() {
    let mut app = App::new("test");
    app.visible_rows = 10;
    app.update(data(vec![gpu("node-02", 0), gpu("node-02", 1)]));
    keys(&mut app, &[Key::Down, Key::Down]);
    assert_eq!(app.selected_gpu().map(|g| g.name.as_str()), Some("gpu1"));
    // node-01 sorts first and pushes node-02's rows down.
    app.update(data(vec![
        gpu("node-02", 1),
        gpu("node-01", 0),
        gpu("node-02", 0),
    ]));
    assert_eq!(selected(&app), "node-02/gpu1");
    assert_eq!(app.selected, 4);
}

#[test]
fn a_failed_fetch_keeps_the_old_data_and_records_why() {
    let mut app = app_with(3, 10);
    app.update(Event::Data {
        result: Err("collector unreachable: Connection refused".into()),
        at_unix_ms: 9_000,
    });
    assert_eq!(app.gpus.len(), 3);
    assert_eq!(app.last_ok_fetch_unix_ms, Some(2_000));
    assert_eq!(
        app.last_error.as_deref(),
        Some("collector unreachable: Connection refused")
    );
    app.update(data(vec![gpu("node-01", 0)]));
    assert_eq!(app.last_error, None);
}

#[test]
fn pause_holds_data_back_until_resumed() {
    let mut app = app_with(3, 10);
    key(&mut app, Key::Char('p'));
    assert!(app.paused);
    assert!(
        !app.update(data(vec![gpu("node-01", 0)])),
        "nothing to draw"
    );
    assert_eq!(app.gpus.len(), 3, "frozen while paused");
    key(&mut app, Key::Char('p'));
    assert!(!app.paused);
    assert_eq!(app.gpus.len(), 1, "the held data lands on resume");
}

#[test]
fn question_mark_opens_help_and_it_closes_without_quitting() {
    for close in [Key::Char('?'), Key::Esc, Key::Char('q'), Key::Enter] {
        let mut app = three_nodes();
        key(&mut app, Key::Char('?'));
        assert_eq!(app.mode, Mode::Help);
        assert!(!key(&mut app, Key::Down), "other keys wait");
        assert_eq!(app.selected, 0);
        key(&mut app, close);
        assert_eq!(app.mode, Mode::Table, "{close:?}");
        assert!(!app.should_quit(), "{close:?}");
    }
    let mut app = three_nodes();
    keys(&mut app, &[Key::Char('?'), Key::Ctrl('c')]);
    assert!(app.should_quit(), "Ctrl-C quits from anywhere");
    let mut app = three_nodes();
    keys(&mut app, &[Key::Char('/'), Key::Ctrl('c')]);
    assert!(app.should_quit());
}

#[test]
fn update_asks_for_a_redraw_only_when_something_changed() {
    let mut app = three_nodes();
    assert!(key(&mut app, Key::Down));
    assert!(!key(&mut app, Key::Other));
    assert!(!key(&mut app, Key::Char('x')), "an unbound key");
    assert!(app.update(Event::Resize {
        width: 80,
        height: 24
    }));
    assert!(app.update(data(vec![gpu("node-01", 0)])));
    let down = |at_unix_ms| Event::Data {
        result: Err("down".into()),
        at_unix_ms,
    };
    assert!(app.update(down(3_000)));
    assert!(
        !app.update(down(4_000)),
        "the same failure again shows nothing new"
    );
    assert!(app.update(data(vec![gpu("node-01", 0)])));
}
