//! Samples out as OTLP metrics, with CONTRACT.md's names, units and attributes.
//!
//! An `SdkMeterProvider` holds one observable instrument per contract metric; their
//! callbacks read the latest `NodeSample`. The exporter stores a sample, collects
//! through a `ManualReader`, converts the result to an OTLP `ExportMetricsServiceRequest`
//! (opentelemetry-proto's `transform`) and encodes it, so each request carries exactly
//! one sample's values. `transport` sends encoded requests itself, OTLP/HTTP protobuf
//! with reqwest or OTLP/gRPC with tonic, and classifies the answer as delivered, to
//! retry, or refused: the bytes can be queued and replayed (see `crate::delivery`).

mod exporter;
mod points;
mod reader;
mod settings;
mod stamp;
mod transport;

pub use exporter::OtlpExporter;
pub use settings::{ExportError, ExporterSettings, Protocol, ResourceInfo};
pub(crate) use stamp::{push_histogram, string_attr};
#[cfg(test)]
pub(crate) use transport::gunzip;
pub(crate) use transport::{gzip, SendOutcome};
