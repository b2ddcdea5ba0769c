//! `OtlpExporter`: one sample as one OTLP request, and the client that sends it.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use gpuwatch_model::names::{attr, metric, unit, value};
use gpuwatch_model::NodeSample;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::points::{self, Point, PointsFn};
use super::settings::{ExportError, ExporterSettings, ResourceInfo};
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
        let body = self.encode(sample);
        match self.send(&body, false).await {
            SendOutcome::Delivered => Ok(()),
            SendOutcome::Retry { reason, .. } | SendOutcome::Refused { reason } => {
                Err(self.send_error(reason))
            }
        }
    }

    /// `sample` as an encoded `ExportMetricsServiceRequest`: the body `export` sends.
    pub fn encode(&self, sample: &NodeSample) -> Vec<u8> {
        self.encode_with(sample, Vec::new())
    }

    /// Like `encode`, with `extra` metrics appended (the scraped inference histograms).
    pub(crate) fn encode_with(&self, sample: &NodeSample, extra: Vec<Metric>) -> Vec<u8> {
        self.request(sample, extra).encode_to_vec()
    }

    /// The request for `sample`: every point at the sample's time; cumulative points
    /// (counters, histograms) count from the first sample this exporter encoded, so a
    /// sample replayed from the past (a test, a backfill) keeps its own time.
    fn request(&self, sample: &NodeSample, extra: Vec<Metric>) -> ExportMetricsServiceRequest {
        let time = sample.time_unix_nano;
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

/// How a metric's points are exported.
#[derive(Clone, Copy)]
enum Kind {
    /// The value now.
    Gauge,
    /// A cumulative, monotonic sum.
    Counter,
}

/// Where a metric's points come from, and their number type.
#[derive(Clone, Copy)]
enum Points {
    Double(PointsFn<f64>),
    Int(PointsFn<u64>),
}

/// One contract metric: name, unit, description, kind and the points it has in a
/// sample.
struct Spec {
    name: &'static str,
    unit: &'static str,
    description: &'static str,
    kind: Kind,
    points: Points,
}

const fn spec(
    kind: Kind,
    name: &'static str,
    unit: &'static str,
    description: &'static str,
    points: Points,
) -> Spec {
    Spec {
        name,
        unit,
        description,
        kind,
        points,
    }
}

fn data_point(
    (value, attributes): Point<number_data_point::Value>,
    start: u64,
    time: u64,
) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(value),
        ..NumberDataPoint::default()
    }
}

impl Spec {
    /// The metric with its points in `sample`; `None` when it has none.
    fn metric(&self, sample: &NodeSample, time: u64, start: u64) -> Option<Metric> {
        let values: Vec<Point<number_data_point::Value>> = match self.points {
            Points::Double(points) => points(sample)
                .into_iter()
                .map(|(v, a)| (number_data_point::Value::AsDouble(v), a))
                .collect(),
            Points::Int(points) => points(sample)
                .into_iter()
                .map(|(v, a)| {
                    let v = i64::try_from(v).unwrap_or(i64::MAX);
                    (number_data_point::Value::AsInt(v), a)
                })
                .collect(),
        };
        if values.is_empty() {
            return None;
        }
        let data = match self.kind {
            Kind::Gauge => Data::Gauge(Gauge {
                data_points: values.into_iter().map(|p| data_point(p, 0, time)).collect(),
            }),
            Kind::Counter => Data::Sum(Sum {
                data_points: values
                    .into_iter()
                    .map(|p| data_point(p, start, time))
                    .collect(),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
        };
        Some(Metric {
            name: self.name.to_string(),
            description: self.description.to_string(),
            unit: self.unit.to_string(),
            metadata: Vec::<KeyValue>::new(),
            data: Some(data),
        })
    }
}

/// Every metric the agent exports from a sample (CONTRACT.md's names and units).
const METRICS: [Spec; 18] = [
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
    use std::time::Duration;

    /// An exporter to nowhere (the tests only encode).
    fn exporter() -> OtlpExporter {
        OtlpExporter::new(ExporterSettings {
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
        let sample = sampler.sample(1_000_000_000).expect("sample");
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
        let with =
            exporter.encode_with(&sampler.sample(2_000_000_000).expect("sample"), vec![extra]);
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

    fn times(exporter: &OtlpExporter, sample: &NodeSample) -> Vec<(String, u64, u64)> {
        let request = exporter.request(sample, Vec::new());
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
        let first = sampler.sample(10).expect("sample");
        for (name, start, time) in times(&exporter, &first) {
            assert!(time == 10 && (start == 0 || start == 10), "{name}");
        }
        let later = sampler.sample(50).expect("sample");
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
            time_unix_nano: 5,
            ..later
        };
        let points = times(&exporter, &earlier);
        assert!(points
            .iter()
            .filter(|(n, _, _)| n == metric::ENERGY)
            .all(|(_, start, time)| (*start, *time) == (5, 5)));
    }
}
