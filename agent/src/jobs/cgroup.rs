//! What a process's cgroup paths (`/proc/PID/cgroup`) say about its job: the Slurm job
//! and the Kubernetes pod UID and container, for cgroup v1 and v2 and for both of
//! kubelet's cgroup drivers (systemd and cgroupfs).

/// What the cgroup paths of one process name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CgroupJob {
    /// From `.../job_<id>/...` under a `slurm` path.
    pub(crate) slurm_job: Option<String>,
    /// The pod UID with dashes, from a `kubepods` path.
    pub(crate) pod_uid: Option<String>,
    /// The container id, from the part after the pod.
    pub(crate) container_id: Option<String>,
}

/// Reads the text of `/proc/PID/cgroup`: lines `hierarchy:controllers:path`, one per
/// v1 hierarchy, `0::path` for v2. The first line that names a pod or a job wins.
pub(crate) fn parse(text: &str) -> CgroupJob {
    let mut found = CgroupJob::default();
    for line in text.lines() {
        let Some(path) = line.splitn(3, ':').nth(2) else {
            continue;
        };
        let job = parse_path(path);
        if found.pod_uid.is_none() && job.pod_uid.is_some() {
            found.pod_uid = job.pod_uid;
            found.container_id = job.container_id;
        }
        if found.slurm_job.is_none() {
            found.slurm_job = job.slurm_job;
        }
    }
    found
}

/// One cgroup path, e.g.
/// `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1f2e_...slice/cri-containerd-ab12.scope`,
/// `/kubepods/besteffort/pod1f2e-.../ab12...`, `/slurm/uid_1000/job_4411/step_0/task_0`,
/// `/system.slice/slurmstepd.scope/job_4411/step_0/user/task_0`.
pub(crate) fn parse_path(path: &str) -> CgroupJob {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut found = CgroupJob::default();
    let mut in_kubepods = false;
    let mut in_slurm = false;
    for (i, segment) in segments.iter().enumerate() {
        if segment.starts_with("kubepods") {
            in_kubepods = true;
        }
        if segment.contains("slurm") {
            in_slurm = true;
        }
        if in_kubepods && found.pod_uid.is_none() {
            if let Some(uid) = pod_uid(segment) {
                found.pod_uid = Some(uid);
                found.container_id = segments.get(i + 1).and_then(|c| container_id(c));
            }
        }
        if in_slurm && found.slurm_job.is_none() {
            found.slurm_job = segment
                .strip_prefix("job_")
                .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_string);
        }
    }
    found
}

/// `kubepods-burstable-pod<uid with _>.slice`, `kubepods-pod<uid>.slice` (systemd
/// driver) or `pod<uid>` (cgroupfs driver).
fn pod_uid(segment: &str) -> Option<String> {
    let raw = match segment.strip_suffix(".slice") {
        Some(slice) => slice.rsplit_once("-pod").map(|(_, uid)| uid)?,
        None => segment.strip_prefix("pod")?,
    };
    let uid = raw.replace('_', "-");
    let plausible = !uid.is_empty()
        && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && uid.bytes().any(|b| b.is_ascii_hexdigit());
    plausible.then_some(uid)
}

/// `cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope` or a bare id;
/// `None` for anything that does not end in a hex id (`crio-conmon-...` included).
fn container_id(segment: &str) -> Option<String> {
    let name = segment.strip_suffix(".scope").unwrap_or(segment);
    let id = name.rsplit('-').next().unwrap_or(name);
    let plausible =
        id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !name.contains("conmon");
    plausible.then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718";
    const CID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn pod(uid: Option<&str>, container: Option<&str>) -> CgroupJob {
        CgroupJob {
            slurm_job: None,
            pod_uid: uid.map(str::to_string),
            container_id: container.map(str::to_string),
        }
    }

    #[test]
    fn kubelet_paths_of_both_drivers_and_both_versions() {
        let underscored = UID.replace('-', "_");
        let cases = [
            // cgroup v2, systemd driver, containerd
            (
                format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{underscored}.slice/cri-containerd-{CID}.scope\n"),
                pod(Some(UID), Some(CID)),
            ),
            // guaranteed QoS has no class slice; cri-o
            (
                format!("0::/kubepods.slice/kubepods-pod{underscored}.slice/crio-{CID}.scope\n"),
                pod(Some(UID), Some(CID)),
            ),
            // cgroup v1, cgroupfs driver: every hierarchy names the pod
            (
                format!("12:memory:/kubepods/besteffort/pod{UID}/{CID}\n11:cpu,cpuacct:/kubepods/besteffort/pod{UID}/{CID}\n1:name=systemd:/kubepods/besteffort/pod{UID}/{CID}\n"),
                pod(Some(UID), Some(CID)),
            ),
            // cgroup v1, systemd driver, docker
            (
                format!("4:devices:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{underscored}.slice/docker-{CID}.scope\n"),
                pod(Some(UID), Some(CID)),
            ),
            // the pod's own cgroup, no container (the pause process)
            (
                format!("0::/kubepods/pod{UID}\n"),
                pod(Some(UID), None),
            ),
            // conmon is cri-o's monitor, not the container
            (
                format!("0::/kubepods.slice/kubepods-pod{underscored}.slice/crio-conmon-{CID}.scope\n"),
                pod(Some(UID), None),
            ),
            // not kubelet's
            ("0::/user.slice/user-1000.slice/session-3.scope\n".to_string(), pod(None, None)),
            ("0::/system.slice/pod-manager.service\n".to_string(), pod(None, None)),
            ("garbage without colons\n\n".to_string(), pod(None, None)),
        ];
        for (text, want) in cases {
            assert_eq!(parse(&text), want, "{text}");
        }
    }

    #[test]
    fn slurm_jobs_from_either_cgroup_version() {
        let v1 = "7:devices:/slurm/uid_1000/job_4411/step_0/task_0\n";
        assert_eq!(parse(v1).slurm_job.as_deref(), Some("4411"));
        let v2 = "0::/system.slice/slurmstepd.scope/job_4412/step_batch/user/task_0\n";
        assert_eq!(parse(v2).slurm_job.as_deref(), Some("4412"));
        let elsewhere = "0::/user.slice/job_77.scope\n";
        assert_eq!(parse(elsewhere).slurm_job, None, "only under slurm");
        assert_eq!(parse("0::/slurm/job_x1/\n").slurm_job, None);
    }
}
