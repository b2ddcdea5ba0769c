//! The `gpuwatch agent` binary on a fake node (`agent/tests/testdata/node`: InfiniBand
//! and RoCE ports in `sys/`, NFS and Lustre mounts in `proc/`) named by `agent.sys_root`
//! and `agent.proc_root` in its config file: its first OTLP export, caught by a small
//! HTTP server here, holds every fabric and network file system counter with the
//! contract's unit and value.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use gpuwatch_collector::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use gpuwatch_collector::otlp::common::v1::any_value;
use gpuwatch_collector::otlp::metrics::v1::{metric, number_data_point, NumberDataPoint};
use prost::Message;

mod common;

include!("../agent/tests/testdata/node/expected.rs");

fn tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("agent/tests/testdata/node")
}

/// The agent process, killed when the test ends however it ends.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn text(point: &NumberDataPoint, key: &str) -> Option<String> {
    let kv = point.attributes.iter().find(|kv| kv.key == key)?;
    match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        other => Some(format!("{other:?}")),
    }
}

/// The point of `name` whose attributes include `want`, with its metric's unit and
/// kind.
fn find<'a>(
    request: &'a ExportMetricsServiceRequest,
    name: &str,
    want: &[(&str, &str)],
) -> Option<(&'a str, &'static str, &'a NumberDataPoint)> {
    let metrics = request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == name);
    let mut found = None;
    for m in metrics {
        let (kind, points) = match &m.data {
            Some(metric::Data::Sum(s)) => ("sum", &s.data_points),
            Some(metric::Data::Gauge(g)) => ("gauge", &g.data_points),
            _ => continue,
        };
        for p in points {
            if want.iter().all(|(k, v)| text(p, k).as_deref() == Some(*v)) {
                assert!(found.is_none(), "{name} {want:?}: more than one point");
                found = Some((m.unit.as_str(), kind, p));
            }
        }
    }
    found
}

fn number(point: &NumberDataPoint) -> f64 {
    match point.value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        Some(number_data_point::Value::AsInt(v)) => v as f64,
        None => f64::NAN,
    }
}

#[test]
fn the_agent_binary_exports_fabric_and_network_filesystems() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, bodies) = mpsc::channel();
    std::thread::spawn(move || common::http_sink::serve(listener, tx));

    let dir = std::env::temp_dir().join(format!("gpuwatch-agent-fabric-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\ncollector = \"http://127.0.0.1:{port}\"\ninterval = \"200ms\"\n\
             host_name = \"node-ib\"\nkubelet_socket = \"\"\n\
             sys_root = \"{}\"\nproc_root = \"{}\"\n",
            tree().join("sys").display(),
            tree().join("proc").display()
        ),
    )
    .expect("write config");

    let _agent = Agent(
        Command::new(env!("CARGO_BIN_EXE_gpuwatch"))
            .args(["agent", "--config"])
            .arg(&config)
            .env_remove("GPUWATCH_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gpuwatch agent starts"),
    );
    let body = bodies
        .recv_timeout(Duration::from_secs(60))
        .expect("an export within 60s");
    let request = ExportMetricsServiceRequest::decode(body.as_slice()).expect("OTLP metrics");

    check_expected(&request);
    let _ = std::fs::remove_dir_all(dir);
}
