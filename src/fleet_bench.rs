//! `gpuwatch bench fleet`: one collector process with the default config (its own
//! loopback ports and a temporary data directory), fed by this process as an
//! OpenTelemetry Collector gateway would feed it: every node's sample encoded by the
//! agent's own exporter, 50 nodes to an OTLP/HTTP protobuf request, event time
//! advancing 1 s a step as fast as the collector takes it. One node's GPUs hang 30 s
//! in. Prints the collector's CPU seconds per event second, its RSS, the live store's
//! bytes a point, points a second per core, `/api/v1/gpus` latency and size, and
//! whether the hang was found.
//!
//! Encoding is this process's work, not the collector's: the CPU figures are read from
//! the collector's own /proc entry.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gpuwatch_agent::{
    demo_profiles, ExporterSettings, Fault, FaultSchedule, OtlpExporter, Protocol, ResourceInfo,
    Sampler, SimulatedSampler,
};
use gpuwatch_model::api::{AlertsResponse, GpusResponse};
use gpuwatch_model::names::attr;
use gpuwatch_model::AlertKind;

use crate::bench::{at_nvml_resolution, clock_ticks, process_usage, ProcessUsage};
use crate::headless::thousands;

/// Nodes in one OTLP request, as a gateway's batch processor would send them.
const NODES_PER_REQUEST: usize = 50;
const GPUS_PER_NODE: usize = 8;
/// When the hanging node's GPUs stop working, in event time from the start.
const HANG_AT: Duration = Duration::from_secs(30);
/// The store's default retention, to which RSS is projected.
const RETENTION_SECONDS: u64 = 900;

/// What the load sends.
#[derive(Debug, Clone, Copy)]
pub struct FleetArgs {
    pub gpus: usize,
    pub seconds: u64,
}

pub async fn fleet_bench(args: FleetArgs) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: a debug build; run `cargo run --release -- bench fleet` for real figures"
        );
    }
    let nodes = args.gpus.div_ceil(GPUS_PER_NODE).max(1);
    let hang_node = hanging_node(nodes);
    let dir = TempDir::new()?;
    let collector = Collector::start(&dir.0).await?;
    println!(
        "collector: pid {}, default config, OTLP/HTTP on {}, API on {}",
        collector.pid, collector.otlp_http, collector.api
    );
    println!(
        "load: {} GPUs on {} nodes, {NODES_PER_REQUEST} nodes a request, {} s of event time at 1 s; \
         {} hangs from {} s",
        thousands((nodes * GPUS_PER_NODE) as u64),
        thousands(nodes as u64),
        args.seconds,
        node_name(hang_node),
        HANG_AT.as_secs()
    );
    // gpu_hang fires once its window is idle and then `for` has passed (the defaults:
    // the collector runs with them), give or take an evaluation step.
    let hang = gpuwatch_collector::detect::AlertsConfig::default()
        .validate()?
        .gpu_hang;
    let hang_found_by = HANG_AT.as_secs() + ((hang.window + hang.for_) / 1_000_000_000) as u64 + 10;
    if args.seconds < hang_found_by {
        println!(
            "  (gpu_hang fires after its {} s window and `for` of {} s: at about {hang_found_by} s, \
             past --seconds {})",
            hang.window / 1_000_000_000,
            hang.for_ / 1_000_000_000,
            args.seconds
        );
    }
    let mut fleet = Fleet::new(nodes, hang_node)?;
    let ticks = clock_ticks();
    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/metrics", collector.otlp_http);
    let start_ns = (gpuwatch_model::Timestamp::now().0 as u64)
        .saturating_sub(args.seconds * 1_000_000_000)
        / 1_000_000_000
        * 1_000_000_000;
    let before = process_usage(collector.pid, ticks)?;
    let started = Instant::now();
    let mut rss_at: Vec<(u64, ProcessUsage)> = Vec::new();
    let mut refused = 0u64;
    for step in 0..args.seconds {
        let time = start_ns + step * 1_000_000_000;
        refused += send(&client, &url, fleet.requests(time)?).await?;
        if (step + 1) % 60 == 0 || step + 1 == args.seconds {
            let now = process_usage(collector.pid, ticks)?;
            rss_at.push((step + 1, now));
            println!(
                "  {:>4} s of event time in {:>5.1} s: collector RSS {:>6.0} MiB, {:>6.1} CPU s",
                step + 1,
                started.elapsed().as_secs_f64(),
                now.rss_kib as f64 / 1024.0,
                now.cpu_seconds - before.cpu_seconds
            );
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let after = process_usage(collector.pid, ticks)?;
    let metrics = collector.metrics(&client).await?;
    let api = collector
        .measure_gpus(&client, &node_name(hang_node))
        .await?;
    let hang = collector.hang_found(&client, &node_name(hang_node)).await?;
    collector.stop().await;

    let cpu = after.cpu_seconds - before.cpu_seconds;
    let points = metrics.value("gpuwatch_ingest_points_total")?;
    let store_points = metrics.value("gpuwatch_store_points")?;
    let store_bytes = metrics.value("gpuwatch_store_bytes")?;
    let evicted = metrics.value("gpuwatch_store_evicted_points_total{reason=\"memory_budget\"}")?;
    let wal_bytes = metrics.value("gpuwatch_wal_bytes")?;
    println!(
        "results ({} s of event time sent in {wall:.0} s):",
        args.seconds
    );
    println!(
        "  collector CPU: {:.2} s per event second (1 Hz needs at most 1.00 per core)",
        cpu / args.seconds as f64
    );
    println!(
        "  ingest: {} points, {} points/s per core of collector CPU (detectors, history and API included)",
        thousands(points as u64),
        thousands((points / cpu.max(1e-9)) as u64)
    );
    println!(
        "  RSS: {:.0} MiB now, {:.0} MiB peak; {}",
        after.rss_kib as f64 / 1024.0,
        after.peak_rss_kib as f64 / 1024.0,
        projected(&rss_at, args.seconds)
    );
    println!(
        "  live store: {} points in {:.0} MiB = {:.2} bytes a point with series keys; {} points let go of for the memory budget",
        thousands(store_points as u64),
        store_bytes / 1048576.0,
        store_bytes / store_points.max(1.0),
        thousands(evicted as u64)
    );
    println!(
        "  write-ahead log (collector.data_dir): {:.0} MiB on disk = {:.2} bytes a point ingested",
        wal_bytes / 1048576.0,
        wal_bytes / points.max(1.0)
    );
    println!(
        "  GET /api/v1/gpus: {:.0} ms median of {} ({:.0} ms worst), {} GPUs in {:.1} MB, {:.2} MB gzipped",
        api.median_ms,
        api.tries,
        api.worst_ms,
        thousands(api.gpus as u64),
        api.bytes as f64 / 1e6,
        api.gzip_bytes as f64 / 1e6,
    );
    println!(
        "  GET /api/v1/gpus?node={}: {:.1} ms, {} GPUs",
        node_name(hang_node),
        api.one_node_ms,
        api.one_node_gpus
    );
    println!(
        "  gpu_hang on {}: {}",
        node_name(hang_node),
        if hang { "found" } else { "NOT found" }
    );
    if refused > 0 {
        bail!("the collector refused {refused} requests");
    }
    Ok(())
}

/// What `bench soak` runs.
#[derive(Debug, Clone, Copy)]
pub struct SoakArgs {
    pub gpus: usize,
    /// Wall minutes of load.
    pub minutes: u64,
}

/// Event time after which everything the collector keeps is full with the default
/// config: the store's 15 minutes, and the cost ledger's hour of per-step rows (its
/// `idle_window`, at least an hour, and the minute being written), with two minutes
/// of slack.
const STEADY_AFTER_MINUTES: u64 = 63;
/// How long RSS is watched once steady, event minutes: past the next hour, when history
/// compacts the hour's minute files.
const STEADY_FOR_MINUTES: u64 = 60;

/// `gpuwatch bench soak`: the fleet bench's collector process and load, without
/// faults, for `minutes` of wall time, event time as fast as the collector takes it.
/// Prints RSS each 5 event minutes; fails when RSS grows, once everything the
/// collector keeps is full, by more than a tenth or 32 MiB over the next hour.
pub async fn soak_bench(args: SoakArgs) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run `cargo run --release -- bench soak`");
    }
    let nodes = args.gpus.div_ceil(GPUS_PER_NODE).max(1);
    let dir = TempDir::new()?;
    let collector = Collector::start(&dir.0).await?;
    println!(
        "soak: {} GPUs on {} nodes into a collector process (pid {}, default config) for {} min \
         of wall time; RSS must stay flat once {STEADY_AFTER_MINUTES} min of event time are in \
         (the store's 15 min retention and the cost ledger's hour full)",
        thousands((nodes * GPUS_PER_NODE) as u64),
        thousands(nodes as u64),
        collector.pid,
        args.minutes
    );
    let mut fleet = Fleet::new(nodes, usize::MAX)?;
    let ticks = clock_ticks();
    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/metrics", collector.otlp_http);
    // Event time ends near now: as many seconds back as the load can send, at most.
    let budget = Duration::from_secs(args.minutes * 60);
    let start_ns = (gpuwatch_model::Timestamp::now().0 as u64)
        .saturating_sub(12 * 3600 * 1_000_000_000)
        / 60_000_000_000
        * 60_000_000_000;
    let started = Instant::now();
    let mut rss_by_minute: Vec<(u64, f64)> = Vec::new();
    let mut step = 0u64;
    let mut refused = 0u64;
    while started.elapsed() < budget {
        let time = start_ns + step * 1_000_000_000;
        refused += send(&client, &url, fleet.requests(time)?).await?;
        step += 1;
        if step.is_multiple_of(60) {
            let minute = step / 60;
            let rss = process_usage(collector.pid, ticks)?.rss_kib as f64 / 1024.0;
            rss_by_minute.push((minute, rss));
            if minute.is_multiple_of(5) {
                println!(
                    "  {minute:>4} min of event time in {:>5.0} s: RSS {rss:>6.0} MiB",
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    collector.stop().await;
    if refused > 0 {
        bail!("the collector refused {refused} requests");
    }
    let reached = rss_by_minute.last().map_or(0, |(m, _)| *m);
    let steady = rss_by_minute
        .iter()
        .find(|(m, _)| *m >= STEADY_AFTER_MINUTES)
        .map(|(_, rss)| *rss)
        .filter(|_| reached >= STEADY_AFTER_MINUTES + STEADY_FOR_MINUTES);
    let Some(steady) = steady else {
        bail!(
            "only {reached} min of event time in {} min: the steady state starts at \
             {STEADY_AFTER_MINUTES} min and is watched for {STEADY_FOR_MINUTES} min; run \
             longer (--minutes) or with fewer GPUs (--gpus)",
            args.minutes
        );
    };
    let last = rss_by_minute.last().map_or(steady, |(_, rss)| *rss);
    let peak = rss_by_minute
        .iter()
        .filter(|(m, _)| *m >= STEADY_AFTER_MINUTES)
        .map(|(_, r)| *r)
        .fold(steady, f64::max);
    let allowed = (steady * 0.1).max(32.0);
    println!(
        "results: RSS {steady:.0} MiB at {STEADY_AFTER_MINUTES} min, {last:.0} MiB at {reached} \
         min, {peak:.0} MiB at most in between ({:+.0} MiB; at most +{allowed:.0} allowed)",
        peak - steady
    );
    if peak - steady > allowed {
        bail!(
            "RSS grew by {:.0} MiB after everything the collector keeps was full",
            peak - steady
        );
    }
    println!("  flat: no growth past the steady state");
    Ok(())
}

/// Posts each body; returns how many were refused (the first one's answer is shown).
async fn send(client: &reqwest::Client, url: &str, bodies: Vec<Vec<u8>>) -> anyhow::Result<u64> {
    let mut refused = 0;
    for body in bodies {
        let response = client
            .post(url)
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .await
            .context("sending to the collector")?;
        if !response.status().is_success() {
            refused += 1;
            if refused == 1 {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                eprintln!("the collector answered {status}: {}", text.trim());
            }
        }
    }
    Ok(refused)
}

/// A training node in the middle of the fleet (the simulator's nodes 0 and 1 of every
/// four train).
fn hanging_node(nodes: usize) -> usize {
    (nodes / 2) / 4 * 4
}

fn node_name(i: usize) -> String {
    format!("node-{i:05}")
}

/// The simulated nodes and their exporters.
struct Fleet {
    nodes: Vec<(SimulatedSampler, OtlpExporter)>,
}

impl Fleet {
    fn new(nodes: usize, hang_node: usize) -> anyhow::Result<Fleet> {
        let nodes = (0..nodes)
            .map(|i| {
                let mut sampler =
                    SimulatedSampler::new(i, demo_profiles(i, GPUS_PER_NODE), i as u64);
                if i == hang_node {
                    sampler = sampler.with_faults(FaultSchedule::new().node(Fault::Hang, HANG_AT));
                }
                let exporter = OtlpExporter::new(ExporterSettings {
                    credentials: Default::default(),
                    endpoint: "http://127.0.0.1:4318".into(),
                    protocol: Protocol::Http,
                    timeout: Duration::from_secs(10),
                    resource: ResourceInfo {
                        host_name: node_name(i),
                        cluster: "bench".into(),
                        service_version: env!("CARGO_PKG_VERSION").into(),
                        extra: Vec::new(),
                    },
                })?;
                Ok((sampler, exporter))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Fleet { nodes })
    }

    /// Every node's sample at `time`, `NODES_PER_REQUEST` to a body. The requests'
    /// `resource_metrics` is a repeated field, so one body is the nodes' encodings end
    /// to end.
    fn requests(&mut self, time: u64) -> anyhow::Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for batch in self.nodes.chunks_mut(NODES_PER_REQUEST) {
            let mut body = Vec::new();
            for (sampler, exporter) in batch {
                let mut sample =
                    sampler.sample(gpuwatch_model::Timestamp::from_unix_nanos_u64(time))?;
                at_nvml_resolution(&mut sample);
                body.extend_from_slice(&exporter.encode(&sample));
            }
            out.push(body);
        }
        Ok(out)
    }
}

/// RSS at the retention, projected from its growth since the first minute.
fn projected(rss_at: &[(u64, ProcessUsage)], seconds: u64) -> String {
    let (Some(first), Some(last)) = (rss_at.first(), rss_at.last()) else {
        return "too short to project".into();
    };
    if seconds >= RETENTION_SECONDS {
        return format!(
            "at the {RETENTION_SECONDS} s retention: {:.0} MiB",
            last.1.rss_kib as f64 / 1024.0
        );
    }
    if last.0 <= first.0 {
        return "too short to project (run --seconds 180 or more)".into();
    }
    let slope = (last.1.rss_kib as f64 - first.1.rss_kib as f64) / (last.0 - first.0) as f64;
    let at = last.1.rss_kib as f64 + slope * (RETENTION_SECONDS - last.0) as f64;
    format!(
        "about {:.0} MiB at the {RETENTION_SECONDS} s retention (projected from the growth since {} s)",
        at / 1024.0,
        first.0
    )
}

/// A directory of its own under the system's temporary directory, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        let path = std::env::temp_dir().join(format!(
            "gpuwatch-bench-fleet-{}-{}",
            std::process::id(),
            gpuwatch_model::Timestamp::now().0
        ));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `gpuwatch collector` child process.
struct Collector {
    child: tokio::process::Child,
    pid: u32,
    otlp_http: String,
    api: String,
}

/// What `measure_gpus` found.
struct ApiFigures {
    tries: usize,
    median_ms: f64,
    worst_ms: f64,
    gpus: usize,
    bytes: usize,
    gzip_bytes: usize,
    one_node_ms: f64,
    one_node_gpus: usize,
}

impl Collector {
    async fn start(dir: &Path) -> anyhow::Result<Collector> {
        let port = || -> anyhow::Result<u16> {
            Ok(std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port())
        };
        let (grpc, http, api) = (port()?, port()?, port()?);
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[collector]\notlp_grpc_listen = \"127.0.0.1:{grpc}\"\n\
                 otlp_http_listen = \"127.0.0.1:{http}\"\napi_listen = \"127.0.0.1:{api}\"\n\
                 data_dir = {data:?}\n[collector.history]\ndir = {data:?}\n",
                data = dir.join("data").display().to_string()
            ),
        )?;
        let log = std::fs::File::create(dir.join("collector.log"))?;
        let child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("collector")
            .arg("--config")
            .arg(&config)
            .env("GPUWATCH_LOG", "warn")
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting the collector process")?;
        let pid = child.id().context("the collector's pid")?;
        let collector = Collector {
            child,
            pid,
            otlp_http: format!("127.0.0.1:{http}"),
            api: format!("127.0.0.1:{api}"),
        };
        let ready = format!("http://{}/readyz", collector.api);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if reqwest::get(&ready)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(collector);
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join("collector.log")).unwrap_or_default();
                bail!("the collector did not get ready in 30 s:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn metrics(&self, client: &reqwest::Client) -> anyhow::Result<Exposition> {
        let text = client
            .get(format!("http://{}/metrics", self.api))
            .send()
            .await?
            .text()
            .await?;
        Ok(Exposition(text))
    }

    /// Times `/api/v1/gpus` as `top` fetched it every second: the whole fleet, then
    /// `node`'s GPUs alone.
    async fn measure_gpus(
        &self,
        client: &reqwest::Client,
        node: &str,
    ) -> anyhow::Result<ApiFigures> {
        let url = format!("http://{}/api/v1/gpus", self.api);
        let tries = 9;
        let mut times = Vec::new();
        let mut bytes = 0;
        let mut gpus = 0;
        for _ in 0..tries {
            let t = Instant::now();
            let body = client.get(&url).send().await?.bytes().await?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            bytes = body.len();
            gpus = serde_json::from_slice::<GpusResponse>(&body)?.gpus.len();
        }
        times.sort_by(f64::total_cmp);
        let gzip_bytes = client
            .get(&url)
            .header("accept-encoding", "gzip")
            .send()
            .await?
            .bytes()
            .await?
            .len();
        let t = Instant::now();
        let one = client
            .get(format!("{url}?node={node}"))
            .send()
            .await?
            .json::<GpusResponse>()
            .await?;
        Ok(ApiFigures {
            tries,
            median_ms: times[tries / 2],
            worst_ms: times[tries - 1],
            gpus,
            bytes,
            gzip_bytes,
            one_node_ms: t.elapsed().as_secs_f64() * 1e3,
            one_node_gpus: one.gpus.len(),
        })
    }

    /// Whether a `gpu_hang` alert names `node`, firing or since resolved.
    async fn hang_found(&self, client: &reqwest::Client, node: &str) -> anyhow::Result<bool> {
        let alerts: AlertsResponse = client
            .get(format!("http://{}/api/v1/alerts?state=all", self.api))
            .send()
            .await?
            .json()
            .await?;
        Ok(alerts.alerts.iter().any(|a| {
            a.kind == AlertKind::GpuHang
                && a.labels.get(attr::HOST_NAME).map(String::as_str) == Some(node)
        }))
    }

    async fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.pid.to_string())
            .status();
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// A `/metrics` body.
struct Exposition(String);

impl Exposition {
    /// The value of the sample named exactly `name` (labels included).
    fn value(&self, name: &str) -> anyhow::Result<f64> {
        self.0
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .with_context(|| format!("{name} on the collector's /metrics"))
    }
}
