use gpuwatch_model::Timestamp;
use std::collections::HashSet;

use gpuwatch_model::{GpuSample, NodeSample};

use super::*;
use crate::sampler::Sampler;

const T0: u64 = 1_764_320_000_000_000_000;
const SECOND: u64 = 1_000_000_000;
const GIB: f64 = (1u64 << 30) as f64;

fn run(node: usize, profiles: Vec<Profile>, seed: u64, times: &[u64]) -> Vec<NodeSample> {
    let mut sampler = SimulatedSampler::new(node, profiles, seed);
    times
        .iter()
        .map(|t| {
            sampler
                .sample(Timestamp::from_unix_nanos_u64(*t))
                .expect("simulation never fails")
        })
        .collect()
}

fn every_second(n: u64) -> Vec<u64> {
    (0..n).map(|i| T0 + i * SECOND).collect()
}

fn gpu_of(samples: &[NodeSample], i: usize) -> Vec<&GpuSample> {
    samples.iter().map(|s| &s.gpus[i]).collect()
}

#[test]
fn same_inputs_give_the_same_samples() {
    let times = every_second(20);
    let a = run(3, demo_profiles(3, 8), 42, &times);
    let b = run(3, demo_profiles(3, 8), 42, &times);
    assert_eq!(a, b);
    let other_seed = run(3, demo_profiles(3, 8), 43, &times);
    assert_ne!(a, other_seed);
}

#[test]
fn uuids_are_stable_and_unique_per_node_and_gpu() {
    let mut seen = HashSet::new();
    for node in 0..4 {
        let first = run(node, demo_profiles(node, 8), 7, &[T0]);
        let later = run(node, demo_profiles(node, 8), 7, &[T0 + 99 * SECOND]);
        for (a, b) in first[0].gpus.iter().zip(&later[0].gpus) {
            assert_eq!(a.uuid, b.uuid);
            assert!(
                a.uuid.starts_with("GPU-") && a.uuid.len() == 40,
                "{}",
                a.uuid
            );
            assert!(seen.insert(a.uuid.clone()), "duplicate {}", a.uuid);
        }
    }
}

#[test]
fn counters_never_decrease_even_when_time_goes_back() {
    let mut times = every_second(30);
    times.insert(10, T0 + 3 * SECOND);
    for node in 0..4 {
        let samples = run(node, demo_profiles(node, 4), 1, &times);
        for pair in samples.windows(2) {
            for (a, b) in pair[0].gpus.iter().zip(&pair[1].gpus) {
                assert!(b.energy_joules >= a.energy_joules);
                assert!(b.nvlink_tx_bytes >= a.nvlink_tx_bytes);
                assert!(b.nvlink_rx_bytes >= a.nvlink_rx_bytes);
                assert!(b.pcie_tx_bytes >= a.pcie_tx_bytes);
                assert!(b.pcie_rx_bytes >= a.pcie_rx_bytes);
            }
            let (ha, hb) = (
                pair[0].host.as_ref().expect("host"),
                pair[1].host.as_ref().expect("host"),
            );
            assert!(hb.disks[0].read_bytes >= ha.disks[0].read_bytes);
            assert!(hb.disks[0].io_time_seconds >= ha.disks[0].io_time_seconds);
            assert!(hb.networks[0].rx_bytes >= ha.networks[0].rx_bytes);
        }
    }
}

#[test]
fn energy_integrates_power_over_time() {
    let samples = run(0, demo_profiles(0, 1), 5, &[T0, T0 + 2 * SECOND]);
    let gpus = gpu_of(&samples, 0);
    let gained = gpus[1].energy_joules.unwrap_or(0.0) - gpus[0].energy_joules.unwrap_or(0.0);
    assert!(
        (gained - 2.0 * gpus[1].power_watts).abs() < 1e-6,
        "{gained}"
    );
}

#[test]
fn training_gpus_all_reduce_at_nearly_the_same_rate() {
    let times = [T0, T0 + SECOND, T0 + 2 * SECOND];
    for node in [0, 1] {
        let samples = run(node, demo_profiles(node, 8), 9, &times);
        let rates = |field: fn(&GpuSample) -> Option<u64>| -> Vec<f64> {
            (0..8)
                .map(|i| {
                    let a = field(&samples[1].gpus[i]).unwrap_or(0);
                    let b = field(&samples[2].gpus[i]).unwrap_or(0);
                    (b - a) as f64
                })
                .collect()
        };
        let tx = rates(|g| g.nvlink_tx_bytes);
        let rx = rates(|g| g.nvlink_rx_bytes);
        let all: Vec<f64> = tx.iter().chain(&rx).copied().collect();
        let max = all.iter().copied().fold(f64::MIN, f64::max);
        let min = all.iter().copied().fold(f64::MAX, f64::min);
        assert!(min > 140e9 && max < 260e9, "{min}..{max}");
        assert!(max / min < 1.03, "spread {min}..{max}");
    }
    // Both nodes of job 4411 move the same volume.
    let a = run(0, demo_profiles(0, 1), 9, &times);
    let b = run(1, demo_profiles(1, 1), 9, &times);
    let delta = |s: &[NodeSample]| {
        (s[2].gpus[0].nvlink_tx_bytes.unwrap_or(0) - s[1].gpus[0].nvlink_tx_bytes.unwrap_or(0))
            as f64
    };
    assert!((delta(&a) / delta(&b) - 1.0).abs() < 0.02);
}

#[test]
fn training_values_stay_in_their_ranges() {
    let samples = run(0, demo_profiles(0, 8), 11, &every_second(120));
    for gpu in samples.iter().flat_map(|s| &s.gpus) {
        assert!(
            (0.90..=1.0).contains(&gpu.utilization),
            "{}",
            gpu.utilization
        );
        let mem = gpu.memory_used_bytes as f64 / GIB;
        assert!((70.0..=78.0).contains(&mem), "{mem}");
        assert_eq!(gpu.memory_total_bytes, 80 * (1 << 30));
        assert!(
            (550.0..=690.0).contains(&gpu.power_watts),
            "{}",
            gpu.power_watts
        );
        assert!((60.0..=75.0).contains(&gpu.temperature_celsius));
        assert_eq!(gpu.power_limit_watts, Some(700.0));
        assert_eq!(gpu.model, "NVIDIA H100 80GB HBM3");
        assert_eq!(gpu.processes.len(), 1);
        let process = &gpu.processes[0];
        assert_eq!(process.executable, "python");
        assert!(process.memory_bytes > 0 && process.memory_bytes <= gpu.memory_used_bytes);
        let job = gpu.job.as_ref().expect("training GPUs have a job");
        assert_eq!(job.job_id.as_deref(), Some("4411"));
        assert_eq!(job.team.as_deref(), Some("llm-pretrain"));
        assert_eq!(process.job.as_ref(), Some(job));
    }
    let pids: HashSet<u32> = samples[0].gpus.iter().map(|g| g.processes[0].pid).collect();
    assert_eq!(pids.len(), 8);
}

#[test]
fn inference_oscillates_without_nvlink_traffic() {
    let samples = run(2, demo_profiles(2, 2), 3, &every_second(300));
    let utils: Vec<f64> = samples.iter().map(|s| s.gpus[0].utilization).collect();
    assert!(utils.iter().all(|u| (0.3..=0.8).contains(u)));
    let (min, max) = (
        utils.iter().copied().fold(1.0, f64::min),
        utils.iter().copied().fold(0.0, f64::max),
    );
    assert!(
        min < 0.4 && max > 0.7,
        "a full period swings the load: {min}..{max}"
    );
    let first = &samples[0].gpus[0];
    let last = &samples[299].gpus[0];
    assert!(first.nvlink_tx_bytes.is_some());
    assert_eq!(first.nvlink_tx_bytes, last.nvlink_tx_bytes);
    assert_eq!(first.nvlink_rx_bytes, last.nvlink_rx_bytes);
    assert!(last.pcie_tx_bytes > first.pcie_tx_bytes);
    assert_eq!(last.processes[0].executable, "vllm");
    let job = last.job.as_ref().expect("inference has a job");
    assert_eq!(job.job_id.as_deref(), Some("infer-llama-3.1-8b"));
    assert_eq!(job.team.as_deref(), Some("search"));
}

#[test]
fn idle_gpus_look_idle() {
    let samples = run(3, demo_profiles(3, 4), 8, &every_second(10));
    for sample in &samples {
        let (reserved, free) = sample.gpus.split_at(2);
        for gpu in reserved {
            assert!(gpu.utilization < 0.02);
            assert!(gpu.processes.is_empty());
            assert!(gpu.memory_used_bytes > 0 && gpu.memory_used_bytes < 1 << 30);
            assert!((60.0..=80.0).contains(&gpu.power_watts));
            assert_eq!(
                gpu.job.as_ref().and_then(|j| j.job_id.as_deref()),
                Some("4502")
            );
        }
        for gpu in free {
            assert_eq!(gpu.utilization, 0.0);
            assert_eq!(gpu.memory_used_bytes, 0);
            assert!(gpu.processes.is_empty());
            assert!(gpu.job.is_none());
            assert!((60.0..=80.0).contains(&gpu.power_watts));
        }
    }
}

#[test]
fn host_sample_is_consistent() {
    for node in 0..4 {
        let samples = run(node, demo_profiles(node, 8), 2, &every_second(5));
        for sample in &samples {
            let host = sample.host.as_ref().expect("simulated host");
            let cpu = host.cpu.expect("cpu modes");
            let sum = cpu.user + cpu.system + cpu.iowait + cpu.idle + cpu.steal;
            assert!((sum - 1.0).abs() < 1e-9, "{sum}");
            for v in [cpu.user, cpu.system, cpu.iowait, cpu.idle, cpu.steal] {
                assert!((0.0..=1.0).contains(&v));
            }
            assert_eq!(
                host.memory_used_bytes + host.memory_free_bytes + host.memory_cached_bytes,
                2048 * (1 << 30)
            );
            assert_eq!(host.disks[0].device, "nvme0n1");
            assert_eq!(host.networks[0].interface, "eth0");
        }
    }
}

#[test]
fn describe_counts_profiles() {
    let sampler = SimulatedSampler::new(3, demo_profiles(3, 4), 1);
    assert_eq!(
        sampler.describe(),
        "simulated node 3 (seed 1): 4 GPUs (2 reserved-idle, 2 free)"
    );
}
