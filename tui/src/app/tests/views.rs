//! The Nodes, Inference and Cost tabs, a GPU's detail view, what the loop is asked to
//! fetch for each, and the mouse.

use gpuwatch_model::api::{ModelSummary, NodeView};

use super::*;

fn nodes(names: &[&str]) -> Event {
    Event::Nodes {
        result: Ok(NodesResponse {
            nodes: names
                .iter()
                .map(|n| NodeView {
                    node: (*n).into(),
                    ..NodeView::default()
                })
                .collect(),
            newest_point_unix_ms: Some(1_000),
        }),
        at_unix_ms: 2_000,
    }
}

fn click(column: u16, row: u16) -> Event {
    Event::Mouse(Mouse {
        kind: MouseKind::Click,
        column,
        row,
    })
}

#[test]
fn digits_and_tab_walk_every_view_and_say_what_to_fetch() {
    let mut app = three_nodes();
    assert_eq!(app.wants(), Wants::default(), "the GPUs come every time");
    assert!(key(&mut app, Key::Char('3')));
    assert_eq!(app.tab, Tab::Nodes);
    assert!(app.wants().nodes);
    assert!(!key(&mut app, Key::Char('3')), "on screen already");
    key(&mut app, Key::Tab);
    assert_eq!(app.tab, Tab::Inference);
    assert!(app.wants().inference && !app.wants().nodes);
    key(&mut app, Key::Tab);
    assert!(app.wants().cost);
    key(&mut app, Key::Tab);
    assert_eq!(app.tab, Tab::Gpus, "Tab wraps around");
    key(&mut app, Key::BackTab);
    assert_eq!(app.tab, Tab::Cost);
    // Esc backs out of any tab to the GPUs.
    key(&mut app, Key::Esc);
    assert_eq!(app.tab, Tab::Gpus);
    assert!(!app.should_quit());
}

#[test]
fn the_nodes_list_scrolls_and_keeps_its_selection_in_range() {
    let mut app = three_nodes();
    app.visible_rows = 2;
    key(&mut app, Key::Char('3'));
    assert!(app.update(nodes(&["a", "b", "c", "d"])));
    assert!(
        !app.update(nodes(&["a", "b", "c", "d"])),
        "the same data again"
    );
    key(&mut app, Key::End);
    assert_eq!((app.hosts_scroll.selected, app.hosts_scroll.offset), (3, 2));
    app.update(nodes(&["a", "b"]));
    assert_eq!((app.hosts_scroll.selected, app.hosts_scroll.offset), (1, 0));
    // A failure keeps the nodes and says why.
    assert!(app.update(Event::Nodes {
        result: Err("down".into()),
        at_unix_ms: 3_000,
    }));
    assert_eq!(app.hosts.data.as_ref().map(|d| d.nodes.len()), Some(2));
    assert_eq!(app.hosts.error.as_deref(), Some("down"));

    key(&mut app, Key::Char('4'));
    app.update(Event::Inference {
        result: Ok(InferenceResponse {
            window: "5m".into(),
            models: vec![ModelSummary::default(), ModelSummary::default()],
        }),
        at_unix_ms: 3_000,
    });
    assert!(key(&mut app, Key::Down));
    assert_eq!(app.models_scroll.selected, 1);
}

#[test]
fn enter_opens_a_gpu_and_arrows_step_through_the_table() {
    let mut app = three_nodes();
    assert!(key(&mut app, Key::Enter), "Enter on a node's row folds it");
    assert!(app.detail.is_none());
    key(&mut app, Key::Enter);
    key(&mut app, Key::Down);
    assert!(key(&mut app, Key::Enter));
    let open = |app: &App| app.detail.as_ref().map(|d| d.gpu.id.clone());
    assert_eq!(open(&app).as_deref(), Some("GPU-node-01-0"));
    assert_eq!(
        app.wants().detail,
        Some(GpuRef {
            node: "node-01".into(),
            id: "GPU-node-01-0".into()
        })
    );
    // Down skips node-02's row to its first GPU.
    key(&mut app, Key::Down);
    key(&mut app, Key::Down);
    assert_eq!(open(&app).as_deref(), Some("GPU-node-02-0"));
    assert_eq!(selected(&app), "node-02/gpu0");
    // An answer for the GPU shown before is late: it changes nothing.
    let late = Event::Detail {
        gpu: GpuRef {
            node: "node-01".into(),
            id: "GPU-node-01-1".into(),
        },
        result: Err("late".into()),
        at_unix_ms: 1,
    };
    assert!(!app.update(late));
    // Switching tabs closes it; so does Esc.
    key(&mut app, Key::Char('2'));
    assert!(app.detail.is_none());
    key(&mut app, Key::Char('1'));
    key(&mut app, Key::Enter);
    assert!(app.detail.is_some());
    key(&mut app, Key::Esc);
    assert!(app.detail.is_none());
    assert!(!app.should_quit(), "Esc closed the detail, it did not quit");
}

#[test]
fn paused_the_views_hold_their_data_until_resumed() {
    let mut app = three_nodes();
    key(&mut app, Key::Char('3'));
    key(&mut app, Key::Char('p'));
    assert!(!app.update(nodes(&["a"])));
    assert!(!app.update(nodes(&["a", "b"])));
    assert!(app.hosts.data.is_none());
    key(&mut app, Key::Char('p'));
    assert_eq!(
        app.hosts.data.as_ref().map(|d| d.nodes.len()),
        Some(2),
        "the newest"
    );
}

#[test]
fn clicks_pick_tabs_and_rows_and_the_wheel_scrolls() {
    let mut app = three_nodes();
    // Rows: node-01, gpu0, gpu1, node-02, ... from screen row 3.
    assert!(app.update(click(5, 5)));
    assert_eq!(selected(&app), "node-01/gpu1");
    assert!(app.detail.is_none());
    assert!(app.update(click(5, 5)), "a second click opens it");
    assert_eq!(
        app.detail.as_ref().map(|d| d.gpu.id.as_str()),
        Some("GPU-node-01-1")
    );
    key(&mut app, Key::Esc);
    assert!(!app.update(click(5, 60)), "below the rows");
    let wheel = |kind| {
        Event::Mouse(Mouse {
            kind,
            column: 0,
            row: 10,
        })
    };
    assert!(app.update(wheel(MouseKind::ScrollDown)));
    assert_eq!(selected(&app), "node-02");
    assert!(app.update(wheel(MouseKind::ScrollUp)));
    assert_eq!(selected(&app), "node-01/gpu1");
    // The tab bar is row 1: ` 1 GPUs  2 Alerts  3 Nodes ...`.
    assert!(app.update(click(20, 1)));
    assert_eq!(app.tab, Tab::Nodes);
    assert!(!app.update(click(70, 1)), "right of the tabs");
    // With a prompt open the mouse does nothing.
    key(&mut app, Key::Char('1'));
    key(&mut app, Key::Char('/'));
    assert!(!app.update(click(10, 1)));
}

#[test]
fn crossterm_mouse_events_map_to_the_ones_the_dashboard_uses() {
    use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
    let ev = |kind| MouseEvent {
        kind,
        column: 3,
        row: 4,
        modifiers: KeyModifiers::NONE,
    };
    let click = Mouse::from_crossterm(ev(MouseEventKind::Down(MouseButton::Left)));
    assert_eq!(
        click.map(|m| (m.kind, m.column, m.row)),
        Some((MouseKind::Click, 3, 4))
    );
    assert_eq!(
        Mouse::from_crossterm(ev(MouseEventKind::ScrollDown)).map(|m| m.kind),
        Some(MouseKind::ScrollDown)
    );
    assert!(Mouse::from_crossterm(ev(MouseEventKind::Moved)).is_none());
    assert!(Mouse::from_crossterm(ev(MouseEventKind::Down(MouseButton::Right))).is_none());
}

#[test]
fn reconnecting_and_partial_failures_are_recorded_until_data_comes() {
    let mut app = three_nodes();
    assert!(app.update(Event::Reconnecting {
        attempt: 2,
        retry_in_ms: 2_000
    }));
    assert!(!app.update(Event::Reconnecting {
        attempt: 2,
        retry_in_ms: 2_000
    }));
    assert!(app.update(Event::Partial(vec!["b: down".into()])));
    assert!(!app.update(Event::Partial(vec!["b: down".into()])));
    app.update(data(vec![gpu("node-01", 0)]));
    assert_eq!(app.reconnect, None);
}
