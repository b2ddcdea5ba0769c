//! What the host I/O readers return (`crate::host`: fabric ports, network file
//! systems) as plain data: the samplers hand it on (`Sampler::take_host_io`), the
//! exporter turns it into points, the simulator makes it up. A leaf, so the samplers'
//! trait and the readers do not import each other.

use serde::Serialize;

/// The fabric ports and network file systems at one instant.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostIo {
    pub fabric: Vec<FabricPort>,
    pub filesystems: Vec<FilesystemIo>,
}

/// One port of an RDMA device, as far as its driver shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FabricPort {
    /// The RDMA device, e.g. `mlx5_0`.
    pub device: String,
    /// The port number, from 1.
    pub port: u32,
    /// `InfiniBand` or `Ethernet` (RoCE).
    pub link_layer: Option<String>,
    /// The network interface on the port: `ib0` (IPoIB), `ens1f0np0` (RoCE).
    pub netdev: Option<String>,
    /// Bytes sent (`port_xmit_data` × 4).
    pub tx_bytes: Option<u64>,
    /// Bytes received (`port_rcv_data` × 4).
    pub rx_bytes: Option<u64>,
    pub tx_packets: Option<u64>,
    pub rx_packets: Option<u64>,
    /// Error counters present, as `(file name, count)`.
    pub errors: Vec<(&'static str, u64)>,
    /// Congestion notification counters present, as `(file name, count)`.
    pub congestion: Vec<(&'static str, u64)>,
    /// The link's signalling rate, bytes per second.
    pub rate_bytes_per_second: Option<f64>,
    /// `state` ACTIVE and `phys_state` LinkUp; `None` when either cannot be read.
    pub up: Option<bool>,
}

impl FabricPort {
    /// `hw.id`: `<device>:<port>`, e.g. `mlx5_0:1`.
    pub fn hw_id(&self) -> String {
        format!("{}:{}", self.device, self.port)
    }
}

/// One mounted network file system's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilesystemIo {
    /// `server:/export` for NFS, the llite instance (`scratch-ffff8a1b2c3d4000`) for
    /// Lustre.
    pub device: String,
    /// Where it is mounted; `None` for a Lustre instance whose mount is not known.
    pub mountpoint: Option<String>,
    /// `nfs`, `nfs4`, `lustre`.
    pub fstype: String,
    pub read_bytes: Option<u64>,
    pub write_bytes: Option<u64>,
    /// NFS only: the RPC transports, summed.
    pub transport: Option<RpcTransport>,
    /// NFS only: the operations kept (see the module's doc).
    pub operations: Vec<RpcOperation>,
}

/// The `xprt:` lines of a mount, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RpcTransport {
    /// Requests sent.
    pub sends: u64,
    /// The backlog queue's length summed at each send (`bklog_u`): its rate over the
    /// rate of `sends` is the mean backlog a request met.
    pub backlog: u64,
}

/// One line of `per-op statistics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RpcOperation {
    /// `READ`, `WRITE`, `GETATTR`, ...
    pub method: String,
    pub operations: u64,
    /// Transmissions: the first send of each operation and every retransmission.
    pub transmissions: u64,
    /// Time requests waited before they were sent, milliseconds in all.
    pub queue_ms: u64,
    /// Time from send to reply, milliseconds in all.
    pub rtt_ms: u64,
}

impl RpcOperation {
    /// Transmissions beyond the first of each operation.
    pub fn retransmissions(&self) -> u64 {
        self.transmissions.saturating_sub(self.operations)
    }
}
