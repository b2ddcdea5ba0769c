//! The NVML sampler: opens the library once and reads every GPU on each sample.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use gpuwatch_model::{NodeSample, Timestamp};
use nvml_wrapper::error::NvmlError as RawNvmlError;
use nvml_wrapper::Nvml;

use super::device::{read_device, GpuState};
use super::mig::{Instances, Parent};
use super::queries::{Lost, Queries};
use super::xid::XidWatch;
use crate::jobs::{JobResolver, JobSettings, PodDirectory};
use crate::sampler::{SampleError, Sampler};

/// The library names the dynamic loader is asked for, in order, when no path is given.
pub const DEFAULT_LIBRARIES: [&str; 2] = ["libnvidia-ml.so.1", "libnvidia-ml.so"];

/// Why NVML could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum NvmlError {
    /// The library is missing or the driver is not loaded: the normal case on a machine
    /// without NVIDIA GPUs.
    #[error("no NVIDIA driver was found: could not use the NVML library at {path}: {reason}")]
    NoDriver { path: String, reason: String },
    /// NVML loaded but refused to start.
    #[error("NVML at {path} failed to initialise: {source}")]
    Init {
        path: String,
        #[source]
        source: RawNvmlError,
    },
}

fn open_error(path: String, error: RawNvmlError) -> NvmlError {
    match error {
        RawNvmlError::LibloadingError(_)
        | RawNvmlError::FailedToLoadSymbol(_)
        | RawNvmlError::LibraryNotFound
        | RawNvmlError::DriverNotLoaded => NvmlError::NoDriver {
            path,
            reason: error.to_string(),
        },
        source => NvmlError::Init { path, source },
    }
}

/// Reads every GPU NVML sees on each sample. See the module docs for what and how.
pub struct NvmlSampler {
    nvml: Arc<Nvml>,
    library: String,
    /// Per NVML index.
    gpus: HashMap<u32, GpuState>,
    /// The MIG instances of GPUs in MIG mode.
    instances: Instances,
    /// Queries whose function the library lacks (for every GPU).
    missing: HashSet<&'static str>,
    xid: XidWatch,
    /// Names each GPU process and attributes it, and the GPU, to a job.
    jobs: JobResolver,
}

impl fmt::Debug for NvmlSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NvmlSampler")
            .field("library", &self.library)
            .finish_non_exhaustive()
    }
}

impl NvmlSampler {
    /// Loads NVML from `lib_path`; when `None`, from the loader's search path as
    /// `libnvidia-ml.so.1` (what drivers and the container toolkit install), then as
    /// `libnvidia-ml.so`. Starts the XID event thread.
    pub fn open(lib_path: Option<&Path>) -> Result<NvmlSampler, NvmlError> {
        let candidates: Vec<&OsStr> = match lib_path {
            Some(path) => vec![path.as_os_str()],
            None => DEFAULT_LIBRARIES.iter().map(OsStr::new).collect(),
        };
        let mut first_error = None;
        for candidate in candidates {
            let library = Path::new(candidate).display().to_string();
            match Nvml::builder().lib_path(candidate).init() {
                Ok(nvml) => {
                    let nvml = Arc::new(nvml);
                    return Ok(NvmlSampler {
                        xid: XidWatch::start(nvml.clone()),
                        nvml,
                        library,
                        gpus: HashMap::new(),
                        instances: Instances::default(),
                        missing: HashSet::new(),
                        jobs: JobResolver::default(),
                    });
                }
                Err(error) => {
                    first_error.get_or_insert_with(|| open_error(library, error));
                }
            }
        }
        Err(first_error.unwrap_or_else(|| NvmlError::NoDriver {
            path: DEFAULT_LIBRARIES.join(", "),
            reason: "no library to try".to_string(),
        }))
    }

    /// The library this sampler loaded: the path given to `open` or the name found.
    pub fn library(&self) -> &str {
        &self.library
    }

    /// Attributes GPU processes to jobs with `jobs` from now on (by default: `/proc`,
    /// no rules, no pod names).
    pub fn set_jobs(&mut self, jobs: JobResolver) {
        self.jobs = jobs;
    }
}

impl Sampler for NvmlSampler {
    fn sample(&mut self, at: Timestamp) -> Result<NodeSample, SampleError> {
        let count = self
            .nvml
            .device_count()
            .map_err(|e| SampleError::Nvml(format!("could not count devices: {e}")))?;
        let mut gpus = Vec::with_capacity(count as usize);
        for index in 0..count {
            let state = self.gpus.entry(index).or_default();
            let mut instances = Vec::new();
            let read = if state.lost {
                Err(Lost)
            } else {
                match self.nvml.device_by_index(index) {
                    Ok(device) => {
                        let read = read_device(&device, index, state, &mut self.missing, at);
                        if let (Ok(Some(_)), Some((uuid, _))) = (&read, &state.identity) {
                            let parent = Parent {
                                device: &device,
                                index,
                                uuid,
                                support: &mut state.support,
                            };
                            instances = self
                                .instances
                                .read(parent, &mut self.missing)
                                .unwrap_or_default();
                        }
                        read
                    }
                    Err(error) => {
                        let uuid = state.identity.as_ref().map_or("", |(uuid, _)| uuid);
                        let mut q = Queries {
                            index,
                            uuid,
                            gpu: &mut state.support,
                            library: &mut self.missing,
                        };
                        q.failed("device_by_index", error).map(|()| None)
                    }
                }
            };
            let gpu = match read {
                Ok(gpu) => gpu,
                Err(Lost) => {
                    if !state.lost {
                        state.lost = true;
                        let uuid = state.identity.as_ref().map(|(uuid, _)| uuid.as_str());
                        tracing::error!(
                            gpu = index,
                            uuid,
                            "the GPU has fallen off the bus (NVML: GPU is lost); \
                             it is no longer sampled until the agent restarts"
                        );
                    }
                    state.lost_sample(index)
                }
            };
            if let Some(mut gpu) = gpu {
                gpu.xid_counts = self.xid.counts(&gpu.uuid);
                if !instances.is_empty() {
                    // Its instances report these processes, each on its own slice.
                    gpu.processes.clear();
                }
                gpus.push(gpu);
            }
            gpus.extend(instances);
        }
        self.jobs.attribute(&mut gpus);
        Ok(NodeSample {
            time_unix_nano: at,
            gpus,
            host: None,
            histograms: Vec::new(),
        })
    }

    fn describe(&self) -> String {
        format!("NVML ({})", self.library)
    }

    fn attribute_jobs(&mut self, settings: &JobSettings, pods: &PodDirectory) -> bool {
        self.set_jobs(JobResolver::new(settings.clone(), pods.clone()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_says_no_driver_was_found() {
        let path = Path::new("/nonexistent/gpuwatch/libnvidia-ml.so.1");
        let error = NvmlSampler::open(Some(path)).expect_err("there is no library there");
        let message = error.to_string();
        assert!(message.contains("no NVIDIA driver was found"), "{message}");
        assert!(
            message.contains("/nonexistent/gpuwatch/libnvidia-ml.so.1"),
            "{message}"
        );
        assert!(matches!(error, NvmlError::NoDriver { .. }));
    }

    #[test]
    fn the_default_library_opens_or_says_why() {
        match NvmlSampler::open(None) {
            Ok(mut nvml) => {
                let sample = nvml
                    .sample(Timestamp::from_unix_nanos_u64(1))
                    .expect("NVML loaded, so it can count GPUs");
                for gpu in &sample.gpus {
                    assert!(gpu.uuid.starts_with("GPU-"), "{}", gpu.uuid);
                    assert!(gpu.memory_total_bytes > 0);
                }
            }
            Err(error) => {
                let message = error.to_string();
                assert!(message.contains("libnvidia-ml.so.1"), "{message}");
            }
        }
    }
}
