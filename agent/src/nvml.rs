//! GPUs read through NVML (`libnvidia-ml.so`), loaded at run time: without a driver the
//! agent says so once and carries on with host metrics.
//!
//! Per device and sample: UUID, name, index, utilization (general, encoder, decoder),
//! memory, power and its enforced limit, total energy, temperature, SM clock, throttle
//! reasons and the running compute processes. A query that fails leaves its field unset
//! (warned once per GPU and query); a device that fails entirely is skipped.
//!
//! NVLink and PCIe throughput, XID events and ECC counters are left `None` for now: a
//! later change adds them together with a fake `libnvidia-ml.so` that lets tests drive
//! this code path without a GPU.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

use gpuwatch_model::{GpuProcess, GpuSample, NodeSample, ThrottleReason};
use nvml_wrapper::bitmasks::device::ThrottleReasons;
use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::NvmlError as RawNvmlError;
use nvml_wrapper::{Device, Nvml};

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

/// Reads every GPU NVML sees on each sample.
pub struct NvmlSampler {
    nvml: Nvml,
    library: String,
    /// `(GPU, query)` pairs already warned about, so a failing query logs once.
    warned: HashSet<(String, &'static str)>,
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
    /// `libnvidia-ml.so`.
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
                    return Ok(NvmlSampler {
                        nvml,
                        library,
                        warned: HashSet::new(),
                    })
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
}

impl Sampler for NvmlSampler {
    fn sample(&mut self, time_unix_nano: u64) -> Result<NodeSample, SampleError> {
        let count = self
            .nvml
            .device_count()
            .map_err(|e| SampleError::Nvml(format!("could not count devices: {e}")))?;
        let mut gpus = Vec::with_capacity(count as usize);
        for index in 0..count {
            let device = match self.nvml.device_by_index(index) {
                Ok(device) => device,
                Err(error) => {
                    if self.warned.insert((format!("#{index}"), "device_by_index")) {
                        tracing::warn!(index, %error, "skipping a GPU NVML cannot open");
                    }
                    continue;
                }
            };
            match read_device(&device, index, &mut self.warned) {
                Some(gpu) => gpus.push(gpu),
                None => continue,
            }
        }
        Ok(NodeSample {
            time_unix_nano,
            gpus,
            host: None,
        })
    }

    fn describe(&self) -> String {
        format!("NVML ({})", self.library)
    }
}

/// Reads one device; `None` when even its identity cannot be read.
fn read_device(
    device: &Device<'_>,
    index: u32,
    warned: &mut HashSet<(String, &'static str)>,
) -> Option<GpuSample> {
    let uuid = match device.uuid() {
        Ok(uuid) => uuid,
        Err(error) => {
            if warned.insert((format!("#{index}"), "uuid")) {
                tracing::warn!(index, %error, "skipping a GPU whose UUID NVML cannot read");
            }
            return None;
        }
    };
    let mut q = Queries {
        gpu: uuid.clone(),
        warned,
    };
    let model = q.get("name", device.name()).unwrap_or_default();
    let index = q.get("index", device.index()).unwrap_or(index);
    let memory = q.get("memory_info", device.memory_info());
    let processes = q
        .get(
            "running_compute_processes",
            device.running_compute_processes(),
        )
        .unwrap_or_default()
        .into_iter()
        .map(|p| GpuProcess {
            pid: p.pid,
            executable: executable_name(p.pid),
            memory_bytes: match p.used_gpu_memory {
                UsedGpuMemory::Used(bytes) => bytes,
                UsedGpuMemory::Unavailable => 0,
            },
            job: None,
        })
        .collect();
    Some(GpuSample {
        index,
        uuid,
        model,
        // The model has no "unknown" for these; NaN is skipped by the exporter.
        utilization: q
            .get("utilization_rates", device.utilization_rates())
            .map_or(f64::NAN, |u| percent(u.gpu)),
        encoder_utilization: q
            .get("encoder_utilization", device.encoder_utilization())
            .map(|u| percent(u.utilization)),
        decoder_utilization: q
            .get("decoder_utilization", device.decoder_utilization())
            .map(|u| percent(u.utilization)),
        // A total of 0 means "unknown" to the exporter.
        memory_used_bytes: memory.as_ref().map_or(0, |m| m.used),
        memory_total_bytes: memory.as_ref().map_or(0, |m| m.total),
        power_watts: q
            .get("power_usage", device.power_usage())
            .map_or(f64::NAN, milli),
        power_limit_watts: q
            .get("enforced_power_limit", device.enforced_power_limit())
            .map(milli),
        energy_joules: q
            .get(
                "total_energy_consumption",
                device.total_energy_consumption(),
            )
            .map(|mj| mj as f64 / 1000.0),
        temperature_celsius: q
            .get("temperature", device.temperature(TemperatureSensor::Gpu))
            .map_or(f64::NAN, f64::from),
        sm_clock_hz: q
            .get("clock_info", device.clock_info(Clock::SM))
            .map(|mhz| f64::from(mhz) * 1e6),
        throttle: q
            .get(
                "current_throttle_reasons",
                device.current_throttle_reasons(),
            )
            .map(throttle_reasons)
            .unwrap_or_default(),
        ecc_corrected: None,
        ecc_uncorrected: None,
        pcie_tx_bytes: None,
        pcie_rx_bytes: None,
        nvlink_tx_bytes: None,
        nvlink_rx_bytes: None,
        xid_counts: BTreeMap::new(),
        processes,
        job: None,
    })
}

/// Turns query errors into `None`, warning once per GPU and query.
struct Queries<'a> {
    gpu: String,
    warned: &'a mut HashSet<(String, &'static str)>,
}

impl Queries<'_> {
    fn get<T>(&mut self, query: &'static str, result: Result<T, RawNvmlError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                if self.warned.insert((self.gpu.clone(), query)) {
                    tracing::warn!(gpu = %self.gpu, query, %error, "NVML query failed; the field is left out");
                }
                None
            }
        }
    }
}

fn percent(value: u32) -> f64 {
    f64::from(value) / 100.0
}

fn milli(value: u32) -> f64 {
    f64::from(value) / 1000.0
}

/// NVML's throttle bits as the contract's reasons; idle, application-clock and other
/// benign reasons are not throttling and are dropped.
pub fn throttle_reasons(bits: ThrottleReasons) -> Vec<ThrottleReason> {
    [
        (
            ThrottleReasons::HW_THERMAL_SLOWDOWN,
            ThrottleReason::HwThermal,
        ),
        (
            ThrottleReasons::SW_THERMAL_SLOWDOWN,
            ThrottleReason::SwThermal,
        ),
        (ThrottleReasons::SW_POWER_CAP, ThrottleReason::SwPowerCap),
        (
            ThrottleReasons::HW_POWER_BRAKE_SLOWDOWN,
            ThrottleReason::HwPowerBrake,
        ),
        (ThrottleReasons::HW_SLOWDOWN, ThrottleReason::HwSlowdown),
    ]
    .into_iter()
    .filter(|(bit, _)| bits.contains(*bit))
    .map(|(_, reason)| reason)
    .collect()
}

/// `/proc/PID/comm`, or `unknown` when the process is gone or in another namespace.
fn executable_name(pid: u32) -> String {
    let path = PathBuf::from(format!("/proc/{pid}/comm"));
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
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
                let sample = nvml.sample(1).expect("NVML loaded, so it can count GPUs");
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

    #[test]
    fn throttle_bits_map_to_contract_reasons() {
        let bits = ThrottleReasons::SW_POWER_CAP
            | ThrottleReasons::HW_THERMAL_SLOWDOWN
            | ThrottleReasons::GPU_IDLE
            | ThrottleReasons::APPLICATIONS_CLOCKS_SETTING;
        assert_eq!(
            throttle_reasons(bits),
            vec![ThrottleReason::HwThermal, ThrottleReason::SwPowerCap]
        );
        assert!(throttle_reasons(ThrottleReasons::NONE).is_empty());
        assert_eq!(
            throttle_reasons(ThrottleReasons::all()).len(),
            ThrottleReason::ALL.len()
        );
    }

    #[test]
    fn executable_name_of_this_process() {
        let name = executable_name(std::process::id());
        assert!(!name.is_empty() && name != "unknown", "{name}");
        assert_eq!(executable_name(u32::MAX), "unknown");
    }
}
