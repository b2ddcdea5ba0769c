//! Draws the GPU table of 1,024 GPUs (128 nodes × 8) into a ratatui buffer, as
//! `gpuwatch top` does on each key press ("render") and on each new fetch of the GPUs
//! and the alerts (~100 firing, 16 resolved), which also recomputes the state badges
//! and regroups, filters and sorts the rows ("fetch + render"). Prints the mean and p99
//! time per frame, then the process's peak RSS (VmHWM), which holds the dashboard's
//! state for those GPUs and the data of every other view: the 128 nodes' hosts with
//! sparklines, a dozen models, the cost by team, job and node, and one GPU's detail
//! (five charts of 240 points) — the TUI process's peak with 1,024 GPUs.
//!
//! `cargo bench -p gpuwatch-tui --bench render` (a plain `main`, no harness).

use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use gpuwatch_model::api::{
    AlertsResponse, Chart, ChartPoint, CostResponse, CostRow, DriftScore, GpuDetailResponse,
    GpuView, GpusResponse, InferenceResponse, ModelSummary, NodeView, NodesResponse, ProcessView,
    Quantiles,
};
use gpuwatch_model::{Alert, AlertKind, AlertState, Severity, Timestamp};
use gpuwatch_tui::{render, App, CostBreakdown, Event, GpuRef, Key};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

const NODES: usize = 128;
const GPUS_PER_NODE: usize = 8;
const WARMUP: usize = 30;
const FRAMES: usize = 300;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
/// 2026-11-28T10:00:00Z: a fixed "now", so every run draws the same text.
const NOW_UNIX_MS: i64 = 1_795_860_000_000;

/// A deterministic fleet; `step` moves every value a little, like a new fetch.
fn fleet(step: u64) -> GpusResponse {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ step;
    let mut next = move || {
        // xorshift64*: cheap, reproducible noise in 0..1.
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    };
    let teams = ["llm-pretrain", "search", "ranking", "vision"];
    let mut gpus = Vec::with_capacity(NODES * GPUS_PER_NODE);
    for node in 0..NODES {
        for index in 0..GPUS_PER_NODE {
            let util = next();
            let job = (node % 16 != 15).then(|| format!("{}", 4000 + node / 4));
            gpus.push(GpuView {
                node: format!("node-{node:03}"),
                cluster: Some("bench".into()),
                id: format!("GPU-{node:03}-{index}"),
                name: format!("gpu{index}"),
                model: Some("NVIDIA H100 80GB HBM3".into()),
                utilization: Some(util),
                memory_used_bytes: Some((10.0 + 70.0 * next()) * GIB),
                memory_limit_bytes: Some(80.0 * GIB),
                power_watts: Some(70.0 + 630.0 * util),
                power_limit_watts: Some(700.0),
                temperature_celsius: Some(35.0 + 50.0 * util),
                nvlink_tx_bytes_per_second: Some(200e9 * util),
                nvlink_rx_bytes_per_second: Some(195e9 * util),
                pcie_tx_bytes_per_second: Some(2e9 * next()),
                pcie_rx_bytes_per_second: Some(6e9 * next()),
                team: job.as_ref().map(|_| teams[node % teams.len()].to_string()),
                job,
                last_seen_unix_ms: NOW_UNIX_MS - 1_000,
                ..GpuView::default()
            });
        }
    }
    GpusResponse {
        gpus,
        newest_point_unix_ms: Some(NOW_UNIX_MS - 1_000),
        points_received: 123_456_789,
        nodes: NODES,
    }
}

fn alert(kind: AlertKind, labels: &[(&str, String)], resolved: bool) -> Alert {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    Alert {
        id: Alert::fingerprint(kind, &labels),
        kind,
        severity: Severity::Warning,
        state: if resolved {
            AlertState::Resolved
        } else {
            AlertState::Firing
        },
        summary: format!("{kind} on {labels:?}"),
        labels,
        value: 1.0,
        started_at: Timestamp::from_unix_millis(NOW_UNIX_MS - 600_000),
        ended_at: resolved.then(|| Timestamp::from_unix_millis(NOW_UNIX_MS - 60_000)),
    }
}

/// Alerts over [`fleet`]: per-GPU kinds on every tenth GPU, a storage bottleneck on
/// every 16th node, a hang of a whole job, an absent node, and resolved ones.
fn alerts() -> AlertsResponse {
    let per_gpu = [
        AlertKind::GpuHang,
        AlertKind::GpuStalled,
        AlertKind::GpuStraggler,
        AlertKind::GpuThrottle,
        AlertKind::GpuXid,
    ];
    let mut alerts = Vec::new();
    for n in (0..NODES * GPUS_PER_NODE).step_by(10) {
        let (node, index) = (n / GPUS_PER_NODE, n % GPUS_PER_NODE);
        let labels = [
            ("host.name", format!("node-{node:03}")),
            ("hw.id", format!("GPU-{node:03}-{index}")),
        ];
        let kind = per_gpu[(n / 10) % per_gpu.len()];
        alerts.push(alert(kind, &labels, n % 80 == 0));
    }
    for node in (0..NODES).step_by(16) {
        let labels = [("host.name", format!("node-{node:03}"))];
        alerts.push(alert(AlertKind::DataBottleneck, &labels, false));
    }
    let job = [("gpuwatch.job.id", "4010".to_string())];
    alerts.push(alert(AlertKind::GpuHang, &job, false));
    let absent = [("host.name", format!("node-{:03}", NODES - 1))];
    alerts.push(alert(AlertKind::NodeAbsent, &absent, false));
    AlertsResponse { alerts }
}

/// `n` points 20 s apart up to the fixed now, wavy.
fn chart(name: &str, n: usize, scale: f64) -> Chart {
    let points = (0..n)
        .map(|i| ChartPoint {
            unix_ms: NOW_UNIX_MS - (n - i) as i64 * 20_000,
            value: scale * (0.5 + 0.5 * ((i as f64) / 7.0).sin()),
        })
        .collect();
    Chart {
        name: name.into(),
        unit: "1".into(),
        points,
    }
}

/// Every node's host, with the four sparklines `/api/v1/nodes` sends.
fn hosts() -> NodesResponse {
    let nodes = (0..NODES)
        .map(|n| NodeView {
            node: format!("node-{n:03}"),
            last_seen_unix_ms: NOW_UNIX_MS - 1_000,
            gpus: GPUS_PER_NODE,
            cpu_user: Some(0.3),
            cpu_system: Some(0.05),
            cpu_iowait: Some(if n % 17 == 0 { 0.4 } else { 0.01 }),
            cpu_idle: Some(0.6),
            cpu_steal: Some(0.0),
            memory_used_bytes: Some(400.0 * GIB),
            memory_total_bytes: Some(1024.0 * GIB),
            disk_read_bytes_per_second: Some(3e8),
            disk_write_bytes_per_second: Some(3e7),
            disk_busy: Some(0.3),
            network_rx_bytes_per_second: Some(9e9),
            network_tx_bytes_per_second: Some(4e9),
            fabric_ports: 8,
            fabric_ports_up: if n % 29 == 0 { 7 } else { 8 },
            fabric_rx_bytes_per_second: Some(96e9),
            fabric_tx_bytes_per_second: Some(96e9),
            netfs_read_bytes_per_second: Some(3e8),
            netfs_write_bytes_per_second: Some(1e6),
            charts: vec![
                chart("cpu", 48, 1.0),
                chart("iowait", 48, 0.1),
                chart("disk", 48, 3e8),
                chart("network", 48, 9e9),
            ],
        })
        .collect();
    NodesResponse {
        nodes,
        newest_point_unix_ms: Some(NOW_UNIX_MS - 1_000),
    }
}

fn models() -> InferenceResponse {
    let q = Quantiles {
        p50: Some(0.05),
        p95: Some(0.2),
        p99: Some(0.4),
    };
    let models = (0..12)
        .map(|m| ModelSummary {
            model: format!("model-{m:02}"),
            requests_per_second: Some(100.0 + m as f64),
            latency: q,
            time_to_first_token: q,
            drift: vec![DriftScore {
                feature: "prediction".into(),
                method: "psi".into(),
                value: 0.02 * m as f64,
            }],
            not_judged: Vec::new(),
        })
        .collect();
    InferenceResponse {
        window: "5m".into(),
        models,
    }
}

fn spend() -> CostBreakdown {
    let rows = |prefix: &str, n: usize| {
        (0..n)
            .map(|i| CostRow {
                key: format!("{prefix}-{i}"),
                gpus: 8,
                cost_usd: 32.0,
                idle_cost_usd: (i % 5) as f64,
                waste_share: (i % 5) as f64 / 32.0,
                burn_usd_per_hour: 32.0,
                idle_burn_usd_per_hour: (i % 5) as f64,
                ..CostRow::default()
            })
            .collect::<Vec<_>>()
    };
    let response = |by: &str, rows: Vec<CostRow>| CostResponse {
        window: "1h".into(),
        by: by.into(),
        total: CostRow::default(),
        rows,
    };
    CostBreakdown {
        by_team: response("team", rows("team", 8)),
        by_job: response("job", rows("job", 64)),
        by_node: response("node", rows("node", NODES)),
    }
}

fn detail(gpu: &GpuRef) -> GpuDetailResponse {
    GpuDetailResponse {
        gpu: GpuView {
            node: gpu.node.clone(),
            id: gpu.id.clone(),
            ..GpuView::default()
        },
        charts: ["utilization", "memory", "power", "nvlink", "pcie"]
            .iter()
            .map(|name| chart(name, 240, 1.0))
            .collect(),
        processes: vec![ProcessView {
            pid: "4242".into(),
            name: Some("python".into()),
            memory_bytes: 60.0 * GIB,
            ..ProcessView::default()
        }],
        not_judged: Vec::new(),
    }
}

struct Case {
    name: &'static str,
    width: u16,
    height: u16,
    /// Typed after the first fetch: a sort, a filter, folds.
    keys: &'static str,
}

fn keys_of(text: &str) -> impl Iterator<Item = Key> + '_ {
    text.chars().map(|c| match c {
        '\n' => Key::Enter,
        c => Key::Char(c),
    })
}

/// Mean and p99 of `samples`, in milliseconds.
fn summary(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean = samples.iter().map(|&d| ms(d)).sum::<f64>() / samples.len() as f64;
    let p99 = samples
        .get((samples.len() * 99).div_ceil(100).saturating_sub(1))
        .map_or(f64::NAN, |&d| ms(d));
    (mean, p99)
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown (no /proc/self/status)".into())
}

fn main() {
    let cases = [
        Case {
            name: "80x24",
            width: 80,
            height: 24,
            keys: "",
        },
        Case {
            name: "160x48",
            width: 160,
            height: 48,
            keys: "",
        },
        Case {
            name: "160x48 sorted by util, util>50 filter",
            width: 160,
            height: 48,
            keys: "ss/util>50\n",
        },
        Case {
            name: "160x48 all nodes folded",
            width: 160,
            height: 48,
            keys: "c",
        },
        Case {
            name: "160x48 sorted by state",
            width: 160,
            height: 48,
            keys: "ssssssssss",
        },
        Case {
            name: "160x48 Alerts tab",
            width: 160,
            height: 48,
            keys: "2",
        },
        Case {
            name: "160x48 Nodes tab",
            width: 160,
            height: 48,
            keys: "3",
        },
        Case {
            name: "160x48 Inference tab",
            width: 160,
            height: 48,
            keys: "4",
        },
        Case {
            name: "160x48 Cost tab",
            width: 160,
            height: 48,
            keys: "5",
        },
        Case {
            name: "160x48 GPU detail",
            width: 160,
            height: 48,
            keys: "j\n",
        },
    ];
    let (hosts, models, spend) = (hosts(), models(), spend());
    println!(
        "{} GPUs ({NODES} nodes × {GPUS_PER_NODE}), {FRAMES} frames after {WARMUP} warm-up, \
         ms per frame",
        NODES * GPUS_PER_NODE
    );
    println!(
        "{:<40} {:>12} {:>10} {:>20} {:>10}",
        "case", "render mean", "p99", "fetch+render mean", "p99"
    );
    for case in &cases {
        let area = Rect::new(0, 0, case.width, case.height);
        let mut buf = Buffer::empty(area);
        let mut app = App::new("collector http://127.0.0.1:9464");
        app.update(Event::Resize {
            width: case.width,
            height: case.height,
        });
        app.update(Event::Data {
            result: Ok(fleet(0)),
            at_unix_ms: NOW_UNIX_MS,
        });
        app.update(Event::Alerts {
            result: Ok(alerts()),
            at_unix_ms: NOW_UNIX_MS,
        });
        app.update(Event::Nodes {
            result: Ok(hosts.clone()),
            at_unix_ms: NOW_UNIX_MS,
        });
        app.update(Event::Inference {
            result: Ok(models.clone()),
            at_unix_ms: NOW_UNIX_MS,
        });
        app.update(Event::Cost {
            result: Ok(spend.clone()),
            at_unix_ms: NOW_UNIX_MS,
        });
        for key in keys_of(case.keys) {
            app.update(Event::Key(key));
        }
        // The detail view, after each step to another GPU, gets its charts.
        let give_detail = |app: &mut App| {
            if let Some(gpu) = app.wants().detail {
                let data = detail(&gpu);
                app.update(Event::Detail {
                    gpu,
                    result: Ok(data),
                    at_unix_ms: NOW_UNIX_MS,
                });
            }
        };

        // Key presses that change nothing but the highlight: draw only.
        let mut render_times = Vec::with_capacity(FRAMES);
        for frame in 0..WARMUP + FRAMES {
            let key = if frame % 50 < 25 { Key::Down } else { Key::Up };
            app.update(Event::Key(key));
            give_detail(&mut app);
            buf.reset();
            let start = Instant::now();
            render(&app, NOW_UNIX_MS, area, &mut buf);
            if frame >= WARMUP {
                render_times.push(start.elapsed());
            }
        }

        // New data: recompute the badges, regroup, filter, sort, then draw.
        let responses: Vec<GpusResponse> = (1..=8).map(fleet).collect();
        let alerts = alerts();
        let mut fetch_times = Vec::with_capacity(FRAMES);
        for frame in 0..WARMUP + FRAMES {
            let response = responses[frame % responses.len()].clone();
            let fresh_alerts = alerts.clone();
            buf.reset();
            let start = Instant::now();
            app.update(Event::Data {
                result: Ok(response),
                at_unix_ms: NOW_UNIX_MS,
            });
            app.update(Event::Alerts {
                result: Ok(fresh_alerts),
                at_unix_ms: NOW_UNIX_MS,
            });
            render(&app, NOW_UNIX_MS, area, &mut buf);
            if frame >= WARMUP {
                fetch_times.push(start.elapsed());
            }
        }
        let (render_mean, render_p99) = summary(&mut render_times);
        let (fetch_mean, fetch_p99) = summary(&mut fetch_times);
        println!(
            "{:<40} {render_mean:>12.3} {render_p99:>10.3} {fetch_mean:>20.3} {fetch_p99:>10.3}",
            case.name
        );
    }
    println!(
        "peak RSS (VmHWM), 1,024 GPUs and every view's data: {}",
        peak_rss()
    );
}
