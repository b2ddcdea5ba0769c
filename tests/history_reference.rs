//! A drift reference from history (`reference = "2026-11-01/2026-11-01"`): a day of a
//! model's prediction histograms is in the Parquet history; a collector started with
//! that reference reads it, and predictions sent over OTLP that have moved since fire
//! `model_drift` against it, while predictions like the stored ones do not.
#![cfg(feature = "history")]

mod common;

use std::path::Path;

use gpuwatch::history::start_collector;
use gpuwatch_collector::config::CollectorConfig;
use gpuwatch_collector::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use gpuwatch_collector::otlp::metrics::v1::{
    metric, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
};
use gpuwatch_history::ParquetSink;
use gpuwatch_model::history::{MinuteRollup, RollupSink, SeriesMinute, MINUTE_NS};
use gpuwatch_model::AlertKind;

use common::otlp::{kv, request};

/// 2026-11-01T00:00:00Z, the stored day.
const DAY: i64 = 1_793_491_200 * 1_000_000_000;
const S: i64 = 1_000_000_000;
const BOUNDS: [f64; 3] = [0.25, 0.5, 0.75];
/// Per minute, then: mostly low scores.
const THEN: [f64; 4] = [600.0, 250.0, 100.0, 50.0];

/// Ten minutes of the model's predictions on the stored day.
fn write_history(dir: &Path) {
    let mut sink = ParquetSink::open(dir, i64::MAX / 4, u64::MAX).expect("history opens");
    for m in 0..10 {
        let minute = DAY + 8 * 3600 * S + m * MINUTE_NS;
        sink.write(&MinuteRollup {
            minute,
            series: vec![SeriesMinute {
                minute,
                metric: "gpuwatch.model.prediction".into(),
                model: Some("fraud-v3".into()),
                labels: "gpuwatch.model=fraud-v3".into(),
                count: 1000,
                bounds: BOUNDS.to_vec(),
                buckets: THEN.to_vec(),
                ..SeriesMinute::default()
            }],
            cost: Vec::new(),
        })
        .expect("written");
    }
}

/// A cumulative prediction histogram of `fraud-v3` at `secs` past `start`.
fn predictions(start: i64, secs: i64, counts: [u64; 4]) -> ExportMetricsServiceRequest {
    request(
        "scorer-1",
        vec![Metric {
            name: "gpuwatch.model.prediction".into(),
            unit: "1".into(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes: vec![kv("gpuwatch.model", "fraud-v3")],
                    start_time_unix_nano: start as u64,
                    time_unix_nano: (start + secs * S) as u64,
                    count: counts.iter().sum(),
                    bucket_counts: counts.to_vec(),
                    explicit_bounds: BOUNDS.to_vec(),
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Default::default()
        }],
    )
}

/// Sends 12 minutes of predictions, `per_10s` each 10 s, starting 30 days after the
/// stored day, and returns the drift findings' summaries.
async fn drift_against_history(name: &str, per_10s: [u64; 4]) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("gw-history-ref-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write_history(&dir);
    let config: CollectorConfig = toml::from_str(&format!(
        r#"
        otlp_grpc_listen = "127.0.0.1:0"
        otlp_http_listen = "127.0.0.1:0"
        api_listen = "127.0.0.1:0"
        [history]
        dir = "{}"
        [alerts.model_drift]
        reference = "2026-11-01/2026-11-01"
        for = "0s"
        "#,
        dir.display()
    ))
    .expect("config parses");
    let mut settings = config.validate().expect("config is valid");
    // Nothing of this test's live data goes to the history it reads.
    settings.history.enabled = false;
    // Nor to a data directory shared with other tests (collector.data_dir).
    settings.data_dir = None;
    let collector = start_collector(&settings).await.expect("collector starts");
    let state = collector.state();
    let start = DAY + 30 * 24 * 3600 * S;
    let mut total = [0u64; 4];
    for step in 0..=72 {
        for (t, n) in total.iter_mut().zip(per_10s) {
            *t += n;
        }
        state.ingest(&predictions(start, step * 10, total));
    }
    while !state.evaluate().1 {}
    let alerts = state.alerts(gpuwatch_collector::alerts::StateFilter::All);
    collector.shutdown(std::time::Duration::from_secs(2)).await;
    let _ = std::fs::remove_dir_all(&dir);
    alerts
        .into_iter()
        .filter(|a| a.kind == AlertKind::ModelDrift)
        .map(|a| a.summary)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predictions_that_moved_since_the_stored_days_drift() {
    // Mostly high scores now.
    let found = drift_against_history("moved", [10, 20, 30, 40]).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("against its history from 2026-11-01 to 2026-11-01"),
        "{}",
        found[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predictions_like_the_stored_days_do_not_drift() {
    let found = drift_against_history("same", [60, 25, 10, 5]).await;
    assert_eq!(found, Vec::<String>::new());
}
