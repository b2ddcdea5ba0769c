//! The simulated host around the GPUs: CPU, memory, one NVMe disk, one NIC, loaded in
//! proportion to what the GPUs do.

use gpuwatch_model::sample::{CpuModes, DiskCounters, NetCounters};
use gpuwatch_model::HostSample;

use super::noise::{hash, signed, unit, Channel, TICK_NANOS};
use super::profile::Profile;

const GIB: f64 = (1u64 << 30) as f64;
const MB: f64 = 1e6;
const GB: f64 = 1e9;
pub(crate) const HOST_MEMORY_BYTES: u64 = 2048 * (1 << 30);
pub(crate) const DISK: &str = "nvme0n1";
pub(crate) const NIC: &str = "eth0";

/// Share of the node's GPUs in each kind of work, 0..1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Load {
    pub training: f64,
    pub inference: f64,
}

impl Load {
    pub(crate) fn of(profiles: &[Profile]) -> Load {
        let n = profiles.len().max(1) as f64;
        let count = |f: fn(&Profile) -> bool| profiles.iter().filter(|p| f(p)).count() as f64 / n;
        Load {
            training: count(|p| matches!(p, Profile::Training { .. })),
            inference: count(|p| matches!(p, Profile::Inference { .. })),
        }
    }
}

/// Cumulative host counters; they only ever grow.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HostCounters {
    last_time: u64,
    disk_read: u64,
    disk_write: u64,
    disk_busy_seconds: f64,
    net_rx: u64,
    net_tx: u64,
}

impl HostCounters {
    pub(crate) fn start(seed: u64, node: u64, t: u64) -> HostCounters {
        let offset = |i: u64, scale: f64| {
            unit(hash(&[seed, node, Channel::Offset as u64, 1000 + i])) * scale
        };
        HostCounters {
            last_time: t,
            disk_read: offset(0, 1e13) as u64,
            disk_write: offset(1, 1e12) as u64,
            disk_busy_seconds: offset(2, 1e5),
            net_rx: offset(3, 1e13) as u64,
            net_tx: offset(4, 1e12) as u64,
        }
    }
}

/// What the node's active faults do to the host: starve the GPUs' input pipeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HostFault {
    /// The disk is the bottleneck: busy ~100%, reads at their ceiling, high iowait.
    pub storage_bound: bool,
    /// The CPUs are the bottleneck: user plus system ~98%.
    pub cpu_bound: bool,
}

/// Disk read rate of a storage-bound node: the device's ceiling.
const DISK_CEILING_BYTES_PER_SECOND: f64 = 3.2 * GB;

/// Advances `counters` to `t` under `load` and `fault` and returns the host sample at
/// `t`. Without a fault the values are the healthy ones exactly.
pub(crate) fn host_sample(
    seed: u64,
    node: u64,
    load: Load,
    fault: HostFault,
    counters: &mut HostCounters,
    t: u64,
) -> HostSample {
    let n =
        |channel: Channel, i: u64| signed(hash(&[seed, node, channel as u64, i, t / TICK_NANOS]));
    let (train, infer) = (load.training, load.inference);

    let mut user = 0.05 + 0.40 * train + 0.20 * infer + 0.02 * n(Channel::Cpu, 0);
    let mut system = 0.02 + 0.06 * train + 0.04 * infer + 0.005 * n(Channel::Cpu, 1);
    let mut iowait = 0.004 + 0.02 * train + 0.002 * n(Channel::Cpu, 2) * train;
    if fault.cpu_bound {
        // Data loader workers on every core: user + system in [0.967, 0.988].
        user = 0.875 + 0.005 * n(Channel::Cpu, 10);
        system = 0.105 + 0.003 * n(Channel::Cpu, 11);
        iowait = 0.002 + 0.001 * n(Channel::Cpu, 12);
    } else if fault.storage_bound {
        // Workers blocked on reads: iowait in [0.40, 0.50].
        user = 0.12 + 0.02 * n(Channel::Cpu, 10);
        system = 0.04 + 0.005 * n(Channel::Cpu, 11);
        iowait = 0.45 + 0.05 * n(Channel::Cpu, 12);
    }
    let steal = 0.0;
    let cpu = CpuModes {
        user,
        system,
        iowait,
        steal,
        idle: 1.0 - user - system - iowait - steal,
    };

    let used = (64.0 + 400.0 * train + 150.0 * infer + n(Channel::HostMemory, 0)) * GIB;
    let cached = (256.0 + 256.0 * train + 64.0 * infer) * GIB;
    let used = used as u64;
    let cached = cached as u64;
    let free = HOST_MEMORY_BYTES.saturating_sub(used + cached);

    let elapsed = t.saturating_sub(counters.last_time) as f64 / 1e9;
    counters.last_time = counters.last_time.max(t);
    let bytes = |rate: f64| (rate * elapsed).max(0.0) as u64;
    let (read_rate, busy_share) = if fault.storage_bound {
        (
            DISK_CEILING_BYTES_PER_SECOND * (1.0 + 0.01 * n(Channel::Disk, 0)),
            0.995 + 0.005 * n(Channel::Disk, 1),
        )
    } else {
        (
            50.0 * MB + 2.0 * GB * train + 20.0 * MB * infer,
            (0.02 + 0.5 * train + 0.05 * infer).min(1.0),
        )
    };
    counters.disk_read += bytes(read_rate);
    counters.disk_write += bytes(5.0 * MB + 100.0 * MB * train + 5.0 * MB * infer);
    counters.disk_busy_seconds += elapsed * busy_share;
    counters.net_rx += bytes(10.0 * MB + 1.5 * GB * train + 200.0 * MB * infer);
    counters.net_tx += bytes(10.0 * MB + 200.0 * MB * train + 200.0 * MB * infer);

    HostSample {
        cpu: Some(cpu),
        memory_used_bytes: used,
        memory_free_bytes: free,
        memory_cached_bytes: cached,
        disks: vec![DiskCounters {
            device: DISK.to_string(),
            read_bytes: counters.disk_read,
            write_bytes: counters.disk_write,
            io_time_seconds: counters.disk_busy_seconds,
        }],
        networks: vec![NetCounters {
            interface: NIC.to_string(),
            rx_bytes: counters.net_rx,
            tx_bytes: counters.net_tx,
        }],
    }
}
