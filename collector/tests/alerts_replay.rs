//! A scripted ten minutes of a small cluster, replayed through OTLP/HTTP with past
//! timestamps in well under a second: exactly the expected alerts fire, at the
//! expected event times, and none on the healthy node.

mod common;

use std::time::Duration;

use gpuwatch_collector::config::CollectorSettings;
use gpuwatch_collector::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use gpuwatch_collector::otlp::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use gpuwatch_collector::otlp::resource::v1::Resource;
use gpuwatch_model::api::AlertsResponse;
use gpuwatch_model::{AlertKind, AlertState, Timestamp};
use prost::Message;

use common::kv;
use gpuwatch_collector::otlp::common::v1::KeyValue;

/// 2026-11-28T10:00:00Z, the replay's first instant.
const T0: i64 = 1_795_860_000;

fn point(attrs: Vec<KeyValue>, secs: i64, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: ((T0 + secs) * 1_000_000_000) as u64,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn gauge(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    }
}

fn counter(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

/// How a GPU behaves at one instant.
#[derive(Clone, Copy)]
struct Gpu {
    util: f64,
    watts: f64,
    /// NVLink bytes sent so far.
    nvlink: f64,
    xid79: Option<f64>,
}

fn training(secs: i64) -> Gpu {
    Gpu {
        util: 0.97,
        watts: 650.0,
        nvlink: 150e9 * secs as f64,
        xid79: None,
    }
}

/// One node's export at `secs`.
fn export(host: &str, job: &str, secs: i64, gpus: &[Gpu]) -> ExportMetricsServiceRequest {
    let mut metrics = vec![];
    for (i, g) in gpus.iter().enumerate() {
        let id = format!("GPU-{host}-{i}");
        let name = format!("gpu{i}");
        let base = || {
            vec![
                kv("hw.id", &id),
                kv("hw.name", &name),
                kv("gpuwatch.job.id", job),
            ]
        };
        let with = |extra: &[(&str, &str)]| {
            let mut a = base();
            a.extend(extra.iter().map(|(k, v)| kv(k, v)));
            a
        };
        metrics.push(gauge(
            "hw.gpu.utilization",
            vec![point(with(&[("hw.gpu.task", "general")]), secs, g.util)],
        ));
        metrics.push(gauge("hw.power", vec![point(base(), secs, g.watts)]));
        metrics.push(gauge(
            "gpuwatch.gpu.power.limit",
            vec![point(base(), secs, 700.0)],
        ));
        metrics.push(counter(
            "hw.gpu.io",
            vec![point(
                with(&[
                    ("gpuwatch.link", "nvlink"),
                    ("network.io.direction", "transmit"),
                ]),
                secs,
                g.nvlink,
            )],
        ));
        if let Some(n) = g.xid79 {
            metrics.push(counter(
                "gpuwatch.gpu.xid",
                vec![point(with(&[("gpuwatch.xid.code", "79")]), secs, n)],
            ));
        }
    }
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("host.name", host)],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The script, every 5 s for ten minutes:
/// - node-a: two GPUs of job 1 training; gpu1 reports XID 79 from 240 s on;
/// - node-b: one GPU of job 2, training until 115 s, hung (99% busy, 80 W, no
///   NVLink traffic) from 120 s on;
/// - node-c: one idle GPU that stops reporting after 300 s.
fn script() -> Vec<ExportMetricsServiceRequest> {
    let mut out = vec![];
    for secs in (0..=600).step_by(5) {
        let mut a1 = training(secs);
        if secs >= 240 {
            a1.xid79 = Some(1.0);
        }
        out.push(export("node-a", "1", secs, &[training(secs), a1]));
        let b = if secs < 120 {
            training(secs)
        } else {
            Gpu {
                util: 0.99,
                watts: 80.0,
                nvlink: 150e9 * 115.0,
                xid79: None,
            }
        };
        out.push(export("node-b", "2", secs, &[b]));
        if secs <= 300 {
            let idle = Gpu {
                util: 0.0,
                watts: 60.0,
                nvlink: 0.0,
                xid79: None,
            };
            out.push(export("node-c", "3", secs, &[idle]));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_faults_fire_exactly_and_on_time() {
    let collector = gpuwatch_collector::start(&CollectorSettings::ephemeral())
        .await
        .expect("collector starts");
    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/metrics", collector.otlp_http);
    for request in script() {
        let resp = client
            .post(&url)
            .header("content-type", "application/x-protobuf")
            .body(request.encode_to_vec())
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), 200);
    }
    // Catch up with event time (the background evaluator may already have).
    let state = collector.state();
    while !state.evaluate().1 {}

    let all: AlertsResponse =
        reqwest::get(format!("http://{}/api/v1/alerts?state=all", collector.api))
            .await
            .expect("api")
            .json()
            .await
            .expect("json");
    let mut got: Vec<(AlertKind, String, AlertState, Timestamp)> = all
        .alerts
        .iter()
        .map(|a| {
            let at = [a.labels.get("host.name"), a.labels.get("hw.name")]
                .into_iter()
                .flatten()
                .cloned()
                .collect::<Vec<_>>()
                .join(" ");
            (a.kind, at, a.state, a.started_at)
        })
        .collect();
    got.sort_by_key(|g| g.3);
    let at = |secs: i64| Timestamp((T0 + secs) * 1_000_000_000);
    assert_eq!(
        got,
        vec![
            // The XID fires on the first evaluation that sees it.
            (
                AlertKind::GpuXid,
                "node-a gpu1".to_string(),
                AlertState::Firing,
                at(240)
            ),
            // 300 s is node-c's last point; absent once more than 30 s behind.
            (
                AlertKind::NodeAbsent,
                "node-c".to_string(),
                AlertState::Firing,
                at(335)
            ),
            // NVLink bytes stop growing after 115 s; the 1-minute window (110 s, 170 s]
            // is the first whose traffic is zero and mean power idle. `for` 5m.
            (
                AlertKind::GpuHang,
                "node-b gpu0".to_string(),
                AlertState::Firing,
                at(470)
            ),
        ]
    );
    let hang = all
        .alerts
        .iter()
        .find(|a| a.kind == AlertKind::GpuHang)
        .expect("hang");
    assert!(
        hang.summary
            .starts_with("node-b gpu0 (job 2): 99% busy at 80 W with 0 MB/s"),
        "{}",
        hang.summary
    );
    assert_eq!(hang.labels["gpuwatch.job.id"], "2");
    // The default view lists what fires now.
    let firing: AlertsResponse = reqwest::get(format!("http://{}/api/v1/alerts", collector.api))
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    assert_eq!(firing.alerts.len(), 3);
    assert_eq!(
        firing.alerts[0].severity,
        gpuwatch_model::Severity::Critical
    );
    collector.shutdown(Duration::from_secs(5)).await;
}
