//! The gpuwatch node agent: samplers read GPUs (`nvml`), the host (`host`) or a
//! simulation (`simulated`) into the model's `NodeSample`; `inference` scrapes inference
//! servers' Prometheus pages into latency histograms, attached at export; `jobs` attributes
//! GPU processes (and so GPUs) to Slurm jobs, pods and teams; `export` turns samples into
//! OTLP metrics with CONTRACT.md's names; `delivery` holds them while the collector
//! is away; `runtime` holds the configuration and the sample-export loop.
//!
//! Samplers know nothing of OTLP; the exporter knows nothing of where samples come from.

mod backoff;
pub mod credentials;
pub mod delivery;
pub mod export;
pub mod host;
pub mod inference;
pub mod jobs;
pub mod nvml;
pub mod readings;
pub mod runtime;
pub mod sampler;
pub mod simulated;

pub use export::{ExportError, ExporterSettings, OtlpExporter, Protocol, ResourceInfo};
pub use host::HostSampler;
pub use inference::{InferenceTarget, ServerKind, TargetStatus};
pub use jobs::{JobResolver, JobRuleConfig, JobSettings, PodDirectory};
pub use nvml::{NvmlError, NvmlSampler};
pub use runtime::{Agent, AgentConfig, AgentSettings, AgentStatus, ConfigError, InferenceConfig};
pub use sampler::{CombinedSampler, SampleError, Sampler};
pub use simulated::{
    demo_profiles, Fault, FaultSchedule, Profile, ScheduledFault, SimulatedSampler, Target,
};
