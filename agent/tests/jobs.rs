//! Job attribution end to end: the real NVML code path (the fake `libnvidia-ml.so`
//! listing chosen pids), a fake proc tree of real files, a fake kubelet serving the
//! pod-resources API on a unix socket, and the agent's OTLP export, whose GPU and
//! process points must carry the jobs.

mod common;
mod fake_kubelet;
mod fake_nvml;

use std::path::PathBuf;
use std::time::Duration;

use common::{attr, metric, point, points, FakeCollector, Running};
use fake_kubelet::{pod, FakeKubelet};
use fake_nvml::{Driver, FakeGpu, FakeNvml, GIB};
use gpuwatch_agent::jobs::kubelet::{self, PodRef};
use gpuwatch_agent::{AgentConfig, JobRuleConfig, NvmlSampler, PodDirectory};
use gpuwatch_model::names::metric as name;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

const POD_UID: &str = "1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718";
const CID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A temporary directory with `proc/`, `etc/passwd` and room for a socket.
struct FakeHost {
    root: PathBuf,
}

impl FakeHost {
    fn new(name: &str) -> FakeHost {
        let root = std::env::temp_dir().join(format!("gw-jobs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("proc")).expect("create proc");
        std::fs::create_dir_all(root.join("etc")).expect("create etc");
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\nbob:x:1002:1002::/home/bob:/bin/sh\n",
        )
        .expect("passwd");
        FakeHost { root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn process(&self, pid: u32, comm: &str, uid: u32, env: &[(&str, &str)], cgroup: &str) {
        let dir = self.path("proc").join(pid.to_string());
        std::fs::create_dir_all(&dir).expect("pid dir");
        std::fs::write(dir.join("comm"), format!("{comm}\n")).expect("comm");
        std::fs::write(
            dir.join("status"),
            format!("Name:\t{comm}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"),
        )
        .expect("status");
        let environ: Vec<u8> = env
            .iter()
            .flat_map(|(k, v)| format!("{k}={v}\0").into_bytes())
            .collect();
        std::fs::write(dir.join("environ"), environ).expect("environ");
        std::fs::write(dir.join("cgroup"), cgroup).expect("cgroup");
    }
}

impl Drop for FakeHost {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// How long a test waits for what it expects.
const WAIT: Duration = Duration::from_secs(10);

async fn wait_until(what: &str, check: impl Fn() -> bool) {
    common::wait_until(what, WAIT, check).await;
}

#[tokio::test]
async fn kubelet_pod_resources_are_read_over_its_unix_socket() {
    let host = FakeHost::new("kubelet");
    let kubelet = FakeKubelet::start(
        &host.path("kubelet.sock"),
        vec![
            pod("ml", "trainer-0", &["GPU-A"]),
            pod("serve", "infer-a", &["GPU-B::0", "GPU-C"]),
            pod("serve", "infer-b", &["GPU-B::1"]),
        ],
    );
    let pods = kubelet::list(&kubelet.socket)
        .await
        .expect("kubelet answers");
    let names: Vec<_> = pods
        .iter()
        .map(|p| (p.namespace.as_str(), p.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("ml", "trainer-0"),
            ("serve", "infer-a"),
            ("serve", "infer-b")
        ]
    );
    assert_eq!(
        pods[1].containers[0].devices[0].device_ids,
        ["GPU-B::0", "GPU-C"]
    );

    let directory = PodDirectory::new();
    directory.set(&pods);
    let pod_ref = |namespace: &str, name: &str| PodRef {
        namespace: namespace.into(),
        name: name.into(),
    };
    assert_eq!(directory.pods_on("GPU-A"), [pod_ref("ml", "trainer-0")]);
    assert_eq!(
        directory.pods_on("GPU-B"),
        [pod_ref("serve", "infer-a"), pod_ref("serve", "infer-b")],
        "a shared GPU's replicas count as the GPU"
    );
    assert!(directory.pods_on("GPU-Z").is_empty());

    let error = kubelet::list(&host.path("missing.sock"))
        .await
        .expect_err("no socket")
        .to_string();
    assert!(
        error.contains("could not connect to the kubelet pod-resources socket"),
        "{error}"
    );

    // The refresh task follows kubelet's answers.
    let directory = PodDirectory::new();
    let task = kubelet::spawn(
        kubelet.socket.clone(),
        Duration::from_millis(20),
        directory.clone(),
    );
    wait_until("the first answer", || {
        !directory.pods_on("GPU-A").is_empty()
    })
    .await;
    kubelet.set_pods(vec![pod("ml", "trainer-1", &["GPU-A"])]);
    wait_until("the new pod", || {
        directory.pods_on("GPU-A") == [pod_ref("ml", "trainer-1")]
    })
    .await;
    task.abort();

    // Without a socket the task keeps the directory empty.
    let directory = PodDirectory::new();
    let task = kubelet::spawn(
        host.path("missing.sock"),
        Duration::from_millis(20),
        directory.clone(),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!task.is_finished());
    assert!(directory.pods_on("GPU-A").is_empty());
    task.abort();
}

fn rule(user: &str, executable: &str, namespace: &str, team: &str, job: &str) -> JobRuleConfig {
    JobRuleConfig {
        user: user.into(),
        executable: executable.into(),
        namespace: namespace.into(),
        team: team.into(),
        job: job.into(),
    }
}

/// The `(job id, team, namespace, pod)` attributes of a point.
fn job_of(attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> [Option<String>; 4] {
    [
        "gpuwatch.job.id",
        "gpuwatch.team",
        "k8s.namespace.name",
        "k8s.pod.name",
    ]
    .map(|key| attr(attributes, key))
}

fn some(values: [&str; 4]) -> [Option<String>; 4] {
    values.map(|v| (!v.is_empty()).then(|| v.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpu_and_process_points_carry_their_jobs() {
    let host = FakeHost::new("e2e");
    host.process(
        4100,
        "python3",
        1001,
        &[("SLURM_JOB_ID", "4411"), ("SLURM_JOB_USER", "alice")],
        "0::/system.slice/slurmstepd.scope/job_4411/step_0/user/task_0\n",
    );
    host.process(
        4101,
        "jupyter-lab",
        1002,
        &[],
        "0::/user.slice/user-1002.slice\n",
    );
    let kubepods = format!(
        "0::/kubepods.slice/kubepods-pod{}.slice/cri-containerd-{CID}.scope\n",
        POD_UID.replace('-', "_")
    );
    host.process(4200, "torchrun", 0, &[("HOSTNAME", "trainer-0")], &kubepods);

    let mut gpus = vec![
        FakeGpu::h100(0),
        FakeGpu::h100(1),
        FakeGpu::h100(2),
        FakeGpu::h100(3),
    ];
    gpus[0].processes = vec![(4101, GIB), (4100, 8 * GIB)];
    gpus[1].processes = vec![(4200, 2 * GIB)];
    let uuids: Vec<String> = gpus.iter().map(|g| g.uuid.clone()).collect();
    let fake = FakeNvml::new("jobs", Driver::Current, gpus);
    let kubelet = FakeKubelet::start(
        &host.path("kubelet.sock"),
        vec![
            pod("ml", "trainer-0", &[&uuids[1]]),
            pod("idle", "reserved", &[&uuids[2]]),
        ],
    );

    let mut collector = FakeCollector::start(200).await;
    let config = AgentConfig {
        collector: collector.endpoint(),
        interval: "100ms".into(),
        timeout: "2s".into(),
        host_name: "node-07".into(),
        proc_root: host.path("proc").display().to_string(),
        kubelet_socket: kubelet.socket.display().to_string(),
        jobs: vec![
            rule("alice", "", "", "nlp", "not-used"),
            rule("", "jupyter*", "", "research", "notebooks"),
            rule("", "", "ml", "training", ""),
        ],
        ..AgentConfig::default()
    };
    let sampler = NvmlSampler::open(Some(fake.library())).expect("the fake NVML opens");
    let agent = Running::start(config, Box::new(sampler));

    // The first samples may come before kubelet's first answer.
    let mut body: Option<ExportMetricsServiceRequest> = None;
    for _ in 0..50 {
        let request = collector.next().await.decode();
        let utilization = metric(&request, name::GPU_UTILIZATION);
        let has_pod = points(utilization)
            .iter()
            .any(|p| attr(&p.attributes, "k8s.pod.name").as_deref() == Some("reserved"));
        if has_pod {
            body = Some(request);
            break;
        }
    }
    let body = body.expect("an export with kubelet's pods");
    agent.stop(Duration::from_secs(10)).await;
    assert!(kubelet.calls() >= 1);

    let gpu_job = |index: usize| {
        let p = point(
            metric(&body, name::GPU_UTILIZATION),
            &[("hw.id", &uuids[index]), ("hw.gpu.task", "general")],
        );
        job_of(&p.attributes)
    };
    assert_eq!(
        gpu_job(0),
        some(["4411", "nlp", "", ""]),
        "Slurm job, team by user"
    );
    assert_eq!(
        gpu_job(1),
        some(["", "training", "ml", "trainer-0"]),
        "the pod"
    );
    assert_eq!(
        gpu_job(2),
        some(["", "", "idle", "reserved"]),
        "assigned, idle"
    );
    assert_eq!(gpu_job(3), some(["", "", "", ""]), "nothing to attribute");
    // Every GPU metric carries the job, not only utilization.
    let power = point(metric(&body, name::POWER), &[("hw.id", &uuids[0])]);
    assert_eq!(job_of(&power.attributes), gpu_job(0));

    let process_job = |pid: &str| {
        let p = point(
            metric(&body, name::GPU_PROCESS_MEMORY),
            &[("process.pid", pid)],
        );
        (
            attr(&p.attributes, "process.executable.name"),
            job_of(&p.attributes),
        )
    };
    assert_eq!(
        process_job("4100"),
        (Some("python3".into()), some(["4411", "nlp", "", ""]))
    );
    assert_eq!(
        process_job("4101"),
        (
            Some("jupyter-lab".into()),
            some(["notebooks", "research", "", ""])
        ),
        "its own job, not the GPU's"
    );
    assert_eq!(
        process_job("4200"),
        (
            Some("torchrun".into()),
            some(["", "training", "ml", "trainer-0"])
        )
    );
}
