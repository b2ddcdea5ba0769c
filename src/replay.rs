//! `gpuwatch replay gentd26 FILE`: a real production GPU trace through the collector.
//!
//! Alibaba's GenTD26 (`../shared/fixtures/alibaba-gentd26/`) holds the GPU duty cycle
//! of 143 serving pods every 57 s for 23 hours, as CSV (`value`, `timestamp_anon`,
//! `container_ip`; `.csv` or the published `.tar.gz`). Each pod becomes a node of one
//! GPU (`host.name` = `pod-` and the first 12 hex digits of its anonymised IP), its duty
//! cycle `hw.gpu.utilization`. The replay starts an in-process collector on loopback
//! ports, posts one OTLP/HTTP request per timestamp in time order, and lets the cost
//! ledger price every GPU-hour: evaluation every 57 s (one sample per step), no delay,
//! idle under `--idle-below`, every GPU at `--price`. The report is the ledger's
//! totals per pod (the table lists the biggest idle spenders first) and for the trace.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use gpuwatch_collector::cost::By;
use gpuwatch_collector::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use gpuwatch_collector::otlp::common::v1::{any_value, AnyValue, KeyValue};
use gpuwatch_collector::otlp::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use gpuwatch_collector::otlp::resource::v1::Resource;
use gpuwatch_collector::CollectorSettings;
use gpuwatch_model::api::CostResponse;
use gpuwatch_model::names::{attr, metric as name, value};
use prost::Message;

/// The trace's sampling step, seconds: every timestamp is a multiple of it.
pub const STEP_SECONDS: i64 = 57;
/// `hw.model` of every replayed GPU (the trace does not say).
pub const MODEL: &str = "GenTD26 GPU (anonymised)";

/// One row of the trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub unix_seconds: i64,
    pub pod: String,
    /// Duty cycle, 0-100.
    pub percent: f64,
}

/// The text of `path`: a CSV, or the first file of a `.tar.gz` holding one.
pub fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return String::from_utf8(bytes)
            .with_context(|| format!("{} is not UTF-8", path.display()));
    }
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_end(&mut tar)
        .with_context(|| format!("{} is not gzip", path.display()))?;
    // A ustar header is 512 bytes: the name at 0, the size in octal at 124..136.
    let mut at = 0;
    while at + 512 <= tar.len() {
        let header = &tar[at..at + 512];
        if header.iter().all(|b| *b == 0) {
            break;
        }
        let size_field = String::from_utf8_lossy(&header[124..136]);
        let size =
            usize::from_str_radix(size_field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
                .with_context(|| format!("{}: a tar header with a bad size", path.display()))?;
        let name = String::from_utf8_lossy(&header[..100]);
        let body = tar
            .get(at + 512..at + 512 + size)
            .with_context(|| format!("{}: the tar archive is cut short", path.display()))?;
        if name.trim_end_matches('\0').ends_with(".csv") && header[156] != b'5' {
            return String::from_utf8(body.to_vec())
                .with_context(|| format!("{}: the CSV is not UTF-8", path.display()));
        }
        at += 512 + size.div_ceil(512) * 512;
    }
    bail!("{} holds no .csv file", path.display())
}

/// The rows of a GenTD26 CSV, with its columns in any order.
pub fn parse(text: &str) -> anyhow::Result<Vec<Row>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .with_context(|| format!("no `{name}` column (the header is {header:?})"))
    };
    let (t, v, pod) = (
        column("timestamp_anon")?,
        column("value")?,
        column("container_ip")?,
    );
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        let field = |c: usize| {
            fields
                .get(c)
                .map(|f| f.trim())
                .with_context(|| format!("line {}: fewer than {} fields", i + 2, c + 1))
        };
        let seconds: f64 = field(t)?
            .parse()
            .with_context(|| format!("line {}: timestamp_anon is not a number", i + 2))?;
        let percent: f64 = field(v)?
            .parse()
            .with_context(|| format!("line {}: value is not a number", i + 2))?;
        rows.push(Row {
            unix_seconds: seconds.round() as i64,
            pod: field(pod)?.to_string(),
            percent,
        });
    }
    Ok(rows)
}

/// `host.name` of a pod.
pub fn node_of(pod: &str) -> String {
    format!("pod-{}", &pod[..pod.len().min(12)])
}

fn string(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
        ..KeyValue::default()
    }
}

/// One OTLP request with every pod's utilization at one instant.
fn request(unix_seconds: i64, rows: &[&Row]) -> ExportMetricsServiceRequest {
    request_of(unix_seconds, rows, name::GPU_UTILIZATION, "1", |r| {
        r.percent / 100.0
    })
}

/// One OTLP request with every pod's reading at one instant, as `metric` in `unit`:
/// the trace's value (`Row::percent`) through `value`.
pub fn request_of(
    unix_seconds: i64,
    rows: &[&Row],
    metric: &str,
    unit: &str,
    value: impl Fn(&Row) -> f64,
) -> ExportMetricsServiceRequest {
    let time = u64::try_from(unix_seconds).unwrap_or(0) * 1_000_000_000;
    let resource_metrics = rows
        .iter()
        .map(|row| ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    string(attr::HOST_NAME, &node_of(&row.pod)),
                    string(attr::SERVICE_NAME, "gentd26-replay"),
                ],
                ..Resource::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: metric.to_string(),
                    unit: unit.to_string(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            attributes: vec![
                                string(attr::HW_ID, &row.pod),
                                string(attr::HW_NAME, "gpu0"),
                                string(attr::HW_MODEL, MODEL),
                                string(attr::HW_VENDOR, value::VENDOR_NVIDIA),
                                string(attr::JOB_ID, &node_of(&row.pod)),
                            ],
                            time_unix_nano: time,
                            value: Some(number_data_point::Value::AsDouble(value(row))),
                            ..NumberDataPoint::default()
                        }],
                    })),
                    ..Metric::default()
                }],
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }
}

/// What the replay found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Replay {
    pub pods: usize,
    pub samples: usize,
    pub requests: usize,
    pub first_unix_seconds: i64,
    pub last_unix_seconds: i64,
    pub price_usd_per_gpu_hour: f64,
    pub idle_below: f64,
    /// The ledger's totals, one row per pod, most expensive first.
    pub cost: CostResponse,
}

/// Replays `rows` through a collector on loopback and returns its ledger's totals.
pub async fn run(rows: &[Row], price: f64, idle_below: f64) -> anyhow::Result<Replay> {
    if rows.is_empty() {
        bail!("the trace has no rows");
    }
    if let Some(r) = rows.iter().find(|r| r.unix_seconds % STEP_SECONDS != 0) {
        bail!(
            "timestamp {} is not on the trace's {STEP_SECONDS} s grid: is this GenTD26?",
            r.unix_seconds
        );
    }
    let mut by_time: BTreeMap<i64, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by_time.entry(r.unix_seconds).or_default().push(r);
    }
    let mut settings = CollectorSettings::ephemeral();
    settings.alerts.evaluation_interval = STEP_SECONDS * 1_000_000_000;
    settings.alerts.evaluation_delay = 0;
    settings.cost.prices.clear();
    settings.cost.fallback_price = price;
    settings.cost.idle_below = idle_below;
    let collector = gpuwatch_collector::start(&settings)
        .await
        .context("starting the collector")?;
    let url = format!("http://{}/v1/metrics", collector.otlp_http);
    let client = reqwest::Client::new();
    let state = collector.state();
    let total = by_time.len();
    let mut sent = 0usize;
    for (t, rows) in &by_time {
        let body = request(*t, rows).encode_to_vec();
        let resp = client
            .post(&url)
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .await
            .context("posting to the collector")?;
        if !resp.status().is_success() {
            bail!("the collector answered {} at {t}", resp.status());
        }
        // Keep the ledger up with the data, so nothing ages out of the store unpriced.
        while !state.evaluate().1 {}
        sent += 1;
        if sent.is_multiple_of(200) || sent == total {
            tracing::info!("replayed {sent}/{total} instants");
        }
    }
    let cost = state.cost_totals(By::Node);
    collector.shutdown(Duration::from_secs(5)).await;
    let pods = cost.rows.len();
    Ok(Replay {
        pods,
        samples: rows.len(),
        requests: total,
        first_unix_seconds: *by_time.keys().next().unwrap_or(&0),
        last_unix_seconds: *by_time.keys().next_back().unwrap_or(&0),
        price_usd_per_gpu_hour: price,
        idle_below,
        cost,
    })
}

/// The report as a terminal table: the trace, the `top` most expensive pods, the total.
pub fn table(r: &Replay, top: usize) -> String {
    use std::fmt::Write;
    let when = |s: i64| gpuwatch_model::Timestamp::from_unix_millis(s * 1000).to_rfc3339();
    let mut out = format!(
        "GenTD26: {} pods, {} samples, {} to {} ({:.1} h), ${:.2}/GPU-hour, idle under {:.0}%\n\n",
        r.pods,
        r.samples,
        when(r.first_unix_seconds),
        when(r.last_unix_seconds),
        (r.last_unix_seconds - r.first_unix_seconds) as f64 / 3600.0,
        r.price_usd_per_gpu_hour,
        r.idle_below * 100.0,
    );
    let _ = writeln!(
        out,
        "{:<18} {:>10} {:>10} {:>7} {:>10} {:>10}",
        "POD", "GPU-HOURS", "IDLE-H", "IDLE%", "COST $", "IDLE $"
    );
    let row = |out: &mut String, c: &gpuwatch_model::api::CostRow| {
        let idle = if c.gpu_hours > 0.0 {
            100.0 * c.idle_gpu_hours / c.gpu_hours
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "{:<18} {:>10.2} {:>10.2} {:>6.1}% {:>10.2} {:>10.2}",
            c.key, c.gpu_hours, c.idle_gpu_hours, idle, c.cost_usd, c.idle_cost_usd
        );
    };
    // The biggest wasters first.
    let mut rows: Vec<&gpuwatch_model::api::CostRow> = r.cost.rows.iter().collect();
    rows.sort_by(|a, b| {
        b.idle_cost_usd
            .total_cmp(&a.idle_cost_usd)
            .then(a.key.cmp(&b.key))
    });
    for c in rows.into_iter().take(top) {
        row(&mut out, c);
    }
    if r.cost.rows.len() > top {
        let _ = writeln!(
            out,
            "... {} more pods (--top N, or --format json)",
            r.cost.rows.len() - top
        );
    }
    row(&mut out, &r.cost.total);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_columns_in_any_order_and_names_bad_lines() {
        let rows =
            parse("timestamp_anon,value,container_ip\n1662858720.0,12.5,abc\n").expect("parses");
        assert_eq!(
            rows,
            [Row {
                unix_seconds: 1_662_858_720,
                pod: "abc".into(),
                percent: 12.5
            }]
        );
        let other = parse("value,timestamp_anon,container_ip\n3,57.0,x\n").expect("parses");
        assert_eq!((other[0].unix_seconds, other[0].percent), (57, 3.0));
        let bad = parse("value,timestamp_anon,container_ip\nx,57,p\n").expect_err("bad");
        assert!(
            format!("{bad:#}").contains("line 2: value is not a number"),
            "{bad:#}"
        );
        let missing = parse("value,when\n").expect_err("no column");
        assert!(format!("{missing:#}").contains("no `timestamp_anon` column"));
    }

    #[test]
    fn a_pod_is_a_node_named_by_its_hash() {
        assert_eq!(
            node_of("23b8eba99c14e73d454503a55ae96989"),
            "pod-23b8eba99c14"
        );
        assert_eq!(node_of("ab"), "pod-ab");
    }
}
