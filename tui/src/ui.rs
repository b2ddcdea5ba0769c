//! Drawing the dashboard: a line of cluster totals and firing alerts, the tab bar, the
//! view on screen (the GPU table grouped by node, the alerts, the nodes' hosts, the
//! served models, the cost, or one GPU in detail), a footer with the source, the age
//! of the data, the filter and sort, and the keys; the `?` overlay on top.
//! Rendering reads an [`App`] and the current time and never changes either;
//! [`render`] takes "now" so tests can fix it.
//!
//! - `columns`: which columns fit and how wide;
//! - `node_totals`: what a node's header row sums up;
//! - `table`: the rows; `alerts`, `nodes`, `inference`, `cost`: the other tabs;
//!   `detail`: one GPU; `status`, `tabs`: the lines above and below; `help`: the
//!   overlay; `spark`: sparklines and charts.

mod alerts;
mod columns;
mod cost;
mod detail;
mod help;
mod inference;
mod node_totals;
mod nodes;
mod spark;
mod status;
mod table;
mod tabs;

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use crate::app::{App, Mode, Tab};

/// Below this the dashboard says so instead of drawing a mangled table.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 10;

// A GPU whose newest point is this far behind the newest point of all is drawn dim,
// and a node all of whose GPUs are counts as absent.
pub(crate) use gpuwatch_model::gpu_state::STALE_GPU_MS;

/// Wall-clock now, Unix milliseconds.
pub(crate) fn now_unix_ms() -> i64 {
    gpuwatch_model::Timestamp::now().unix_millis()
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        render(self, now_unix_ms(), area, buf);
    }
}

/// Draws `app` as it is at `now_unix_ms` (wall clock) into `area`.
pub fn render(app: &App, now_unix_ms: i64, area: Rect, buf: &mut Buffer) {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        render_too_small(area, buf);
        return;
    }
    let [totals, tabs, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    status::render_header(app, totals, tabs, buf);
    match app.tab {
        _ if app.detail.is_some() => detail::render_detail(app, now_unix_ms, body, buf),
        Tab::Alerts => alerts::render_alerts(app, now_unix_ms, body, buf),
        Tab::Gpus if app.rows.is_empty() => render_empty(app, body, buf),
        Tab::Gpus => table::render_table(app, body, buf),
        Tab::Nodes => nodes::render_nodes(app, now_unix_ms, body, buf),
        Tab::Inference => inference::render_inference(app, body, buf),
        Tab::Cost => cost::render_cost(app, body, buf),
    }
    status::render_footer(app, now_unix_ms, footer, buf);
    if app.mode == Mode::Help {
        help::render_help(body, buf);
    }
}

fn render_too_small(area: Rect, buf: &mut Buffer) {
    let text = format!(
        "Terminal too small: {}×{}. gpuwatch top needs at least {MIN_WIDTH}×{MIN_HEIGHT}. \
         Enlarge the window, or press q to quit.",
        area.width, area.height
    );
    let [middle] = Layout::vertical([Constraint::Length(3)])
        .flex(ratatui::layout::Flex::Center)
        .areas(area);
    Paragraph::new(text)
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true })
        .style(Style::new().fg(Color::Yellow))
        .render(middle, buf);
}

/// One grey line in the middle of `area`: why a view has nothing to show.
pub(crate) fn render_message(text: &str, area: Rect, buf: &mut Buffer) {
    let [line] = Layout::vertical([Constraint::Length(1)])
        .flex(ratatui::layout::Flex::Center)
        .areas(area);
    Paragraph::new(text.to_string())
        .alignment(Alignment::Center)
        .style(Style::new().fg(Color::DarkGray))
        .render(line, buf);
}

/// What a view fetched on demand shows before its data: waiting, or why not.
pub(crate) fn fetched_message<T>(
    app: &App,
    what: &str,
    fetched: &crate::app::Fetched<T>,
) -> String {
    match &fetched.error {
        Some(error) => format!("no {what} from {}: {error}", app.source),
        None => format!("waiting for the {what} from {}…", app.source),
    }
}

fn render_empty(app: &App, area: Rect, buf: &mut Buffer) {
    let text = match (&app.last_ok_fetch_unix_ms, &app.last_error) {
        (None, None) => format!("waiting for the first answer from {}…", app.source),
        (None, Some(_)) => format!("no answer yet from {}", app.source),
        (Some(_), _) if app.gpus.is_empty() => "no GPUs reported yet".to_string(),
        (Some(_), _) => format!(
            "no GPU matches `{}` · / to change it, Esc to clear it",
            app.filter.text()
        ),
    };
    let [line] = Layout::vertical([Constraint::Length(1)])
        .flex(ratatui::layout::Flex::Center)
        .areas(area);
    Paragraph::new(text)
        .alignment(Alignment::Center)
        .style(Style::new().fg(Color::DarkGray))
        .render(line, buf);
}

#[cfg(test)]
mod tests;
