//! `OtlpExporter`: the meter provider, its instruments and the OTLP client.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use gpuwatch_model::names::{attr, metric, unit, value};
use gpuwatch_model::NodeSample;
use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{SdkMeterProvider, Temporality};
use opentelemetry_sdk::Resource;

use super::points::{self, PointsFn};
use super::reader::SharedReader;
use super::settings::{ExportError, ExporterSettings, Protocol, ResourceInfo};

type Latest = Arc<Mutex<Option<NodeSample>>>;

/// Sends samples to a collector as OTLP metrics.
///
/// Build it inside a tokio runtime (the gRPC channel and the async HTTP client need
/// one); `export` must be awaited on that runtime.
pub struct OtlpExporter {
    provider: SdkMeterProvider,
    reader: SharedReader,
    latest: Latest,
    client: opentelemetry_otlp::MetricExporter,
    url: String,
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
        let url = settings.url();
        let build_error = |e: opentelemetry_otlp::ExporterBuildError| ExportError::Build {
            url: url.clone(),
            message: e.to_string(),
        };
        let builder =
            opentelemetry_otlp::MetricExporter::builder().with_temporality(Temporality::Cumulative);
        let client = match settings.protocol {
            Protocol::Http => builder
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(url.clone())
                .with_timeout(settings.timeout)
                .build(),
            Protocol::Grpc => builder
                .with_tonic()
                .with_protocol(opentelemetry_otlp::Protocol::Grpc)
                .with_endpoint(url.clone())
                .with_timeout(settings.timeout)
                .build(),
        }
        .map_err(build_error)?;

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
            client,
            url,
            _instruments: instruments,
        })
    }

    /// Where exports go.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `sample` as one OTLP request: every contract metric the sample has.
    pub async fn export(&self, sample: NodeSample) -> Result<(), ExportError> {
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(sample);
        let mut metrics = ResourceMetrics::default();
        self.reader
            .collect(&mut metrics)
            .map_err(|e| ExportError::Collect(e.to_string()))?;
        self.client
            .export(&metrics)
            .await
            .map_err(|e| ExportError::Send {
                url: self.url.clone(),
                message: sdk_error_message(e),
            })
    }

    /// Stops the provider and the client; later exports fail.
    pub fn shutdown(&self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::debug!(%error, "meter provider shutdown");
        }
        if let Err(error) = self.client.shutdown() {
            tracing::debug!(%error, "OTLP client shutdown");
        }
    }
}

/// The SDK's error without its "Operation failed: " prefix.
fn sdk_error_message(error: OTelSdkError) -> String {
    match error {
        OTelSdkError::InternalFailure(message) => message,
        OTelSdkError::Timeout(after) => format!("timed out after {after:?}"),
        OTelSdkError::AlreadyShutdown => "the exporter is shut down".to_string(),
    }
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
