//! `OtlpExporter`: one sample as one OTLP request, and the client that sends it.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use gpuwatch_model::names::{attr, metric, unit, value};
use gpuwatch_model::NodeSample;

use crate::host::HostIo;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, Metric, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::host_io::HOST_IO_METRICS;
use super::points;
use super::settings::{ExportError, ExporterSettings, ResourceInfo};
use super::spec::{spec, Kind, Points, Spec};
use super::stamp::{histogram_metrics, string_attr};
use super::transport::{SendOutcome, Transport};

/// Sends samples to a collector as OTLP metrics.
///
/// Build it inside a tokio runtime (the gRPC channel needs one); `export` must be
/// awaited on that runtime.
pub struct OtlpExporter {
    transport: Transport,
    url: String,
    resource: Resource,
    scope: InstrumentationScope,
    /// Time of the first sample encoded: where cumulative points count from.
    first_time: Mutex<Option<u64>>,
}

impl fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl OtlpExporter {
    pub fn new(settings: ExporterSettings) -> Result<OtlpExporter, ExportError> {
        Ok(OtlpExporter {
            transport: Transport::new(&settings)?,
            url: settings.url(),
            resource: resource(&settings.resource),
            scope: InstrumentationScope {
                name: value::SERVICE_AGENT.to_string(),
                version: settings.resource.service_version.clone(),
                ..InstrumentationScope::default()
            },
            first_time: Mutex::new(None),
        })
    }

    /// Where exports go.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `sample` as one OTLP request: every contract metric the sample has. One
    /// attempt, no queue: the agent loop queues and retries (see `crate::delivery`).
    pub async fn export(&self, sample: &NodeSample) -> Result<(), ExportError> {
        self.export_with(sample, None).await
    }

    /// Like `export`, with the fabric ports and network file systems read beside the
    /// sample (`Sampler::take_host_io` of a simulated node).
    pub async fn export_with(
        &self,
        sample: &NodeSample,
        host_io: Option<&HostIo>,
    ) -> Result<(), ExportError> {
        let body = self.encode_with(sample, host_io, Vec::new());
        match self.send(&body, false).await {
            SendOutcome::Delivered => Ok(()),
            SendOutcome::Retry { reason, .. } | SendOutcome::Refused { reason } => {
                Err(self.send_error(reason))
            }
        }
    }

    /// `sample` as an encoded `ExportMetricsServiceRequest`: the body `export` sends.
    pub fn encode(&self, sample: &NodeSample) -> Vec<u8> {
        self.encode_with(sample, None, Vec::new())
    }

    /// Like `encode`, with the fabric ports and network file systems read beside the
    /// sample (`host_io`, at the sample's time) and `extra` metrics appended (the
    /// scraped inference histograms).
    pub(crate) fn encode_with(
        &self,
        sample: &NodeSample,
        host_io: Option<&HostIo>,
        extra: Vec<Metric>,
    ) -> Vec<u8> {
        self.request(sample, host_io, extra).encode_to_vec()
    }

    /// The request for `sample`: every point at the sample's time; cumulative points
    /// (counters, histograms) count from the first sample this exporter encoded, so a
    /// sample replayed from the past (a test, a backfill) keeps its own time.
    fn request(
        &self,
        sample: &NodeSample,
        host_io: Option<&HostIo>,
        extra: Vec<Metric>,
    ) -> ExportMetricsServiceRequest {
        let time = sample.time_unix_nano.unix_nanos_u64();
        let first = *self
            .first_time
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(time);
        let start = first.min(time);
        let mut metrics: Vec<Metric> = METRICS
            .iter()
            .filter_map(|spec| spec.metric(sample, time, start))
            .collect();
        if let Some(host_io) = host_io {
            for metric in HOST_IO_METRICS
                .iter()
                .filter_map(|spec| spec.metric(host_io, time, start))
            {
                merge(&mut metrics, metric);
            }
        }
        metrics.extend(histogram_metrics(&sample.histograms, time));
        metrics.extend(extra);
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(self.scope.clone()),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    /// One attempt to deliver an encoded request, gzip-compressed when `gzip`.
    pub(crate) async fn send(&self, body: &[u8], gzip: bool) -> SendOutcome {
        self.transport.send(body, gzip).await
    }

    /// The error for a request that did not get through.
    pub(crate) fn send_error(&self, message: String) -> ExportError {
        ExportError::Send {
            url: self.url.clone(),
            message,
        }
    }
}

/// Adds `metric` to `metrics`: its points join those of a metric of the same name and
/// kind already there (`hw.errors` of GPUs and of fabric ports), so that a name appears
/// once per request.
fn merge(metrics: &mut Vec<Metric>, metric: Metric) {
    let existing = metrics.iter_mut().find(|m| m.name == metric.name);
    match (existing.and_then(|m| m.data.as_mut()), metric.data) {
        (Some(Data::Sum(into)), Some(Data::Sum(from))) => into.data_points.extend(from.data_points),
        (Some(Data::Gauge(into)), Some(Data::Gauge(from))) => {
            into.data_points.extend(from.data_points)
        }
        (_, data) => metrics.push(Metric { data, ..metric }),
    }
}

/// CONTRACT.md's resource attributes.
fn resource(info: &ResourceInfo) -> Resource {
    let mut attributes = vec![
        string_attr(attr::HOST_NAME, &info.host_name),
        string_attr(attr::SERVICE_NAME, value::SERVICE_AGENT),
        string_attr(attr::SERVICE_VERSION, &info.service_version),
        string_attr(attr::CLUSTER, &info.cluster),
    ];
    attributes.extend(info.extra.iter().map(|(k, v)| string_attr(k, v)));
    Resource {
        attributes,
        ..Resource::default()
    }
}

/// Every metric the agent exports from a sample (CONTRACT.md's names and units).
const METRICS: [Spec<NodeSample>; 18] = [
    spec(
        Kind::Gauge,
        metric::GPU_UTILIZATION,
        unit::RATIO,
        "Share of time the GPU was busy, by task",
        Points::Double(points::gpu_utilization),
    ),
    spec(
        Kind::Gauge,
        metric::POWER,
        unit::WATTS,
        "GPU power draw",
        Points::Double(points::power),
    ),
    spec(
        Kind::Gauge,
        metric::GPU_POWER_LIMIT,
        unit::WATTS,
        "Enforced GPU power limit",
        Points::Double(points::power_limit),
    ),
    spec(
        Kind::Gauge,
        metric::GPU_TEMPERATURE,
        unit::CELSIUS,
        "GPU die temperature",
        Points::Double(points::temperature),
    ),
    spec(
        Kind::Gauge,
        metric::GPU_CLOCK_SM,
        unit::HERTZ,
        "SM clock",
        Points::Double(points::sm_clock),
    ),
    spec(
        Kind::Gauge,
        metric::GPU_THROTTLE,
        unit::RATIO,
        "1 while the GPU is throttled for the reason",
        Points::Double(points::throttle),
    ),
    spec(
        Kind::Gauge,
        metric::CPU_UTILIZATION,
        unit::RATIO,
        "Host CPU time share by mode",
        Points::Double(points::cpu_utilization),
    ),
    spec(
        Kind::Gauge,
        metric::GPU_MEMORY_USAGE,
        unit::BYTES,
        "GPU memory in use",
        Points::Int(points::gpu_memory_usage),
    ),
    spec(
        Kind::Gauge,
        metric::GPU_MEMORY_LIMIT,
        unit::BYTES,
        "GPU memory installed",
        Points::Int(points::gpu_memory_limit),
    ),
    spec(
        Kind::Gauge,
        metric::GPU_PROCESS_MEMORY,
        unit::BYTES,
        "GPU memory held by a process",
        Points::Int(points::process_memory),
    ),
    spec(
        Kind::Gauge,
        metric::MEMORY_USAGE,
        unit::BYTES,
        "Host memory by state",
        Points::Int(points::memory_usage),
    ),
    spec(
        Kind::Counter,
        metric::ENERGY,
        unit::JOULES,
        "GPU energy used",
        Points::Double(points::energy),
    ),
    spec(
        Kind::Counter,
        metric::DISK_IO_TIME,
        unit::SECONDS,
        "Time the disk was busy",
        Points::Double(points::disk_io_time),
    ),
    spec(
        Kind::Counter,
        metric::GPU_IO,
        unit::BYTES,
        "Bytes moved over NVLink and PCIe",
        Points::Int(points::gpu_io),
    ),
    spec(
        Kind::Counter,
        metric::ERRORS,
        unit::ERRORS,
        "ECC errors",
        Points::Int(points::errors),
    ),
    spec(
        Kind::Counter,
        metric::GPU_XID,
        unit::EVENTS,
        "XID events by code",
        Points::Int(points::xid),
    ),
    spec(
        Kind::Counter,
        metric::DISK_IO,
        unit::BYTES,
        "Disk bytes read and written",
        Points::Int(points::disk_io),
    ),
    spec(
        Kind::Counter,
        metric::NETWORK_IO,
        unit::BYTES,
        "Network bytes received and transmitted",
        Points::Int(points::network_io),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::Protocol;
    use crate::sampler::Sampler;
    use crate::simulated::{demo_profiles, SimulatedSampler};
    use gpuwatch_model::Timestamp;
    use std::time::Duration;

    /// An exporter to nowhere (the tests only encode).
    fn exporter() -> OtlpExporter {
        OtlpExporter::new(ExporterSettings {
            credentials: Default::default(),
            endpoint: "http://127.0.0.1:1".into(),
            protocol: Protocol::Http,
            timeout: Duration::from_secs(1),
            resource: ResourceInfo {
                host_name: "n".into(),
                cluster: "c".into(),
                service_version: "0".into(),
                extra: Vec::new(),
            },
        })
        .expect("exporter")
    }

    #[test]
    fn encode_gives_one_request_per_sample() {
        let exporter = exporter();
        let mut sampler = SimulatedSampler::new(0, demo_profiles(0, 8), 1);
        let sample = sampler
            .sample(Timestamp::from_unix_nanos_u64(1_000_000_000))
            .expect("sample");
        let body = exporter.encode(&sample);
        let request = ExportMetricsServiceRequest::decode(body.as_slice()).expect("decodes");
        assert_eq!(request.resource_metrics.len(), 1);
        let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
        assert!(metrics.iter().any(|m| m.name == metric::GPU_UTILIZATION));
        // What one queued export costs: the queue's memory is this times its length.
        assert!(body.len() < 64 * 1024, "{} bytes for 8 GPUs", body.len());
        let extra = opentelemetry_proto::tonic::metrics::v1::Metric {
            name: metric::INFERENCE_DURATION.to_string(),
            ..Default::default()
        };
        let with = exporter.encode_with(
            &sampler
                .sample(Timestamp::from_unix_nanos_u64(2_000_000_000))
                .expect("sample"),
            None,
            vec![extra],
        );
        let with = ExportMetricsServiceRequest::decode(with.as_slice()).expect("decodes");
        let scope = &with.resource_metrics[0].scope_metrics[0];
        assert!(scope
            .metrics
            .iter()
            .any(|m| m.name == metric::GPU_UTILIZATION));
        assert_eq!(
            scope.metrics.last().map(|m| m.name.as_str()),
            Some(metric::INFERENCE_DURATION),
            "appended to the sample's scope"
        );
        let packed = crate::export::gzip(&body).expect("gzip");
        println!(
            "an 8-GPU sample encodes to {} bytes, {} gzipped",
            body.len(),
            packed.len()
        );
    }

    #[test]
    fn fabric_errors_join_the_gpus_hw_errors() {
        let exporter = exporter();
        let mut sampler = SimulatedSampler::new(0, demo_profiles(0, 2), 1);
        let sample = sampler
            .sample(Timestamp::from_unix_nanos_u64(1_000_000_000))
            .expect("sample");
        let host_io = HostIo {
            fabric: vec![crate::host::fabric::FabricPort {
                device: "mlx5_0".into(),
                port: 1,
                errors: vec![("symbol_error", 3)],
                tx_bytes: Some(4000),
                ..Default::default()
            }],
            filesystems: Vec::new(),
        };
        let request = exporter.request(&sample, Some(&host_io), Vec::new());
        let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
        let errors: Vec<&Metric> = metrics
            .iter()
            .filter(|m| m.name == metric::ERRORS)
            .collect();
        assert_eq!(errors.len(), 1, "one hw.errors metric");
        let Some(Data::Sum(sum)) = errors[0].data.as_ref() else {
            panic!("hw.errors is a counter")
        };
        assert_eq!(
            sum.data_points.len(),
            4 + 1,
            "2 GPUs x 2 ECC types + the port"
        );
        assert!(metrics.iter().any(|m| m.name == metric::HW_NETWORK_IO));
        let without = exporter.request(&sample, None, Vec::new());
        let names = |r: &ExportMetricsServiceRequest| {
            r.resource_metrics[0].scope_metrics[0]
                .metrics
                .iter()
                .map(|m| m.name.clone())
                .collect::<Vec<_>>()
        };
        assert!(!names(&without).contains(&metric::HW_NETWORK_IO.to_string()));
    }

    fn times(exporter: &OtlpExporter, sample: &NodeSample) -> Vec<(String, u64, u64)> {
        let request = exporter.request(sample, None, Vec::new());
        let mut out = Vec::new();
        for m in &request.resource_metrics[0].scope_metrics[0].metrics {
            let points = match m.data.as_ref() {
                Some(Data::Gauge(g)) => &g.data_points,
                Some(Data::Sum(s)) => &s.data_points,
                _ => continue,
            };
            for p in points {
                out.push((m.name.clone(), p.start_time_unix_nano, p.time_unix_nano));
            }
        }
        out
    }

    #[test]
    fn points_take_the_sample_time_and_counters_count_from_the_first() {
        let exporter = exporter();
        let mut sampler = SimulatedSampler::new(0, demo_profiles(0, 2), 1);
        let first = sampler
            .sample(Timestamp::from_unix_nanos_u64(10))
            .expect("sample");
        for (name, start, time) in times(&exporter, &first) {
            assert!(time == 10 && (start == 0 || start == 10), "{name}");
        }
        let later = sampler
            .sample(Timestamp::from_unix_nanos_u64(50))
            .expect("sample");
        let points = times(&exporter, &later);
        let start_of = |name: &str| {
            points
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, start, time)| (*start, *time))
        };
        assert_eq!(start_of(metric::GPU_UTILIZATION), Some((0, 50)), "a gauge");
        assert_eq!(start_of(metric::ENERGY), Some((10, 50)), "a counter");
        assert!(points.iter().all(|(_, _, time)| *time == 50));
        // A sample from before the first (a replay) starts where it is.
        let earlier = NodeSample {
            time_unix_nano: Timestamp(5),
            ..later
        };
        let points = times(&exporter, &earlier);
        assert!(points
            .iter()
            .filter(|(n, _, _)| n == metric::ENERGY)
            .all(|(_, start, time)| (*start, *time) == (5, 5)));
    }
}
