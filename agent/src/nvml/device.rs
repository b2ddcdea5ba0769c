//! One GPU, one sample: every query of the contract, each failing on its own.

use std::collections::{BTreeMap, HashSet};

use gpuwatch_model::{GpuProcess, GpuSample, ThrottleReason, Timestamp};
use nvml_wrapper::bitmasks::device::ThrottleReasons;
use nvml_wrapper::enum_wrappers::device::{
    Clock, EccCounter, MemoryError, PcieUtilCounter, TemperatureSensor,
};
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::Device;

use super::counter::RateIntegrator;
use super::nvlink::{self, LinkScope};
use super::queries::{Lost, Queries, Support};

/// NVML's PCIe throughput unit, KB/s, in bytes per second.
const KB: f64 = 1024.0;

/// What the sampler keeps about one GPU (by NVML index) between samples.
#[derive(Debug, Default)]
pub(super) struct GpuState {
    /// UUID and model, read once.
    pub(super) identity: Option<(String, String)>,
    /// The GPU fell off the bus; it is not queried again.
    pub(super) lost: bool,
    pub(super) support: Support,
    /// A MIG instance's profile, read with its identity.
    pub(super) profile: String,
    pcie_tx: RateIntegrator,
    pcie_rx: RateIntegrator,
    nvlink: LinkScope,
}

impl GpuState {
    /// A sample of a lost GPU: its identity and XID counts, nothing measured.
    pub(super) fn lost_sample(&self, index: u32) -> Option<GpuSample> {
        let (uuid, model) = self.identity.clone()?;
        Some(GpuSample::unmeasured(index, uuid, model))
    }
}

/// Reads `device` (NVML index `index`) at `at`: `Ok(None)` when even its
/// identity cannot be read, `Err(Lost)` when it has fallen off the bus. XID counts are
/// left empty for the caller.
pub(super) fn read_device(
    device: &Device<'_>,
    index: u32,
    state: &mut GpuState,
    library: &mut HashSet<&'static str>,
    at: Timestamp,
) -> Result<Option<GpuSample>, Lost> {
    if state.identity.is_none() {
        let mut q = Queries {
            index,
            uuid: "",
            gpu: &mut state.support,
            library,
        };
        let Some(uuid) = q.get("uuid", || device.uuid())? else {
            return Ok(None);
        };
        let model = q.get("name", || device.name())?.unwrap_or_default();
        state.identity = Some((uuid, model));
    }
    let Some((uuid, model)) = &state.identity else {
        return Ok(None);
    };
    let mut q = Queries {
        index,
        uuid,
        gpu: &mut state.support,
        library,
    };

    let utilization = q.get("utilization_rates", || device.utilization_rates())?;
    let encoder = q.get("encoder_utilization", || device.encoder_utilization())?;
    let decoder = q.get("decoder_utilization", || device.decoder_utilization())?;
    let memory = q.get("memory_info", || device.memory_info())?;
    let power = q.get("power_usage", || device.power_usage())?;
    let power_limit = q.get("enforced_power_limit", || device.enforced_power_limit())?;
    let energy = q.get("total_energy_consumption", || {
        device.total_energy_consumption()
    })?;
    let temperature = q.get("temperature", || device.temperature(TemperatureSensor::Gpu))?;
    let sm_clock = q.get("clock_info", || device.clock_info(Clock::SM))?;
    let throttle = q.get("current_throttle_reasons", || {
        device.current_throttle_reasons()
    })?;
    let ecc_corrected = q.get("total_ecc_errors", || {
        device.total_ecc_errors(MemoryError::Corrected, EccCounter::Volatile)
    })?;
    let ecc_uncorrected = q.get("total_ecc_errors", || {
        device.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile)
    })?;
    let pcie_tx = q.get("pcie_throughput", || {
        device.pcie_throughput(PcieUtilCounter::Send)
    })?;
    let pcie_rx = q.get("pcie_throughput", || {
        device.pcie_throughput(PcieUtilCounter::Receive)
    })?;
    let nvlink = nvlink::read(device, &mut q, &mut state.nvlink)?;
    let processes = processes(device, &mut q)?;

    Ok(Some(GpuSample {
        index,
        uuid: uuid.clone(),
        model: model.clone(),
        // The model has no "unknown" for these; NaN is skipped by the exporter.
        utilization: utilization.map_or(f64::NAN, |u| percent(u.gpu)),
        encoder_utilization: encoder.map(|u| percent(u.utilization)),
        decoder_utilization: decoder.map(|u| percent(u.utilization)),
        // A total of 0 means "unknown" to the exporter.
        memory_used_bytes: memory.as_ref().map_or(0, |m| m.used),
        memory_total_bytes: memory.as_ref().map_or(0, |m| m.total),
        power_watts: power.map_or(f64::NAN, milli),
        power_limit_watts: power_limit.map(milli),
        energy_joules: energy.map(|mj| mj as f64 / 1000.0),
        temperature_celsius: temperature.map_or(f64::NAN, f64::from),
        sm_clock_hz: sm_clock.map(|mhz| f64::from(mhz) * 1e6),
        throttle: throttle.map(throttle_reasons).unwrap_or_default(),
        ecc_corrected,
        ecc_uncorrected,
        pcie_tx_bytes: pcie_tx.map(|kbs| state.pcie_tx.add(at, f64::from(kbs) * KB)),
        pcie_rx_bytes: pcie_rx.map(|kbs| state.pcie_rx.add(at, f64::from(kbs) * KB)),
        nvlink_tx_bytes: nvlink.map(|(tx, _)| tx),
        nvlink_rx_bytes: nvlink.map(|(_, rx)| rx),
        xid_counts: BTreeMap::new(),
        processes,
        job: None,
        mig: None,
    }))
}

/// The compute processes running on `device` (a GPU or a MIG instance), unnamed: the
/// job resolver names them from /proc.
pub(super) fn processes(device: &Device<'_>, q: &mut Queries<'_>) -> Result<Vec<GpuProcess>, Lost> {
    Ok(q.get("running_compute_processes", || {
        device.running_compute_processes()
    })?
    .unwrap_or_default()
    .into_iter()
    .map(|p| GpuProcess {
        pid: p.pid,
        executable: String::new(),
        memory_bytes: match p.used_gpu_memory {
            UsedGpuMemory::Used(bytes) => bytes,
            UsedGpuMemory::Unavailable => 0,
        },
        job: None,
    })
    .collect())
}

pub(super) fn percent(value: u32) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_lost_gpu_keeps_only_its_identity() {
        let mut state = GpuState::default();
        assert!(
            state.lost_sample(3).is_none(),
            "nothing to say without an identity"
        );
        state.identity = Some(("GPU-3".to_string(), "NVIDIA H100".to_string()));
        let sample = state.lost_sample(3).expect("identity known");
        assert_eq!((sample.index, sample.uuid.as_str()), (3, "GPU-3"));
        assert!(sample.utilization.is_nan() && sample.power_watts.is_nan());
        assert_eq!(sample.memory_total_bytes, 0);
        assert!(sample.processes.is_empty() && sample.nvlink_tx_bytes.is_none());
    }
}
