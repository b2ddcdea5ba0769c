//! Fabric ports and network file systems from a fake node laid out as the kernel does
//! (`testdata/node`: a ConnectX-7 InfiniBand port, a RoCE port, a disabled port, an
//! NFS v4.2 mount, two Lustre clients): what the readers see, and what the agent loop
//! exports from them to a fake collector.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{attr, metrics, number, points, FakeCollector, Running};
use gpuwatch_agent::host::fabric::FabricPort;
use gpuwatch_agent::host::netfs::RpcTransport;
use gpuwatch_agent::host::HostIoSampler;
use gpuwatch_agent::{demo_profiles, AgentConfig, HostSampler, SimulatedSampler};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric, NumberDataPoint};

include!("testdata/node/expected.rs");

fn tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/node")
}

#[test]
fn reads_the_ports_of_a_fake_sysfs() {
    let io = HostIoSampler::new(&tree().join("sys"), &tree().join("proc")).sample();
    let ids: Vec<String> = io.fabric.iter().map(FabricPort::hw_id).collect();
    assert_eq!(ids, ["mlx5_0:1", "mlx5_1:1", "mlx5_2:1"]);
    assert_eq!(
        io.fabric[0],
        FabricPort {
            device: "mlx5_0".into(),
            port: 1,
            link_layer: Some("InfiniBand".into()),
            netdev: Some("ib0".into()),
            tx_bytes: Some(4000),
            rx_bytes: Some(10000),
            tx_packets: Some(100),
            rx_packets: Some(250),
            errors: vec![
                ("symbol_error", 1),
                ("link_downed", 2),
                ("port_rcv_errors", 3),
                ("port_xmit_discards", 4),
                ("local_link_integrity_errors", 5),
                ("excessive_buffer_overrun_errors", 6),
                ("out_of_sequence", 7),
                ("packet_seq_err", 8),
                ("rnr_nak_retry_err", 9),
            ],
            congestion: vec![],
            rate_bytes_per_second: Some(50e9),
            up: Some(true),
        }
    );
    let roce = &io.fabric[1];
    assert_eq!(roce.link_layer.as_deref(), Some("Ethernet"));
    assert_eq!(roce.netdev.as_deref(), Some("ens2f0np0"));
    assert_eq!(
        roce.congestion,
        [("np_cnp_sent", 21), ("rp_cnp_handled", 22)]
    );
    let down = &io.fabric[2];
    assert_eq!(
        (down.tx_bytes, down.rx_bytes, down.tx_packets),
        (Some(0), None, None),
        "a garbled counter and missing ones are absent, not zero"
    );
    assert_eq!(down.up, Some(false));
}

#[test]
fn reads_nfs_and_lustre_mounts() {
    let io = HostIoSampler::new(&tree().join("sys"), &tree().join("proc")).sample();
    let mounts: Vec<(&str, Option<&str>, &str)> = io
        .filesystems
        .iter()
        .map(|f| {
            (
                f.device.as_str(),
                f.mountpoint.as_deref(),
                f.fstype.as_str(),
            )
        })
        .collect();
    assert_eq!(
        mounts,
        [
            ("server:/export", Some("/mnt/data"), "nfs4"),
            (
                "scratch-ffff8a1b2c3d4000",
                Some("/lustre/scratch"),
                "lustre"
            ),
            ("work-ffff9b2c3d4e5000", Some("/lustre/work"), "lustre"),
        ]
    );
    let nfs = &io.filesystems[0];
    assert_eq!(
        nfs.transport,
        Some(RpcTransport {
            sends: 5000,
            backlog: 300
        })
    );
    let methods: Vec<&str> = nfs.operations.iter().map(|o| o.method.as_str()).collect();
    assert_eq!(
        methods,
        ["NULL", "READ", "WRITE", "OPEN", "GETATTR", "LOOKUP", "ACCESS"]
    );
}

#[test]
fn no_sysfs_or_mounts_means_no_metrics() {
    let empty = std::env::temp_dir().join(format!("gpuwatch-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("temp dir");
    let io = HostIoSampler::new(&empty, &empty).sample();
    assert!(io.fabric.is_empty() && io.filesystems.is_empty());
    let _ = std::fs::remove_dir_all(empty);
}

fn config(collector: String, sys_root: &Path, proc_root: &Path) -> AgentConfig {
    AgentConfig {
        collector,
        interval: "100ms".into(),
        timeout: "2s".into(),
        cluster: "test".into(),
        host_name: "node-ib".into(),
        sys_root: sys_root.display().to_string(),
        proc_root: proc_root.display().to_string(),
        kubelet_socket: String::new(),
        ..AgentConfig::default()
    }
}

/// The point of `name` whose attributes include `want`, with its metric's unit and
/// kind; `None` when there is none.
fn find<'a>(
    request: &'a ExportMetricsServiceRequest,
    name: &str,
    want: &[(&str, &str)],
) -> Option<(&'a str, &'static str, &'a NumberDataPoint)> {
    let mut found = None;
    for m in metrics(request).into_iter().filter(|m| m.name == name) {
        let kind = match m.data {
            Some(metric::Data::Sum(_)) => "sum",
            Some(metric::Data::Gauge(_)) => "gauge",
            _ => "other",
        };
        for p in points(m) {
            if want
                .iter()
                .all(|(k, v)| attr(&p.attributes, k).as_deref() == Some(*v))
            {
                assert!(found.is_none(), "{name} {want:?}: more than one point");
                found = Some((m.unit.as_str(), kind, p));
            }
        }
    }
    found
}

#[tokio::test]
async fn the_agent_exports_every_fabric_and_filesystem_counter() {
    let mut collector = FakeCollector::start(200).await;
    let (sys, proc) = (tree().join("sys"), tree().join("proc"));
    let agent = Running::start(
        config(collector.endpoint(), &sys, &proc),
        Box::new(HostSampler::new(proc.clone())),
    );
    let request = collector.next().await.decode();
    agent.stop(Duration::from_secs(10)).await;

    let names: Vec<&str> = metrics(&request).iter().map(|m| m.name.as_str()).collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(names.len(), unique.len(), "each name once: {names:?}");
    for (e, point) in check_expected(&request) {
        if e.kind == "sum" {
            assert!(
                point.start_time_unix_nano > 0,
                "{} counts from a start",
                e.metric
            );
        }
    }
    // The host sample is still there beside them.
    assert!(names.contains(&"system.cpu.utilization") || names.contains(&"system.memory.usage"));
}

/// A simulated node reports its own made-up fabric and NFS mount (one NDR port per GPU,
/// `/datasets`), never the ports and mounts of the machine it runs on.
#[tokio::test]
async fn simulated_nodes_report_their_own_fabric_not_the_machines() {
    let mut collector = FakeCollector::start(200).await;
    let agent = Running::start(
        config(
            collector.endpoint(),
            &tree().join("sys"),
            &tree().join("proc"),
        ),
        Box::new(SimulatedSampler::new(0, demo_profiles(0, 1), 1)),
    );
    let request = collector.next().await.decode();
    agent.stop(Duration::from_secs(10)).await;
    let names: Vec<&str> = metrics(&request).iter().map(|m| m.name.as_str()).collect();
    assert!(names.contains(&"hw.gpu.utilization"));
    let (unit, kind, limit) =
        find(&request, "hw.network.bandwidth.limit", &[IB]).expect("the simulated port");
    assert_eq!((unit, kind, number(limit)), ("By/s", "gauge", 50e9));
    assert_eq!(
        attr(&limit.attributes, "network.interface.name").as_deref(),
        Some("ib0")
    );
    for (name, want) in [
        ("hw.network.up", &[ROCE][..]),
        ("hw.network.up", &[DOWN][..]),
        ("gpuwatch.filesystem.io", &[NFS][..]),
    ] {
        assert!(
            find(&request, name, want).is_none(),
            "{name} {want:?}: the machine's, not the simulated node's"
        );
    }
    assert!(find(
        &request,
        "gpuwatch.filesystem.io",
        &[
            ("system.filesystem.mountpoint", "/datasets"),
            ("disk.io.direction", "read")
        ]
    )
    .is_some());
}
