//! Drawing the dashboard: a line of cluster totals and firing alerts, the GPU table
//! grouped by node (or, on the Alerts tab, the alerts), a footer with the source, the
//! age of the data, the filter and sort, and the keys; the `?` overlay on top.
//! Rendering reads an [`App`] and the current time and never changes either;
//! [`render`] takes "now" so tests can fix it.
//!
//! - `columns`: which columns fit and how wide;
//! - `node_totals`: what a node's header row sums up;
//! - `table`: the rows; `alerts`: the Alerts tab; `status`: the lines above and below;
//!   `help`: the overlay.

mod alerts;
mod columns;
mod help;
mod node_totals;
mod status;
mod table;

use std::time::{SystemTime, UNIX_EPOCH};

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use crate::app::{App, Mode, Tab};

/// Below this the dashboard says so instead of drawing a mangled table.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 10;

/// A GPU whose newest point is this far behind the newest point of all is drawn dim,
/// and a node all of whose GPUs are counts as absent.
pub(crate) const STALE_GPU_MS: i64 = 15_000;

/// Lines that are not table rows: totals, the table's title row, the footer.
const CHROME_LINES: u16 = 3;

/// How many GPU rows a terminal `height` lines tall shows.
pub(crate) fn table_body_rows(height: u16) -> usize {
    usize::from(height.saturating_sub(CHROME_LINES))
}

/// Wall-clock now, Unix milliseconds.
pub(crate) fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
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
    let [totals, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    status::render_totals(app, totals, buf);
    match app.tab {
        Tab::Alerts => alerts::render_alerts(app, now_unix_ms, body, buf),
        Tab::Gpus if app.rows.is_empty() => render_empty(app, body, buf),
        Tab::Gpus => table::render_table(app, body, buf),
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
