//! Faults: each one's effect before and after its start, healthy GPUs untouched,
//! determinism, counters, the demo schedule, and the demo cluster checked against the
//! collector's default detector conditions.

use gpuwatch_model::Timestamp;
use std::time::Duration;

use gpuwatch_model::{AlertKind, GpuSample, HostSample, NodeSample, ThrottleReason};

use super::*;
use crate::sampler::Sampler;

const T0: u64 = 1_764_320_000_000_000_000;
const SECOND: u64 = 1_000_000_000;
const GIB: f64 = (1u64 << 30) as f64;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Samples at `T0 + s` seconds for each `s` in `seconds`.
fn run(
    node: usize,
    profiles: Vec<Profile>,
    faults: FaultSchedule,
    seconds: impl IntoIterator<Item = u64>,
) -> Vec<NodeSample> {
    let mut sampler = SimulatedSampler::new(node, profiles, 42).with_faults(faults);
    seconds
        .into_iter()
        .map(|s| {
            sampler
                .sample(Timestamp::from_unix_nanos_u64(T0 + s * SECOND))
                .expect("simulation never fails")
        })
        .collect()
}

fn healthy(node: usize, profiles: Vec<Profile>, seconds: u64) -> Vec<NodeSample> {
    run(node, profiles, FaultSchedule::new(), 0..seconds)
}

fn host(s: &NodeSample) -> &HostSample {
    s.host.as_ref().expect("simulated host")
}

fn nvlink(g: &GpuSample) -> u64 {
    g.nvlink_tx_bytes.unwrap_or(0) + g.nvlink_rx_bytes.unwrap_or(0)
}

fn traffic(g: &GpuSample) -> u64 {
    nvlink(g) + g.pcie_tx_bytes.unwrap_or(0) + g.pcie_rx_bytes.unwrap_or(0)
}

/// The instantaneous readings, without the counters (which remember the past).
fn gauges(g: &GpuSample) -> GpuSample {
    GpuSample {
        energy_joules: None,
        pcie_tx_bytes: None,
        pcie_rx_bytes: None,
        nvlink_tx_bytes: None,
        nvlink_rx_bytes: None,
        ..g.clone()
    }
}

fn in_range(what: &str, v: f64, lo: f64, hi: f64) {
    assert!((lo..=hi).contains(&v), "{what}: {v} not in {lo}..={hi}");
}

#[test]
fn an_empty_schedule_changes_nothing() {
    for node in 0..8 {
        let profiles = demo_profiles(node, 4);
        let plain = {
            let mut s = SimulatedSampler::new(node, profiles.clone(), 42);
            (0..120)
                .map(|i| {
                    s.sample(Timestamp::from_unix_nanos_u64(T0 + i * SECOND))
                        .expect("sample")
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(plain, healthy(node, profiles, 120), "node {node}");
    }
}

#[test]
fn samples_before_the_first_fault_are_the_healthy_ones() {
    for node in 0..6 {
        let profiles = demo_profiles(node, 8);
        let faulty = run(node, profiles.clone(), FaultSchedule::demo(node, 8), 0..30);
        assert_eq!(faulty, healthy(node, profiles, 30), "node {node}");
    }
}

#[test]
fn hang_pins_utilization_at_idle_power_and_stops_traffic() {
    let profiles = demo_profiles(1, 8);
    let faults = FaultSchedule::new().node(Fault::Hang, secs(10));
    let faulty = run(1, profiles.clone(), faults, 0..60);
    let plain = healthy(1, profiles, 60);
    for t in 0..10 {
        assert_eq!(faulty[t], plain[t]);
    }
    for t in 10..60 {
        for (g, h) in faulty[t].gpus.iter().zip(&plain[t].gpus) {
            in_range("utilization", g.utilization, 0.99, 1.0);
            in_range("power", g.power_watts, 75.0, 90.0);
            assert!(g.power_watts <= 0.35 * 700.0);
            // Counters stop where the last healthy sample left them.
            assert_eq!(traffic(g), traffic(&faulty[9].gpus[g.index as usize]));
            assert!(g.energy_joules > faulty[t - 1].gpus[g.index as usize].energy_joules);
            // The process keeps its memory.
            assert_eq!(g.memory_used_bytes, h.memory_used_bytes);
            assert_eq!(g.processes, h.processes);
            assert_eq!(g.job, h.job);
            assert!(g.throttle.is_empty() && g.xid_counts.is_empty());
        }
    }
}

#[test]
fn hang_on_one_gpu_leaves_the_others_alone() {
    let profiles = demo_profiles(0, 4);
    let faults = FaultSchedule::new().gpu(2, Fault::Hang, secs(5));
    let faulty = run(0, profiles.clone(), faults, 0..20);
    let plain = healthy(0, profiles, 20);
    for (f, h) in faulty.iter().zip(&plain) {
        for i in [0, 1, 3] {
            assert_eq!(f.gpus[i], h.gpus[i]);
        }
        assert_eq!(f.host, h.host);
    }
    in_range("utilization", faulty[5].gpus[2].utilization, 0.99, 1.0);
}

#[test]
fn stall_gives_a_free_gpu_a_process_that_holds_memory_and_does_nothing() {
    let profiles = demo_profiles(3, 8);
    assert_eq!(profiles[7], Profile::FreeIdle);
    let faults = FaultSchedule::new().gpu(7, Fault::Stall, secs(10));
    let faulty = run(3, profiles.clone(), faults, 0..40);
    let plain = healthy(3, profiles, 40);
    for t in 0..10 {
        assert_eq!(faulty[t], plain[t]);
        assert!(faulty[t].gpus[7].processes.is_empty());
        assert_eq!(faulty[t].gpus[7].memory_used_bytes, 0);
    }
    for t in 10..40 {
        let g = &faulty[t].gpus[7];
        in_range("utilization", g.utilization, 0.0, 0.02);
        in_range("power", g.power_watts, 66.0, 74.0);
        let mem = g.memory_used_bytes as f64 / GIB;
        in_range("memory GiB", mem, 20.0, 28.0);
        assert_eq!(g.processes.len(), 1);
        assert_eq!(g.processes[0].executable, "python");
        assert!(g.processes[0].memory_bytes as f64 >= GIB);
        assert!(g.job.is_none());
        assert_eq!(traffic(g), traffic(&faulty[9].gpus[7]));
        // The memory is the same every sample.
        assert_eq!(g.memory_used_bytes, faulty[10].gpus[7].memory_used_bytes);
        for i in 0..7 {
            assert_eq!(faulty[t].gpus[i], plain[t].gpus[i]);
        }
    }
}

#[test]
fn stall_on_a_training_gpu_keeps_its_memory_and_process() {
    let profiles = demo_profiles(0, 2);
    let faults = FaultSchedule::new().gpu(0, Fault::Stall, secs(3));
    let faulty = run(0, profiles.clone(), faults, 0..10);
    let plain = healthy(0, profiles, 10);
    for t in 3..10 {
        let (g, h) = (&faulty[t].gpus[0], &plain[t].gpus[0]);
        assert!(g.utilization < 0.02);
        assert_eq!(g.memory_used_bytes, h.memory_used_bytes);
        assert_eq!(g.processes, h.processes);
        assert_eq!(nvlink(g), nvlink(&faulty[2].gpus[0]));
    }
}

#[test]
fn straggler_runs_at_half_the_nvlink_rate_of_its_peers() {
    let profiles = demo_profiles(0, 8);
    let faults = FaultSchedule::new().gpu(6, Fault::Straggler, secs(30));
    let faulty = run(0, profiles.clone(), faults, 0..60);
    let plain = healthy(0, profiles, 60);
    for t in 0..30 {
        assert_eq!(faulty[t], plain[t]);
    }
    for t in 30..60 {
        let g = &faulty[t].gpus[6];
        in_range("utilization", g.utilization, 0.55, 0.65);
        in_range("power", g.power_watts, 370.0, 460.0);
        for i in (0..8).filter(|i| *i != 6) {
            assert_eq!(faulty[t].gpus[i], plain[t].gpus[i]);
        }
        let delta = |i: usize| (nvlink(&faulty[t].gpus[i]) - nvlink(&faulty[t - 1].gpus[i])) as f64;
        let mut peers: Vec<f64> = (0..8).filter(|i| *i != 6).map(delta).collect();
        peers.sort_by(f64::total_cmp);
        in_range("share of the peers' rate", delta(6) / peers[3], 0.48, 0.52);
    }
    assert_eq!(faulty[40].gpus[6].processes, plain[40].gpus[6].processes);
}

/// 130 s of a 4-GPU node with `fault` on the whole node from 10 s, and without it.
fn starved(fault: Fault, node: usize) -> (Vec<NodeSample>, Vec<NodeSample>) {
    let profiles = demo_profiles(node, 4);
    let faulty = run(
        node,
        profiles.clone(),
        FaultSchedule::new().node(fault, secs(10)),
        0..130,
    );
    (faulty, healthy(node, profiles, 130))
}

fn oscillates(samples: &[NodeSample]) {
    for gpu in 0..samples[0].gpus.len() {
        let utils: Vec<f64> = samples.iter().map(|s| s.gpus[gpu].utilization).collect();
        for u in &utils {
            in_range("utilization", *u, 0.2, 0.9);
        }
        let min = utils.iter().copied().fold(1.0, f64::min);
        let max = utils.iter().copied().fold(0.0, f64::max);
        assert!(min < 0.3 && max > 0.8, "gpu{gpu}: {min}..{max}");
        let mean = utils.iter().sum::<f64>() / utils.len() as f64;
        in_range("mean utilization", mean, 0.45, 0.65);
    }
}

#[test]
fn storage_bound_starves_the_gpus_and_saturates_the_disk() {
    let (faulty, plain) = starved(Fault::StorageBound, 4);
    for t in 0..10 {
        assert_eq!(faulty[t], plain[t]);
    }
    oscillates(&faulty[10..]);
    for t in 10..130 {
        let cpu = host(&faulty[t]).cpu.expect("cpu");
        in_range("iowait", cpu.iowait, 0.40, 0.50);
        let sum = cpu.user + cpu.system + cpu.iowait + cpu.idle + cpu.steal;
        assert!((sum - 1.0).abs() < 1e-9 && cpu.idle >= 0.0);
        let (a, b) = (&host(&faulty[t - 1]).disks[0], &host(&faulty[t]).disks[0]);
        in_range(
            "disk busy s/s",
            b.io_time_seconds - a.io_time_seconds,
            0.99,
            1.0,
        );
        in_range(
            "disk read GB/s",
            (b.read_bytes - a.read_bytes) as f64 / 1e9,
            3.15,
            3.25,
        );
        // The GPUs' traffic follows their utilization.
        let g = &faulty[t].gpus[0];
        let rate = (nvlink(g) - nvlink(&faulty[t - 1].gpus[0])) as f64;
        let healthy_rate = (nvlink(&plain[t].gpus[0]) - nvlink(&plain[t - 1].gpus[0])) as f64;
        let ratio = rate / healthy_rate / (g.utilization / plain[t].gpus[0].utilization);
        in_range("traffic per utilization", ratio, 0.99, 1.01);
    }
    // Healthy training: the disk is far from busy.
    let (a, b) = (&host(&plain[20]).disks[0], &host(&plain[21]).disks[0]);
    assert!(b.io_time_seconds - a.io_time_seconds < 0.6);
}

#[test]
fn cpu_bound_starves_the_gpus_and_saturates_the_cpus() {
    let (faulty, plain) = starved(Fault::CpuBound, 5);
    for t in 0..10 {
        assert_eq!(faulty[t], plain[t]);
    }
    oscillates(&faulty[10..]);
    for t in 10..130 {
        let cpu = host(&faulty[t]).cpu.expect("cpu");
        in_range("user + system", cpu.user + cpu.system, 0.965, 0.99);
        assert!(cpu.iowait < 0.01 && cpu.idle >= 0.0);
        let (a, b) = (&host(&faulty[t - 1]).disks[0], &host(&faulty[t]).disks[0]);
        let (ha, hb) = (&host(&plain[t - 1]).disks[0], &host(&plain[t]).disks[0]);
        assert_eq!(
            b.io_time_seconds - a.io_time_seconds,
            hb.io_time_seconds - ha.io_time_seconds
        );
    }
}

#[test]
fn a_starved_node_leaves_idle_gpus_idle() {
    let profiles = demo_profiles(3, 4);
    let faulty = run(
        3,
        profiles.clone(),
        FaultSchedule::new().node(Fault::StorageBound, secs(0)),
        0..20,
    );
    let plain = healthy(3, profiles, 20);
    for (f, h) in faulty.iter().zip(&plain) {
        assert_eq!(f.gpus, h.gpus);
        assert_ne!(f.host, h.host);
    }
}

#[test]
fn xid_counts_once_at_its_start_and_stays() {
    let profiles = demo_profiles(1, 8);
    let faults = FaultSchedule::new()
        .gpu(3, Fault::Xid(79), secs(45))
        // An end does not undo an event.
        .with(Target::Gpu(4), Fault::Xid(13), secs(50), Some(secs(55)));
    let faulty = run(1, profiles.clone(), faults, 0..120);
    let plain = healthy(1, profiles, 120);
    for t in 0..45 {
        assert_eq!(faulty[t], plain[t]);
    }
    for t in 45..120 {
        assert_eq!(faulty[t].gpus[3].xid_counts, [(79, 1)].into());
        let mut g = faulty[t].gpus[3].clone();
        g.xid_counts.clear();
        assert_eq!(g, plain[t].gpus[3], "nothing else changes");
    }
    assert!(faulty[49].gpus[4].xid_counts.is_empty());
    assert_eq!(faulty[50].gpus[4].xid_counts, [(13, 1)].into());
    assert_eq!(faulty[119].gpus[4].xid_counts, [(13, 1)].into());
    assert!(faulty[119].gpus[0].xid_counts.is_empty());
}

#[test]
fn repeated_xids_add_up() {
    let faults = FaultSchedule::new()
        .gpu(0, Fault::Xid(79), secs(1))
        .gpu(0, Fault::Xid(79), secs(3))
        .node(Fault::Xid(48), secs(2));
    let s = run(0, demo_profiles(0, 2), faults, 0..5);
    assert!(s[0].gpus[0].xid_counts.is_empty());
    assert_eq!(s[1].gpus[0].xid_counts, [(79, 1)].into());
    assert_eq!(s[2].gpus[0].xid_counts, [(48, 1), (79, 1)].into());
    assert_eq!(s[4].gpus[0].xid_counts, [(48, 1), (79, 2)].into());
    assert_eq!(s[4].gpus[1].xid_counts, [(48, 1)].into());
}

#[test]
fn thermal_throttle_is_hot_slow_and_says_why() {
    let profiles = demo_profiles(2, 8);
    let faults = FaultSchedule::new().gpu(5, Fault::ThermalThrottle, secs(60));
    let faulty = run(2, profiles.clone(), faults, 0..120);
    let plain = healthy(2, profiles, 120);
    for t in 0..60 {
        assert_eq!(faulty[t], plain[t]);
        assert!(faulty[t].gpus[5].throttle.is_empty());
        assert!(faulty[t].gpus[5].temperature_celsius < 80.0);
    }
    for t in 60..120 {
        let (g, h) = (&faulty[t].gpus[5], &plain[t].gpus[5]);
        assert_eq!(g.throttle, vec![ThrottleReason::HwThermal]);
        in_range("temperature", g.temperature_celsius, 88.0, 92.0);
        let clock = g.sm_clock_hz.expect("clock") / h.sm_clock_hz.expect("clock");
        in_range("clock ratio", clock, 0.6999, 0.7001);
        assert_eq!(g.utilization, h.utilization);
        for i in (0..8).filter(|i| *i != 5) {
            assert_eq!(faulty[t].gpus[i], plain[t].gpus[i]);
        }
    }
}

#[test]
fn a_fault_that_ends_gives_back_the_healthy_readings() {
    let profiles = demo_profiles(0, 2);
    let faults = FaultSchedule::new()
        .with(Target::Node, Fault::Hang, secs(10), Some(secs(20)))
        .with(
            Target::Gpu(1),
            Fault::ThermalThrottle,
            secs(5),
            Some(secs(8)),
        );
    let faulty = run(0, profiles.clone(), faults, 0..40);
    let plain = healthy(0, profiles, 40);
    for t in (0..5).chain(8..10).chain(20..40) {
        for (f, h) in faulty[t].gpus.iter().zip(&plain[t].gpus) {
            assert_eq!(gauges(f), gauges(h), "t = {t}");
        }
    }
    assert!(faulty[19].gpus[0].utilization >= 0.99);
    assert!(!faulty[7].gpus[1].throttle.is_empty());
    // Frozen during the hang, growing at the healthy rate after it.
    let g = |t: usize| &faulty[t].gpus[0];
    assert_eq!(traffic(g(19)), traffic(g(9)));
    assert!(traffic(g(20)) > traffic(g(19)));
    let h = |t: usize| &plain[t].gpus[0];
    assert_eq!(
        traffic(g(30)) - traffic(g(29)),
        traffic(h(30)) - traffic(h(29))
    );
}

#[test]
fn faults_count_from_the_first_sample_and_stay_deterministic() {
    let schedule = FaultSchedule::demo(1, 4);
    let at = |start: u64| {
        let mut s = SimulatedSampler::new(1, demo_profiles(1, 4), 42).with_faults(schedule.clone());
        (0..100)
            .map(|i| {
                s.sample(Timestamp::from_unix_nanos_u64(start + i * SECOND))
                    .expect("sample")
            })
            .collect::<Vec<_>>()
    };
    let a = at(T0);
    assert_eq!(a, at(T0), "same inputs, same samples");
    let later = at(T0 + 3_600 * SECOND);
    for (x, y) in a.iter().zip(&later) {
        for (g, h) in x.gpus.iter().zip(&y.gpus) {
            assert_eq!(g.xid_counts, h.xid_counts);
            assert_eq!(g.power_watts <= 90.0, h.power_watts <= 90.0);
        }
    }
    assert!(a[44].gpus[3].xid_counts.is_empty());
    assert_eq!(later[45].gpus[3].xid_counts, [(79, 1)].into());
    assert!(later[95].gpus.iter().all(|g| g.power_watts <= 90.0));
}

#[test]
fn counters_never_decrease_under_faults_even_when_time_goes_back() {
    let mut seconds: Vec<u64> = (0..200).collect();
    seconds.insert(100, 50);
    seconds.insert(20, 0);
    for node in 0..8 {
        let samples = run(
            node,
            demo_profiles(node, 8),
            FaultSchedule::demo(node, 8),
            seconds.iter().copied(),
        );
        for pair in samples.windows(2) {
            for (a, b) in pair[0].gpus.iter().zip(&pair[1].gpus) {
                assert!(b.energy_joules >= a.energy_joules);
                assert!(b.nvlink_tx_bytes >= a.nvlink_tx_bytes);
                assert!(b.nvlink_rx_bytes >= a.nvlink_rx_bytes);
                assert!(b.pcie_tx_bytes >= a.pcie_tx_bytes);
                assert!(b.pcie_rx_bytes >= a.pcie_rx_bytes);
                for (code, n) in &a.xid_counts {
                    assert!(b.xid_counts.get(code).copied().unwrap_or(0) >= *n);
                }
            }
            let (ha, hb) = (host(&pair[0]), host(&pair[1]));
            assert!(hb.disks[0].read_bytes >= ha.disks[0].read_bytes);
            assert!(hb.disks[0].io_time_seconds >= ha.disks[0].io_time_seconds);
            assert!(hb.networks[0].rx_bytes >= ha.networks[0].rx_bytes);
        }
    }
}

#[test]
fn the_demo_schedule_follows_the_demo_layout() {
    let faults = |node, gpus| FaultSchedule::demo(node, gpus).faults().to_vec();
    let one = |target, fault, start| ScheduledFault {
        target,
        fault,
        start: secs(start),
        end: None,
    };
    assert_eq!(
        faults(0, 8),
        [
            one(Target::Gpu(6), Fault::Straggler, 30),
            one(Target::Gpu(6), Fault::LinkDegraded, 30)
        ]
    );
    assert_eq!(
        faults(1, 8),
        [
            one(Target::Gpu(3), Fault::Xid(79), 45),
            one(Target::Node, Fault::Hang, 90)
        ]
    );
    assert_eq!(
        faults(2, 8),
        [
            one(Target::Gpu(5), Fault::ThermalThrottle, 60),
            one(Target::Node, Fault::PredictionDrift, 420),
            one(Target::Node, Fault::LatencyRegression, 420)
        ]
    );
    assert_eq!(faults(3, 8), [one(Target::Gpu(7), Fault::Stall, 60)]);
    assert_eq!(faults(4, 8), [one(Target::Node, Fault::StorageBound, 60)]);
    assert_eq!(faults(5, 8), [one(Target::Node, Fault::CpuBound, 60)]);
    assert_eq!(faults(8, 8), [one(Target::Node, Fault::NfsBound, 60)]);
    assert_eq!(faults(9, 8), [one(Target::Node, Fault::NfsBound, 60)]);
    for node in (6..16).filter(|n| !matches!(n, 8 | 9)) {
        assert!(FaultSchedule::demo(node, 8).is_empty(), "node {node}");
    }
    // The faults land on the GPUs the story needs, whatever the node's size.
    for gpus in 1..=8 {
        for node in (0..6).chain([8, 9]) {
            let profiles = demo_profiles(node, gpus);
            for f in FaultSchedule::demo(node, gpus).faults() {
                if let Target::Gpu(i) = f.target {
                    assert!(i < gpus, "node {node}, {gpus} GPUs: {f:?}");
                    let want_kind = match f.fault {
                        Fault::Stall => "free",
                        Fault::ThermalThrottle => "inference",
                        _ => "training",
                    };
                    assert_eq!(profiles[i].kind(), want_kind, "node {node}, {gpus} GPUs");
                }
            }
        }
    }
    assert!(
        FaultSchedule::demo(3, 1).is_empty(),
        "a lone reserved GPU stays idle"
    );
    assert!(FaultSchedule::demo(1, 0).is_empty());
    assert_eq!(
        faults(0, 4),
        [
            one(Target::Gpu(3), Fault::Straggler, 30),
            one(Target::Gpu(3), Fault::LinkDegraded, 30)
        ]
    );
    let kinds: Vec<AlertKind> = (0..10)
        .flat_map(|n| FaultSchedule::demo(n, 8).faults().to_vec())
        .map(|f| f.fault.alert())
        .collect();
    assert_eq!(
        kinds,
        [
            AlertKind::GpuStraggler,
            AlertKind::FabricDegraded,
            AlertKind::GpuXid,
            AlertKind::GpuHang,
            AlertKind::GpuThrottle,
            AlertKind::ModelDrift,
            AlertKind::LatencyRegression,
            AlertKind::GpuStalled,
            AlertKind::DataBottleneck,
            AlertKind::DataBottleneck,
            AlertKind::DataBottleneck,
            AlertKind::DataBottleneck
        ]
    );
}

/// The fabric and file system read beside each of `seconds` samples.
fn io_run(
    node: usize,
    faults: FaultSchedule,
    seconds: impl IntoIterator<Item = u64>,
) -> Vec<(NodeSample, crate::host::HostIo)> {
    let mut sampler = SimulatedSampler::new(node, demo_profiles(node, 4), 42).with_faults(faults);
    seconds
        .into_iter()
        .map(|s| {
            let sample = sampler
                .sample(Timestamp::from_unix_nanos_u64(T0 + s * SECOND))
                .expect("simulated");
            let io = sampler.take_host_io().expect("simulated io");
            assert!(sampler.take_host_io().is_none(), "taken once");
            (sample, io)
        })
        .collect()
}

#[test]
fn every_node_has_a_port_per_gpu_and_the_datasets_mount() {
    let run = io_run(0, FaultSchedule::new(), 0..30);
    let (_, io) = &run[29];
    let ids: Vec<String> = io.fabric.iter().map(|p| p.hw_id()).collect();
    assert_eq!(ids, ["mlx5_0:1", "mlx5_1:1", "mlx5_2:1", "mlx5_3:1"]);
    for (i, port) in io.fabric.iter().enumerate() {
        assert_eq!(port.rate_bytes_per_second, Some(50e9));
        assert_eq!(port.up, Some(true));
        let before = &run[28].1.fabric[i];
        // Training all-reduce: about 12 GB/s each way.
        let rx = (port.rx_bytes.expect("rx") - before.rx_bytes.expect("rx")) as f64;
        in_range("port GB/s", rx / 1e9, 11.0, 13.0);
        assert_eq!(
            port.errors, before.errors,
            "no error rises on a healthy port"
        );
    }
    let nfs = &io.filesystems[0];
    assert_eq!(
        (nfs.mountpoint.as_deref(), nfs.fstype.as_str()),
        (Some("/datasets"), "nfs4")
    );
    let before = &run[28].1.filesystems[0];
    let read = (nfs.read_bytes.expect("read") - before.read_bytes.expect("read")) as f64;
    in_range("NFS MB/s", read / 1e6, 250.0, 350.0);
    let (ops, queued) = (
        nfs.operations[0].operations - before.operations[0].operations,
        nfs.operations[0].queue_ms - before.operations[0].queue_ms,
    );
    assert!(
        queued as f64 / ops as f64 <= 1.0,
        "{queued} ms over {ops} READs"
    );
}

#[test]
fn a_degraded_link_runs_at_half_rate_with_rising_symbol_errors() {
    let run = io_run(
        0,
        FaultSchedule::new().gpu(2, Fault::LinkDegraded, secs(10)),
        0..40,
    );
    let symbol = |io: &crate::host::HostIo, port: usize| io.fabric[port].errors[0].1;
    assert_eq!(run[9].1.fabric[2].rate_bytes_per_second, Some(50e9));
    assert_eq!(run[39].1.fabric[2].rate_bytes_per_second, Some(25e9));
    assert_eq!(run[39].1.fabric[1].rate_bytes_per_second, Some(50e9));
    let rose = symbol(&run[39].1, 2) - symbol(&run[10].1, 2);
    in_range("symbol errors in 29 s", rose as f64, 29.0, 150.0);
    assert_eq!(symbol(&run[39].1, 1), symbol(&run[10].1, 1));
}

#[test]
fn nfs_bound_starves_the_gpus_reads_at_the_ceiling_and_queues() {
    let run = io_run(
        8,
        FaultSchedule::new().node(Fault::NfsBound, secs(10)),
        0..130,
    );
    let samples: Vec<NodeSample> = run.iter().map(|(s, _)| s.clone()).collect();
    oscillates(&samples[10..]);
    for t in 11..130 {
        let (a, b) = (&run[t - 1].1.filesystems[0], &run[t].1.filesystems[0]);
        let read = (b.read_bytes.expect("read") - a.read_bytes.expect("read")) as f64;
        in_range("NFS GB/s", read / 1e9, 1.12, 1.18);
        let cpu = host(&run[t].0).cpu.expect("cpu");
        assert!(cpu.iowait < 0.1, "iowait stays low: {}", cpu.iowait);
    }
    let (a, b) = (&run[20].1.filesystems[0], &run[120].1.filesystems[0]);
    let ops = (b.operations[0].operations - a.operations[0].operations) as f64;
    let queued = (b.operations[0].queue_ms - a.operations[0].queue_ms) as f64;
    in_range("ms queued a READ", queued / ops, 40.0, 60.0);
}

#[test]
fn describe_counts_the_faults() {
    let s = SimulatedSampler::new(1, demo_profiles(1, 2), 1).with_faults(FaultSchedule::demo(1, 2));
    assert_eq!(
        s.describe(),
        "simulated node 1 (seed 1): 2 GPUs (2 training), 2 scheduled faults"
    );
    assert_eq!(s.faults().faults().len(), 2);
    assert_eq!(Fault::Xid(79).name(), "xid");
}

/// The collector's default conditions (collector/src/detect/{hang,stall,throttle}.rs),
/// over the 1-minute window `(t - 60 s, t]` of one GPU's samples, one per second.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Conditions {
    hang: bool,
    stall: bool,
    throttle: bool,
}

/// A condition's name and whether it holds.
type Check = (&'static str, fn(&Conditions) -> bool);

fn conditions(window: &[&GpuSample]) -> Conditions {
    let n = window.len() as f64;
    let mean = |f: fn(&GpuSample) -> f64| window.iter().map(|g| f(g)).sum::<f64>() / n;
    let util = mean(|g| g.utilization);
    let power = mean(|g| g.power_watts);
    let (first, last) = (window[0], window[window.len() - 1]);
    let io = (traffic(last) - traffic(first)) as f64 / (n - 1.0);
    let held = last
        .processes
        .iter()
        .map(|p| p.memory_bytes)
        .max()
        .unwrap_or(0);
    let hot = window
        .iter()
        .filter(|g| g.throttle.contains(&ThrottleReason::HwThermal))
        .count() as f64;
    Conditions {
        hang: util >= 0.95 && power <= 0.35 * 700.0 && io <= 50e6,
        stall: held as f64 >= GIB && util < 0.05,
        throttle: hot / n >= 0.8,
    }
}

#[test]
fn the_demo_trips_exactly_the_expected_detector_conditions() {
    const END: usize = 720;
    let gpus = 8;
    // (node, gpu) -> (condition, first second from which it holds to the end)
    let mut onsets: Vec<(usize, usize, &str, usize)> = Vec::new();
    for node in 0..8 {
        let samples = run(
            node,
            demo_profiles(node, gpus),
            FaultSchedule::demo(node, gpus),
            0..END as u64,
        );
        for gpu in 0..gpus {
            let series: Vec<&GpuSample> = samples.iter().map(|s| &s.gpus[gpu]).collect();
            let by_time: Vec<Conditions> =
                (59..END).map(|t| conditions(&series[t - 59..=t])).collect();
            let checks: [Check; 3] = [
                ("hang", |c| c.hang),
                ("stall", |c| c.stall),
                ("throttle", |c| c.throttle),
            ];
            for (name, holds) in checks {
                let Some(first) = by_time.iter().position(holds) else {
                    continue;
                };
                assert!(
                    by_time[first..].iter().all(holds),
                    "node {node} gpu{gpu}: {name} flaps"
                );
                onsets.push((node, gpu, name, first + 59));
            }
        }
    }
    let mut want: Vec<(usize, usize, &str, usize)> = (0..8).map(|g| (1, g, "hang", 148)).collect();
    want.push((2, 5, "throttle", 107));
    want.push((3, 7, "stall", 60));
    assert_eq!(onsets, want);
}
