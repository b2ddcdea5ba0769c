//! One simulated GPU: its instantaneous readings from its profile, and the counters that
//! integrate them between samples.

use std::collections::BTreeMap;

use gpuwatch_model::{GpuProcess, GpuSample, ThrottleReason};

use super::noise::{hash, hash_str, signed, unit, Channel, GpuKey, TICK_NANOS};
use super::profile::Profile;

/// The model every simulated GPU reports.
pub(crate) const MODEL: &str = "NVIDIA H100 80GB HBM3";
pub(crate) const MEMORY_TOTAL_BYTES: u64 = 80 * GIB;
pub(crate) const POWER_LIMIT_WATTS: f64 = 700.0;
pub(crate) const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;
const GB: f64 = 1e9;
/// Memory the driver and CUDA context hold beside what the process reports.
const CONTEXT_BYTES: u64 = 512 * MIB;
/// Inference servers (vLLM) preallocate this share of the memory for the KV cache.
const INFERENCE_MEMORY_SHARE: f64 = 0.9;
/// Period of the inference load's daily-pattern stand-in.
const INFERENCE_PERIOD_NANOS: u64 = 300 * 1_000_000_000;

/// What a GPU reads at one instant; rates are bytes per second.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reading {
    pub utilization: f64,
    pub memory_used_bytes: u64,
    pub power_watts: f64,
    pub temperature_celsius: f64,
    pub sm_clock_hz: f64,
    pub nvlink_tx_rate: f64,
    pub nvlink_rx_rate: f64,
    pub pcie_tx_rate: f64,
    pub pcie_rx_rate: f64,
    /// Executable of the one process holding the memory, if any.
    pub process: Option<&'static str>,
    /// Throttle reasons active now; only faults set any.
    pub throttle: Vec<ThrottleReason>,
    /// Cumulative XID events by code; only faults add any.
    pub xid_counts: BTreeMap<u32, u64>,
}

/// The readings of `profile` at `t` (Unix nanoseconds).
pub(crate) fn reading(profile: &Profile, key: GpuKey, t: u64) -> Reading {
    match profile {
        Profile::Training { job_id, .. } => training(key, job_id, t),
        Profile::Inference { .. } => inference(key, t),
        Profile::ReservedIdle { .. } => idle(
            key,
            t,
            300 * MIB + (key.fixed(Channel::Memory) * 300.0) as u64 * MIB,
        ),
        Profile::FreeIdle => idle(key, t, 0),
    }
}

fn training(key: GpuKey, job_id: &str, t: u64) -> Reading {
    let n = |c| key.noise(c, t);
    let memory = 71.0 + 5.0 * key.fixed(Channel::Memory) + 0.5 * n(Channel::Memory);
    // All-reduce moves the same volume through every GPU of the job: one rate for the
    // job (same on every node), a shared wobble, and a small per-GPU jitter.
    let job = hash_str(job_id);
    let base = 150.0 * GB + 100.0 * GB * unit(hash(&[key.seed, job, Channel::NvlinkBase as u64]));
    let shared = 1.0
        + 0.01
            * signed(hash(&[
                key.seed,
                job,
                Channel::NvlinkJob as u64,
                t / TICK_NANOS,
            ]));
    Reading {
        utilization: (0.95 + 0.045 * n(Channel::Utilization)).clamp(0.90, 1.0),
        memory_used_bytes: (memory * GIB as f64) as u64,
        power_watts: 620.0 + 60.0 * n(Channel::Power),
        temperature_celsius: 67.5 + 7.0 * n(Channel::Temperature),
        sm_clock_hz: 1_830e6 + 150e6 * n(Channel::Clock),
        nvlink_tx_rate: base * shared * (1.0 + 0.005 * n(Channel::NvlinkTx)),
        nvlink_rx_rate: base * shared * (1.0 + 0.005 * n(Channel::NvlinkRx)),
        pcie_tx_rate: 0.3 * GB * (1.0 + 0.2 * n(Channel::PcieTx)),
        pcie_rx_rate: 2.0 * GB * (1.0 + 0.2 * n(Channel::PcieRx)),
        process: Some("python"),
        throttle: Vec::new(),
        xid_counts: BTreeMap::new(),
    }
}

fn inference(key: GpuKey, t: u64) -> Reading {
    let n = |c| key.noise(c, t);
    // Replicas behind one load balancer see nearly the same load: the phase is per node.
    let node_phase = unit(hash(&[key.seed, key.node, Channel::Phase as u64]));
    let cycle = (t % INFERENCE_PERIOD_NANOS) as f64 / INFERENCE_PERIOD_NANOS as f64;
    let wave = (std::f64::consts::TAU * (cycle + node_phase)).sin();
    let utilization = (0.55 + 0.2 * wave + 0.05 * n(Channel::Utilization)).clamp(0.3, 0.8);
    Reading {
        utilization,
        memory_used_bytes: (INFERENCE_MEMORY_SHARE * MEMORY_TOTAL_BYTES as f64) as u64,
        power_watts: 80.0 + 480.0 * utilization + 10.0 * n(Channel::Power),
        temperature_celsius: 38.0 + 30.0 * utilization + 1.5 * n(Channel::Temperature),
        sm_clock_hz: 1_755e6 + 100e6 * n(Channel::Clock),
        nvlink_tx_rate: 0.0,
        nvlink_rx_rate: 0.0,
        pcie_tx_rate: 0.8 * GB * utilization * (1.0 + 0.1 * n(Channel::PcieTx)),
        pcie_rx_rate: 0.5 * GB * utilization * (1.0 + 0.1 * n(Channel::PcieRx)),
        process: Some("vllm"),
        throttle: Vec::new(),
        xid_counts: BTreeMap::new(),
    }
}

fn idle(key: GpuKey, t: u64, memory_used_bytes: u64) -> Reading {
    let n = |c| key.noise(c, t);
    Reading {
        utilization: if memory_used_bytes > 0 {
            0.005 + 0.005 * n(Channel::Utilization)
        } else {
            0.0
        },
        memory_used_bytes,
        power_watts: 70.0 + 4.0 * n(Channel::Power),
        temperature_celsius: 33.0 + 3.0 * n(Channel::Temperature),
        sm_clock_hz: 345e6,
        nvlink_tx_rate: 0.0,
        nvlink_rx_rate: 0.0,
        pcie_tx_rate: 0.0,
        pcie_rx_rate: 0.0,
        process: None,
        throttle: Vec::new(),
        xid_counts: BTreeMap::new(),
    }
}

/// Cumulative counters of one GPU; they only ever grow.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Counters {
    last_time: u64,
    pub energy_joules: f64,
    pub nvlink_tx_bytes: u64,
    pub nvlink_rx_bytes: u64,
    pub pcie_tx_bytes: u64,
    pub pcie_rx_bytes: u64,
}

impl Counters {
    /// Counters as a driver loaded some time ago would show them at `t`.
    pub(crate) fn start(key: GpuKey, t: u64) -> Counters {
        let offset = |i: u64, scale: f64| {
            (unit(hash(&[
                key.seed,
                key.node,
                key.gpu,
                Channel::Offset as u64,
                i,
            ])) * scale) as u64
        };
        Counters {
            last_time: t,
            energy_joules: 1e6 + offset(0, 9e6) as f64,
            nvlink_tx_bytes: offset(1, 1e14),
            nvlink_rx_bytes: offset(2, 1e14),
            pcie_tx_bytes: offset(3, 1e12),
            pcie_rx_bytes: offset(4, 1e12),
        }
    }

    /// Adds `reading`'s rates over the time since the last advance; time going
    /// backwards counts as no time.
    pub(crate) fn advance(&mut self, reading: &Reading, t: u64) {
        let elapsed = t.saturating_sub(self.last_time) as f64 / 1e9;
        self.last_time = self.last_time.max(t);
        let bytes = |rate: f64| (rate * elapsed).max(0.0) as u64;
        self.energy_joules += (reading.power_watts * elapsed).max(0.0);
        self.nvlink_tx_bytes += bytes(reading.nvlink_tx_rate);
        self.nvlink_rx_bytes += bytes(reading.nvlink_rx_rate);
        self.pcie_tx_bytes += bytes(reading.pcie_tx_rate);
        self.pcie_rx_bytes += bytes(reading.pcie_rx_rate);
    }
}

/// `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, stable for (seed, node, GPU).
pub(crate) fn uuid(key: GpuKey) -> String {
    let hi = hash(&[key.seed, key.node, key.gpu, Channel::Uuid as u64]);
    let lo = hash(&[key.seed, key.node, key.gpu, Channel::UuidLow as u64]);
    format!(
        "GPU-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// The pid of the process on this GPU: a per-node base plus the GPU index.
pub(crate) fn pid(key: GpuKey) -> u32 {
    let base = 10_000 + (hash(&[key.seed, key.node, Channel::Pid as u64]) % 50_000) as u32;
    base + 10 * key.gpu as u32
}

/// Puts a reading and the counters together into the contract's sample.
pub(crate) fn gpu_sample(
    key: GpuKey,
    profile: &Profile,
    reading: &Reading,
    counters: &Counters,
) -> GpuSample {
    let job = profile.job();
    let processes = reading
        .process
        .map(|executable| GpuProcess {
            pid: pid(key),
            executable: executable.to_string(),
            memory_bytes: reading.memory_used_bytes.saturating_sub(CONTEXT_BYTES),
            job: job.clone(),
        })
        .into_iter()
        .collect();
    GpuSample {
        index: key.gpu as u32,
        uuid: uuid(key),
        model: MODEL.to_string(),
        utilization: reading.utilization,
        encoder_utilization: Some(0.0),
        decoder_utilization: Some(0.0),
        memory_used_bytes: reading.memory_used_bytes,
        memory_total_bytes: MEMORY_TOTAL_BYTES,
        power_watts: reading.power_watts,
        power_limit_watts: Some(POWER_LIMIT_WATTS),
        energy_joules: Some(counters.energy_joules),
        temperature_celsius: reading.temperature_celsius,
        sm_clock_hz: Some(reading.sm_clock_hz),
        throttle: reading.throttle.clone(),
        ecc_corrected: Some(0),
        ecc_uncorrected: Some(0),
        pcie_tx_bytes: Some(counters.pcie_tx_bytes),
        pcie_rx_bytes: Some(counters.pcie_rx_bytes),
        nvlink_tx_bytes: Some(counters.nvlink_tx_bytes),
        nvlink_rx_bytes: Some(counters.nvlink_rx_bytes),
        xid_counts: reading.xid_counts.clone(),
        processes,
        job,
        mig: None,
    }
}
