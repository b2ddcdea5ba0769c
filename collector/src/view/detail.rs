//! One GPU in detail: its newest values, charts of utilization, memory, power,
//! NVLink and PCIe traffic over the window, and the processes holding its memory.

use std::collections::BTreeMap;

use gpuwatch_model::api::{GpuDetailResponse, ProcessView};
use gpuwatch_model::names::{attr, metric, value};

use super::chart::{chart, Grid};
use super::gpu_view;
use crate::store::{Series, Store};

/// Processes whose newest point is this far behind the GPU's newest are gone.
const PROCESS_GONE_NS: i64 = 60_000_000_000;

/// The GPU `id` of `node` over `window` nanoseconds up to the store's newest point,
/// each chart resampled to `steps` steps; `None` for a GPU the store does not know.
pub fn gpu_detail(
    store: &Store,
    node: &str,
    id: &str,
    window: i64,
    steps: usize,
) -> Option<GpuDetailResponse> {
    let entry = store.gpus().get(&(node.to_string(), id.to_string()))?;
    let gpu = gpu_view(store, node, id, entry);
    let series: Vec<&Series> = entry.series.iter().filter_map(|&s| store.get(s)).collect();
    let to = store.newest_ts().unwrap_or(0);
    let grid = Grid::ending_at(to, window, steps);
    let of = |m: &str, with: &[(&str, &str)]| -> Vec<&Series> {
        series
            .iter()
            .copied()
            .filter(|s| s.key.metric() == m && with.iter().all(|(k, v)| s.key.get(k) == Some(v)))
            .collect()
    };
    let utilization: Vec<&Series> = of(metric::GPU_UTILIZATION, &[])
        .into_iter()
        .filter(|s| matches!(s.key.get(attr::GPU_TASK), None | Some(value::TASK_GENERAL)))
        .collect();
    let link = |link: &str| {
        [value::TRANSMIT, value::RECEIVE].map(|dir| {
            of(
                metric::GPU_IO,
                &[(attr::LINK, link), (attr::IO_DIRECTION, dir)],
            )
        })
    };
    let charts = vec![
        chart("utilization", "1", &grid, false, [utilization]),
        chart(
            "memory",
            "By",
            &grid,
            false,
            [of(metric::GPU_MEMORY_USAGE, &[])],
        ),
        chart("power", "W", &grid, false, [of(metric::POWER, &[])]),
        chart("nvlink", "By/s", &grid, true, link(value::LINK_NVLINK)),
        chart("pcie", "By/s", &grid, true, link(value::LINK_PCIE)),
    ];
    Some(GpuDetailResponse {
        gpu,
        charts,
        processes: processes(&of(metric::GPU_PROCESS_MEMORY, &[])),
        // The detectors' part (`CollectorState::gpu_detail`).
        not_judged: Vec::new(),
    })
}

/// The newest point of each process seen within a minute of the newest, most memory
/// first.
fn processes(series: &[&Series]) -> Vec<ProcessView> {
    let newest = series.iter().filter_map(|s| s.last_ts()).max().unwrap_or(0);
    let mut by_pid: BTreeMap<String, (i64, ProcessView)> = BTreeMap::new();
    for s in series {
        let Some((ts, bytes)) = s.last_scalar() else {
            continue;
        };
        if ts < newest - PROCESS_GONE_NS {
            continue;
        }
        let pid = s.key.get(attr::PROCESS_PID).unwrap_or("?").to_string();
        if by_pid.get(&pid).is_some_and(|(seen, _)| *seen > ts) {
            continue;
        }
        let get = |k: &str| s.key.get(k).map(str::to_string);
        let view = ProcessView {
            pid: pid.clone(),
            name: get(attr::PROCESS_EXECUTABLE),
            memory_bytes: bytes,
            job: get(attr::JOB_ID),
            team: get(attr::TEAM),
            last_seen_unix_ms: ts.div_euclid(1_000_000),
        };
        by_pid.insert(pid, (ts, view));
    }
    let mut out: Vec<ProcessView> = by_pid.into_values().map(|(_, p)| p).collect();
    out.sort_by(|a, b| {
        b.memory_bytes
            .total_cmp(&a.memory_bytes)
            .then(a.pid.cmp(&b.pid))
    });
    out
}
