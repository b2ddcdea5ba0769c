//! The `?` overlay: every key, and the filter language in brief.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Widget};

/// Key, what it does. The one list of keys: the footer's hints are a short selection.
/// Eleven lines, so that with the filter language it fits 80x24.
pub(crate) const KEYS: [(&str, &str); 11] = [
    (
        "Tab  1-5",
        "views: 1 GPUs 2 Alerts 3 Nodes 4 Inference 5 Cost",
    ),
    (
        "↑↓ jk PgUp PgDn",
        "move a row / a page; Home End g G: first / last",
    ),
    ("Enter", "GPU: its detail (↑↓ the next GPU) · node: fold"),
    (
        "space ← → h l",
        "fold / unfold the node of the row; c: every node",
    ),
    ("s  S", "sort by the next column / reverse the sort"),
    ("/", "filter: Enter applies, Esc cancels"),
    (
        "Esc",
        "back out: the detail, the filter, the tab, then quit",
    ),
    ("p", "pause / resume"),
    (
        "mouse",
        "with --mouse: click a tab or a row; the wheel scrolls",
    ),
    ("?", "this help (Esc or ? closes)"),
    ("q  Ctrl-C", "quit"),
];

/// The filter language: an example, what it means.
const FILTER: [(&str, &str); 5] = [
    ("h100 search", "words in node, GPU, model, job, team"),
    ("util<5 mem>50", "utilization, memory: % (of limit)"),
    ("power>300 temp>80", "watts, °C; also <= and >="),
    ("node=node-0*", "also gpu= model= job= team=; != not"),
    (
        "state=idle",
        "ok idle throttle starved straggler stall hang xid absent",
    ),
];

const KEY_WIDTH: usize = 16;
const EXAMPLE_WIDTH: usize = 18;

/// Draws the help box in the middle of `area`, over what is there.
pub(crate) fn render_help(area: Rect, buf: &mut Buffer) {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(format!("{key:<KEY_WIDTH$}"), bold),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::default());
    lines.push(Line::styled(
        "Filter (/): every term must match; * any text",
        bold,
    ));
    lines.extend(FILTER.iter().map(|(example, what)| {
        Line::from(vec![
            Span::raw(format!("{example:<EXAMPLE_WIDTH$}")),
            Span::raw(*what),
        ])
    }));

    let width = lines.iter().map(Line::width).max().unwrap_or(0) + 4;
    let height = lines.len() + 2;
    let width = u16::try_from(width).unwrap_or(u16::MAX).min(area.width);
    let height = u16::try_from(height).unwrap_or(u16::MAX).min(area.height);
    let [row] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(row);
    Clear.render(popup, buf);
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .title(Line::styled(" keys ", bold).centered())
        .padding(ratatui::widgets::Padding::horizontal(1));
    Paragraph::new(lines).block(block).render(popup, buf);
}
