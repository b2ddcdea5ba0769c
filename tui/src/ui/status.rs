//! The status lines around the view: cluster totals and firing alerts above, then
//! the tab bar with the totals that did not fit beside it; source, freshness and keys
//! below. Each line is a list of pieces; on a narrow terminal the least important
//! pieces go first, and what still does not fit is cut with `…`.

use gpuwatch_model::api::GpuView;
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::app::{App, Mode, Tab};
use crate::format;
use crate::gpu_state::GpuState;

const SEPARATOR: &str = " · ";
const KEYS_PROMPT: [&str; 2] = ["Enter apply · Esc cancel · Ctrl-U clear", "Esc cancel"];
const KEYS_HELP: [&str; 1] = ["Esc close"];

/// Key hints for the view on screen, longest first; the footer shows the longest
/// that fits. `?` lists all.
fn key_hints(app: &App) -> [String; 3] {
    let pause = if app.paused { "p resume" } else { "p pause" };
    if app.detail.is_some() {
        return [
            format!("? help Esc back ↑↓ other GPU Tab views {pause} q quit"),
            format!("? help Esc back {pause} q quit"),
            format!("Esc back {pause} q quit"),
        ];
    }
    match app.tab {
        Tab::Gpus => [
            format!("? help / filter s sort c fold Enter detail Tab views {pause} q quit"),
            format!("? help / filter Tab views {pause} q quit"),
            if app.paused {
                "p resume q quit".to_string()
            } else {
                "? help q quit".to_string()
            },
        ],
        Tab::Alerts | Tab::Nodes | Tab::Inference => [
            format!("? help ↑↓ scroll Tab views {pause} q quit"),
            format!("? help Tab views {pause} q quit"),
            format!("? help {pause} q quit"),
        ],
        Tab::Cost => [
            format!("? help Tab views {pause} q quit"),
            format!("? help {pause} q quit"),
            format!("{pause} q quit"),
        ],
    }
}

/// One part of a status line.
struct Piece {
    span: Span<'static>,
    /// Pieces with the lowest rank go first when the line is too long; `None` stays.
    drop_rank: Option<u8>,
}

impl Piece {
    fn keep(span: impl Into<Span<'static>>) -> Self {
        Piece {
            span: span.into(),
            drop_rank: None,
        }
    }

    fn droppable(rank: u8, span: impl Into<Span<'static>>) -> Self {
        Piece {
            span: span.into(),
            drop_rank: Some(rank),
        }
    }
}

fn joined_width(pieces: &[Piece]) -> usize {
    let text: usize = pieces.iter().map(|p| p.span.width()).sum();
    text + SEPARATOR.chars().count() * pieces.len().saturating_sub(1)
}

/// Joins `pieces` with ` · ` into at most `width` columns.
fn fit(mut pieces: Vec<Piece>, width: usize) -> Line<'static> {
    while joined_width(&pieces) > width {
        let victim = pieces
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.drop_rank.map(|rank| (rank, i)))
            .min();
        match victim {
            Some((_, i)) => {
                pieces.remove(i);
            }
            None => break,
        }
    }
    let mut spans = Vec::with_capacity(pieces.len() * 2);
    for (i, piece) in pieces.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(SEPARATOR));
        }
        spans.push(piece.span);
    }
    let line = Line::from(spans);
    if line.width() > width {
        truncate_line(line, width)
    } else {
        line
    }
}

/// Cuts a styled line to `width` columns, the last one `…`.
fn truncate_line(line: Line<'static>, width: usize) -> Line<'static> {
    let mut left = width.saturating_sub(1);
    let mut out = Vec::new();
    for span in line.spans {
        if left == 0 {
            break;
        }
        let n = span.content.chars().count();
        if n <= left {
            left -= n;
            out.push(span);
        } else {
            let cut: String = span.content.chars().take(left).collect();
            out.push(Span::styled(cut, span.style));
            left = 0;
        }
    }
    if width > 0 {
        out.push(Span::raw("…"));
    }
    Line::from(out)
}

/// `gpuwatch  4 nodes (1 absent) · 8 GPUs (1 idle) · alerts 2 crit 1 warn · util 68% ·
/// $52.00/h (idle $16.00/h) · power 2667 W · mem 362/520 GiB · NVLink 1.4T/s · PCIe
/// 36.4G/s` on `totals`; below it, on `tabs`, the tab bar and the totals that did not
/// fit above.
pub(super) fn render_header(app: &App, totals: Rect, tabs: Rect, buf: &mut Buffer) {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let tag = Span::styled(" gpuwatch ", bold.add_modifier(Modifier::REVERSED));
    let room = usize::from(totals.width).saturating_sub(tag.width() + 1);
    let (mut line, rest) = if app.last_ok_fetch_unix_ms.is_some() {
        let (primary, secondary) = header_pieces(app);
        let mut first = primary;
        let mut rest = Vec::new();
        for piece in secondary {
            let mut trial_width = joined_width(&first) + piece.span.width();
            if !first.is_empty() {
                trial_width += SEPARATOR.chars().count();
            }
            if rest.is_empty() && trial_width <= room {
                first.push(piece);
            } else {
                rest.push(piece);
            }
        }
        (fit(first, room), rest)
    } else {
        (Line::default(), Vec::new())
    };
    line.spans.insert(0, Span::raw(" "));
    line.spans.insert(0, tag);
    line.style(bold).render(totals, buf);

    let bar = super::tabs::tab_bar(app.tab);
    let bar_width = u16::try_from(bar.width()).unwrap_or(tabs.width);
    let [left, right] =
        Layout::horizontal([Constraint::Length(bar_width), Constraint::Fill(1)]).areas(tabs);
    bar.render(left, buf);
    let room = usize::from(right.width).saturating_sub(1);
    if !rest.is_empty() && room > 0 {
        fit(rest, room)
            .alignment(Alignment::Right)
            .render(right, buf);
    }
}

/// Nodes whose GPUs are ABSENT: `node_absent` fires, or they all fell silent.
fn absent_nodes(app: &App) -> usize {
    let mut start = 0;
    let mut absent = 0;
    for node in app.gpus.chunk_by(|a, b| a.node == b.node) {
        if app.states.get(start) == Some(&GpuState::Absent) {
            absent += 1;
        }
        start += node.len();
    }
    absent
}

/// `alerts 2 crit 1 warn`, red while any is critical; `no alerts`; `alerts ?` when
/// the collector has not answered for alerts yet (the footer says why).
fn alerts_span(app: &App) -> Span<'static> {
    let list = &app.alerts;
    if list.last_ok_fetch_unix_ms.is_none() {
        let text = if list.error.is_some() {
            "alerts ?"
        } else {
            "alerts -"
        };
        return Span::raw(text);
    }
    let counts = list.firing_counts();
    if counts.total() == 0 {
        return Span::raw("no alerts");
    }
    let mut text = String::from("alerts");
    for (n, word) in [
        (counts.critical, "crit"),
        (counts.warning, "warn"),
        (counts.info, "info"),
    ] {
        if n > 0 {
            text.push_str(&format!(" {n} {word}"));
        }
    }
    let style = if counts.critical > 0 {
        Style::new().fg(Color::Red)
    } else if counts.warning > 0 {
        Style::new().fg(Color::Yellow)
    } else {
        Style::new()
    };
    Span::styled(text, style)
}

/// The pieces that always show, and the rest most important first.
fn header_pieces(app: &App) -> (Vec<Piece>, Vec<Piece>) {
    // Whole GPUs: a MIG instance's memory is its parent's already.
    let gpus = || app.gpus.iter().filter(|g| g.parent.is_none());
    let utils: Vec<f64> = gpus()
        .filter_map(|g| g.utilization.filter(|u| u.is_finite()))
        .collect();
    let idle = app
        .gpus
        .iter()
        .zip(&app.states)
        .filter(|(g, &s)| g.parent.is_none() && s == GpuState::Idle)
        .count();
    let sum = |value: fn(&GpuView) -> Option<f64>| -> Option<f64> {
        let known: Vec<f64> = gpus().filter_map(value).filter(|v| v.is_finite()).collect();
        (!known.is_empty()).then(|| known.iter().sum())
    };

    let nodes = app.nodes;
    let instances = app.gpus.len() - gpus().count();
    let gpus_tab = match instances {
        0 => format!("{} GPUs ({idle} idle)", gpus().count()),
        n => format!("{} GPUs, {n} MIG ({idle} idle)", gpus().count()),
    };
    let primary = vec![
        Piece::keep(match absent_nodes(app) {
            0 => format!("{nodes} nodes"),
            absent => format!("{nodes} nodes ({absent} absent)"),
        }),
        Piece::keep(gpus_tab),
        Piece::keep(alerts_span(app)),
    ];
    let mut pieces = Vec::new();
    if !utils.is_empty() {
        let mean = utils.iter().sum::<f64>() / utils.len() as f64;
        let text = format!("util {}", format::percent(Some(mean)).trim_start());
        pieces.push(Piece::droppable(7, text));
    }
    if let Some(burn) = &app.burn {
        let text = format!(
            "${:.2}/h (idle ${:.2}/h)",
            burn.burn_usd_per_hour, burn.idle_burn_usd_per_hour
        );
        let style = if burn.idle_burn_usd_per_hour > 0.0 {
            Style::new().fg(Color::Magenta)
        } else {
            Style::new()
        };
        pieces.push(Piece::droppable(6, Span::styled(text, style)));
    }
    if let Some(watts) = sum(|g| g.power_watts) {
        let text = format!("power {}", format::power_total(watts));
        pieces.push(Piece::droppable(5, text));
    }
    match (sum(|g| g.memory_used_bytes), sum(|g| g.memory_limit_bytes)) {
        (Some(used), Some(total)) => {
            let text = format!("mem {}", format::bytes_binary_pair(used, total));
            pieces.push(Piece::droppable(4, text));
        }
        (Some(used), None) => {
            let text = format!("mem {}", format::bytes_binary(used));
            pieces.push(Piece::droppable(4, text));
        }
        _ => {}
    }
    fn both(a: Option<f64>, b: Option<f64>) -> Option<f64> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        }
    }
    if let Some(rate) = sum(|g| both(g.nvlink_tx_bytes_per_second, g.nvlink_rx_bytes_per_second)) {
        let text = format!("NVLink {}", format::byte_rate(Some(rate)));
        pieces.push(Piece::droppable(3, text));
    }
    if let Some(rate) = sum(|g| both(g.pcie_tx_bytes_per_second, g.pcie_rx_bytes_per_second)) {
        let text = format!("PCIe {}", format::byte_rate(Some(rate)));
        pieces.push(Piece::droppable(2, text));
    }
    (primary, pieces)
}

/// `collector http://127.0.0.1:9464 · data 1.2s old · 8 GPUs · 12,345 points`, or, after
/// a failed fetch, `collector … · stale since 09:59:59 UTC · <why>`; then the filter and
/// sort in force; keys on the right. While a filter is typed, the prompt instead.
pub(super) fn render_footer(app: &App, now_unix_ms: i64, area: Rect, buf: &mut Buffer) {
    let hints;
    let (status, keys): (Vec<Piece>, Vec<&str>) = match &app.mode {
        Mode::Filter { input, error } => (prompt(input, error.as_deref()), KEYS_PROMPT.to_vec()),
        Mode::Help => (status(app, now_unix_ms), KEYS_HELP.to_vec()),
        Mode::Table => {
            hints = key_hints(app);
            (
                status(app, now_unix_ms),
                hints.iter().map(String::as_str).collect(),
            )
        }
    };
    // The longest key help that fits beside the status, else the shortest.
    let width = usize::from(area.width);
    let room_for = |keys: &str| width.saturating_sub(keys.chars().count() + 1);
    let shortest = keys.last().copied().unwrap_or_default();
    let status = fit(status, room_for(shortest));
    let keys = keys
        .iter()
        .copied()
        .find(|k| status.width() <= room_for(k))
        .unwrap_or(shortest);
    let status_width = u16::try_from(status.width()).unwrap_or(area.width);
    let [left, right] =
        Layout::horizontal([Constraint::Length(status_width), Constraint::Fill(1)]).areas(area);
    status.render(left, buf);
    Line::from(Span::styled(keys, Style::new().fg(Color::DarkGray)))
        .alignment(Alignment::Right)
        .render(right, buf);
}

fn status(app: &App, now_unix_ms: i64) -> Vec<Piece> {
    let alarm = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD);
    let failed = app.last_error.is_some();
    let mut pieces = vec![Piece {
        span: Span::raw(app.source.clone()),
        // After a failure, why matters more than where.
        drop_rank: Some(if failed { 0 } else { 3 }),
    }];
    if app.paused {
        pieces.push(Piece::keep(Span::styled(
            "PAUSED",
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        )));
    }
    match (&app.last_error, app.last_ok_fetch_unix_ms) {
        (Some(error), last_ok) => {
            let since = last_ok.map_or_else(
                || "no data yet".to_string(),
                |t| format!("stale since {}", format::clock_utc(t)),
            );
            pieces.push(Piece::keep(Span::styled(since, alarm)));
            pieces.push(Piece::keep(Span::styled(error.clone(), alarm)));
            if let Some((attempt, retry_in_ms)) = app.reconnect {
                let text = format!(
                    "retrying every {} ({attempt} failed)",
                    format::age_short(i64::try_from(retry_in_ms).unwrap_or(i64::MAX))
                );
                pieces.push(Piece::droppable(1, text));
            }
        }
        (None, None) => pieces.push(Piece::keep("connecting…")),
        (None, Some(_)) => {
            let age = match app.newest_point_unix_ms {
                Some(t) => format!("data {} old", format::age(now_unix_ms - t)),
                None => "no points yet".to_string(),
            };
            pieces.push(Piece::keep(age));
            if app.filter.is_empty() {
                pieces.push(Piece::droppable(1, format!("{} GPUs", app.gpus.len())));
            }
            let points = format::thousands(app.points_received);
            pieces.push(Piece::droppable(2, format!("{points} points")));
        }
    }
    if let (None, Some(first)) = (&app.last_error, app.partial.first()) {
        let warn = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
        let text = match app.partial.len() {
            1 => format!("partial: {first}"),
            n => format!("partial: {n} collectors down: {first}"),
        };
        pieces.push(Piece::keep(Span::styled(text, warn)));
    }
    // Only when the GPUs came: with the collector down, its error says it all.
    if let (None, Some(error)) = (&app.last_error, &app.alerts.error) {
        let warn = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
        pieces.push(Piece::keep(Span::styled(format!("alerts: {error}"), warn)));
    }
    if !app.sort.is_default() {
        let text = format!("sort {}{}", app.sort.column.label(), app.sort.arrow());
        pieces.push(Piece::droppable(4, text));
    }
    if !app.filter.is_empty() {
        let shown = format!("{}/{} GPUs", app.shown_gpus(), app.gpus.len());
        pieces.push(Piece::droppable(5, shown));
        let text = format!("filter {}", app.filter.text());
        pieces.push(Piece::keep(Span::styled(
            text,
            Style::new().add_modifier(Modifier::BOLD),
        )));
    }
    pieces
}

/// `filter › util<5█`, and after a refused Enter, `✗ <why>`.
fn prompt(input: &str, error: Option<&str>) -> Vec<Piece> {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut pieces = vec![Piece::keep(Span::styled(
        format!("filter › {input}█"),
        bold,
    ))];
    if let Some(error) = error {
        let alarm = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD);
        pieces.push(Piece::keep(Span::styled(format!("✗ {error}"), alarm)));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &Line<'_>) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn fit_drops_the_lowest_rank_first_then_cuts() {
        let pieces = || {
            vec![
                Piece::keep("alpha"),
                Piece::droppable(2, "bravo"),
                Piece::droppable(1, "charlie"),
            ]
        };
        assert_eq!(text(&fit(pieces(), 40)), "alpha · bravo · charlie");
        assert_eq!(text(&fit(pieces(), 22)), "alpha · bravo");
        assert_eq!(text(&fit(pieces(), 5)), "alpha");
        assert_eq!(text(&fit(pieces(), 4)), "alp…");
        assert_eq!(text(&fit(pieces(), 0)), "");
    }
}
