//! The dashboard's state and its one way to change: [`App::update`] with an [`Event`].
//! Keys, fetched data and alerts, and resizes all arrive here as typed events; the
//! renderer only reads. `update` says whether the screen needs drawing again, so the
//! loop redraws on new data or input and at no other time.

mod alert_list;
mod detail;
mod event;
mod fetched;
mod mouse;
mod prompt;
mod tab;
mod view;

use gpuwatch_model::api::{
    AlertsResponse, CostRow, GpuView, GpusResponse, InferenceResponse, NodesResponse,
};

use crate::filter::Filter;
use crate::gpu_state::{self, GpuState, StateIndex};
use crate::layout;
use crate::sort::Sort;
use crate::source::{CostBreakdown, GpuRef};

pub(crate) use alert_list::{changed_unix_ms, AlertList};
pub(crate) use detail::{touches, Detail};
pub use event::{Event, Key, Mouse, MouseKind};
pub(crate) use fetched::{Fetched, Scroll};
pub(crate) use tab::Tab;
use view::Folds;
pub(crate) use view::{NodeGroup, RowRef};

/// What the loop should fetch besides the GPUs, the alerts and the burn: what the
/// view on screen shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wants {
    pub nodes: bool,
    pub inference: bool,
    pub cost: bool,
    /// The GPU whose detail view is open.
    pub detail: Option<GpuRef>,
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
    /// The newest data of each kind that arrived while paused.
    held: Vec<Event>,
    /// The cluster's burn now ($/h, and its idle part), when the source prices GPUs.
    pub(crate) burn: Option<CostRow>,
    pub(crate) filter: Filter,
    pub(crate) sort: Sort,
    folds: Folds,
    pub(crate) mode: Mode,
    pub(crate) should_quit: bool,
    /// The Nodes tab's data and scroll.
    pub(crate) hosts: Fetched<NodesResponse>,
    pub(crate) hosts_scroll: Scroll,
    /// The Inference tab's data and scroll.
    pub(crate) models: Fetched<InferenceResponse>,
    pub(crate) models_scroll: Scroll,
    /// The Cost tab's data.
    pub(crate) cost: Fetched<CostBreakdown>,
    /// The GPU whose detail view is open, over the tab.
    pub(crate) detail: Option<Detail>,
    /// Collectors that failed while others answered.
    pub(crate) partial: Vec<String>,
    /// Failed fetches in a row and the wait before the next, while the source is down.
    pub(crate) reconnect: Option<(u32, u64)>,
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
            held: Vec::new(),
            burn: None,
            filter: Filter::default(),
            sort: Sort::default(),
            folds: Folds::default(),
            mode: Mode::Table,
            should_quit: false,
            hosts: Fetched::default(),
            hosts_scroll: Scroll::default(),
            models: Fetched::default(),
            models_scroll: Scroll::default(),
            cost: Fetched::default(),
            detail: None,
            partial: Vec::new(),
            reconnect: None,
        }
    }

    /// What to fetch for the view on screen.
    pub fn wants(&self) -> Wants {
        Wants {
            nodes: self.tab == Tab::Nodes,
            inference: self.tab == Tab::Inference,
            cost: self.tab == Tab::Cost,
            detail: self.detail.as_ref().map(|d| d.gpu.clone()),
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
            Event::Mouse(mouse) => self.on_mouse(mouse),
            Event::Resize { height, .. } => {
                self.visible_rows = layout::table_body_rows(height).max(1);
                self.keep_selection_visible();
                self.alerts.keep_selection_visible(self.visible_rows);
                true
            }
            // Paused, the screen stays as it was; resuming shows the newest of each kind.
            _ if self.paused => {
                let kind = std::mem::discriminant(&ev);
                self.held
                    .retain(|held| std::mem::discriminant(held) != kind);
                self.held.push(ev);
                false
            }
            Event::Burn(burn) => {
                let changed = self.burn != burn;
                self.burn = burn;
                changed
            }
            Event::Data { result, at_unix_ms } => {
                if result.is_ok() {
                    self.reconnect = None;
                }
                self.on_data(result, at_unix_ms)
            }
            Event::Alerts { result, at_unix_ms } => self.on_alerts(result, at_unix_ms),
            Event::Nodes { result, at_unix_ms } => {
                let changed = self.hosts.set(result, at_unix_ms);
                let len = self.hosts.data.as_ref().map_or(0, |d| d.nodes.len());
                let selected = self.hosts_scroll.selected;
                self.hosts_scroll.select(selected, len, self.list_rows());
                changed
            }
            Event::Inference { result, at_unix_ms } => {
                let changed = self.models.set(result, at_unix_ms);
                let len = self.models.data.as_ref().map_or(0, |d| d.models.len());
                let selected = self.models_scroll.selected;
                self.models_scroll.select(selected, len, self.list_rows());
                changed
            }
            Event::Cost { result, at_unix_ms } => self.cost.set(result, at_unix_ms),
            Event::Detail {
                gpu,
                result,
                at_unix_ms,
            } => match &mut self.detail {
                Some(detail) if detail.gpu == gpu => detail.data.set(result, at_unix_ms),
                // A late answer for a GPU no longer on screen.
                _ => false,
            },
            Event::Partial(failures) => {
                let changed = self.partial != failures;
                self.partial = failures;
                changed
            }
            Event::Reconnecting {
                attempt,
                retry_in_ms,
            } => {
                let changed = self.reconnect != Some((attempt, retry_in_ms));
                self.reconnect = Some((attempt, retry_in_ms));
                changed
            }
        }
    }

    /// Rows of a tab's list below its title row.
    pub(crate) fn list_rows(&self) -> usize {
        self.visible_rows
    }

    /// Keys of both tabs, then those of the tab on screen.
    fn on_table_key(&mut self, key: Key) -> bool {
        match key {
            Key::Char('q') | Key::Ctrl('c') => self.should_quit = true,
            Key::Tab => return self.show(self.tab.next()),
            Key::BackTab => return self.show(self.tab.previous()),
            Key::Char(c) if Tab::from_digit(c).is_some() => {
                return Tab::from_digit(c).is_some_and(|tab| self.show(tab))
            }
            Key::Char('?') => self.mode = Mode::Help,
            Key::Char('p') => {
                self.paused = !self.paused;
                if !self.paused {
                    for held in std::mem::take(&mut self.held) {
                        self.update(held);
                    }
                }
            }
            _ if self.detail.is_some() => return self.on_detail_key(key),
            _ => {
                let rows = self.list_rows();
                return match self.tab {
                    Tab::Gpus => self.on_gpus_key(key),
                    Tab::Alerts => self.on_alerts_key(key),
                    Tab::Nodes if key == Key::Esc => self.show(Tab::Gpus),
                    Tab::Nodes => {
                        let len = self.hosts.data.as_ref().map_or(0, |d| d.nodes.len());
                        self.hosts_scroll.on_key(key, len, rows)
                    }
                    Tab::Inference if key == Key::Esc => self.show(Tab::Gpus),
                    Tab::Inference => {
                        let len = self.models.data.as_ref().map_or(0, |d| d.models.len());
                        self.models_scroll.on_key(key, len, rows)
                    }
                    Tab::Cost if key == Key::Esc => self.show(Tab::Gpus),
                    Tab::Cost => false,
                };
            }
        }
        true
    }

    /// Switches to `tab`, closing a GPU's detail view; false when nothing changes.
    pub(crate) fn show(&mut self, tab: Tab) -> bool {
        let changed = self.tab != tab || self.detail.is_some();
        self.tab = tab;
        self.detail = None;
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
            Key::Enter if self.selected_gpu().is_some() => return self.open_detail(),
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
            gpu_state::STALE_GPU_MS,
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
    pub(crate) fn select(&mut self, index: usize) {
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
