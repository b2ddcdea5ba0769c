//! Reading one process from a proc root (`/proc`, or the host's mounted elsewhere):
//! environ, cgroup, status and comm, each failing on its own.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::cgroup::{self, CgroupJob};

/// What the agent knows about one process, read once per pid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProcessFacts {
    /// `/proc/PID/comm`.
    pub(crate) comm: Option<String>,
    /// The file name of `/proc/PID/exe` (readable for the agent's own user or root).
    pub(crate) exe: Option<String>,
    /// `SLURM_JOB_USER`, else the name of the real uid in `etc/passwd`, else the uid.
    pub(crate) user: Option<String>,
    /// `SLURM_JOB_ID`.
    pub(crate) slurm_job: Option<String>,
    /// `HOSTNAME` from the environment: a pod's name unless the pod set another.
    pub(crate) hostname: Option<String>,
    /// The cgroup paths' job, pod and container.
    pub(crate) cgroup: CgroupJob,
}

/// Which process a pid named when it was read: its `/proc/PID/stat`, kept open, and
/// its start time. procfs ties an open file to the process it was opened for, so once
/// that process has exited reading it fails (ESRCH), even when a new process has been
/// given the same pid; where the files are not procfs (a copy, a test) a changed start
/// time tells the processes apart. One read of an open file per process and sample.
#[derive(Debug)]
pub(crate) struct Identity {
    file: File,
    start: u64,
    text: String,
}

impl Identity {
    /// Opens `/proc/PID/stat` in `dir`; `None` when it cannot be read or parsed.
    pub(crate) fn open(dir: &Path) -> Option<Identity> {
        let mut identity = Identity {
            file: File::open(dir.join("stat")).ok()?,
            start: 0,
            text: String::new(),
        };
        identity.start = identity.read_start()?;
        Some(identity)
    }

    fn read_start(&mut self) -> Option<u64> {
        self.text.clear();
        self.file.seek(SeekFrom::Start(0)).ok()?;
        self.file.read_to_string(&mut self.text).ok()?;
        start_time(&self.text)
    }

    /// Whether the pid still names the process it named when opened.
    pub(crate) fn same_process(&mut self) -> bool {
        let start = self.start;
        self.read_start() == Some(start)
    }
}

/// Field 22 of a `/proc/PID/stat` line, the start time in clock ticks after boot. The
/// command name (field 2) sits in parentheses and may hold spaces and parentheses.
pub(crate) fn start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Why a process could not be read at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadFailure {
    /// The process has exited (or lives in a pid namespace this proc root does not show).
    Vanished,
}

/// A file of the process that exists but could not be read (permission, not a file).
#[derive(Debug)]
pub(crate) struct Unreadable {
    pub(crate) path: PathBuf,
    pub(crate) error: std::io::Error,
}

/// Reads process `pid` under `proc_root`; user names come from `passwd`. Files that
/// exist but cannot be read are left out and returned in `unreadable` for the caller to
/// report.
pub(crate) fn read_process(
    proc_root: &Path,
    passwd: &Path,
    pid: u32,
    unreadable: &mut Vec<Unreadable>,
) -> Result<ProcessFacts, ReadFailure> {
    let dir = proc_root.join(pid.to_string());
    let mut read = |name: &str| -> Result<Option<Vec<u8>>, ReadFailure> {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == ErrorKind::NotFound => Err(ReadFailure::Vanished),
            Err(error) => {
                unreadable.push(Unreadable { path, error });
                Ok(None)
            }
        }
    };
    // status first: a pid without it is gone.
    let uid = read("status")?.and_then(|s| real_uid(&String::from_utf8_lossy(&s)));
    let comm = read("comm")?
        .map(|c| String::from_utf8_lossy(&c).trim().to_string())
        .filter(|c| !c.is_empty());
    let environ = read("environ")?.unwrap_or_default();
    let cgroup = read("cgroup")?
        .map(|c| cgroup::parse(&String::from_utf8_lossy(&c)))
        .unwrap_or_default();
    let exe = std::fs::read_link(dir.join("exe"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .map(|n| n.trim_end_matches(" (deleted)").to_string())
        .filter(|n| !n.is_empty());

    let env = |key: &str| env_var(&environ, key);
    let user = env("SLURM_JOB_USER")
        .or_else(|| uid.map(|uid| user_name(passwd, uid).unwrap_or_else(|| uid.to_string())));
    Ok(ProcessFacts {
        comm,
        exe,
        user,
        slurm_job: env("SLURM_JOB_ID"),
        hostname: env("HOSTNAME"),
        cgroup,
    })
}

/// The value of `key` in a NUL-separated environ block, when set and not empty.
pub(crate) fn env_var(environ: &[u8], key: &str) -> Option<String> {
    environ
        .split(|b| *b == 0)
        .filter_map(|entry| entry.strip_prefix(key.as_bytes())?.strip_prefix(b"="))
        .next()
        .map(|value| String::from_utf8_lossy(value).trim().to_string())
        .filter(|value| !value.is_empty())
}

/// The real uid of a `/proc/PID/status` text (`Uid:\treal\teffective\tsaved\tfs`).
pub(crate) fn real_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|id| id.parse().ok())
}

/// The name of `uid` in a passwd file (`name:x:uid:gid:...`); `None` when the file is
/// missing or does not list it (users from LDAP, or a container's own file).
pub(crate) fn user_name(passwd: &Path, uid: u32) -> Option<String> {
    let text = std::fs::read_to_string(passwd).ok()?;
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let id: u32 = fields.nth(1)?.trim().parse().ok()?;
            (id == uid && !name.is_empty()).then(|| name.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environ_values_are_found_by_whole_key() {
        let environ = b"SLURM_JOB_ID_X=1\0SLURM_JOB_ID=4411\0EMPTY=\0HOSTNAME=pod-a\0";
        assert_eq!(env_var(environ, "SLURM_JOB_ID").as_deref(), Some("4411"));
        assert_eq!(env_var(environ, "HOSTNAME").as_deref(), Some("pod-a"));
        assert_eq!(env_var(environ, "EMPTY"), None);
        assert_eq!(env_var(environ, "SLURM_JOB"), None);
        assert_eq!(env_var(b"", "X"), None);
    }

    #[test]
    fn real_uid_is_the_first_of_four() {
        let status = "Name:\tpython\nUmask:\t0022\nUid:\t1001\t0\t0\t0\nGid:\t100\t100\t100\t100\n";
        assert_eq!(real_uid(status), Some(1001));
        assert_eq!(real_uid("Name:\tx\n"), None);
        assert_eq!(real_uid("Uid:\tx\n"), None);
    }
}
