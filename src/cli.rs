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
    /// Output format of --once.
    #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
    pub format: OutputFormat,
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
    #[arg(long, value_name = "URL")]
    pub collector: Option<String>,
    /// Refresh interval [config: top.refresh, default 1s].
    #[arg(long, value_name = "DURATION")]
    pub refresh: Option<String>,
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
}
