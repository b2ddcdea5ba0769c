//! `HostSampler`: reads `/proc` (or a copy of it) into a `HostSample`.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use gpuwatch_model::{HostSample, NodeSample, Timestamp};

use super::parse::{parse_diskstats, parse_meminfo, parse_net_dev, parse_stat, CpuTimes};
use crate::sampler::{SampleError, Sampler};

/// A file of `/proc` kept open between samples: procfs writes a file's text afresh
/// when it is read from the start, so seeking back and reading again saves an open
/// (a path walk through procfs) per file and sample. A read that fails closes it, and
/// the next sample opens it again.
#[derive(Debug)]
struct ProcFile {
    name: &'static str,
    path: PathBuf,
    file: Option<File>,
    text: String,
}

impl ProcFile {
    fn new(root: &Path, name: &'static str) -> ProcFile {
        ProcFile {
            name,
            path: root.join(name),
            file: None,
            text: String::new(),
        }
    }

    fn read(&mut self) -> Result<&str, SampleError> {
        self.text.clear();
        let result = match self.file.as_mut() {
            Some(file) => file.seek(SeekFrom::Start(0)).map(|_| file),
            None => File::open(&self.path).map(|file| self.file.insert(file)),
        }
        .and_then(|file| file.read_to_string(&mut self.text));
        match result {
            Ok(_) => Ok(&self.text),
            Err(source) => {
                self.file = None;
                Err(SampleError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        }
    }

    /// Reads and parses the file.
    fn parse<T>(
        &mut self,
        parse: impl FnOnce(&str) -> Result<T, super::ParseError>,
    ) -> Result<T, SampleError> {
        let text = self.read()?;
        parse(text).map_err(|e| SampleError::Parse {
            path: self.path.clone(),
            reason: e.0,
        })
    }
}

/// Samples the host from `proc_root` (normally `/proc`). CPU shares need two samples,
/// so the first sample has `cpu: None`. `stat` and `meminfo` are required; when
/// `diskstats` or `net/dev` cannot be read (some containers) the sampler warns once
/// and reports no disks or no interfaces.
#[derive(Debug)]
pub struct HostSampler {
    proc_root: PathBuf,
    stat: ProcFile,
    meminfo: ProcFile,
    diskstats: ProcFile,
    net_dev: ProcFile,
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
            stat: ProcFile::new(&proc_root, "stat"),
            meminfo: ProcFile::new(&proc_root, "meminfo"),
            diskstats: ProcFile::new(&proc_root, "diskstats"),
            net_dev: ProcFile::new(&proc_root, "net/dev"),
            proc_root,
            previous_cpu: None,
            warned: HashSet::new(),
        }
    }
}

/// Reads and parses an optional file; failures warn once per file and give `[]`.
fn optional<T>(
    file: &mut ProcFile,
    warned: &mut HashSet<&'static str>,
    parse: fn(&str) -> Result<Vec<T>, super::ParseError>,
) -> Vec<T> {
    match file.parse(parse) {
        Ok(values) => values,
        Err(error) => {
            if warned.insert(file.name) {
                tracing::warn!(%error, "host metrics from {} are left out", file.name);
            }
            Vec::new()
        }
    }
}

impl Sampler for HostSampler {
    fn sample(&mut self, at: Timestamp) -> Result<NodeSample, SampleError> {
        let cpu_times = self.stat.parse(parse_stat)?;
        let memory = self.meminfo.parse(parse_meminfo)?;
        let disks = optional(&mut self.diskstats, &mut self.warned, parse_diskstats);
        let networks = optional(&mut self.net_dev, &mut self.warned, parse_net_dev);

        let cpu = self
            .previous_cpu
            .and_then(|previous| cpu_times.modes_since(&previous));
        self.previous_cpu = Some(cpu_times);

        Ok(NodeSample {
            time_unix_nano: at,
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

    fn reads_host(&self) -> bool {
        true
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
        let first = sampler
            .sample(Timestamp::from_unix_nanos_u64(1))
            .expect("sample");
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
        let second = sampler
            .sample(Timestamp::from_unix_nanos_u64(2))
            .expect("sample");
        let cpu = second
            .host
            .and_then(|h| h.cpu)
            .expect("cpu on the second sample");
        assert_eq!((cpu.user, cpu.idle, cpu.system), (0.5, 0.5, 0.0));

        // The files stay open; what is read is what the file holds now.
        write(&root, "stat", "cpu  150 0 150 900 0 0 0 0 0 0\n");
        write(&root, "meminfo", "MemTotal: 1000 kB\nMemFree: 200 kB\n");
        let third = sampler
            .sample(Timestamp::from_unix_nanos_u64(3))
            .expect("sample");
        let host = third.host.expect("host");
        assert_eq!(host.memory_free_bytes, 200 * 1024);
        assert_eq!(host.cpu.map(|c| c.system), Some(0.5));

        std::fs::remove_file(root.join("diskstats")).expect("remove");
        let mut sampler = HostSampler::new(root.clone());
        let fourth = sampler
            .sample(Timestamp::from_unix_nanos_u64(4))
            .expect("diskstats is optional");
        assert!(fourth.host.is_some_and(|h| h.disks.is_empty()));

        std::fs::remove_file(root.join("stat")).expect("remove");
        let error = HostSampler::new(root.clone())
            .sample(Timestamp::from_unix_nanos_u64(5))
            .expect_err("stat is required");
        assert!(error.to_string().contains("stat"), "{error}");
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn reads_the_real_proc() {
        if !Path::new("/proc/stat").exists() {
            return;
        }
        let mut sampler = HostSampler::default();
        let sample = sampler
            .sample(Timestamp::from_unix_nanos_u64(1))
            .expect("the real /proc parses");
        let host = sample.host.expect("host");
        assert!(host.memory_used_bytes > 0);
        assert!(host.networks.iter().all(|n| n.interface != "lo"));
    }
}
