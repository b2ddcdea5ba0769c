//! The dashboard's state and its one way to change: [`App::update`] with an [`Event`].
//! Keys, fetched data and alerts, and resizes all arrive here as typed events; the
//! renderer only reads. `update` says whether the screen needs drawing again, so the
//! loop redraws on new data or input and at no other time.

mod alert_list;
mod view;

use gpuwatch_model::api::{AlertsResponse, CostRow, GpuView, GpusResponse};

use crate::filter::Filter;
use crate::gpu_state::{self, GpuState, StateIndex};
use crate::sort::Sort;
use crate::ui;

pub(crate) use alert_list::{changed_unix_ms, AlertList};
use view::Folds;
pub(crate) use view::{NodeGroup, RowRef};

/// A key press, reduced to what the dashboard reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    Enter,
    Backspace,
    Esc,
    Tab,
    BackTab,
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
            KeyCode::Left => Key::Left,
            KeyCode::Right => Key::Right,
            KeyCode::PageUp => Key::PageUp,
            KeyCode::PageDown => Key::PageDown,
            KeyCode::Home => Key::Home,
            KeyCode::End => Key::End,
            KeyCode::Enter => Key::Enter,
            KeyCode::Backspace => Key::Backspace,
            KeyCode::Esc => Key::Esc,
            KeyCode::Tab => Key::Tab,
            KeyCode::BackTab => Key::BackTab,
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
    /// The outcome of one alerts fetch (made alongside the GPUs'), and when it
    /// completed. A failure leaves the GPUs as they are.
    Alerts {
        result: Result<AlertsResponse, String>,
        at_unix_ms: i64,
    },
    /// The cluster's burn rate from the newest fetch, when the source prices GPUs.
    Burn(Option<CostRow>),
    /// The terminal's new size.
    Resize {
        width: u16,
        height: u16,
    },
}

/// The view on screen: `Tab`, `1` and `2` switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Tab {
    /// The GPU table, grouped by node.
    #[default]
    Gpus,
    /// Firing alerts, then recently resolved ones.
    Alerts,
}

/// What the keys do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Moving through the table (or the list of the Alerts tab).
    Table,
    /// Typing a filter after `/`. `error` says why the last Enter was refused.
    Filter {
        input: String,
        error: Option<String>,
    },
    /// The `?` overlay listing every key.
    Help,
}

/// The dashboard's state. One owner: the run loop; [`render`](crate::render) draws a `&App`.
#[derive(Debug, Clone)]
pub struct App {
    /// Every GPU of the latest fetch, sorted by [`GpuView::sort_key`].
    pub(crate) gpus: Vec<GpuView>,
    /// The state badge of each of `gpus`, at the same index.
    pub(crate) states: Vec<GpuState>,
    /// The firing alerts of the latest good alerts fetch, by what they touch.
    state_index: StateIndex,
    /// The Alerts tab, and the alerts the header counts.
    pub(crate) alerts: AlertList,
    pub(crate) tab: Tab,
    /// The nodes with GPUs that pass the filter, in table order.
    pub(crate) groups: Vec<NodeGroup>,
    /// The table's rows: node headers, and the GPUs of nodes that are not folded.
    pub(crate) rows: Vec<RowRef>,
    /// Index into `rows` of the highlighted row; 0 when there are none.
    pub(crate) selected: usize,
    /// Index into `rows` of the first visible row.
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
    /// The newest GPU data and alerts that arrived while paused.
    held: Option<Event>,
    held_alerts: Option<Event>,
    /// The cluster's burn now ($/h, and its idle part), when the source prices GPUs.
    pub(crate) burn: Option<CostRow>,
    pub(crate) filter: Filter,
    pub(crate) sort: Sort,
    folds: Folds,
    pub(crate) mode: Mode,
    pub(crate) should_quit: bool,
}

impl App {
    pub fn new(source: impl Into<String>) -> Self {
        App {
            gpus: Vec::new(),
            states: Vec::new(),
            state_index: StateIndex::default(),
            alerts: AlertList::default(),
            tab: Tab::Gpus,
            groups: Vec::new(),
            rows: Vec::new(),
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
            held_alerts: None,
            burn: None,
            filter: Filter::default(),
            sort: Sort::default(),
            folds: Folds::default(),
            mode: Mode::Table,
            should_quit: false,
        }
    }

    pub fn should_quit(&self) -> bool {
        self.should_quit
    }

    /// The highlighted GPU, if a GPU's row (not a node's) is highlighted.
    pub fn selected_gpu(&self) -> Option<&GpuView> {
        match self.rows.get(self.selected)? {
            RowRef::Gpu { gpu, .. } => self.gpus.get(*gpu),
            RowRef::Node { .. } => None,
        }
    }

    /// How many GPUs pass the filter.
    pub(crate) fn shown_gpus(&self) -> usize {
        self.groups.iter().map(|g| g.gpus.len()).sum()
    }

    /// The badge of a node's row: the worst state of its shown GPUs (ABSENT when it
    /// stopped reporting).
    pub(crate) fn node_state(&self, group: &NodeGroup) -> GpuState {
        group
            .gpus
            .iter()
            .filter_map(|&i| self.states.get(i))
            .copied()
            .max()
            .unwrap_or_default()
    }

    /// Applies `ev`; true when the screen may look different, so it needs drawing.
    pub fn update(&mut self, ev: Event) -> bool {
        match ev {
            Event::Key(key) => match self.mode {
                Mode::Table => self.on_table_key(key),
                Mode::Filter { .. } => self.on_filter_key(key),
                Mode::Help => self.on_help_key(key),
            },
            Event::Data { .. } if self.paused => {
                self.held = Some(ev);
                false
            }
            Event::Alerts { .. } if self.paused => {
                self.held_alerts = Some(ev);
                false
            }
            // Paused, the screen stays as it was; the next fetch after resuming brings it.
            Event::Burn(_) if self.paused => false,
            Event::Burn(burn) => {
                let changed = self.burn != burn;
                self.burn = burn;
                changed
            }
            Event::Data { result, at_unix_ms } => self.on_data(result, at_unix_ms),
            Event::Alerts { result, at_unix_ms } => self.on_alerts(result, at_unix_ms),
            Event::Resize { height, .. } => {
                self.visible_rows = ui::table_body_rows(height).max(1);
                self.keep_selection_visible();
                self.alerts.keep_selection_visible(self.visible_rows);
                true
            }
        }
    }

    /// Keys of both tabs, then those of the tab on screen.
    fn on_table_key(&mut self, key: Key) -> bool {
        match key {
            Key::Char('q') | Key::Ctrl('c') => self.should_quit = true,
            Key::Tab | Key::BackTab => {
                self.tab = match self.tab {
                    Tab::Gpus => Tab::Alerts,
                    Tab::Alerts => Tab::Gpus,
                }
            }
            Key::Char('1') => return self.show(Tab::Gpus),
            Key::Char('2') => return self.show(Tab::Alerts),
            Key::Char('?') => self.mode = Mode::Help,
            Key::Char('p') => {
                self.paused = !self.paused;
                if !self.paused {
                    for held in [self.held.take(), self.held_alerts.take()]
                        .into_iter()
                        .flatten()
                    {
                        self.update(held);
                    }
                }
            }
            _ => {
                return match self.tab {
                    Tab::Gpus => self.on_gpus_key(key),
                    Tab::Alerts => self.on_alerts_key(key),
                }
            }
        }
        true
    }

    /// Switches to `tab`; false when it is on screen already.
    fn show(&mut self, tab: Tab) -> bool {
        let changed = self.tab != tab;
        self.tab = tab;
        changed
    }

    fn on_alerts_key(&mut self, key: Key) -> bool {
        match key {
            // Esc backs out one step: to the GPUs.
            Key::Esc => self.show(Tab::Gpus),
            _ => self.alerts.on_key(key, self.visible_rows),
        }
    }

    fn on_gpus_key(&mut self, key: Key) -> bool {
        let page = self.visible_rows.max(1);
        match key {
            // Esc backs out one step: first the filter, then the dashboard.
            Key::Esc if !self.filter.is_empty() => self.set_filter(Filter::default()),
            Key::Esc => self.should_quit = true,
            Key::Up | Key::Char('k') => self.select(self.selected.saturating_sub(1)),
            Key::Down | Key::Char('j') => self.select(self.selected.saturating_add(1)),
            Key::PageUp => self.select(self.selected.saturating_sub(page)),
            Key::PageDown => self.select(self.selected.saturating_add(page)),
            Key::Home | Key::Char('g') => self.select(0),
            Key::End | Key::Char('G') => self.select(usize::MAX),
            // Enter on a GPU's row is kept for its detail view.
            Key::Enter if self.selected_gpu().is_some() => return false,
            Key::Enter | Key::Char(' ') => self.fold_selected(None),
            Key::Left | Key::Char('h') => self.fold_selected(Some(true)),
            Key::Right | Key::Char('l') => self.fold_selected(Some(false)),
            Key::Char('c') => {
                let all_folded = self.groups.iter().all(|g| g.folded);
                self.folds.set_all(!all_folded);
                self.rebuild();
            }
            Key::Char('s') => self.set_sort(self.sort.next_column()),
            Key::Char('S') => self.set_sort(self.sort.reversed()),
            Key::Char('/') => {
                self.mode = Mode::Filter {
                    input: self.filter.text().to_string(),
                    error: None,
                }
            }
            _ => return false,
        }
        true
    }

    fn on_filter_key(&mut self, key: Key) -> bool {
        let Mode::Filter { input, error } = &mut self.mode else {
            return false;
        };
        match key {
            Key::Ctrl('c') => self.should_quit = true,
            Key::Esc => self.mode = Mode::Table,
            Key::Enter => match Filter::parse(input) {
                Ok(filter) => {
                    self.mode = Mode::Table;
                    self.set_filter(filter);
                }
                // The filter in force stays; the prompt stays open to fix the text.
                Err(e) => *error = Some(e.to_string()),
            },
            Key::Char(c) => {
                input.push(c);
                *error = None;
            }
            Key::Backspace => {
                input.pop();
                *error = None;
            }
            Key::Ctrl('u') => {
                input.clear();
                *error = None;
            }
            _ => return false,
        }
        true
    }

    fn on_help_key(&mut self, key: Key) -> bool {
        match key {
            Key::Ctrl('c') => self.should_quit = true,
            Key::Char('?') | Key::Char('q') | Key::Esc | Key::Enter => self.mode = Mode::Table,
            _ => return false,
        }
        true
    }

    /// True unless it is the same failure again, which shows nothing new.
    fn on_data(&mut self, result: Result<GpusResponse, String>, at_unix_ms: i64) -> bool {
        match result {
            Ok(response) => {
                let mut gpus = response.gpus;
                gpus.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
                let anchor = self.anchor();
                self.gpus = gpus;
                self.newest_point_unix_ms = response.newest_point_unix_ms;
                self.refresh_states();
                self.points_received = response.points_received;
                self.nodes = response.nodes;
                self.last_error = None;
                self.last_ok_fetch_unix_ms = Some(at_unix_ms);
                self.rebuild_keeping(anchor);
                true
            }
            Err(message) if self.last_error.as_ref() == Some(&message) => false,
            Err(message) => {
                self.last_error = Some(message);
                true
            }
        }
    }

    /// A good alerts fetch changes the badges, and so what a `state=` filter or a sort
    /// by state shows; a failed one keeps the alerts of the last good one.
    fn on_alerts(&mut self, result: Result<AlertsResponse, String>, at_unix_ms: i64) -> bool {
        match result {
            Ok(response) => {
                self.alerts
                    .set(response.alerts, at_unix_ms, self.visible_rows);
                self.state_index = StateIndex::new(&self.alerts.alerts);
                self.refresh_states();
                self.rebuild();
                true
            }
            Err(message) => self.alerts.fail(message),
        }
    }

    fn refresh_states(&mut self) {
        self.states = gpu_state::states(
            &self.gpus,
            &self.state_index,
            self.newest_point_unix_ms,
            ui::STALE_GPU_MS,
        );
    }

    /// Folds (`Some(true)`), unfolds (`Some(false)`) or toggles (`None`) the node of the
    /// highlighted row. Folding from a GPU's row moves the highlight to its node.
    fn fold_selected(&mut self, folded: Option<bool>) {
        let Some(group) = self
            .rows
            .get(self.selected)
            .map(|r| &self.groups[r.group()])
        else {
            return;
        };
        let folded = folded.unwrap_or(!group.folded);
        let node = group.node.clone();
        self.folds.set(&node, folded);
        self.rebuild();
    }

    fn set_filter(&mut self, filter: Filter) {
        self.filter = filter;
        self.rebuild();
    }

    /// A new order starts at its top: that is what sorting is for.
    fn set_sort(&mut self, sort: Sort) {
        self.sort = sort;
        self.rebuild_keeping(None);
        self.select(0);
    }

    fn anchor(&self) -> Option<view::Anchor> {
        let row = *self.rows.get(self.selected)?;
        view::anchor(&self.gpus, &self.groups, row)
    }

    /// Recomputes the rows, keeping the highlight on what it showed.
    fn rebuild(&mut self) {
        let anchor = self.anchor();
        self.rebuild_keeping(anchor);
    }

    /// Recomputes the rows and highlights `anchor`'s row; where that is gone, the row
    /// at the same place.
    fn rebuild_keeping(&mut self, anchor: Option<view::Anchor>) {
        let (groups, rows) = view::build(
            &self.gpus,
            &self.states,
            &self.filter,
            self.sort,
            &self.folds,
        );
        self.groups = groups;
        self.rows = rows;
        let index = anchor
            .and_then(|a| view::find(&self.gpus, &self.groups, &self.rows, &a))
            .unwrap_or(self.selected);
        self.select(index);
    }

    /// Selects row `index`, clamped to the rows there are, and scrolls it into view.
    fn select(&mut self, index: usize) {
        self.selected = index.min(self.rows.len().saturating_sub(1));
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
        self.offset = self.offset.min(self.rows.len().saturating_sub(rows));
    }
}

#[cfg(test)]
mod tests;
