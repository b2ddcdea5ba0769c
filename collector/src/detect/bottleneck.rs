//! `data_bottleneck`: a node's working GPUs under-used and swinging, starved by the
//! input pipeline, while the host shows why: `storage` (high iowait, a disk busy
//! nearly all the time, or an NFS mount's RPCs queueing in the client), `cpu` (user
//! plus system near saturation) or `network` (an interface receiving at the highest
//! rate it was seen at, an InfiniBand or RoCE port receiving near its link rate, or a
//! network file system reading at the highest rate it was seen at). A node whose GPUs
//! are simply idle, or busy and steady, is no bottleneck; nor is one whose host shows
//! no cause.

use std::collections::BTreeMap;
use std::time::Duration;

use gpuwatch_model::config::ConfigError;
use gpuwatch_model::names::{attr, metric, value};
use gpuwatch_model::{AlertKind, Finding, Severity};
use serde::{Deserialize, Serialize};

use super::config::{dur, ratio, s};
use super::window::{gpu_series, growth, mean, rate, swing, utilization, value_at, Window};
use crate::store::{Series, Store};

/// `data_bottleneck`: a node's working GPUs under-used and swinging while the host
/// shows why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BottleneckConfig {
    #[serde(rename = "for")]
    pub for_: String,
    pub window: String,
    /// The node's working GPUs' mean utilization must be under this...
    pub max_utilization: f64,
    /// ...and swing by at least this much (max - min within the window, on average).
    pub min_swing: f64,
    /// `storage`: host iowait share at or above this...
    pub min_iowait: f64,
    /// ...or a disk busy at least this share of the time.
    pub min_disk_busy: f64,
    /// `cpu`: user plus system share at or above this.
    pub min_cpu: f64,
    /// `network`: an interface receiving at this share of the highest rate it was seen
    /// at in the store...
    pub network_ceiling_share: f64,
    /// ...when that is at least this many bytes/s (a link a data loader can saturate;
    /// an inference server's steady traffic stays under it). An InfiniBand or RoCE
    /// port counts at this share of its link rate.
    pub min_network_bytes_per_second: f64,
    /// `network`, too: a network file system (NFS, Lustre) reading at
    /// `network_ceiling_share` of the highest rate it was seen at, when that is at least
    /// this many bytes/s.
    pub min_filesystem_bytes_per_second: f64,
    /// `storage`, too: an NFS mount whose RPCs wait this long on average in the
    /// client's queue before they are sent (its transport is saturated).
    pub min_nfs_queue_time: String,
}

impl Default for BottleneckConfig {
    fn default() -> Self {
        BottleneckConfig {
            for_: s("5m"),
            window: s("2m"),
            max_utilization: 0.75,
            min_swing: 0.3,
            min_iowait: 0.2,
            min_disk_busy: 0.9,
            min_cpu: 0.9,
            network_ceiling_share: 0.9,
            min_network_bytes_per_second: 1e9,
            min_filesystem_bytes_per_second: 1e8,
            min_nfs_queue_time: s("10ms"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BottleneckSettings {
    pub for_: i64,
    pub window: i64,
    pub max_utilization: f64,
    pub min_swing: f64,
    pub min_iowait: f64,
    pub min_disk_busy: f64,
    pub min_cpu: f64,
    pub network_ceiling_share: f64,
    pub min_network_bytes_per_second: f64,
    pub min_filesystem_bytes_per_second: f64,
    pub min_nfs_queue_seconds: f64,
}

impl BottleneckConfig {
    pub fn validate(&self) -> Result<BottleneckSettings, ConfigError> {
        let k = |name: &str| format!("collector.alerts.data_bottleneck.{name}");
        let r = |name: &str, v: f64| ratio(&k(name), v);
        Ok(BottleneckSettings {
            for_: dur(&k("for"), &self.for_, Duration::ZERO)?,
            window: dur(&k("window"), &self.window, Duration::from_secs(1))?,
            max_utilization: r("max_utilization", self.max_utilization)?,
            min_swing: r("min_swing", self.min_swing)?,
            min_iowait: r("min_iowait", self.min_iowait)?,
            min_disk_busy: r("min_disk_busy", self.min_disk_busy)?,
            min_cpu: r("min_cpu", self.min_cpu)?,
            network_ceiling_share: r("network_ceiling_share", self.network_ceiling_share)?,
            min_network_bytes_per_second: self.min_network_bytes_per_second.max(0.0),
            min_filesystem_bytes_per_second: self.min_filesystem_bytes_per_second.max(0.0),
            min_nfs_queue_seconds: dur(
                &k("min_nfs_queue_time"),
                &self.min_nfs_queue_time,
                Duration::from_micros(1),
            )? as f64
                / 1e9,
        })
    }
}

/// The host series of every node, found in one pass over the store.
#[derive(Default)]
struct Host<'a> {
    cpu: BTreeMap<&'a str, &'a Series>,
    disks: Vec<&'a Series>,
    nics_rx: Vec<&'a Series>,
    /// Fabric ports by `hw.id`: bytes received, and the link rate.
    ports: BTreeMap<&'a str, FabricPort<'a>>,
    /// Network file systems by mount point.
    mounts: BTreeMap<&'a str, Mount<'a>>,
}

#[derive(Default)]
struct FabricPort<'a> {
    rx: Option<&'a Series>,
    limit: Option<&'a Series>,
}

#[derive(Default)]
struct Mount<'a> {
    read: Option<&'a Series>,
    /// Per RPC method: time queued (s) and operations.
    queue_time: Vec<&'a Series>,
    operations: Vec<&'a Series>,
}

fn hosts(store: &Store) -> BTreeMap<&str, Host<'_>> {
    let mut out: BTreeMap<&str, Host> = BTreeMap::new();
    for s in store.series() {
        let Some(host) = s.key.get(attr::HOST_NAME) else {
            continue;
        };
        match s.key.metric() {
            metric::CPU_UTILIZATION => {
                if let Some(mode) = s.key.get(attr::CPU_MODE) {
                    out.entry(host).or_default().cpu.insert(mode, s);
                }
            }
            metric::DISK_IO_TIME => out.entry(host).or_default().disks.push(s),
            metric::NETWORK_IO if s.key.get(attr::IO_DIRECTION) == Some(value::RECEIVE) => {
                out.entry(host).or_default().nics_rx.push(s);
            }
            metric::HW_NETWORK_IO | metric::HW_NETWORK_BANDWIDTH_LIMIT => {
                let (Some(id), Some(value::HW_TYPE_NETWORK)) =
                    (s.key.get(attr::HW_ID), s.key.get(attr::HW_TYPE))
                else {
                    continue;
                };
                let port = out.entry(host).or_default().ports.entry(id).or_default();
                if s.key.metric() == metric::HW_NETWORK_BANDWIDTH_LIMIT {
                    port.limit = Some(s);
                } else if s.key.get(attr::IO_DIRECTION) == Some(value::RECEIVE) {
                    port.rx = Some(s);
                }
            }
            metric::FILESYSTEM_IO | metric::NFS_RPC_QUEUE_TIME | metric::NFS_RPC_OPERATIONS => {
                let Some(mount) = s.key.get(attr::FILESYSTEM_MOUNTPOINT) else {
                    continue;
                };
                let m = out
                    .entry(host)
                    .or_default()
                    .mounts
                    .entry(mount)
                    .or_default();
                match s.key.metric() {
                    metric::FILESYSTEM_IO => {
                        if s.key.get(attr::DISK_DIRECTION) == Some(value::READ) {
                            m.read = Some(s);
                        }
                    }
                    metric::NFS_RPC_QUEUE_TIME => m.queue_time.push(s),
                    _ => m.operations.push(s),
                }
            }
            _ => {}
        }
    }
    out
}

/// Why the host starves its GPUs, if it shows a reason: `(cause, evidence)`.
fn cause(host: &Host, s: &BottleneckSettings, w: Window, t: i64) -> Option<(&'static str, String)> {
    let cpu = |mode: &str| host.cpu.get(mode).and_then(|x| mean(x, w));
    let iowait = cpu(value::CPU_IOWAIT);
    let busiest_disk = host
        .disks
        .iter()
        .filter_map(|d| rate(d, w))
        .reduce(f64::max);
    if let Some((mount, queued)) = nfs_queue(host, w).filter(|(_, q)| *q >= s.min_nfs_queue_seconds)
    {
        return Some((
            "storage",
            format!(
                "NFS {mount}: RPCs queue {:.0} ms on average before they are sent",
                queued * 1e3
            ),
        ));
    }
    if iowait.is_some_and(|v| v >= s.min_iowait)
        || busiest_disk.is_some_and(|v| v >= s.min_disk_busy)
    {
        return Some((
            "storage",
            format!(
                "iowait {:.0}%, busiest disk {:.0}% busy",
                iowait.unwrap_or(0.0) * 100.0,
                busiest_disk.unwrap_or(0.0) * 100.0
            ),
        ));
    }
    if let (Some(user), Some(system)) = (cpu(value::CPU_USER), cpu(value::CPU_SYSTEM)) {
        if user + system >= s.min_cpu {
            return Some(("cpu", format!("CPU {:.0}% busy", (user + system) * 100.0)));
        }
    }
    for nic in &host.nics_rx {
        let (Some(now), Some(ceiling)) = (rate(nic, w), peak_rate(nic, t)) else {
            continue;
        };
        if ceiling >= s.min_network_bytes_per_second && now >= s.network_ceiling_share * ceiling {
            let name = nic.key.get(attr::INTERFACE).unwrap_or("?");
            return Some((
                "network",
                format!("{name} receiving {:.0} MB/s, its ceiling", now / 1e6),
            ));
        }
    }
    for (id, port) in &host.ports {
        let (Some(rx), Some(limit)) = (port.rx, port.limit) else {
            continue;
        };
        let (Some(now), Some(link)) = (rate(rx, w), value_at(limit, t)) else {
            continue;
        };
        if link >= s.min_network_bytes_per_second && now >= s.network_ceiling_share * link {
            return Some((
                "network",
                format!(
                    "fabric port {id} receiving {:.1} GB/s of its {:.0} Gb/s",
                    now / 1e9,
                    link * 8.0 / 1e9
                ),
            ));
        }
    }
    for (mount, m) in &host.mounts {
        let Some(read) = m.read else { continue };
        let (Some(now), Some(ceiling)) = (rate(read, w), peak_rate(read, t)) else {
            continue;
        };
        if ceiling >= s.min_filesystem_bytes_per_second && now >= s.network_ceiling_share * ceiling
        {
            let kind = read
                .key
                .get(attr::FILESYSTEM_TYPE)
                .unwrap_or("network file system");
            return Some((
                "network",
                format!("{kind} {mount} reading {:.0} MB/s, its ceiling", now / 1e6),
            ));
        }
    }
    None
}

/// The NFS mount whose RPCs waited longest in the client's queue over the window, and
/// that mean wait in seconds (time queued over operations, all methods together).
fn nfs_queue<'a>(host: &Host<'a>, w: Window) -> Option<(&'a str, f64)> {
    host.mounts
        .iter()
        .filter_map(|(mount, m)| {
            let queued: f64 = m.queue_time.iter().filter_map(|x| growth(x, w)).sum();
            let ops: f64 = m.operations.iter().filter_map(|x| growth(x, w)).sum();
            (ops > 0.0).then(|| (*mount, queued / ops))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// The highest rate between consecutive points of a counter, up to `t`.
fn peak_rate(s: &Series, t: i64) -> Option<f64> {
    let mut points = s.scalars()?.window(i64::MIN, t);
    let (mut t0, mut v0) = points.next()?;
    let mut peak: Option<f64> = None;
    for (t1, v1) in points {
        if t1 > t0 && v1 >= v0 {
            let r = (v1 - v0) / ((t1 - t0) as f64 / 1e9);
            peak = Some(peak.map_or(r, |p| p.max(r)));
        }
        (t0, v0) = (t1, v1);
    }
    peak
}

/// A node's instant on its own clock, and its working GPUs' (mean utilization, swing).
type NodeGpus = (i64, Vec<(f64, f64)>);

pub fn evaluate(store: &Store, s: &BottleneckSettings, t: i64) -> Vec<Finding> {
    // Working GPUs per node: a job or a process on them, with the node's clock
    // (`store::clock`).
    let mut nodes: BTreeMap<&str, NodeGpus> = BTreeMap::new();
    for ((host, _), gpu) in store.gpus() {
        let t = store.gpu_time(gpu, t);
        let w = Window::ending_at(t, s.window);
        let Some(util_series) = utilization(store, gpu, t) else {
            continue;
        };
        let working = util_series.key.get(attr::JOB_ID).is_some()
            || gpu_series(store, gpu, metric::GPU_PROCESS_MEMORY, &[])
                .next()
                .is_some();
        if !working {
            continue;
        }
        if let (Some(u), Some(sw)) = (mean(util_series, w), swing(util_series, w)) {
            nodes
                .entry(host.as_str())
                .or_insert_with(|| (t, Vec::new()))
                .1
                .push((u, sw));
        }
    }
    if nodes.is_empty() {
        return Vec::new();
    }
    let hosts = hosts(store);
    let mut out = Vec::new();
    for (node, (t, gpus)) in nodes {
        let w = Window::ending_at(t, s.window);
        let n = gpus.len() as f64;
        let util = gpus.iter().map(|g| g.0).sum::<f64>() / n;
        let swing = gpus.iter().map(|g| g.1).sum::<f64>() / n;
        if util >= s.max_utilization || swing < s.min_swing {
            continue;
        }
        let Some((cause, evidence)) = hosts.get(node).and_then(|h| cause(h, s, w, t)) else {
            continue;
        };
        out.push(Finding {
            kind: AlertKind::DataBottleneck,
            severity: Severity::Warning,
            labels: BTreeMap::from([
                (attr::HOST_NAME.to_string(), node.to_string()),
                (attr::BOTTLENECK.to_string(), cause.to_string()),
            ]),
            value: util,
            summary: format!(
                "{node}: {} GPUs starved by {cause}: {:.0}% busy on average, swinging {:.0} points; {evidence}",
                gpus.len(),
                util * 100.0,
                swing * 100.0
            ),
        });
    }
    out
}

/// The `bottleneck` detector in the one list (`detect.rs`).
#[derive(Debug)]
pub struct DataBottleneck;

impl super::detector::Detector for DataBottleneck {
    type Settings = BottleneckSettings;
    fn settings(all: &super::config::AlertSettings) -> &Self::Settings {
        &all.data_bottleneck
    }
    fn evaluate(
        cx: &mut super::detector::Context<'_>,
        s: &Self::Settings,
    ) -> super::detector::Evaluation {
        evaluate(cx.store, s, cx.t).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::config::AlertsConfig;
    use crate::store::builder::{every, same_on_any_clock, Builder, S};

    /// Two working GPUs on node `n`, utilization from `util(t)`.
    fn gpus(b: &mut Builder, util: impl Fn(i64) -> f64 + Copy) {
        for i in 0..2 {
            b.gpu(
                "n",
                i,
                Some("j"),
                metric::GPU_UTILIZATION,
                &[],
                every(5, 0, 120, util),
            );
        }
    }

    fn cpu(b: &mut Builder, user: f64, system: f64, iowait: f64) {
        for (mode, v) in [("user", user), ("system", system), ("iowait", iowait)] {
            b.series(
                metric::CPU_UTILIZATION,
                &[("host.name", "n"), ("cpu.mode", mode)],
                every(5, 0, 120, |_| v),
            );
        }
    }

    /// An NDR InfiniBand port (50 GB/s) receiving `gbytes` GB/s.
    fn fabric_port(b: &mut Builder, gbytes: f64) {
        let port = [
            ("host.name", "n"),
            ("hw.id", "mlx5_0:1"),
            ("hw.type", "network"),
            ("gpuwatch.fabric.link_layer", "InfiniBand"),
        ];
        b.series(
            metric::HW_NETWORK_BANDWIDTH_LIMIT,
            &port,
            every(5, 0, 120, |_| 50e9),
        );
        let mut rx = port.to_vec();
        rx.push(("network.io.direction", "receive"));
        b.series(
            metric::HW_NETWORK_IO,
            &rx,
            every(5, 0, 120, |t| t as f64 * gbytes * 1e9),
        );
    }

    /// An NFS 4.2 mount at /data: reads at `mbytes(t)` MB/s, and READ RPCs (100 a
    /// second) each queued `queue_ms` before they are sent.
    fn nfs(b: &mut Builder, mbytes: impl Fn(i64) -> f64, queue_ms: f64) {
        let mount = [
            ("host.name", "n"),
            ("system.device", "filer:/export"),
            ("system.filesystem.mountpoint", "/data"),
            ("system.filesystem.type", "nfs4"),
        ];
        let mut read = mount.to_vec();
        read.push(("disk.io.direction", "read"));
        let mut total = 0.0;
        let bytes: Vec<(i64, f64)> = every(5, 0, 120, |t| t as f64)
            .into_iter()
            .map(|(t, _)| {
                total += mbytes(t) * 1e6 * 5.0;
                (t, total)
            })
            .collect();
        b.series(metric::FILESYSTEM_IO, &read, bytes);
        let mut op = mount.to_vec();
        op.push(("rpc.method", "READ"));
        b.series(
            metric::NFS_RPC_OPERATIONS,
            &op,
            every(5, 0, 120, |t| t as f64 * 100.0),
        );
        b.series(
            metric::NFS_RPC_QUEUE_TIME,
            &op,
            every(5, 0, 120, |t| t as f64 * 100.0 * queue_ms / 1e3),
        );
    }

    fn swinging(t: i64) -> f64 {
        if (t / 20) % 2 == 0 {
            0.9
        } else {
            0.2
        }
    }

    #[test]
    fn cases() {
        let s = AlertsConfig::default()
            .validate()
            .expect("defaults")
            .data_bottleneck;
        type Setup = Box<dyn Fn(&mut Builder)>;
        let cases: Vec<(&str, Setup, Vec<&str>)> = vec![
            (
                "healthy: busy and steady",
                Box::new(|b| {
                    gpus(b, |_| 0.95);
                    cpu(b, 0.3, 0.1, 0.0);
                }),
                vec![],
            ),
            (
                "healthy: idle GPUs on a quiet host",
                Box::new(|b| {
                    gpus(b, |_| 0.0);
                    cpu(b, 0.05, 0.02, 0.0);
                }),
                vec![],
            ),
            (
                "faulty: swinging with high iowait",
                Box::new(|b| {
                    gpus(b, swinging);
                    cpu(b, 0.1, 0.05, 0.45);
                }),
                vec!["storage"],
            ),
            (
                "faulty: swinging with a disk busy all the time",
                Box::new(|b| {
                    gpus(b, swinging);
                    cpu(b, 0.1, 0.05, 0.05);
                    b.series(
                        metric::DISK_IO_TIME,
                        &[("host.name", "n"), ("system.device", "nvme0n1")],
                        every(5, 0, 120, |t| t as f64 * 0.99),
                    );
                }),
                vec!["storage"],
            ),
            (
                "faulty: swinging with the CPU saturated",
                Box::new(|b| {
                    gpus(b, swinging);
                    cpu(b, 0.8, 0.18, 0.0);
                }),
                vec!["cpu"],
            ),
            (
                "faulty: swinging with the NIC at its ceiling",
                Box::new(|b| {
                    gpus(b, swinging);
                    cpu(b, 0.2, 0.1, 0.0);
                    b.series(
                        metric::NETWORK_IO,
                        &[
                            ("host.name", "n"),
                            ("network.interface.name", "eth0"),
                            ("network.io.direction", "receive"),
                        ],
                        every(5, 0, 120, |t| t as f64 * 1.2e9),
                    );
                }),
                vec!["network"],
            ),
            (
                "healthy: swinging under load, a NIC steady at 210 MB/s",
                Box::new(|b| {
                    gpus(b, swinging);
                    cpu(b, 0.2, 0.1, 0.0);
                    b.series(
                        metric::NETWORK_IO,
                        &[
                            ("host.name", "n"),
                            ("network.interface.name", "eth0"),
                            ("network.io.direction", "receive"),
                        ],
                        every(5, 0, 120, |t| t as f64 * 0.21e9),
                    );
                }),
                vec![],
            ),
            (
                "faulty: swinging with an InfiniBand port at its link rate",
                Box::new(|b| {
                    gpus(b, swinging);
                    cpu(b, 0.2, 0.1, 0.0);
                    fabric_port(b, 48.0);
                }),
                vec!["network"],
            ),
            (
                "healthy: swinging, an InfiniBand port at a third of its rate",
                Box::new(|b| {
                    gpus(b, swinging);
                    cpu(b, 0.2, 0.1, 0.0);
                    fabric_port(b, 16.0);
                }),
                vec![],
            ),
            (
                "faulty: swinging with an NFS mount reading at its ceiling",
                Box::new(|b| {
                    gpus(b, swinging);
                    cpu(b, 0.2, 0.1, 0.0);
                    nfs(b, |_| 400.0, 0.5);
                }),
                vec!["network"],
            ),
            (
                "healthy: swinging, an NFS mount reading at half of what it did",
                Box::new(|b| {
                    gpus(b, swinging);
                    cpu(b, 0.2, 0.1, 0.0);
                    nfs(b, |t| if t < 40 { 400.0 } else { 200.0 }, 0.5);
                }),
                vec![],
            ),
            (
                "faulty: swinging with NFS RPCs queueing 40 ms in the client",
                Box::new(|b| {
                    gpus(b, swinging);
                    cpu(b, 0.2, 0.1, 0.0);
                    nfs(b, |t| if t < 40 { 400.0 } else { 200.0 }, 40.0);
                }),
                vec!["storage"],
            ),
            (
                "borderline: NFS RPCs queueing 5 ms is no cause",
                Box::new(|b| {
                    gpus(b, swinging);
                    cpu(b, 0.2, 0.1, 0.0);
                    nfs(b, |t| if t < 40 { 400.0 } else { 200.0 }, 5.0);
                }),
                vec![],
            ),
            (
                "borderline: swinging, host at 85% CPU is no cause",
                Box::new(|b| {
                    gpus(b, swinging);
                    cpu(b, 0.7, 0.15, 0.1);
                }),
                vec![],
            ),
            (
                "missing data: swinging, no host metrics",
                Box::new(|b| gpus(b, swinging)),
                vec![],
            ),
        ];
        for (name, setup, want) in cases {
            let mut b = Builder::new();
            setup(&mut b);
            let store = b.build();
            let got: Vec<String> = evaluate(&store, &s, 120 * S)
                .iter()
                .map(|f| f.labels["gpuwatch.bottleneck"].clone())
                .collect();
            assert_eq!(got, want, "{name}");
            same_on_any_clock(name, &store, |st, shift| evaluate(st, &s, 120 * S + shift));
        }
    }

    #[test]
    fn the_summary_names_the_port_or_the_mount() {
        let s = AlertsConfig::default()
            .validate()
            .expect("defaults")
            .data_bottleneck;
        let summary = |setup: &dyn Fn(&mut Builder)| {
            let mut b = Builder::new();
            gpus(&mut b, swinging);
            cpu(&mut b, 0.2, 0.1, 0.0);
            setup(&mut b);
            let found = evaluate(&b.build(), &s, 120 * S);
            found.first().map(|f| f.summary.clone()).unwrap_or_default()
        };
        let port = summary(&|b| fabric_port(b, 48.0));
        assert!(
            port.ends_with("fabric port mlx5_0:1 receiving 48.0 GB/s of its 400 Gb/s"),
            "{port}"
        );
        let mount = summary(&|b| nfs(b, |_| 400.0, 0.5));
        assert!(
            mount.ends_with("nfs4 /data reading 400 MB/s, its ceiling"),
            "{mount}"
        );
        let queue = summary(&|b| nfs(b, |_| 100.0, 40.0));
        assert!(
            queue.ends_with("NFS /data: RPCs queue 40 ms on average before they are sent"),
            "{queue}"
        );
    }
}
