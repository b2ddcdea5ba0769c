//! Each subcommand, from parsed arguments to a running program.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use gpuwatch_agent::{
    Agent, AgentStatus, CombinedSampler, HostSampler, NvmlSampler, OtlpExporter, Profile, Sampler,
    SimulatedSampler,
};
use gpuwatch_collector::{CollectorSettings, CollectorState};
use gpuwatch_model::duration;
use gpuwatch_tui::{FnSource, HttpSource};
use tokio::sync::watch;

use crate::cli::{
    AgentArgs, BenchCommand, Cli, CollectorArgs, Command, ConfigCommand, DemoArgs, HeadlessArgs,
    ListenArgs, ReplayArgs, ReplayCommand, ReplayFormat, TopArgs, UpArgs,
};
use crate::config::{Config, Settings, DEFAULT_TOML};
use crate::demo::{Demo, DemoOptions};
use crate::{headless, logging};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command.unwrap_or(Command::Up(UpArgs::default())) {
        Command::Up(args) => up(args).await,
        Command::Demo(args) => demo(args).await,
        Command::Agent(args) => agent(args).await,
        Command::Collector(args) => collector(args).await,
        Command::Top(args) => top(args).await,
        Command::Config(ConfigCommand::Default) => {
            print!("{DEFAULT_TOML}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check { file }) => Ok(config_check(&file)),
        Command::Bench(BenchCommand::Ingest { duration: d }) => {
            let d = duration::parse(&d).context("--duration")?;
            crate::bench::ingest_bench(d).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Agent { duration: d }) => {
            let d = duration::parse(&d).context("--duration")?;
            crate::bench::agent_bench(d).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Fleet { gpus, seconds }) => {
            crate::fleet_bench::fleet_bench(crate::fleet_bench::FleetArgs { gpus, seconds })
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Soak { gpus, minutes }) => {
            crate::fleet_bench::soak_bench(crate::fleet_bench::SoakArgs { gpus, minutes }).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Detect { gpus, passes }) => {
            crate::bench::detect_bench(gpus, passes)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(cmd) => crate::report::run(cmd),
        Command::Drift(args) => crate::drift_cmd::run(&args),
        Command::Replay(ReplayCommand::Gentd26(args)) => replay_gentd26(args).await,
    }
}

fn config_check(file: &Path) -> ExitCode {
    let config = match Config::load(file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(2);
        }
    };
    match config.validate() {
        Ok(_) => {
            println!("{}: ok", file.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e:#}", file.display());
            ExitCode::from(2)
        }
    }
}

fn apply_listen(config: &mut Config, listen: &ListenArgs) {
    let c = &mut config.collector;
    for (flag, field) in [
        (&listen.otlp_grpc_listen, &mut c.otlp_grpc_listen),
        (&listen.otlp_http_listen, &mut c.otlp_http_listen),
        (&listen.api_listen, &mut c.api_listen),
    ] {
        if let Some(v) = flag {
            field.clone_from(v);
        }
    }
}

fn settings(config: &Config) -> anyhow::Result<Settings> {
    config.validate().context("invalid configuration")
}

fn run_duration(run: &HeadlessArgs) -> anyhow::Result<Option<Duration>> {
    if run.duration.is_some() && !run.headless {
        bail!("--duration needs --headless (the dashboard runs until you press q)");
    }
    run.duration
        .as_deref()
        .map(duration::parse)
        .transpose()
        .context("--duration")
}

/// The dashboard over an in-process collector: its GPUs, its alerts and its burn.
fn in_process_source(state: Arc<CollectorState>, what: &str) -> Arc<FnSource> {
    let gpus_state = state.clone();
    let gpus = Arc::new(move || gpuwatch_collector::view::gpus(&gpus_state.store()));
    let alerts_state = state.clone();
    let alerts = Arc::new(move || gpuwatch_model::api::AlertsResponse {
        alerts: alerts_state.alerts(gpuwatch_collector::alerts::StateFilter::All),
    });
    use gpuwatch_model::views;
    let burn_state = state.clone();
    let burn = Arc::new(move || {
        burn_state
            .cost(
                views::BURN.window_nanos(),
                gpuwatch_collector::cost::By::Team,
            )
            .map(|c| c.total)
    });
    // The same windows and chart steps as the HTTP source asks the API for.
    let nodes_state = state.clone();
    let nodes = Arc::new(move || {
        let view = views::NODES;
        gpuwatch_collector::view::nodes(&nodes_state.store(), view.window_nanos(), view.points)
    });
    let inference_state = state.clone();
    let inference = Arc::new(move || inference_state.inference());
    let detail_state = state.clone();
    let detail = Arc::new(move |gpu: &gpuwatch_tui::GpuRef| {
        detail_state.gpu_detail(
            &gpu.node,
            &gpu.id,
            views::GPU_DETAIL.window_nanos(),
            views::GPU_DETAIL.points,
        )
    });
    let cost = Arc::new(move || {
        use gpuwatch_collector::cost::By;
        let by = |b| {
            state
                .cost(views::COST.window_nanos(), b)
                .unwrap_or_default()
        };
        gpuwatch_tui::CostBreakdown {
            by_team: by(By::Team),
            by_job: by(By::Job),
            by_node: by(By::Node),
        }
    });
    Arc::new(
        FnSource::new(what, gpus)
            .with_alerts(alerts)
            .with_burn(burn)
            .with_nodes(nodes)
            .with_inference(inference)
            .with_detail(detail)
            .with_cost(cost),
    )
}

async fn dashboard(
    source: Arc<dyn gpuwatch_tui::Source>,
    refresh: Duration,
    log: Option<&Path>,
) -> anyhow::Result<()> {
    let options = gpuwatch_tui::Options {
        refresh,
        mouse: false,
    };
    dashboard_with(source, options, log).await
}

async fn dashboard_with(
    source: Arc<dyn gpuwatch_tui::Source>,
    options: gpuwatch_tui::Options,
    log: Option<&Path>,
) -> anyhow::Result<()> {
    let result = gpuwatch_tui::run_with(source, options).await;
    if let Some(log) = log {
        if std::fs::metadata(log).is_ok_and(|m| m.len() > 0) {
            eprintln!("gpuwatch: logs are in {}", log.display());
        } else {
            let _ = std::fs::remove_file(log);
        }
    }
    result.context("the dashboard failed")
}

/// What `up` and `demo` share: the run's duration, where logs go (a file while the
/// dashboard owns the terminal), and the config with the listen flags applied.
struct Session {
    duration: Option<Duration>,
    log: Option<std::path::PathBuf>,
    config: Config,
}

fn session(
    run: &HeadlessArgs,
    file: &crate::cli::ConfigFile,
    listen: &ListenArgs,
) -> anyhow::Result<Session> {
    let duration = run_duration(run)?;
    let log = if run.headless {
        logging::to_stderr("warn");
        None
    } else {
        logging::to_file()
    };
    let mut config = Config::load_or_default(file.config.as_deref())?;
    apply_listen(&mut config, listen);
    Ok(Session {
        duration,
        log,
        config,
    })
}

async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let Session {
        duration,
        log,
        mut config,
    } = session(&args.run, &args.config, &args.listen)?;
    if let Some(i) = &args.interval {
        config.agent.interval.clone_from(i);
    }
    let s = settings(&config)?;
    let nodes = usize::from(args.nodes);
    let demo = Demo::start(DemoOptions {
        nodes,
        gpus_per_node: usize::from(args.gpus_per_node),
        seed: args.seed,
        faults: !args.no_faults,
        collector: s.collector.clone(),
        agent: s.agent.clone(),
    })
    .await?;
    let c = &demo.collector;
    let state = c.state();
    let started = std::time::Instant::now();
    if args.run.headless {
        println!(
            "gpuwatch demo: {nodes} nodes x {} GPUs; OTLP gRPC {} HTTP {}; API http://{}",
            args.gpus_per_node, c.otlp_grpc, c.otlp_http, c.api
        );
        headless::run(&state, duration, Some(nodes)).await;
    } else {
        let source = in_process_source(state.clone(), &format!("demo · API http://{}", c.api));
        dashboard(source, s.top.refresh, log.as_deref()).await?;
    }
    demo.shutdown().await;
    let status = headless::Status::read(&state, headless::now_unix_ms());
    if args.run.headless {
        println!("{} (stopped)", status.line(started.elapsed(), Some(nodes)));
        if status.nodes < nodes {
            eprintln!(
                "gpuwatch demo: only {} of {nodes} simulated nodes reached the collector; \
                 run with GPUWATCH_LOG=debug to see why",
                status.nodes
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The samplers for this machine: host metrics, NVML when it loads, and `simulate`
/// simulated GPUs (a training job).
fn local_sampler(settings: &gpuwatch_agent::AgentSettings, simulate: usize) -> Box<dyn Sampler> {
    let mut parts: Vec<Box<dyn Sampler>> = vec![Box::new(HostSampler::new("/proc".into()))];
    match NvmlSampler::open(settings.nvml_library.as_deref()) {
        Ok(nvml) => {
            tracing::info!("NVML loaded from {}", nvml.library());
            parts.push(Box::new(nvml));
        }
        Err(e) => {
            let what = if simulate == 0 {
                "Sampling host metrics only (add --simulate N for simulated GPUs)".to_string()
            } else {
                format!("Sampling host metrics and {simulate} simulated GPUs")
            };
            eprintln!("gpuwatch: no NVIDIA GPU to sample: {e}. {what}.");
        }
    }
    if simulate > 0 {
        let profiles = (0..simulate)
            .map(|_| Profile::Training {
                job_id: "sim-1".into(),
                team: "simulated".into(),
            })
            .collect();
        parts.push(Box::new(SimulatedSampler::new(0, profiles, 1)));
    }
    Box::new(CombinedSampler::new(parts))
}

async fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    let Session {
        duration,
        log,
        config,
    } = session(&args.run, &args.config, &args.listen)?;
    let s = settings(&config)?;
    let collector = crate::history::start_collector(&s.collector).await?;
    let mut agent_settings = s.agent.clone();
    agent_settings.collector = crate::demo::collector_url(agent_settings.protocol, &collector);
    let sampler = local_sampler(&agent_settings, args.simulate);
    let exporter = OtlpExporter::new(agent_settings.exporter_settings(env!("CARGO_PKG_VERSION")))?;
    let (stop, stop_rx) = watch::channel(false);
    let status = Arc::new(AgentStatus::new());
    let agent = tokio::spawn(Agent::run(
        agent_settings,
        sampler,
        exporter,
        stop_rx,
        status,
    ));
    let state = collector.state();
    if args.run.headless {
        println!(
            "gpuwatch up: OTLP gRPC {} HTTP {}; API http://{}",
            collector.otlp_grpc, collector.otlp_http, collector.api
        );
        headless::run(&state, duration, None).await;
    } else {
        let source = in_process_source(
            state,
            &format!("this machine · API http://{}", collector.api),
        );
        dashboard(source, s.top.refresh, log.as_deref()).await?;
    }
    let _ = stop.send(true);
    let _ = agent.await;
    collector.shutdown(Duration::from_secs(5)).await;
    Ok(ExitCode::SUCCESS)
}

async fn agent(args: AgentArgs) -> anyhow::Result<ExitCode> {
    logging::to_stderr(if args.once || args.dry_run {
        "warn"
    } else {
        "info"
    });
    let mut config = Config::load_or_default(args.config.config.as_deref())?;
    let a = &mut config.agent;
    for (flag, field) in [
        (&args.collector, &mut a.collector),
        (&args.protocol, &mut a.protocol),
        (&args.interval, &mut a.interval),
        (&args.host_name, &mut a.host_name),
    ] {
        if let Some(v) = flag {
            field.clone_from(v);
        }
    }
    let s = settings(&config)?;
    let mut sampler = local_sampler(&s.agent, args.simulate);
    if args.once || args.dry_run {
        // Slurm, cgroup and config-rule attribution; pod names need the running
        // agent's kubelet poll.
        sampler.attribute_jobs(&s.agent.jobs, &gpuwatch_agent::PodDirectory::new());
    }
    if args.once {
        // Two samples a moment apart, so shares of CPU time have an interval.
        sampler.sample(gpuwatch_model::Timestamp::now())?;
        tokio::time::sleep(Duration::from_millis(250)).await;
        let sample = sampler.sample(gpuwatch_model::Timestamp::now())?;
        println!("{}", serde_json::to_string_pretty(&sample)?);
        return Ok(ExitCode::SUCCESS);
    }
    if args.dry_run {
        let mut tick = tokio::time::interval(s.agent.interval);
        let stop = crate::shutdown::signal();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return Ok(ExitCode::SUCCESS),
                _ = tick.tick() => {}
            }
            match sampler.sample(gpuwatch_model::Timestamp::now()) {
                Ok(sample) => println!("{}", dry_run_line(&sample)),
                Err(e) => eprintln!("gpuwatch agent: sampling failed: {e}"),
            }
        }
    }
    let exporter = OtlpExporter::new(s.agent.exporter_settings(env!("CARGO_PKG_VERSION")))?;
    let (stop, stop_rx) = watch::channel(false);
    let status = Arc::new(AgentStatus::new());
    let task = tokio::spawn(Agent::run(s.agent, sampler, exporter, stop_rx, status));
    crate::shutdown::signal().await;
    let _ = stop.send(true);
    let _ = task.await;
    Ok(ExitCode::SUCCESS)
}

/// One line per sample for `agent --dry-run`.
fn dry_run_line(sample: &gpuwatch_model::NodeSample) -> String {
    let at = sample.time_unix_nano;
    let gpus = &sample.gpus;
    let mut line = format!("{at} {} GPUs", gpus.len());
    if !gpus.is_empty() {
        let n = gpus.len() as f64;
        let util = gpus.iter().map(|g| g.utilization).sum::<f64>() / n;
        let watts: f64 = gpus.iter().map(|g| g.power_watts).sum();
        line.push_str(&format!(", mean util {:.0}%, {watts:.0} W", util * 100.0));
    }
    if let Some(host) = &sample.host {
        if let Some(cpu) = host.cpu {
            line.push_str(&format!(
                "; host CPU {:.0}% busy, iowait {:.0}%",
                (1.0 - cpu.idle) * 100.0,
                cpu.iowait * 100.0
            ));
        }
        line.push_str(&format!(
            ", {} disks, {} NICs",
            host.disks.len(),
            host.networks.len()
        ));
    }
    line
}

async fn collector(args: CollectorArgs) -> anyhow::Result<ExitCode> {
    logging::to_stderr("info");
    let mut config = Config::load_or_default(args.config.config.as_deref())?;
    apply_listen(&mut config, &args.listen);
    let s: CollectorSettings = settings(&config)?.collector;
    let c = crate::history::start_collector(&s).await?;
    println!(
        "gpuwatch collector: OTLP gRPC {} HTTP {}; API {}://{} (Ctrl-C stops, SIGHUP reloads tokens and certificates)",
        c.otlp_grpc,
        c.otlp_http,
        c.scheme(),
        c.api
    );
    let stop = crate::shutdown::signal();
    tokio::pin!(stop);
    let mut hangups = crate::shutdown::Hangups::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = hangups.next() => match c.reload() {
                Ok(()) => tracing::info!("SIGHUP: tokens and certificates read again"),
                Err(e) => tracing::error!("SIGHUP: {e}; what was in force stays"),
            },
        }
    }
    c.shutdown(s.shutdown_timeout).await;
    Ok(ExitCode::SUCCESS)
}

async fn top(args: TopArgs) -> anyhow::Result<ExitCode> {
    let log = logging::to_file();
    let mut config = Config::load_or_default(args.config.config.as_deref())?;
    if let Some(r) = &args.refresh {
        config.top.refresh.clone_from(r);
    }
    // Each --collector is checked by the rule of top.collector; none means the config's.
    let mut collectors = Vec::new();
    for url in &args.collector {
        config.top.collector.clone_from(url);
        collectors.push(config.top.validate()?.collector);
    }
    let s = config.top.validate()?;
    if collectors.is_empty() {
        collectors.push(s.collector.clone());
    }
    let credentials = gpuwatch_model::credentials::Credentials {
        token_file: args.token_file.clone(),
        ca_file: args.ca_file.clone(),
        cert_file: args.cert_file.clone(),
        key_file: args.key_file.clone(),
    };
    let auth = gpuwatch_agent::credentials::load(&credentials).map_err(anyhow::Error::msg)?;
    let mut sources: Vec<Arc<dyn gpuwatch_tui::Source>> = Vec::new();
    for url in &collectors {
        sources.push(Arc::new(HttpSource::with_auth(url, &auth)?));
    }
    if args.check {
        return check_sources(&sources).await;
    }
    let source: Arc<dyn gpuwatch_tui::Source> = match sources.len() {
        1 => sources.remove(0),
        _ => Arc::new(gpuwatch_tui::MultiSource::new(sources)),
    };
    let options = gpuwatch_tui::Options {
        refresh: s.refresh,
        mouse: args.mouse,
    };
    dashboard_with(source, options, log.as_deref()).await?;
    Ok(ExitCode::SUCCESS)
}

/// `top --check`: one fetch from each source, a line each.
async fn check_sources(sources: &[Arc<dyn gpuwatch_tui::Source>]) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    for source in sources {
        match source.fetch().await {
            Ok(gpus) => {
                let nodes: std::collections::BTreeSet<&str> =
                    gpus.gpus.iter().map(|g| g.node.as_str()).collect();
                println!(
                    "{}: ok, {} nodes, {} GPUs",
                    source.describe(),
                    nodes.len(),
                    gpus.gpus.len()
                );
            }
            Err(e) => {
                ok = false;
                println!("{}: {e}", source.describe());
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn replay_gentd26(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    logging::to_stderr("info");
    if !(args.price.is_finite() && args.price >= 0.0) {
        anyhow::bail!(
            "--price must be dollars per GPU-hour, 0 or more, got {}",
            args.price
        );
    }
    if !(0.0..=1.0).contains(&args.idle_below) {
        anyhow::bail!(
            "--idle-below must be between 0 and 1, got {}",
            args.idle_below
        );
    }
    let rows = crate::replay::parse(&crate::replay::read_text(&args.file)?)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let report = crate::replay::run(&rows, args.price, args.idle_below).await?;
    match args.format {
        ReplayFormat::Table => print!("{}", crate::replay::table(&report, args.top)),
        ReplayFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(ExitCode::SUCCESS)
}
