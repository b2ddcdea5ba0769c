//! The Nodes tab: one row per node's host, CPU busy and iowait, memory, disk read and
//! write with the busiest disk's busy share, network, with sparklines of CPU, disk and
//! network over the window, and, where nodes report them, their fabric ports (up of
//! all, bytes received) and network file systems (bytes read): where an input pipeline
//! starves GPUs, it shows here. A high iowait, a disk near 100% busy or a fabric port
//! down is yellow or red.

use gpuwatch_model::api::{Chart, NodeView};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};

use super::columns::{HIGHLIGHT_SYMBOL, HIGHLIGHT_WIDTH};
use super::spark::sparkline;
use crate::app::App;
use crate::format;

/// iowait at or above this share of CPU time is a sign of starving GPUs.
const IOWAIT_WARN: f64 = 0.2;
/// A disk busy this share of the time is saturated.
const DISK_BUSY_ALARM: f64 = 0.9;
const SPARK_MIN: usize = 8;
const SPARK_MAX: usize = 30;
const NODE_MIN: usize = 7;
const NODE_MAX: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Node,
    Gpus,
    Cpu,
    Iowait,
    CpuSpark,
    Mem,
    Read,
    Write,
    Busy,
    DiskSpark,
    Rx,
    Tx,
    NetSpark,
    Links,
    Fabric,
    Netfs,
}

impl Col {
    const ALL: [Col; 16] = [
        Col::Node,
        Col::Gpus,
        Col::Cpu,
        Col::Iowait,
        Col::CpuSpark,
        Col::Mem,
        Col::Read,
        Col::Write,
        Col::Busy,
        Col::DiskSpark,
        Col::Rx,
        Col::Tx,
        Col::NetSpark,
        Col::Links,
        Col::Fabric,
        Col::Netfs,
    ];
    /// What goes first when the terminal is narrow.
    const DROP_ORDER: [Col; 9] = [
        Col::Gpus,
        Col::Mem,
        Col::NetSpark,
        Col::Tx,
        Col::Netfs,
        Col::CpuSpark,
        Col::Fabric,
        Col::DiskSpark,
        Col::Links,
    ];

    fn title(self) -> &'static str {
        match self {
            Col::Node => "NODE",
            Col::Gpus => "GPUS",
            Col::Cpu => "CPU",
            Col::Iowait => "IOW",
            Col::CpuSpark => "CPU",
            Col::Mem => "MEMORY",
            Col::Read => "READ",
            Col::Write => "WRITE",
            Col::Busy => "BUSY",
            Col::DiskSpark => "DISK",
            Col::Rx => "NET RX",
            Col::Tx => "NET TX",
            Col::NetSpark => "NET",
            Col::Links => "LINKS",
            Col::Fabric => "FAB RX",
            Col::Netfs => "NETFS",
        }
    }

    fn is_spark(self) -> bool {
        matches!(self, Col::CpuSpark | Col::DiskSpark | Col::NetSpark)
    }

    /// Numbers align right.
    fn right(self) -> bool {
        !matches!(self, Col::Node) && !self.is_spark()
    }

    fn width(self, node: usize) -> usize {
        match self {
            Col::Node => node,
            Col::Gpus | Col::Cpu | Col::Iowait | Col::Busy => 4,
            Col::Links => 5,
            Col::Fabric | Col::Netfs => 8,
            Col::Mem => 10,
            Col::Read | Col::Write | Col::Rx | Col::Tx => 8,
            Col::CpuSpark | Col::DiskSpark | Col::NetSpark => SPARK_MIN,
        }
    }
}

/// The columns that fit `width` and their widths.
fn layout(nodes: &[NodeView], width: usize) -> Vec<(Col, usize)> {
    let node = nodes
        .iter()
        .map(|n| n.node.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(NODE_MIN, NODE_MAX);
    // The fabric and network file system columns only where some node reports them.
    let fabric = nodes.iter().any(|n| n.fabric_ports > 0);
    let netfs = nodes
        .iter()
        .any(|n| n.netfs_read_bytes_per_second.is_some());
    let mut cols: Vec<Col> = Col::ALL
        .into_iter()
        .filter(|c| match c {
            Col::Links | Col::Fabric => fabric,
            Col::Netfs => netfs,
            _ => true,
        })
        .collect();
    let total = |cols: &[Col]| -> usize { cols.iter().map(|c| c.width(node) + 1).sum::<usize>() };
    for victim in Col::DROP_ORDER {
        if total(&cols) <= width {
            break;
        }
        cols.retain(|&c| c != victim);
    }
    let sparks = cols.iter().filter(|c| c.is_spark()).count();
    let spare = width.saturating_sub(total(&cols));
    let extra = spare.checked_div(sparks).unwrap_or(0);
    cols.into_iter()
        .map(|c| {
            let w = c.width(node);
            (
                c,
                if c.is_spark() {
                    (w + extra).min(SPARK_MAX)
                } else {
                    w
                },
            )
        })
        .collect()
}

fn chart<'a>(node: &'a NodeView, name: &str) -> Option<&'a Chart> {
    node.charts.iter().find(|c| c.name == name)
}

/// The tops of the disk and network sparklines: the largest value of any node, so
/// that the busiest node stands out.
#[derive(Debug, Clone, Copy)]
struct Scales {
    disk: f64,
    network: f64,
}

impl Scales {
    fn of(nodes: &[NodeView]) -> Self {
        let top = |name: &str| {
            nodes
                .iter()
                .filter_map(|n| chart(n, name))
                .map(Chart::max)
                .fold(0.0, f64::max)
        };
        Scales {
            disk: top("disk"),
            network: top("network"),
        }
    }
}

/// The text and style of one cell.
fn cell(node: &NodeView, col: Col, width: usize, scales: Scales) -> (String, Style) {
    let plain = Style::new();
    let spark = |name: &str, max: Option<f64>| {
        chart(node, name).map_or_else(String::new, |c| sparkline(c, width, max))
    };
    match col {
        Col::Node => (format::truncate(&node.node, width), plain),
        Col::Gpus => (node.gpus.to_string(), plain),
        Col::Cpu => (format::percent(node.cpu_busy()), plain),
        Col::Iowait => {
            let style = if node.cpu_iowait.is_some_and(|w| w >= IOWAIT_WARN) {
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
            } else {
                plain
            };
            (format::percent(node.cpu_iowait), style)
        }
        Col::CpuSpark => (spark("cpu", Some(1.0)), Style::new().fg(Color::Cyan)),
        Col::Mem => {
            let text = match (node.memory_used_bytes, node.memory_total_bytes) {
                (Some(u), Some(t)) => format!("{}/{}G", format::gib(u), format::gib(t)),
                (Some(u), None) => format!("{}G", format::gib(u)),
                _ => format::MISSING.to_string(),
            };
            (text, plain)
        }
        Col::Read => (format::byte_rate(node.disk_read_bytes_per_second), plain),
        Col::Write => (format::byte_rate(node.disk_write_bytes_per_second), plain),
        Col::Busy => {
            let style = if node.disk_busy.is_some_and(|b| b >= DISK_BUSY_ALARM) {
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
            } else {
                plain
            };
            (format::percent(node.disk_busy), style)
        }
        Col::DiskSpark => (
            spark("disk", Some(scales.disk)),
            Style::new().fg(Color::Yellow),
        ),
        Col::Rx => (format::byte_rate(node.network_rx_bytes_per_second), plain),
        Col::Tx => (format::byte_rate(node.network_tx_bytes_per_second), plain),
        Col::NetSpark => (
            spark("network", Some(scales.network)),
            Style::new().fg(Color::Blue),
        ),
        Col::Links => {
            if node.fabric_ports == 0 {
                return (format::MISSING.to_string(), plain);
            }
            let style = if node.fabric_ports_up < node.fabric_ports {
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
            } else {
                plain
            };
            (
                format!("{}/{}", node.fabric_ports_up, node.fabric_ports),
                style,
            )
        }
        Col::Fabric => (format::byte_rate(node.fabric_rx_bytes_per_second), plain),
        Col::Netfs => (format::byte_rate(node.netfs_read_bytes_per_second), plain),
    }
}

fn put(buf: &mut Buffer, x: u16, y: u16, text: &str, width: usize, right: bool, style: Style) {
    let text = format::truncate(text, width);
    let padded = if right {
        format!("{text:>width$}")
    } else {
        format!("{text:<width$}")
    };
    buf.set_stringn(x, y, padded, width, style);
}

/// Draws the title row and the nodes from the scroll offset on.
pub(crate) fn render_nodes(app: &App, _now_unix_ms: i64, area: Rect, buf: &mut Buffer) {
    if area.is_empty() {
        return;
    }
    let Some(data) = app.hosts.data.as_ref() else {
        super::render_message(&super::fetched_message(app, "nodes", &app.hosts), area, buf);
        return;
    };
    if data.nodes.is_empty() {
        super::render_message("no node has reported yet", area, buf);
        return;
    }
    let width = usize::from(area.width.saturating_sub(HIGHLIGHT_WIDTH));
    let cols = layout(&data.nodes, width);
    let scales = Scales::of(&data.nodes);
    let title = Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
    buf.set_style(Rect::new(area.x, area.y, area.width, 1), title);
    let mut x = area.x + HIGHLIGHT_WIDTH;
    for &(col, w) in &cols {
        put(buf, x, area.y, col.title(), w, col.right(), Style::new());
        x += u16::try_from(w + 1).unwrap_or(0);
    }
    let newest = data.newest_point_unix_ms.unwrap_or(i64::MIN);
    let scroll = app.hosts_scroll;
    let body = usize::from(area.height - 1);
    for (i, node) in data.nodes.iter().enumerate().skip(scroll.offset).take(body) {
        let y = area.y + 1 + u16::try_from(i - scroll.offset).unwrap_or(0);
        let line = Rect::new(area.x, y, area.width, 1);
        let mut style = Style::new();
        if newest.saturating_sub(node.last_seen_unix_ms) > super::STALE_GPU_MS {
            style = style.add_modifier(Modifier::DIM);
        }
        if i == scroll.selected {
            style = style.add_modifier(Modifier::REVERSED);
            buf.set_stringn(area.x, y, HIGHLIGHT_SYMBOL, usize::from(area.width), style);
        }
        buf.set_style(line, style);
        let mut x = area.x + HIGHLIGHT_WIDTH;
        for &(col, w) in &cols {
            let (text, cell_style) = cell(node, col, w, scales);
            put(buf, x, y, &text, w, col.right(), style.patch(cell_style));
            x += u16::try_from(w + 1).unwrap_or(0);
        }
    }
}
