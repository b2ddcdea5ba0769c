//! The Alerts tab: a title row, then one row per alert, firing first, then pending,
//! then recently resolved (dim): severity, state, age (how long it has fired, or how
//! long ago it resolved), kind and summary, the summary cut to the width left.

use gpuwatch_model::{Alert, AlertState, Severity};
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::columns::{HIGHLIGHT_SYMBOL, HIGHLIGHT_WIDTH};
use crate::app::{changed_unix_ms, App};
use crate::format;

/// `CRIT`, `WARN`, `INFO`.
const SEVERITY_WIDTH: usize = 4;
/// `resolved`.
const STATE_WIDTH: usize = 8;
/// `59m`, `23h`, `12d`.
const AGE_WIDTH: usize = 4;
/// The longest kind, `latency_regression`.
const MAX_KIND_WIDTH: usize = 18;

fn severity(severity: Severity) -> (&'static str, Style) {
    match severity {
        Severity::Critical => (
            "CRIT",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        Severity::Warning => ("WARN", Style::new().fg(Color::Yellow)),
        Severity::Info => ("INFO", Style::new().fg(Color::Blue)),
    }
}

fn state_word(state: AlertState) -> &'static str {
    match state {
        AlertState::Firing => "firing",
        AlertState::Pending => "pending",
        AlertState::Resolved => "resolved",
    }
}

fn pad(text: &str, width: usize) -> String {
    format!("{:<width$}", format::truncate(text, width))
}

/// The cells of one row, `kind_width` for the kind and what is left of `width` for the
/// summary.
pub(crate) fn row(
    alert: &Alert,
    now_unix_ms: i64,
    kind_width: usize,
    width: usize,
) -> Line<'static> {
    let (word, style) = severity(alert.severity);
    let age = format::age_short(now_unix_ms - changed_unix_ms(alert));
    let fixed = SEVERITY_WIDTH + STATE_WIDTH + AGE_WIDTH + kind_width + 4;
    let summary_width = width.saturating_sub(fixed);
    Line::from(vec![
        Span::styled(pad(word, SEVERITY_WIDTH), style),
        Span::raw(" "),
        Span::raw(pad(state_word(alert.state), STATE_WIDTH)),
        Span::raw(" "),
        Span::raw(format!("{age:>AGE_WIDTH$}")),
        Span::raw(" "),
        Span::raw(pad(alert.kind.as_str(), kind_width)),
        Span::raw(" "),
        Span::raw(format::truncate(&alert.summary, summary_width)),
    ])
}

/// Draws the list into `area`: a title row, then the alerts from the list's scroll
/// offset on, the highlighted one marked `▶` and reversed.
pub(crate) fn render_alerts(app: &App, now_unix_ms: i64, area: Rect, buf: &mut Buffer) {
    if area.is_empty() {
        return;
    }
    let list = &app.alerts;
    if list.alerts.is_empty() {
        render_no_alerts(app, area, buf);
        return;
    }
    let kind_width = list
        .alerts
        .iter()
        .map(|a| a.kind.as_str().len())
        .chain(["KIND".len()])
        .max()
        .unwrap_or(0)
        .min(MAX_KIND_WIDTH);
    let width = usize::from(area.width.saturating_sub(HIGHLIGHT_WIDTH));
    let x = area.x.saturating_add(HIGHLIGHT_WIDTH);

    let title = Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
    let header = format!(
        "{:<SEVERITY_WIDTH$} {:<STATE_WIDTH$} {:>AGE_WIDTH$} {:<kind_width$} SUMMARY",
        "SEV", "STATE", "AGE", "KIND"
    );
    let line = Rect::new(area.x, area.y, area.width, 1);
    buf.set_style(line, title);
    buf.set_stringn(x, area.y, header, width, Style::new());

    let body = usize::from(area.height - 1);
    let end = list.alerts.len().min(list.offset.saturating_add(body));
    let visible = list.alerts.get(list.offset..end).unwrap_or_default();
    for (i, alert) in visible.iter().enumerate() {
        let y = area.y + 1 + u16::try_from(i).unwrap_or(u16::MAX);
        let line = Rect::new(area.x, y, area.width, 1);
        let mut style = Style::new();
        if alert.state == AlertState::Resolved {
            style = style.add_modifier(Modifier::DIM);
        }
        if list.offset + i == list.selected {
            style = style.add_modifier(Modifier::REVERSED);
            buf.set_stringn(area.x, y, HIGHLIGHT_SYMBOL, usize::from(area.width), style);
        }
        buf.set_style(line, style);
        let cells = Rect::new(x, y, area.width.saturating_sub(HIGHLIGHT_WIDTH), 1);
        row(alert, now_unix_ms, kind_width, width).render(cells, buf);
    }
}

fn render_no_alerts(app: &App, area: Rect, buf: &mut Buffer) {
    let list = &app.alerts;
    let text = match (list.last_ok_fetch_unix_ms, &list.error) {
        (None, None) => format!("waiting for the alerts from {}…", app.source),
        (None, Some(error)) => format!("no alerts from {}: {error}", app.source),
        (Some(_), _) => "no alerts firing or recently resolved".to_string(),
    };
    let [line] = Layout::vertical([Constraint::Length(1)])
        .flex(Flex::Center)
        .areas(area);
    Paragraph::new(text)
        .alignment(Alignment::Center)
        .style(Style::new().fg(Color::DarkGray))
        .render(line, buf);
}
