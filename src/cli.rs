//! The command line: `gpuwatch [up|demo|agent|collector|top|config|bench]`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "gpuwatch",
    version,
    about = "Observability and cost monitoring for GPU fleets",
    long_about = "gpuwatch watches GPU fleets that train and serve models: a node agent samples \
GPUs, hosts and inference servers and ships OpenTelemetry (OTLP) to a collector, which keeps a \
live store, serves a JSON API and feeds `gpuwatch top`, a live terminal view of every GPU.\n\n\
With no command, `gpuwatch` runs `up`: agent, collector and dashboard for this machine.\n\
Try `gpuwatch demo` for a simulated 32-GPU cluster.",
    after_help = "Ports (loopback by default): 4317 OTLP/gRPC, 4318 OTLP/HTTP, 9464 API.\n\
Configuration: `gpuwatch config default > gpuwatch.toml`, then --config gpuwatch.toml."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// This machine: agent + collector + live dashboard in one process (the default).
    Up(UpArgs),
    /// A simulated cluster through the real OTLP pipeline, with the live dashboard.
    Demo(DemoArgs),
    /// The node agent: sample GPUs and host, export OTLP to a collector.
    Agent(AgentArgs),
    /// The collector: receive OTLP, keep the live store, serve the API.
    Collector(CollectorArgs),
    /// The live terminal dashboard against a running collector.
    Top(TopArgs),
    /// Check or print the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Measure gpuwatch itself (build with --release).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Cost and usage reports from stored history (needs the `reports` feature).
    #[command(subcommand)]
    Report(ReportCommand),
    /// Offline data-drift report between two CSV or Parquet files, column by column
    /// (needs the `reports` feature).
    Drift(DriftArgs),
    /// Replay a recorded GPU trace through an in-process collector and report what the
    /// cost ledger made of it.
    #[command(subcommand)]
    Replay(ReplayCommand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReplayFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ReplayCommand {
    /// Alibaba's GenTD26 production trace (per-pod GPU duty cycle every 57 s; the CSV or
    /// its .tar.gz, e.g. ../shared/fixtures/alibaba-gentd26/pod_gpu_duty_cycle_anon.tar.gz):
    /// GPU-hours, idle share and idle cost per pod and in total.
    Gentd26(ReplayArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The duty-cycle CSV, or the .tar.gz holding it.
    pub file: PathBuf,
    /// Dollars per GPU-hour for every pod's GPU (the trace does not name the model).
    #[arg(long, default_value_t = 2.0)]
    pub price: f64,
    /// A step under this utilization (0..1) is idle [as collector.cost.idle_below].
    #[arg(long, default_value_t = 0.05)]
    pub idle_below: f64,
    /// `table` (the most expensive pods and the total) or `json` (every pod).
    #[arg(long, value_enum, default_value_t = ReplayFormat::Table)]
    pub format: ReplayFormat,
    /// Pods listed in the table.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
}

#[derive(Debug, Clone, Default, Args)]
pub struct ConfigFile {
    /// A config file (see `gpuwatch config default`); flags override it.
    #[arg(long, short = 'c', env = "GPUWATCH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Listen addresses of the collector, overriding `[collector]`.
#[derive(Debug, Clone, Default, Args)]
pub struct ListenArgs {
    /// OTLP/gRPC listen address [config: collector.otlp_grpc_listen, default 127.0.0.1:4317].
    #[arg(long, value_name = "ADDR")]
    pub otlp_grpc_listen: Option<String>,
    /// OTLP/HTTP listen address [config: collector.otlp_http_listen, default 127.0.0.1:4318].
    #[arg(long, value_name = "ADDR")]
    pub otlp_http_listen: Option<String>,
    /// API listen address [config: collector.api_listen, default 127.0.0.1:9464].
    #[arg(long, value_name = "ADDR")]
    pub api_listen: Option<String>,
}

/// Running without a screen.
#[derive(Debug, Clone, Default, Args)]
pub struct HeadlessArgs {
    /// No dashboard: print a status line every few seconds instead.
    #[arg(long)]
    pub headless: bool,
    /// Stop after this long (e.g. 30s, 5m); without it, run until Ctrl-C or q.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub config: ConfigFile,
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub run: HeadlessArgs,
    /// Add N simulated GPUs (a training job) beside whatever NVML finds.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub simulate: usize,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub config: ConfigFile,
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub run: HeadlessArgs,
    /// Simulated nodes, each its own agent with its own host.name.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub nodes: u16,
    /// GPUs per node.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub gpus_per_node: u16,
    /// Sampling interval of the simulated agents [default: agent.interval].
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// Seed of the simulation: the same seed gives the same cluster.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// A healthy cluster: leave out the scheduled faults (from 30 s in: a straggler, an
    /// XID 79, a whole node hanging, thermal throttling, a stalled GPU, starved input).
    #[arg(long)]
    pub no_faults: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub config: ConfigFile,
    /// Collector URL [config: agent.collector, default http://127.0.0.1:4318].
    #[arg(long, value_name = "URL")]
    pub collector: Option<String>,
    /// http or grpc [config: agent.protocol].
    #[arg(long)]
    pub protocol: Option<String>,
    /// Sampling interval [config: agent.interval, default 1s].
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// `host.name` to report [config: agent.host_name, default this machine's name].
    #[arg(long)]
    pub host_name: Option<String>,
    /// Add N simulated GPUs (a training job) beside whatever NVML finds.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub simulate: usize,
    /// Take one sample, print it and exit (nothing is exported).
    #[arg(long)]
    pub once: bool,
    /// Sample every interval and print a line per sample, exporting nothing.
    #[arg(long, conflicts_with = "once")]
    pub dry_run: bool,
    /// Accepted so that scripts written for it go on working: `--once` prints JSON,
    /// the one format there is.
    #[arg(long, value_enum, hide = true)]
    pub format: Option<OutputFormat>,
}

#[derive(Debug, Clone, Args)]
pub struct CollectorArgs {
    #[command(flatten)]
    pub config: ConfigFile,
    #[command(flatten)]
    pub listen: ListenArgs,
}

#[derive(Debug, Clone, Args)]
pub struct TopArgs {
    #[command(flatten)]
    pub config: ConfigFile,
    /// Collector API URL [config: top.collector, default http://127.0.0.1:9464].
    /// Repeat to watch several collectors as one cluster: their views merge.
    #[arg(long, value_name = "URL")]
    pub collector: Vec<String>,
    /// Refresh interval [config: top.refresh, default 1s].
    #[arg(long, value_name = "DURATION")]
    pub refresh: Option<String>,
    /// Capture the mouse: click a tab or a row, scroll with the wheel (off by default,
    /// so the terminal's own selection and scrollback keep working).
    #[arg(long)]
    pub mouse: bool,
    /// File whose first line is the API token, for a collector with
    /// collector.auth.api_tokens_file [default: $GPUWATCH_TOKEN].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// PEM CA certificate trusted beside the system's roots, for an https:// collector
    /// whose certificate a private CA signed.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for a collector that asks for one
    /// (collector.tls.client_ca_file); with --key-file.
    #[arg(long, value_name = "FILE", requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of --cert-file.
    #[arg(long, value_name = "FILE", requires = "cert_file")]
    pub key_file: Option<PathBuf>,
    /// Fetch once from each collector, print what it holds and exit: 0 when every one
    /// answered, 1 with the reason when one did not. Checks a URL, a token and
    /// certificates without a terminal.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file; exits 2 with the key and the rule that is broken.
    Check {
        /// The file to check.
        file: PathBuf,
    },
    /// Print the default configuration, every key documented.
    Default,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// OTLP/HTTP ingest throughput: decode + store against decode alone, on one core.
    Ingest {
        /// How long to measure each side.
        #[arg(long, default_value = "3s")]
        duration: String,
    },
    /// CPU time per sample and peak memory of an agent process (8 simulated GPUs and
    /// this host's real /proc, 1 s interval) exporting to a collector.
    Agent {
        /// How long to measure, after a 5 s warm-up.
        #[arg(long, default_value = "2m")]
        duration: String,
    },
    /// Time of one evaluation pass of every detector over a simulated fleet.
    Detect {
        /// GPUs in the fleet (8 per node).
        #[arg(long, default_value_t = 10_000)]
        gpus: usize,
        /// Passes to average over.
        #[arg(long, default_value_t = 20)]
        passes: usize,
    },
    /// A collector process with the default config fed a fleet's OTLP by this one (50
    /// nodes a request, event time 1 s a step, as fast as it takes it; one node hangs):
    /// its CPU per event second, RSS, bytes a point, points/s per core, /api/v1/gpus
    /// latency and size, and whether the hang was found.
    Fleet {
        /// GPUs in the fleet (8 per node).
        #[arg(long, default_value_t = 10_000)]
        gpus: usize,
        /// Event seconds to send. gpu_hang needs about 400 to fire.
        #[arg(long, default_value_t = 420)]
        seconds: u64,
    },
    /// `bench fleet`'s collector process and load, without faults, for a while of wall
    /// time: prints RSS as event time goes, and fails if it grows once everything the
    /// collector keeps (the store's 15 min, the cost ledger's hour) is full.
    Soak {
        /// GPUs in the fleet (8 per node).
        #[arg(long, default_value_t = 1_000)]
        gpus: usize,
        /// Wall minutes of load; event time must pass 123 minutes in them (63 to fill
        /// what is kept, an hour watched).
        #[arg(long, default_value_t = 25)]
        minutes: u64,
    },
}

/// Output of `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Csv,
    Json,
}

/// What every report takes: the window and where history is.
#[derive(Debug, Clone, Args)]
pub struct ReportWindow {
    #[command(flatten)]
    pub config: ConfigFile,
    /// How far back from the end of the window (e.g. 7d, 24h, 30m).
    #[arg(long, default_value = "7d", value_name = "DURATION")]
    pub since: String,
    /// End of the window, RFC 3339 (e.g. 2026-11-30T12:00:00Z) [default: the end of
    /// the newest minute in history].
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// The history directory [config: collector.history.dir, default ./gpuwatch-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// An aligned table, CSV or JSON.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CostGroup {
    Team,
    Job,
    Node,
    Model,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UsageGroup {
    Node,
    Gpu,
    Job,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// GPU-hours, busy and idle hours, cost, idle cost and waste, with the top wasters.
    Cost {
        #[command(flatten)]
        window: ReportWindow,
        /// Group by team, job, node or GPU model.
        #[arg(long, value_enum, default_value_t = CostGroup::Team)]
        by: CostGroup,
        /// How many of the GPUs that wasted most to list.
        #[arg(long, default_value_t = 5)]
        top: usize,
    },
    /// GPU utilization distribution (mean, p50, p90 of minute means, share of time at 0%).
    Usage {
        #[command(flatten)]
        window: ReportWindow,
        /// Group by node, GPU or job.
        #[arg(long, value_enum, default_value_t = UsageGroup::Node)]
        by: UsageGroup,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriftFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct DriftArgs {
    /// The reference data: a .csv (with a header row) or .parquet file.
    pub reference: PathBuf,
    /// The current data, in the same layout.
    pub current: PathBuf,
    /// Only these columns (comma-separated) [default: every column of the reference].
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub columns: Vec<String>,
    /// An aligned table or JSON.
    #[arg(long, value_enum, default_value_t = DriftFormat::Table)]
    pub format: DriftFormat,
}
