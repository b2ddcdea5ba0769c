//! The GPU table: a title row, then for each node a header row with its totals (▾
//! unfolded, ▸ folded) and its worst state, and, unless folded, one row per GPU with
//! its state badge. Only the rows on screen
//! are built, and each cell is written straight into the buffer at the place the
//! column layout gives it (ratatui's `Table` would solve the same layout again each
//! frame), so a frame costs about the same for 8 GPUs or 1,024.

use gpuwatch_model::api::GpuView;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::columns::{
    column_layout, ColumnLayout, GPU_INDENT, HIGHLIGHT_SYMBOL, HIGHLIGHT_WIDTH, MEMORY_TEXT,
    SPACING,
};
use super::node_totals::{node_label, Distinct, NodeTotals};
use super::STALE_GPU_MS;
use crate::app::{App, NodeGroup, RowRef};
use crate::column::Column;
use crate::format::{self, MISSING};
use crate::gpu_state::GpuState;

const FOLDED: &str = "▸ ";
const UNFOLDED: &str = "▾ ";

/// The values a row shows, from one GPU or from a node's totals.
struct RowValues<'a> {
    name: String,
    model: std::borrow::Cow<'a, str>,
    utilization: Option<f64>,
    memory_ratio: Option<f64>,
    memory_text: String,
    power_watts: Option<f64>,
    power_limit_watts: Option<f64>,
    temperature_celsius: Option<f64>,
    rates: [Option<f64>; 4],
    state: GpuState,
    /// Whether the GPU (or a GPU of the node) runs a job: an idle one then costs.
    has_job: bool,
    job: std::borrow::Cow<'a, str>,
    team: std::borrow::Cow<'a, str>,
}

impl<'a> RowValues<'a> {
    fn gpu(gpu: &'a GpuView, state: GpuState) -> Self {
        let memory_ratio = match (gpu.memory_used_bytes, gpu.memory_limit_bytes) {
            (Some(u), Some(l)) if l > 0.0 => Some(u / l),
            _ => None,
        };
        RowValues {
            name: format!("{GPU_INDENT}{}", gpu.name),
            model: match &gpu.mig_profile {
                Some(profile) => format!("MIG {profile}").into(),
                None => gpu
                    .model
                    .as_deref()
                    .map_or(MISSING, format::short_model)
                    .into(),
            },
            utilization: gpu.utilization,
            memory_ratio,
            memory_text: format::memory_used_of_limit(
                gpu.memory_used_bytes,
                gpu.memory_limit_bytes,
            ),
            power_watts: gpu.power_watts,
            power_limit_watts: gpu.power_limit_watts,
            temperature_celsius: gpu.temperature_celsius,
            rates: [
                gpu.nvlink_tx_bytes_per_second,
                gpu.nvlink_rx_bytes_per_second,
                gpu.pcie_tx_bytes_per_second,
                gpu.pcie_rx_bytes_per_second,
            ],
            state,
            has_job: gpu.job.is_some(),
            job: gpu.job.as_deref().unwrap_or(MISSING).into(),
            team: gpu.team.as_deref().unwrap_or(MISSING).into(),
        }
    }

    fn node(group: &NodeGroup, totals: &NodeTotals<'a>, state: GpuState) -> Self {
        let mark = if group.folded { FOLDED } else { UNFOLDED };
        RowValues {
            name: format!("{mark}{}", node_label(group)),
            model: totals.model.text("models"),
            utilization: totals.utilization,
            memory_ratio: totals.memory_ratio(),
            memory_text: format::memory_used_of_limit(
                totals.memory_used_bytes,
                totals.memory_limit_bytes,
            ),
            power_watts: totals.power_watts,
            power_limit_watts: totals.power_limit_watts,
            temperature_celsius: totals.temperature_celsius,
            rates: [
                totals.nvlink_tx_bytes_per_second,
                totals.nvlink_rx_bytes_per_second,
                totals.pcie_tx_bytes_per_second,
                totals.pcie_rx_bytes_per_second,
            ],
            state,
            has_job: totals.job != Distinct::None,
            job: totals.job.text("jobs"),
            team: totals.team.text("teams"),
        }
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

fn right(text: &str, width: u16) -> String {
    format!("{text:>w$}", w = usize::from(width))
}

fn bar_cell(ratio: Option<f64>, bar_width: u16, text: String, color: Color) -> Line<'static> {
    let (filled, empty) = bar(ratio, bar_width);
    Line::from(vec![
        Span::styled(filled, Style::new().fg(color)),
        Span::styled(empty, Style::new().fg(Color::DarkGray)),
        Span::raw(" "),
        Span::raw(text),
    ])
}

/// The badge's colour; the word says the same without it. Red for a GPU that does
/// nothing or fails (white on red for XID and HANG, the pages), yellow for one that is
/// slow, magenta for IDLE (bold when a job holds it: money spent on nothing), green
/// for OK.
pub(crate) fn state_style(state: GpuState, has_job: bool) -> Style {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    match state {
        GpuState::Xid | GpuState::Hang => bold.fg(Color::White).bg(Color::Red),
        GpuState::Absent | GpuState::Stall => bold.fg(Color::Red),
        GpuState::Straggler | GpuState::Starved | GpuState::Throttle => {
            Style::new().fg(Color::Yellow)
        }
        GpuState::Idle if has_job => bold.fg(Color::Magenta),
        GpuState::Idle => Style::new().fg(Color::Magenta),
        GpuState::Ok => Style::new().fg(Color::Green),
    }
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

/// `612/700W`; a node's sum that does not fit in kilowatts, `12.3/16.0kW` or `12/16kW`.
fn power_text(watts: Option<f64>, limit: Option<f64>, width: u16) -> String {
    let fits = |text: &String| text.chars().count() <= usize::from(width);
    let text = format::power_of_limit(watts, limit);
    if fits(&text) {
        return text;
    }
    let kw = |decimals: usize| match (watts, limit) {
        (Some(w), Some(l)) => format!("{:.decimals$}/{:.decimals$}kW", w / 1e3, l / 1e3),
        (Some(w), None) => format!("{:.decimals$}kW", w / 1e3),
        _ => format::power_of_limit(watts, limit),
    };
    [kw(1), kw(0)].into_iter().find(fits).unwrap_or(text)
}

fn cell(
    values: &RowValues<'_>,
    column: Column,
    layout: &ColumnLayout,
    width: u16,
) -> Line<'static> {
    let text = |s: &str| Line::from(format::truncate(s, usize::from(width)));
    let rate = |i: usize| Line::from(right(&format::byte_rate(values.rates[i]), width));
    match column {
        Column::Name => text(&values.name),
        Column::Model => text(&values.model),
        Column::Util => bar_cell(
            values.utilization,
            layout.util_bar,
            format::percent(values.utilization),
            Color::Green,
        ),
        Column::Memory => bar_cell(
            values.memory_ratio,
            layout.memory_bar,
            right(&values.memory_text, MEMORY_TEXT),
            Color::Cyan,
        ),
        Column::Power => Line::from(right(
            &power_text(values.power_watts, values.power_limit_watts, width),
            width,
        ))
        .style(power_style(values.power_watts, values.power_limit_watts)),
        Column::Temp => Line::from(right(
            &format::temperature(values.temperature_celsius),
            width,
        ))
        .style(temperature_style(values.temperature_celsius)),
        Column::NvlinkTx => rate(0),
        Column::NvlinkRx => rate(1),
        Column::PcieTx => rate(2),
        Column::PcieRx => rate(3),
        Column::State => {
            Line::from(values.state.word()).style(state_style(values.state, values.has_job))
        }
        Column::Job => text(&values.job),
        Column::Team => text(&values.team),
    }
}

fn header(app: &App, layout: &ColumnLayout) -> Vec<Line<'static>> {
    layout
        .columns
        .iter()
        .map(|&(c, w)| {
            let mut title = c.title().to_string();
            if c == app.sort.column && !app.sort.is_default() {
                title.push_str(app.sort.arrow());
            }
            // Numbers are right-aligned, and so are their titles.
            let left = matches!(
                c,
                Column::Name
                    | Column::Model
                    | Column::Util
                    | Column::Memory
                    | Column::State
                    | Column::Job
                    | Column::Team
            );
            Line::from(if left { title } else { right(&title, w) })
        })
        .collect()
}

/// Writes one row at line `y` of `area`: `style` across the whole line, the selection
/// mark (or blanks), then each cell in its column.
fn draw_row(
    buf: &mut Buffer,
    area: Rect,
    y: u16,
    layout: &ColumnLayout,
    cells: Vec<Line<'static>>,
    style: Style,
    mark: &str,
) {
    let line = Rect::new(area.x, y, area.width, 1);
    buf.set_style(line, style);
    buf.set_stringn(area.x, y, mark, usize::from(area.width), Style::new());
    let mut x = area.x.saturating_add(HIGHLIGHT_WIDTH);
    for (cell, &(_, width)) in cells.into_iter().zip(&layout.columns) {
        let place = Rect::new(x, y, width, 1).intersection(line);
        if place.is_empty() {
            break;
        }
        cell.render(place, buf);
        x = x.saturating_add(width + SPACING);
    }
}

/// Draws the table of `app`'s rows into `area`: a title row, then the rows from the
/// app's scroll offset on, the selected one marked `▶` and reversed.
pub(crate) fn render_table(app: &App, area: Rect, buf: &mut Buffer) {
    if area.is_empty() {
        return;
    }
    let layout = column_layout(&app.gpus, &app.groups, area.width);
    let title = Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
    draw_row(buf, area, area.y, &layout, header(app, &layout), title, "");

    let newest = app.newest_point_unix_ms;
    // Dimmed: fell silent, or the whole view is old after a failed fetch.
    let stale = |last_seen: i64| {
        app.last_error.is_some() || newest.is_some_and(|n| n - last_seen > STALE_GPU_MS)
    };
    let body = usize::from(area.height - 1);
    let end = app.rows.len().min(app.offset.saturating_add(body));
    let visible = app.rows.get(app.offset..end).unwrap_or_default();
    for (i, &row) in visible.iter().enumerate() {
        let (values, last_seen, mut style) = match row {
            RowRef::Node { group } => {
                let group = &app.groups[group];
                let totals = NodeTotals::of(&app.gpus, group);
                let seen = totals.last_seen_unix_ms;
                let bold = Style::new().add_modifier(Modifier::BOLD);
                let state = app.node_state(group);
                (RowValues::node(group, &totals, state), seen, bold)
            }
            RowRef::Gpu { gpu: i, .. } => {
                let gpu = &app.gpus[i];
                let state = app.states.get(i).copied().unwrap_or_default();
                (
                    RowValues::gpu(gpu, state),
                    gpu.last_seen_unix_ms,
                    Style::new(),
                )
            }
        };
        if stale(last_seen) {
            style = style.add_modifier(Modifier::DIM);
        }
        let selected = app.offset + i == app.selected;
        let (mark, style) = if selected {
            (HIGHLIGHT_SYMBOL, style.add_modifier(Modifier::REVERSED))
        } else {
            ("", style)
        };
        let cells = layout
            .columns
            .iter()
            .map(|&(c, w)| cell(&values, c, &layout, w))
            .collect();
        let y = area.y + 1 + u16::try_from(i).unwrap_or(u16::MAX);
        draw_row(buf, area, y, &layout, cells, style, mark);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_in_proportion() {
        assert_eq!(bar(Some(0.52), 10), ("█████".into(), "░░░░░".into()));
        assert_eq!(bar(Some(1.5), 4), ("████".into(), String::new()));
        assert_eq!(bar(Some(0.0), 3), (String::new(), "░░░".into()));
        assert_eq!(bar(None, 3), (String::new(), "   ".into()));
    }

    #[test]
    fn node_power_switches_to_kilowatts_to_fit() {
        assert_eq!(power_text(Some(4200.0), Some(5600.0), 10), "4200/5600W");
        assert_eq!(
            power_text(Some(12_345.0), Some(16_000.0), 11),
            "12.3/16.0kW"
        );
        assert_eq!(power_text(Some(12_345.0), Some(16_000.0), 10), "12/16kW");
        assert_eq!(power_text(Some(12_345.0), None, 10), "12345W");
        assert_eq!(power_text(None, None, 10), "-");
    }
}
