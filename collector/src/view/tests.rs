//! The read models over stores built point by point.

use super::*;
use crate::store::builder::{every, Builder, M, S};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// node-01 gpu0 over ten minutes: utilization ramping up, memory, power, NVLink
/// counters (1 GB/s each way), two processes (one gone for minutes) and a job change.
fn one_gpu() -> Store {
    let mut b = Builder::new();
    let (from, to) = (0, 600);
    b.gpu(
        "node-01",
        0,
        Some("j1"),
        metric::GPU_UTILIZATION,
        &[],
        every(10, from, 300, |_| 0.2),
    )
    .gpu(
        "node-01",
        0,
        Some("j2"),
        metric::GPU_UTILIZATION,
        &[],
        every(10, 310, to, |_| 0.8),
    )
    .gpu(
        "node-01",
        0,
        Some("j2"),
        metric::GPU_MEMORY_USAGE,
        &[],
        every(10, from, to, |_| 40.0 * GIB),
    )
    .gpu(
        "node-01",
        0,
        Some("j2"),
        metric::POWER,
        &[],
        every(10, from, to, |t| 100.0 + t as f64),
    )
    .gpu(
        "node-01",
        0,
        Some("j2"),
        metric::GPU_IO,
        &[
            (attr::LINK, value::LINK_NVLINK),
            (attr::IO_DIRECTION, value::TRANSMIT),
        ],
        every(10, from, to, |t| t as f64 * 1e9),
    )
    .gpu(
        "node-01",
        0,
        Some("j2"),
        metric::GPU_IO,
        &[
            (attr::LINK, value::LINK_NVLINK),
            (attr::IO_DIRECTION, value::RECEIVE),
        ],
        every(10, from, to, |t| t as f64 * 1e9),
    )
    .gpu(
        "node-01",
        0,
        Some("j2"),
        metric::GPU_PROCESS_MEMORY,
        &[
            (attr::PROCESS_PID, "4242"),
            (attr::PROCESS_EXECUTABLE, "python"),
        ],
        every(10, 310, to, |_| 30.0 * GIB),
    )
    .gpu(
        "node-01",
        0,
        Some("j1"),
        metric::GPU_PROCESS_MEMORY,
        &[
            (attr::PROCESS_PID, "1111"),
            (attr::PROCESS_EXECUTABLE, "old"),
        ],
        every(10, from, 300, |_| 20.0 * GIB),
    );
    b.build()
}

#[test]
fn gpu_detail_charts_the_window_and_lists_live_processes() {
    let store = one_gpu();
    let detail = gpu_detail(&store, "node-01", "GPU-node-01-0", 10 * M, 10).expect("known GPU");
    assert_eq!(detail.gpu.job.as_deref(), Some("j2"));
    let names: Vec<&str> = detail.charts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["utilization", "memory", "power", "nvlink", "pcie"]);
    let util = &detail.charts[0];
    assert_eq!(util.points.len(), 10, "{util:?}");
    // Steps of a minute ending at 600 s: the first half at 0.2, the second at 0.8 (the
    // job changed, the series follow each other).
    assert!((util.points[0].value - 0.2).abs() < 1e-9, "{util:?}");
    assert!((util.points[9].value - 0.8).abs() < 1e-9, "{util:?}");
    assert_eq!(util.points[9].unix_ms, 600_000);
    // Transmit and receive each grow 1 GB/s: the chart sums them.
    let nvlink = &detail.charts[3];
    assert!(
        nvlink.points.iter().all(|p| (p.value - 2e9).abs() < 1.0),
        "{nvlink:?}"
    );
    assert!(detail.charts[4].points.is_empty(), "no PCIe data");
    assert_eq!(detail.processes.len(), 1, "{:?}", detail.processes);
    let p = &detail.processes[0];
    assert_eq!(
        (p.pid.as_str(), p.name.as_deref()),
        ("4242", Some("python"))
    );
    assert_eq!(p.job.as_deref(), Some("j2"));
    assert!((p.memory_bytes - 30.0 * GIB).abs() < 1.0);

    assert!(gpu_detail(&store, "node-01", "GPU-nope", 10 * M, 10).is_none());
}

#[test]
fn grid_steps_end_at_the_newest_point() {
    let grid = Grid::ending_at(600 * S, 10 * M, 10);
    assert_eq!((grid.from, grid.step, grid.steps), (0, M, 10));
    let one = Grid::ending_at(5, 0, 0);
    assert_eq!((one.step, one.steps), (1, 1));
}

#[test]
fn nodes_sum_disks_and_interfaces_and_skip_loopback() {
    let mut b = Builder::new();
    let host = |extra: &[(&'static str, &'static str)]| {
        let mut attrs = vec![(attr::HOST_NAME, "node-07")];
        attrs.extend_from_slice(extra);
        attrs
    };
    let (from, to) = (0, 300);
    for (mode, share) in [
        (value::CPU_USER, 0.10),
        (value::CPU_SYSTEM, 0.05),
        (value::CPU_IOWAIT, 0.60),
        (value::CPU_IDLE, 0.25),
    ] {
        b.series(
            metric::CPU_UTILIZATION,
            &host(&[(attr::CPU_MODE, mode)]),
            every(10, from, to, |_| share),
        );
    }
    for (state, gib) in [
        (value::MEM_USED, 100.0),
        (value::MEM_FREE, 20.0),
        (value::MEM_CACHED, 8.0),
    ] {
        b.series(
            metric::MEMORY_USAGE,
            &host(&[(attr::MEMORY_STATE, state)]),
            every(10, from, to, |_| gib * GIB),
        );
    }
    for dev in ["nvme0n1", "nvme1n1"] {
        b.series(
            metric::DISK_IO,
            &host(&[(attr::DEVICE, dev), (attr::DISK_DIRECTION, value::READ)]),
            every(10, from, to, |t| t as f64 * 1e9),
        );
    }
    b.series(
        metric::DISK_IO_TIME,
        &host(&[(attr::DEVICE, "nvme0n1")]),
        every(10, from, to, |t| t as f64 * 0.98),
    );
    for (iface, per_s) in [("eth0", 5e8), ("lo", 9e9)] {
        b.series(
            metric::NETWORK_IO,
            &host(&[
                (attr::INTERFACE, iface),
                (attr::IO_DIRECTION, value::RECEIVE),
            ]),
            every(10, from, to, |t| t as f64 * per_s),
        );
    }
    b.gpu(
        "node-07",
        0,
        None,
        metric::GPU_UTILIZATION,
        &[],
        every(10, from, to, |_| 0.1),
    );
    let store = b.build();

    let got = nodes(&store, 5 * M, 5);
    assert_eq!(got.nodes.len(), 1);
    let n = &got.nodes[0];
    assert_eq!((n.node.as_str(), n.gpus), ("node-07", 1));
    assert_eq!(n.last_seen_unix_ms, 300_000);
    assert_eq!(n.cpu_iowait, Some(0.60));
    assert!((n.cpu_busy().unwrap_or_default() - 0.75).abs() < 1e-9);
    assert_eq!(n.memory_used_bytes, Some(100.0 * GIB));
    assert_eq!(n.memory_total_bytes, Some(128.0 * GIB));
    assert_eq!(n.disk_read_bytes_per_second, Some(2e9));
    assert_eq!(n.disk_write_bytes_per_second, None);
    assert!((n.disk_busy.unwrap_or_default() - 0.98).abs() < 1e-9);
    assert_eq!(n.network_rx_bytes_per_second, Some(5e8), "lo is left out");
    let names: Vec<&str> = n.charts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["cpu", "iowait", "disk", "network"]);
    assert!(
        n.charts.iter().all(|c| c.points.len() == 5),
        "{:?}",
        n.charts
    );
    assert!((n.charts[0].points[4].value - 0.75).abs() < 1e-9);
    assert!((n.charts[2].points[4].value - 2e9).abs() < 1.0);
    assert_eq!((n.fabric_ports, n.fabric_ports_up), (0, 0));
    assert_eq!(
        n.fabric_rx_bytes_per_second, None,
        "no fabric: none, not zero"
    );
}

#[test]
fn mig_instances_are_listed_under_their_parent_and_counted_once() {
    let mut b = Builder::new();
    b.gpu(
        "node-03",
        0,
        None,
        metric::GPU_MEMORY_LIMIT,
        &[],
        every(10, 0, 60, |_| 80.0 * GIB),
    );
    for (slot, id) in [(1, "MIG-b"), (0, "MIG-a")] {
        let name = format!("gpu0-mig{slot}");
        b.series(
            metric::GPU_MEMORY_USAGE,
            &[
                (attr::HOST_NAME, "node-03"),
                (attr::HW_ID, id),
                (attr::HW_NAME, name.as_str()),
                (attr::HW_PARENT, "GPU-node-03-0"),
                (attr::GPU_MIG_PROFILE, "3g.40gb"),
            ],
            every(10, 0, 60, |_| GIB),
        );
    }
    let store = b.build();
    let listed = gpus(&store).gpus;
    let names: Vec<_> = listed.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["gpu0", "gpu0-mig0", "gpu0-mig1"]);
    assert_eq!((&listed[0].parent, &listed[0].mig_profile), (&None, &None));
    assert_eq!(listed[1].parent.as_deref(), Some("GPU-node-03-0"));
    assert_eq!(listed[1].mig_profile.as_deref(), Some("3g.40gb"));
    assert_eq!(listed[1].memory_used_bytes, Some(GIB));
    assert_eq!(nodes(&store, 5 * M, 5).nodes[0].gpus, 1, "one physical GPU");
}

#[test]
fn nodes_sum_fabric_ports_and_network_file_systems() {
    let mut b = Builder::new();
    for (port, up, per_s) in [("mlx5_0:1", 1.0, 12e9), ("mlx5_1:1", 0.0, 0.0)] {
        let attrs = [
            (attr::HOST_NAME, "node-07"),
            (attr::HW_ID, port),
            (attr::HW_TYPE, "network"),
        ];
        b.series(metric::HW_NETWORK_UP, &attrs, every(10, 0, 300, |_| up));
        for dir in [value::RECEIVE, value::TRANSMIT] {
            let mut with = attrs.to_vec();
            with.push((attr::IO_DIRECTION, dir));
            b.series(
                metric::HW_NETWORK_IO,
                &with,
                every(10, 0, 300, |t| t as f64 * per_s),
            );
        }
    }
    b.series(
        metric::FILESYSTEM_IO,
        &[
            (attr::HOST_NAME, "node-07"),
            (attr::FILESYSTEM_MOUNTPOINT, "/datasets"),
            (attr::DISK_DIRECTION, value::READ),
        ],
        every(10, 0, 300, |t| t as f64 * 3e8),
    );
    let got = nodes(&b.build(), 5 * M, 5);
    let n = &got.nodes[0];
    assert_eq!((n.fabric_ports, n.fabric_ports_up), (2, 1));
    assert_eq!(n.fabric_rx_bytes_per_second, Some(12e9));
    assert_eq!(n.fabric_tx_bytes_per_second, Some(12e9));
    assert_eq!(n.netfs_read_bytes_per_second, Some(3e8));
    assert_eq!(n.netfs_write_bytes_per_second, None);
    // The host's own charts are unchanged by them.
    assert_eq!(n.network_rx_bytes_per_second, None);
}

#[test]
fn inference_rates_quantiles_and_scores_per_model() {
    let mut b = Builder::new();
    let bounds = [0.1, 0.5, 1.0];
    // 10 requests a second, on two hosts.
    for host in ["node-01", "node-02"] {
        b.histogram(
            metric::GENAI_REQUEST_DURATION,
            &[(attr::HOST_NAME, host), (attr::GENAI_MODEL, "llama")],
            &bounds,
            (0..=30).map(|i| (i * 10, vec![50 * i as u64, 50 * i as u64, 0, 0])),
        );
    }
    let store = b.build();
    let t = 300 * S;
    let quantiles = crate::detect::drift::latency_quantiles(&store, 5 * M, t);
    let scores = vec![crate::detect::drift::Score {
        model: "ranker".into(),
        feature: "prediction".into(),
        method: "psi",
        value: 0.31,
    }];
    let got = inference(&store, 5 * M, t, &quantiles, &scores);
    assert_eq!(got.window, "5m");
    let models: Vec<&str> = got.models.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(models, ["llama", "ranker"]);
    let llama = &got.models[0];
    let rate = llama.requests_per_second.unwrap_or_default();
    assert!((rate - 20.0).abs() < 1e-9, "{rate}");
    let p50 = llama.latency.p50.unwrap_or_default();
    assert!(p50 > 0.0 && p50 <= 0.5, "{llama:?}");
    assert_eq!(llama.time_to_first_token.p50, None);
    let ranker = &got.models[1];
    assert_eq!(ranker.requests_per_second, None);
    assert_eq!(ranker.drift.len(), 1);
    assert_eq!(ranker.drift[0].method, "psi");
}

/// A GPU's labels come from its newest series other than its processes': a newer
/// process point of another job does not relabel the GPU, a newer series of the GPU's
/// own does.
#[test]
fn a_gpu_is_labelled_by_its_newest_series_not_its_processes() {
    let mut b = Builder::new();
    b.gpu(
        "n",
        0,
        Some("old"),
        metric::GPU_UTILIZATION,
        &[],
        every(10, 0, 100, |_| 0.5),
    )
    .gpu(
        "n",
        0,
        Some("new"),
        metric::GPU_MEMORY_USAGE,
        &[],
        every(10, 0, 110, |_| GIB),
    )
    .gpu(
        "n",
        0,
        Some("other"),
        metric::GPU_PROCESS_MEMORY,
        &[(attr::PROCESS_PID, "7")],
        every(10, 0, 120, |_| GIB),
    );
    let store = b.build();
    let (body, _) = gpus_where(&store, &GpuFilter::default(), &[]);
    assert_eq!(body.gpus.len(), 1);
    assert_eq!(body.gpus[0].job.as_deref(), Some("new"));
    assert_eq!(body.gpus[0].utilization, Some(0.5));
    assert_eq!(body.gpus[0].last_seen_unix_ms, 120_000);
}
