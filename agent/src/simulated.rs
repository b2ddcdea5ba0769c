//! A simulated node: GPUs following workload profiles (training with NVLink all-reduce,
//! inference, reserved-but-idle, free) and the host around them.
//!
//! Every value is a pure function of `(seed, node index, GPU index, time)` through a small
//! hash (`noise`), so tests can predict samples exactly; counters integrate their rates
//! over the time between samples and never go down. `demo` and the end-to-end tests run
//! this sampler through the real OTLP path.
//!
//! A `FaultSchedule` (`fault`) breaks GPUs and hosts on a timetable counted from the
//! first sample: hangs, stalls, stragglers, starved input pipelines, XIDs, thermal
//! throttling, prediction drift and latency regressions, a fabric link trained down and
//! a job starved by NFS, each shaped to trip its collector detector. Inference nodes
//! also report their models' latency, prompt and score histograms (`models`); every
//! node its InfiniBand ports and NFS mount (`io`).

mod fault;
#[cfg(test)]
mod fault_tests;
mod gpu;
mod host;
mod io;
mod models;
mod noise;
mod profile;
mod sampler;
#[cfg(test)]
mod tests;

pub use fault::{Fault, FaultSchedule, ScheduledFault, Target};
pub use profile::{demo_profiles, Profile};
pub use sampler::SimulatedSampler;
