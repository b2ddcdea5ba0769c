//! `HostSampler`: reads `/proc` (or a copy of it) into a `HostSample`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use gpuwatch_model::{HostSample, NodeSample};

use super::parse::{parse_diskstats, parse_meminfo, parse_net_dev, parse_stat, CpuTimes};
use crate::sampler::{SampleError, Sampler};

/// Samples the host from `proc_root` (normally `/proc`). CPU shares need two samples,
/// so the first sample has `cpu: None`. `stat` and `meminfo` are required; when
/// `diskstats` or `net/dev` cannot be read (some containers) the sampler warns once
/// and reports no disks or no interfaces.
#[derive(Debug)]
pub struct HostSampler {
    proc_root: PathBuf,
    previous_cpu: Option<CpuTimes>,
    warned: HashSet<&'static str>,
}

impl Default for HostSampler {
    fn default() -> Self {
        HostSampler::new(PathBuf::from("/proc"))
    }
}

impl HostSampler {
    pub fn new(proc_root: PathBuf) -> HostSampler {
        HostSampler {
            proc_root,
            previous_cpu: None,
            warned: HashSet::new(),
        }
    }

    fn read(&self, file: &str) -> Result<(PathBuf, String), SampleError> {
        let path = self.proc_root.join(file);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((path, text)),
            Err(source) => Err(SampleError::Read { path, source }),
        }
    }

    /// Reads and parses an optional file; failures warn once per file and give `[]`.
    fn optional<T>(
        &mut self,
        file: &'static str,
        parse: fn(&str) -> Result<Vec<T>, super::ParseError>,
    ) -> Vec<T> {
        let result = self.read(file).and_then(|(path, text)| {
            parse(&text).map_err(|e| SampleError::Parse { path, reason: e.0 })
        });
        match result {
            Ok(values) => values,
            Err(error) => {
                if self.warned.insert(file) {
                    tracing::warn!(%error, "host metrics from {file} are left out");
                }
                Vec::new()
            }
        }
    }
}

fn parse_error(path: &Path, error: super::ParseError) -> SampleError {
    SampleError::Parse {
        path: path.to_path_buf(),
        reason: error.0,
    }
}

impl Sampler for HostSampler {
    fn sample(&mut self, time_unix_nano: u64) -> Result<NodeSample, SampleError> {
        let (path, text) = self.read("stat")?;
        let cpu_times = parse_stat(&text).map_err(|e| parse_error(&path, e))?;
        let (path, text) = self.read("meminfo")?;
        let memory = parse_meminfo(&text).map_err(|e| parse_error(&path, e))?;
        let disks = self.optional("diskstats", parse_diskstats);
        let networks = self.optional("net/dev", parse_net_dev);

        let cpu = self
            .previous_cpu
            .and_then(|previous| cpu_times.modes_since(&previous));
        self.previous_cpu = Some(cpu_times);

        Ok(NodeSample {
            time_unix_nano,
            gpus: Vec::new(),
            host: Some(HostSample {
                cpu,
                memory_used_bytes: memory.used(),
                memory_free_bytes: memory.free,
                memory_cached_bytes: memory.cached_and_buffers(),
                disks,
                networks,
            }),
            histograms: Vec::new(),
        })
    }

    fn describe(&self) -> String {
        format!("host ({})", self.proc_root.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_proc(name: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("gpuwatch-agent-{name}-{}", std::process::id()));
        std::fs::create_dir_all(root.join("net")).expect("temp dir");
        root
    }

    fn write(root: &Path, file: &str, text: &str) {
        std::fs::write(root.join(file), text).expect("write fake proc file");
    }

    #[test]
    fn reads_a_fake_proc_and_computes_cpu_from_the_second_sample() {
        let root = fake_proc("host-sampler");
        write(&root, "stat", "cpu  100 0 100 800 0 0 0 0 0 0\n");
        write(
            &root,
            "meminfo",
            "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\nBuffers: 10 kB\nCached: 90 kB\n",
        );
        write(
            &root,
            "diskstats",
            "259 0 nvme0n1 1 0 8 0 2 0 16 0 0 250 0\n",
        );
        write(
            &root,
            "net/dev",
            "Inter-| Receive | Transmit\n face |bytes packets|bytes\n  eth0: 10 0 0 0 0 0 0 0 20 0 0 0 0 0 0 0\n",
        );
        let mut sampler = HostSampler::new(root.clone());
        let first = sampler.sample(1).expect("sample");
        let host = first.host.expect("host");
        assert_eq!(host.cpu, None);
        assert_eq!(host.memory_used_bytes, 400 * 1024);
        assert_eq!(host.memory_free_bytes, 100 * 1024);
        assert_eq!(host.memory_cached_bytes, 100 * 1024);
        assert_eq!(host.disks[0].read_bytes, 8 * 512);
        assert_eq!(host.disks[0].io_time_seconds, 0.25);
        assert_eq!(host.networks[0].tx_bytes, 20);
        assert!(first.gpus.is_empty());

        write(&root, "stat", "cpu  150 0 100 850 0 0 0 0 0 0\n");
        let second = sampler.sample(2).expect("sample");
        let cpu = second
            .host
            .and_then(|h| h.cpu)
            .expect("cpu on the second sample");
        assert_eq!((cpu.user, cpu.idle, cpu.system), (0.5, 0.5, 0.0));

        std::fs::remove_file(root.join("diskstats")).expect("remove");
        let third = sampler.sample(3).expect("diskstats is optional");
        assert!(third.host.is_some_and(|h| h.disks.is_empty()));

        std::fs::remove_file(root.join("stat")).expect("remove");
        let error = sampler.sample(4).expect_err("stat is required");
        assert!(error.to_string().contains("stat"), "{error}");
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn reads_the_real_proc() {
        if !Path::new("/proc/stat").exists() {
            return;
        }
        let mut sampler = HostSampler::default();
        let sample = sampler.sample(1).expect("the real /proc parses");
        let host = sample.host.expect("host");
        assert!(host.memory_used_bytes > 0);
        assert!(host.networks.iter().all(|n| n.interface != "lo"));
    }
}
