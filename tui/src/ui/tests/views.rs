//! Snapshots of the Nodes, Inference and Cost tabs and of a GPU's detail view, at
//! both sizes, from fixed data that holds every state each of them draws.

use gpuwatch_model::api::{
    Chart, ChartPoint, CostResponse, CostRow, DriftScore, GpuDetailResponse, InferenceResponse,
    ModelSummary, NodeView, NodesResponse, NotJudged, ProcessView, Quantiles,
};

use super::*;
use crate::source::{CostBreakdown, GpuRef};

/// `steps` points a minute apart up to [`now`], the value from `f(step)`.
fn chart(name: &str, unit: &str, steps: usize, f: impl Fn(usize) -> f64) -> Chart {
    let points = (0..steps)
        .map(|i| ChartPoint {
            unix_ms: now() - i64::try_from(steps - i).unwrap_or(0) * 20_000,
            value: f(i),
        })
        .collect();
    Chart {
        name: name.into(),
        unit: unit.into(),
        points,
    }
}

fn wave(i: usize, period: usize) -> f64 {
    let phase = (i % period) as f64 / period as f64;
    (phase * std::f64::consts::TAU).sin() * 0.5 + 0.5
}

/// The hosts of [`fleet`]'s nodes: node-01 busy training, node-02 quiet, node-03
/// without host metrics (only GPUs), node-04 silent for 40 s, node-05 starved by its
/// disk (iowait high, disk 98% busy).
fn hosts() -> NodesResponse {
    let node =
        |name: &str, gpus: usize, cpu: f64, iowait: f64, disk: f64, busy: f64, net: f64| NodeView {
            node: name.into(),
            last_seen_unix_ms: now() - 1_200,
            gpus,
            cpu_user: Some(cpu * 0.8),
            cpu_system: Some(cpu * 0.2),
            cpu_iowait: Some(iowait),
            cpu_idle: Some(1.0 - cpu - iowait),
            cpu_steal: Some(0.0),
            memory_used_bytes: Some(412.0 * GIB),
            memory_total_bytes: Some(1024.0 * GIB),
            disk_read_bytes_per_second: Some(disk),
            disk_write_bytes_per_second: Some(disk * 0.1),
            disk_busy: Some(busy),
            network_rx_bytes_per_second: Some(net),
            network_tx_bytes_per_second: Some(net * 0.4),
            charts: vec![
                chart("cpu", "1", 48, |i| {
                    (cpu + iowait) * (0.6 + 0.4 * wave(i, 12))
                }),
                chart("iowait", "1", 48, |i| iowait * wave(i, 12)),
                chart("disk", "By/s", 48, |i| disk * (0.2 + wave(i, 16))),
                chart("network", "By/s", 48, |i| net * (0.5 + 0.5 * wave(i, 8))),
            ],
            ..NodeView::default()
        };
    let mut silent = node("node-04", 2, 0.30, 0.01, 20e6, 0.05, 1.2e9);
    silent.last_seen_unix_ms = now() - 40_000;
    let bare = NodeView {
        node: "node-03".into(),
        last_seen_unix_ms: now() - 1_200,
        gpus: 2,
        ..NodeView::default()
    };
    NodesResponse {
        nodes: vec![
            node("node-01", 4, 0.42, 0.02, 350e6, 0.31, 9.8e9),
            node("node-02", 3, 0.05, 0.00, 1.5e6, 0.01, 2.0e6),
            bare,
            silent,
            node("node-05", 2, 0.12, 0.61, 1.9e9, 0.98, 40e6),
        ],
        newest_point_unix_ms: Some(now() - 1_200),
    }
}

/// An LLM with TTFT and no drift, a ranker whose predictions drifted (PSI 0.31), a
/// fraud model drifting a little, and a model with drift scores but no traffic yet.
fn models() -> InferenceResponse {
    let q = |p50: f64, p95: f64, p99: f64| Quantiles {
        p50: Some(p50),
        p95: Some(p95),
        p99: Some(p99),
    };
    let score = |feature: &str, method: &str, value: f64| DriftScore {
        feature: feature.into(),
        method: method.into(),
        value,
    };
    InferenceResponse {
        window: "5m".into(),
        models: vec![
            ModelSummary {
                model: "fraud-gbm".into(),
                requests_per_second: Some(1_840.0),
                latency: q(0.0009, 0.0031, 0.0072),
                drift: vec![
                    score("amount", "psi", 0.14),
                    score("amount", "ks", 0.09),
                    score("merchant_age", "psi", 0.03),
                ],
                ..ModelSummary::default()
            },
            ModelSummary {
                model: "llama-3.1-8b".into(),
                requests_per_second: Some(42.5),
                latency: q(1.85, 4.2, 7.9),
                time_to_first_token: q(0.180, 0.420, 0.950),
                ..ModelSummary::default()
            },
            ModelSummary {
                model: "ranker-v7".into(),
                requests_per_second: Some(310.0),
                latency: q(0.012, 0.035, 0.061),
                drift: vec![
                    score("prediction", "psi", 0.31),
                    score("prediction", "js", 0.12),
                ],
                ..ModelSummary::default()
            },
            ModelSummary {
                model: "vision-shadow".into(),
                drift: vec![score("brightness", "wasserstein", 0.02)],
                ..ModelSummary::default()
            },
        ],
    }
}

fn cost_row(key: &str, gpus: usize, burn: f64, idle: f64) -> CostRow {
    CostRow {
        key: key.into(),
        gpus,
        gpu_hours: gpus as f64,
        idle_gpu_hours: gpus as f64 * idle / burn.max(1e-9),
        cost_usd: burn,
        idle_cost_usd: idle,
        waste_share: if burn > 0.0 { idle / burn } else { 0.0 },
        burn_usd_per_hour: burn,
        idle_burn_usd_per_hour: idle,
    }
}

/// The last hour of [`fleet`]: a training team, a research notebook idling, an ETL job
/// stalled, a serving team, and GPUs no job holds.
fn spend() -> CostBreakdown {
    let response = |by: &str, rows: Vec<CostRow>| CostResponse {
        window: "1h".into(),
        by: by.into(),
        total: cost_row("", 13, 52.0, 16.0),
        rows,
    };
    CostBreakdown {
        by_team: response(
            "team",
            vec![
                cost_row("llm-pretrain", 5, 22.0, 4.0),
                cost_row("ranking", 2, 8.0, 0.0),
                cost_row("data", 2, 8.0, 4.0),
                cost_row("research", 1, 4.0, 3.9),
                cost_row("search", 1, 2.0, 0.1),
                cost_row("", 2, 8.0, 4.0),
            ],
        ),
        by_job: response(
            "job",
            vec![
                cost_row("4411", 5, 22.0, 4.0),
                cost_row("ft-812", 2, 8.0, 0.0),
                cost_row("etl-77", 2, 8.0, 4.0),
                cost_row("nb-sweep", 1, 4.0, 3.9),
                cost_row("infer-llama-3.1-8b", 1, 2.0, 0.1),
            ],
        ),
        by_node: response(
            "node",
            vec![
                cost_row("node-01", 4, 16.0, 0.0),
                cost_row("node-02", 3, 12.0, 9.9),
                cost_row("node-04", 2, 8.0, 0.0),
                cost_row("node-05", 2, 8.0, 4.0),
                cost_row("node-03", 2, 8.0, 2.1),
            ],
        ),
    }
}

/// node-01 gpu2, the straggler: utilization sagging, memory flat, power and NVLink
/// following utilization, PCIe steady, two processes.
fn straggler_detail(gpu: &GpuView) -> GpuDetailResponse {
    let util = |i: usize| {
        if i < 150 {
            0.96
        } else {
            0.52 + 0.1 * wave(i, 20)
        }
    };
    GpuDetailResponse {
        gpu: gpu.clone(),
        charts: vec![
            chart("utilization", "1", 240, util),
            chart("memory", "By", 240, |_| 70.8 * GIB),
            chart("power", "W", 240, |i| 200.0 + 480.0 * util(i)),
            chart("nvlink", "By/s", 240, |i| 360e9 * util(i)),
            chart("pcie", "By/s", 240, |_| 4.6e9),
        ],
        processes: vec![
            ProcessView {
                pid: "48211".into(),
                name: Some("python".into()),
                memory_bytes: 68.2 * GIB,
                job: Some("4411".into()),
                team: Some("llm-pretrain".into()),
                last_seen_unix_ms: now() - 1_200,
            },
            ProcessView {
                pid: "48390".into(),
                name: Some("nccl-proxy".into()),
                memory_bytes: 2.6 * GIB,
                job: Some("4411".into()),
                team: None,
                last_seen_unix_ms: now() - 1_200,
            },
        ],
        not_judged: Vec::new(),
    }
}

/// The fleet with every tab's data in.
fn full_app(width: u16, height: u16) -> App {
    let mut app = app_with(fleet(), width, height);
    let at_unix_ms = now() - 800;
    app.update(Event::Nodes {
        result: Ok(hosts()),
        at_unix_ms,
    });
    app.update(Event::Inference {
        result: Ok(models()),
        at_unix_ms,
    });
    app.update(Event::Cost {
        result: Ok(spend()),
        at_unix_ms,
    });
    app.update(Event::Burn(Some(cost_row("", 13, 52.0, 16.0))));
    app
}

fn at_both_sizes(name: &str, setup: impl Fn(&mut App)) {
    for (width, height) in SIZES {
        let mut app = full_app(width, height);
        setup(&mut app);
        assert_screen(
            &format!("{name}_{width}x{height}"),
            screen(&app, width, height),
        );
    }
}

#[test]
fn the_nodes_tab_shows_where_data_bottlenecks() {
    at_both_sizes("nodes", |app| keys(app, &[Key::Char('3'), Key::End]));
}

/// Nodes with InfiniBand ports and an NFS mount: node-01's eight ports up and busy,
/// node-05 starved by NFS with one port down; the others report none.
#[test]
fn the_nodes_tab_shows_fabric_ports_and_network_file_systems() {
    for (width, height) in SIZES {
        let mut app = full_app(width, height);
        let mut nodes = hosts();
        for n in &mut nodes.nodes {
            let (up, rx, nfs) = match n.node.as_str() {
                "node-01" => (8, 96e9, 310e6),
                "node-05" => (7, 41e9, 1.15e9),
                _ => continue,
            };
            n.fabric_ports = 8;
            n.fabric_ports_up = up;
            n.fabric_rx_bytes_per_second = Some(rx);
            n.fabric_tx_bytes_per_second = Some(rx);
            n.netfs_read_bytes_per_second = Some(nfs);
        }
        app.update(Event::Nodes {
            result: Ok(nodes),
            at_unix_ms: now() - 800,
        });
        keys(&mut app, &[Key::Char('3')]);
        let text = screen(&app, width, height);
        assert!(text.contains("LINKS"), "{text}");
        assert!(text.contains("7/8"), "{text}");
        assert_screen(&format!("nodes_fabric_{width}x{height}"), text);
    }
}

#[test]
fn the_inference_tab_shows_latency_and_drift() {
    at_both_sizes("inference", |app| keys(app, &[Key::Char('4'), Key::Down]));
}

#[test]
fn the_cost_tab_shows_burn_by_group_and_the_wasters() {
    at_both_sizes("cost", |app| keys(app, &[Key::Char('5')]));
}

/// Highlights node-01 gpu2 and opens it.
fn open_straggler(app: &mut App) {
    keys(app, &[Key::Down, Key::Down, Key::Down, Key::Enter]);
    let gpu = app.detail_gpu().cloned().expect("a GPU is open");
    assert_eq!(gpu.name, "gpu2");
    app.update(Event::Detail {
        gpu: GpuRef {
            node: gpu.node.clone(),
            id: gpu.id.clone(),
        },
        result: Ok(straggler_detail(&gpu)),
        at_unix_ms: now() - 800,
    });
}

#[test]
fn enter_shows_a_gpu_in_detail() {
    at_both_sizes("detail", open_straggler);
}

/// A GPU the hang detector could not judge (no power reported) says so under its
/// alerts, so "no alert" does not read as healthy.
#[test]
fn the_detail_view_says_what_the_detectors_could_not_judge() {
    let mut app = full_app(100, 30);
    keys(&mut app, &[Key::Down, Key::Down, Key::Down, Key::Enter]);
    let gpu = app.detail_gpu().cloned().expect("a GPU is open");
    let mut detail = straggler_detail(&gpu);
    detail.not_judged = vec![
        NotJudged {
            kind: AlertKind::GpuHang,
            what: String::new(),
            missing: "no power".into(),
        },
        NotJudged {
            kind: AlertKind::GpuStalled,
            what: String::new(),
            missing: "no utilization".into(),
        },
    ];
    app.update(Event::Detail {
        gpu: GpuRef {
            node: gpu.node.clone(),
            id: gpu.id.clone(),
        },
        result: Ok(detail),
        at_unix_ms: now() - 800,
    });
    let text = screen(&app, 100, 30);
    assert!(
        text.contains("not judged: gpu_hang (no power) · gpu_stalled (no utilization)"),
        "{text}"
    );
    assert_screen("detail_not_judged_100x30", text);
}

/// A model whose drift cannot be judged yet says so beside its scores.
#[test]
fn the_inference_tab_says_what_drift_could_not_judge() {
    let mut app = full_app(160, 20);
    let mut models = models();
    models.models[1].not_judged = vec![NotJudged {
        kind: AlertKind::ModelDrift,
        what: "prediction".into(),
        missing: "no reference window yet".into(),
    }];
    app.update(Event::Inference {
        result: Ok(models),
        at_unix_ms: now() - 800,
    });
    keys(&mut app, &[Key::Char('4')]);
    let text = screen(&app, 160, 20);
    let row = text
        .lines()
        .find(|l| l.contains("llama-3.1-8b"))
        .unwrap_or_else(|| panic!("a row for llama-3.1-8b: {text}"));
    assert!(
        row.contains("prediction: not judged, no reference window yet"),
        "{text}"
    );
}

#[test]
fn the_detail_view_waits_for_its_charts_and_says_why_not() {
    let mut app = full_app(100, 30);
    keys(&mut app, &[Key::Down, Key::Down, Key::Down, Key::Enter]);
    assert_screen("detail_waiting_100x30", screen(&app, 100, 30));
    let Some(gpu) = app.detail.as_ref().map(|d| d.gpu.clone()) else {
        panic!("the detail view is open");
    };
    app.update(Event::Detail {
        gpu,
        result: Err("collector answered HTTP 404".into()),
        at_unix_ms: now(),
    });
    let text = screen(&app, 100, 30);
    assert!(text.contains("no charts from collector"), "{text}");
    assert!(text.contains("HTTP 404"), "{text}");
}

#[test]
fn tabs_without_data_say_what_they_wait_for() {
    let mut app = app_with(fleet(), 80, 12);
    keys(&mut app, &[Key::Char('3')]);
    let text = screen(&app, 80, 12);
    assert!(text.contains("waiting for the nodes"), "{text}");
    app.update(Event::Nodes {
        result: Err("collector answered HTTP 404".into()),
        at_unix_ms: now(),
    });
    assert_screen("nodes_unavailable_80x12", screen(&app, 80, 12));
    keys(&mut app, &[Key::Char('4')]);
    app.update(Event::Inference {
        result: Ok(InferenceResponse::default()),
        at_unix_ms: now(),
    });
    let text = screen(&app, 80, 12);
    assert!(text.contains("no model has sent"), "{text}");
    keys(&mut app, &[Key::Char('5')]);
    let text = screen(&app, 80, 12);
    assert!(text.contains("waiting for the cost"), "{text}");
}

#[test]
fn a_collector_down_among_several_and_reconnecting_show_in_the_footer() {
    let mut app = full_app(160, 12);
    app.update(Event::Partial(vec![
        "collector http://10.0.0.2:9464: collector unreachable: Connection refused".into(),
    ]));
    let text = screen(&app, 160, 12);
    assert!(
        text.contains("partial: collector http://10.0.0.2:9464"),
        "{text}"
    );
    app.update(Event::Data {
        result: Err("collector unreachable: Connection refused".into()),
        at_unix_ms: now(),
    });
    app.update(Event::Reconnecting {
        attempt: 3,
        retry_in_ms: 4_000,
    });
    assert_screen("reconnecting_160x12", screen(&app, 160, 12));
}
