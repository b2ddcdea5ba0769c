//! The data points of each contract metric in one sample: pure functions from a
//! `NodeSample` to `(value, attributes)` pairs. Fields a source could not read (`None`,
//! NaN, a memory total of 0) produce no point.

use gpuwatch_model::names::{attr, value};
use gpuwatch_model::{GpuSample, JobInfo, NodeSample};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

use super::spec::Point;
use super::stamp::string_attr;

fn int_attr(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..KeyValue::default()
    }
}

/// `hw.id`, `hw.name`, `hw.model`, `hw.vendor`; for a MIG instance also `hw.parent`
/// and `hw.gpu.mig.profile`.
fn identity(gpu: &GpuSample) -> Vec<KeyValue> {
    let mut attrs = vec![
        string_attr(attr::HW_ID, &gpu.uuid),
        string_attr(attr::HW_NAME, &gpu.hw_name()),
        string_attr(attr::HW_MODEL, &gpu.model),
        string_attr(attr::HW_VENDOR, value::VENDOR_NVIDIA),
    ];
    if let Some(mig) = &gpu.mig {
        attrs.push(string_attr(attr::HW_PARENT, &mig.parent_uuid));
        attrs.push(string_attr(attr::GPU_MIG_PROFILE, &mig.profile));
    }
    attrs
}

fn job_attributes(job: Option<&JobInfo>) -> impl Iterator<Item = KeyValue> + '_ {
    job.into_iter()
        .flat_map(|job| job.attributes().into_iter().map(|(k, v)| string_attr(k, v)))
}

/// The attributes every GPU point carries: identity and job.
pub(crate) fn gpu_attributes(gpu: &GpuSample) -> Vec<KeyValue> {
    let mut attrs = identity(gpu);
    attrs.extend(job_attributes(gpu.job.as_ref()));
    attrs
}

fn with(mut attrs: Vec<KeyValue>, extra: impl IntoIterator<Item = KeyValue>) -> Vec<KeyValue> {
    attrs.extend(extra);
    attrs
}

/// One point per GPU for each `(value, extra attributes)` that `read` gives.
fn per_gpu<T>(
    sample: &NodeSample,
    read: impl Fn(&GpuSample) -> Vec<(Option<T>, Vec<KeyValue>)>,
) -> Vec<Point<T>> {
    let mut points = Vec::new();
    for gpu in &sample.gpus {
        let values = read(gpu);
        if values.iter().all(|(v, _)| v.is_none()) {
            continue;
        }
        let base = gpu_attributes(gpu);
        for (value, extra) in values {
            if let Some(value) = value {
                points.push((value, with(base.clone(), extra)));
            }
        }
    }
    points
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn finite_opt(v: Option<f64>) -> Option<f64> {
    v.and_then(finite)
}

fn kv(key: &str, value: &str) -> Vec<KeyValue> {
    vec![string_attr(key, value)]
}

fn io(direction: &str, link: &str) -> Vec<KeyValue> {
    vec![
        string_attr(attr::IO_DIRECTION, direction),
        string_attr(attr::LINK, link),
    ]
}

pub(crate) fn gpu_utilization(s: &NodeSample) -> Vec<Point<f64>> {
    per_gpu(s, |g| {
        vec![
            (
                finite(g.utilization),
                kv(attr::GPU_TASK, value::TASK_GENERAL),
            ),
            (
                finite_opt(g.encoder_utilization),
                kv(attr::GPU_TASK, value::TASK_ENCODER),
            ),
            (
                finite_opt(g.decoder_utilization),
                kv(attr::GPU_TASK, value::TASK_DECODER),
            ),
        ]
    })
}

pub(crate) fn gpu_memory_usage(s: &NodeSample) -> Vec<Point<u64>> {
    per_gpu(s, |g| {
        vec![(
            (g.memory_total_bytes > 0).then_some(g.memory_used_bytes),
            vec![],
        )]
    })
}

pub(crate) fn gpu_memory_limit(s: &NodeSample) -> Vec<Point<u64>> {
    per_gpu(s, |g| {
        vec![(
            (g.memory_total_bytes > 0).then_some(g.memory_total_bytes),
            vec![],
        )]
    })
}

pub(crate) fn gpu_io(s: &NodeSample) -> Vec<Point<u64>> {
    per_gpu(s, |g| {
        vec![
            (g.nvlink_tx_bytes, io(value::TRANSMIT, value::LINK_NVLINK)),
            (g.nvlink_rx_bytes, io(value::RECEIVE, value::LINK_NVLINK)),
            (g.pcie_tx_bytes, io(value::TRANSMIT, value::LINK_PCIE)),
            (g.pcie_rx_bytes, io(value::RECEIVE, value::LINK_PCIE)),
        ]
    })
}

pub(crate) fn power(s: &NodeSample) -> Vec<Point<f64>> {
    per_gpu(s, |g| vec![(finite(g.power_watts), vec![])])
}

pub(crate) fn power_limit(s: &NodeSample) -> Vec<Point<f64>> {
    per_gpu(s, |g| vec![(finite_opt(g.power_limit_watts), vec![])])
}

pub(crate) fn energy(s: &NodeSample) -> Vec<Point<f64>> {
    per_gpu(s, |g| vec![(finite_opt(g.energy_joules), vec![])])
}

pub(crate) fn errors(s: &NodeSample) -> Vec<Point<u64>> {
    per_gpu(s, |g| {
        vec![
            (g.ecc_corrected, kv(attr::ERROR_TYPE, value::ECC_CORRECTED)),
            (
                g.ecc_uncorrected,
                kv(attr::ERROR_TYPE, value::ECC_UNCORRECTED),
            ),
        ]
    })
}

pub(crate) fn temperature(s: &NodeSample) -> Vec<Point<f64>> {
    per_gpu(s, |g| vec![(finite(g.temperature_celsius), vec![])])
}

pub(crate) fn sm_clock(s: &NodeSample) -> Vec<Point<f64>> {
    per_gpu(s, |g| vec![(finite_opt(g.sm_clock_hz), vec![])])
}

/// One point per reason of the contract: 1 when active, else 0.
pub(crate) fn throttle(s: &NodeSample) -> Vec<Point<f64>> {
    per_gpu(s, |g| {
        gpuwatch_model::ThrottleReason::ALL
            .iter()
            .map(|reason| {
                let active = if g.throttle.contains(reason) {
                    1.0
                } else {
                    0.0
                };
                (Some(active), kv(attr::THROTTLE_REASON, reason.as_str()))
            })
            .collect()
    })
}

pub(crate) fn xid(s: &NodeSample) -> Vec<Point<u64>> {
    per_gpu(s, |g| {
        g.xid_counts
            .iter()
            .map(|(code, count)| {
                (
                    Some(*count),
                    vec![int_attr(attr::XID_CODE, i64::from(*code))],
                )
            })
            .collect()
    })
}

/// Per process: GPU identity, the process's job (or the GPU's), pid and executable.
pub(crate) fn process_memory(s: &NodeSample) -> Vec<Point<u64>> {
    let mut points = Vec::new();
    for gpu in &s.gpus {
        for process in &gpu.processes {
            let job = process.job.as_ref().or(gpu.job.as_ref());
            let mut attrs = identity(gpu);
            attrs.extend(job_attributes(job));
            attrs.push(int_attr(attr::PROCESS_PID, i64::from(process.pid)));
            attrs.push(string_attr(attr::PROCESS_EXECUTABLE, &process.executable));
            points.push((process.memory_bytes, attrs));
        }
    }
    points
}

pub(crate) fn cpu_utilization(s: &NodeSample) -> Vec<Point<f64>> {
    let Some(cpu) = s.host.as_ref().and_then(|h| h.cpu) else {
        return Vec::new();
    };
    [
        (cpu.user, value::CPU_USER),
        (cpu.system, value::CPU_SYSTEM),
        (cpu.iowait, value::CPU_IOWAIT),
        (cpu.idle, value::CPU_IDLE),
        (cpu.steal, value::CPU_STEAL),
    ]
    .into_iter()
    .filter(|(v, _)| v.is_finite())
    .map(|(v, mode)| (v, kv(attr::CPU_MODE, mode)))
    .collect()
}

pub(crate) fn memory_usage(s: &NodeSample) -> Vec<Point<u64>> {
    let Some(host) = s.host.as_ref() else {
        return Vec::new();
    };
    vec![
        (
            host.memory_used_bytes,
            kv(attr::MEMORY_STATE, value::MEM_USED),
        ),
        (
            host.memory_free_bytes,
            kv(attr::MEMORY_STATE, value::MEM_FREE),
        ),
        (
            host.memory_cached_bytes,
            kv(attr::MEMORY_STATE, value::MEM_CACHED),
        ),
    ]
}

pub(crate) fn disk_io(s: &NodeSample) -> Vec<Point<u64>> {
    let disks = s.host.iter().flat_map(|h| &h.disks);
    disks
        .flat_map(|d| {
            [(d.read_bytes, value::READ), (d.write_bytes, value::WRITE)].map(|(v, dir)| {
                (
                    v,
                    vec![
                        string_attr(attr::DEVICE, &d.device),
                        string_attr(attr::DISK_DIRECTION, dir),
                    ],
                )
            })
        })
        .collect()
}

pub(crate) fn disk_io_time(s: &NodeSample) -> Vec<Point<f64>> {
    let disks = s.host.iter().flat_map(|h| &h.disks);
    disks
        .filter(|d| d.io_time_seconds.is_finite())
        .map(|d| {
            (
                d.io_time_seconds,
                vec![string_attr(attr::DEVICE, &d.device)],
            )
        })
        .collect()
}

pub(crate) fn network_io(s: &NodeSample) -> Vec<Point<u64>> {
    let nics = s.host.iter().flat_map(|h| &h.networks);
    nics.flat_map(|n| {
        [(n.rx_bytes, value::RECEIVE), (n.tx_bytes, value::TRANSMIT)].map(|(v, dir)| {
            (
                v,
                vec![
                    string_attr(attr::INTERFACE, &n.interface),
                    string_attr(attr::IO_DIRECTION, dir),
                ],
            )
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::Sampler;
    use crate::simulated::{demo_profiles, SimulatedSampler};
    use gpuwatch_model::ThrottleReason;
    use gpuwatch_model::Timestamp;

    fn sample() -> NodeSample {
        let mut sampler = SimulatedSampler::new(0, demo_profiles(0, 2), 1);
        sampler
            .sample(Timestamp::from_unix_nanos_u64(1_000_000_000))
            .expect("simulated")
    }

    fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
        let value = attrs.iter().find(|kv| kv.key == key)?.value.as_ref()?;
        match value.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            any_value::Value::IntValue(i) => Some(i.to_string()),
            other => Some(format!("{other:?}")),
        }
    }

    #[test]
    fn gpu_points_carry_identity_and_job() {
        let s = sample();
        let points = gpu_utilization(&s);
        assert_eq!(points.len(), 6, "general, encoder, decoder for two GPUs");
        let (value, attrs) = &points[0];
        assert_eq!(*value, s.gpus[0].utilization);
        assert_eq!(
            attr(attrs, "hw.id").as_deref(),
            Some(s.gpus[0].uuid.as_str())
        );
        assert_eq!(attr(attrs, "hw.name").as_deref(), Some("gpu0"));
        assert_eq!(
            attr(attrs, "hw.model").as_deref(),
            Some("NVIDIA H100 80GB HBM3")
        );
        assert_eq!(attr(attrs, "hw.vendor").as_deref(), Some("nvidia"));
        assert_eq!(attr(attrs, "gpuwatch.job.id").as_deref(), Some("4411"));
        assert_eq!(
            attr(attrs, "gpuwatch.team").as_deref(),
            Some("llm-pretrain")
        );
        assert_eq!(attr(attrs, "hw.gpu.task").as_deref(), Some("general"));
        assert_eq!(gpu_io(&s).len(), 8);
        assert_eq!(errors(&s).len(), 4);
        assert!(xid(&s).is_empty());
    }

    #[test]
    fn a_mig_instance_names_its_parent_and_profile_and_whole_gpus_do_not() {
        let mut s = sample();
        let parent = s.gpus[0].uuid.clone();
        let mut slice = GpuSample::unmeasured(0, "MIG-0".into(), s.gpus[0].model.clone());
        slice.memory_used_bytes = 1 << 30;
        slice.memory_total_bytes = 10 << 30;
        slice.mig = Some(gpuwatch_model::MigInstance {
            parent_uuid: parent.clone(),
            slot: 2,
            profile: "1g.10gb".into(),
        });
        s.gpus.push(slice);
        let memory = gpu_memory_usage(&s);
        assert_eq!(memory.len(), 3);
        let (used, attrs) = &memory[2];
        assert_eq!(*used, 1 << 30);
        assert_eq!(attr(attrs, "hw.id").as_deref(), Some("MIG-0"));
        assert_eq!(attr(attrs, "hw.name").as_deref(), Some("gpu0-mig2"));
        assert_eq!(attr(attrs, "hw.parent"), Some(parent));
        assert_eq!(
            attr(attrs, "hw.gpu.mig.profile").as_deref(),
            Some("1g.10gb")
        );
        for (_, attrs) in &memory[..2] {
            assert_eq!(attr(attrs, "hw.parent"), None);
            assert_eq!(attr(attrs, "hw.gpu.mig.profile"), None);
        }
        // No utilization from NVML: no point, not a 0.
        assert!(gpu_utilization(&s)
            .iter()
            .all(|(_, a)| attr(a, "hw.id").as_deref() != Some("MIG-0")));
    }

    #[test]
    fn unknown_fields_make_no_points() {
        let mut s = sample();
        let gpu = &mut s.gpus[0];
        gpu.utilization = f64::NAN;
        gpu.encoder_utilization = None;
        gpu.power_watts = f64::NAN;
        gpu.memory_total_bytes = 0;
        gpu.nvlink_tx_bytes = None;
        assert_eq!(gpu_utilization(&s).len(), 4);
        assert_eq!(power(&s).len(), 1);
        assert_eq!(gpu_memory_usage(&s).len(), 1);
        assert_eq!(gpu_memory_limit(&s).len(), 1);
        assert_eq!(gpu_io(&s).len(), 7);
    }

    #[test]
    fn throttle_reports_every_reason() {
        let mut s = sample();
        s.gpus[1].throttle = vec![ThrottleReason::SwPowerCap];
        let points = throttle(&s);
        assert_eq!(points.len(), 10);
        let active: Vec<_> = points
            .iter()
            .filter(|(v, _)| *v == 1.0)
            .map(|(_, a)| (attr(a, "hw.name"), attr(a, "gpuwatch.throttle.reason")))
            .collect();
        assert_eq!(
            active,
            vec![(Some("gpu1".to_string()), Some("sw_power_cap".to_string()))]
        );
    }

    #[test]
    fn processes_and_xids_have_their_attributes() {
        let mut s = sample();
        s.gpus[0].xid_counts.insert(79, 2);
        let xids = xid(&s);
        assert_eq!(xids.len(), 1);
        let code = xids[0].1.iter().find(|kv| kv.key == "gpuwatch.xid.code");
        assert_eq!(
            code.and_then(|kv| kv.value.clone()),
            Some(AnyValue {
                value: Some(any_value::Value::IntValue(79))
            })
        );

        let procs = process_memory(&s);
        assert_eq!(procs.len(), 2);
        let (bytes, attrs) = &procs[0];
        assert_eq!(*bytes, s.gpus[0].processes[0].memory_bytes);
        assert_eq!(
            attr(attrs, "process.executable.name").as_deref(),
            Some("python")
        );
        assert_eq!(attr(attrs, "gpuwatch.job.id").as_deref(), Some("4411"));
        assert_eq!(
            attr(attrs, "process.pid"),
            Some(s.gpus[0].processes[0].pid.to_string())
        );
    }

    #[test]
    fn host_points() {
        let s = sample();
        assert_eq!(cpu_utilization(&s).len(), 5);
        assert_eq!(memory_usage(&s).len(), 3);
        let disk = disk_io(&s);
        assert_eq!(disk.len(), 2);
        assert_eq!(
            attr(&disk[0].1, "system.device").as_deref(),
            Some("nvme0n1")
        );
        assert_eq!(
            attr(&disk[1].1, "disk.io.direction").as_deref(),
            Some("write")
        );
        assert_eq!(disk_io_time(&s).len(), 1);
        let net = network_io(&s);
        assert_eq!(
            attr(&net[0].1, "network.interface.name").as_deref(),
            Some("eth0")
        );
        assert_eq!(
            attr(&net[0].1, "network.io.direction").as_deref(),
            Some("receive")
        );

        let no_host = NodeSample::default();
        assert!(cpu_utilization(&no_host).is_empty() && memory_usage(&no_host).is_empty());
    }
}
