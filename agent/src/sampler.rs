//! The one interface every source of samples implements: NVML, `/proc`, the simulator.

use std::path::PathBuf;

use gpuwatch_model::{NodeSample, Timestamp};

use crate::jobs::{JobSettings, PodDirectory};

/// Produces one [`NodeSample`] per call. Implementations keep whatever state they need
/// between calls (previous CPU times, counters) and never panic on bad input.
pub trait Sampler: Send {
    /// Takes a sample stamped `at`.
    fn sample(&mut self, at: Timestamp) -> Result<NodeSample, SampleError>;

    /// One line saying what this sampler reads, for logs and the status screen.
    fn describe(&self) -> String;

    /// Has the sampler attribute the GPU processes it lists to jobs (see `crate::jobs`)
    /// with `settings`, pod names from `pods`; says whether it will. The default is
    /// `false`: samplers that list no real processes (the simulator names its own jobs).
    fn attribute_jobs(&mut self, settings: &JobSettings, pods: &PodDirectory) -> bool {
        let _ = (settings, pods);
        false
    }

    /// Whether the sampler reads the machine the agent runs on (`HostSampler` does; the
    /// simulator makes its hosts up). The agent loop then also reads this machine's
    /// fabric ports and network file systems (`crate::host::HostIoSampler`). The
    /// default is `false`.
    fn reads_host(&self) -> bool {
        false
    }

    /// The fabric ports and network file systems of the last sample, for a sampler
    /// that makes them up itself (the simulator); taken, so the next call is `None`
    /// until the next sample. The default is `None`.
    fn take_host_io(&mut self) -> Option<crate::readings::HostIo> {
        None
    }
}

/// Why a sample could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// A file the sampler needs could not be read.
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file was read but is not in the format the kernel prints.
    #[error("could not parse {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    /// The GPU library answered with an error for the whole node.
    #[error("NVML: {0}")]
    Nvml(String),
}

/// Runs several samplers as one: GPUs are concatenated in order, the host part comes
/// from the first sampler that has one. Fails only when every part fails; otherwise
/// the failing parts are skipped (they log their own reasons).
pub struct CombinedSampler {
    parts: Vec<Box<dyn Sampler>>,
}

impl CombinedSampler {
    pub fn new(parts: Vec<Box<dyn Sampler>>) -> Self {
        CombinedSampler { parts }
    }
}

impl std::fmt::Debug for CombinedSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CombinedSampler")
            .field("parts", &self.describe())
            .finish()
    }
}

impl Sampler for CombinedSampler {
    fn sample(&mut self, at: Timestamp) -> Result<NodeSample, SampleError> {
        let mut out = NodeSample {
            time_unix_nano: at,
            ..NodeSample::default()
        };
        let mut first_error = None;
        let mut any_ok = false;
        for part in &mut self.parts {
            match part.sample(at) {
                Ok(sample) => {
                    any_ok = true;
                    out.gpus.extend(sample.gpus);
                    out.histograms.extend(sample.histograms);
                    if out.host.is_none() {
                        out.host = sample.host;
                    }
                }
                Err(e) => {
                    tracing::debug!(sampler = %part.describe(), error = %e, "sampler failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if !any_ok => Err(e),
            _ => Ok(out),
        }
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self.parts.iter().map(|p| p.describe()).collect();
        parts.join(" + ")
    }

    fn attribute_jobs(&mut self, settings: &JobSettings, pods: &PodDirectory) -> bool {
        let mut any = false;
        for part in &mut self.parts {
            any |= part.attribute_jobs(settings, pods);
        }
        any
    }

    fn reads_host(&self) -> bool {
        self.parts.iter().any(|p| p.reads_host())
    }

    fn take_host_io(&mut self) -> Option<crate::readings::HostIo> {
        self.parts.iter_mut().find_map(|p| p.take_host_io())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpuwatch_model::HostSample;

    struct Fixed(Result<NodeSample, ()>);

    impl Sampler for Fixed {
        fn sample(&mut self, _: Timestamp) -> Result<NodeSample, SampleError> {
            self.0
                .clone()
                .map_err(|()| SampleError::Nvml("broken".to_string()))
        }
        fn describe(&self) -> String {
            "fixed".to_string()
        }
    }

    #[test]
    fn combined_takes_host_from_first_and_skips_failures() {
        let host = NodeSample {
            host: Some(HostSample {
                memory_used_bytes: 7,
                ..HostSample::default()
            }),
            ..NodeSample::default()
        };
        let mut combined =
            CombinedSampler::new(vec![Box::new(Fixed(Err(()))), Box::new(Fixed(Ok(host)))]);
        let sample = combined
            .sample(Timestamp::from_unix_nanos_u64(42))
            .expect("one part works");
        assert_eq!(sample.time_unix_nano, Timestamp(42));
        assert_eq!(sample.host.map(|h| h.memory_used_bytes), Some(7));
        assert_eq!(combined.describe(), "fixed + fixed");

        let mut broken = CombinedSampler::new(vec![Box::new(Fixed(Err(())))]);
        assert!(broken.sample(Timestamp::from_unix_nanos_u64(1)).is_err());
        assert!(!broken.reads_host());
        let with_host = CombinedSampler::new(vec![
            Box::new(Fixed(Err(()))),
            Box::new(crate::host::HostSampler::default()),
        ]);
        assert!(with_host.reads_host());
    }
}
