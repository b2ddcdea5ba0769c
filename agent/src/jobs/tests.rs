//! The resolver against fake proc trees: real files in a temporary directory laid out
//! like `/proc` and `/etc/passwd`.

use std::path::{Path, PathBuf};

use gpuwatch_model::{GpuProcess, GpuSample, JobInfo};

use super::kubelet::proto::{ContainerDevices, ContainerResources, PodResources};
use super::*;

const POD_UID: &str = "1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718";
const CID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A temporary directory holding `proc/` and `etc/passwd`, removed on drop.
pub(crate) struct FakeHost {
    root: PathBuf,
    /// Start time of the next process written.
    next_start: std::cell::Cell<u64>,
}

impl FakeHost {
    pub(crate) fn new(name: &str) -> FakeHost {
        let root =
            std::env::temp_dir().join(format!("gpuwatch-jobs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("proc")).expect("create proc");
        std::fs::create_dir_all(root.join("etc")).expect("create etc");
        std::fs::write(
            root.join("etc/passwd"),
            "# users\nroot:x:0:0:root:/root:/bin/bash\nalice:x:1001:1001::/home/alice:/bin/bash\nbob:x:1002:1002::/home/bob:/bin/sh\n",
        )
        .expect("write passwd");
        FakeHost {
            root,
            next_start: std::cell::Cell::new(1_000),
        }
    }

    pub(crate) fn proc_root(&self) -> PathBuf {
        self.root.join("proc")
    }

    /// Writes process `pid`: `comm`, `status` with `uid`, `environ` from `env`, `cgroup`.
    pub(crate) fn process(
        &self,
        pid: u32,
        comm: &str,
        uid: u32,
        env: &[(&str, &str)],
        cgroup: &str,
    ) {
        let dir = self.proc_root().join(pid.to_string());
        std::fs::create_dir_all(&dir).expect("create pid dir");
        std::fs::write(dir.join("comm"), format!("{comm}\n")).expect("comm");
        std::fs::write(
            dir.join("status"),
            format!("Name:\t{comm}\nPid:\t{pid}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"),
        )
        .expect("status");
        let mut environ = Vec::new();
        for (k, v) in env {
            environ.extend_from_slice(format!("{k}={v}").as_bytes());
            environ.push(0);
        }
        std::fs::write(dir.join("environ"), environ).expect("environ");
        std::fs::write(dir.join("cgroup"), cgroup).expect("cgroup");
        // The same process while its stat is there; a new one starts after the last.
        if !dir.join("stat").exists() {
            self.start(pid);
        }
    }

    /// Writes a new `stat` for `pid` in place, as if the pid now named a process started
    /// later (pid reuse); its other files are the caller's.
    pub(crate) fn start(&self, pid: u32) {
        let start = self.next_start.get();
        self.next_start.set(start + 1);
        let stat = format!("{pid} (a (b) c) S 1 {pid} {pid} 0 -1 4194304 100 0 0 0 5 2 0 0 20 0 1 0 {start} 1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n");
        let path = self.proc_root().join(pid.to_string()).join("stat");
        std::fs::write(path, stat).expect("stat");
    }

    pub(crate) fn remove(&self, pid: u32) {
        std::fs::remove_dir_all(self.proc_root().join(pid.to_string())).expect("remove pid");
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

impl Drop for FakeHost {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn settings(proc_root: &Path, rules: Vec<JobRule>) -> JobSettings {
    JobSettings {
        proc_root: proc_root.to_path_buf(),
        kubelet_socket: None,
        rules,
    }
}

fn rule(user: Option<&str>, executable: Option<&str>, team: &str, job: Option<&str>) -> JobRule {
    JobRule {
        user: user.map(Pattern::new),
        executable: executable.map(Pattern::new),
        namespace: None,
        team: Some(team.to_string()),
        job: job.map(str::to_string),
    }
}

fn gpu(uuid: &str, processes: &[(u32, u64)]) -> GpuSample {
    GpuSample {
        utilization: 0.5,
        power_watts: 100.0,
        temperature_celsius: 40.0,
        processes: processes
            .iter()
            .map(|&(pid, memory_bytes)| GpuProcess {
                pid,
                executable: String::new(),
                memory_bytes,
                job: None,
            })
            .collect(),
        ..GpuSample::unmeasured(0, uuid.to_string(), "NVIDIA H100".to_string())
    }
}

fn job(
    id: Option<&str>,
    team: Option<&str>,
    ns: Option<&str>,
    pod: Option<&str>,
) -> Option<JobInfo> {
    Some(JobInfo {
        job_id: id.map(str::to_string),
        team: team.map(str::to_string),
        k8s_namespace: ns.map(str::to_string),
        k8s_pod: pod.map(str::to_string),
        k8s_pod_uid: None,
    })
}

/// `job` of a process whose cgroup is pod `uid`'s.
fn in_pod(job: Option<JobInfo>, uid: &str) -> Option<JobInfo> {
    Some(JobInfo {
        k8s_pod_uid: Some(uid.to_string()),
        ..job.unwrap_or_default()
    })
}

fn pod(namespace: &str, name: &str, devices: &[&str]) -> PodResources {
    PodResources {
        name: name.to_string(),
        namespace: namespace.to_string(),
        containers: vec![ContainerResources {
            name: "main".to_string(),
            devices: vec![ContainerDevices {
                resource_name: "nvidia.com/gpu".to_string(),
                device_ids: devices.iter().map(|d| d.to_string()).collect(),
            }],
        }],
    }
}

#[test]
fn slurm_environ_names_the_job_and_the_user_for_rules() {
    let host = FakeHost::new("slurm");
    host.process(
        100,
        "python3",
        1001,
        &[
            ("PATH", "/usr/bin"),
            ("SLURM_JOB_ID", "4411"),
            ("SLURM_JOB_USER", "carol"),
        ],
        "0::/system.slice/slurmstepd.scope/job_4411/step_0/user/task_0\n",
    );
    let rules = vec![
        rule(Some("alice"), None, "wrong", None),
        rule(
            Some("carol"),
            Some("python*"),
            "nlp",
            Some("ignored: Slurm names it"),
        ),
    ];
    let mut resolver = JobResolver::new(settings(&host.proc_root(), rules), PodDirectory::new());
    let mut gpus = vec![gpu("GPU-0", &[(100, 1 << 30)])];
    resolver.attribute(&mut gpus);
    let process = &gpus[0].processes[0];
    assert_eq!(process.executable, "python3");
    assert_eq!(process.job, job(Some("4411"), Some("nlp"), None, None));
    assert_eq!(
        gpus[0].job, process.job,
        "the GPU carries its process's job"
    );
}

#[test]
fn slurm_cgroup_names_the_job_when_environ_is_unreadable() {
    let host = FakeHost::new("unreadable");
    host.process(
        200,
        "train",
        1002,
        &[],
        "7:devices:/slurm/uid_1002/job_77/step_0/task_0\n",
    );
    // A directory cannot be read as a file, whoever runs the test (root reads 0o000).
    let environ = host.proc_root().join("200/environ");
    std::fs::remove_file(&environ).expect("remove environ");
    std::fs::create_dir(&environ).expect("environ as a directory");
    let rules = vec![rule(Some("bob"), None, "vision", None)];
    let mut resolver = JobResolver::new(settings(&host.proc_root(), rules), PodDirectory::new());
    let mut gpus = vec![gpu("GPU-0", &[(200, 10)])];
    resolver.attribute(&mut gpus);
    assert_eq!(
        gpus[0].processes[0].job,
        job(Some("77"), Some("vision"), None, None),
        "job from the cgroup, user from passwd"
    );
}

#[test]
fn config_rules_match_user_and_executable_in_order() {
    let host = FakeHost::new("rules");
    host.process(
        300,
        "python",
        1001,
        &[],
        "0::/user.slice/user-1001.slice/session-1.scope\n",
    );
    host.process(301, "ollama", 1002, &[], "0::/user.slice\n");
    host.process(302, "bash", 4242, &[], "0::/\n");
    let rules = vec![
        rule(Some("alice"), Some("python"), "nlp", Some("alice-notebook")),
        rule(None, Some("oll*"), "serving", None),
        rule(Some("4242"), None, "unnamed-uid", None),
    ];
    let mut resolver = JobResolver::new(settings(&host.proc_root(), rules), PodDirectory::new());
    let mut gpus = vec![gpu("GPU-0", &[(300, 5), (301, 9), (302, 1), (303, 100)])];
    resolver.attribute(&mut gpus);
    let jobs: Vec<_> = gpus[0].processes.iter().map(|p| p.job.clone()).collect();
    assert_eq!(
        jobs,
        vec![
            job(Some("alice-notebook"), Some("nlp"), None, None),
            job(None, Some("serving"), None, None),
            job(None, Some("unnamed-uid"), None, None),
            None,
        ]
    );
    assert_eq!(
        gpus[0].processes[3].executable, "unknown",
        "pid 303 does not exist"
    );
    assert_eq!(
        gpus[0].job,
        job(None, Some("serving"), None, None),
        "the most memory among processes with a job (303 has none)"
    );
}

#[test]
fn kubernetes_processes_take_the_pod_kubelet_gave_their_gpu() {
    let host = FakeHost::new("k8s");
    let underscored = POD_UID.replace('-', "_");
    let v2 = format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{underscored}.slice/cri-containerd-{CID}.scope\n");
    let v1 = format!("12:memory:/kubepods/besteffort/pod{POD_UID}/{CID}\n");
    host.process(400, "python", 0, &[("HOSTNAME", "trainer-0")], &v2);
    host.process(401, "python", 0, &[("HOSTNAME", "infer-b")], &v1);
    host.process(402, "python", 0, &[("HOSTNAME", "other")], &v1);
    host.process(403, "python", 0, &[], "0::/user.slice\n");
    let pods = PodDirectory::new();
    pods.set(&[
        pod("ml", "trainer-0", &["GPU-A"]),
        pod("serve", "infer-a", &["GPU-B::0"]),
        pod("serve", "infer-b", &["GPU-B::1"]),
        pod("idle", "reserved", &["GPU-C"]),
    ]);
    let mut rules = vec![JobRule {
        namespace: Some(Pattern::new("serve")),
        ..rule(None, None, "inference", None)
    }];
    rules.push(JobRule {
        namespace: Some(Pattern::new("idle")),
        ..rule(None, None, "reservations", None)
    });
    let mut resolver = JobResolver::new(settings(&host.proc_root(), rules), pods);
    let mut gpus = vec![
        gpu("GPU-A", &[(400, 5), (403, 50)]),
        gpu("GPU-B", &[(401, 5), (402, 5)]),
        gpu("GPU-C", &[]),
        gpu("GPU-D", &[]),
    ];
    resolver.attribute(&mut gpus);
    assert_eq!(
        gpus[0].processes[0].job,
        in_pod(job(None, None, Some("ml"), Some("trainer-0")), POD_UID)
    );
    assert_eq!(gpus[0].processes[1].job, None, "not in a pod: no pod name");
    assert_eq!(gpus[0].job, gpus[0].processes[0].job);
    assert_eq!(
        gpus[1].processes[0].job,
        in_pod(
            job(None, Some("inference"), Some("serve"), Some("infer-b")),
            POD_UID
        ),
        "a shared GPU's pods are told apart by HOSTNAME"
    );
    assert_eq!(
        gpus[1].processes[1].job,
        in_pod(None, POD_UID),
        "no pod of that name on the GPU: known by its UID alone"
    );
    assert_eq!(gpus[1].job, gpus[1].processes[0].job);
    assert_eq!(
        gpus[2].job,
        job(None, Some("reservations"), Some("idle"), Some("reserved")),
        "an idle GPU carries the pod it is assigned to"
    );
    assert_eq!(gpus[3].job, None);
}

#[test]
fn vanished_pids_are_forgotten_and_retried() {
    let host = FakeHost::new("vanish");
    host.process(500, "a", 1001, &[("SLURM_JOB_ID", "1")], "0::/\n");
    host.process(501, "b", 1001, &[("SLURM_JOB_ID", "2")], "0::/\n");
    let mut resolver =
        JobResolver::new(settings(&host.proc_root(), Vec::new()), PodDirectory::new());
    let mut gpus = vec![gpu("GPU-0", &[(500, 1), (501, 2), (502, 3)])];
    resolver.attribute(&mut gpus);
    assert_eq!(resolver.cached(), 2, "502 was never there");
    assert_eq!(gpus[0].job, job(Some("2"), None, None, None));

    // 501 exits; 502 starts; cached facts of 500 are kept even though its files change.
    host.remove(501);
    host.process(502, "c", 1001, &[("SLURM_JOB_ID", "3")], "0::/\n");
    host.process(500, "a", 1001, &[("SLURM_JOB_ID", "changed")], "0::/\n");
    let mut gpus = vec![gpu("GPU-0", &[(500, 1), (502, 3)])];
    resolver.attribute(&mut gpus);
    assert_eq!(resolver.cached(), 2);
    assert_eq!(
        gpus[0].processes[0].job,
        job(Some("1"), None, None, None),
        "cached"
    );
    assert_eq!(
        gpus[0].processes[1].job,
        job(Some("3"), None, None, None),
        "read now"
    );

    // 500 leaves the GPU: it is forgotten, and read afresh if it comes back.
    resolver.attribute(&mut [gpu("GPU-0", &[(502, 3)])]);
    assert_eq!(resolver.cached(), 1);
    let mut gpus = vec![gpu("GPU-0", &[(500, 1)])];
    resolver.attribute(&mut gpus);
    assert_eq!(
        gpus[0].processes[0].job,
        job(Some("changed"), None, None, None)
    );
}

#[test]
fn the_main_process_is_the_one_with_most_memory_ties_to_the_lowest_pid() {
    let host = FakeHost::new("main");
    for (pid, id) in [
        (600, "small"),
        (601, "big"),
        (602, "tie-high"),
        (603, "tie-low"),
    ] {
        host.process(pid, "x", 0, &[("SLURM_JOB_ID", id)], "0::/\n");
    }
    let mut resolver =
        JobResolver::new(settings(&host.proc_root(), Vec::new()), PodDirectory::new());
    let mut gpus = vec![
        gpu("GPU-0", &[(600, 1), (601, 10)]),
        gpu("GPU-1", &[(603, 5), (602, 5)]),
    ];
    resolver.attribute(&mut gpus);
    assert_eq!(gpus[0].job, job(Some("big"), None, None, None));
    assert_eq!(gpus[1].job, job(Some("tie-high"), None, None, None));
}

#[test]
fn the_passwd_file_sits_beside_the_proc_root() {
    let host = FakeHost::new("passwd");
    let settings = settings(&host.proc_root(), Vec::new());
    assert_eq!(settings.passwd(), host.path("etc/passwd"));
    assert_eq!(
        JobSettings::default().passwd(),
        PathBuf::from("/etc/passwd")
    );
    assert_eq!(
        procfs::user_name(&settings.passwd(), 1002).as_deref(),
        Some("bob")
    );
    assert_eq!(procfs::user_name(&settings.passwd(), 7), None);
}

#[test]
fn this_process_is_read_from_the_real_proc() {
    let pid = std::process::id();
    let mut resolver = JobResolver::default();
    let mut gpus = vec![gpu("GPU-0", &[(pid, 1), (u32::MAX, 1)])];
    resolver.attribute(&mut gpus);
    let name = &gpus[0].processes[0].executable;
    assert!(!name.is_empty() && name != "unknown", "{name}");
    assert_eq!(gpus[0].processes[1].executable, "unknown");
}

#[test]
fn a_reused_pid_is_read_again() {
    let host = FakeHost::new("reuse");
    host.process(700, "train", 1001, &[("SLURM_JOB_ID", "old")], "0::/\n");
    let mut resolver =
        JobResolver::new(settings(&host.proc_root(), Vec::new()), PodDirectory::new());
    let mut gpus = vec![gpu("GPU-0", &[(700, 1)])];
    resolver.attribute(&mut gpus);
    assert_eq!(gpus[0].job, job(Some("old"), None, None, None));

    // Between two samples 700 exits and a new process is given its pid.
    host.process(700, "serve", 1002, &[("SLURM_JOB_ID", "new")], "0::/\n");
    host.start(700);
    let mut gpus = vec![gpu("GPU-0", &[(700, 1)])];
    resolver.attribute(&mut gpus);
    assert_eq!(gpus[0].processes[0].executable, "serve");
    assert_eq!(gpus[0].job, job(Some("new"), None, None, None));
    assert_eq!(resolver.cached(), 1);
}

#[test]
fn start_times_come_from_the_end_of_the_stat_line() {
    let line = "42 (a (b) c) S 1 42 42 0 -1 4194304 100 0 0 0 5 2 0 0 20 0 1 0 987654 1000";
    assert_eq!(procfs::start_time(line), Some(987_654));
    assert_eq!(procfs::start_time("42 (x) S 1"), None);
}

#[test]
fn an_open_stat_of_an_exited_process_fails_to_read() {
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("sleep runs");
    let dir = PathBuf::from(format!("/proc/{}", child.id()));
    let mut identity = procfs::Identity::open(&dir).expect("the child's stat");
    assert!(identity.same_process());
    child.kill().expect("kill");
    child.wait().expect("reaped");
    assert!(
        !identity.same_process(),
        "procfs refuses to read a file of a process that is gone"
    );
}
