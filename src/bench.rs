//! `gpuwatch bench ingest`: how many OTLP data points per second one core turns into
//! stored points (protobuf read + keying + ring insert), beside prost's decode alone on
//! the same bytes, the ceiling a decode-then-store design cannot pass. Both ingest
//! doors are measured: OTLP/HTTP protobuf (zero-copy reader) and gRPC/JSON (prost).
//!
//! The request is a real agent export: the agent's OTLP exporter sends one sample of a
//! simulated 8-GPU training node (every CONTRACT metric it has) to a capture socket.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gpuwatch_agent::{
    demo_profiles, ExporterSettings, OtlpExporter, Protocol, ResourceInfo, Sampler,
    SimulatedSampler,
};
use gpuwatch_collector::detect::drift::DriftReferences;
use gpuwatch_collector::ingest::{ingest, ingest_protobuf};
use gpuwatch_collector::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use gpuwatch_collector::otlp::metrics::v1::metric::Data;
use gpuwatch_collector::store::{Store, StoreConfig, StoreSettings, Usage};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::headless::thousands;

/// Distinct requests, each one second later than the last: 15 minutes of one agent, the
/// store's default retention. Each pass over them starts from an empty store, so every
/// point is a new one, appended, as in steady state.
const DISTINCT_REQUESTS: usize = 900;

/// The body of one HTTP request the agent's exporter sends.
async fn capture_agent_export() -> anyhow::Result<Vec<u8>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                bail!("the exporter closed the connection mid-request");
            }
            buf.extend_from_slice(&chunk[..n]);
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .context("the export has no Content-Length")?;
            if buf.len() >= end + 4 + length {
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await?;
                return Ok(buf[end + 4..end + 4 + length].to_vec());
            }
        }
    });
    let exporter = OtlpExporter::new(ExporterSettings {
        credentials: Default::default(),
        endpoint: format!("http://{addr}"),
        protocol: Protocol::Http,
        timeout: Duration::from_secs(10),
        resource: ResourceInfo {
            host_name: "bench-node".into(),
            cluster: "bench".into(),
            service_version: env!("CARGO_PKG_VERSION").into(),
            extra: Vec::new(),
        },
    })?;
    let mut sampler = SimulatedSampler::new(0, demo_profiles(0, 8), 1);
    let sample = sampler.sample(gpuwatch_model::Timestamp::from_unix_nanos_u64(
        1_795_860_000_000_000_000,
    ))?;
    exporter.export(&sample).await?;
    server.await?
}

fn points_in(request: &ExportMetricsServiceRequest) -> usize {
    let mut n = 0;
    for rm in &request.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                n += match &m.data {
                    Some(Data::Gauge(g)) => g.data_points.len(),
                    Some(Data::Sum(s)) => s.data_points.len(),
                    Some(Data::Histogram(h)) => h.data_points.len(),
                    Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
                    Some(Data::Summary(s)) => s.data_points.len(),
                    None => 0,
                };
            }
        }
    }
    n
}

/// The captured request shifted by `seconds`, re-encoded.
fn shifted(request: &ExportMetricsServiceRequest, seconds: u64) -> Vec<u8> {
    let mut r = request.clone();
    let shift = seconds * 1_000_000_000;
    for rm in &mut r.resource_metrics {
        for sm in &mut rm.scope_metrics {
            for m in &mut sm.metrics {
                match &mut m.data {
                    Some(Data::Gauge(g)) => g
                        .data_points
                        .iter_mut()
                        .for_each(|p| p.time_unix_nano += shift),
                    Some(Data::Sum(s)) => s
                        .data_points
                        .iter_mut()
                        .for_each(|p| p.time_unix_nano += shift),
                    Some(Data::Histogram(h)) => h
                        .data_points
                        .iter_mut()
                        .for_each(|p| p.time_unix_nano += shift),
                    Some(Data::ExponentialHistogram(h)) => {
                        h.data_points
                            .iter_mut()
                            .for_each(|p| p.time_unix_nano += shift);
                    }
                    Some(Data::Summary(s)) => s
                        .data_points
                        .iter_mut()
                        .for_each(|p| p.time_unix_nano += shift),
                    None => {}
                }
            }
        }
    }
    r.encode_to_vec()
}

/// Runs `step` over the bodies in order, pass after pass, for `duration`; `new_pass`
/// runs before each pass. Returns requests per second.
fn measure(
    bodies: &[Vec<u8>],
    duration: Duration,
    mut new_pass: impl FnMut(),
    mut step: impl FnMut(&[u8]),
) -> f64 {
    // Warm up: one pass.
    new_pass();
    bodies.iter().for_each(|b| step(b));
    let start = Instant::now();
    let mut done = 0usize;
    while start.elapsed() < duration {
        new_pass();
        for chunk in bodies.chunks(100) {
            chunk.iter().for_each(|b| step(b));
            done += chunk.len();
            if start.elapsed() >= duration {
                break;
            }
        }
    }
    done as f64 / start.elapsed().as_secs_f64()
}

pub async fn ingest_bench(duration: Duration) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: a debug build; run `cargo run --release -- bench ingest` for real figures"
        );
    }
    let body = capture_agent_export().await?;
    let request = ExportMetricsServiceRequest::decode(&body[..]).context("decoding the capture")?;
    let points = points_in(&request);
    let bodies: Vec<Vec<u8>> = (0..DISTINCT_REQUESTS as u64)
        .map(|i| shifted(&request, i))
        .collect();
    println!(
        "request: one agent export of an 8-GPU node, {} data points, {} bytes of protobuf",
        points,
        thousands(body.len() as u64)
    );

    let decode_rps = measure(
        &bodies,
        duration,
        || {},
        |b| {
            let r = ExportMetricsServiceRequest::decode(b).unwrap_or_default();
            std::hint::black_box(r);
        },
    );
    let settings = StoreConfig::default().validate()?;
    let mut rejected = 0;
    // What OTLP/HTTP protobuf does: the zero-copy reader, then the store.
    let store = std::cell::RefCell::new(Store::new(settings.clone()));
    let fresh = || *store.borrow_mut() = Store::new(settings.clone());
    let mut malformed = 0;
    let http_rps = measure(&bodies, duration, fresh, |b| {
        match ingest_protobuf(&mut store.borrow_mut(), b) {
            Ok(out) => rejected += out.rejected_total(),
            Err(_) => malformed += 1,
        }
    });
    // What gRPC and JSON do: a prost-decoded request, then the store.
    let grpc_rps = measure(&bodies, duration, fresh, |b| {
        let r = ExportMetricsServiceRequest::decode(b).unwrap_or_default();
        rejected += ingest(&mut store.borrow_mut(), &r).rejected_total();
    });
    let held = {
        let s = store.borrow();
        (s.series().len(), s.points_accepted())
    };
    if rejected > 0 || malformed > 0 {
        bail!("the store refused {rejected} points and {malformed} requests during the bench");
    }
    let pps = |rps: f64| rps * points as f64;
    let decode = pps(decode_rps);
    println!(
        "prost decode only (the ceiling):      {:>11} points/s",
        thousands(decode as u64)
    );
    println!(
        "OTLP/HTTP protobuf: read + store:     {:>11} points/s on one core, {:.0}% of decode-only",
        thousands(pps(http_rps) as u64),
        100.0 * pps(http_rps) / decode
    );
    println!(
        "gRPC/JSON path: prost decode + store: {:>11} points/s on one core, {:.0}% of decode-only",
        thousands(pps(grpc_rps) as u64),
        100.0 * pps(grpc_rps) / decode
    );
    println!(
        "the store held {} series and {} points at the end of its last pass",
        held.0,
        thousands(held.1)
    );
    store_bytes_per_point(&settings)
}

/// How the samples of `store_bytes_per_point` are taken.
#[derive(Clone, Copy)]
enum Shape {
    /// The simulator's values as they are: every reading a full-precision float.
    Simulated,
    /// Rounded to what NVML reports: whole percent, milliwatts, millijoules, whole
    /// degrees, whole megahertz. On the 1 s grid, as the agent stamps its samples.
    Nvml,
    /// As `Nvml`, each request stamped up to 5 ms off the grid, as a sender that stamps
    /// the wall clock at each tick does (an OpenTelemetry SDK's periodic reader).
    NvmlJittered,
}

/// Bytes a point takes in the live store: 15 minutes (the default retention) of one
/// 8-GPU node at 1 s, successive samples of the simulator encoded by the agent's own
/// exporter, into a store with the default settings. Prometheus' head chunks take
/// about 1.3 bytes a sample; a plain ring of `(i64, f64)` takes 16.
fn store_bytes_per_point(settings: &StoreSettings) -> anyhow::Result<()> {
    println!("live store, 15 minutes of one 8-GPU node at 1 s, default settings:");
    for (shape, what) in [
        (
            Shape::Simulated,
            "simulator's full-precision floats, on the 1 s grid",
        ),
        (Shape::Nvml, "rounded to NVML's resolution, on the 1 s grid"),
        (
            Shape::NvmlJittered,
            "rounded to NVML's resolution, stamped within 5 ms of the grid",
        ),
    ] {
        let store = fill_store(settings, shape)?;
        print_bytes_per_point(&store.usage(), what);
        if let Shape::Nvml = shape {
            print!("        ");
            snapshot_figures(&store)?;
        }
        let mut metrics: Vec<(String, Usage)> = store.usage_by_metric().into_iter().collect();
        metrics.sort_by_key(|(_, u)| std::cmp::Reverse(u.point_bytes));
        let costliest: Vec<String> = metrics
            .iter()
            .take(COSTLIEST)
            .map(|(name, u)| {
                format!(
                    "{name} {:.1}",
                    u.point_bytes as f64 / u.points.max(1) as f64
                )
            })
            .collect();
        println!("        costliest, bytes/point: {}", costliest.join(", "));
    }
    trace_bytes_per_point()
}

/// Where `bench ingest` looks for the GenTD26 trace: the fixtures beside the checkout.
const GENTD26: &str = "../shared/fixtures/alibaba-gentd26";

/// Bytes a point of a real production trace takes in the live store: GenTD26's duty
/// cycle and memory used of 143 pods, every 57 s for 23 hours, each pod's series held
/// whole (retention 24 h).
fn trace_bytes_per_point() -> anyhow::Result<()> {
    use crate::replay::{parse, read_text, request_of};
    use gpuwatch_model::names::metric;

    let dir = Path::new(GENTD26);
    let files = [
        (
            "pod_gpu_duty_cycle_anon.tar.gz",
            metric::GPU_UTILIZATION,
            "1",
            100.0,
        ),
        (
            "pod_gpu_memory_used_bytes_anon.tar.gz",
            metric::GPU_MEMORY_USAGE,
            "By",
            1.0,
        ),
    ];
    if !files.iter().all(|(f, ..)| dir.join(f).exists()) {
        println!(
            "  the GenTD26 trace is not at {} (run from the checkout beside ../shared): skipped",
            dir.display()
        );
        return Ok(());
    }
    let settings = StoreConfig {
        retention: "24h".into(),
        max_points_per_series: 2000,
        ..StoreConfig::default()
    }
    .validate()?;
    println!("live store, a real production trace (Alibaba GenTD26), retention 24 h:");
    for (file, name, unit, per) in files {
        let rows = parse(&read_text(&dir.join(file))?)?;
        let mut by_time: std::collections::BTreeMap<i64, Vec<&crate::replay::Row>> =
            std::collections::BTreeMap::new();
        for row in &rows {
            by_time.entry(row.unix_seconds).or_default().push(row);
        }
        let mut store = Store::new(settings.clone());
        let mut refused = 0;
        for (t, rows) in &by_time {
            let out = ingest(
                &mut store,
                &request_of(*t, rows, name, unit, |r| r.percent / per),
            );
            refused += out.rejected_total();
        }
        if refused > 0 {
            bail!("the store refused {refused} points of {file}");
        }
        print_bytes_per_point(&store.usage(), &format!("{name} of {file}"));
    }
    Ok(())
}

/// One line of `bench ingest`'s memory figures.
fn print_bytes_per_point(usage: &Usage, what: &str) {
    println!(
        "  {:>5.2} bytes/point ({:.2} with series keys), {} points: {what}",
        usage.point_bytes as f64 / usage.points.max(1) as f64,
        usage.bytes() as f64 / usage.points.max(1) as f64,
        thousands(usage.points),
    );
}

/// Metrics `store_bytes_per_point` names as the costliest.
const COSTLIEST: usize = 4;

fn fill_store(settings: &StoreSettings, shape: Shape) -> anyhow::Result<Store> {
    let exporter = OtlpExporter::new(ExporterSettings {
        credentials: Default::default(),
        endpoint: "http://127.0.0.1:4318".into(),
        protocol: Protocol::Http,
        timeout: Duration::from_secs(10),
        resource: ResourceInfo {
            host_name: "bench-node".into(),
            cluster: "bench".into(),
            service_version: env!("CARGO_PKG_VERSION").into(),
            extra: Vec::new(),
        },
    })?;
    let mut sampler = SimulatedSampler::new(0, demo_profiles(0, 8), 1);
    let mut store = Store::new(settings.clone());
    let start = 1_795_860_000_000_000_000u64;
    let mut refused = 0;
    for i in 0..DISTINCT_REQUESTS as u64 {
        let mut time = start + i * 1_000_000_000;
        if let Shape::NvmlJittered = shape {
            // Deterministic, uniform in [0, 5 ms): a splitmix64 step of the index.
            let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            time += (z ^ (z >> 31)) % 5_000_000;
        }
        let mut sample = sampler.sample(gpuwatch_model::Timestamp::from_unix_nanos_u64(time))?;
        if !matches!(shape, Shape::Simulated) {
            at_nvml_resolution(&mut sample);
        }
        let out = ingest_protobuf(&mut store, &exporter.encode(&sample))?;
        refused += out.rejected_total();
    }
    if refused > 0 {
        bail!("the store refused {refused} points while filling");
    }
    Ok(store)
}

/// Rounds a sample's GPU readings to the units NVML reports them in, converted as the
/// agent's NVML sampler converts them (whole percents / 100, milliwatts / 1000). NVLink
/// counters are NVML's KiB fields times 1024; PCIe is read as whole KB/s, which the
/// agent's trapezoid over a 1 s interval turns into steps of 500 bytes.
pub(crate) fn at_nvml_resolution(sample: &mut gpuwatch_model::NodeSample) {
    let per = |v: f64, units: f64| (v * units).round() / units;
    let steps = |b: Option<u64>, step: u64| b.map(|b| b / step * step);
    for g in &mut sample.gpus {
        g.nvlink_tx_bytes = steps(g.nvlink_tx_bytes, 1024);
        g.nvlink_rx_bytes = steps(g.nvlink_rx_bytes, 1024);
        g.pcie_tx_bytes = steps(g.pcie_tx_bytes, 500);
        g.pcie_rx_bytes = steps(g.pcie_rx_bytes, 500);
        g.utilization = per(g.utilization, 100.0);
        g.encoder_utilization = g.encoder_utilization.map(|v| per(v, 100.0));
        g.decoder_utilization = g.decoder_utilization.map(|v| per(v, 100.0));
        g.power_watts = per(g.power_watts, 1000.0);
        g.power_limit_watts = g.power_limit_watts.map(|v| per(v, 1000.0));
        g.energy_joules = g.energy_joules.map(|v| per(v, 1000.0));
        g.temperature_celsius = g.temperature_celsius.round();
        g.sm_clock_hz = g.sm_clock_hz.map(|v| (v / 1e6).round() * 1e6);
    }
}

/// Fills a store with `gpus` GPUs (8 per node), one minute of 1 s samples of what the
/// detectors read, and times `detect::evaluate` over it. One GPU in 16 hangs, one in 16
/// stalls, the rest train.
pub fn detect_bench(gpus: usize, passes: usize) -> anyhow::Result<()> {
    use gpuwatch_collector::detect::{self, AlertsConfig};
    use gpuwatch_collector::store::builder::{every, Builder, S};
    use gpuwatch_model::names::metric;

    if cfg!(debug_assertions) {
        eprintln!(
            "warning: a debug build; run `cargo run --release -- bench detect` for real figures"
        );
    }
    let settings = AlertsConfig::default().validate()?;
    let started = Instant::now();
    let mut b = Builder::new();
    let nvlink = [
        ("gpuwatch.link", "nvlink"),
        ("network.io.direction", "transmit"),
    ];
    let process = [
        ("process.pid", "4242"),
        ("process.executable.name", "python"),
    ];
    for g in 0..gpus {
        let host = format!("node-{:04}", g / 8);
        let job = format!("{}", 1000 + g / 64);
        let i = (g % 8) as u32;
        let (util, watts, io) = match g % 16 {
            0 => (0.99, 80.0, 0.0),
            1 => (0.0, 70.0, 0.0),
            _ => (0.97, 650.0, 150e9),
        };
        let job = Some(job.as_str());
        b.gpu(
            &host,
            i,
            job,
            metric::GPU_UTILIZATION,
            &[],
            every(1, 0, 60, |_| util),
        )
        .gpu(
            &host,
            i,
            job,
            metric::POWER,
            &[],
            every(1, 0, 60, |_| watts),
        )
        .gpu(
            &host,
            i,
            job,
            metric::GPU_POWER_LIMIT,
            &[],
            every(1, 0, 60, |_| 700.0),
        )
        .gpu(
            &host,
            i,
            job,
            metric::GPU_TEMPERATURE,
            &[],
            every(1, 0, 60, |_| 65.0),
        )
        .gpu(
            &host,
            i,
            job,
            metric::GPU_IO,
            &nvlink,
            every(1, 0, 60, |t| io * t as f64),
        )
        .gpu(
            &host,
            i,
            job,
            metric::GPU_PROCESS_MEMORY,
            &process,
            every(1, 0, 60, |_| 40e9),
        );
        for reason in [
            "hw_thermal",
            "sw_thermal",
            "sw_power_cap",
            "hw_power_brake",
            "hw_slowdown",
        ] {
            b.gpu(
                &host,
                i,
                job,
                metric::GPU_THROTTLE,
                &[("gpuwatch.throttle.reason", reason)],
                every(1, 0, 60, |_| 0.0),
            );
        }
    }
    let store = b.build();
    println!(
        "fleet: {} GPUs on {} nodes, {} series, {} points (built in {:.1}s)",
        thousands(gpus as u64),
        thousands(gpus.div_ceil(8) as u64),
        thousands(store.series().len() as u64),
        thousands(store.points_accepted()),
        started.elapsed().as_secs_f64()
    );
    let t = 60 * S;
    let findings = detect::evaluate(&store, &settings, &mut DriftReferences::new(), t).len();
    let mut times: Vec<f64> = (0..passes.max(1))
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(detect::evaluate(
                &store,
                &settings,
                &mut DriftReferences::new(),
                t,
            ));
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "one pass of every detector: {mean:.1} ms mean, {:.1} ms worst of {} passes ({findings} findings a pass)",
        times.last().copied().unwrap_or_default(),
        times.len()
    );
    api_gpus_figures(&store)?;
    rollup_figures(&store)?;
    print!("store snapshot of it: ");
    snapshot_figures(&store)
}

/// A minute's history rollup of `store` (its first minute) as the collector makes one
/// each minute: read under the store's lock, its rows labelled outside it.
fn rollup_figures(store: &gpuwatch_collector::store::Store) -> anyhow::Result<()> {
    use gpuwatch_collector::cost::{CostConfig, Ledger};
    let ledger = Ledger::new(CostConfig::default().validate()?);
    let start = Instant::now();
    let pending = gpuwatch_collector::rollup::pending_minute(&ledger, store, 0);
    let read = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let rollup = pending.finish();
    println!(
        "a minute's history rollup of it: {} series rows read in {:.0} ms under the store's \
         lock, labelled in {:.0} ms outside it",
        thousands(rollup.series.len() as u64),
        read * 1e3,
        start.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// What `GET /api/v1/gpus` does over `store` with nothing else running: the listing
/// built under the store's lock, its JSON, and the gzip a client that asks gets.
fn api_gpus_figures(store: &gpuwatch_collector::store::Store) -> anyhow::Result<()> {
    let start = Instant::now();
    let (body, total) = gpuwatch_collector::view::gpus_where(store, &Default::default(), &[]);
    let built = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let json = serde_json::to_vec(&body)?;
    let encoded = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let packed = gpuwatch_collector::api::gzip(&json)?;
    let zipped = start.elapsed().as_secs_f64();
    println!(
        "/api/v1/gpus over it ({total} GPUs), uncontended: built in {:.0} ms under the \
         store's lock, JSON in {:.0} ms ({:.1} MB), gzip in {:.0} ms ({:.2} MB): {:.0} ms",
        built * 1e3,
        encoded * 1e3,
        json.len() as f64 / 1e6,
        zipped * 1e3,
        packed.len() as f64 / 1e6,
        (built + encoded + zipped) * 1e3
    );
    Ok(())
}

/// The store's snapshot (`collector.snapshot_interval`) of `store`, as the collector
/// takes it: written compressed under the store's lock, synced outside it, and a
/// start's reading it back.
fn snapshot_figures(store: &gpuwatch_collector::store::Store) -> anyhow::Result<()> {
    use gpuwatch_collector::durable::DataDir;
    use gpuwatch_collector::store::Store;

    let dir = std::env::temp_dir().join(format!("gpuwatch-bench-snapshot-{}", std::process::id()));
    let data = DataDir::open(&dir)?;
    let start = Instant::now();
    let file = data.write_snapshot(1, |w| store.write_snapshot(w))?;
    let locked = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let size = data.commit_snapshot(file)?;
    let synced = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let (_, mut reader) = data
        .open_snapshot()
        .map_err(anyhow::Error::msg)?
        .ok_or_else(|| anyhow::anyhow!("the snapshot just written is not there"))?;
    let back = Store::read_snapshot(
        store.settings().clone(),
        &mut reader,
        gpuwatch_model::Timestamp::now().0,
    )
    .map_err(anyhow::Error::msg)?
    .ok_or_else(|| anyhow::anyhow!("the snapshot just taken reads as too old"))?;
    let read = start.elapsed().as_secs_f64();
    drop(data);
    let _ = std::fs::remove_dir_all(&dir);
    let points = store.usage().points;
    anyhow::ensure!(
        back.usage().points == points,
        "the snapshot read back holds {} points, not {points}",
        back.usage().points
    );
    println!(
        "snapshot written in {:.1} ms under the store's lock, synced in {:.0} ms \
         ({:.2} MB, {:.2} bytes a point), read back in {:.0} ms",
        locked * 1e3,
        synced * 1e3,
        size as f64 / 1e6,
        size as f64 / points.max(1) as f64,
        read * 1e3
    );
    Ok(())
}

/// What /proc says of a process: `(utime + stime)` in seconds, every thread's, the ones
/// that ended too (clock ticks, so measure long enough: a minute at 1 Hz is a few dozen
/// ticks), and its resident memory now and at its peak, KiB.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcessUsage {
    pub cpu_seconds: f64,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

/// Clock ticks a second, as /proc/PID/stat counts CPU time.
pub(crate) fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

pub(crate) fn process_usage(pid: u32, ticks_per_second: f64) -> anyhow::Result<ProcessUsage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which sits in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("a /proc stat line")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; 12 and 13 after the name.
    let ticks: f64 = fields
        .get(11..13)
        .context("utime and stime")?
        .iter()
        .map(|f| f.parse::<f64>().unwrap_or(0.0))
        .sum();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |key: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .with_context(|| format!("{key} in /proc/{pid}/status"))
    };
    Ok(ProcessUsage {
        cpu_seconds: ticks / ticks_per_second,
        rss_kib: kib("VmRSS:")?,
        peak_rss_kib: kib("VmHWM:")?,
    })
}

/// Runs `gpuwatch agent --simulate 8` as its own process against an in-process
/// collector, and measures its CPU time per sample and its peak RSS from /proc.
pub async fn agent_bench(duration: Duration) -> anyhow::Result<()> {
    use gpuwatch_collector::CollectorSettings;

    if cfg!(debug_assertions) {
        eprintln!(
            "warning: a debug build; run `cargo run --release -- bench agent` for real figures"
        );
    }
    let ticks = clock_ticks();
    let collector = gpuwatch_collector::start(&CollectorSettings::ephemeral()).await?;
    let exe = std::env::current_exe()?;
    let mut child = tokio::process::Command::new(exe)
        .args([
            "agent",
            "--simulate",
            "8",
            "--interval",
            "1s",
            "--host-name",
            "bench-agent",
        ])
        .arg("--collector")
        .arg(format!("http://{}", collector.otlp_http))
        .env("GPUWATCH_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .context("starting the agent process")?;
    let pid = child.id().context("the agent's pid")?;
    println!(
        "agent: pid {pid}, 8 simulated GPUs and this host's /proc at 1 Hz, exporting OTLP/HTTP to {}",
        collector.otlp_http
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let cpu0 = process_usage(pid, ticks)?.cpu_seconds;
    let points0 = collector.state().store().points_accepted();
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    let end = process_usage(pid, ticks)?;
    let (cpu1, hwm) = (end.cpu_seconds, end.peak_rss_kib);
    let elapsed = started.elapsed().as_secs_f64();
    let points = collector.state().store().points_accepted() - points0;
    child.kill().await.ok();
    collector.shutdown(Duration::from_secs(5)).await;
    let cpu = cpu1 - cpu0;
    let samples = elapsed.round().max(1.0);
    println!(
        "{:.0} s measured: {} points received, {:.2} s of CPU (±{:.2} s) = {:.2} ms per sample = {:.3}% of one core",
        elapsed,
        thousands(points),
        cpu,
        2.0 / ticks,
        cpu / samples * 1e3,
        100.0 * cpu / elapsed
    );
    println!("peak RSS (VmHWM): {:.1} MiB", hwm as f64 / 1024.0);
    if points == 0 {
        bail!("the collector received nothing from the agent");
    }
    Ok(())
}
