//! `/metrics`: every series in the store in the Prometheus text format, named as
//! OpenTelemetry's Prometheus compatibility rules say (dots to underscores, a unit
//! suffix, `_total` on counters), plus the collector's derived and health series.

mod naming;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use gpuwatch_model::{Alert, AlertKind, Severity};

pub use naming::{label_name, metric_name};

use crate::cost::{GpuAccount, Ledger};
use crate::store::{HistogramPoint, Series, SeriesKind, Store};
use crate::telemetry::{RequestRejection, Telemetry};

/// Attribute prefixes that describe the sending process rather than the thing measured;
/// they are left out of labels (OpenTelemetry puts them in `target_info`).
const NOT_LABELS: [&str; 4] = ["service.", "telemetry.", "process.runtime.", "os."];

/// The Prometheus type of a series.
fn prom_type(kind: SeriesKind) -> &'static str {
    match kind {
        SeriesKind::Gauge | SeriesKind::UpDownCounter => "gauge",
        SeriesKind::Counter => "counter",
        SeriesKind::Histogram => "histogram",
        SeriesKind::Summary => "summary",
    }
}

/// `{a="1",b="2"}` from `(name, value)` pairs, escaped; empty without labels.
fn labels<'a>(pairs: impl IntoIterator<Item = (String, &'a str)>) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        out.push(if i == 0 { '{' } else { ',' });
        out.push_str(&k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    if !out.is_empty() {
        out.push('}');
    }
    out
}

/// A series' labels: its attributes minus the sender's own, names sanitised, sorted;
/// on a clash after sanitising, the first attribute wins.
pub(crate) fn series_labels(s: &Series) -> Vec<(String, &str)> {
    let mut out: BTreeMap<String, &str> = BTreeMap::new();
    for (k, v) in s.key.pairs() {
        if NOT_LABELS.iter().any(|p| k.starts_with(p)) {
            continue;
        }
        out.entry(label_name(k)).or_insert(v);
    }
    out.into_iter().collect()
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn write_histogram(out: &mut String, name: &str, base: &[(String, &str)], h: &HistogramPoint) {
    let with_le = |le: &str| {
        let mut l: Vec<(String, &str)> = base.to_vec();
        l.push(("le".to_string(), le));
        l.sort();
        labels(l.iter().map(|(k, v)| (k.clone(), *v)))
    };
    if !h.bounds.is_empty() && h.counts.len() == h.bounds.len() + 1 {
        let mut cumulative = 0u64;
        for (bound, count) in h.bounds.iter().zip(&h.counts) {
            cumulative += count;
            let le = number(*bound);
            let _ = writeln!(out, "{name}_bucket{} {cumulative}", with_le(&le));
        }
    }
    let _ = writeln!(out, "{name}_bucket{} {}", with_le("+Inf"), h.count);
    let plain = labels(base.iter().map(|(k, v)| (k.clone(), *v)));
    if h.sum.is_finite() {
        let _ = writeln!(out, "{name}_sum{plain} {}", number(h.sum));
    }
    let _ = writeln!(out, "{name}_count{plain} {}", h.count);
}

/// The text exposition of the store, the firing alerts and the collector's health.
/// What the collector derives about models for `/metrics`: drift scores and latency
/// quantiles at the store's newest instant.
#[derive(Debug, Clone, Default)]
pub struct ModelView {
    pub scores: Vec<crate::detect::drift::Score>,
    /// `(model, metric, quantile, seconds)`.
    pub latency: Vec<(String, String, f64, f64)>,
}

pub fn render(
    store: &Store,
    alerts: &[Alert],
    ledger: &Ledger,
    models: &ModelView,
    telemetry: &Telemetry,
) -> String {
    // Group series into families by Prometheus name; a family keeps the type of its
    // first series and skips series of another type (two OTel metrics that map to one
    // Prometheus name).
    let mut families: BTreeMap<String, (SeriesKind, &str, Vec<&Series>)> = BTreeMap::new();
    for s in store.series() {
        let name = metric_name(&s.key.metric, &s.unit, s.kind);
        let family = families
            .entry(name)
            .or_insert_with(|| (s.kind, s.key.metric(), Vec::new()));
        if prom_type(family.0) == prom_type(s.kind) {
            family.2.push(s);
        }
    }
    let mut out = String::with_capacity(store.series().len() * 160);
    for (name, (kind, otel_name, series)) in &families {
        let unit = series.first().map_or("", |s| &*s.unit);
        let _ = writeln!(
            out,
            "# HELP {name} OpenTelemetry metric {otel_name} (unit {unit:?})"
        );
        let _ = writeln!(out, "# TYPE {name} {}", prom_type(*kind));
        for s in series {
            let l = series_labels(s);
            if let Some((_, v)) = s.last_scalar() {
                let _ = writeln!(
                    out,
                    "{name}{} {}",
                    labels(l.iter().map(|(k, v)| (k.clone(), *v))),
                    number(v)
                );
            } else if let Some((_, h)) = s.histograms().and_then(|r| r.last()) {
                if *kind == SeriesKind::Summary {
                    let plain = labels(l.iter().map(|(k, v)| (k.clone(), *v)));
                    let _ = writeln!(out, "{name}_sum{plain} {}", number(h.sum));
                    let _ = writeln!(out, "{name}_count{plain} {}", h.count);
                } else {
                    write_histogram(&mut out, name, &l, h);
                }
            }
        }
    }
    render_alerts(&mut out, alerts);
    render_cost(&mut out, ledger);
    render_models(&mut out, models);
    render_health(&mut out, store, telemetry);
    out
}

fn render_models(out: &mut String, models: &ModelView) {
    out.push_str("# HELP gpuwatch_drift_score Latest drift score of each model's prediction, feature or latency distribution against its reference window.\n# TYPE gpuwatch_drift_score gauge\n");
    for s in &models.scores {
        let l = labels([
            ("feature".to_string(), s.feature.as_str()),
            ("method".to_string(), s.method),
            ("model".to_string(), s.model.as_str()),
        ]);
        let _ = writeln!(out, "gpuwatch_drift_score{l} {}", number(s.value));
    }
    out.push_str("# HELP gpuwatch_inference_latency_seconds p50, p95 and p99 of each model's latency over the drift window.\n# TYPE gpuwatch_inference_latency_seconds summary\n");
    for (model, metric, q, v) in &models.latency {
        let q = format!("{q}");
        let l = labels([
            ("metric".to_string(), metric.as_str()),
            ("model".to_string(), model.as_str()),
            ("quantile".to_string(), q.as_str()),
        ]);
        let _ = writeln!(out, "gpuwatch_inference_latency_seconds{l} {}", number(*v));
    }
}

fn render_cost(out: &mut String, ledger: &Ledger) {
    let owner_labels = |a: &GpuAccount| {
        let o = &a.owner;
        let mut l: Vec<(String, &str)> = vec![
            ("host_name".into(), o.node.as_str()),
            ("hw_id".into(), o.gpu.as_str()),
            ("hw_name".into(), o.name.as_str()),
            ("hw_model".into(), o.model.as_str()),
        ];
        if let Some(job) = &o.job {
            l.push(("gpuwatch_job_id".into(), job));
        }
        if let Some(team) = &o.team {
            l.push(("gpuwatch_team".into(), team));
        }
        l.sort();
        labels(l)
    };
    let current: Vec<&GpuAccount> = ledger
        .accounts()
        .iter()
        .filter(|a| ledger.is_current(a))
        .collect();
    out.push_str("# HELP gpuwatch_gpu_cost_usd_per_hour Burn rate of each GPU reporting now, dollars per hour.\n# TYPE gpuwatch_gpu_cost_usd_per_hour gauge\n");
    for a in &current {
        let _ = writeln!(
            out,
            "gpuwatch_gpu_cost_usd_per_hour{} {}",
            owner_labels(a),
            number(a.burn_usd_per_hour)
        );
    }
    out.push_str("# HELP gpuwatch_gpu_idle_cost_usd_per_hour The part of a GPU's burn rate spent idle.\n# TYPE gpuwatch_gpu_idle_cost_usd_per_hour gauge\n");
    for a in &current {
        let _ = writeln!(
            out,
            "gpuwatch_gpu_idle_cost_usd_per_hour{} {}",
            owner_labels(a),
            number(a.idle_burn_usd_per_hour)
        );
    }
    out.push_str("# HELP gpuwatch_cost_usd_total Dollars accrued by each GPU since the collector started.\n# TYPE gpuwatch_cost_usd_total counter\n");
    for a in ledger.accounts() {
        let _ = writeln!(
            out,
            "gpuwatch_cost_usd_total{} {}",
            owner_labels(a),
            number(a.total.usd)
        );
    }
}

fn severity_str(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

fn render_alerts(out: &mut String, alerts: &[Alert]) {
    let mut counts: BTreeMap<(AlertKind, Severity), usize> = BTreeMap::new();
    for kind in AlertKind::ALL {
        for severity in [Severity::Info, Severity::Warning, Severity::Critical] {
            counts.insert((kind, severity), 0);
        }
    }
    for a in alerts {
        *counts.entry((a.kind, a.severity)).or_default() += 1;
    }
    out.push_str(
        "# HELP gpuwatch_alerts_firing Alerts firing now.\n# TYPE gpuwatch_alerts_firing gauge\n",
    );
    for ((kind, severity), n) in counts {
        let l = labels([
            ("kind".to_string(), kind.as_str()),
            ("severity".to_string(), severity_str(severity)),
        ]);
        let _ = writeln!(out, "gpuwatch_alerts_firing{l} {n}");
    }
    out.push_str("# HELP gpuwatch_alert 1 for each firing alert, with its labels.\n# TYPE gpuwatch_alert gauge\n");
    for a in alerts {
        let mut l: BTreeMap<String, &str> = a
            .labels
            .iter()
            .map(|(k, v)| (label_name(k), v.as_str()))
            .collect();
        l.insert("kind".into(), a.kind.as_str());
        l.insert("severity".into(), severity_str(a.severity));
        l.insert("id".into(), a.id.as_str());
        let _ = writeln!(out, "gpuwatch_alert{} 1", labels(l));
    }
}

fn render_health(out: &mut String, store: &Store, t: &Telemetry) {
    out.push_str("# HELP gpuwatch_ingest_points_total Data points stored since the collector started.\n# TYPE gpuwatch_ingest_points_total counter\n");
    let _ = writeln!(
        out,
        "gpuwatch_ingest_points_total {}",
        store.points_accepted()
    );
    out.push_str("# HELP gpuwatch_ingest_rejected_total Data points refused, and whole requests refused, by reason.\n# TYPE gpuwatch_ingest_rejected_total counter\n");
    for r in crate::store::RejectReason::ALL {
        let _ = writeln!(
            out,
            "gpuwatch_ingest_rejected_total{} {}",
            labels([("reason".to_string(), r.as_str())]),
            store.rejected(r)
        );
    }
    for r in RequestRejection::ALL {
        let _ = writeln!(
            out,
            "gpuwatch_ingest_rejected_total{} {}",
            labels([("reason".to_string(), r.as_str())]),
            t.requests_rejected(r)
        );
    }
    out.push_str("# HELP gpuwatch_otlp_requests_total OTLP export requests received, by transport.\n# TYPE gpuwatch_otlp_requests_total counter\n");
    let _ = writeln!(
        out,
        "gpuwatch_otlp_requests_total{{transport=\"grpc\"}} {}",
        t.grpc_requests()
    );
    let _ = writeln!(
        out,
        "gpuwatch_otlp_requests_total{{transport=\"http\"}} {}",
        t.http_requests()
    );
    out.push_str("# HELP gpuwatch_api_requests_refused_total API and /metrics requests refused (401: no or a wrong collector.auth.api_tokens_file token).\n# TYPE gpuwatch_api_requests_refused_total counter\n");
    let _ = writeln!(
        out,
        "gpuwatch_api_requests_refused_total{{reason=\"unauthenticated\"}} {}",
        t.api_requests_unauthenticated()
    );
    render_remote_write(out, &t.remote_write);
    let notifications = t.notifications.snapshot();
    if !notifications.is_empty() {
        out.push_str("# HELP gpuwatch_notifications_total Alert notifications by notifier and outcome (sent, retried, rejected, dropped).\n# TYPE gpuwatch_notifications_total counter\n");
        for (notifier, outcome, n) in notifications {
            let _ = writeln!(
                out,
                "gpuwatch_notifications_total{} {n}",
                labels([
                    ("notifier".to_string(), notifier.as_str()),
                    ("outcome".to_string(), outcome.as_str()),
                ])
            );
        }
    }
    out.push_str("# HELP gpuwatch_store_series Series held in the live store.\n# TYPE gpuwatch_store_series gauge\n");
    let _ = writeln!(out, "gpuwatch_store_series {}", store.series().len());
    let usage = store.usage();
    out.push_str("# HELP gpuwatch_store_points Points held in the live store.\n# TYPE gpuwatch_store_points gauge\n");
    let _ = writeln!(out, "gpuwatch_store_points {}", usage.points);
    out.push_str("# HELP gpuwatch_store_bytes Bytes the live store takes: compressed points, series keys and the series index.\n# TYPE gpuwatch_store_bytes gauge\n");
    let _ = writeln!(out, "gpuwatch_store_bytes {}", usage.bytes());
    out.push_str("# HELP gpuwatch_store_max_bytes The live store's memory budget (collector.store.max_bytes).\n# TYPE gpuwatch_store_max_bytes gauge\n");
    let _ = writeln!(
        out,
        "gpuwatch_store_max_bytes {}",
        store.settings().max_bytes
    );
    out.push_str("# HELP gpuwatch_store_evicted_points_total Points the live store let go of, by why: past retention, past max_points_per_series, or to stay within max_bytes.\n# TYPE gpuwatch_store_evicted_points_total counter\n");
    let e = store.evicted();
    for (reason, n) in [
        ("retention", e.retention),
        ("max_points", e.max_points),
        ("memory_budget", e.memory_budget),
    ] {
        let _ = writeln!(
            out,
            "gpuwatch_store_evicted_points_total{{reason=\"{reason}\"}} {n}"
        );
    }
    render_durable(out, &t.durable);
}

/// What `collector.data_dir` did (zeros without one).
fn render_durable(out: &mut String, d: &crate::durable::DurableStats) {
    use crate::durable::DurableStats as D;
    let rows: [(&str, &str, &str, f64); 12] = [
        (
            "gpuwatch_wal_bytes",
            "gauge",
            "Bytes of the write-ahead log kept in collector.data_dir.",
            D::get(&d.wal_bytes) as f64,
        ),
        (
            "gpuwatch_wal_segments",
            "gauge",
            "Segment files of the write-ahead log kept.",
            D::get(&d.wal_segments) as f64,
        ),
        (
            "gpuwatch_wal_write_errors_total",
            "counter",
            "Writes or syncs of the write-ahead log that failed (points then live in memory only).",
            D::get(&d.wal_write_errors) as f64,
        ),
        (
            "gpuwatch_wal_replayed_requests",
            "gauge",
            "Requests replayed from the write-ahead log at start.",
            D::get(&d.replayed_requests) as f64,
        ),
        (
            "gpuwatch_wal_replayed_points",
            "gauge",
            "Points stored from the write-ahead log at start.",
            D::get(&d.replayed_points) as f64,
        ),
        (
            "gpuwatch_state_save_errors_total",
            "counter",
            "Saves of the alerts' state to collector.data_dir that failed.",
            D::get(&d.state_save_errors) as f64,
        ),
        (
            "gpuwatch_state_saved_timestamp_seconds",
            "gauge",
            "When the alerts' state was last saved (0: never).",
            d.state_saved_at.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e9,
        ),
        (
            "gpuwatch_store_snapshot_bytes",
            "gauge",
            "Size of the last snapshot of the live store written to collector.data_dir.",
            D::get(&d.snapshot_bytes) as f64,
        ),
        (
            "gpuwatch_store_snapshot_errors_total",
            "counter",
            "Snapshots of the live store that could not be written.",
            D::get(&d.snapshot_errors) as f64,
        ),
        (
            "gpuwatch_store_snapshot_timestamp_seconds",
            "gauge",
            "When the live store's snapshot was last written (0: never).",
            d.snapshot_saved_at
                .load(std::sync::atomic::Ordering::Relaxed) as f64
                / 1e9,
        ),
        (
            "gpuwatch_store_snapshot_loaded_series",
            "gauge",
            "Series read from the store snapshot at start.",
            D::get(&d.snapshot_loaded_series) as f64,
        ),
        (
            "gpuwatch_store_snapshot_loaded_points",
            "gauge",
            "Points read from the store snapshot at start.",
            D::get(&d.snapshot_loaded_points) as f64,
        ),
    ];
    write_unlabelled(out, &rows);
}

/// Series of one sample each and no labels: `(name, type, help, value)`.
fn write_unlabelled(out: &mut String, rows: &[(&str, &str, &str, f64)]) {
    for (name, kind, help, value) in rows {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
}

#[cfg(test)]
mod tests;

fn render_remote_write(out: &mut String, rw: &crate::telemetry::RemoteWriteStats) {
    use std::sync::atomic::Ordering::Relaxed;
    if !rw.enabled.load(Relaxed) {
        return;
    }
    out.push_str("# HELP gpuwatch_remote_write_samples_total Samples given to remote write, by outcome: sent (the receiver took them), refused (a 4xx dropped their batch), dropped (the queue was full).\n# TYPE gpuwatch_remote_write_samples_total counter\n");
    for (outcome, n) in [
        ("sent", &rw.samples_sent),
        ("refused", &rw.samples_refused),
        ("dropped", &rw.samples_dropped),
    ] {
        let _ = writeln!(
            out,
            "gpuwatch_remote_write_samples_total{{outcome=\"{outcome}\"}} {}",
            n.load(Relaxed)
        );
    }
    out.push_str("# HELP gpuwatch_remote_write_retries_total Remote-write requests to try again (429, 5xx, receiver unreachable).\n# TYPE gpuwatch_remote_write_retries_total counter\n");
    let _ = writeln!(
        out,
        "gpuwatch_remote_write_retries_total {}",
        rw.retries.load(Relaxed)
    );
}

/// `[collector.limits]`: the memory limit, the resident memory last read, whether
/// ingest is refused for it.
pub fn render_limits(out: &mut String, limiter: &crate::limiter::Limiter) {
    let limit = limiter.settings().soft_limit.unwrap_or(0);
    write_unlabelled(
        out,
        &[
            ("gpuwatch_memory_limit_bytes", "gauge", "Resident memory from which OTLP ingest is refused (collector.limits.memory_limit less memory_spike_limit; 0: no limit).", limit as f64),
            ("gpuwatch_resident_memory_bytes", "gauge", "The collector's resident memory at the last check (0 without a memory limit).", limiter.rss() as f64),
            ("gpuwatch_overloaded", "gauge", "1 while OTLP ingest is refused for memory.", f64::from(u8::from(limiter.is_over()))),
        ],
    );
}
