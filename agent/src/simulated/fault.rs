//! Faults on a schedule: what goes wrong on a simulated node, on which GPU, and when,
//! and what that does to the GPUs' readings and to the host.
//!
//! Times are offsets from the sampler's first sample, so a faulty node stays a pure
//! function of `(seed, node, GPU, first sample time, time)`. Each fault is shaped to
//! trip its own collector detector (with the collector's default thresholds) and no
//! other; GPUs and hosts without an active fault read exactly what they read without
//! a schedule.

use std::time::Duration;

use gpuwatch_model::{AlertKind, ThrottleReason};

use super::gpu::{Reading, GIB};
use super::host::HostFault;
use super::io::IoFault;
use super::models::ModelFault;
use super::noise::{Channel, GpuKey};

/// Something that goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Busy but not working (a collective waiting forever): utilization 99–100%, power
    /// 75–90 W (idle; the limit is 700 W), temperature ~40–44 °C, no NVLink or PCIe
    /// traffic (the counters stop growing). The process keeps its memory.
    Hang,
    /// A process holds memory on a GPU that does nothing: utilization 0–2%, idle power
    /// and clocks, no traffic. A GPU holding less than 4 GiB gets a `python` process
    /// holding 20–28 GiB, so a free GPU stalls too.
    Stall,
    /// One GPU of a job runs slow: utilization 55–65%, half its NVLink rate, power
    /// following the utilization. Meant for a training GPU.
    Straggler,
    /// The input pipeline waits on the disk: the busy GPUs (those with a process)
    /// oscillate between 20% and 90% utilization with a 40 s period, their traffic and
    /// power following; the host shows iowait 40–50%, the disk busy 99–100% of the
    /// time and reading at its 3.2 GB/s ceiling.
    StorageBound,
    /// The input pipeline waits on the CPUs: the busy GPUs oscillate between 20% and
    /// 90% with a 30 s period; the host's user plus system time is ~98%.
    CpuBound,
    /// The driver reports this XID once, at the start: `xid_counts[code]` goes up by
    /// one and stays there (the end offset does not apply). XID 79 is "fallen off the
    /// bus"; the GPU keeps reporting, only the counter shows it.
    Xid(u32),
    /// Hardware thermal slowdown: `throttle` holds `HwThermal`, temperature 88–92 °C,
    /// SM clock at 70% of what it would be, power at 85%.
    ThermalThrottle,
    /// The node's models see other inputs: prompts three times longer and more high
    /// scores (see `models`). Hits the node's models whatever the target.
    PredictionDrift,
    /// The node's model servers slow down: requests 1.8 times and first tokens twice
    /// as slow. Hits the node's models whatever the target.
    LatencyRegression,
    /// The InfiniBand port of the target GPU (`mlx5_<i>:1`; port 0 for `Node`) trains
    /// down to half its rate (200 of 400 Gb/s), its symbol errors rising a few a second.
    LinkDegraded,
    /// The input pipeline waits on the datasets' NFS mount: the busy GPUs oscillate
    /// between 20% and 90% with a 50 s period; the mount reads at the filer's ceiling
    /// (1.15 GB/s) and its READs queue 40–60 ms in the client; iowait and the local
    /// disk stay as they were. Hits the node whatever the target.
    NfsBound,
}

impl Fault {
    /// A short name for logs: `hang`, `stall`, `straggler`, `storage-bound`,
    /// `cpu-bound`, `xid`, `thermal-throttle`, `prediction-drift`, `latency-regression`,
    /// `link-degraded`, `nfs-bound`.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Hang => "hang",
            Fault::Stall => "stall",
            Fault::Straggler => "straggler",
            Fault::StorageBound => "storage-bound",
            Fault::CpuBound => "cpu-bound",
            Fault::Xid(_) => "xid",
            Fault::ThermalThrottle => "thermal-throttle",
            Fault::PredictionDrift => "prediction-drift",
            Fault::LatencyRegression => "latency-regression",
            Fault::LinkDegraded => "link-degraded",
            Fault::NfsBound => "nfs-bound",
        }
    }

    /// The alert kind that should report this fault (the straggler and data-bottleneck
    /// kinds need their detectors).
    pub fn alert(&self) -> AlertKind {
        match self {
            Fault::Hang => AlertKind::GpuHang,
            Fault::Stall => AlertKind::GpuStalled,
            Fault::Straggler => AlertKind::GpuStraggler,
            Fault::StorageBound | Fault::CpuBound | Fault::NfsBound => AlertKind::DataBottleneck,
            Fault::LinkDegraded => AlertKind::FabricDegraded,
            Fault::Xid(_) => AlertKind::GpuXid,
            Fault::ThermalThrottle => AlertKind::GpuThrottle,
            Fault::PredictionDrift => AlertKind::ModelDrift,
            Fault::LatencyRegression => AlertKind::LatencyRegression,
        }
    }
}

/// Where a fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// One GPU, by index on the node; an index the node does not have hits nothing.
    Gpu(usize),
    /// Every GPU of the node. `StorageBound` and `CpuBound` hit the host whatever the
    /// target.
    Node,
}

impl Target {
    fn hits(self, gpu: usize) -> bool {
        match self {
            Target::Gpu(i) => i == gpu,
            Target::Node => true,
        }
    }
}

/// One fault: where, what, and when, relative to the sampler's first sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScheduledFault {
    pub target: Target,
    pub fault: Fault,
    /// Active from this offset on (inclusive).
    pub start: Duration,
    /// Active until this offset (exclusive); `None`: until the sampler stops.
    pub end: Option<Duration>,
}

impl ScheduledFault {
    /// Whether the fault is active `elapsed` after the first sample.
    pub fn is_active(&self, elapsed: Duration) -> bool {
        elapsed >= self.start && self.end.is_none_or(|end| elapsed < end)
    }
}

/// The faults of one simulated node. Where several are active on one GPU they apply
/// in schedule order, later ones over earlier ones.
///
/// # The demo schedule
///
/// [`FaultSchedule::demo`], keyed to [`demo_profiles`](super::demo_profiles). With
/// `gpus_per_node` = 8 (a GPU index past the node's last GPU becomes the last GPU),
/// sampling every second, and the collector's default thresholds (evaluation every
/// 5 s; times below are event time after the node's first sample, give or take one
/// evaluation interval):
///
/// | node | GPU | fault, from | alert | fires at | why then |
/// |---|---|---|---|---|---|
/// | 0 (training, job 4411) | 6 | `Straggler`, 30 s | `gpu_straggler`, warning, naming the degraded port | 6m05s | 55–65% busy at half the NVLink rate of its peers; the 5-min window holds enough by ~65 s, then `for` 5 min |
/// | 0 | 6 | `LinkDegraded`, 30 s | `fabric_degraded`, warning, `hw.id` = `mlx5_6:1` | 1m30s | 200 Gb/s against its peers' 400 at once (symbol errors rising too), then `for` 1 min |
/// | 1 (training, job 4411) | 3 | `Xid(79)`, 45 s | `gpu_xid`, critical, `gpuwatch.xid.code` = 79 | 45 s | `for` is 0; it stays firing 10 min after the event (the XID window), then resolves after `clear_for` (1 min): ~11m45s |
/// | 1 | all 8 | `Hang`, 90 s | `gpu_hang`, critical, one per GPU (only half of job 4411 hangs, so no job-wide alert) | 7m30s | the 1-min window holds no traffic from ~150 s (the mean power is under 245 W, 35% of 700 W, from ~131 s), then `for` 5 min |
/// | 2 (inference) | 5 | `ThermalThrottle`, 60 s | `gpu_throttle`, warning, reason `hw_thermal` | 6m50s | 80% of the 1-min window's samples throttled at ~107 s, then `for` 5 min |
/// | 2 | models | `PredictionDrift`, 7 min | `model_drift`, warning: `prompt_tokens`, then `prediction` | 12m50s, 13m25s | against the references frozen over 1–6 min, the current 5-min window passes PSI 0.2 or JS 0.1 a minute or two in, then `for` 5 min |
/// | 2 | models | `LatencyRegression`, 7 min | `latency_regression`, warning: time per output token, then request duration and time to first token | 13m, 13m15s | likewise, with the mean moving up |
/// | 3 (reserved idle + free) | 7 (free) | `Stall`, 60 s | `gpu_stalled`, warning | 11m | a process holds 20–28 GiB at under 5% from 60 s, then `for` 10 min |
/// | 3 | 0–3 (reserved by job 4502) | none | `idle_gpu_cost` (cost ledger) | when $10 is spent idle in an hour: ~37 min for four H100s at $4/h | reserved but idle from the start, no fault needed |
/// | 4 (training, job 4611) | all | `StorageBound`, 60 s | `data_bottleneck`, `storage` | 7m10s | GPUs 20–90% with a 40 s period, iowait 40–50%, disk busy ~100%, then `for` 5 min |
/// | 5 (training, job 4611) | all | `CpuBound`, 60 s | `data_bottleneck`, `cpu` | 7m40s | GPUs 20–90% with a 30 s period, CPU user + system ~98%, then `for` 5 min |
/// | 8, 9 (training, job 4811) | all | `NfsBound`, 60 s | `data_bottleneck`, `storage`, naming the NFS mount | 7m10s | GPUs 20–90% with a 50 s period, READs queueing 40–60 ms on `/datasets`, then `for` 5 min |
/// | 6, 7, 10, ... | | none | none (but `idle_gpu_cost` for the reserved GPUs of node 7, 11, ...) | | the healthy controls |
///
/// `tests/demo_replay.rs` replays this schedule (four GPUs a node) in event time through
/// OTLP and a real collector and checks every alert and its time.
///
/// No fault ends, so nothing resolves within the demo except the XID. No other alert
/// should fire: the hung GPUs are not stalled (busy), the stalled GPU is not hung
/// (idle), the throttled GPU is neither, and nothing ever shows `hw_thermal` but the
/// throttled GPU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultSchedule {
    faults: Vec<ScheduledFault>,
}

/// A period of the data-starved GPUs' utilization, nanoseconds.
const STORAGE_PERIOD_NANOS: u64 = 40_000_000_000;
const CPU_PERIOD_NANOS: u64 = 30_000_000_000;
const NFS_PERIOD_NANOS: u64 = 50_000_000_000;
/// Memory a stalled process holds at least; a GPU holding less is given more.
const STALL_MIN_BYTES: u64 = 4 * GIB;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl FaultSchedule {
    /// No faults: a healthy node.
    pub fn new() -> FaultSchedule {
        FaultSchedule::default()
    }

    /// Adds `fault` on `target` from `start` until `end` (`None`: for good).
    pub fn with(
        mut self,
        target: Target,
        fault: Fault,
        start: Duration,
        end: Option<Duration>,
    ) -> FaultSchedule {
        self.faults.push(ScheduledFault {
            target,
            fault,
            start,
            end,
        });
        self
    }

    /// Adds `fault` on GPU `gpu` from `start` on.
    pub fn gpu(self, gpu: usize, fault: Fault, start: Duration) -> FaultSchedule {
        self.with(Target::Gpu(gpu), fault, start, None)
    }

    /// Adds `fault` on every GPU of the node from `start` on.
    pub fn node(self, fault: Fault, start: Duration) -> FaultSchedule {
        self.with(Target::Node, fault, start, None)
    }

    /// The faults, in the order they were added.
    pub fn faults(&self) -> &[ScheduledFault] {
        &self.faults
    }

    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }

    /// The demo's faults for node `node_index` of a cluster laid out by
    /// [`demo_profiles`](super::demo_profiles); see the table on [`FaultSchedule`].
    pub fn demo(node_index: usize, gpus_per_node: usize) -> FaultSchedule {
        let schedule = FaultSchedule::new();
        let Some(last) = gpus_per_node.checked_sub(1) else {
            return schedule;
        };
        let gpu = |wanted: usize| wanted.min(last);
        let s = Duration::from_secs;
        match node_index {
            0 => schedule.gpu(gpu(6), Fault::Straggler, s(30)).gpu(
                gpu(6),
                Fault::LinkDegraded,
                s(30),
            ),
            1 => schedule
                .gpu(gpu(3), Fault::Xid(79), s(45))
                .node(Fault::Hang, s(90)),
            2 => schedule
                .gpu(gpu(5), Fault::ThermalThrottle, s(60))
                .node(Fault::PredictionDrift, s(420))
                .node(Fault::LatencyRegression, s(420)),
            // The last GPU is free from two GPUs on; a lone GPU is reserved, and stays
            // the idle-cost case.
            3 if gpus_per_node >= 2 => schedule.gpu(last, Fault::Stall, s(60)),
            4 => schedule.node(Fault::StorageBound, s(60)),
            5 => schedule.node(Fault::CpuBound, s(60)),
            // Job 4811 on nodes 8 and 9 reads its data from the same NFS filer.
            8 | 9 => schedule.node(Fault::NfsBound, s(60)),
            _ => schedule,
        }
    }

    /// Applies the faults on GPU `gpu` to its `reading` at `t`, `elapsed` nanoseconds
    /// after the first sample.
    pub(crate) fn apply_to_gpu(
        &self,
        gpu: usize,
        key: GpuKey,
        t: u64,
        elapsed: u64,
        reading: &mut Reading,
    ) {
        let since = Duration::from_nanos(elapsed);
        for f in self.faults.iter().filter(|f| f.target.hits(gpu)) {
            if let Fault::Xid(code) = f.fault {
                if since >= f.start {
                    *reading.xid_counts.entry(code).or_insert(0) += 1;
                }
                continue;
            }
            if f.is_active(since) {
                let into = elapsed.saturating_sub(nanos(f.start));
                apply(f.fault, key, t, into, reading);
            }
        }
    }

    /// What the faults active `elapsed` nanoseconds after the first sample do to the
    /// host.
    pub(crate) fn host_fault(&self, elapsed: u64) -> HostFault {
        HostFault {
            storage_bound: self.active(Fault::StorageBound, elapsed),
            cpu_bound: self.active(Fault::CpuBound, elapsed),
        }
    }

    /// What the faults active `elapsed` nanoseconds after the first sample do to the
    /// fabric and the network file system.
    pub(crate) fn io_fault(&self, elapsed: u64) -> IoFault {
        let since = Duration::from_nanos(elapsed);
        IoFault {
            degraded_port: self
                .faults
                .iter()
                .find(|f| f.fault == Fault::LinkDegraded && f.is_active(since))
                .map(|f| match f.target {
                    Target::Gpu(i) => i,
                    Target::Node => 0,
                }),
            nfs_bound: self.active(Fault::NfsBound, elapsed),
        }
    }

    /// Whether a `fault` is on anywhere on the node `elapsed` nanoseconds in.
    fn active(&self, fault: Fault, elapsed: u64) -> bool {
        let since = Duration::from_nanos(elapsed);
        self.faults
            .iter()
            .any(|f| f.fault == fault && f.is_active(since))
    }

    /// What the faults active `elapsed` nanoseconds after the first sample do to the
    /// node's models.
    pub(crate) fn model_fault(&self, elapsed: u64) -> ModelFault {
        ModelFault {
            drift: self.active(Fault::PredictionDrift, elapsed),
            latency_regression: self.active(Fault::LatencyRegression, elapsed),
        }
    }
}

fn stop_traffic(r: &mut Reading) {
    r.nvlink_tx_rate = 0.0;
    r.nvlink_rx_rate = 0.0;
    r.pcie_tx_rate = 0.0;
    r.pcie_rx_rate = 0.0;
}

/// `fault`'s effect on `r` at `t`, `into` nanoseconds after the fault started.
fn apply(fault: Fault, key: GpuKey, t: u64, into: u64, r: &mut Reading) {
    let n = |c| key.noise(c, t);
    match fault {
        Fault::Hang => {
            r.utilization = 0.995 + 0.005 * n(Channel::Utilization);
            r.power_watts = 82.5 + 7.5 * n(Channel::Power);
            r.temperature_celsius = 42.0 + 2.0 * n(Channel::Temperature);
            stop_traffic(r);
        }
        Fault::Stall => {
            r.utilization = 0.01 + 0.01 * n(Channel::Utilization);
            r.power_watts = 70.0 + 4.0 * n(Channel::Power);
            r.temperature_celsius = 34.0 + 2.0 * n(Channel::Temperature);
            r.sm_clock_hz = 345e6;
            stop_traffic(r);
            if r.memory_used_bytes < STALL_MIN_BYTES {
                r.memory_used_bytes =
                    20 * GIB + (key.fixed(Channel::Memory) * 8.0 * GIB as f64) as u64;
            }
            r.process = r.process.or(Some("python"));
        }
        Fault::Straggler => {
            let util = 0.60 + 0.05 * n(Channel::Utilization);
            r.utilization = util;
            r.power_watts = 80.0 + 560.0 * util + 10.0 * n(Channel::Power);
            r.temperature_celsius = 38.0 + 30.0 * util + 1.5 * n(Channel::Temperature);
            r.nvlink_tx_rate *= 0.5;
            r.nvlink_rx_rate *= 0.5;
        }
        Fault::StorageBound | Fault::CpuBound | Fault::NfsBound => {
            if r.process.is_none() {
                return;
            }
            let period = match fault {
                Fault::StorageBound => STORAGE_PERIOD_NANOS,
                Fault::CpuBound => CPU_PERIOD_NANOS,
                _ => NFS_PERIOD_NANOS,
            };
            let phase = (into % period) as f64 / period as f64;
            let wave = (std::f64::consts::TAU * phase).sin();
            let util = (0.55 + 0.33 * wave + 0.02 * n(Channel::Utilization)).clamp(0.2, 0.9);
            let scale = if r.utilization > 0.0 {
                util / r.utilization
            } else {
                0.0
            };
            r.utilization = util;
            r.power_watts = 80.0 + 560.0 * util + 10.0 * n(Channel::Power);
            r.temperature_celsius = 38.0 + 35.0 * util + 1.5 * n(Channel::Temperature);
            r.nvlink_tx_rate *= scale;
            r.nvlink_rx_rate *= scale;
            r.pcie_tx_rate *= scale;
            r.pcie_rx_rate *= scale;
        }
        Fault::Xid(_) | Fault::PredictionDrift | Fault::LatencyRegression | Fault::LinkDegraded => {
        }
        Fault::ThermalThrottle => {
            if !r.throttle.contains(&ThrottleReason::HwThermal) {
                r.throttle.push(ThrottleReason::HwThermal);
            }
            r.temperature_celsius = 90.0 + 2.0 * n(Channel::Temperature);
            r.sm_clock_hz *= 0.7;
            r.power_watts *= 0.85;
        }
    }
}
