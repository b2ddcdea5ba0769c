//! Bodies of the collector's JSON API (`/api/v1/...`), shared by the collector that
//! writes them and the TUI that reads them.

use serde::{Deserialize, Serialize};

pub use crate::alert::AlertsResponse;

/// The latest values of one GPU, as `/api/v1/gpus` lists them. Values a source did not
/// send are `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuView {
    /// `host.name` of the node.
    pub node: String,
    /// `gpuwatch.cluster`, when the agent sets it.
    pub cluster: Option<String>,
    /// `hw.id`, the GPU UUID.
    pub id: String,
    /// `hw.name`: `gpu0`, ...
    pub name: String,
    /// `hw.model`.
    pub model: Option<String>,
    /// A MIG instance's parent GPU (`hw.parent`) and profile (`hw.gpu.mig.profile`);
    /// unset for whole GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mig_profile: Option<String>,
    /// General utilization, 0..1.
    pub utilization: Option<f64>,
    pub memory_used_bytes: Option<f64>,
    pub memory_limit_bytes: Option<f64>,
    pub power_watts: Option<f64>,
    pub power_limit_watts: Option<f64>,
    pub temperature_celsius: Option<f64>,
    /// Rates over the two newest points of the cumulative counters, bytes per second.
    pub nvlink_tx_bytes_per_second: Option<f64>,
    pub nvlink_rx_bytes_per_second: Option<f64>,
    pub pcie_tx_bytes_per_second: Option<f64>,
    pub pcie_rx_bytes_per_second: Option<f64>,
    /// `gpuwatch.job.id` and `gpuwatch.team` of the newest points.
    pub job: Option<String>,
    pub team: Option<String>,
    /// Event time of this GPU's newest point, Unix milliseconds.
    pub last_seen_unix_ms: i64,
}

impl GpuView {
    /// Sort key: node, then GPU index as a number (`gpu2` before `gpu10`), then MIG
    /// slot (a GPU before its instances: `gpu0`, `gpu0-mig0`, `gpu0-mig1`, `gpu1`), then id.
    pub fn sort_key(&self) -> (&str, u64, u64, &str) {
        let number = |s: &str| -> Option<u64> {
            let digits = s.trim_start_matches(|c: char| !c.is_ascii_digit());
            let end = digits
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(digits.len());
            digits[..end].parse().ok()
        };
        let (gpu, slot) = match self.name.split_once("-mig") {
            Some((gpu, slot)) => (gpu, number(slot).map_or(u64::MAX, |s| s + 1)),
            None => (self.name.as_str(), 0),
        };
        let index = number(gpu).unwrap_or(u64::MAX);
        (self.node.as_str(), index, slot, self.id.as_str())
    }
}

/// The newest point of a series: `value` for numbers, `count` and `sum` for
/// histograms and summaries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    pub unix_ms: i64,
    pub value: Option<f64>,
    pub count: Option<u64>,
    pub sum: Option<f64>,
}

/// One series of a metric: its full attribute set (resource and point).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesView {
    pub attributes: std::collections::BTreeMap<String, String>,
    /// `gauge`, `counter`, `updown_counter`, `histogram` or `summary`.
    pub kind: String,
    pub unit: String,
    /// Points held in the live store.
    pub points: usize,
    pub last: Option<SeriesPoint>,
}

/// `GET /api/v1/series?metric=NAME` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesResponse {
    pub metric: String,
    pub series: Vec<SeriesView>,
}

/// Spend of one group (a job, team, node or model) over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostRow {
    pub key: String,
    /// GPUs that reported in the window.
    pub gpus: usize,
    pub gpu_hours: f64,
    /// GPU-hours under the idle threshold.
    pub idle_gpu_hours: f64,
    pub cost_usd: f64,
    pub idle_cost_usd: f64,
    /// `idle_cost_usd / cost_usd`.
    pub waste_share: f64,
    /// Burn of the group's GPUs reporting now, $/h, and the part of it idle.
    pub burn_usd_per_hour: f64,
    pub idle_burn_usd_per_hour: f64,
}

/// `GET /api/v1/cost?window=1h&by=job|team|node|model` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostResponse {
    pub window: String,
    pub by: String,
    pub total: CostRow,
    /// Most expensive first.
    pub rows: Vec<CostRow>,
}

/// `GET /api/v1/gpus` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpusResponse {
    pub gpus: Vec<GpuView>,
    /// Event time of the newest point from any source, Unix milliseconds.
    pub newest_point_unix_ms: Option<i64>,
    /// Data points accepted since the collector started.
    pub points_received: u64,
    /// Distinct `host.name`s that sent GPU data.
    pub nodes: usize,
}

/// One point of a chart: event time, Unix milliseconds, and the value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ChartPoint {
    pub unix_ms: i64,
    pub value: f64,
}

/// A series over the store's window, resampled to at most a few hundred points (the
/// mean of each step).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    /// `utilization`, `memory`, `power`, `nvlink`, `pcie`, `cpu`, `iowait`, `disk`,
    /// `network`.
    pub name: String,
    /// `1` (a 0..1 share), `By`, `W`, `By/s`.
    pub unit: String,
    pub points: Vec<ChartPoint>,
}

impl Chart {
    /// The newest value.
    pub fn last(&self) -> Option<f64> {
        self.points.last().map(|p| p.value)
    }

    /// The largest value, 0 for none.
    pub fn max(&self) -> f64 {
        self.points.iter().map(|p| p.value).fold(0.0, f64::max)
    }
}

/// A process holding memory on a GPU, from `gpuwatch.gpu.process.memory.usage`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessView {
    pub pid: String,
    /// `process.executable.name`.
    pub name: Option<String>,
    pub memory_bytes: f64,
    pub job: Option<String>,
    pub team: Option<String>,
    pub last_seen_unix_ms: i64,
}

/// `GET /api/v1/gpu?node=NODE&id=UUID&since=15m` body: one GPU's newest values, its
/// charts over the window (utilization, memory, power, NVLink and PCIe bytes/s in both
/// directions together) and its processes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuDetailResponse {
    pub gpu: GpuView,
    pub charts: Vec<Chart>,
    /// Processes seen in the newest minute of the GPU's data, most memory first.
    pub processes: Vec<ProcessView>,
    /// The detectors that could not judge this GPU at the newest evaluation, and what
    /// they lacked: missing data is never read as healthy.
    #[serde(default)]
    pub not_judged: Vec<NotJudged>,
}

/// A detector that could not judge a GPU or a model at the newest evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotJudged {
    /// The detector, by the kind of alert it raises (`gpu_hang`).
    pub kind: crate::AlertKind,
    /// What of the model it concerns (a feature, `prediction`, a latency metric);
    /// empty for a GPU.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub what: String,
    /// What was missing: `no power`, `fewer than 100 observations`, ...
    pub missing: String,
}

/// A node's host, as `/api/v1/nodes` lists it: the newest values, rates over the two
/// newest points of the counters, and charts over the store's window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    pub node: String,
    /// Event time of the node's newest point, Unix milliseconds.
    pub last_seen_unix_ms: i64,
    /// GPUs the node reports.
    pub gpus: usize,
    /// Host-wide CPU share by mode, 0..1 (`system.cpu.utilization`).
    pub cpu_user: Option<f64>,
    pub cpu_system: Option<f64>,
    pub cpu_iowait: Option<f64>,
    pub cpu_idle: Option<f64>,
    pub cpu_steal: Option<f64>,
    pub memory_used_bytes: Option<f64>,
    /// Used plus free plus cached.
    pub memory_total_bytes: Option<f64>,
    /// Summed over devices, bytes/s.
    pub disk_read_bytes_per_second: Option<f64>,
    pub disk_write_bytes_per_second: Option<f64>,
    /// The busiest device's share of time busy, 0..1 (from `system.disk.io_time`).
    pub disk_busy: Option<f64>,
    /// Summed over interfaces, bytes/s.
    pub network_rx_bytes_per_second: Option<f64>,
    pub network_tx_bytes_per_second: Option<f64>,
    /// InfiniBand and RoCE ports (`hw.network.*`): how many, and how many are up.
    #[serde(default)]
    pub fabric_ports: usize,
    #[serde(default)]
    pub fabric_ports_up: usize,
    /// Summed over the fabric ports, bytes/s.
    #[serde(default)]
    pub fabric_rx_bytes_per_second: Option<f64>,
    #[serde(default)]
    pub fabric_tx_bytes_per_second: Option<f64>,
    /// Summed over the network file systems (NFS, Lustre), bytes/s.
    #[serde(default)]
    pub netfs_read_bytes_per_second: Option<f64>,
    #[serde(default)]
    pub netfs_write_bytes_per_second: Option<f64>,
    /// `cpu` (busy share: 1 - idle), `iowait`, `disk` (read + write bytes/s),
    /// `network` (receive + transmit bytes/s).
    pub charts: Vec<Chart>,
}

impl NodeView {
    /// The share of CPU time not idle.
    pub fn cpu_busy(&self) -> Option<f64> {
        self.cpu_idle.map(|idle| (1.0 - idle).clamp(0.0, 1.0))
    }
}

/// `GET /api/v1/nodes` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodesResponse {
    /// Sorted by name.
    pub nodes: Vec<NodeView>,
    pub newest_point_unix_ms: Option<i64>,
}

/// p50, p95 and p99 of a latency distribution, seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// One drift score of a model against its reference window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DriftScore {
    /// The feature, `prediction`, or the latency metric.
    pub feature: String,
    /// `psi`, `js`, `ks` or `wasserstein`.
    pub method: String,
    pub value: f64,
}

/// One served model, as `/api/v1/inference` lists it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// `gen_ai.request.model`, else `gpuwatch.model`.
    pub model: String,
    /// Requests per second over the window (hosts summed), from the request-duration
    /// histogram (`gen_ai.server.request.duration`, else `gpuwatch.inference.duration`).
    pub requests_per_second: Option<f64>,
    /// Request latency over the window.
    pub latency: Quantiles,
    /// Time to first token over the window (LLMs only).
    pub time_to_first_token: Quantiles,
    /// Every drift score with enough data, whether it crosses a threshold or not.
    pub drift: Vec<DriftScore>,
    /// What the drift and latency detectors could not judge at the newest evaluation.
    #[serde(default)]
    pub not_judged: Vec<NotJudged>,
}

/// `GET /api/v1/inference` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InferenceResponse {
    /// The latency window, e.g. `5m`.
    pub window: String,
    /// Sorted by model name.
    pub models: Vec<ModelSummary>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_key_orders_gpu_index_numerically() {
        let mk = |node: &str, name: &str| GpuView {
            node: node.into(),
            name: name.into(),
            ..GpuView::default()
        };
        let mut v = [
            mk("b", "gpu0"),
            mk("a", "gpu10"),
            mk("a", "gpu2-mig10"),
            mk("a", "gpu2-mig1"),
            mk("a", "gpu2"),
            mk("a", "gpu3"),
        ];
        v.sort_by(|x, y| x.sort_key().cmp(&y.sort_key()));
        let names: Vec<_> = v.iter().map(|g| format!("{}/{}", g.node, g.name)).collect();
        assert_eq!(
            names,
            [
                "a/gpu2",
                "a/gpu2-mig1",
                "a/gpu2-mig10",
                "a/gpu3",
                "a/gpu10",
                "b/gpu0"
            ]
        );
    }
}
