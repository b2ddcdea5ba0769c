//! What a sampler produces: one `NodeSample` per interval, whatever the source
//! (`nvml`, `simulated`, `/proc`). Counters are cumulative since the sampler started.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Why a GPU is running below its clocks, as `gpuwatch.throttle.reason` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThrottleReason {
    HwThermal,
    SwThermal,
    SwPowerCap,
    HwPowerBrake,
    HwSlowdown,
}

impl ThrottleReason {
    pub const ALL: [ThrottleReason; 5] = [
        ThrottleReason::HwThermal,
        ThrottleReason::SwThermal,
        ThrottleReason::SwPowerCap,
        ThrottleReason::HwPowerBrake,
        ThrottleReason::HwSlowdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ThrottleReason::HwThermal => "hw_thermal",
            ThrottleReason::SwThermal => "sw_thermal",
            ThrottleReason::SwPowerCap => "sw_power_cap",
            ThrottleReason::HwPowerBrake => "hw_power_brake",
            ThrottleReason::HwSlowdown => "hw_slowdown",
        }
    }
}

/// The work a GPU or process is attributed to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInfo {
    pub job_id: Option<String>,
    pub team: Option<String>,
    pub k8s_namespace: Option<String>,
    pub k8s_pod: Option<String>,
    /// The pod's UID, from the process's cgroup: known even where the kubelet's
    /// pod-resources socket cannot be read to name the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_pod_uid: Option<String>,
}

impl JobInfo {
    /// `(attribute, value)` pairs for the fields that are set, in contract names.
    pub fn attributes(&self) -> Vec<(&'static str, &str)> {
        use crate::names::attr;
        [
            (attr::JOB_ID, &self.job_id),
            (attr::TEAM, &self.team),
            (attr::K8S_NAMESPACE, &self.k8s_namespace),
            (attr::K8S_POD, &self.k8s_pod),
            (attr::K8S_POD_UID, &self.k8s_pod_uid),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

/// A process holding memory on a GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuProcess {
    pub pid: u32,
    pub executable: String,
    pub memory_bytes: u64,
    pub job: Option<JobInfo>,
}

/// One GPU at one instant. Fields a source cannot read are `None` and are not exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuSample {
    /// Index on the node (`hw.name` = `gpu{index}`).
    pub index: u32,
    /// `hw.id`, the GPU UUID.
    pub uuid: String,
    /// `hw.model`, e.g. `NVIDIA H100 80GB HBM3`.
    pub model: String,
    /// General utilization, 0..1.
    pub utilization: f64,
    pub encoder_utilization: Option<f64>,
    pub decoder_utilization: Option<f64>,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub power_watts: f64,
    pub power_limit_watts: Option<f64>,
    /// Cumulative energy, joules.
    pub energy_joules: Option<f64>,
    pub temperature_celsius: f64,
    pub sm_clock_hz: Option<f64>,
    /// Reasons active now; the others are reported as 0.
    pub throttle: Vec<ThrottleReason>,
    pub ecc_corrected: Option<u64>,
    pub ecc_uncorrected: Option<u64>,
    /// Cumulative bytes.
    pub pcie_tx_bytes: Option<u64>,
    pub pcie_rx_bytes: Option<u64>,
    /// Cumulative bytes, summed over all active links.
    pub nvlink_tx_bytes: Option<u64>,
    pub nvlink_rx_bytes: Option<u64>,
    /// Cumulative count of XID events by code.
    pub xid_counts: BTreeMap<u32, u64>,
    pub processes: Vec<GpuProcess>,
    /// The job this GPU works for, when known.
    pub job: Option<JobInfo>,
    /// Set when this device is a MIG instance of the GPU at `index`, not a whole GPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mig: Option<MigInstance>,
}

/// Where a MIG (Multi-Instance GPU) instance sits: NVML's MIG device handles are
/// devices of their own, with their own UUID (`MIG-...`), memory and processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigInstance {
    /// `hw.parent`: the UUID of the GPU it is a slice of.
    pub parent_uuid: String,
    /// The instance's slot on its parent (NVML's MIG device index), from 0.
    pub slot: u32,
    /// `hw.gpu.mig.profile`, NVIDIA's profile name: `1g.10gb`, `3g.40gb`, `7g.80gb`.
    pub profile: String,
}

impl MigInstance {
    /// The profile in a MIG device's NVML name (`NVIDIA H100 80GB HBM3 MIG 1g.10gb`):
    /// what follows `MIG `, or `None` when the name has no such part.
    pub fn profile_in_name(name: &str) -> Option<&str> {
        let (_, profile) = name.rsplit_once("MIG ")?;
        let profile = profile.trim();
        (!profile.is_empty()).then_some(profile)
    }
}

impl GpuSample {
    /// A GPU known by its identity with nothing measured: NaN where the model has no
    /// "unknown" (the exporter skips NaN), `None` and empty elsewhere.
    pub fn unmeasured(index: u32, uuid: String, model: String) -> GpuSample {
        GpuSample {
            index,
            uuid,
            model,
            utilization: f64::NAN,
            encoder_utilization: None,
            decoder_utilization: None,
            memory_used_bytes: 0,
            memory_total_bytes: 0,
            power_watts: f64::NAN,
            power_limit_watts: None,
            energy_joules: None,
            temperature_celsius: f64::NAN,
            sm_clock_hz: None,
            throttle: Vec::new(),
            ecc_corrected: None,
            ecc_uncorrected: None,
            pcie_tx_bytes: None,
            pcie_rx_bytes: None,
            nvlink_tx_bytes: None,
            nvlink_rx_bytes: None,
            xid_counts: BTreeMap::new(),
            processes: Vec::new(),
            job: None,
            mig: None,
        }
    }

    /// `hw.name`: `gpu0`, `gpu1`, ...; a MIG instance `gpu0-mig1` (its parent's index,
    /// then its slot).
    pub fn hw_name(&self) -> String {
        match &self.mig {
            Some(mig) => format!("gpu{}-mig{}", self.index, mig.slot),
            None => format!("gpu{}", self.index),
        }
    }
}

/// Host-wide CPU time shares over the last interval, each 0..1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuModes {
    pub user: f64,
    pub system: f64,
    pub iowait: f64,
    pub idle: f64,
    pub steal: f64,
}

/// Cumulative counters of one whole block device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskCounters {
    pub device: String,
    pub read_bytes: u64,
    pub write_bytes: u64,
    /// Time the device was busy, seconds (gives %util).
    pub io_time_seconds: f64,
}

/// Cumulative counters of one network interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetCounters {
    pub interface: String,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// The host around the GPUs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostSample {
    /// `None` on the first sample, before there is an interval to compare against.
    pub cpu: Option<CpuModes>,
    pub memory_used_bytes: u64,
    pub memory_free_bytes: u64,
    pub memory_cached_bytes: u64,
    pub disks: Vec<DiskCounters>,
    pub networks: Vec<NetCounters>,
}

/// A cumulative explicit-bucket histogram a source reports beside its gauges: a model's
/// predictions or features, or a server's latency (the simulator's models).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramSample {
    /// The contract metric, e.g. `gpuwatch.model.prediction`.
    pub metric: String,
    /// UCUM unit: `s` for latency, `1` for scores.
    pub unit: String,
    /// Point attributes, e.g. `gpuwatch.model`.
    pub attributes: Vec<(String, String)>,
    /// Counting since.
    #[serde(with = "crate::time::unix_nanos")]
    pub start_time_unix_nano: crate::Timestamp,
    /// Upper bounds; `bucket_counts` has one more entry (the `+Inf` bucket).
    pub bounds: Vec<f64>,
    pub bucket_counts: Vec<u64>,
    pub sum: f64,
}

impl HistogramSample {
    pub fn count(&self) -> u64 {
        self.bucket_counts.iter().sum()
    }
}

/// Everything one agent saw at one instant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeSample {
    /// When the sample was taken.
    #[serde(with = "crate::time::unix_nanos")]
    pub time_unix_nano: crate::Timestamp,
    pub gpus: Vec<GpuSample>,
    pub host: Option<HostSample>,
    /// Histograms of the models served here, where the source has them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub histograms: Vec<HistogramSample>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mig_instance_is_named_after_its_parent_and_slot() {
        let mut gpu = GpuSample::unmeasured(2, "MIG-1".into(), "NVIDIA H100".into());
        assert_eq!(gpu.hw_name(), "gpu2");
        gpu.mig = Some(MigInstance {
            parent_uuid: "GPU-2".into(),
            slot: 3,
            profile: "1g.10gb".into(),
        });
        assert_eq!(gpu.hw_name(), "gpu2-mig3");
        for (name, profile) in [
            ("NVIDIA H100 80GB HBM3 MIG 1g.10gb", Some("1g.10gb")),
            ("NVIDIA A100-SXM4-40GB MIG 3g.20gb ", Some("3g.20gb")),
            ("NVIDIA H100 80GB HBM3 MIG 1g.10gb+me", Some("1g.10gb+me")),
            ("NVIDIA H100 80GB HBM3", None),
            ("NVIDIA H100 MIG ", None),
        ] {
            assert_eq!(MigInstance::profile_in_name(name), profile, "{name}");
        }
    }

    #[test]
    fn job_attributes_skip_unset_fields() {
        let job = JobInfo {
            job_id: Some("4411".into()),
            team: None,
            k8s_namespace: Some("ml".into()),
            k8s_pod: None,
            k8s_pod_uid: Some("1f2e".into()),
        };
        assert_eq!(
            job.attributes(),
            vec![
                ("gpuwatch.job.id", "4411"),
                ("k8s.namespace.name", "ml"),
                ("k8s.pod.uid", "1f2e")
            ]
        );
    }

    #[test]
    fn throttle_reasons_use_contract_values() {
        let names: Vec<_> = ThrottleReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "hw_thermal",
                "sw_thermal",
                "sw_power_cap",
                "hw_power_brake",
                "hw_slowdown"
            ]
        );
        let json = serde_json::to_string(&ThrottleReason::SwPowerCap).unwrap_or_default();
        assert_eq!(json, "\"sw_power_cap\"");
    }
}
