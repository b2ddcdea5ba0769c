//! The NVML sampler against a fake `libnvidia-ml.so` (tests/fake_nvml/): the real
//! nvml-wrapper code path, with no GPU and no driver on the machine. Every scenario has
//! its own copy of the library, so they run in parallel.

mod fake_nvml;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fake_nvml::logs::Logs;
use fake_nvml::{Driver, FakeGpu, FakeMig, FakeNvml, GIB};
use gpuwatch_agent::{NvmlError, NvmlSampler, Sampler};
use gpuwatch_model::{GpuSample, NodeSample, ThrottleReason, Timestamp};
use nvml_wrapper::bitmasks::device::ThrottleReasons;

const SECOND: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000 * SECOND;
/// NVML's "not available" for a process's memory.
const NOT_AVAILABLE: u64 = u64::MAX;

fn open(fake: &FakeNvml) -> NvmlSampler {
    NvmlSampler::open(Some(fake.library())).expect("the fake NVML opens")
}

fn sample(nvml: &mut NvmlSampler, time: u64) -> NodeSample {
    nvml.sample(Timestamp::from_unix_nanos_u64(time))
        .expect("the fake NVML counts its GPUs")
}

fn gpu(sample: &NodeSample, index: u32) -> &GpuSample {
    sample
        .gpus
        .iter()
        .find(|g| g.index == index)
        .unwrap_or_else(|| panic!("gpu{index} in the sample"))
}

fn percent(value: u32) -> f64 {
    f64::from(value) / 100.0
}

/// Samples every 50 ms until `check` holds, failing after 10 s.
fn sample_until(
    nvml: &mut NvmlSampler,
    what: &str,
    check: impl Fn(&NodeSample) -> bool,
) -> NodeSample {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut time = T0;
    loop {
        time += SECOND;
        let s = sample(nvml, time);
        if check(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the XID thread has registered its GPUs (it logs so), failing after 10 s.
fn wait_for_xid_thread(logs: &Logs) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while logs.matching(&["waiting for XID events"]).is_empty() {
        assert!(Instant::now() < deadline, "the XID thread did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn xids(pairs: &[(u32, u64)]) -> BTreeMap<u32, u64> {
    pairs.iter().copied().collect()
}

/// Every field of `got` as NVML served `want`; PCIe bytes are checked by the caller.
fn assert_gpu(got: &GpuSample, index: u32, want: &FakeGpu) {
    let name = format!("gpu{index}");
    assert_eq!(got.index, index);
    assert_eq!(got.uuid, want.uuid, "{name}");
    assert_eq!(got.model, want.name, "{name}");
    assert_eq!(got.utilization, percent(want.utilization), "{name}");
    assert_eq!(
        got.encoder_utilization,
        Some(percent(want.encoder)),
        "{name}"
    );
    assert_eq!(
        got.decoder_utilization,
        Some(percent(want.decoder)),
        "{name}"
    );
    assert_eq!(got.memory_used_bytes, want.memory_used, "{name}");
    assert_eq!(got.memory_total_bytes, want.memory_total, "{name}");
    assert_eq!(got.power_watts, f64::from(want.power_mw) / 1000.0, "{name}");
    assert_eq!(
        got.power_limit_watts,
        Some(f64::from(want.power_limit_mw) / 1000.0),
        "{name}"
    );
    assert_eq!(
        got.energy_joules,
        Some(want.energy_mj as f64 / 1000.0),
        "{name}"
    );
    assert_eq!(
        got.temperature_celsius,
        f64::from(want.temperature),
        "{name}"
    );
    assert_eq!(
        got.sm_clock_hz,
        Some(f64::from(want.sm_clock_mhz) * 1e6),
        "{name}"
    );
    // Volatile counts; the fake serves aggregate ones 1000 higher.
    assert_eq!(got.ecc_corrected, Some(want.ecc_corrected), "{name}");
    assert_eq!(got.ecc_uncorrected, Some(want.ecc_uncorrected), "{name}");
    let (tx, rx) = want.nvlink_bytes();
    if want.nvlink_kib.is_empty() {
        assert_eq!(
            (got.nvlink_tx_bytes, got.nvlink_rx_bytes),
            (None, None),
            "{name}"
        );
    } else {
        assert_eq!(got.nvlink_tx_bytes, Some(tx), "{name}");
        assert_eq!(got.nvlink_rx_bytes, Some(rx), "{name}");
    }
}

#[test]
fn eight_gpus_with_nvlink_report_every_field() {
    let own_pid = std::process::id();
    let own_name = std::fs::read_to_string(format!("/proc/{own_pid}/comm"))
        .expect("this process's comm")
        .trim()
        .to_string();
    let mut gpus: Vec<FakeGpu> = (0..8).map(FakeGpu::h100).collect();
    gpus[3].throttle = (ThrottleReasons::SW_POWER_CAP | ThrottleReasons::GPU_IDLE).bits();
    gpus[6].throttle = (ThrottleReasons::HW_THERMAL_SLOWDOWN | ThrottleReasons::HW_SLOWDOWN).bits();
    gpus[5].ecc_uncorrected = 2;
    gpus[0].processes = vec![(own_pid, 4 * GIB), (4_000_000_001, GIB)];
    gpus[1].processes = vec![(4_000_000_002, NOT_AVAILABLE)];
    let mut fake = FakeNvml::new("eight-gpus", Driver::Current, gpus);
    let (logs, _guard) = Logs::capture();
    let mut nvml = open(&fake);

    let first = sample(&mut nvml, T0);
    assert_eq!(first.time_unix_nano.unix_nanos_u64(), T0);
    assert_eq!(first.gpus.len(), 8);
    for (i, want) in fake.gpus.iter().enumerate() {
        let got = &first.gpus[i];
        assert_gpu(got, i as u32, want);
        // No interval yet: PCIe bytes start at 0.
        assert_eq!((got.pcie_tx_bytes, got.pcie_rx_bytes), (Some(0), Some(0)));
        assert!(got.xid_counts.is_empty());
        assert_eq!(got.job, None);
    }
    // 18 links of (i*100 + link + 1) * 1000 KiB out: 171 000 KiB on gpu0, not link 0's 1000.
    assert_eq!(first.gpus[0].nvlink_tx_bytes, Some(171_000 * 1024));
    assert_eq!(first.gpus[0].nvlink_rx_bytes, Some(3 * 171_000 * 1024));
    assert_eq!(first.gpus[3].throttle, vec![ThrottleReason::SwPowerCap]);
    assert_eq!(
        first.gpus[6].throttle,
        vec![ThrottleReason::HwThermal, ThrottleReason::HwSlowdown]
    );
    assert!(first.gpus[0..3].iter().all(|g| g.throttle.is_empty()));

    let processes: Vec<_> = first.gpus[0]
        .processes
        .iter()
        .map(|p| (p.pid, p.executable.as_str(), p.memory_bytes))
        .collect();
    assert_eq!(
        processes,
        vec![
            (own_pid, own_name.as_str(), 4 * GIB),
            (4_000_000_001, "unknown", GIB)
        ]
    );
    let unavailable = &first.gpus[1].processes;
    assert_eq!(unavailable.len(), 1);
    assert_eq!(
        (unavailable[0].pid, unavailable[0].memory_bytes),
        (4_000_000_002, 0)
    );
    assert!(first.gpus[2..].iter().all(|g| g.processes.is_empty()));

    // Two seconds later: PCIe TX ramped to 3x, NVLink moved 500 KiB out and in per link.
    for (i, g) in fake.gpus.iter_mut().enumerate() {
        g.pcie_tx_kbs = 3000 * (i as u32 + 1);
        for (tx, rx) in &mut g.nvlink_kib {
            *tx += 500;
            *rx += 500;
        }
        g.energy_mj += 600_000;
        g.utilization = 99;
    }
    fake.write();
    let second = sample(&mut nvml, T0 + 2 * SECOND);
    for (i, want) in fake.gpus.iter().enumerate() {
        let got = &second.gpus[i];
        assert_gpu(got, i as u32, want);
        let n = i as u64 + 1;
        // The trapezoid of 1000n and 3000n KB/s over 2 s; RX steady at 2000n KB/s.
        assert_eq!(got.pcie_tx_bytes, Some(4000 * n * 1024), "gpu{i}");
        assert_eq!(got.pcie_rx_bytes, Some(4000 * n * 1024), "gpu{i}");
        let moved = 18 * 500 * 1024;
        assert_eq!(
            got.nvlink_tx_bytes,
            first.gpus[i].nvlink_tx_bytes.map(|b| b + moved)
        );
    }
    let noisy: Vec<_> = logs
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("WARN") || l.starts_with("ERROR"))
        .collect();
    assert!(noisy.is_empty(), "{noisy:#?}");
}

#[test]
fn a_gpu_without_nvlink_leaves_nvlink_out_with_one_log_line() {
    let mut gpus = vec![FakeGpu::h100(0), FakeGpu::h100(1)];
    gpus[1].name = "NVIDIA L4".to_string();
    gpus[1].nvlink_kib.clear();
    let fake = FakeNvml::new("no-nvlink", Driver::Current, gpus);
    let (logs, _guard) = Logs::capture();
    let mut nvml = open(&fake);
    for k in 0..3 {
        let s = sample(&mut nvml, T0 + k * SECOND);
        assert_gpu(gpu(&s, 0), 0, &fake.gpus[0]);
        assert_gpu(gpu(&s, 1), 1, &fake.gpus[1]);
        assert_eq!(gpu(&s, 1).nvlink_tx_bytes, None);
        assert_eq!(gpu(&s, 1).pcie_tx_bytes, Some(2000 * 1024 * k));
    }
    let lines = logs.matching(&["nvlink_throughput"]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with("INFO") && lines[0].contains("gpu=1"),
        "{lines:#?}"
    );
}

#[test]
fn a_driver_that_cannot_sum_links_is_read_link_by_link() {
    let mut gpus = vec![FakeGpu::h100(0), FakeGpu::h100(1), FakeGpu::h100(2)];
    gpus[1].nvlink_kib.truncate(4);
    gpus[2].nvlink_kib.clear();
    let mut fake = FakeNvml::new("per-link", Driver::Current, gpus);
    fake.sum_links = false;
    fake.write();
    let (logs, _guard) = Logs::capture();
    let mut nvml = open(&fake);
    for k in 0..3 {
        let s = sample(&mut nvml, T0 + k * SECOND);
        for (i, want) in fake.gpus.iter().enumerate() {
            assert_gpu(gpu(&s, i as u32), i as u32, want);
        }
    }
    assert_eq!(
        fake.gpus[1].nvlink_bytes(),
        (
            (101 + 102 + 103 + 104) * 1000 * 1024,
            (101 + 102 + 103 + 104) * 3000 * 1024
        )
    );
    let lines = logs.matching(&["nvlink_throughput"]);
    assert_eq!(lines.len(), 1, "only the GPU without NVLink: {lines:#?}");
    assert!(lines[0].contains("gpu=2"), "{lines:#?}");
}

#[test]
fn an_xid_event_is_counted_for_its_gpu() {
    let mut gpus: Vec<FakeGpu> = (0..4).map(FakeGpu::h100).collect();
    gpus[3].xid_events = false;
    let mut fake = FakeNvml::new("xid", Driver::Current, gpus);
    let (logs, _guard) = Logs::capture();
    let mut nvml = open(&fake);
    let s = sample(&mut nvml, T0);
    assert!(s.gpus.iter().all(|g| g.xid_counts.is_empty()));

    fake.xids.push((2, 79));
    fake.write();
    let s = sample_until(&mut nvml, "XID 79 on gpu2", |s| {
        !gpu(s, 2).xid_counts.is_empty()
    });
    assert_eq!(gpu(&s, 2).xid_counts, xids(&[(79, 1)]));
    for i in [0, 1, 3] {
        assert!(gpu(&s, i).xid_counts.is_empty(), "gpu{i}");
    }

    // gpu3 refused to register, so its event never arrives; the others still do.
    fake.xids.extend([(3, 13), (2, 79), (0, 48)]);
    fake.write();
    let s = sample_until(&mut nvml, "the next XIDs", |s| {
        gpu(s, 2).xid_counts.get(&79) == Some(&2) && !gpu(s, 0).xid_counts.is_empty()
    });
    assert_eq!(gpu(&s, 0).xid_counts, xids(&[(48, 1)]));
    assert_eq!(gpu(&s, 2).xid_counts, xids(&[(79, 2)]));
    std::thread::sleep(Duration::from_millis(200));
    let s = sample(&mut nvml, T0 + 100 * SECOND);
    assert_eq!(gpu(&s, 2).xid_counts, xids(&[(79, 2)]), "counted once each");
    assert!(gpu(&s, 3).xid_counts.is_empty());
    assert!(gpu(&s, 1).xid_counts.is_empty());

    let refused = logs.matching(&["does not deliver XID events"]);
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert!(refused[0].contains("gpu=3"), "{refused:#?}");
    let reported = logs.matching(&["XID error", "xid=79", &fake.gpus[2].uuid]);
    assert_eq!(reported.len(), 2, "{:#?}", logs.lines());
}

#[test]
fn a_function_the_gpu_lacks_is_left_out_with_one_log_line() {
    let mut gpus = vec![FakeGpu::h100(0), FakeGpu::h100(1)];
    gpus[1].failing = vec![("nvmlDeviceGetEncoderUtilization", 3)]; // NOT_SUPPORTED
    gpus[0].failing = vec![
        ("nvmlDeviceGetTotalEccErrors", 13), // FUNCTION_NOT_FOUND
        ("nvmlDeviceGetPowerUsage", 999),    // UNKNOWN: transient
    ];
    let mut fake = FakeNvml::new("missing-function", Driver::Current, gpus);
    let (logs, _guard) = Logs::capture();
    let mut nvml = open(&fake);
    for k in 0..3 {
        let s = sample(&mut nvml, T0 + k * SECOND);
        let (g0, g1) = (gpu(&s, 0), gpu(&s, 1));
        assert_eq!(g1.encoder_utilization, None);
        assert_eq!(g1.decoder_utilization, Some(percent(fake.gpus[1].decoder)));
        assert_eq!(g1.ecc_corrected, Some(1));
        assert_eq!(g1.power_watts, 301.0);
        assert_eq!((g0.ecc_corrected, g0.ecc_uncorrected), (None, None));
        assert!(g0.power_watts.is_nan());
        assert_eq!(g0.encoder_utilization, Some(0.0));
        assert_eq!(g0.utilization, 0.5);
        assert_eq!(g0.nvlink_tx_bytes, Some(fake.gpus[0].nvlink_bytes().0));
    }
    let encoder = logs.matching(&["encoder_utilization"]);
    assert_eq!(encoder.len(), 1, "{encoder:#?}");
    assert!(encoder[0].starts_with("INFO") && encoder[0].contains("gpu=1"));
    let ecc = logs.matching(&["total_ecc_errors"]);
    assert_eq!(ecc.len(), 1, "{ecc:#?}");
    assert!(ecc[0].contains("gpu=0"));
    let power = logs.matching(&["power_usage"]);
    assert_eq!(power.len(), 1, "{power:#?}");
    assert!(power[0].starts_with("WARN"));

    // A transient failure is asked again; an unsupported function is not.
    for g in &mut fake.gpus {
        g.failing.clear();
    }
    fake.write();
    let s = sample(&mut nvml, T0 + 10 * SECOND);
    assert_eq!(gpu(&s, 0).power_watts, 300.0);
    assert_eq!(gpu(&s, 1).encoder_utilization, None);
    assert_eq!(gpu(&s, 0).ecc_corrected, None);
    assert_eq!(logs.notable().len(), 3, "{:#?}", logs.lines());
}

#[test]
fn a_library_without_a_function_leaves_it_out_for_every_gpu() {
    let mut gpus = vec![FakeGpu::h100(0), FakeGpu::h100(1)];
    gpus[0].processes = vec![(4_000_000_001, GIB)];
    let fake = FakeNvml::new("old-driver", Driver::Old, gpus);
    let (logs, _guard) = Logs::capture();
    let mut nvml = open(&fake);
    for k in 0..3 {
        let s = sample(&mut nvml, T0 + k * SECOND);
        for i in 0..2 {
            let g = gpu(&s, i);
            assert!(g.processes.is_empty());
            assert_eq!(g.energy_joules, None);
            assert_eq!(g.utilization, percent(50 + i));
            assert_eq!(
                g.nvlink_rx_bytes,
                Some(fake.gpus[i as usize].nvlink_bytes().1)
            );
        }
    }
    for query in ["running_compute_processes", "total_energy_consumption"] {
        let lines = logs.matching(&[query]);
        assert_eq!(lines.len(), 1, "one line for the library: {lines:#?}");
        assert!(lines[0].contains("lacks this function"), "{lines:#?}");
    }
    assert_eq!(logs.notable().len(), 2, "{:#?}", logs.lines());
}

#[test]
fn a_lost_gpu_is_reported_once_and_no_longer_sampled() {
    let mut gpus: Vec<FakeGpu> = (0..3).map(FakeGpu::h100).collect();
    gpus[1].lost = true;
    let mut fake = FakeNvml::new("lost", Driver::Current, gpus);
    let (logs, _guard) = Logs::capture();
    let mut nvml = open(&fake);

    // Lost before the agent knew it: nothing to say about it but the log line.
    for k in 0..2 {
        let s = sample(&mut nvml, T0 + k * SECOND);
        let indices: Vec<u32> = s.gpus.iter().map(|g| g.index).collect();
        assert_eq!(indices, vec![0, 2]);
        assert_gpu(gpu(&s, 2), 2, &fake.gpus[2]);
    }

    // gpu2 falls off the bus, and NVML says so with XID 79 (to the event set gpu2
    // joined while it was healthy).
    wait_for_xid_thread(&logs);
    fake.gpus[2].lost = true;
    fake.xids.push((2, 79));
    fake.write();
    let s = sample_until(&mut nvml, "XID 79 on the lost gpu2", |s| {
        s.gpus
            .iter()
            .any(|g| g.index == 2 && !g.xid_counts.is_empty())
    });
    let lost = gpu(&s, 2);
    assert_eq!(
        (lost.uuid.as_str(), lost.model.as_str()),
        (fake.gpus[2].uuid.as_str(), "NVIDIA H100 80GB HBM3")
    );
    assert_eq!(lost.xid_counts, xids(&[(79, 1)]));
    assert!(lost.utilization.is_nan() && lost.power_watts.is_nan());
    assert_eq!(
        (
            lost.memory_total_bytes,
            lost.energy_joules,
            lost.nvlink_tx_bytes
        ),
        (0, None, None)
    );
    assert_gpu(gpu(&s, 0), 0, &fake.gpus[0]);

    // Back on the bus as far as the fake goes: the agent no longer asks.
    fake.gpus[2].lost = false;
    fake.write();
    let s = sample(&mut nvml, T0 + 100 * SECOND);
    assert!(gpu(&s, 2).utilization.is_nan());
    assert_eq!(s.gpus.len(), 2);

    let errors = logs.matching(&["ERROR", "fallen off the bus"]);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[0].contains("gpu=1") && errors[1].contains("gpu=2"),
        "{errors:#?}"
    );
    assert!(errors[1].contains(&fake.gpus[2].uuid), "{errors:#?}");
}

#[test]
fn a_library_whose_driver_is_not_loaded_says_so() {
    let mut fake = FakeNvml::new("driver-not-loaded", Driver::Current, vec![FakeGpu::h100(0)]);
    fake.init_error = 9; // NVML_ERROR_DRIVER_NOT_LOADED
    fake.write();
    let error = NvmlSampler::open(Some(fake.library())).expect_err("the driver is not loaded");
    assert!(matches!(error, NvmlError::NoDriver { .. }), "{error}");
    assert!(
        error.to_string().contains("no NVIDIA driver was found"),
        "{error}"
    );

    let mut fake = FakeNvml::new("no-permission", Driver::Current, vec![FakeGpu::h100(0)]);
    fake.init_error = 4; // NVML_ERROR_NO_PERMISSION
    fake.write();
    let error = NvmlSampler::open(Some(fake.library())).expect_err("no permission");
    assert!(matches!(error, NvmlError::Init { .. }), "{error}");
}

#[test]
fn no_library_at_all_says_no_driver_was_found() {
    let path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-dir/libnvidia-ml.so.1");
    let error = NvmlSampler::open(Some(&path)).expect_err("nothing there");
    assert!(matches!(error, NvmlError::NoDriver { .. }), "{error}");
}

/// The devices of a sample as `hw.name`s, in the sampler's order.
fn names(sample: &NodeSample) -> Vec<String> {
    sample.gpus.iter().map(GpuSample::hw_name).collect()
}

fn device<'a>(sample: &'a NodeSample, name: &str) -> &'a GpuSample {
    sample
        .gpus
        .iter()
        .find(|g| g.hw_name() == name)
        .unwrap_or_else(|| panic!("{name} in {:?}", names(sample)))
}

#[test]
fn each_mig_instance_is_a_device_with_its_parent_profile_memory_and_processes() {
    let mut gpus = vec![FakeGpu::h100(0), FakeGpu::h100(1)];
    gpus[0].mig_mode = 1;
    let mut half = FakeMig::h100(0, 0, "3g.40gb", 40 * GIB);
    half.processes = vec![(4242, 20 * GIB)];
    let mut slice = FakeMig::h100(0, 2, "1g.10gb", 10 * GIB);
    slice.processes = vec![(4343, 5 * GIB)];
    // A driver that gives utilization for this one.
    slice.utilization = Some((37, 10));
    gpus[0].instances = vec![half, slice];
    gpus[1].processes = vec![(5000, 2 * GIB)];
    let mut fake = FakeNvml::new("mig", Driver::Current, gpus);
    let (logs, _guard) = Logs::capture();
    let mut nvml = open(&fake);

    let mut s = sample(&mut nvml, T0);
    for k in 1..3 {
        s = sample(&mut nvml, T0 + k * SECOND);
    }
    // Slot 1 is empty; the parent comes before its instances.
    assert_eq!(names(&s), ["gpu0", "gpu0-mig0", "gpu0-mig2", "gpu1"]);
    let parent = device(&s, "gpu0");
    let (uuid0, uuid1) = (&fake.gpus[0].uuid, &fake.gpus[1].uuid);
    assert_eq!(&parent.uuid, uuid0);
    assert!(parent.mig.is_none());
    assert!(parent.utilization.is_nan(), "NVML has none in MIG mode");
    assert_eq!(parent.power_watts, 300.0, "power stays on the parent");
    assert!(parent.nvlink_tx_bytes.is_some());
    assert!(
        parent.processes.is_empty(),
        "the instances report them: {:?}",
        parent.processes
    );

    for (name, slot, profile, gib, pid, used, utilization) in [
        ("gpu0-mig0", 0, "3g.40gb", 40, 4242, 20, None),
        ("gpu0-mig2", 2, "1g.10gb", 10, 4343, 5, Some(0.37)),
    ] {
        let m = device(&s, name);
        let want = &fake.gpus[0].instances.iter().find(|i| i.slot == slot);
        let want = want.expect("the instance was configured");
        assert_eq!(m.uuid, want.uuid, "{name}");
        assert!(m.uuid.starts_with("MIG-"), "{name}");
        assert_eq!(m.index, 0, "{name}: the parent's index");
        assert_eq!(
            m.model, "NVIDIA H100 80GB HBM3",
            "{name}: the parent's model"
        );
        let mig = m.mig.as_ref().expect("a MIG instance");
        assert_eq!((&mig.parent_uuid, mig.slot), (uuid0, slot), "{name}");
        assert_eq!(mig.profile, profile, "{name}");
        assert_eq!(m.memory_total_bytes, gib * GIB, "{name}");
        assert_eq!(m.memory_used_bytes, GIB, "{name}");
        let processes: Vec<_> = m
            .processes
            .iter()
            .map(|p| (p.pid, p.memory_bytes))
            .collect();
        assert_eq!(processes, [(pid, used * GIB)], "{name}");
        match utilization {
            Some(u) => assert_eq!(m.utilization, u, "{name}"),
            None => assert!(m.utilization.is_nan(), "{name}: absent, never 0"),
        }
        // What belongs to the parent is not repeated on its slices.
        assert!(
            m.power_watts.is_nan() && m.temperature_celsius.is_nan(),
            "{name}"
        );
        assert_eq!(m.energy_joules, None, "{name}");
        assert_eq!((m.nvlink_tx_bytes, m.pcie_tx_bytes), (None, None), "{name}");
        assert!(m.xid_counts.is_empty(), "{name}");
    }
    let whole = device(&s, "gpu1");
    assert_eq!((&whole.uuid, whole.utilization), (uuid1, 0.51));
    assert_eq!(whole.processes.len(), 1);

    // Utilization is said to be missing once per device that lacks it, never again.
    let missing = logs.matching(&["utilization_rates", "does not support"]);
    assert_eq!(missing.len(), 2, "{missing:#?}");
    assert!(missing
        .iter()
        .any(|l| l.contains(&fake.gpus[0].instances[0].uuid)));
    assert!(missing.iter().any(|l| l.contains(uuid0.as_str())));
    assert!(logs.matching(&["WARN"]).is_empty(), "{:#?}", logs.lines());

    // An administrator destroys the 1g slice and makes another in slot 1.
    let mut replacement = FakeMig::h100(0, 1, "2g.20gb", 20 * GIB);
    replacement.uuid = "MIG-new-instance".to_string();
    fake.gpus[0].instances.truncate(1);
    fake.gpus[0].instances.push(replacement);
    fake.write();
    let s = sample(&mut nvml, T0 + 5 * SECOND);
    assert_eq!(names(&s), ["gpu0", "gpu0-mig0", "gpu0-mig1", "gpu1"]);
    let m = device(&s, "gpu0-mig1");
    assert_eq!(m.uuid, "MIG-new-instance");
    assert_eq!(m.mig.as_ref().map(|m| m.profile.as_str()), Some("2g.20gb"));

    // MIG mode off: one whole GPU again, its utilization asked for again.
    fake.gpus[0].mig_mode = 0;
    fake.write();
    let s = sample(&mut nvml, T0 + 6 * SECOND);
    assert_eq!(names(&s), ["gpu0", "gpu1"]);
    let s = sample(&mut nvml, T0 + 7 * SECOND);
    assert_eq!(device(&s, "gpu0").utilization, 0.5);
    assert_eq!(logs.matching(&["MIG mode changed"]).len(), 1);
}

#[test]
fn a_gpu_without_mig_is_sampled_as_before() {
    let mut gpus = vec![FakeGpu::h100(0)];
    gpus[0].mig_mode = -1; // NOT_SUPPORTED: an L40S, say
    gpus[0].instances = vec![FakeMig::h100(0, 0, "1g.10gb", 10 * GIB)];
    let fake = FakeNvml::new("no-mig", Driver::Current, gpus);
    let (logs, _guard) = Logs::capture();
    let mut nvml = open(&fake);
    for k in 0..3 {
        let s = sample(&mut nvml, T0 + k * SECOND);
        assert_eq!(names(&s), ["gpu0"]);
        assert_gpu(&s.gpus[0], 0, &fake.gpus[0]);
    }
    let mig = logs.matching(&["mig_mode"]);
    assert_eq!(mig.len(), 1, "{mig:#?}");
}
