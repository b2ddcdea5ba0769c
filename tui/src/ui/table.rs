//! The GPU table: which columns fit the terminal, how wide each one is, and one row per
//! GPU. Numbers have fixed widths so columns do not jump as values change; names take
//! the width of the longest one, up to a cap.

use gpuwatch_model::api::GpuView;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, HighlightSpacing, Row, StatefulWidget, Table, TableState};

use crate::app::App;
use crate::format::{self, MISSING};

/// Marks the selected row, so the selection shows without colour too.
const HIGHLIGHT_SYMBOL: &str = "▶ ";
const SPACING: u16 = 1;
const MIN_BAR: u16 = 5;
const MAX_BAR: u16 = 24;
/// `99.9/99.9G`, `1024/1024G`.
const MEMORY_TEXT: u16 = 10;
/// `1000/1000W`.
const POWER_TEXT: u16 = 10;
/// `100°C`.
const TEMP_TEXT: u16 = 5;
/// `999.9G/s`.
const RATE_TEXT: u16 = 8;
/// ` 52%`.
const PERCENT_TEXT: u16 = 4;
/// A GPU whose newest point is this far behind the newest point of all is dimmed.
const STALE_GPU_MS: i64 = 15_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Node,
    Gpu,
    Model,
    Util,
    Memory,
    Power,
    Temp,
    NvlinkTx,
    NvlinkRx,
    Job,
}

impl Column {
    /// Left to right.
    const ALL: [Column; 10] = [
        Column::Node,
        Column::Gpu,
        Column::Model,
        Column::Util,
        Column::Memory,
        Column::Power,
        Column::Temp,
        Column::NvlinkTx,
        Column::NvlinkRx,
        Column::Job,
    ];

    /// What goes when the terminal is too narrow for everything, first to last. Node,
    /// GPU, utilization and memory always stay.
    const DROP_ORDER: [&'static [Column]; 5] = [
        &[Column::Model],
        &[Column::NvlinkTx, Column::NvlinkRx],
        &[Column::Job],
        &[Column::Temp],
        &[Column::Power],
    ];

    fn title(self) -> &'static str {
        match self {
            Column::Node => "NODE",
            Column::Gpu => "GPU",
            Column::Model => "MODEL",
            Column::Util => "UTIL",
            Column::Memory => "MEMORY",
            Column::Power => "POWER",
            Column::Temp => "TEMP",
            Column::NvlinkTx => "NVL TX",
            Column::NvlinkRx => "NVL RX",
            Column::Job => "JOB",
        }
    }

    /// Numbers are right-aligned, and so are their titles.
    fn right_aligned(self) -> bool {
        matches!(
            self,
            Column::Power | Column::Temp | Column::NvlinkTx | Column::NvlinkRx
        )
    }
}

/// The columns that fit and their widths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ColumnLayout {
    pub(crate) columns: Vec<(Column, u16)>,
    pub(crate) util_bar: u16,
    pub(crate) memory_bar: u16,
}

/// The width of the longest of `texts` and `title`, at most `cap`.
fn natural_width<'a>(texts: impl Iterator<Item = &'a str>, title: &str, cap: u16) -> u16 {
    let longest = texts
        .map(|t| t.chars().count())
        .chain([title.chars().count(), MISSING.len()])
        .max()
        .unwrap_or(0);
    u16::try_from(longest).unwrap_or(u16::MAX).min(cap)
}

pub(crate) fn column_layout(gpus: &[GpuView], width: u16) -> ColumnLayout {
    let models: Vec<String> = gpus
        .iter()
        .filter_map(|g| g.model.as_deref().map(format::short_model))
        .collect();
    let base = |c: Column| -> u16 {
        match c {
            Column::Node => natural_width(gpus.iter().map(|g| g.node.as_str()), "NODE", 20),
            Column::Gpu => natural_width(gpus.iter().map(|g| g.name.as_str()), "GPU", 6),
            Column::Model => natural_width(models.iter().map(String::as_str), "MODEL", 16),
            Column::Util => MIN_BAR + 1 + PERCENT_TEXT,
            Column::Memory => MIN_BAR + 1 + MEMORY_TEXT,
            Column::Power => POWER_TEXT,
            Column::Temp => TEMP_TEXT,
            Column::NvlinkTx | Column::NvlinkRx => RATE_TEXT,
            Column::Job => natural_width(gpus.iter().filter_map(|g| g.job.as_deref()), "JOB", 16),
        }
    };
    let mut columns: Vec<(Column, u16)> = Column::ALL.iter().map(|&c| (c, base(c))).collect();
    let total = |cols: &[(Column, u16)]| -> u16 {
        let cells: u16 = cols.iter().map(|(_, w)| w).sum();
        let gaps = SPACING * u16::try_from(cols.len().saturating_sub(1)).unwrap_or(0);
        HIGHLIGHT_SYMBOL.chars().count() as u16 + cells + gaps
    };
    for victims in Column::DROP_ORDER {
        if total(&columns) <= width {
            break;
        }
        columns.retain(|(c, _)| !victims.contains(c));
    }
    // What is left over widens the bars, evenly, up to a cap.
    let spare = width.saturating_sub(total(&columns));
    let util_extra = (spare / 2).min(MAX_BAR - MIN_BAR);
    let memory_extra = (spare - util_extra).min(MAX_BAR - MIN_BAR);
    for (c, w) in &mut columns {
        match c {
            Column::Util => *w += util_extra,
            Column::Memory => *w += memory_extra,
            _ => {}
        }
    }
    // Then long job names get their full width back, up to a cap.
    let spare = width.saturating_sub(total(&columns));
    let job_full = natural_width(gpus.iter().filter_map(|g| g.job.as_deref()), "JOB", 32);
    for (c, w) in &mut columns {
        if *c == Column::Job {
            *w += job_full.saturating_sub(*w).min(spare);
        }
    }
    ColumnLayout {
        columns,
        util_bar: MIN_BAR + util_extra,
        memory_bar: MIN_BAR + memory_extra,
    }
}

/// A bar of `width` cells for a 0..1 ratio, as (filled, empty) parts: `█████░░░░░`.
/// Readable without colour; a missing ratio is an empty (blank) bar.
pub(crate) fn bar(ratio: Option<f64>, width: u16) -> (String, String) {
    let width = usize::from(width);
    match ratio.filter(|r| r.is_finite()) {
        Some(r) => {
            let filled = ((r.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
            ("█".repeat(filled), "░".repeat(width - filled))
        }
        None => (String::new(), " ".repeat(width)),
    }
}

fn right(text: String, width: u16) -> String {
    format!("{text:>w$}", w = usize::from(width))
}

fn bar_cell(ratio: Option<f64>, bar_width: u16, text: String, color: Color) -> Cell<'static> {
    let (filled, empty) = bar(ratio, bar_width);
    Cell::from(Line::from(vec![
        Span::styled(filled, Style::new().fg(color)),
        Span::styled(empty, Style::new().fg(Color::DarkGray)),
        Span::raw(" "),
        Span::raw(text),
    ]))
}

fn temperature_style(celsius: Option<f64>) -> Style {
    match celsius {
        Some(c) if c >= 85.0 => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        Some(c) if c >= 75.0 => Style::new().fg(Color::Yellow),
        _ => Style::new(),
    }
}

fn power_style(watts: Option<f64>, limit: Option<f64>) -> Style {
    match (watts, limit) {
        (Some(w), Some(l)) if l > 0.0 && w >= 0.95 * l => Style::new().fg(Color::Yellow),
        _ => Style::new(),
    }
}

fn cell(
    gpu: &GpuView,
    same_node_as_previous: bool,
    column: Column,
    layout: &ColumnLayout,
    width: u16,
) -> Cell<'static> {
    match column {
        Column::Node => {
            let style = if same_node_as_previous {
                Style::new().fg(Color::DarkGray)
            } else {
                Style::new().add_modifier(Modifier::BOLD)
            };
            Cell::from(format::truncate(&gpu.node, usize::from(width))).style(style)
        }
        Column::Gpu => Cell::from(format::truncate(&gpu.name, usize::from(width))),
        Column::Model => {
            let model = gpu.model.as_deref().map(format::short_model);
            Cell::from(format::truncate(
                model.as_deref().unwrap_or(MISSING),
                usize::from(width),
            ))
        }
        Column::Util => bar_cell(
            gpu.utilization,
            layout.util_bar,
            format::percent(gpu.utilization),
            Color::Green,
        ),
        Column::Memory => {
            let ratio = match (gpu.memory_used_bytes, gpu.memory_limit_bytes) {
                (Some(u), Some(l)) if l > 0.0 => Some(u / l),
                _ => None,
            };
            let text = format::memory_used_of_limit(gpu.memory_used_bytes, gpu.memory_limit_bytes);
            bar_cell(
                ratio,
                layout.memory_bar,
                right(text, MEMORY_TEXT),
                Color::Cyan,
            )
        }
        Column::Power => Cell::from(right(
            format::power_of_limit(gpu.power_watts, gpu.power_limit_watts),
            width,
        ))
        .style(power_style(gpu.power_watts, gpu.power_limit_watts)),
        Column::Temp => Cell::from(right(format::temperature(gpu.temperature_celsius), width))
            .style(temperature_style(gpu.temperature_celsius)),
        Column::NvlinkTx => Cell::from(right(
            format::byte_rate(gpu.nvlink_tx_bytes_per_second),
            width,
        )),
        Column::NvlinkRx => Cell::from(right(
            format::byte_rate(gpu.nvlink_rx_bytes_per_second),
            width,
        )),
        Column::Job => Cell::from(format::truncate(
            gpu.job.as_deref().unwrap_or(MISSING),
            usize::from(width),
        )),
    }
}

/// Draws the table of `app`'s GPUs into `area`: a title row, then the rows from the
/// app's scroll offset on, with the selected row highlighted.
pub(crate) fn render_table(app: &App, area: Rect, buf: &mut Buffer) {
    let layout = column_layout(&app.gpus, area.width);
    let header = Row::new(layout.columns.iter().map(|&(c, w)| {
        let title = if c.right_aligned() {
            right(c.title().to_string(), w)
        } else {
            c.title().to_string()
        };
        Cell::from(title)
    }))
    .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let newest = app.newest_point_unix_ms;
    let rows = app.gpus.iter().enumerate().map(|(i, gpu)| {
        let same_node = i > 0 && app.gpus[i - 1].node == gpu.node;
        let cells = layout
            .columns
            .iter()
            .map(|&(c, w)| cell(gpu, same_node, c, &layout, w));
        // Dimmed: this GPU fell silent, or the whole view is old after a failed fetch.
        let stale = app.last_error.is_some()
            || newest.is_some_and(|n| n - gpu.last_seen_unix_ms > STALE_GPU_MS);
        let style = if stale {
            Style::new().add_modifier(Modifier::DIM)
        } else {
            Style::new()
        };
        Row::new(cells.collect::<Vec<_>>()).style(style)
    });
    let widths = layout.columns.iter().map(|&(_, w)| Constraint::Length(w));
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(SPACING)
        .highlight_symbol(HIGHLIGHT_SYMBOL)
        .highlight_spacing(HighlightSpacing::Always)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let selected = (!app.gpus.is_empty()).then_some(app.selected);
    let mut state = TableState::new()
        .with_offset(app.offset)
        .with_selected(selected);
    // The state is a local copy: rendering never changes the app.
    StatefulWidget::render(table, area, buf, &mut state);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(layout: &ColumnLayout) -> Vec<Column> {
        layout.columns.iter().map(|&(c, _)| c).collect()
    }

    fn full_width(layout: &ColumnLayout) -> u16 {
        let cells: u16 = layout.columns.iter().map(|&(_, w)| w).sum();
        2 + cells + layout.columns.len() as u16 - 1
    }

    fn sample_gpus() -> Vec<GpuView> {
        vec![GpuView {
            node: "node-01".into(),
            name: "gpu0".into(),
            model: Some("NVIDIA H100 80GB HBM3".into()),
            job: Some("4411".into()),
            ..GpuView::default()
        }]
    }

    #[test]
    fn wide_terminals_get_every_column_and_wider_bars() {
        let layout = column_layout(&sample_gpus(), 160);
        assert_eq!(names(&layout), Column::ALL.to_vec());
        assert!(layout.util_bar > MIN_BAR && layout.memory_bar > MIN_BAR);
        assert!(layout.util_bar <= MAX_BAR && layout.memory_bar <= MAX_BAR);
        assert!(full_width(&layout) <= 160);
    }

    #[test]
    fn narrow_terminals_drop_the_least_important_columns_first() {
        let at_80 = column_layout(&sample_gpus(), 80);
        assert!(!names(&at_80).contains(&Column::Model));
        assert!(names(&at_80).contains(&Column::Job));
        assert!(names(&at_80).contains(&Column::Temp));
        assert!(full_width(&at_80) <= 80);

        let at_60 = column_layout(&sample_gpus(), 60);
        let kept = names(&at_60);
        for must in [Column::Node, Column::Gpu, Column::Util, Column::Memory] {
            assert!(kept.contains(&must), "{must:?} at 60 columns");
        }
        assert!(full_width(&at_60) <= 60);
    }

    #[test]
    fn bars_fill_in_proportion() {
        assert_eq!(bar(Some(0.52), 10), ("█████".into(), "░░░░░".into()));
        assert_eq!(bar(Some(1.5), 4), ("████".into(), String::new()));
        assert_eq!(bar(Some(0.0), 3), (String::new(), "░░░".into()));
        assert_eq!(bar(None, 3), (String::new(), "   ".into()));
    }
}
