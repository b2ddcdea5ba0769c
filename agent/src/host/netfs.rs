//! Network file systems, per mount, read every interval:
//!
//! * NFS (`nfs`, `nfs4`) from `<proc_root>/1/mountstats` (see below): bytes applications read
//!   and wrote (the `bytes:` line's normal + direct counters), and per RPC operation
//!   the count, retransmissions, and cumulative queue and round-trip time (`per-op
//!   statistics`); the transports' sends and backlog (`xprt:` lines). Every operation
//!   of [`NFS_OPERATIONS`] is kept, the others once they have been used: an NFSv4
//!   mount lists some sixty, most of them never called.
//! * Lustre from `<proc_root>/fs/lustre/llite/*/stats` and, where Lustre 2.15+ moved
//!   them, `<sys_root>/kernel/debug/lustre/llite/*/stats` (the first one found for an
//!   instance wins): the sums of `read_bytes` and `write_bytes`. The mount point is
//!   the one `mountstats` lists for the file system's name (`<nid>:/<fsname>`), when
//!   it lists exactly one.
//!
//! `mountstats` is read from `<proc_root>/1/` first, the mount namespace of PID 1 of
//! the PID namespace `proc_root` belongs to: with the host's `/proc` mounted at
//! `/host/proc` in a container (the DaemonSet), that is the host's init and so the
//! host's mounts. Where it cannot be read (no access to PID 1 without CAP_SYS_PTRACE
//! or root), `<proc_root>/self/`: the agent's own mount namespace.
//!
//! A bind mount of an NFS export shows the same counters again under its own mount
//! point; sum per `system.device` with care. Missing files mean no such mounts (no
//! metrics), never an error; unreadable ones warn once.

mod lustre;
mod mountstats;

use std::path::{Path, PathBuf};

use super::files::Files;

pub use crate::readings::{FilesystemIo, RpcOperation, RpcTransport};
pub use lustre::{fsname, parse_llite_stats, LustreIo};
pub use mountstats::{parse_mountstats, MountStats, NfsStats};

/// NFS operations always exported while the mount lists them.
pub const NFS_OPERATIONS: [&str; 5] = ["READ", "WRITE", "GETATTR", "LOOKUP", "ACCESS"];

/// Whether an NFS operation is exported.
pub fn keep_operation(op: &RpcOperation) -> bool {
    op.operations > 0 || NFS_OPERATIONS.contains(&op.method.as_str())
}

/// The file systems of a parsed `mountstats` and the Lustre instances found: NFS
/// mounts in the file's order, then Lustre in the instances' order.
pub fn filesystems(mounts: Vec<MountStats>, lustre: Vec<(String, LustreIo)>) -> Vec<FilesystemIo> {
    let lustre_mounts: Vec<(&str, &str)> = mounts
        .iter()
        .filter(|m| m.fstype == "lustre")
        .filter_map(|m| Some((m.device.rsplit_once(":/")?.1, m.mountpoint.as_str())))
        .collect();
    let mut out: Vec<FilesystemIo> = Vec::new();
    let mut lustre_io = Vec::new();
    for (instance, io) in lustre {
        let name = fsname(&instance);
        let mut matching = lustre_mounts.iter().filter(|(fs, _)| Some(*fs) == name);
        let mountpoint = match (matching.next(), matching.next()) {
            (Some((_, mountpoint)), None) => Some(mountpoint.to_string()),
            _ => None,
        };
        lustre_io.push(FilesystemIo {
            device: instance,
            mountpoint,
            fstype: "lustre".to_string(),
            read_bytes: io.read_bytes,
            write_bytes: io.write_bytes,
            transport: None,
            operations: Vec::new(),
        });
    }
    for mount in mounts {
        let Some(nfs) = mount.nfs else {
            continue;
        };
        out.push(FilesystemIo {
            device: mount.device,
            mountpoint: Some(mount.mountpoint),
            fstype: mount.fstype,
            read_bytes: nfs.read_bytes,
            write_bytes: nfs.write_bytes,
            transport: nfs.transport,
            operations: nfs.operations.into_iter().filter(keep_operation).collect(),
        });
    }
    out.extend(lustre_io);
    out
}

/// Reads the NFS and Lustre counters of this machine's mounts.
#[derive(Debug)]
pub struct NetfsReader {
    /// `<proc_root>/1/mountstats`, tried first, and `<proc_root>/self/mountstats`.
    init_mountstats: PathBuf,
    mountstats: PathBuf,
    llite_dirs: [PathBuf; 2],
    files: Files,
}

impl NetfsReader {
    pub fn new(proc_root: &Path, sys_root: &Path) -> NetfsReader {
        NetfsReader {
            init_mountstats: proc_root.join("1/mountstats"),
            mountstats: proc_root.join("self/mountstats"),
            llite_dirs: [
                proc_root.join("fs/lustre/llite"),
                sys_root.join("kernel/debug/lustre/llite"),
            ],
            files: Files::new("network file system counters are left out"),
        }
    }

    /// Every NFS mount and Lustre instance, as [`filesystems`] orders them.
    pub fn read(&mut self) -> Vec<FilesystemIo> {
        // PID 1's quietly: without access to it, the agent's own namespace is the
        // answer, not a fault.
        let mounts = std::fs::read_to_string(&self.init_mountstats)
            .ok()
            .or_else(|| {
                let own = self.mountstats.clone();
                self.files.text(&own)
            })
            .map(|t| parse_mountstats(&t))
            .unwrap_or_default();
        let mut lustre: Vec<(String, LustreIo)> = Vec::new();
        for dir in &self.llite_dirs {
            for instance in self.files.entries(dir) {
                if lustre.iter().any(|(seen, _)| *seen == instance) {
                    continue;
                }
                if let Some(text) = self.files.text(&dir.join(&instance).join("stats")) {
                    lustre.push((instance, parse_llite_stats(&text)));
                }
            }
        }
        filesystems(mounts, lustre)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: &str, operations: u64) -> RpcOperation {
        RpcOperation {
            method: method.into(),
            operations,
            transmissions: operations,
            queue_ms: 0,
            rtt_ms: 0,
        }
    }

    #[test]
    fn keeps_the_main_operations_and_those_used() {
        let cases = [
            (op("READ", 0), true),
            (op("ACCESS", 0), true),
            (op("READDIR", 0), false),
            (op("READDIR", 3), true),
        ];
        for (op, want) in cases {
            assert_eq!(keep_operation(&op), want, "{op:?}");
        }
    }

    #[test]
    fn lustre_instances_find_their_mount_point() {
        let mount = |device: &str, mountpoint: &str| MountStats {
            device: device.into(),
            mountpoint: mountpoint.into(),
            fstype: "lustre".into(),
            nfs: None,
        };
        let mounts = vec![
            mount("10.0.0.1@o2ib:/scratch", "/lustre/scratch"),
            mount("10.0.0.2@o2ib:/work", "/work"),
            mount("10.0.0.2@o2ib:/work", "/also/work"),
        ];
        let io = LustreIo {
            read_bytes: Some(1),
            write_bytes: None,
        };
        let found = filesystems(
            mounts,
            vec![
                ("scratch-ffff8a1b2c3d4000".into(), io),
                ("work-ffff8a1b2c3d5000".into(), io),
                ("home-ffff8a1b2c3d6000".into(), io),
            ],
        );
        let points: Vec<(&str, Option<&str>)> = found
            .iter()
            .map(|f| (f.device.as_str(), f.mountpoint.as_deref()))
            .collect();
        assert_eq!(
            points,
            [
                ("scratch-ffff8a1b2c3d4000", Some("/lustre/scratch")),
                ("work-ffff8a1b2c3d5000", None),
                ("home-ffff8a1b2c3d6000", None),
            ],
            "two mounts of work: which one is not known"
        );
        assert!(found.iter().all(|f| f.fstype == "lustre"));
    }

    #[test]
    fn pid_1s_mounts_come_before_the_agents_own() {
        let dir = std::env::temp_dir().join(format!("gpuwatch-netfs-{}", std::process::id()));
        let nfs = |device: &str, at: &str| {
            format!(
                "device {device} mounted on {at} with fstype nfs4 statvers=1.1\n\
                 \tbytes:\t100 200 0 0 100 200 1 1\n"
            )
        };
        std::fs::create_dir_all(dir.join("self")).expect("temp dir");
        std::fs::write(dir.join("self/mountstats"), nfs("own:/x", "/own")).expect("write");
        let none = Path::new("/nonexistent/gpuwatch-sys");
        let mount = |reader: &mut NetfsReader| {
            reader
                .read()
                .into_iter()
                .map(|f| f.mountpoint.unwrap_or_default())
                .collect::<Vec<_>>()
        };
        assert_eq!(mount(&mut NetfsReader::new(&dir, none)), ["/own"]);
        std::fs::create_dir_all(dir.join("1")).expect("temp dir");
        std::fs::write(
            dir.join("1/mountstats"),
            nfs("filer:/datasets", "/datasets"),
        )
        .expect("write");
        assert_eq!(mount(&mut NetfsReader::new(&dir, none)), ["/datasets"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn nothing_there_means_no_file_systems() {
        let mut reader = NetfsReader::new(
            Path::new("/nonexistent/gpuwatch-proc"),
            Path::new("/nonexistent/gpuwatch-sys"),
        );
        assert!(reader.read().is_empty());
    }
}
