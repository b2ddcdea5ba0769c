//! `gpuwatch report` against the live ledger: a collector with its Parquet history
//! replays 45 minutes of a small cluster (busy, idle and unattributed GPUs of two
//! models), and `gpuwatch report cost --since 30m` gives the figures the collector's
//! own cost ledger (`/api/v1/cost?window=30m`) gives for the same window, by every
//! grouping. `report usage` sees the idle GPUs at 0%, and names each GPU by its node
//! and `hw.name`.
#![cfg(feature = "reports")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gpuwatch_collector::config::CollectorSettings;
use gpuwatch_collector::cost::By;
use gpuwatch_collector::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use gpuwatch_collector::otlp::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint,
};
use gpuwatch_history::ParquetSink;
use serde_json::Value;

use common::otlp::{kv, request};

/// 2026-11-01T00:00:00Z.
const T0: i64 = 1_793_491_200 * 1_000_000_000;
const S: i64 = 1_000_000_000;
const MINUTES: i64 = 45;

struct Gpu {
    host: &'static str,
    index: usize,
    model: &'static str,
    job: Option<(&'static str, &'static str)>,
    util: fn(i64) -> f64,
}

fn cluster() -> Vec<Gpu> {
    let h100 = "NVIDIA H100 80GB HBM3";
    let a100 = "NVIDIA A100-SXM4-40GB";
    let mut gpus = Vec::new();
    for index in 0..4 {
        gpus.push(Gpu {
            host: "node-a",
            index,
            model: h100,
            job: Some(("train-1", "vision")),
            // Busy, but stalled for ten minutes in the middle.
            util: |t| {
                if (15 * 60..25 * 60).contains(&t) {
                    0.0
                } else {
                    0.93
                }
            },
        });
    }
    for index in 0..2 {
        gpus.push(Gpu {
            host: "node-b",
            index,
            model: a100,
            job: Some(("serve-2", "search")),
            util: |t| 0.2 + 0.2 * ((t / 60) % 3) as f64,
        });
    }
    for index in 2..4 {
        gpus.push(Gpu {
            host: "node-b",
            index,
            model: a100,
            job: None,
            // Reserved and idle.
            util: |_| 0.0,
        });
    }
    gpus
}

/// Every GPU's utilization at `secs` after T0, one request per node.
fn exports(gpus: &[Gpu], secs: i64) -> Vec<ExportMetricsServiceRequest> {
    ["node-a", "node-b"]
        .iter()
        .map(|host| {
            let metrics = gpus
                .iter()
                .filter(|g| g.host == *host)
                .map(|g| {
                    let id = format!("GPU-{}-{}", g.host, g.index);
                    let name = format!("gpu{}", g.index);
                    let mut attrs = vec![
                        kv("hw.id", &id),
                        kv("hw.name", &name),
                        kv("hw.model", g.model),
                        kv("hw.gpu.task", "general"),
                    ];
                    if let Some((job, team)) = g.job {
                        attrs.push(kv("gpuwatch.job.id", job));
                        attrs.push(kv("gpuwatch.team", team));
                    }
                    Metric {
                        name: "hw.gpu.utilization".into(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint {
                                attributes: attrs,
                                time_unix_nano: (T0 + secs * S) as u64,
                                value: Some(number_data_point::Value::AsDouble((g.util)(secs))),
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    }
                })
                .collect();
            request(host, metrics)
        })
        .collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gpuwatch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn report(dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_gpuwatch"))
        .arg("report")
        .args(args)
        .args(["--format", "json", "--data-dir"])
        .arg(dir)
        .output()
        .expect("gpuwatch runs");
    assert!(
        out.status.success(),
        "gpuwatch report {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_cost_matches_the_live_ledger() {
    let dir = temp_dir("report");
    let mut settings = CollectorSettings::ephemeral();
    settings.store.retention_ns = 3600 * S;
    settings.store.max_points_per_series = 10_000;
    let sink = ParquetSink::open(&dir, 90 * 24 * 3600 * S, u64::MAX).expect("history opens");
    let collector = gpuwatch_collector::start_with_history(&settings, Some(Box::new(sink)))
        .await
        .expect("collector starts");
    let state = collector.state();
    let gpus = cluster();
    // Every 5 s up to 5 s past the 45th minute: with the default 5 s evaluation delay
    // the ledger's newest step is the 45th minute exactly.
    for secs in (5..=MINUTES * 60 + 5).step_by(5) {
        for request in exports(&gpus, secs) {
            let outcome = state.ingest(&request);
            assert_eq!(outcome.rejected_total(), 0, "{outcome:?}");
        }
    }
    let end = T0 + MINUTES * 60 * S;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while state.with_ledger(|l, _| l.last_step()) != Some(end) {
        assert!(std::time::Instant::now() < deadline, "evaluation caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The rollup of the last minute runs right after the step; shutting down lets the
    // writer finish it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    collector.shutdown(Duration::from_secs(20)).await;

    for (by, name) in [
        (By::Team, "team"),
        (By::Job, "job"),
        (By::Node, "node"),
        (By::Model, "model"),
    ] {
        let ledger = state.cost(30 * 60 * S, by).expect("the ledger keeps 30m");
        let history = report(&dir, &["cost", "--since", "30m", "--by", name]);
        let rows = history["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), ledger.rows.len(), "{name}: {history}");
        for want in &ledger.rows {
            let got = rows
                .iter()
                .find(|r| r["key"] == want.key.as_str())
                .unwrap_or_else(|| panic!("{name} {} in {history}", want.key));
            let f = |k: &str| got[k].as_f64().expect(k);
            assert_eq!(
                got["gpus"].as_u64(),
                Some(want.gpus as u64),
                "{name} {}",
                want.key
            );
            for (k, v) in [
                ("gpu_hours", want.gpu_hours),
                ("idle_hours", want.idle_gpu_hours),
                ("cost_usd", want.cost_usd),
                ("idle_cost_usd", want.idle_cost_usd),
                ("waste_pct", want.waste_share * 100.0),
            ] {
                assert!(
                    close(f(k), v),
                    "{name} {} {k}: history {} ledger {v}",
                    want.key,
                    f(k)
                );
            }
        }
        let total = &history["total"];
        assert!(close(
            total["cost_usd"].as_f64().expect("total"),
            ledger.total.cost_usd
        ));
    }

    // The reserved GPUs waste the most; the stalled trainers follow.
    let teams = report(
        &dir,
        &["cost", "--since", "30m", "--by", "team", "--top", "3"],
    );
    let wasters = teams["top_wasters"].as_array().expect("wasters");
    assert_eq!(wasters.len(), 3);
    assert_eq!(wasters[0]["node"], "node-b");
    assert_eq!(wasters[0]["job"], Value::Null);
    assert_eq!(wasters[0]["waste_pct"], 100.0);

    let usage = report(&dir, &["usage", "--since", "45m", "--by", "job"]);
    let rows = usage["rows"].as_array().expect("rows");
    let none = rows
        .iter()
        .find(|r| r["key"] == "(none)")
        .expect("idle GPUs");
    assert_eq!(none["zero_share"], 1.0);
    assert_eq!(none["gpus"], 2);
    let train = rows
        .iter()
        .find(|r| r["key"] == "train-1")
        .expect("trainers");
    let zero = train["zero_share"].as_f64().expect("share");
    assert!((zero - 10.0 / 45.0).abs() < 0.01, "{zero}");
    assert!(close(train["p50"].as_f64().expect("p50"), 0.93));

    // By GPU, each GPU reads as its node and `hw.name`.
    let usage = report(&dir, &["usage", "--since", "45m", "--by", "gpu"]);
    let mut keys: Vec<&str> = usage["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["key"].as_str())
        .collect();
    keys.sort_unstable();
    let want: Vec<String> = gpus
        .iter()
        .map(|g| format!("{}/gpu{}", g.host, g.index))
        .collect();
    assert_eq!(keys, want, "{usage}");

    // Table and CSV render the same report.
    let out = Command::new(env!("CARGO_BIN_EXE_gpuwatch"))
        .args([
            "report",
            "cost",
            "--since",
            "30m",
            "--by",
            "team",
            "--data-dir",
        ])
        .arg(&dir)
        .output()
        .expect("runs");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("TEAM") && table.contains("vision") && table.contains("Top wasters"),
        "{table}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn report_without_history_says_where_it_looked() {
    let dir = temp_dir("empty");
    let out = Command::new(env!("CARGO_BIN_EXE_gpuwatch"))
        .args(["report", "cost", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no history in"), "{err}");
}
