use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use prost::Message;

use super::*;
use crate::config::CollectorSettings;
use crate::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::otlp::common::v1::{any_value, AnyValue, KeyValue};
use crate::otlp::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use crate::otlp::resource::v1::Resource;
use crate::store::builder::Builder;

fn names(series: &[TimeSeries]) -> Vec<String> {
    series
        .iter()
        .map(|t| {
            t.labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

#[test]
fn the_cursor_sends_each_point_once_named_as_metrics_names_it() {
    let mut b = Builder::new();
    b.series(
        "hw.gpu.utilization",
        &[("host.name", "n1")],
        [(1, 0.5), (2, 0.6)],
    );
    b.histogram(
        "gpuwatch.model.prediction",
        &[("gpuwatch.model", "m")],
        &[0.5],
        [(2, vec![1, 2])],
    );
    let store = b.build();
    let mut cursor = Cursor::new();
    let first = cursor.collect(&store);
    assert_eq!(
        names(&first),
        [
            "__name__=hw_gpu_utilization,host_name=n1",
            "__name__=gpuwatch_model_prediction_bucket,gpuwatch_model=m,le=0.5",
            "__name__=gpuwatch_model_prediction_bucket,gpuwatch_model=m,le=+Inf",
            "__name__=gpuwatch_model_prediction_sum,gpuwatch_model=m",
            "__name__=gpuwatch_model_prediction_count,gpuwatch_model=m",
        ]
    );
    assert_eq!(
        first[0]
            .samples
            .iter()
            .map(|s| (s.timestamp, s.value))
            .collect::<Vec<_>>(),
        [(1000, 0.5), (2000, 0.6)]
    );
    // Buckets are cumulative.
    assert_eq!(first[2].samples[0].value, 3.0);
    assert!(cursor.collect(&store).is_empty(), "nothing new");
}

/// A remote-write receiver on loopback: answers with `statuses` in turn (then 204),
/// decodes what it accepts.
#[derive(Clone, Default)]
struct Receiver {
    statuses: Arc<Mutex<Vec<StatusCode>>>,
    got: Arc<Mutex<Vec<TimeSeries>>>,
    requests: Arc<Mutex<usize>>,
}

impl Receiver {
    async fn start(statuses: Vec<StatusCode>) -> (Receiver, String) {
        let r = Receiver {
            statuses: Arc::new(Mutex::new(statuses)),
            ..Receiver::default()
        };
        let state = r.clone();
        let app = axum::Router::new().route(
            "/api/v1/write",
            post(move |headers: HeaderMap, body: Bytes| {
                let r = state.clone();
                async move {
                    *r.requests.lock().expect("lock") += 1;
                    assert_eq!(headers["content-encoding"], "snappy");
                    assert_eq!(headers["x-prometheus-remote-write-version"], "0.1.0");
                    let next = {
                        let mut s = r.statuses.lock().expect("lock");
                        (!s.is_empty()).then(|| s.remove(0))
                    };
                    if let Some(status) = next {
                        return (status, "not now");
                    }
                    let raw = snap::raw::Decoder::new()
                        .decompress_vec(&body)
                        .expect("snappy");
                    let req = WriteRequest::decode(raw.as_slice()).expect("protobuf");
                    r.got.lock().expect("lock").extend(req.timeseries);
                    (StatusCode::NO_CONTENT, "")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "http://{}/api/v1/write",
            listener.local_addr().expect("addr")
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    fn samples(&self, name: &str) -> Vec<(i64, f64)> {
        self.got
            .lock()
            .expect("lock")
            .iter()
            .filter(|t| {
                t.labels
                    .iter()
                    .any(|l| l.name == "__name__" && l.value == name)
            })
            .flat_map(|t| t.samples.iter().map(|s| (s.timestamp, s.value)))
            .collect()
    }
}

fn gauge_request(secs: u64, v: f64) -> ExportMetricsServiceRequest {
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..KeyValue::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("host.name", "n1")],
                ..Resource::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "hw.gpu.utilization".into(),
                    unit: "1".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            attributes: vec![kv("hw.id", "GPU-1")],
                            time_unix_nano: secs * 1_000_000_000,
                            value: Some(number_data_point::Value::AsDouble(v)),
                            ..NumberDataPoint::default()
                        }],
                    })),
                    ..Metric::default()
                }],
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    }
}

async fn collector(url: String) -> crate::RunningCollector {
    let mut settings = CollectorSettings::ephemeral();
    settings.remote_write = Some(RemoteWriteSettings {
        url,
        interval: Duration::from_millis(100),
        timeout: Duration::from_secs(2),
        batch_samples: 2,
        queue_samples: 1000,
    });
    crate::start(&settings).await.expect("starts")
}

async fn wait_for(what: &str, test: impl Fn() -> bool) {
    for _ in 0..200 {
        if test() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_receiver_that_answers_503_then_429_gets_everything_in_order() {
    let (receiver, url) = Receiver::start(vec![
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::TOO_MANY_REQUESTS,
    ])
    .await;
    let c = collector(url).await;
    let state = c.state();
    for s in 1..=5 {
        state.ingest(&gauge_request(1_000 + s, s as f64 / 10.0));
    }
    let r = receiver.clone();
    wait_for("five samples", move || {
        r.samples("hw_gpu_utilization_ratio").len() == 5
    })
    .await;
    assert_eq!(
        receiver.samples("hw_gpu_utilization_ratio"),
        (1..=5)
            .map(|s| ((1_000 + s) * 1000, s as f64 / 10.0))
            .collect::<Vec<_>>()
    );
    let stats = c.remote_write_stats().expect("on");
    // The writer counts a batch once it has read the answer, just after the receiver
    // recorded it.
    let sent = stats.clone();
    wait_for("the sent count", move || {
        sent.samples_sent.load(std::sync::atomic::Ordering::Relaxed) == 5
    })
    .await;
    assert_eq!(stats.retries.load(std::sync::atomic::Ordering::Relaxed), 2);
    let metrics = state.render_metrics();
    assert!(metrics.contains("gpuwatch_remote_write_samples_total{outcome=\"sent\"} 5\n"));
    assert!(metrics.contains("gpuwatch_remote_write_retries_total 2\n"));
    c.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_refused_batch_is_dropped_and_counted_and_the_rest_go_on() {
    let (receiver, url) = Receiver::start(vec![StatusCode::BAD_REQUEST]).await;
    let c = collector(url).await;
    let state = c.state();
    for s in 1..=3 {
        state.ingest(&gauge_request(2_000 + s, 1.0));
    }
    let stats = c.remote_write_stats().expect("on");
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let st = stats.clone();
    wait_for("the refusal", move || load(&st.samples_refused) == 3).await;
    // The next point goes through; the refused ones are not sent again.
    state.ingest(&gauge_request(2_004, 0.5));
    let st = stats.clone();
    wait_for("the next point", move || load(&st.samples_sent) == 1).await;
    assert_eq!(
        receiver.samples("hw_gpu_utilization_ratio"),
        [(2_004_000, 0.5)]
    );
    assert_eq!(load(&stats.retries), 0);
    c.shutdown(Duration::from_secs(2)).await;
}

#[test]
fn config_errors_name_the_key() {
    let bad = |c: RemoteWriteConfig| c.validate().expect_err("invalid").to_string();
    assert_eq!(RemoteWriteConfig::default().validate(), Ok(None));
    let https = RemoteWriteConfig {
        url: "https://mimir.example.com/api/v1/push".into(),
        ..RemoteWriteConfig::default()
    };
    assert!(https.validate().is_ok());
    let ftp = RemoteWriteConfig {
        url: "ftp://x/api/v1/write".into(),
        ..RemoteWriteConfig::default()
    };
    assert!(bad(ftp).starts_with("collector.remote_write.url must be an http:// or https://"));
    let queue = RemoteWriteConfig {
        url: "http://x/api/v1/write".into(),
        queue_samples: 10,
        ..RemoteWriteConfig::default()
    };
    assert!(bad(queue).starts_with("collector.remote_write.queue_samples"));
}
