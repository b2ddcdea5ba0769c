//! A fake OTLP/HTTP collector: a raw TCP server that reads HTTP/1.1 requests by hand,
//! answers with the status the test sets and hands every request to the test. It can
//! be stopped (port closed, connections cut) and started again on the same port.
//! Beside it, what the agent's tests share: an agent loop to run against it
//! (`Running`), `wait_until`, and readers of the requests it got.

#![allow(dead_code)]

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gpuwatch_agent::{ExporterSettings, Protocol, ResourceInfo};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Metric, NumberDataPoint};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

/// One HTTP request as the fake collector saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status the fake collector answered.
    pub status: u16,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as the collector reads it: gunzipped per Content-Encoding, decoded.
    pub fn decode(&self) -> ExportMetricsServiceRequest {
        let body = match self.header("content-encoding") {
            Some("gzip") => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(self.body.as_slice())
                    .read_to_end(&mut out)
                    .expect("a gzip body");
                out
            }
            None => self.body.clone(),
            Some(other) => panic!("unexpected content-encoding {other}"),
        };
        ExportMetricsServiceRequest::decode(body.as_slice()).expect("an OTLP metrics request")
    }
}

pub struct FakeCollector {
    pub addr: SocketAddr,
    pub requests: mpsc::UnboundedReceiver<Request>,
    status: Arc<AtomicU16>,
    sender: mpsc::UnboundedSender<Request>,
    server: Option<JoinHandle<()>>,
}

impl FakeCollector {
    /// Starts a server answering every request with `status` and an empty body.
    pub async fn start(status: u16) -> FakeCollector {
        let (sender, requests) = mpsc::unbounded_channel();
        let mut collector = FakeCollector {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            requests,
            status: Arc::new(AtomicU16::new(status)),
            sender,
            server: None,
        };
        collector.listen().await;
        collector
    }

    async fn listen(&mut self) {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket.bind(self.addr).expect("bind");
        let listener = socket.listen(64).expect("listen");
        self.addr = listener.local_addr().expect("local addr");
        let (status, tx) = (self.status.clone(), self.sender.clone());
        self.server = Some(tokio::spawn(async move {
            // Dropped with the task: stopping the server cuts every connection.
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(serve(stream, status.clone(), tx.clone()));
            }
        }));
    }

    /// Answers `status` from now on.
    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Closes the port and cuts every open connection.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.listen().await;
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next request, failing the test after 10 s.
    pub async fn next(&mut self) -> Request {
        tokio::time::timeout(Duration::from_secs(10), self.requests.recv())
            .await
            .expect("a request within 10s")
            .expect("server running")
    }

    /// Every request received so far, in order.
    pub fn received(&mut self) -> Vec<Request> {
        let mut requests = Vec::new();
        while let Ok(request) = self.requests.try_recv() {
            requests.push(request);
        }
        requests
    }
}

async fn serve(mut stream: TcpStream, status: Arc<AtomicU16>, tx: mpsc::UnboundedSender<Request>) {
    let mut buffer = Vec::new();
    loop {
        let Some(mut request) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        let status = status.load(Ordering::SeqCst);
        request.status = status;
        let reason = if status == 200 { "OK" } else { "Error" };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
        let _ = tx.send(request);
    }
}

async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Request> {
    let header_end = loop {
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut start = lines.next()?.split(' ');
    let method = start.next()?.to_string();
    let path = start.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < header_end + length {
        let mut chunk = [0u8; 65536];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = buffer[header_end..header_end + length].to_vec();
    buffer.drain(..header_end + length);
    Some(Request {
        method,
        path,
        headers,
        body,
        status: 0,
    })
}

pub fn settings(endpoint: String, protocol: Protocol) -> ExporterSettings {
    ExporterSettings {
        credentials: Default::default(),
        endpoint,
        protocol,
        timeout: Duration::from_secs(3),
        resource: ResourceInfo {
            host_name: "node-00".to_string(),
            cluster: "test-cluster".to_string(),
            service_version: "9.9.9".to_string(),
            extra: vec![("k8s.node.name".to_string(), "worker-a".to_string())],
        },
    }
}

/// A string attribute's value.
pub fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            any_value::Value::IntValue(i) => Some(i.to_string()),
            other => Some(format!("{other:?}")),
        }
    })
}

/// Every metric in the request, by name.
pub fn metrics(request: &ExportMetricsServiceRequest) -> Vec<&Metric> {
    request
        .resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .collect()
}

pub fn metric<'a>(request: &'a ExportMetricsServiceRequest, name: &str) -> &'a Metric {
    metrics(request)
        .into_iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

/// The number points of a gauge or sum.
pub fn points(metric: &Metric) -> &[NumberDataPoint] {
    match metric.data.as_ref() {
        Some(metric::Data::Gauge(g)) => &g.data_points,
        Some(metric::Data::Sum(s)) => &s.data_points,
        other => panic!("{} is not a gauge or sum: {other:?}", metric.name),
    }
}

/// A point's value as f64, whichever way it was sent.
pub fn number(point: &NumberDataPoint) -> f64 {
    match point.value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        Some(number_data_point::Value::AsInt(v)) => v as f64,
        None => f64::NAN,
    }
}

/// The point of `metric` whose attributes include all of `want`.
pub fn point<'a>(metric: &'a Metric, want: &[(&str, &str)]) -> &'a NumberDataPoint {
    points(metric)
        .iter()
        .find(|p| {
            want.iter()
                .all(|(k, v)| attr(&p.attributes, k).as_deref() == Some(*v))
        })
        .unwrap_or_else(|| panic!("{}: no point with {want:?}", metric.name))
}

/// Polls `check` every 20 ms until it holds; panics naming `what` after `within`.
pub async fn wait_until(what: &str, within: Duration, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An agent loop running on the test's runtime, and the handles to watch and stop it.
pub struct Running {
    pub status: Arc<gpuwatch_agent::AgentStatus>,
    stop: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    /// Runs the agent of `config` with `sampler`, exporting to its collector.
    pub fn start(
        config: gpuwatch_agent::AgentConfig,
        sampler: Box<dyn gpuwatch_agent::Sampler>,
    ) -> Running {
        let settings = config.validate().expect("valid config");
        let exporter = gpuwatch_agent::OtlpExporter::new(settings.exporter_settings("test"))
            .expect("exporter");
        let status = Arc::new(gpuwatch_agent::AgentStatus::new());
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(gpuwatch_agent::Agent::run(
            settings,
            sampler,
            exporter,
            shutdown,
            status.clone(),
        ));
        Running { status, stop, task }
    }

    /// Asks the agent to stop and waits `within` for it to finish.
    pub async fn stop(self, within: Duration) -> Arc<gpuwatch_agent::AgentStatus> {
        self.stop.send(true).expect("agent listening");
        Self::finish(self.task, within).await;
        self.status
    }

    /// Drops the stop sender, which stops the agent too, and waits `within`.
    pub async fn drop_stop(self, within: Duration) -> Arc<gpuwatch_agent::AgentStatus> {
        drop(self.stop);
        Self::finish(self.task, within).await;
        self.status
    }

    async fn finish(task: JoinHandle<()>, within: Duration) {
        tokio::time::timeout(within, task)
            .await
            .expect("agent stops promptly")
            .expect("agent does not panic");
    }
}
