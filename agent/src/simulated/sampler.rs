//! `SimulatedSampler`: a node of simulated GPUs behind the `Sampler` interface.

use gpuwatch_model::{NodeSample, Timestamp};

use super::fault::FaultSchedule;
use super::gpu::{self, Counters};
use super::host::{self, HostCounters, Load};
use super::io::{self, IoCounters};
use super::models::ModelCounters;
use super::noise::GpuKey;
use super::profile::Profile;
use crate::host::HostIo;
use crate::sampler::{SampleError, Sampler};

/// A simulated node: one GPU per profile, plus the host, and optionally faults on a
/// schedule. Deterministic in `(seed, node_index, profiles, faults, the times it is
/// sampled at)`: faults are timed from the first sample.
#[derive(Debug, Clone)]
pub struct SimulatedSampler {
    node_index: usize,
    seed: u64,
    profiles: Vec<Profile>,
    faults: FaultSchedule,
    /// Time of the first sample, which the fault schedule counts from.
    first_time: Option<u64>,
    /// Per GPU, created on the first sample.
    counters: Vec<Counters>,
    host: Option<HostCounters>,
    /// The inference GPUs' models, created on the first sample.
    models: Option<ModelCounters>,
    /// The fabric ports and NFS mount, created on the first sample, and what the last
    /// sample read of them (`Sampler::take_host_io`).
    io: Option<IoCounters>,
    last_io: Option<HostIo>,
}

impl SimulatedSampler {
    pub fn new(node_index: usize, profiles: Vec<Profile>, seed: u64) -> SimulatedSampler {
        SimulatedSampler {
            node_index,
            seed,
            profiles,
            faults: FaultSchedule::new(),
            first_time: None,
            counters: Vec::new(),
            host: None,
            models: None,
            io: None,
            last_io: None,
        }
    }

    /// The same node with `faults` on it, timed from the first sample.
    pub fn with_faults(mut self, faults: FaultSchedule) -> SimulatedSampler {
        self.faults = faults;
        self
    }

    /// The fault schedule (empty for a healthy node).
    pub fn faults(&self) -> &FaultSchedule {
        &self.faults
    }

    /// The profiles, in GPU order.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    fn key(&self, gpu: usize) -> GpuKey {
        GpuKey {
            seed: self.seed,
            node: self.node_index as u64,
            gpu: gpu as u64,
        }
    }
}

impl Sampler for SimulatedSampler {
    fn sample(&mut self, at: Timestamp) -> Result<NodeSample, SampleError> {
        // The simulation's own clock: unsigned nanoseconds, its noise's seed.
        let t = at.unix_nanos_u64();
        let elapsed = t.saturating_sub(*self.first_time.get_or_insert(t));
        if self.counters.len() != self.profiles.len() {
            self.counters = (0..self.profiles.len())
                .map(|i| Counters::start(self.key(i), t))
                .collect();
        }
        let mut gpus = Vec::with_capacity(self.profiles.len());
        for (i, profile) in self.profiles.iter().enumerate() {
            let key = self.key(i);
            let mut reading = gpu::reading(profile, key, t);
            self.faults.apply_to_gpu(i, key, t, elapsed, &mut reading);
            let counters = &mut self.counters[i];
            counters.advance(&reading, t);
            gpus.push(gpu::gpu_sample(key, profile, &reading, counters));
        }
        let node = self.node_index as u64;
        let host_counters = self
            .host
            .get_or_insert_with(|| HostCounters::start(self.seed, node, t));
        let host = host::host_sample(
            self.seed,
            node,
            Load::of(&self.profiles),
            self.faults.host_fault(elapsed),
            host_counters,
            t,
        );
        if self.first_time == Some(t) && self.models.is_none() {
            self.models = ModelCounters::start(&self.profiles, self.seed, node, t);
        }
        let gpus_n = self.profiles.len();
        let io_counters = self
            .io
            .get_or_insert_with(|| IoCounters::start(self.seed, node, gpus_n, t));
        self.last_io = Some(io::host_io(
            self.seed,
            node,
            Load::of(&self.profiles),
            self.faults.io_fault(elapsed),
            io_counters,
            t,
        ));
        let fault = self.faults.model_fault(elapsed);
        let histograms = match self.models.as_mut() {
            Some(models) => models.advance(t, fault),
            None => Vec::new(),
        };
        Ok(NodeSample {
            time_unix_nano: at,
            gpus,
            host: Some(host),
            histograms,
        })
    }

    fn take_host_io(&mut self) -> Option<HostIo> {
        self.last_io.take()
    }

    fn describe(&self) -> String {
        let mut kinds: Vec<(&str, usize)> = Vec::new();
        for profile in &self.profiles {
            match kinds.iter_mut().find(|(k, _)| *k == profile.kind()) {
                Some((_, n)) => *n += 1,
                None => kinds.push((profile.kind(), 1)),
            }
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let faults = match self.faults.faults().len() {
            0 => String::new(),
            1 => ", 1 scheduled fault".to_string(),
            n => format!(", {n} scheduled faults"),
        };
        format!(
            "simulated node {} (seed {}): {} GPUs ({}){faults}",
            self.node_index,
            self.seed,
            self.profiles.len(),
            kinds.join(", ")
        )
    }
}
