//! The metrics of the fabric ports and network file systems read beside a sample
//! (`crate::host::HostIo`): pure functions from it to points, and their table.
//!
//! A fabric port's points carry `hw.id` (`<device>:<port>`), `hw.type` = `network`
//! (OpenTelemetry's hardware network conventions), `gpuwatch.fabric.link_layer` and,
//! where the port has one, `network.interface.name`. A file system's carry
//! `system.device`, `system.filesystem.type` and, where known,
//! `system.filesystem.mountpoint`. Counters a driver or file does not show give no
//! point.

use gpuwatch_model::names::{attr, metric, unit, value};
use opentelemetry_proto::tonic::common::v1::KeyValue;

use super::spec::{spec, Kind, Point, Points, Spec};
use super::stamp::string_attr;
use crate::host::fabric::FabricPort;
use crate::host::netfs::{FilesystemIo, RpcOperation};
use crate::host::HostIo;

/// `hw.id`, `hw.type`, `gpuwatch.fabric.link_layer`, `network.interface.name`.
fn port_attributes(port: &FabricPort) -> Vec<KeyValue> {
    let mut attrs = vec![
        string_attr(attr::HW_ID, &port.hw_id()),
        string_attr(attr::HW_TYPE, value::HW_TYPE_NETWORK),
    ];
    if let Some(layer) = &port.link_layer {
        attrs.push(string_attr(attr::FABRIC_LINK_LAYER, layer));
    }
    if let Some(netdev) = &port.netdev {
        attrs.push(string_attr(attr::INTERFACE, netdev));
    }
    attrs
}

fn with(mut attrs: Vec<KeyValue>, key: &str, value: &str) -> Vec<KeyValue> {
    attrs.push(string_attr(key, value));
    attrs
}

/// A value a port may have, and the attribute that tells it from the port's others.
type Reading<T> = (Option<T>, Option<(&'static str, &'static str)>);

/// One point per port for each reading of `read` that has a value.
fn per_port<T>(io: &HostIo, read: impl Fn(&FabricPort) -> Vec<Reading<T>>) -> Vec<Point<T>> {
    let mut points = Vec::new();
    for port in &io.fabric {
        let base = port_attributes(port);
        for (v, extra) in read(port) {
            let Some(v) = v else { continue };
            let attrs = match extra {
                Some((key, value)) => with(base.clone(), key, value),
                None => base.clone(),
            };
            points.push((v, attrs));
        }
    }
    points
}

fn directions<T>(tx: Option<T>, rx: Option<T>) -> Vec<Reading<T>> {
    vec![
        (tx, Some((attr::IO_DIRECTION, value::TRANSMIT))),
        (rx, Some((attr::IO_DIRECTION, value::RECEIVE))),
    ]
}

fn network_io(io: &HostIo) -> Vec<Point<u64>> {
    per_port(io, |p| directions(p.tx_bytes, p.rx_bytes))
}

fn network_packets(io: &HostIo) -> Vec<Point<u64>> {
    per_port(io, |p| directions(p.tx_packets, p.rx_packets))
}

fn port_errors(io: &HostIo) -> Vec<Point<u64>> {
    per_port(io, |p| {
        p.errors
            .iter()
            .map(|(name, v)| (Some(*v), Some((attr::ERROR_TYPE, *name))))
            .collect()
    })
}

fn congestion(io: &HostIo) -> Vec<Point<u64>> {
    per_port(io, |p| {
        p.congestion
            .iter()
            .map(|(name, v)| (Some(*v), Some((attr::FABRIC_COUNTER, *name))))
            .collect()
    })
}

fn bandwidth_limit(io: &HostIo) -> Vec<Point<f64>> {
    per_port(io, |p| vec![(p.rate_bytes_per_second, None)])
}

fn up(io: &HostIo) -> Vec<Point<f64>> {
    per_port(io, |p| {
        vec![(p.up.map(|up| if up { 1.0 } else { 0.0 }), None)]
    })
}

/// `system.device`, `system.filesystem.mountpoint` (where known),
/// `system.filesystem.type`.
fn filesystem_attributes(fs: &FilesystemIo) -> Vec<KeyValue> {
    let mut attrs = vec![string_attr(attr::DEVICE, &fs.device)];
    if let Some(mountpoint) = &fs.mountpoint {
        attrs.push(string_attr(attr::FILESYSTEM_MOUNTPOINT, mountpoint));
    }
    attrs.push(string_attr(attr::FILESYSTEM_TYPE, &fs.fstype));
    attrs
}

fn filesystem_io(io: &HostIo) -> Vec<Point<u64>> {
    let mut points = Vec::new();
    for fs in &io.filesystems {
        for (v, direction) in [(fs.read_bytes, value::READ), (fs.write_bytes, value::WRITE)] {
            if let Some(v) = v {
                let attrs = with(filesystem_attributes(fs), attr::DISK_DIRECTION, direction);
                points.push((v, attrs));
            }
        }
    }
    points
}

/// One point per NFS operation kept, of what `read` takes from it.
fn per_operation<T>(io: &HostIo, read: fn(&RpcOperation) -> T) -> Vec<Point<T>> {
    let mut points = Vec::new();
    for fs in &io.filesystems {
        for op in &fs.operations {
            let attrs = with(filesystem_attributes(fs), attr::RPC_METHOD, &op.method);
            points.push((read(op), attrs));
        }
    }
    points
}

fn rpc_operations(io: &HostIo) -> Vec<Point<u64>> {
    per_operation(io, |op| op.operations)
}

fn rpc_retransmissions(io: &HostIo) -> Vec<Point<u64>> {
    per_operation(io, RpcOperation::retransmissions)
}

fn rpc_rtt(io: &HostIo) -> Vec<Point<f64>> {
    per_operation(io, |op| op.rtt_ms as f64 / 1000.0)
}

fn rpc_queue_time(io: &HostIo) -> Vec<Point<f64>> {
    per_operation(io, |op| op.queue_ms as f64 / 1000.0)
}

fn per_transport(
    io: &HostIo,
    read: fn(&crate::host::netfs::RpcTransport) -> u64,
) -> Vec<Point<u64>> {
    io.filesystems
        .iter()
        .filter_map(|fs| Some((read(fs.transport.as_ref()?), filesystem_attributes(fs))))
        .collect()
}

fn rpc_sends(io: &HostIo) -> Vec<Point<u64>> {
    per_transport(io, |t| t.sends)
}

fn rpc_backlog(io: &HostIo) -> Vec<Point<u64>> {
    per_transport(io, |t| t.backlog)
}

/// Every metric of a `HostIo` (the contract additions of the fabric and network file
/// system sampling).
pub(crate) const HOST_IO_METRICS: [Spec<HostIo>; 13] = [
    spec(
        Kind::Counter,
        metric::HW_NETWORK_IO,
        unit::BYTES,
        "Bytes through an InfiniBand or RoCE port",
        Points::Int(network_io),
    ),
    spec(
        Kind::Counter,
        metric::HW_NETWORK_PACKETS,
        unit::PACKETS,
        "Packets through an InfiniBand or RoCE port",
        Points::Int(network_packets),
    ),
    spec(
        Kind::Counter,
        metric::ERRORS,
        unit::ERRORS,
        "Fabric port errors by counter",
        Points::Int(port_errors),
    ),
    spec(
        Kind::Counter,
        metric::FABRIC_CONGESTION,
        unit::PACKETS,
        "RoCE congestion notification packets sent and handled",
        Points::Int(congestion),
    ),
    spec(
        Kind::Gauge,
        metric::HW_NETWORK_BANDWIDTH_LIMIT,
        unit::BYTES_PER_SECOND,
        "Fabric port link rate",
        Points::Double(bandwidth_limit),
    ),
    spec(
        Kind::Gauge,
        metric::HW_NETWORK_UP,
        unit::RATIO,
        "1 while the fabric port is active with its physical link up",
        Points::Double(up),
    ),
    spec(
        Kind::Counter,
        metric::FILESYSTEM_IO,
        unit::BYTES,
        "Bytes applications read from and wrote to a network file system",
        Points::Int(filesystem_io),
    ),
    spec(
        Kind::Counter,
        metric::NFS_RPC_OPERATIONS,
        unit::OPERATIONS,
        "NFS RPC operations",
        Points::Int(rpc_operations),
    ),
    spec(
        Kind::Counter,
        metric::NFS_RPC_RETRANSMISSIONS,
        unit::RETRANSMISSIONS,
        "NFS RPC retransmissions",
        Points::Int(rpc_retransmissions),
    ),
    spec(
        Kind::Counter,
        metric::NFS_RPC_RTT,
        unit::SECONDS,
        "NFS RPC round-trip time, summed",
        Points::Double(rpc_rtt),
    ),
    spec(
        Kind::Counter,
        metric::NFS_RPC_QUEUE_TIME,
        unit::SECONDS,
        "Time NFS RPC requests queued before sending, summed",
        Points::Double(rpc_queue_time),
    ),
    spec(
        Kind::Counter,
        metric::NFS_RPC_SENDS,
        unit::REQUESTS,
        "Requests the mount's RPC transports sent",
        Points::Int(rpc_sends),
    ),
    spec(
        Kind::Counter,
        metric::NFS_RPC_BACKLOG,
        unit::REQUESTS,
        "The RPC backlog queue's length summed at each send",
        Points::Int(rpc_backlog),
    ),
];
