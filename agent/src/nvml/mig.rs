//! MIG (Multi-Instance GPU): a GPU in MIG mode is split into instances that NVML hands
//! out as devices of their own (`nvmlDeviceGetMigDeviceHandleByIndex`), each with its
//! own UUID (`MIG-...`), memory and processes. The agent reports each instance as a
//! device beside its parent, with `hw.parent` and `hw.gpu.mig.profile`.
//!
//! What NVML gives per instance, and so what is reported: memory used and total, the
//! compute processes (which the job resolver attributes, so each slice has its own
//! job), and utilization only where the driver gives it for MIG handles (it answers
//! `NOT_SUPPORTED` on most: the query is then logged once per instance as unsupported
//! and the instance has no utilization point, never a 0). Power, temperature, clocks,
//! ECC, PCIe, NVLink and XIDs belong to the parent GPU and stay on it. The parent's
//! process list is left empty in MIG mode, since its instances report the same
//! processes.
//!
//! The profile is read from the instance's NVML name (`NVIDIA H100 80GB HBM3 MIG
//! 1g.10gb`), as nvidia-smi shows it; a name without one gives `unknown` (NVIDIA's
//! profile names do not follow from an instance's slice count and memory alone: the
//! H100's 7g.80gb has 79 GiB, the H200's 7g.141gb 140).

use std::collections::{HashMap, HashSet};

use gpuwatch_model::{GpuSample, MigInstance};
use nvml_wrapper::error::NvmlError as RawNvmlError;
use nvml_wrapper::Device;

use super::device::{percent, processes, GpuState};
use super::queries::{Lost, Queries, Support};

/// `nvmlDeviceGetMigMode`'s "enabled".
const MIG_ENABLED: u32 = 1;

/// What the sampler keeps about the MIG instances of every GPU, by (GPU index, slot).
#[derive(Debug, Default)]
pub(super) struct Instances {
    states: HashMap<(u32, u32), GpuState>,
    /// Each GPU's MIG mode at its last sample.
    modes: HashMap<u32, bool>,
}

/// The parent GPU a read of its instances concerns.
pub(super) struct Parent<'a, 'nvml> {
    pub(super) device: &'a Device<'nvml>,
    pub(super) index: u32,
    pub(super) uuid: &'a str,
    pub(super) support: &'a mut Support,
}

impl Instances {
    /// The instances of `parent` when it is in MIG mode; none otherwise (and none,
    /// with the parent's next sample ending it, when the parent is lost).
    pub(super) fn read(
        &mut self,
        parent: Parent<'_, '_>,
        library: &mut HashSet<&'static str>,
    ) -> Result<Vec<GpuSample>, Lost> {
        let Parent {
            device,
            index,
            uuid,
            support,
        } = parent;
        let mut q = Queries {
            index,
            uuid,
            gpu: support,
            library,
        };
        let enabled = q
            .get("mig_mode", || device.mig_mode())?
            .is_some_and(|mode| mode.current == MIG_ENABLED);
        if self
            .modes
            .insert(index, enabled)
            .is_some_and(|was| was != enabled)
        {
            // What the GPU answers changes with its mode (utilization, for one).
            q.gpu.forget_unsupported();
            tracing::info!(
                gpu = index,
                uuid,
                mig = enabled,
                "the GPU's MIG mode changed; its queries are tried again"
            );
        }
        let slots = if enabled {
            q.get("mig_device_count", || device.mig_device_count())?
                .unwrap_or(0)
        } else {
            0
        };
        let mut samples = Vec::new();
        for slot in 0..slots {
            let instance = match device.mig_device_by_index(slot) {
                Ok(instance) => instance,
                // An empty slot: no instance was created there.
                Err(RawNvmlError::NotFound | RawNvmlError::InvalidArg) => {
                    self.states.remove(&(index, slot));
                    continue;
                }
                Err(error) => {
                    q.failed("mig_device_by_index", error)?;
                    continue;
                }
            };
            let state = self.states.entry((index, slot)).or_default();
            // An instance that cannot say what it is is left out; one that is lost goes
            // with its parent, whose own next query says so.
            if let Ok(Some(sample)) = read_instance(&instance, index, slot, uuid, state, q.library)
            {
                samples.push(sample);
            }
        }
        self.states
            .retain(|&(gpu, slot), _| gpu != index || slot < slots);
        Ok(samples)
    }
}

/// One MIG instance at slot `slot` of the GPU at `index` (UUID `parent_uuid`).
fn read_instance(
    device: &Device<'_>,
    index: u32,
    slot: u32,
    parent_uuid: &str,
    state: &mut GpuState,
    library: &mut HashSet<&'static str>,
) -> Result<Option<GpuSample>, Lost> {
    let mut q = Queries {
        index,
        uuid: parent_uuid,
        gpu: &mut state.support,
        library,
    };
    // Instances come and go as an administrator reconfigures the GPU: the UUID is read
    // every time, and a new one starts the slot afresh.
    let Some(uuid) = q.get("uuid", || device.uuid())? else {
        return Ok(None);
    };
    if state
        .identity
        .as_ref()
        .is_none_or(|(known, _)| *known != uuid)
    {
        *state = GpuState::default();
        let mut q = Queries {
            index,
            uuid: &uuid,
            gpu: &mut state.support,
            library,
        };
        let name = q.get("name", || device.name())?.unwrap_or_default();
        let profile = MigInstance::profile_in_name(&name)
            .unwrap_or("unknown")
            .to_string();
        let model = match name.rsplit_once(" MIG ") {
            Some((model, _)) => model.to_string(),
            None => name,
        };
        state.identity = Some((uuid, model));
        state.profile = profile;
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
    let memory = q.get("memory_info", || device.memory_info())?;
    let utilization = q.get("utilization_rates", || device.utilization_rates())?;
    let processes = processes(device, &mut q)?;
    let mut sample = GpuSample::unmeasured(index, uuid.clone(), model.clone());
    sample.utilization = utilization.map_or(f64::NAN, |u| percent(u.gpu));
    sample.memory_used_bytes = memory.as_ref().map_or(0, |m| m.used);
    sample.memory_total_bytes = memory.as_ref().map_or(0, |m| m.total);
    sample.processes = processes;
    sample.mig = Some(MigInstance {
        parent_uuid: parent_uuid.to_string(),
        slot,
        profile: state.profile.clone(),
    });
    Ok(Some(sample))
}
