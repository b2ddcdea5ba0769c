//! The simulated node's fabric and network file system, as the agent reads a real one
//! (`crate::host::HostIo`): one NDR InfiniBand port per GPU (`mlx5_<i>:1`, `ib<i>`,
//! 400 Gb/s, up) carrying the training GPUs' collectives, and the datasets' NFS 4.2
//! mount (`filer:/datasets` on `/datasets`) the data loaders read from.

use crate::host::fabric::FabricPort;
use crate::host::netfs::{FilesystemIo, RpcOperation, RpcTransport};
use crate::host::HostIo;

use super::host::Load;
use super::noise::{hash, signed, unit, Channel, TICK_NANOS};

/// NDR: 400 Gb/s, in bytes per second.
pub(crate) const NDR_BYTES_PER_SECOND: f64 = 50e9;
/// The most ports a node has (one per GPU, as on a DGX H100).
const MAX_PORTS: usize = 8;
pub(crate) const NFS_MOUNT: &str = "/datasets";
const NFS_DEVICE: &str = "filer:/datasets";
/// NFS READ size: 1 MiB (`rsize`).
const READ_SIZE: f64 = 1_048_576.0;
/// What the filer gives one client at most: a 10 GbE link's worth.
const NFS_CEILING_BYTES_PER_SECOND: f64 = 1.15e9;

/// What the node's active faults do to its fabric and file system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct IoFault {
    /// This port trained down to half its rate, its symbol errors rising.
    pub degraded_port: Option<usize>,
    /// The data loaders wait on the NFS mount: reads at the filer's ceiling, READs
    /// queueing in the client.
    pub nfs_bound: bool,
}

/// Cumulative counters; they only ever grow.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IoCounters {
    last_time: u64,
    ports: Vec<PortCounters>,
    nfs_read: f64,
    nfs_write: f64,
    reads: f64,
    read_queue_ms: f64,
    read_rtt_ms: f64,
    getattrs: f64,
}

#[derive(Debug, Clone, PartialEq)]
struct PortCounters {
    rx: f64,
    tx: f64,
    symbol_errors: f64,
    /// Fixed since boot: link-downs and receive errors of long ago.
    link_downed: u64,
    rcv_errors: u64,
}

impl IoCounters {
    pub(crate) fn start(seed: u64, node: u64, gpus: usize, t: u64) -> IoCounters {
        let offset = |i: u64, scale: f64| {
            unit(hash(&[seed, node, Channel::Offset as u64, 2000 + i])) * scale
        };
        let ports = (0..gpus.min(MAX_PORTS) as u64)
            .map(|p| PortCounters {
                rx: offset(10 * p, 1e14),
                tx: offset(10 * p + 1, 1e14),
                symbol_errors: offset(10 * p + 2, 40.0).floor(),
                link_downed: offset(10 * p + 3, 3.0) as u64,
                rcv_errors: offset(10 * p + 4, 20.0) as u64,
            })
            .collect();
        IoCounters {
            last_time: t,
            ports,
            nfs_read: offset(100, 1e13),
            nfs_write: offset(101, 1e10),
            reads: offset(102, 1e7).floor(),
            read_queue_ms: offset(103, 1e6).floor(),
            read_rtt_ms: offset(104, 1e7).floor(),
            getattrs: offset(105, 1e6).floor(),
        }
    }
}

/// Advances `counters` to `t` under `load` and `fault` and returns what the agent
/// would read at `t`.
pub(crate) fn host_io(
    seed: u64,
    node: u64,
    load: Load,
    fault: IoFault,
    counters: &mut IoCounters,
    t: u64,
) -> HostIo {
    let n = |channel: Channel, i: u64| {
        signed(hash(&[
            seed,
            node,
            channel as u64,
            3000 + i,
            t / TICK_NANOS,
        ]))
    };
    let elapsed = t.saturating_sub(counters.last_time) as f64 / 1e9;
    counters.last_time = counters.last_time.max(t);
    let train = load.training;

    let mut fabric = Vec::with_capacity(counters.ports.len());
    for (i, port) in counters.ports.iter_mut().enumerate() {
        let degraded = fault.degraded_port == Some(i);
        let rate = if degraded {
            NDR_BYTES_PER_SECOND / 2.0
        } else {
            NDR_BYTES_PER_SECOND
        };
        // All-reduce traffic: ~12 GB/s each way per port in training, the degraded
        // port's at most what its halved link carries.
        let wire = (12e9 * train + 5e6) * (1.0 + 0.05 * n(Channel::Fabric, i as u64));
        port.rx += wire.min(rate * 0.9) * elapsed;
        port.tx += wire.min(rate * 0.9) * elapsed;
        if degraded {
            // A marginal link: a few symbol errors a second.
            port.symbol_errors += (3.0 + 2.0 * n(Channel::Fabric, 100 + i as u64)) * elapsed;
        }
        fabric.push(FabricPort {
            device: format!("mlx5_{i}"),
            port: 1,
            link_layer: Some("InfiniBand".into()),
            netdev: Some(format!("ib{i}")),
            tx_bytes: Some(port.tx as u64),
            rx_bytes: Some(port.rx as u64),
            tx_packets: Some((port.tx / 4096.0) as u64),
            rx_packets: Some((port.rx / 4096.0) as u64),
            errors: vec![
                ("symbol_error", port.symbol_errors as u64),
                ("link_downed", port.link_downed),
                ("port_rcv_errors", port.rcv_errors),
            ],
            congestion: Vec::new(),
            rate_bytes_per_second: Some(rate),
            up: Some(true),
        });
    }

    // The data loaders' reads: steady and well under the filer's ceiling, or at it.
    let (read_rate, queue_ms_per_read) = if fault.nfs_bound {
        (
            NFS_CEILING_BYTES_PER_SECOND * (1.0 + 0.01 * n(Channel::Fabric, 50)),
            50.0 + 10.0 * n(Channel::Fabric, 51),
        )
    } else {
        (
            5e6 + 300e6 * train * (1.0 + 0.1 * n(Channel::Fabric, 50)),
            0.2 + 0.1 * n(Channel::Fabric, 51),
        )
    };
    let reads = read_rate / READ_SIZE * elapsed;
    counters.nfs_read += read_rate * elapsed;
    counters.nfs_write += 1e5 * elapsed;
    counters.reads += reads;
    counters.read_queue_ms += reads * queue_ms_per_read;
    counters.read_rtt_ms += reads * 0.9;
    counters.getattrs += 50.0 * elapsed;
    let reads = counters.reads as u64;
    let getattrs = counters.getattrs as u64;
    let filesystems = vec![FilesystemIo {
        device: NFS_DEVICE.into(),
        mountpoint: Some(NFS_MOUNT.into()),
        fstype: "nfs4".into(),
        read_bytes: Some(counters.nfs_read as u64),
        write_bytes: Some(counters.nfs_write as u64),
        transport: Some(RpcTransport {
            sends: reads + getattrs,
            backlog: (counters.read_queue_ms / 10.0) as u64,
        }),
        operations: vec![
            RpcOperation {
                method: "READ".into(),
                operations: reads,
                transmissions: reads,
                queue_ms: counters.read_queue_ms as u64,
                rtt_ms: counters.read_rtt_ms as u64,
            },
            RpcOperation {
                method: "GETATTR".into(),
                operations: getattrs,
                transmissions: getattrs,
                queue_ms: getattrs / 20,
                rtt_ms: getattrs / 2,
            },
        ],
    }];
    HostIo {
        fabric,
        filesystems,
    }
}
