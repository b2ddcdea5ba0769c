//! Parsing and mapping the real captures in `../shared/fixtures/inference/` (see that
//! folder's README for their quirks), Triton's interval means, an inline TGI sample
//! (no real TGI capture exists), the OTLP conversion and the scrape loop.

use gpuwatch_model::Timestamp;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gpuwatch_model::names::{attr, metric};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

use super::map::{histograms, triton_totals, ScrapedHistogram, ServerKind, TritonState};
use super::parse::{parse, MetricType};
use super::scraper::{Inference, InferenceTarget, TargetState};
use super::{LATENCY_MEAN, PHASE};
use crate::runtime::AgentStatus;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/inference")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "fixture {} is missing ({e}): the tests read ../shared/fixtures next to the \
             repository root; see shared/fixtures/README.md",
            path.display()
        )
    })
}

const FIXTURES: [&str; 5] = [
    "vllm-metrics.txt",
    "ray-serve-vllm-metrics.txt",
    "triton-metrics.txt",
    "sglang-llama31-8b-metrics.txt",
    "sglang-metrics-datadog.txt",
];

fn find<'a>(hs: &'a [ScrapedHistogram], metric: &str, model: &str) -> &'a ScrapedHistogram {
    hs.iter()
        .find(|h| h.metric == metric && h.model == model)
        .unwrap_or_else(|| panic!("no {metric} for {model} in {hs:#?}"))
}

fn assert_consistent(h: &ScrapedHistogram) {
    assert_eq!(h.bucket_counts.len(), h.bounds.len() + 1, "{h:?}");
    assert_eq!(h.bucket_counts.iter().sum::<u64>(), h.count, "{h:?}");
    assert!(h.bounds.windows(2).all(|w| w[0] < w[1]), "{h:?}");
}

#[test]
fn every_fixture_parses_and_its_histograms_are_monotone() {
    for name in FIXTURES {
        let page = parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(page.sample_count() > 40, "{name}: {}", page.sample_count());
        let mut histograms = 0;
        for family in &page.families {
            for series in family.histograms() {
                histograms += 1;
                assert!(
                    series.buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                    "{name} {}: buckets not monotone",
                    family.name
                );
                assert_eq!(series.inf, series.count, "{name} {}", family.name);
            }
        }
        assert!(histograms > 0 || name.starts_with("triton"), "{name}");
        assert!(ServerKind::detect(&page).is_some(), "{name}");
    }
}

#[test]
fn vllm_fixture_maps_to_gen_ai_histograms() {
    let page = parse(&fixture("vllm-metrics.txt")).expect("parses");
    assert_eq!(ServerKind::detect(&page), Some(ServerKind::Vllm));
    let hs = histograms(ServerKind::Vllm, &page, None);
    assert_eq!(hs.len(), 3, "{hs:#?}");
    let model = "facebook/opt-125m";
    let e2e = find(&hs, metric::GENAI_REQUEST_DURATION, model);
    assert_eq!(e2e.model_key, attr::GENAI_MODEL);
    assert_eq!(e2e.count, 1);
    assert!((e2e.sum - 0.503_430_366_516_113_3).abs() < 1e-12);
    assert_eq!(e2e.bounds.first(), Some(&1.0));
    assert_eq!(e2e.bucket_counts[0], 1, "le=1.0 holds the request");
    let ttft = find(&hs, metric::GENAI_TIME_TO_FIRST_TOKEN, model);
    assert_eq!(ttft.count, 1);
    // Both V0 `time_per_output_token_seconds` and V1 `request_time_per_output_token_seconds`
    // are on the page (two scrapes joined): the per-request one is taken, once.
    let tpot = find(&hs, metric::GENAI_TIME_PER_OUTPUT_TOKEN, model);
    let v1 = page
        .family("vllm:request_time_per_output_token_seconds")
        .expect("V1 family")
        .histograms();
    assert_eq!(tpot.bounds.len(), v1[0].buckets.len());
    for h in &hs {
        assert_consistent(h);
    }
}

#[test]
fn ray_serve_fixture_keeps_both_models_apart() {
    let page = parse(&fixture("ray-serve-vllm-metrics.txt")).expect("parses");
    let family = page
        .family("ray_vllm:avg_generation_throughput_toks_per_s")
        .expect("repeated # TYPE");
    assert_eq!(family.kind, MetricType::Gauge);
    assert_eq!(ServerKind::detect(&page), Some(ServerKind::Vllm));
    let hs = histograms(ServerKind::Vllm, &page, None);
    let big = "neuralmagic/Meta-Llama-3.1-70B-Instruct-FP8";
    let e2e = find(&hs, metric::GENAI_REQUEST_DURATION, big);
    assert_eq!(e2e.count, 1);
    assert!((e2e.sum - 16.449_550_151_824_95).abs() < 1e-9);
    assert_eq!(
        find(&hs, metric::GENAI_TIME_PER_OUTPUT_TOKEN, big).count,
        299
    );
    // The hand-appended block: only the V1 tail for opt-125m.
    let small = find(
        &hs,
        metric::GENAI_TIME_PER_OUTPUT_TOKEN,
        "facebook/opt-125m",
    );
    assert_eq!(small.count, 6);
    for h in &hs {
        assert_consistent(h);
    }
}

#[test]
fn sglang_capture_with_sum_before_buckets() {
    let page = parse(&fixture("sglang-llama31-8b-metrics.txt")).expect("parses");
    assert_eq!(ServerKind::detect(&page), Some(ServerKind::Sglang));
    let hs = histograms(ServerKind::Sglang, &page, None);
    let model = "meta-llama/Llama-3.1-8B-Instruct";
    let e2e = find(&hs, metric::GENAI_REQUEST_DURATION, model);
    assert_eq!(e2e.count, 11228);
    assert!((e2e.sum - 3.116_093_850_019_932e6).abs() < 1e-3);
    assert_eq!(
        e2e.bucket_counts.last(),
        Some(&(11228 - 1513)),
        "+Inf bucket"
    );
    let ttft = find(&hs, metric::GENAI_TIME_TO_FIRST_TOKEN, model);
    assert_eq!(ttft.count, 11008);
    assert_eq!(ttft.bounds.len(), 20);
    assert_eq!(ttft.bucket_counts[4], 1, "0.02 < x <= 0.04");
    assert!(hs
        .iter()
        .any(|h| h.metric == metric::GENAI_TIME_PER_OUTPUT_TOKEN && h.model == model));
    for h in &hs {
        assert_consistent(h);
    }
    let renamed = histograms(ServerKind::Sglang, &page, Some("llama-8b"));
    assert!(renamed.iter().all(|h| h.model == "llama-8b"));
}

#[test]
fn sglang_datadog_fixture_uses_inter_token_latency() {
    let page = parse(&fixture("sglang-metrics-datadog.txt")).expect("parses");
    assert_eq!(ServerKind::detect(&page), Some(ServerKind::Sglang));
    let hs = histograms(ServerKind::Sglang, &page, None);
    let model = "facebook/opt-125m";
    assert_eq!(find(&hs, metric::GENAI_REQUEST_DURATION, model).count, 1);
    assert_eq!(find(&hs, metric::GENAI_TIME_TO_FIRST_TOKEN, model).count, 1);
    let tpot = find(&hs, metric::GENAI_TIME_PER_OUTPUT_TOKEN, model);
    assert_eq!(tpot.count, 31);
    assert_eq!(tpot.bounds, vec![0.01]);
    assert_eq!(tpot.bucket_counts, vec![31, 0]);
}

/// The Triton fixture with densenet_onnx's counters moved on by `requests` requests
/// of `us` microseconds each (queue: a tenth of it).
fn triton_later(requests: u64, us: u64) -> String {
    let text = fixture("triton-metrics.txt");
    let bump = |text: String, family: &str, old: u64, new: u64| {
        let from = format!("{family}{{model=\"densenet_onnx\",version=\"1\"}} {old}");
        assert!(text.contains(&from), "{from}");
        text.replace(
            &from,
            &format!("{family}{{model=\"densenet_onnx\",version=\"1\"}} {new}"),
        )
    };
    let text = bump(text, "nv_inference_request_success", 3, 3 + requests);
    let text = bump(text, "nv_inference_count", 3, 3 + requests);
    let text = bump(
        text,
        "nv_inference_request_duration_us",
        1_327_965,
        1_327_965 + requests * us,
    );
    bump(
        text,
        "nv_inference_queue_duration_us",
        145,
        145 + requests * us / 10,
    )
}

#[test]
fn triton_counters_become_interval_means() {
    let page = parse(&fixture("triton-metrics.txt")).expect("parses");
    assert_eq!(ServerKind::detect(&page), Some(ServerKind::Triton));
    let summary = page
        .family("nv_inference_request_summary_us")
        .expect("summary");
    assert_eq!(summary.kind, MetricType::Summary);
    let totals = triton_totals(&page, None);
    assert_eq!(totals.len(), 8);
    let (_, densenet) = totals
        .iter()
        .find(|(m, _)| m == "densenet_onnx")
        .expect("densenet");
    assert_eq!(densenet.requests, 3.0);
    assert_eq!(densenet.request_us, 1_327_965.0);

    let mut state = TritonState::default();
    let (hs, means) = state.update(totals);
    assert!(means.is_empty(), "no interval yet");
    assert_eq!(hs.len(), 8);
    assert!(hs.iter().all(|h| h.count == 0
        && h.metric == metric::INFERENCE_DURATION
        && h.model_key == attr::MODEL));

    // 4 requests of 30 ms each.
    let later = parse(&triton_later(4, 30_000)).expect("parses");
    let (hs, means) = state.update(triton_totals(&later, None));
    let h = find(&hs, metric::INFERENCE_DURATION, "densenet_onnx");
    assert_eq!(h.count, 4);
    assert!((h.sum - 0.12).abs() < 1e-9);
    let bucket = h
        .bounds
        .iter()
        .position(|&b| b == 0.05)
        .expect("0.05 bound");
    assert_eq!(h.bucket_counts[bucket], 4, "30 ms falls in (0.02, 0.05]");
    assert_consistent(h);
    let mean = |phase: &str| {
        means
            .iter()
            .find(|m| m.model == "densenet_onnx" && m.phase == phase)
            .unwrap_or_else(|| panic!("{phase} in {means:?}"))
            .seconds
    };
    assert!((mean("request") - 0.03).abs() < 1e-9);
    assert!((mean("queue") - 0.003).abs() < 1e-9);
    assert_eq!(means.len(), 5, "only densenet served requests");

    // The server restarts: totals fall back, counted from zero.
    let restarted = parse(
        "nv_inference_request_success{model=\"densenet_onnx\",version=\"1\"} 2\n\
         nv_inference_request_duration_us{model=\"densenet_onnx\",version=\"1\"} 100000",
    )
    .expect("parses");
    let (hs, means) = state.update(triton_totals(&restarted, None));
    let h = find(&hs, metric::INFERENCE_DURATION, "densenet_onnx");
    assert_eq!(h.count, 6);
    assert!((means[0].seconds - 0.05).abs() < 1e-9);
    assert_eq!(hs.len(), 1, "models gone from the page are forgotten");
}

/// Written from TGI's documented metric names (router `/metrics`); no real capture of a
/// TGI page exists in the fixtures.
const TGI_SAMPLE: &str = "\
# TYPE tgi_request_duration histogram
tgi_request_duration_bucket{le=\"0.5\"} 2
tgi_request_duration_bucket{le=\"1\"} 5
tgi_request_duration_bucket{le=\"+Inf\"} 6
tgi_request_duration_sum 4.5
tgi_request_duration_count 6
# TYPE tgi_request_mean_time_per_token_duration histogram
tgi_request_mean_time_per_token_duration_bucket{le=\"0.01\"} 1
tgi_request_mean_time_per_token_duration_bucket{le=\"0.05\"} 6
tgi_request_mean_time_per_token_duration_bucket{le=\"+Inf\"} 6
tgi_request_mean_time_per_token_duration_sum 0.15
tgi_request_mean_time_per_token_duration_count 6
# TYPE tgi_request_count counter
tgi_request_count 6
";

#[test]
fn tgi_inline_sample_maps_with_the_configured_model() {
    let page = parse(TGI_SAMPLE).expect("parses");
    assert_eq!(ServerKind::detect(&page), Some(ServerKind::Tgi));
    let hs = histograms(ServerKind::Tgi, &page, None);
    assert_eq!(
        find(&hs, metric::GENAI_REQUEST_DURATION, "unknown").count,
        6
    );
    let hs = histograms(ServerKind::Tgi, &page, Some("mistral-7b"));
    let e2e = find(&hs, metric::GENAI_REQUEST_DURATION, "mistral-7b");
    assert_eq!(e2e.bucket_counts, vec![2, 3, 1]);
    assert_eq!(e2e.sum, 4.5);
    let tpot = find(&hs, metric::GENAI_TIME_PER_OUTPUT_TOKEN, "mistral-7b");
    assert_eq!(tpot.bucket_counts, vec![1, 5, 0]);
}

#[test]
fn parser_handles_escapes_and_names_the_bad_line() {
    let page = parse(
        "# a comment\n\n# HELP x Some \\\\ help\n# TYPE x gauge\n\
         x{path=\"C:\\\\dir\",quote=\"say \\\"hi\\\"\",nl=\"a\\nb\",} 1.5e3 1700000000000\n\
         y NaN\nz +Inf",
    )
    .expect("parses");
    let x = page.family("x").expect("x");
    assert_eq!(x.help.as_deref(), Some("Some \\ help"));
    let s = &x.samples[0];
    assert_eq!(s.label("path"), Some("C:\\dir"));
    assert_eq!(s.label("quote"), Some("say \"hi\""));
    assert_eq!(s.label("nl"), Some("a\nb"));
    assert_eq!(s.value, 1500.0);
    assert_eq!(s.timestamp_ms, Some(1_700_000_000_000));
    assert!(page.family("y").expect("y").samples[0].value.is_nan());
    assert_eq!(page.family("z").expect("z").kind, MetricType::Untyped);

    for (text, line, message) in [
        (
            "ok 1\n<html><body>502</body></html>",
            2,
            "invalid metric name",
        ),
        ("a{b=\"c} 1", 1, "unterminated label value"),
        ("a{b=c} 1", 1, "label value not quoted"),
        ("a 1\n\nb one", 3, "value is not a number"),
        ("{\"error\": \"nope\"}", 1, "invalid metric name"),
        ("# TYPE a histo", 1, "unknown metric type"),
    ] {
        let error = parse(text).expect_err(text);
        assert_eq!(
            (error.line, error.message.as_str()),
            (line, message),
            "{text}"
        );
        assert!(
            error.to_string().starts_with(&format!("line {line}: ")),
            "{error}"
        );
    }
}

fn target(url: String, kind: Option<ServerKind>) -> InferenceTarget {
    InferenceTarget {
        url,
        kind,
        timeout: Duration::from_millis(300),
        model: None,
    }
}

#[test]
fn garbage_and_unknown_pages_are_errors() {
    let mut state = TargetState::new(target("http://x/metrics".into(), None));
    let error = state
        .ingest("<html>", Timestamp::from_unix_nanos_u64(1))
        .expect_err("garbage");
    assert!(error.starts_with("not Prometheus text: line 1"), "{error}");
    let error = state
        .ingest("node_load1 0.5", Timestamp::from_unix_nanos_u64(1))
        .expect_err("not a server");
    assert!(
        error.contains("no vLLM, SGLang, Triton or TGI metrics"),
        "{error}"
    );
    let mut state = TargetState::new(target("http://x/metrics".into(), Some(ServerKind::Tgi)));
    let error = state
        .ingest(
            &fixture("vllm-metrics.txt"),
            Timestamp::from_unix_nanos_u64(1),
        )
        .expect_err("wrong kind");
    assert_eq!(error, "no tgi latency histograms on the page");
}

#[test]
fn snapshots_become_otlp_histograms_with_start_times() {
    let mut state = TargetState::new(target("http://x/metrics".into(), None));
    let first = state
        .ingest(
            &fixture("sglang-metrics-datadog.txt"),
            Timestamp::from_unix_nanos_u64(1_000),
        )
        .expect("ok");
    let second = state
        .ingest(
            &fixture("sglang-metrics-datadog.txt"),
            Timestamp::from_unix_nanos_u64(2_000),
        )
        .expect("ok");
    let triton = {
        let mut t = TargetState::new(target("http://t/metrics".into(), None));
        t.ingest(
            &fixture("triton-metrics.txt"),
            Timestamp::from_unix_nanos_u64(1_000),
        )
        .expect("ok");
        t.ingest(
            &triton_later(2, 10_000),
            Timestamp::from_unix_nanos_u64(3_000),
        )
        .expect("ok")
    };
    assert_eq!(first.histograms[0].1, Timestamp::from_unix_nanos_u64(1_000));
    assert_eq!(
        second.histograms[0].1,
        Timestamp::from_unix_nanos_u64(1_000),
        "start kept while counts grow"
    );
    let metrics = crate::export::inference_metrics(&[second, triton]);
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            metric::GENAI_REQUEST_DURATION,
            metric::GENAI_TIME_TO_FIRST_TOKEN,
            metric::GENAI_TIME_PER_OUTPUT_TOKEN,
            metric::INFERENCE_DURATION,
            LATENCY_MEAN
        ]
    );
    let Some(Data::Histogram(h)) = &metrics[0].data else {
        panic!("histogram: {:?}", metrics[0]);
    };
    let point = &h.data_points[0];
    assert_eq!(point.start_time_unix_nano, 1_000);
    assert_eq!(point.time_unix_nano, 2_000);
    assert_eq!(point.bucket_counts.len(), point.explicit_bounds.len() + 1);
    assert_eq!(point.attributes[0].key, attr::GENAI_MODEL);
    assert_eq!(metrics[0].unit, "s");
    let Some(Data::Gauge(g)) = &metrics[4].data else {
        panic!("gauge: {:?}", metrics[4]);
    };
    assert_eq!(g.data_points.len(), 5);
    assert!(g.data_points[0].attributes.iter().any(|a| a.key == PHASE));
}

/// Serves `body` with `status` to every connection, after `delay`.
async fn serve(status: &'static str, body: String, delay: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/metrics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_target_is_reported_and_the_others_go_on() {
    let good = serve("200 OK", fixture("vllm-metrics.txt"), Duration::ZERO).await;
    let garbage = serve("200 OK", "<html>oops</html>".into(), Duration::ZERO).await;
    let slow = serve(
        "200 OK",
        fixture("vllm-metrics.txt"),
        Duration::from_secs(5),
    )
    .await;
    let failing = serve("503 Service Unavailable", String::new(), Duration::ZERO).await;
    let status = Arc::new(AgentStatus::new());
    let targets = vec![
        target(good.clone(), None),
        target(garbage, Some(ServerKind::Vllm)),
        target(slow, None),
        target(failing, None),
    ];
    let mut inference = Inference::start(&targets, Duration::from_millis(200), status.clone());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let report = status.inference_targets();
    assert_eq!(report.len(), 4);
    assert_eq!(report[0].up, Some(true), "{report:#?}");
    assert_eq!(report[0].kind, Some(ServerKind::Vllm));
    assert_eq!(report[0].series, 3);
    assert!(report[0].scrapes_ok >= 3, "{report:#?}");
    let error = |i: usize| report[i].last_error.clone().unwrap_or_default();
    assert_eq!(report[1].up, Some(false));
    assert!(
        error(1).starts_with("not Prometheus text: line 1"),
        "{}",
        error(1)
    );
    assert_eq!(report[2].up, Some(false));
    assert!(error(2).contains("timeout"), "{}", error(2));
    assert!(error(3).contains("503"), "{}", error(3));
    // Backoff: the failing targets are tried less often than the good one.
    assert!(
        report[3].scrapes_failed < report[0].scrapes_ok,
        "{report:#?}"
    );
    assert!(status
        .last_error()
        .is_some_and(|e| e.contains("inference target")));
    let metrics = crate::export::inference_metrics(&inference.snapshots());
    assert_eq!(metrics.len(), 3, "only the good target's histograms");
    inference.stop();
}
