//! Read models over the store for the JSON API: the latest state of every GPU, one
//! GPU in detail, the nodes' hosts, every series of a metric.
//!
//! - `chart`: series resampled over the window;
//! - `detail`: one GPU's charts and processes;
//! - `nodes`: each node's CPU, memory, disks and network;
//! - `inference`: each served model's traffic, latency and drift.

mod chart;
mod detail;
mod inference;
mod nodes;

pub use chart::Grid;
pub use detail::gpu_detail;
pub use inference::inference;
pub use nodes::nodes;

use gpuwatch_model::api::{GpuView, GpusResponse, SeriesPoint, SeriesResponse, SeriesView};
use gpuwatch_model::gpu_state::{self, GpuState, StateIndex, STALE_GPU_MS};
use gpuwatch_model::names::{attr, metric, value};

use crate::store::{GpuEntry, Series, SeriesKind, Store};

/// Keeps, per field, the value from the newest series (a GPU can change job, which
/// starts new series; the newest one is current).
#[derive(Default)]
struct Newest {
    ts: i64,
    value: Option<f64>,
}

impl Newest {
    fn offer(&mut self, ts: i64, value: Option<f64>) {
        if value.is_some() && (self.value.is_none() || ts >= self.ts) {
            self.ts = ts;
            self.value = value;
        }
    }
}

/// The latest values of every GPU, sorted by node and index.
pub fn gpus(store: &Store) -> GpusResponse {
    gpus_where(store, &GpuFilter::default(), &[]).0
}

/// Which GPUs `/api/v1/gpus` lists: `?node=`, `?job=`, `?state=`, `?offset=`, `?limit=`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuFilter {
    /// `host.name`s; all nodes when empty.
    pub nodes: Vec<String>,
    /// `gpuwatch.job.id`.
    pub job: Option<String>,
    /// The badges `top` would show (`gpu_state`); any when empty.
    pub states: Vec<GpuState>,
    /// GPUs to skip, in the listing's order, after the filters.
    pub offset: usize,
    pub limit: Option<usize>,
}

/// The GPUs `filter` selects, sorted by node and index, and how many matched before
/// `offset` and `limit`. `firing` is the firing alerts; only `states` reads them.
pub fn gpus_where(
    store: &Store,
    filter: &GpuFilter,
    firing: &[gpuwatch_model::Alert],
) -> (GpusResponse, usize) {
    let all = store.gpus();
    let picked: Box<dyn Iterator<Item = (&(String, String), &GpuEntry)>> =
        if filter.nodes.is_empty() {
            Box::new(all.iter())
        } else {
            let mut nodes: Vec<&str> = filter.nodes.iter().map(String::as_str).collect();
            nodes.sort_unstable();
            nodes.dedup();
            Box::new(nodes.into_iter().flat_map(move |node| {
                all.range((node.to_string(), String::new())..)
                    .take_while(move |((n, _), _)| n == node)
            }))
        };
    let mut gpus: Vec<GpuView> = picked
        .map(|((node, id), entry)| gpu_view(store, node, id, entry))
        .collect();
    gpus.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let newest_point_unix_ms = store.newest_ts().map(|t| t.div_euclid(1_000_000));
    if !filter.states.is_empty() {
        // Silence is the node's, so states are found before the job narrows the list.
        let index = StateIndex::new(firing);
        let states = gpu_state::states(&gpus, &index, newest_point_unix_ms, STALE_GPU_MS);
        let mut states = states.into_iter();
        gpus.retain(|_| states.next().is_some_and(|s| filter.states.contains(&s)));
    }
    if let Some(job) = &filter.job {
        gpus.retain(|g| g.job.as_ref() == Some(job));
    }
    let total = gpus.len();
    let end = filter
        .limit
        .map_or(total, |l| filter.offset.saturating_add(l).min(total));
    let gpus = gpus.drain(filter.offset.min(end)..end).collect::<Vec<_>>();
    let nodes = {
        let mut last = None;
        all.keys()
            .filter(|(node, _)| last.replace(node) != Some(node))
            .count()
    };
    (
        GpusResponse {
            gpus,
            newest_point_unix_ms,
            points_received: store.points_accepted(),
            nodes,
        },
        total,
    )
}

/// The latest values of one GPU.
pub(crate) fn gpu_view(store: &Store, node: &str, id: &str, entry: &GpuEntry) -> GpuView {
    let mut view = GpuView {
        node: node.to_string(),
        id: id.to_string(),
        ..GpuView::default()
    };
    let mut fields: [Newest; 10] = Default::default();
    let mut newest_ts = i64::MIN;
    let mut labels_ts = i64::MIN;
    // The series the labels are read from, once, at the end (reading them from each
    // newer series in turn cost most of a large listing).
    let mut labels: Option<&Series> = None;
    for s in entry.series.iter().filter_map(|&sid| store.get(sid)) {
        let Some(ts) = s.last_ts() else { continue };
        newest_ts = newest_ts.max(ts);
        if ts >= labels_ts {
            labels_ts = ts;
            // Process series carry their own job.
            if s.key.metric() != metric::GPU_PROCESS_MEMORY {
                labels = Some(s);
            }
        }
        let last = || s.last_scalar().map(|(_, v)| v);
        // The metric first: a series' attributes are looked up only where they matter.
        let slot = match s.key.metric() {
            metric::GPU_UTILIZATION => match s.key.get(attr::GPU_TASK) {
                None | Some(value::TASK_GENERAL) => Some((0, last())),
                _ => None,
            },
            metric::GPU_MEMORY_USAGE => Some((1, last())),
            metric::GPU_MEMORY_LIMIT => Some((2, last())),
            metric::POWER => Some((3, last())),
            metric::GPU_POWER_LIMIT => Some((4, last())),
            metric::GPU_TEMPERATURE => Some((5, last())),
            metric::GPU_IO => match (s.key.get(attr::LINK), s.key.get(attr::IO_DIRECTION)) {
                (Some(value::LINK_NVLINK), Some(value::TRANSMIT)) => Some((6, s.rate())),
                (Some(value::LINK_NVLINK), Some(value::RECEIVE)) => Some((7, s.rate())),
                (Some(value::LINK_PCIE), Some(value::TRANSMIT)) => Some((8, s.rate())),
                (Some(value::LINK_PCIE), Some(value::RECEIVE)) => Some((9, s.rate())),
                _ => None,
            },
            _ => None,
        };
        if let Some((i, v)) = slot {
            fields[i].offer(ts, v);
        }
    }
    if let Some(s) = labels {
        apply_labels(&mut view, s);
    }
    let [util, mem, mem_limit, power, power_limit, temp, nv_tx, nv_rx, pcie_tx, pcie_rx] = fields;
    view.utilization = util.value;
    view.memory_used_bytes = mem.value;
    view.memory_limit_bytes = mem_limit.value;
    view.power_watts = power.value;
    view.power_limit_watts = power_limit.value;
    view.temperature_celsius = temp.value;
    view.nvlink_tx_bytes_per_second = nv_tx.value;
    view.nvlink_rx_bytes_per_second = nv_rx.value;
    view.pcie_tx_bytes_per_second = pcie_tx.value;
    view.pcie_rx_bytes_per_second = pcie_rx.value;
    view.last_seen_unix_ms = newest_ts.div_euclid(1_000_000);
    view
}

/// Labels come from the GPU's newest series other than its processes'.
fn apply_labels(view: &mut GpuView, s: &Series) {
    let get = |k: &str| s.key.get(k).map(str::to_string);
    view.name = get(attr::HW_NAME).unwrap_or_default();
    view.model = get(attr::HW_MODEL);
    view.parent = get(attr::HW_PARENT);
    view.mig_profile = get(attr::GPU_MIG_PROFILE);
    view.cluster = get(attr::CLUSTER);
    view.job = get(attr::JOB_ID);
    view.team = get(attr::TEAM);
}

/// Every series of `metric` with its newest point.
pub fn series(store: &Store, metric: &str) -> SeriesResponse {
    let series = store
        .series()
        .iter()
        .filter(|s| s.key.metric() == metric)
        .map(|s| {
            let last = match (s.last_scalar(), s.histograms().and_then(|r| r.last())) {
                (Some((t, v)), _) => Some(SeriesPoint {
                    unix_ms: t.div_euclid(1_000_000),
                    value: Some(v),
                    count: None,
                    sum: None,
                }),
                (None, Some((t, h))) => Some(SeriesPoint {
                    unix_ms: t.div_euclid(1_000_000),
                    value: None,
                    count: Some(h.count),
                    sum: Some(h.sum).filter(|s| s.is_finite()),
                }),
                (None, None) => None,
            };
            SeriesView {
                attributes: s
                    .key
                    .pairs()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                kind: match s.kind {
                    SeriesKind::Gauge => "gauge",
                    SeriesKind::Counter => "counter",
                    SeriesKind::UpDownCounter => "updown_counter",
                    SeriesKind::Histogram => "histogram",
                    SeriesKind::Summary => "summary",
                }
                .to_string(),
                unit: s.unit.to_string(),
                points: s
                    .scalars()
                    .map_or_else(|| s.histograms().map_or(0, |r| r.len()), |r| r.len()),
                last,
            }
        })
        .collect();
    SeriesResponse {
        metric: metric.to_string(),
        series,
    }
}

#[cfg(test)]
mod tests;
