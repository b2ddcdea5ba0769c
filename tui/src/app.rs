//! The dashboard's state and its one way to change: [`App::update`] with an [`Event`].
//! Keys, fetched data, resizes and clock ticks all arrive here as typed events; the
//! renderer only reads.

use gpuwatch_model::api::{GpuView, GpusResponse};

use crate::ui;

/// A key press, reduced to what the dashboard reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Esc,
    /// A character typed without Ctrl.
    Char(char),
    /// A character typed with Ctrl held.
    Ctrl(char),
    Other,
}

impl From<crossterm::event::KeyEvent> for Key {
    fn from(ev: crossterm::event::KeyEvent) -> Self {
        use crossterm::event::{KeyCode, KeyModifiers};
        match ev.code {
            KeyCode::Up => Key::Up,
            KeyCode::Down => Key::Down,
            KeyCode::PageUp => Key::PageUp,
            KeyCode::PageDown => Key::PageDown,
            KeyCode::Home => Key::Home,
            KeyCode::End => Key::End,
            KeyCode::Esc => Key::Esc,
            KeyCode::Char(c) if ev.modifiers.contains(KeyModifiers::CONTROL) => Key::Ctrl(c),
            KeyCode::Char(c) => Key::Char(c),
            _ => Key::Other,
        }
    }
}

/// Everything that can change the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Key(Key),
    /// The outcome of one fetch, and when (wall clock, Unix ms) it completed.
    Data {
        result: Result<GpusResponse, String>,
        at_unix_ms: i64,
    },
    /// The terminal's new size.
    Resize {
        width: u16,
        height: u16,
    },
    /// Time passed; nothing changed but the age of the data.
    Tick,
}

/// The dashboard's state. One owner: the run loop; [`render`](crate::render) draws a `&App`.
#[derive(Debug, Clone)]
pub struct App {
    /// Sorted by [`GpuView::sort_key`].
    pub(crate) gpus: Vec<GpuView>,
    /// Index into `gpus` of the highlighted row; 0 when there are none.
    pub(crate) selected: usize,
    /// Index of the first visible row.
    pub(crate) offset: usize,
    /// How many table rows the terminal shows, from the last resize.
    pub(crate) visible_rows: usize,
    pub(crate) newest_point_unix_ms: Option<i64>,
    pub(crate) points_received: u64,
    pub(crate) nodes: usize,
    /// The source's own line for the footer (the collector URL).
    pub(crate) source: String,
    /// Why the latest fetch failed; `None` after a good one.
    pub(crate) last_error: Option<String>,
    /// When the latest good fetch completed, wall clock, Unix ms.
    pub(crate) last_ok_fetch_unix_ms: Option<i64>,
    /// A paused dashboard keeps showing the data it has and holds back new data.
    pub(crate) paused: bool,
    held: Option<Event>,
    pub(crate) should_quit: bool,
}

impl App {
    pub fn new(source: impl Into<String>) -> Self {
        App {
            gpus: Vec::new(),
            selected: 0,
            offset: 0,
            visible_rows: 1,
            newest_point_unix_ms: None,
            points_received: 0,
            nodes: 0,
            source: source.into(),
            last_error: None,
            last_ok_fetch_unix_ms: None,
            paused: false,
            held: None,
            should_quit: false,
        }
    }

    pub fn should_quit(&self) -> bool {
        self.should_quit
    }

    /// The highlighted GPU, if there is any.
    pub fn selected_gpu(&self) -> Option<&GpuView> {
        self.gpus.get(self.selected)
    }

    pub fn update(&mut self, ev: Event) {
        match ev {
            Event::Key(key) => self.on_key(key),
            Event::Data { .. } if self.paused => self.held = Some(ev),
            Event::Data { result, at_unix_ms } => self.on_data(result, at_unix_ms),
            Event::Resize { height, .. } => {
                self.visible_rows = ui::table_body_rows(height).max(1);
                self.keep_selection_visible();
            }
            Event::Tick => {}
        }
    }

    fn on_key(&mut self, key: Key) {
        let page = self.visible_rows.max(1);
        match key {
            Key::Char('q') | Key::Esc | Key::Ctrl('c') => self.should_quit = true,
            Key::Up | Key::Char('k') => self.select(self.selected.saturating_sub(1)),
            Key::Down | Key::Char('j') => self.select(self.selected.saturating_add(1)),
            Key::PageUp => self.select(self.selected.saturating_sub(page)),
            Key::PageDown => self.select(self.selected.saturating_add(page)),
            Key::Home | Key::Char('g') => self.select(0),
            Key::End | Key::Char('G') => self.select(usize::MAX),
            Key::Char('p') | Key::Char(' ') => {
                self.paused = !self.paused;
                if !self.paused {
                    if let Some(held) = self.held.take() {
                        self.update(held);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_data(&mut self, result: Result<GpusResponse, String>, at_unix_ms: i64) {
        match result {
            Ok(response) => {
                let selected_id = self.selected_gpu().map(|g| g.id.clone());
                let mut gpus = response.gpus;
                gpus.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
                self.gpus = gpus;
                self.newest_point_unix_ms = response.newest_point_unix_ms;
                self.points_received = response.points_received;
                self.nodes = response.nodes;
                self.last_error = None;
                self.last_ok_fetch_unix_ms = Some(at_unix_ms);
                // Follow the same GPU when rows move; stay at the same place when it left.
                let index = selected_id
                    .and_then(|id| self.gpus.iter().position(|g| g.id == id))
                    .unwrap_or(self.selected);
                self.select(index);
            }
            Err(message) => self.last_error = Some(message),
        }
    }

    /// Selects row `index`, clamped to the rows there are, and scrolls it into view.
    fn select(&mut self, index: usize) {
        self.selected = index.min(self.gpus.len().saturating_sub(1));
        self.keep_selection_visible();
    }

    fn keep_selection_visible(&mut self) {
        let rows = self.visible_rows.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + rows {
            self.offset = self.selected + 1 - rows;
        }
        // No empty space below the last row while there are rows above the first.
        self.offset = self.offset.min(self.gpus.len().saturating_sub(rows));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(node: &str, index: usize) -> GpuView {
        GpuView {
            node: node.into(),
            id: format!("GPU-{node}-{index}"),
            name: format!("gpu{index}"),
            ..GpuView::default()
        }
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

    /// An app showing `n` GPUs on one node, `rows` of them at a time.
    fn app_with(n: usize, rows: usize) -> App {
        let mut app = App::new("test");
        app.visible_rows = rows;
        app.update(data((0..n).map(|i| gpu("node-01", i)).collect()));
        app
    }

    fn key(app: &mut App, key: Key) {
        app.update(Event::Key(key));
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
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(Key::from(ctrl_c), Key::Ctrl('c'));
        let q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(Key::from(q), Key::Char('q'));
        let f1 = KeyEvent::new(KeyCode::F(1), KeyModifiers::NONE);
        assert_eq!(Key::from(f1), Key::Other);
    }

    #[test]
    fn movement_clamps_at_both_ends() {
        let mut app = app_with(5, 10);
        key(&mut app, Key::Up);
        assert_eq!(app.selected, 0);
        for _ in 0..10 {
            key(&mut app, Key::Down);
        }
        assert_eq!(app.selected, 4);
        key(&mut app, Key::Home);
        assert_eq!(app.selected, 0);
        key(&mut app, Key::End);
        assert_eq!(app.selected, 4);
        key(&mut app, Key::PageUp);
        assert_eq!(app.selected, 0);
        key(&mut app, Key::PageDown);
        assert_eq!(app.selected, 4);
        key(&mut app, Key::Char('k'));
        assert_eq!(app.selected, 3);
    }

    #[test]
    fn movement_with_no_gpus_stays_at_zero() {
        let mut app = App::new("test");
        for k in [Key::Down, Key::End, Key::PageDown, Key::Up] {
            key(&mut app, k);
            assert_eq!((app.selected, app.offset), (0, 0), "{k:?}");
            assert!(app.selected_gpu().is_none());
        }
    }

    #[test]
    fn scrolling_keeps_the_selection_in_view() {
        let mut app = app_with(20, 5);
        key(&mut app, Key::PageDown);
        assert_eq!((app.selected, app.offset), (5, 1));
        key(&mut app, Key::End);
        assert_eq!((app.selected, app.offset), (19, 15));
        key(&mut app, Key::Up);
        assert_eq!(
            (app.selected, app.offset),
            (18, 15),
            "no scroll while in view"
        );
        key(&mut app, Key::PageUp);
        assert_eq!((app.selected, app.offset), (13, 13));
        key(&mut app, Key::Home);
        assert_eq!((app.selected, app.offset), (0, 0));
    }

    #[test]
    fn resize_scrolls_the_selection_back_into_view() {
        let mut app = app_with(20, 10);
        key(&mut app, Key::End);
        assert_eq!(app.offset, 10);
        // Three lines go to header, table header and footer.
        app.update(Event::Resize {
            width: 100,
            height: 8,
        });
        assert_eq!(app.visible_rows, 5);
        assert_eq!((app.selected, app.offset), (19, 15));
        app.update(Event::Resize {
            width: 100,
            height: 40,
        });
        assert_eq!((app.selected, app.offset), (19, 0), "all rows fit");
    }

    #[test]
    fn selection_clamps_when_data_shrinks() {
        let mut app = app_with(10, 4);
        key(&mut app, Key::End);
        assert_eq!((app.selected, app.offset), (9, 6));
        app.update(data((0..3).map(|i| gpu("node-01", i)).collect()));
        assert_eq!((app.selected, app.offset), (2, 0));
        app.update(data(Vec::new()));
        assert_eq!((app.selected, app.offset), (0, 0));
        assert!(app.selected_gpu().is_none());
    }

    #[test]
    fn selection_follows_its_gpu_when_rows_move() {
        let mut app = App::new("test");
        app.visible_rows = 10;
        app.update(data(vec![gpu("node-02", 0), gpu("node-02", 1)]));
        key(&mut app, Key::Down);
        assert_eq!(app.selected_gpu().map(|g| g.name.as_str()), Some("gpu1"));
        // node-01 sorts first and pushes node-02's rows down.
        app.update(data(vec![
            gpu("node-02", 1),
            gpu("node-01", 0),
            gpu("node-02", 0),
        ]));
        let sel = app
            .selected_gpu()
            .map(|g| (g.node.as_str(), g.name.as_str()));
        assert_eq!(sel, Some(("node-02", "gpu1")));
        assert_eq!(app.selected, 2);
    }

    #[test]
    fn rows_are_sorted_by_node_then_index() {
        let mut app = App::new("test");
        app.update(data(vec![gpu("b", 0), gpu("a", 10), gpu("a", 2)]));
        let names: Vec<_> = app
            .gpus
            .iter()
            .map(|g| format!("{}/{}", g.node, g.name))
            .collect();
        assert_eq!(names, ["a/gpu2", "a/gpu10", "b/gpu0"]);
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
        app.update(data(vec![gpu("node-01", 0)]));
        assert_eq!(app.gpus.len(), 3, "frozen while paused");
        key(&mut app, Key::Char('p'));
        assert!(!app.paused);
        assert_eq!(app.gpus.len(), 1, "the held data lands on resume");
    }
}
