//! The fake `libnvidia-ml.so` (fake_nvml.c) from the test side: built once per test
//! binary with the system `cc`, copied into a directory per scenario (each copy is its
//! own library with its own state, so scenarios run in parallel), and driven through the
//! `.conf` file beside it, which it rereads on every sample.

#![allow(dead_code)]

pub mod logs;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Which build of the fake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// Every function the agent calls.
    Current,
    /// Lacks `nvmlDeviceGetComputeRunningProcesses_v3` and
    /// `nvmlDeviceGetTotalEnergyConsumption`, like a driver older than the bindings.
    Old,
}

const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake_nvml/fake_nvml.c");

fn work_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fake_nvml")
}

/// Compiles the fake once per build and test binary; panics with cc's output on failure.
fn built(driver: Driver) -> &'static Path {
    static CURRENT: OnceLock<PathBuf> = OnceLock::new();
    static OLD: OnceLock<PathBuf> = OnceLock::new();
    let (cell, name, defines): (_, _, &[&str]) = match driver {
        Driver::Current => (&CURRENT, "current", &[]),
        Driver::Old => (&OLD, "old", &["-DFAKE_OLD_DRIVER"]),
    };
    cell.get_or_init(|| {
        let dir = work_dir();
        std::fs::create_dir_all(&dir).expect("create the fake NVML directory");
        let output = dir.join(format!("libfake-nvml-{name}.so"));
        // Built aside and renamed, so a test binary running at the same time never
        // copies half a library.
        let partial = dir.join(format!("libfake-nvml-{name}.so.{}", std::process::id()));
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
        let result = Command::new(&cc)
            .args(["-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror"])
            .args(defines)
            .arg("-o")
            .arg(&partial)
            .arg(SOURCE)
            .arg("-lpthread")
            .output()
            .unwrap_or_else(|e| panic!("could not run {cc} to build the fake NVML: {e}"));
        assert!(
            result.status.success(),
            "{cc} failed to build the fake NVML:\n{}",
            String::from_utf8_lossy(&result.stderr)
        );
        std::fs::rename(&partial, &output).expect("install the fake NVML");
        output
    })
}

/// One fake GPU; the values are NVML's units (percent, mW, mJ, MHz, KB/s, KiB).
#[derive(Debug, Clone)]
pub struct FakeGpu {
    pub uuid: String,
    pub name: String,
    pub utilization: u32,
    pub memory_utilization: u32,
    pub encoder: u32,
    pub decoder: u32,
    pub memory_total: u64,
    pub memory_used: u64,
    pub power_mw: u32,
    pub power_limit_mw: u32,
    pub energy_mj: u64,
    pub temperature: u32,
    pub sm_clock_mhz: u32,
    pub throttle: u64,
    pub ecc_corrected: u64,
    pub ecc_uncorrected: u64,
    pub pcie_tx_kbs: u32,
    pub pcie_rx_kbs: u32,
    /// Per link: cumulative (transmitted, received) KiB. Empty: no NVLink.
    pub nvlink_kib: Vec<(u64, u64)>,
    /// (pid, used GPU memory in bytes)
    pub processes: Vec<(u32, u64)>,
    /// (NVML function, return code) for functions that fail on this GPU.
    pub failing: Vec<(&'static str, u32)>,
    pub lost: bool,
    pub xid_events: bool,
    /// NVML's current MIG mode: 0 disabled, 1 enabled, -1 not supported.
    pub mig_mode: i32,
    /// The most MIG instances the GPU holds.
    pub mig_slots: u32,
    /// Its MIG instances (served only in MIG mode).
    pub instances: Vec<FakeMig>,
}

/// One MIG instance of a fake GPU.
#[derive(Debug, Clone)]
pub struct FakeMig {
    pub slot: u32,
    pub uuid: String,
    pub name: String,
    pub memory_total: u64,
    pub memory_used: u64,
    /// (pid, used GPU memory in bytes)
    pub processes: Vec<(u32, u64)>,
    /// (GPU, memory) percent; `None`: NOT_SUPPORTED, as most drivers answer for MIG.
    pub utilization: Option<(u32, u32)>,
    pub failing: Vec<(&'static str, u32)>,
}

impl FakeMig {
    /// An H100's instance of `profile` (`1g.10gb`, `3g.40gb`, ...) in `slot` of GPU
    /// `gpu`, with `memory_total` bytes and 1 GiB used.
    pub fn h100(gpu: u32, slot: u32, profile: &str, memory_total: u64) -> FakeMig {
        FakeMig {
            slot,
            uuid: format!("MIG-{gpu:08x}-{slot:04x}-fake-mig0-00000000000{slot:x}"),
            name: format!("NVIDIA H100 80GB HBM3 MIG {profile}"),
            memory_total,
            memory_used: GIB,
            processes: Vec::new(),
            utilization: None,
            failing: Vec::new(),
        }
    }
}

pub const GIB: u64 = 1 << 30;

impl FakeGpu {
    /// An H100 SXM with 18 NVLinks, its values distinct per index.
    pub fn h100(index: u32) -> FakeGpu {
        let i = u64::from(index);
        FakeGpu {
            uuid: format!("GPU-{index:08x}-fake-4a1b-9c2d-00000000000{index:x}"),
            name: "NVIDIA H100 80GB HBM3".to_string(),
            utilization: 50 + index,
            memory_utilization: 30,
            encoder: index,
            decoder: 2 * index,
            memory_total: 80 * GIB,
            memory_used: (i + 1) * GIB,
            power_mw: 300_000 + 1000 * index,
            power_limit_mw: 700_000,
            energy_mj: 1_000_000_000 + 1000 * i,
            temperature: 40 + index,
            sm_clock_mhz: 1980,
            throttle: 0,
            ecc_corrected: i,
            ecc_uncorrected: 0,
            pcie_tx_kbs: 1000 * (index + 1),
            pcie_rx_kbs: 2000 * (index + 1),
            nvlink_kib: (0..18u64)
                .map(|link| ((i * 100 + link + 1) * 1000, (i * 100 + link + 1) * 3000))
                .collect(),
            processes: Vec::new(),
            failing: Vec::new(),
            lost: false,
            xid_events: true,
            mig_mode: 0,
            mig_slots: 7,
            instances: Vec::new(),
        }
    }

    /// What NVML reports as NVLink bytes: the links summed, in bytes.
    pub fn nvlink_bytes(&self) -> (u64, u64) {
        let (tx, rx) = self
            .nvlink_kib
            .iter()
            .fold((0, 0), |(tx, rx), (t, r)| (tx + t, rx + r));
        (tx * 1024, rx * 1024)
    }
}

/// A fake NVML installation for one scenario; its directory goes when it is dropped
/// (a library still loaded stays usable: the loader holds its own mapping).
#[derive(Debug)]
pub struct FakeNvml {
    library: PathBuf,
    pub gpus: Vec<FakeGpu>,
    /// (GPU index, XID code), delivered once each, in order.
    pub xids: Vec<(u32, u64)>,
    /// Whether `scopeId = UINT_MAX` sums the links (false: an older driver).
    pub sum_links: bool,
    /// nvmlInit_v2's return code.
    pub init_error: u32,
}

impl FakeNvml {
    /// A fresh copy of the fake for `scenario` with `gpus`; write it before opening.
    pub fn new(scenario: &str, driver: Driver, gpus: Vec<FakeGpu>) -> FakeNvml {
        let dir = work_dir().join(format!("{scenario}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scenario directory");
        let library = dir.join("libnvidia-ml.so.1");
        std::fs::copy(built(driver), &library).expect("copy the fake NVML");
        let fake = FakeNvml {
            library,
            gpus,
            xids: Vec::new(),
            sum_links: true,
            init_error: 0,
        };
        fake.write();
        fake
    }

    fn dir(&self) -> &Path {
        self.library.parent().unwrap_or(&self.library)
    }

    /// The path to pass to `NvmlSampler::open`.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// Writes the configuration; the fake picks it up at its next sample.
    pub fn write(&self) {
        let mut text = String::new();
        let mut line = |args: std::fmt::Arguments<'_>| {
            text.write_fmt(args).expect("write to a string");
            text.push('\n');
        };
        line(format_args!("count {}", self.gpus.len()));
        line(format_args!("init_error {}", self.init_error));
        line(format_args!("sum_links {}", u8::from(self.sum_links)));
        for (gpu, code) in &self.xids {
            line(format_args!("xid {gpu} {code}"));
        }
        for (i, g) in self.gpus.iter().enumerate() {
            line(format_args!("gpu {i} uuid {}", g.uuid));
            line(format_args!("gpu {i} name {}", g.name));
            line(format_args!(
                "gpu {i} utilization {} {}",
                g.utilization, g.memory_utilization
            ));
            line(format_args!("gpu {i} encoder {}", g.encoder));
            line(format_args!("gpu {i} decoder {}", g.decoder));
            line(format_args!(
                "gpu {i} memory {} {}",
                g.memory_total, g.memory_used
            ));
            line(format_args!("gpu {i} power {}", g.power_mw));
            line(format_args!("gpu {i} power_limit {}", g.power_limit_mw));
            line(format_args!("gpu {i} energy {}", g.energy_mj));
            line(format_args!("gpu {i} temperature {}", g.temperature));
            line(format_args!("gpu {i} sm_clock {}", g.sm_clock_mhz));
            line(format_args!("gpu {i} throttle {}", g.throttle));
            line(format_args!(
                "gpu {i} ecc {} {}",
                g.ecc_corrected, g.ecc_uncorrected
            ));
            line(format_args!(
                "gpu {i} pcie {} {}",
                g.pcie_tx_kbs, g.pcie_rx_kbs
            ));
            for (link, (tx, rx)) in g.nvlink_kib.iter().enumerate() {
                line(format_args!("gpu {i} nvlink {link} {tx} {rx}"));
            }
            for (pid, bytes) in &g.processes {
                line(format_args!("gpu {i} process {pid} {bytes}"));
            }
            for (function, code) in &g.failing {
                line(format_args!("gpu {i} fail {function} {code}"));
            }
            line(format_args!("gpu {i} lost {}", u8::from(g.lost)));
            line(format_args!(
                "gpu {i} xid_events {}",
                u8::from(g.xid_events)
            ));
            line(format_args!("gpu {i} mig_mode {}", g.mig_mode));
            line(format_args!("gpu {i} mig_slots {}", g.mig_slots));
            for m in &g.instances {
                let slot = m.slot;
                line(format_args!("mig {i} {slot} uuid {}", m.uuid));
                line(format_args!("mig {i} {slot} name {}", m.name));
                line(format_args!(
                    "mig {i} {slot} memory {} {}",
                    m.memory_total, m.memory_used
                ));
                for (pid, bytes) in &m.processes {
                    line(format_args!("mig {i} {slot} process {pid} {bytes}"));
                }
                if let Some((gpu, memory)) = m.utilization {
                    line(format_args!("mig {i} {slot} utilization {gpu} {memory}"));
                }
                for (function, code) in &m.failing {
                    line(format_args!("mig {i} {slot} fail {function} {code}"));
                }
            }
        }
        // Written aside and renamed, so the fake never reads half a file.
        let mut config = self.library.clone().into_os_string();
        config.push(".conf");
        let mut partial = config.clone();
        partial.push(".partial");
        std::fs::write(&partial, text).expect("write the fake NVML configuration");
        std::fs::rename(&partial, &config).expect("install the fake NVML configuration");
    }
}

impl Drop for FakeNvml {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.dir());
    }
}
