//! A simulated cluster through the real pipeline: a collector, and one agent per
//! simulated node, each with its own `host.name`, exporting OTLP over loopback.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gpuwatch_agent::{
    demo_profiles, Agent, AgentSettings, AgentStatus, FaultSchedule, OtlpExporter, Protocol,
    SimulatedSampler,
};
use gpuwatch_collector::{CollectorSettings, RunningCollector};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The shape of the simulated cluster.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub nodes: usize,
    pub gpus_per_node: usize,
    pub seed: u64,
    /// Run `FaultSchedule::demo`: hangs, a stall, throttling, an XID and more, from
    /// 30 s in.
    pub faults: bool,
    /// The collector to start.
    pub collector: CollectorSettings,
    /// Template for every agent: interval, timeout, cluster, protocol. The collector
    /// URL and host name are set per agent.
    pub agent: AgentSettings,
}

/// One simulated node's agent.
#[derive(Debug)]
pub struct SimulatedNode {
    pub host_name: String,
    pub status: Arc<AgentStatus>,
    task: Option<JoinHandle<()>>,
}

/// A running demo.
#[derive(Debug)]
pub struct Demo {
    pub collector: RunningCollector,
    pub nodes: Vec<SimulatedNode>,
    stop_agents: watch::Sender<bool>,
}

/// Where an agent speaking `protocol` reaches `collector`.
pub fn collector_url(protocol: Protocol, collector: &RunningCollector) -> String {
    match protocol {
        Protocol::Http => format!("http://{}", collector.otlp_http),
        Protocol::Grpc => format!("http://{}", collector.otlp_grpc),
    }
}

/// `node-00`, `node-01`, ...
pub fn node_name(index: usize) -> String {
    format!("node-{index:02}")
}

impl Demo {
    pub async fn start(opts: DemoOptions) -> anyhow::Result<Demo> {
        // Each demo starts afresh: no earlier run's log or alerts (collector.data_dir).
        let settings = CollectorSettings {
            data_dir: None,
            ..opts.collector.clone()
        };
        let collector = gpuwatch_collector::start(&settings).await?;
        let (stop_agents, stop_rx) = watch::channel(false);
        let mut nodes = Vec::with_capacity(opts.nodes);
        for i in 0..opts.nodes {
            let host_name = node_name(i);
            let mut settings = opts.agent.clone();
            settings.host_name = host_name.clone();
            // One agent per spool directory: simulated nodes keep their queues in memory.
            settings.spool_dir = None;
            settings.collector = collector_url(settings.protocol, &collector);
            let exporter = OtlpExporter::new(settings.exporter_settings(env!("CARGO_PKG_VERSION")))
                .with_context(|| format!("setting up the exporter of {host_name}"))?;
            let mut sampler =
                SimulatedSampler::new(i, demo_profiles(i, opts.gpus_per_node), opts.seed);
            if opts.faults {
                sampler = sampler.with_faults(FaultSchedule::demo(i, opts.gpus_per_node));
            }
            let status = Arc::new(AgentStatus::new());
            let task = tokio::spawn(Agent::run(
                settings,
                Box::new(sampler),
                exporter,
                stop_rx.clone(),
                status.clone(),
            ));
            nodes.push(SimulatedNode {
                host_name,
                status,
                task: Some(task),
            });
        }
        Ok(Demo {
            collector,
            nodes,
            stop_agents,
        })
    }

    /// Stops every agent; each exports its last sample once more before it returns.
    /// Calling it again does nothing.
    pub async fn stop_agents(&mut self) {
        let _ = self.stop_agents.send(true);
        for node in &mut self.nodes {
            if let Some(task) = node.task.take() {
                if let Err(e) = task.await {
                    tracing::warn!("agent {} ended badly: {e}", node.host_name);
                }
            }
        }
    }

    /// Stops the agents, then the collector.
    pub async fn shutdown(mut self) {
        self.stop_agents().await;
        self.collector.shutdown(Duration::from_secs(5)).await;
    }
}
