//! Folding nodes, sorting, the filter prompt and the help overlay, key by key.

use super::*;

#[test]
fn enter_and_space_fold_a_node_and_c_folds_them_all() {
    let mut app = three_nodes();
    let all = [
        "node-01",
        "node-01/gpu0",
        "node-01/gpu1",
        "node-02",
        "node-02/gpu0",
        "node-02/gpu1",
        "node-03",
        "node-03/gpu0",
    ];
    assert_eq!(rows(&app), all);
    key(&mut app, Key::Enter);
    assert_eq!(rows(&app)[..3], ["+node-01", "node-02", "node-02/gpu0"]);
    key(&mut app, Key::Char(' '));
    assert_eq!(rows(&app), all, "space unfolds it again");

    // Space on a GPU folds its node; the highlight moves to the node's row.
    keys(&mut app, &[Key::Down, Key::Down, Key::Down, Key::Down]);
    assert_eq!(selected(&app), "node-02/gpu0");
    key(&mut app, Key::Char(' '));
    assert_eq!(selected(&app), "+node-02");
    // Enter on a GPU's row opens its detail view; Esc closes it.
    key(&mut app, Key::Char('l'));
    key(&mut app, Key::Down);
    assert!(key(&mut app, Key::Enter));
    assert!(app.detail.is_some());
    assert!(key(&mut app, Key::Esc));
    assert!(app.detail.is_none());
    assert_eq!(selected(&app), "node-02/gpu0");

    key(&mut app, Key::Char('c'));
    assert_eq!(rows(&app), ["+node-01", "+node-02", "+node-03"]);
    assert_eq!(selected(&app), "+node-02");
    // Nodes that appear later follow "all folded".
    let more: Vec<GpuView> = ["node-01", "node-02", "node-03", "node-04"]
        .iter()
        .map(|n| gpu(n, 0))
        .collect();
    app.update(data(more));
    assert_eq!(rows(&app), ["+node-01", "+node-02", "+node-03", "+node-04"]);
    key(&mut app, Key::Char('c'));
    assert_eq!(rows(&app).len(), 8, "c again unfolds all");
}

#[test]
fn left_and_right_fold_and_unfold() {
    let mut app = three_nodes();
    keys(&mut app, &[Key::Down, Key::Down]);
    assert_eq!(selected(&app), "node-01/gpu1");
    key(&mut app, Key::Left);
    assert_eq!(selected(&app), "+node-01");
    key(&mut app, Key::Char('h'));
    assert_eq!(selected(&app), "+node-01", "folding twice stays folded");
    key(&mut app, Key::Right);
    assert_eq!(selected(&app), "node-01");
    assert_eq!(rows(&app).len(), 8);
}

#[test]
fn s_sorts_within_nodes_and_orders_nodes_by_their_first_gpu() {
    let mut app = three_nodes();
    key(&mut app, Key::End);
    // Name → model → util: busiest first.
    keys(&mut app, &[Key::Char('s'), Key::Char('s')]);
    assert_eq!(app.sort.column, crate::column::Column::Util);
    assert_eq!(
        rows(&app),
        [
            "node-01",
            "node-01/gpu0",
            "node-01/gpu1",
            "node-03",
            "node-03/gpu0",
            "node-02",
            "node-02/gpu0",
            "node-02/gpu1",
        ]
    );
    assert_eq!(app.selected, 0, "a new order starts at its top");
    key(&mut app, Key::Char('S'));
    assert_eq!(
        rows(&app),
        [
            "node-02",
            "node-02/gpu1",
            "node-02/gpu0",
            "node-01",
            "node-01/gpu1",
            "node-01/gpu0",
            "node-03",
            "node-03/gpu0",
        ]
    );
}

#[test]
fn slash_types_a_filter_that_enter_applies() {
    let mut app = three_nodes();
    key(&mut app, Key::Char('/'));
    type_text(&mut app, "util<15 q");
    assert!(!app.should_quit(), "q is text in the prompt");
    key(&mut app, Key::Backspace);
    key(&mut app, Key::Backspace);
    assert_eq!(
        app.mode,
        Mode::Filter {
            input: "util<15".into(),
            error: None
        }
    );
    assert_eq!(rows(&app).len(), 8, "nothing applies before Enter");
    key(&mut app, Key::Enter);
    assert_eq!(app.mode, Mode::Table);
    assert_eq!(
        rows(&app),
        ["node-01", "node-01/gpu1", "node-02", "node-02/gpu1"]
    );
    assert_eq!(app.shown_gpus(), 2);

    // `/` again starts from the filter in force; Ctrl-U clears it, Enter on nothing
    // removes the filter.
    key(&mut app, Key::Char('/'));
    assert!(matches!(&app.mode, Mode::Filter { input, .. } if input == "util<15"));
    key(&mut app, Key::Ctrl('u'));
    key(&mut app, Key::Enter);
    assert!(app.filter.is_empty());
    assert_eq!(rows(&app).len(), 8);
}

#[test]
fn a_bad_filter_says_why_and_keeps_the_one_in_force() {
    let mut app = three_nodes();
    key(&mut app, Key::Char('/'));
    type_text(&mut app, "node=node-02");
    key(&mut app, Key::Enter);
    assert_eq!(rows(&app).len(), 3);

    key(&mut app, Key::Char('/'));
    key(&mut app, Key::Ctrl('u'));
    type_text(&mut app, "util<abc");
    key(&mut app, Key::Enter);
    assert_eq!(
        app.mode,
        Mode::Filter {
            input: "util<abc".into(),
            error: Some("`util<abc`: `abc` is not a number".into()),
        },
        "the prompt stays open with the reason"
    );
    assert_eq!(app.filter.text(), "node=node-02");
    assert_eq!(rows(&app).len(), 3, "the filter in force still applies");
    key(&mut app, Key::Backspace);
    assert!(
        matches!(&app.mode, Mode::Filter { error: None, .. }),
        "editing clears it"
    );
    key(&mut app, Key::Esc);
    assert_eq!(app.mode, Mode::Table);
    assert_eq!(
        app.filter.text(),
        "node=node-02",
        "Esc keeps the filter in force"
    );

    // Esc in the table clears the filter first, and quits only after.
    key(&mut app, Key::Esc);
    assert!(app.filter.is_empty());
    assert!(!app.should_quit());
    key(&mut app, Key::Esc);
    assert!(app.should_quit());
}

#[test]
fn the_selection_stays_on_its_gpu_through_a_filter() {
    let mut app = three_nodes();
    keys(
        &mut app,
        &[Key::Down, Key::Down, Key::Down, Key::Down, Key::Down],
    );
    assert_eq!(selected(&app), "node-02/gpu1");
    key(&mut app, Key::Char('/'));
    type_text(&mut app, "util<15");
    key(&mut app, Key::Enter);
    assert_eq!(selected(&app), "node-02/gpu1");
    // A filter that hides it leaves the highlight on its node.
    key(&mut app, Key::Char('/'));
    key(&mut app, Key::Ctrl('u'));
    type_text(&mut app, "node=node-02 util>40");
    key(&mut app, Key::Enter);
    assert_eq!(rows(&app), ["node-02", "node-02/gpu0"]);
    assert_eq!(selected(&app), "node-02");
}
