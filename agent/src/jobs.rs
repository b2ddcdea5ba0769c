//! Job attribution: which job, team and pod each GPU process works for.
//!
//! For every process NVML lists on a GPU the agent reads, from the host's `/proc`
//! (`agent.proc_root`):
//!
//! * `/proc/PID/environ`: `SLURM_JOB_ID` and `SLURM_JOB_USER` (Slurm exports them to
//!   every task). Reading another user's environ needs root (or `CAP_SYS_PTRACE`); when
//!   it is refused the agent says so once and carries on with the other sources;
//! * `/proc/PID/cgroup`: the Slurm job (`.../job_<id>/...`, both cgroup versions) and the
//!   Kubernetes pod UID of kubelet's cgroups (`kubepods-burstable-pod<uid>.slice`,
//!   `/kubepods/besteffort/pod<uid>/<container>`) with the container id
//!   (`cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope`);
//! * `/proc/PID/status` (the real uid, named through `etc/passwd` beside the proc root)
//!   and `/proc/PID/comm` (the executable name) or the file name of `/proc/PID/exe`.
//!
//! Pod names come from the kubelet's pod-resources API (`kubelet`), which says which pod
//! each GPU is assigned to; a process in a pod on that GPU belongs to it (several pods on
//! one shared GPU are told apart by the process's `HOSTNAME`).
//!
//! A job is put together field by field, each field from the first source that knows it:
//! Slurm (`gpuwatch.job.id`), then Kubernetes (`k8s.namespace.name`, `k8s.pod.name`),
//! then the first matching `[[agent.jobs]]` rule (`gpuwatch.team`, `gpuwatch.job.id`).
//!
//! A GPU's own points carry the job of the process holding the most GPU memory on it
//! among those with a job (ties: the lowest pid); a GPU without such a process carries
//! the pod kubelet assigned it to, if any (so allocated idle GPUs are attributed too).
//! Process points carry their own process's job.
//!
//! What is read about a pid is kept while NVML keeps listing it and dropped as soon as
//! it does not, or as soon as the pid names another process (its `/proc/PID/stat` is
//! kept open and read each sample: see `procfs::Identity`); a pid that is gone before
//! it could be read has no job and the executable name `unknown`.

mod cgroup;
mod config;
pub mod kubelet;
mod procfs;
mod resolver;
mod rules;

#[cfg(test)]
mod tests;

pub use config::{JobRuleConfig, JobSettings, DEFAULT_KUBELET_SOCKET};
pub use kubelet::{PodDirectory, PodRef};
pub use resolver::JobResolver;
pub use rules::{JobRule, Pattern};
