// What the agent exports from the fake node tree beside this file (`sys/`, `proc/`):
// every fabric and network file system point, with its unit, kind and value. Shared by
// `agent/tests/fabric.rs` (the agent loop in process) and `tests/agent_fabric.rs` (the
// `gpuwatch` binary), which `include!` it.

/// One point the agent must export: metric, unit, `"sum"` or `"gauge"`, the attributes
/// that pick the point out, and its value.
#[derive(Debug)]
pub struct Expected {
    pub metric: &'static str,
    pub unit: &'static str,
    pub kind: &'static str,
    pub attrs: &'static [(&'static str, &'static str)],
    pub value: f64,
}

const fn e(
    metric: &'static str,
    unit: &'static str,
    kind: &'static str,
    attrs: &'static [(&'static str, &'static str)],
    value: f64,
) -> Expected {
    Expected {
        metric,
        unit,
        kind,
        attrs,
        value,
    }
}

const IB: (&str, &str) = ("hw.id", "mlx5_0:1");
const ROCE: (&str, &str) = ("hw.id", "mlx5_1:1");
const DOWN: (&str, &str) = ("hw.id", "mlx5_2:1");
const TX: (&str, &str) = ("network.io.direction", "transmit");
const RX: (&str, &str) = ("network.io.direction", "receive");
const NFS: (&str, &str) = ("system.filesystem.mountpoint", "/mnt/data");

pub const EXPECTED: &[Expected] = &[
    // ConnectX-7 InfiniBand NDR, mlx5_0 port 1: data counters count 4-byte words.
    e(
        "hw.network.io",
        "By",
        "sum",
        &[
            IB,
            TX,
            ("hw.type", "network"),
            ("gpuwatch.fabric.link_layer", "InfiniBand"),
            ("network.interface.name", "ib0"),
        ],
        4000.0,
    ),
    e("hw.network.io", "By", "sum", &[IB, RX], 10000.0),
    e("hw.network.packets", "{packet}", "sum", &[IB, TX], 100.0),
    e("hw.network.packets", "{packet}", "sum", &[IB, RX], 250.0),
    e(
        "hw.errors",
        "{error}",
        "sum",
        &[IB, ("error.type", "symbol_error")],
        1.0,
    ),
    e(
        "hw.errors",
        "{error}",
        "sum",
        &[IB, ("error.type", "link_downed")],
        2.0,
    ),
    e(
        "hw.errors",
        "{error}",
        "sum",
        &[IB, ("error.type", "port_rcv_errors")],
        3.0,
    ),
    e(
        "hw.errors",
        "{error}",
        "sum",
        &[IB, ("error.type", "port_xmit_discards")],
        4.0,
    ),
    e(
        "hw.errors",
        "{error}",
        "sum",
        &[IB, ("error.type", "local_link_integrity_errors")],
        5.0,
    ),
    e(
        "hw.errors",
        "{error}",
        "sum",
        &[IB, ("error.type", "excessive_buffer_overrun_errors")],
        6.0,
    ),
    e(
        "hw.errors",
        "{error}",
        "sum",
        &[IB, ("error.type", "out_of_sequence")],
        7.0,
    ),
    e(
        "hw.errors",
        "{error}",
        "sum",
        &[IB, ("error.type", "packet_seq_err")],
        8.0,
    ),
    e(
        "hw.errors",
        "{error}",
        "sum",
        &[IB, ("error.type", "rnr_nak_retry_err")],
        9.0,
    ),
    e("hw.network.bandwidth.limit", "By/s", "gauge", &[IB], 50e9),
    e("hw.network.up", "1", "gauge", &[IB], 1.0),
    // ConnectX-7 RoCE, mlx5_1 port 1, netdev from gid_attrs/ndevs/0.
    e(
        "hw.network.io",
        "By",
        "sum",
        &[
            ROCE,
            TX,
            ("hw.type", "network"),
            ("gpuwatch.fabric.link_layer", "Ethernet"),
            ("network.interface.name", "ens2f0np0"),
        ],
        493827156.0,
    ),
    e("hw.network.io", "By", "sum", &[ROCE, RX], 3950617284.0),
    e("hw.network.packets", "{packet}", "sum", &[ROCE, TX], 1111.0),
    e("hw.network.packets", "{packet}", "sum", &[ROCE, RX], 2222.0),
    e(
        "hw.errors",
        "{error}",
        "sum",
        &[ROCE, ("error.type", "link_downed")],
        13.0,
    ),
    e(
        "hw.errors",
        "{error}",
        "sum",
        &[ROCE, ("error.type", "port_rcv_errors")],
        11.0,
    ),
    e(
        "hw.errors",
        "{error}",
        "sum",
        &[ROCE, ("error.type", "port_xmit_discards")],
        12.0,
    ),
    e(
        "hw.errors",
        "{error}",
        "sum",
        &[ROCE, ("error.type", "out_of_sequence")],
        23.0,
    ),
    e(
        "hw.errors",
        "{error}",
        "sum",
        &[ROCE, ("error.type", "packet_seq_err")],
        24.0,
    ),
    e(
        "hw.errors",
        "{error}",
        "sum",
        &[ROCE, ("error.type", "rnr_nak_retry_err")],
        25.0,
    ),
    e(
        "gpuwatch.fabric.congestion",
        "{packet}",
        "sum",
        &[ROCE, ("gpuwatch.fabric.counter", "np_cnp_sent")],
        21.0,
    ),
    e(
        "gpuwatch.fabric.congestion",
        "{packet}",
        "sum",
        &[ROCE, ("gpuwatch.fabric.counter", "rp_cnp_handled")],
        22.0,
    ),
    e("hw.network.bandwidth.limit", "By/s", "gauge", &[ROCE], 25e9),
    e("hw.network.up", "1", "gauge", &[ROCE], 1.0),
    // A disabled port whose port_rcv_data the driver garbled: that counter is left out.
    e(
        "hw.network.io",
        "By",
        "sum",
        &[DOWN, TX, ("network.interface.name", "ib1")],
        0.0,
    ),
    e("hw.network.up", "1", "gauge", &[DOWN], 0.0),
    e(
        "hw.network.bandwidth.limit",
        "By/s",
        "gauge",
        &[DOWN],
        1.25e9,
    ),
    // NFS v4.2 on /mnt/data: normal + direct bytes, per-op RPC counters.
    e(
        "gpuwatch.filesystem.io",
        "By",
        "sum",
        &[
            NFS,
            ("system.device", "server:/export"),
            ("system.filesystem.type", "nfs4"),
            ("disk.io.direction", "read"),
        ],
        1073745920.0,
    ),
    e(
        "gpuwatch.filesystem.io",
        "By",
        "sum",
        &[NFS, ("disk.io.direction", "write")],
        536879104.0,
    ),
    e(
        "gpuwatch.nfs.rpc.operations",
        "{operation}",
        "sum",
        &[NFS, ("rpc.method", "READ")],
        1234.0,
    ),
    e(
        "gpuwatch.nfs.rpc.operations",
        "{operation}",
        "sum",
        &[NFS, ("rpc.method", "WRITE")],
        512.0,
    ),
    e(
        "gpuwatch.nfs.rpc.operations",
        "{operation}",
        "sum",
        &[NFS, ("rpc.method", "GETATTR")],
        3000.0,
    ),
    e(
        "gpuwatch.nfs.rpc.operations",
        "{operation}",
        "sum",
        &[NFS, ("rpc.method", "LOOKUP")],
        400.0,
    ),
    e(
        "gpuwatch.nfs.rpc.operations",
        "{operation}",
        "sum",
        &[NFS, ("rpc.method", "ACCESS")],
        300.0,
    ),
    e(
        "gpuwatch.nfs.rpc.operations",
        "{operation}",
        "sum",
        &[NFS, ("rpc.method", "OPEN")],
        40.0,
    ),
    e(
        "gpuwatch.nfs.rpc.retransmissions",
        "{retransmission}",
        "sum",
        &[NFS, ("rpc.method", "READ")],
        0.0,
    ),
    e(
        "gpuwatch.nfs.rpc.retransmissions",
        "{retransmission}",
        "sum",
        &[NFS, ("rpc.method", "WRITE")],
        3.0,
    ),
    e(
        "gpuwatch.nfs.rpc.retransmissions",
        "{retransmission}",
        "sum",
        &[NFS, ("rpc.method", "ACCESS")],
        1.0,
    ),
    e(
        "gpuwatch.nfs.rpc.rtt",
        "s",
        "sum",
        &[NFS, ("rpc.method", "READ")],
        2.0,
    ),
    e(
        "gpuwatch.nfs.rpc.rtt",
        "s",
        "sum",
        &[NFS, ("rpc.method", "WRITE")],
        0.9,
    ),
    e(
        "gpuwatch.nfs.rpc.rtt",
        "s",
        "sum",
        &[NFS, ("rpc.method", "GETATTR")],
        0.6,
    ),
    e(
        "gpuwatch.nfs.rpc.rtt",
        "s",
        "sum",
        &[NFS, ("rpc.method", "LOOKUP")],
        0.08,
    ),
    e(
        "gpuwatch.nfs.rpc.rtt",
        "s",
        "sum",
        &[NFS, ("rpc.method", "ACCESS")],
        0.05,
    ),
    e(
        "gpuwatch.nfs.rpc.queue_time",
        "s",
        "sum",
        &[NFS, ("rpc.method", "READ")],
        0.01,
    ),
    e(
        "gpuwatch.nfs.rpc.queue_time",
        "s",
        "sum",
        &[NFS, ("rpc.method", "WRITE")],
        0.005,
    ),
    e(
        "gpuwatch.nfs.rpc.queue_time",
        "s",
        "sum",
        &[NFS, ("rpc.method", "GETATTR")],
        0.003,
    ),
    e(
        "gpuwatch.nfs.rpc.queue_time",
        "s",
        "sum",
        &[NFS, ("rpc.method", "LOOKUP")],
        0.001,
    ),
    e(
        "gpuwatch.nfs.rpc.queue_time",
        "s",
        "sum",
        &[NFS, ("rpc.method", "ACCESS")],
        0.001,
    ),
    e("gpuwatch.nfs.rpc.sends", "{request}", "sum", &[NFS], 5000.0),
    e(
        "gpuwatch.nfs.rpc.backlog",
        "{request}",
        "sum",
        &[NFS],
        300.0,
    ),
    // Lustre: llite stats in /proc, and (Lustre 2.15+) in debugfs under /sys.
    e(
        "gpuwatch.filesystem.io",
        "By",
        "sum",
        &[
            ("system.device", "scratch-ffff8a1b2c3d4000"),
            ("system.filesystem.mountpoint", "/lustre/scratch"),
            ("system.filesystem.type", "lustre"),
            ("disk.io.direction", "read"),
        ],
        1073741824.0,
    ),
    e(
        "gpuwatch.filesystem.io",
        "By",
        "sum",
        &[
            ("system.device", "scratch-ffff8a1b2c3d4000"),
            ("disk.io.direction", "write"),
        ],
        536870912.0,
    ),
    e(
        "gpuwatch.filesystem.io",
        "By",
        "sum",
        &[
            ("system.device", "work-ffff9b2c3d4e5000"),
            ("system.filesystem.mountpoint", "/lustre/work"),
            ("system.filesystem.type", "lustre"),
            ("disk.io.direction", "read"),
        ],
        314572800.0,
    ),
];

/// Points that must not be there: `(metric, attributes)`. A file a driver does not show
/// (or garbles) gives no point, and NFS operations never used beyond the five always
/// kept are left out.
pub const ABSENT: &[(&str, &[(&str, &str)])] = &[
    ("hw.network.io", &[DOWN, RX]),
    ("hw.network.packets", &[DOWN]),
    ("hw.errors", &[ROCE, ("error.type", "symbol_error")]),
    ("gpuwatch.fabric.congestion", &[IB]),
    (
        "gpuwatch.nfs.rpc.operations",
        &[NFS, ("rpc.method", "COMMIT")],
    ),
    (
        "gpuwatch.nfs.rpc.operations",
        &[NFS, ("rpc.method", "READDIR")],
    ),
    (
        "gpuwatch.filesystem.io",
        &[
            ("system.device", "work-ffff9b2c3d4e5000"),
            ("disk.io.direction", "write"),
        ],
    ),
];

/// Checks `request` against the tables: every `EXPECTED` point once, with its unit,
/// kind and value, and no `ABSENT` point. Uses the including file's `find` and
/// `number`; returns each expected point found, for checks of its own.
fn check_expected(
    request: &ExportMetricsServiceRequest,
) -> Vec<(&'static Expected, &NumberDataPoint)> {
    let mut found = Vec::new();
    for e in EXPECTED {
        let (unit, kind, point) = find(request, e.metric, e.attrs)
            .unwrap_or_else(|| panic!("no {} point with {:?}", e.metric, e.attrs));
        assert_eq!((unit, kind), (e.unit, e.kind), "{} {:?}", e.metric, e.attrs);
        let value = number(point);
        assert!(
            (value - e.value).abs() <= 1e-9 * e.value.abs().max(1.0),
            "{} {:?}: {value}, want {}",
            e.metric,
            e.attrs,
            e.value
        );
        found.push((e, point));
    }
    for (name, want) in ABSENT {
        assert!(
            find(request, name, want).is_none(),
            "{name} {want:?} should be absent"
        );
    }
    found
}
