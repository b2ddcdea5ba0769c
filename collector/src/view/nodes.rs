//! Each node's host as `/api/v1/nodes` shows it: CPU by mode, memory, disk and
//! network throughput and the busiest disk's busy share, its fabric ports (up, and
//! their traffic) and network file systems' throughput, the newest values and charts
//! over the window. Where the input pipeline starves GPUs, it shows here.

use std::collections::BTreeMap;

use gpuwatch_model::api::{NodeView, NodesResponse};
use gpuwatch_model::names::{attr, metric, value};

use super::chart::{chart, complement, Grid};
use crate::detect::window::mig_parent;
use crate::store::{Series, SourceKind, Store};

/// The host metrics this view reads.
const HOST_METRICS: [&str; 8] = [
    metric::CPU_UTILIZATION,
    metric::MEMORY_USAGE,
    metric::DISK_IO,
    metric::DISK_IO_TIME,
    metric::NETWORK_IO,
    metric::HW_NETWORK_IO,
    metric::HW_NETWORK_UP,
    metric::FILESYSTEM_IO,
];

/// The loopback interface moves no data between machines.
const LOOPBACK: &str = "lo";

/// Every node that sent data, by name, with charts of `steps` steps over `window`
/// nanoseconds up to the store's newest point.
pub fn nodes(store: &Store, window: i64, steps: usize) -> NodesResponse {
    let mut host: BTreeMap<&str, Vec<&Series>> = BTreeMap::new();
    for s in store.series() {
        if !HOST_METRICS.contains(&s.key.metric()) {
            continue;
        }
        if let Some(node) = s.key.get(attr::HOST_NAME) {
            host.entry(node).or_default().push(s);
        }
    }
    // Whole GPUs: a GPU in MIG mode counts once, not once per instance.
    let mut gpus: BTreeMap<&str, usize> = BTreeMap::new();
    for ((node, _), gpu) in store.gpus() {
        if mig_parent(store, gpu).is_none() {
            *gpus.entry(node.as_str()).or_default() += 1;
        }
    }
    let now = store.newest_ts().unwrap_or(0);
    let mut nodes: Vec<NodeView> = store
        .clocks()
        .sources_at(now)
        .filter(|s| s.kind == SourceKind::Node)
        .map(|source| {
            let node = source.name;
            let series = host.get(node).map(Vec::as_slice).unwrap_or_default();
            // The node's own clock: a skewed node shows its newest points too.
            let grid = Grid::ending_at(now.saturating_add(source.skew), window, steps);
            let mut view = node_view(series, &grid);
            view.node = node.to_string();
            view.last_seen_unix_ms = source.newest.div_euclid(1_000_000);
            view.gpus = gpus.get(node).copied().unwrap_or(0);
            view
        })
        .collect();
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    NodesResponse {
        nodes,
        newest_point_unix_ms: store.newest_ts().map(|t| t.div_euclid(1_000_000)),
    }
}

/// The newest value of the newest series among `series`.
fn newest(series: &[&Series]) -> Option<f64> {
    series
        .iter()
        .filter_map(|s| s.last_scalar())
        .max_by_key(|(t, _)| *t)
        .map(|(_, v)| v)
}

/// The sum over `series` of their rates; `None` when none has one.
fn rate_sum(series: &[&Series]) -> Option<f64> {
    series
        .iter()
        .filter_map(|s| s.rate())
        .fold(None, |acc, r| Some(acc.unwrap_or(0.0) + r))
}

/// One node's host, from its series of [`HOST_METRICS`].
fn node_view(series: &[&Series], grid: &Grid) -> NodeView {
    let of = |m: &str, with: &[(&str, &str)]| -> Vec<&Series> {
        series
            .iter()
            .copied()
            .filter(|s| s.key.metric() == m && with.iter().all(|(k, v)| s.key.get(k) == Some(v)))
            .filter(|s| s.key.get(attr::INTERFACE) != Some(LOOPBACK))
            .collect()
    };
    let cpu = |mode: &str| of(metric::CPU_UTILIZATION, &[(attr::CPU_MODE, mode)]);
    let memory = |state: &str| newest(&of(metric::MEMORY_USAGE, &[(attr::MEMORY_STATE, state)]));
    let used = memory(value::MEM_USED);
    let total = [value::MEM_FREE, value::MEM_CACHED]
        .into_iter()
        .fold(used, |acc, state| match (acc, memory(state)) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        });
    let disk = |dir: &str| of(metric::DISK_IO, &[(attr::DISK_DIRECTION, dir)]);
    let net = |dir: &str| of(metric::NETWORK_IO, &[(attr::IO_DIRECTION, dir)]);
    let fabric = |dir: &str| of(metric::HW_NETWORK_IO, &[(attr::IO_DIRECTION, dir)]);
    let netfs = |dir: &str| of(metric::FILESYSTEM_IO, &[(attr::DISK_DIRECTION, dir)]);
    let ports = of(metric::HW_NETWORK_UP, &[]);
    let ports_up = ports
        .iter()
        .filter(|s| s.last_scalar().is_some_and(|(_, v)| v >= 0.5))
        .count();
    let busy = of(metric::DISK_IO_TIME, &[])
        .iter()
        .filter_map(|s| s.rate())
        .map(|r| r.clamp(0.0, 1.0))
        .fold(None, |acc: Option<f64>, r| {
            Some(acc.map_or(r, |a| a.max(r)))
        });
    // One component per device or interface and direction: summed.
    fn components<'a>(all: Vec<&'a Series>, by: &str, dir: &str) -> Vec<Vec<&'a Series>> {
        let mut groups: BTreeMap<(String, String), Vec<&'a Series>> = BTreeMap::new();
        for s in all {
            let key = (
                s.key.get(by).unwrap_or_default().to_string(),
                s.key.get(dir).unwrap_or_default().to_string(),
            );
            groups.entry(key).or_default().push(s);
        }
        groups.into_values().collect()
    }
    let charts = vec![
        complement(
            chart("idle", "1", grid, false, [cpu(value::CPU_IDLE)]),
            "cpu",
        ),
        chart("iowait", "1", grid, false, [cpu(value::CPU_IOWAIT)]),
        chart(
            "disk",
            "By/s",
            grid,
            true,
            components(of(metric::DISK_IO, &[]), attr::DEVICE, attr::DISK_DIRECTION),
        ),
        chart(
            "network",
            "By/s",
            grid,
            true,
            components(
                of(metric::NETWORK_IO, &[]),
                attr::INTERFACE,
                attr::IO_DIRECTION,
            ),
        ),
    ];
    NodeView {
        cpu_user: newest(&cpu(value::CPU_USER)),
        cpu_system: newest(&cpu(value::CPU_SYSTEM)),
        cpu_iowait: newest(&cpu(value::CPU_IOWAIT)),
        cpu_idle: newest(&cpu(value::CPU_IDLE)),
        cpu_steal: newest(&cpu(value::CPU_STEAL)),
        memory_used_bytes: used,
        memory_total_bytes: total,
        disk_read_bytes_per_second: rate_sum(&disk(value::READ)),
        disk_write_bytes_per_second: rate_sum(&disk(value::WRITE)),
        disk_busy: busy,
        network_rx_bytes_per_second: rate_sum(&net(value::RECEIVE)),
        network_tx_bytes_per_second: rate_sum(&net(value::TRANSMIT)),
        fabric_ports: ports.len(),
        fabric_ports_up: ports_up,
        fabric_rx_bytes_per_second: rate_sum(&fabric(value::RECEIVE)),
        fabric_tx_bytes_per_second: rate_sum(&fabric(value::TRANSMIT)),
        netfs_read_bytes_per_second: rate_sum(&netfs(value::READ)),
        netfs_write_bytes_per_second: rate_sum(&netfs(value::WRITE)),
        charts,
        ..NodeView::default()
    }
}
