//! One GPU in detail, over the tab: who and what it is, its newest values, charts of
//! utilization, memory, power, NVLink and PCIe over the collector's window, its
//! processes with memory and job, and the alerts that touch it.

use gpuwatch_model::api::{Chart, GpuDetailResponse, GpuView, ProcessView};
use gpuwatch_model::Alert;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::spark::render_blocks;
use super::table::state_style;
use crate::app::{touches, App};
use crate::format;
use crate::gpu_state::GpuState;

/// The label column left of each chart.
const LABEL_WIDTH: u16 = 18;
const MAX_CHART_ROWS: u16 = 6;
/// Rows kept for processes and for alerts, each with its title, when there are some.
const MAX_LIST_ROWS: usize = 4;

/// How a chart's values read.
fn chart_value(chart: &Chart, v: f64) -> String {
    match chart.name.as_str() {
        "utilization" => format::percent(Some(v)).trim_start().to_string(),
        "memory" => format!("{}G", format::gib(v)),
        "power" => format!("{v:.0} W"),
        _ => format::byte_rate(Some(v)),
    }
}

/// The top of a chart's scale: the GPU's limit where there is one.
fn chart_max(chart: &Chart, gpu: &GpuView) -> Option<f64> {
    match chart.name.as_str() {
        "utilization" => Some(1.0),
        "memory" => gpu.memory_limit_bytes,
        "power" => gpu.power_limit_watts,
        _ => None,
    }
}

fn chart_title(name: &str) -> &str {
    match name {
        "utilization" => "UTIL",
        "memory" => "MEMORY",
        "power" => "POWER",
        "nvlink" => "NVLINK tx+rx",
        "pcie" => "PCIE tx+rx",
        other => other,
    }
}

fn chart_style(name: &str) -> Style {
    Style::new().fg(match name {
        "utilization" => Color::Green,
        "memory" => Color::Cyan,
        "power" => Color::Yellow,
        "nvlink" => Color::Magenta,
        _ => Color::Blue,
    })
}

/// A MIG instance whose parent's UUID did not arrive.
const MISSING_PARENT: &str = "its GPU";

/// `node-01 gpu2 · H100 80GB HBM3 · GPU-… · job 4411 (llm-pretrain) · STRAGGLER`; a MIG
/// instance adds `MIG 1g.10gb of GPU-…`.
fn title_line(gpu: &GpuView, state: GpuState) -> Line<'static> {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut spans = vec![
        Span::styled(format!("{} {}", gpu.node, gpu.name), bold),
        Span::raw(" "),
        Span::styled(
            format!(" {} ", state.word()),
            state_style(state, gpu.job.is_some()),
        ),
    ];
    let mut rest = Vec::new();
    if let Some(model) = &gpu.model {
        rest.push(format::short_model(model).to_string());
    }
    if let Some(profile) = &gpu.mig_profile {
        let parent = gpu.parent.as_deref().unwrap_or(MISSING_PARENT);
        rest.push(format!("MIG {profile} of {parent}"));
    }
    match (&gpu.job, &gpu.team) {
        (Some(job), Some(team)) => rest.push(format!("job {job} ({team})")),
        (Some(job), None) => rest.push(format!("job {job}")),
        (None, Some(team)) => rest.push(format!("team {team}")),
        (None, None) => rest.push("no job".to_string()),
    }
    rest.push(gpu.id.clone());
    for piece in rest {
        spans.push(Span::raw(" · "));
        spans.push(Span::raw(piece));
    }
    Line::from(spans)
}

/// `util 52% · mem 70.8/80.0G · power 455/700W · 64°C · NVLink ↑95.0G/s ↓93.1G/s · ...`.
fn values_line(gpu: &GpuView) -> Line<'static> {
    let pair = |tx: Option<f64>, rx: Option<f64>| {
        format!("↑{} ↓{}", format::byte_rate(tx), format::byte_rate(rx))
    };
    Line::from(
        [
            format!("util {}", format::percent(gpu.utilization).trim_start()),
            format!(
                "mem {}",
                format::memory_used_of_limit(gpu.memory_used_bytes, gpu.memory_limit_bytes)
            ),
            format!(
                "power {}",
                format::power_of_limit(gpu.power_watts, gpu.power_limit_watts).trim_start()
            ),
            format::temperature(gpu.temperature_celsius)
                .trim_start()
                .to_string(),
            format!(
                "NVLink {}",
                pair(
                    gpu.nvlink_tx_bytes_per_second,
                    gpu.nvlink_rx_bytes_per_second
                )
            ),
            format!(
                "PCIe {}",
                pair(gpu.pcie_tx_bytes_per_second, gpu.pcie_rx_bytes_per_second)
            ),
        ]
        .join(" · "),
    )
}

/// The charts, each `rows` tall: a label column (title, now, max) and the blocks.
fn render_charts(data: &GpuDetailResponse, gpu: &GpuView, rows: u16, area: Rect, buf: &mut Buffer) {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    for (i, chart) in data.charts.iter().enumerate() {
        let y = area.y + u16::try_from(i).unwrap_or(0) * rows;
        if y + rows > area.bottom() {
            break;
        }
        let band = Rect::new(area.x, y, area.width, rows);
        let [label, plot] =
            Layout::horizontal([Constraint::Length(LABEL_WIDTH), Constraint::Fill(1)]).areas(band);
        let now = chart
            .last()
            .map_or_else(|| format::MISSING.to_string(), |v| chart_value(chart, v));
        let max = chart_value(chart, chart.max());
        let lines: Vec<Line> = if rows == 1 {
            vec![Line::from(vec![
                Span::styled(format!("{:<7}", chart_title(&chart.name)), bold),
                Span::raw(now),
            ])]
        } else {
            vec![
                Line::styled(chart_title(&chart.name).to_string(), bold),
                Line::raw(format!("now {now}")),
                Line::raw(format!("max {max}")),
            ]
        };
        for (j, line) in lines.into_iter().take(usize::from(rows)).enumerate() {
            let row = Rect::new(
                label.x,
                label.y + u16::try_from(j).unwrap_or(0),
                label.width,
                1,
            );
            line.render(row, buf);
        }
        if chart.points.is_empty() {
            buf.set_stringn(
                plot.x,
                plot.bottom() - 1,
                "no data in the window",
                usize::from(plot.width),
                Style::new().fg(Color::DarkGray),
            );
            continue;
        }
        let style = chart_style(&chart.name);
        buf.set_style(plot, Style::new().bg(Color::Reset));
        render_blocks(chart, chart_max(chart, gpu), style, plot, buf);
    }
}

fn process_line(p: &ProcessView, width: usize) -> Line<'static> {
    let name = p.name.as_deref().unwrap_or(format::MISSING);
    let job = match (&p.job, &p.team) {
        (Some(job), Some(team)) => format!("job {job} ({team})"),
        (Some(job), None) => format!("job {job}"),
        _ => String::new(),
    };
    let text = format!(
        "{:>8} {:<16} {:>7}G {}",
        format::truncate(&p.pid, 8),
        format::truncate(name, 16),
        format::gib(p.memory_bytes),
        job
    );
    Line::raw(format::truncate(&text, width))
}

/// `not judged: gpu_hang (no power) · gpu_stalled (no utilization)`, when a detector
/// could not judge the GPU: no alert there does not mean healthy.
fn not_judged_line(data: &GpuDetailResponse) -> Option<String> {
    if data.not_judged.is_empty() {
        return None;
    }
    let each: Vec<String> = data
        .not_judged
        .iter()
        .map(|n| format!("{} ({})", n.kind.as_str(), n.missing))
        .collect();
    Some(format!("not judged: {}", each.join(" · ")))
}

/// Processes, then alerts, each under a title, then what could not be judged, in
/// `area`.
fn render_lists(
    data: Option<&GpuDetailResponse>,
    alerts: &[&Alert],
    now_unix_ms: i64,
    area: Rect,
    buf: &mut Buffer,
) {
    let bold = Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
    let dim = Style::new().fg(Color::DarkGray);
    let width = usize::from(area.width);
    let mut lines: Vec<Line> = vec![Line::styled(
        format!("{:>8} {:<16} {:>8} JOB", "PID", "PROCESS", "MEMORY"),
        bold,
    )];
    match data.map(|d| d.processes.as_slice()) {
        None => lines.push(Line::styled("waiting for the processes…", dim)),
        Some([]) => lines.push(Line::styled("no process holds memory on this GPU", dim)),
        Some(processes) => {
            lines.extend(
                processes
                    .iter()
                    .take(MAX_LIST_ROWS)
                    .map(|p| process_line(p, width)),
            );
            if processes.len() > MAX_LIST_ROWS {
                let more = processes.len() - MAX_LIST_ROWS;
                lines.push(Line::styled(format!("… {more} more"), dim));
            }
        }
    }
    lines.push(Line::styled(
        "ALERTS on this GPU, its node or its job",
        bold,
    ));
    if alerts.is_empty() {
        lines.push(Line::styled("none firing or recently resolved", dim));
    }
    for alert in alerts.iter().take(MAX_LIST_ROWS) {
        let mut line = super::alerts::row(alert, now_unix_ms, 15, width);
        if alert.state == gpuwatch_model::AlertState::Resolved {
            line = line.patch_style(Style::new().add_modifier(Modifier::DIM));
        }
        lines.push(line);
    }
    if let Some(line) = data.and_then(not_judged_line) {
        lines.push(Line::styled(
            format::truncate(&line, width),
            Style::new().fg(Color::Yellow),
        ));
    }
    for (i, line) in lines.into_iter().enumerate().take(usize::from(area.height)) {
        let y = area.y + u16::try_from(i).unwrap_or(0);
        line.render(Rect::new(area.x, y, area.width, 1), buf);
    }
}

pub(crate) fn render_detail(app: &App, now_unix_ms: i64, area: Rect, buf: &mut Buffer) {
    let (Some(detail), Some(gpu)) = (app.detail.as_ref(), app.detail_gpu()) else {
        let text = match &app.detail {
            Some(d) => format!(
                "{} {} is no longer reported · Esc to go back",
                d.gpu.node, d.gpu.id
            ),
            None => String::new(),
        };
        super::render_message(&text, area, buf);
        return;
    };
    let state = app
        .gpus
        .iter()
        .position(|g| g.id == gpu.id && g.node == gpu.node)
        .and_then(|i| app.states.get(i))
        .copied()
        .unwrap_or_default();
    let alerts: Vec<&Alert> = app
        .alerts
        .alerts
        .iter()
        .filter(|a| touches(a, gpu))
        .collect();
    let data = detail.data.data.as_ref();
    let processes = data.map_or(1, |d| d.processes.len().clamp(1, MAX_LIST_ROWS + 1));
    let not_judged = usize::from(data.is_some_and(|d| !d.not_judged.is_empty()));
    let list_rows = 2 + processes + alerts.len().clamp(1, MAX_LIST_ROWS) + not_judged;
    let list_rows = u16::try_from(list_rows).unwrap_or(u16::MAX);
    let charts = u16::try_from(data.map_or(5, |d| d.charts.len().max(1))).unwrap_or(5);
    let room = area.height.saturating_sub(3 + list_rows);
    let chart_rows = (room / charts).clamp(1, MAX_CHART_ROWS);

    let [title, values, _, plots, lists] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(chart_rows * charts),
        Constraint::Fill(1),
    ])
    .areas(area);
    title_line(gpu, state).render(title, buf);
    values_line(gpu).render(values, buf);
    match (data, &detail.data.error) {
        (Some(d), _) => render_charts(d, gpu, chart_rows, plots, buf),
        (None, error) => {
            let text = match error {
                Some(e) => format!("no charts from {}: {e}", app.source),
                None => format!("waiting for the charts from {}…", app.source),
            };
            super::render_message(&text, plots, buf);
        }
    }
    render_lists(data, &alerts, now_unix_ms, lists, buf);
}
