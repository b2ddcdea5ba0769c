//! `OtlpExporter`: the meter provider, its instruments and the OTLP client.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use gpuwatch_model::names::{attr, metric, unit, value};
use gpuwatch_model::NodeSample;
use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope as ProtoScope;
use opentelemetry_proto::tonic::metrics::v1::{
    Metric, ResourceMetrics as ProtoResourceMetrics, ScopeMetrics,
};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::Resource;
use prost::Message;

use super::points::{self, PointsFn};
use super::reader::SharedReader;
use super::settings::{ExportError, ExporterSettings, ResourceInfo};
use super::stamp::{histogram_metrics, stamp};
use super::transport::{SendOutcome, Transport};

type Latest = Arc<Mutex<Option<NodeSample>>>;

/// Sends samples to a collector as OTLP metrics.
///
/// Build it inside a tokio runtime (the gRPC channel needs one); `export` must be
/// awaited on that runtime.
pub struct OtlpExporter {
    provider: SdkMeterProvider,
    reader: SharedReader,
    latest: Latest,
    /// Held while one sample is stored and collected, so concurrent encodes do not
    /// read each other's sample.
    collecting: Mutex<()>,
    transport: Transport,
    url: String,
    /// The scope of appended metrics when the request has none.
    scope: ProtoScope,
    /// Time of the first sample encoded: where cumulative points count from.
    first_time: Mutex<Option<u64>>,
    /// Keeps the instruments (and so their callbacks) alive with the exporter.
    _instruments: Vec<Box<dyn Any + Send + Sync>>,
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
        let transport = Transport::new(&settings)?;
        let reader = SharedReader::cumulative();
        let provider = SdkMeterProvider::builder()
            .with_resource(resource(&settings.resource))
            .with_reader(reader.clone())
            .build();
        let meter = provider.meter_with_scope(
            InstrumentationScope::builder(value::SERVICE_AGENT)
                .with_version(settings.resource.service_version.clone())
                .build(),
        );
        let latest: Latest = Arc::default();
        let instruments = register(&meter, &latest);
        Ok(OtlpExporter {
            provider,
            reader,
            latest,
            collecting: Mutex::new(()),
            first_time: Mutex::new(None),
            transport,
            url: settings.url(),
            scope: ProtoScope {
                name: value::SERVICE_AGENT.to_string(),
                version: settings.resource.service_version.clone(),
                ..ProtoScope::default()
            },
            _instruments: instruments,
        })
    }

    /// Where exports go.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `sample` as one OTLP request: every contract metric the sample has. One
    /// attempt, no queue: the agent loop queues and retries (see `crate::delivery`).
    pub async fn export(&self, sample: NodeSample) -> Result<(), ExportError> {
        let body = self.encode(sample)?;
        match self.send(&body, false).await {
            SendOutcome::Delivered => Ok(()),
            SendOutcome::Retry { reason, .. } | SendOutcome::Refused { reason } => {
                Err(self.send_error(reason))
            }
        }
    }

    /// `sample` as an encoded `ExportMetricsServiceRequest`, its points stamped now.
    pub(crate) fn encode(&self, sample: NodeSample) -> Result<Vec<u8>, ExportError> {
        self.encode_with(sample, Vec::new())
    }

    /// Like `encode`, with `extra` metrics appended to the request (the scraped
    /// inference histograms: the SDK has no observable histogram).
    pub(crate) fn encode_with(
        &self,
        sample: NodeSample,
        extra: Vec<Metric>,
    ) -> Result<Vec<u8>, ExportError> {
        let _one_at_a_time = self
            .collecting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let time = sample.time_unix_nano;
        let start = *self
            .first_time
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(time);
        let mut extra = extra;
        extra.extend(histogram_metrics(&sample.histograms, time));
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(sample);
        let mut metrics = ResourceMetrics::default();
        self.reader
            .collect(&mut metrics)
            .map_err(|e| ExportError::Collect(e.to_string()))?;
        let mut request = ExportMetricsServiceRequest::from(&metrics);
        stamp(&mut request, time, start);
        if !extra.is_empty() {
            append(&mut request, extra, &self.scope);
        }
        Ok(request.encode_to_vec())
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

    /// Stops the provider; later exports fail to collect.
    pub fn shutdown(&self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::debug!(%error, "meter provider shutdown");
        }
    }
}

/// Appends `extra` to the first scope of the first resource of `request`, creating
/// them when the SDK collected nothing.
fn append(request: &mut ExportMetricsServiceRequest, extra: Vec<Metric>, scope: &ProtoScope) {
    if request.resource_metrics.is_empty() {
        request
            .resource_metrics
            .push(ProtoResourceMetrics::default());
    }
    let resource = &mut request.resource_metrics[0];
    if resource.scope_metrics.is_empty() {
        resource.scope_metrics.push(ScopeMetrics {
            scope: Some(scope.clone()),
            ..ScopeMetrics::default()
        });
    }
    resource.scope_metrics[0].metrics.extend(extra);
}

/// CONTRACT.md's resource attributes.
fn resource(info: &ResourceInfo) -> Resource {
    let mut attributes = vec![
        KeyValue::new(attr::HOST_NAME, info.host_name.clone()),
        KeyValue::new(attr::SERVICE_NAME, value::SERVICE_AGENT),
        KeyValue::new(attr::SERVICE_VERSION, info.service_version.clone()),
        KeyValue::new(attr::CLUSTER, info.cluster.clone()),
    ];
    attributes.extend(
        info.extra
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    Resource::builder_empty()
        .with_attributes(attributes)
        .build()
}

/// Observes every point `points` finds in the latest sample, if there is one.
fn observe_latest<T>(
    latest: &Latest,
    points: PointsFn<T>,
    mut observe: impl FnMut(T, &[KeyValue]),
) {
    let guard = latest.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(sample) = guard.as_ref() {
        for (value, attrs) in points(sample) {
            observe(value, &attrs);
        }
    }
}

/// One instrument: name, unit, description, and the points it reads from a sample.
struct Spec<T> {
    name: &'static str,
    unit: &'static str,
    description: &'static str,
    points: PointsFn<T>,
}

const fn spec<T>(
    name: &'static str,
    unit: &'static str,
    description: &'static str,
    points: PointsFn<T>,
) -> Spec<T> {
    Spec {
        name,
        unit,
        description,
        points,
    }
}

fn register(meter: &Meter, latest: &Latest) -> Vec<Box<dyn Any + Send + Sync>> {
    let f64_gauges = [
        spec(
            metric::GPU_UTILIZATION,
            unit::RATIO,
            "Share of time the GPU was busy, by task",
            points::gpu_utilization,
        ),
        spec(metric::POWER, unit::WATTS, "GPU power draw", points::power),
        spec(
            metric::GPU_POWER_LIMIT,
            unit::WATTS,
            "Enforced GPU power limit",
            points::power_limit,
        ),
        spec(
            metric::GPU_TEMPERATURE,
            unit::CELSIUS,
            "GPU die temperature",
            points::temperature,
        ),
        spec(
            metric::GPU_CLOCK_SM,
            unit::HERTZ,
            "SM clock",
            points::sm_clock,
        ),
        spec(
            metric::GPU_THROTTLE,
            unit::RATIO,
            "1 while the GPU is throttled for the reason",
            points::throttle,
        ),
        spec(
            metric::CPU_UTILIZATION,
            unit::RATIO,
            "Host CPU time share by mode",
            points::cpu_utilization,
        ),
    ];
    let u64_gauges = [
        spec(
            metric::GPU_MEMORY_USAGE,
            unit::BYTES,
            "GPU memory in use",
            points::gpu_memory_usage,
        ),
        spec(
            metric::GPU_MEMORY_LIMIT,
            unit::BYTES,
            "GPU memory installed",
            points::gpu_memory_limit,
        ),
        spec(
            metric::GPU_PROCESS_MEMORY,
            unit::BYTES,
            "GPU memory held by a process",
            points::process_memory,
        ),
        spec(
            metric::MEMORY_USAGE,
            unit::BYTES,
            "Host memory by state",
            points::memory_usage,
        ),
    ];
    let f64_counters = [
        spec(
            metric::ENERGY,
            unit::JOULES,
            "GPU energy used",
            points::energy,
        ),
        spec(
            metric::DISK_IO_TIME,
            unit::SECONDS,
            "Time the disk was busy",
            points::disk_io_time,
        ),
    ];
    let u64_counters = [
        spec(
            metric::GPU_IO,
            unit::BYTES,
            "Bytes moved over NVLink and PCIe",
            points::gpu_io,
        ),
        spec(metric::ERRORS, unit::ERRORS, "ECC errors", points::errors),
        spec(
            metric::GPU_XID,
            unit::EVENTS,
            "XID events by code",
            points::xid,
        ),
        spec(
            metric::DISK_IO,
            unit::BYTES,
            "Disk bytes read and written",
            points::disk_io,
        ),
        spec(
            metric::NETWORK_IO,
            unit::BYTES,
            "Network bytes received and transmitted",
            points::network_io,
        ),
    ];

    let mut instruments: Vec<Box<dyn Any + Send + Sync>> = Vec::new();
    for s in f64_gauges {
        let latest = latest.clone();
        let points = s.points;
        instruments.push(Box::new(
            meter
                .f64_observable_gauge(s.name)
                .with_unit(s.unit)
                .with_description(s.description)
                .with_callback(move |o| observe_latest(&latest, points, |v, a| o.observe(v, a)))
                .build(),
        ));
    }
    for s in u64_gauges {
        let latest = latest.clone();
        let points = s.points;
        instruments.push(Box::new(
            meter
                .u64_observable_gauge(s.name)
                .with_unit(s.unit)
                .with_description(s.description)
                .with_callback(move |o| observe_latest(&latest, points, |v, a| o.observe(v, a)))
                .build(),
        ));
    }
    for s in f64_counters {
        let latest = latest.clone();
        let points = s.points;
        instruments.push(Box::new(
            meter
                .f64_observable_counter(s.name)
                .with_unit(s.unit)
                .with_description(s.description)
                .with_callback(move |o| observe_latest(&latest, points, |v, a| o.observe(v, a)))
                .build(),
        ));
    }
    for s in u64_counters {
        let latest = latest.clone();
        let points = s.points;
        instruments.push(Box::new(
            meter
                .u64_observable_counter(s.name)
                .with_unit(s.unit)
                .with_description(s.description)
                .with_callback(move |o| observe_latest(&latest, points, |v, a| o.observe(v, a)))
                .build(),
        ));
    }
    instruments
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::Protocol;
    use crate::sampler::Sampler;
    use crate::simulated::{demo_profiles, SimulatedSampler};
    use std::time::Duration;

    #[test]
    fn encode_gives_one_request_per_sample() {
        let exporter = OtlpExporter::new(ExporterSettings {
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
        .expect("exporter");
        let mut sampler = SimulatedSampler::new(0, demo_profiles(0, 8), 1);
        let sample = sampler.sample(1_000_000_000).expect("sample");
        let body = exporter.encode(sample).expect("encodes");
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
        let with = exporter
            .encode_with(sampler.sample(2_000_000_000).expect("sample"), vec![extra])
            .expect("encodes");
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
}
