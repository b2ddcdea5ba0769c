//! The resolver: processes to jobs, GPUs to the job of their main process. See the
//! module docs of `jobs` for the sources and the rules.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use gpuwatch_model::{GpuProcess, GpuSample, JobInfo};

use super::config::JobSettings;
use super::kubelet::{PodDirectory, PodRef};
use super::procfs::{read_process, Identity, ProcessFacts, ReadFailure};
use super::rules::{first_match, JobRule, Subject};

/// The executable name of a process that could not be read.
pub const UNKNOWN_EXECUTABLE: &str = "unknown";

/// What was read about one pid, and which process it was.
#[derive(Debug)]
struct Known {
    facts: ProcessFacts,
    identity: Option<Identity>,
}

/// Attributes GPU processes, and through them GPUs, to jobs. Keeps what it read about
/// each pid while that pid is listed and names the same process.
#[derive(Debug)]
pub struct JobResolver {
    settings: JobSettings,
    passwd: PathBuf,
    pods: PodDirectory,
    /// What was read per pid; only pids listed in the last call.
    cache: HashMap<u32, Known>,
    said_unreadable: bool,
    said_vanished: bool,
}

impl Default for JobResolver {
    fn default() -> Self {
        JobResolver::new(JobSettings::default(), PodDirectory::new())
    }
}

impl JobResolver {
    /// A resolver reading `settings.proc_root`, with pod names from `pods` (kept up to
    /// date by `kubelet::spawn`, or empty).
    pub fn new(settings: JobSettings, pods: PodDirectory) -> JobResolver {
        JobResolver {
            passwd: settings.passwd(),
            settings,
            pods,
            cache: HashMap::new(),
            said_unreadable: false,
            said_vanished: false,
        }
    }

    pub fn settings(&self) -> &JobSettings {
        &self.settings
    }

    /// How many pids it holds facts for.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Fills in every process's executable name and job (a job already set is kept),
    /// then each GPU's job when it has none: that of the process holding the most GPU
    /// memory among those with a job, else the one pod kubelet assigned the GPU to.
    /// Forgets pids no GPU lists any more.
    pub fn attribute(&mut self, gpus: &mut [GpuSample]) {
        let mut seen = HashSet::new();
        for gpu in gpus.iter_mut() {
            let pods = self.pods.pods_on(&gpu.uuid);
            for process in &mut gpu.processes {
                // A process on several GPUs is read (or checked) once a sample.
                if seen.insert(process.pid) {
                    self.learn(process.pid);
                }
                let facts = self.cache.get(&process.pid).map(|k| &k.facts);
                let name = facts.and_then(|f| f.comm.as_ref().or(f.exe.as_ref()));
                match name {
                    Some(name) => process.executable.clone_from(name),
                    None if process.executable.is_empty() => {
                        process.executable = UNKNOWN_EXECUTABLE.to_string();
                    }
                    None => {}
                }
                let Some(facts) = facts else { continue };
                if process.job.is_none() {
                    process.job = process_job(facts, &pods, &self.settings.rules);
                }
            }
            if gpu.job.is_none() {
                gpu.job = main_job(&gpu.processes)
                    .or_else(|| assigned_pod_job(&pods, &self.settings.rules));
            }
        }
        self.cache.retain(|pid, _| seen.contains(pid));
    }

    /// Reads `pid` unless it is cached; logs the first unreadable file and the first
    /// pid that is not there.
    fn learn(&mut self, pid: u32) {
        if let Some(known) = self.cache.get_mut(&pid) {
            if known.identity.as_mut().is_none_or(Identity::same_process) {
                return;
            }
            // The process exited and another was given its pid between two samples.
            self.cache.remove(&pid);
        }
        let mut unreadable = Vec::new();
        let identity = Identity::open(&self.settings.proc_root.join(pid.to_string()));
        let read = read_process(&self.settings.proc_root, &self.passwd, pid, &mut unreadable);
        if let Some(first) = unreadable.first() {
            if !self.said_unreadable {
                self.said_unreadable = true;
                tracing::info!(
                    path = %first.path.display(),
                    error = %first.error,
                    "cannot read a GPU process's file; its job is attributed from what \
                     can be read (Slurm variables need the agent to run as root)"
                );
            }
        }
        match read {
            Ok(facts) => {
                self.cache.insert(pid, Known { facts, identity });
            }
            Err(ReadFailure::Vanished) => {
                if !self.said_vanished {
                    self.said_vanished = true;
                    tracing::info!(
                        pid,
                        proc_root = %self.settings.proc_root.display(),
                        "a GPU process is not in the proc root: it exited, or the agent \
                         does not see the host's processes (run it in the host's PID \
                         namespace or point agent.proc_root at the host's /proc)"
                    );
                }
            }
        }
    }
}

/// The job of one process on a GPU assigned `pods`: Slurm's job id, then the pod, then
/// the first matching rule for what is still unset.
fn process_job(facts: &ProcessFacts, pods: &[PodRef], rules: &[JobRule]) -> Option<JobInfo> {
    let slurm = facts
        .slurm_job
        .clone()
        .or_else(|| facts.cgroup.slurm_job.clone());
    let pod = facts
        .cgroup
        .pod_uid
        .as_ref()
        .and_then(|_| pod_of(pods, facts.hostname.as_deref()));
    let subject = Subject {
        user: facts.user.as_deref(),
        executables: [facts.comm.as_deref(), facts.exe.as_deref()],
        namespace: pod.map(|p| p.namespace.as_str()),
    };
    let uid = facts.cgroup.pod_uid.clone();
    job(slurm, pod, uid, first_match(rules, &subject))
}

/// The pod of a process that lives in some pod: the GPU's only pod, or among several
/// (a shared GPU) the one named like the process's `HOSTNAME`.
fn pod_of<'p>(pods: &'p [PodRef], hostname: Option<&str>) -> Option<&'p PodRef> {
    match pods {
        [one] => Some(one),
        many => hostname.and_then(|h| many.iter().find(|p| p.name == h)),
    }
}

/// A GPU without an attributed process: the one pod it is assigned to, if any.
fn assigned_pod_job(pods: &[PodRef], rules: &[JobRule]) -> Option<JobInfo> {
    let [pod] = pods else { return None };
    let subject = Subject {
        namespace: Some(&pod.namespace),
        ..Subject::default()
    };
    job(None, Some(pod), None, first_match(rules, &subject))
}

fn job(
    slurm: Option<String>,
    pod: Option<&PodRef>,
    pod_uid: Option<String>,
    rule: Option<&JobRule>,
) -> Option<JobInfo> {
    let job = JobInfo {
        job_id: slurm.or_else(|| rule.and_then(|r| r.job.clone())),
        team: rule.and_then(|r| r.team.clone()),
        k8s_namespace: pod.map(|p| p.namespace.clone()),
        k8s_pod: pod.map(|p| p.name.clone()),
        k8s_pod_uid: pod_uid,
    };
    (job != JobInfo::default()).then_some(job)
}

/// The job of the process holding the most memory among those with a job; ties go to
/// the lowest pid.
pub(crate) fn main_job(processes: &[GpuProcess]) -> Option<JobInfo> {
    processes
        .iter()
        .filter(|p| p.job.is_some())
        .max_by(|a, b| a.memory_bytes.cmp(&b.memory_bytes).then(b.pid.cmp(&a.pid)))
        .and_then(|p| p.job.clone())
}
