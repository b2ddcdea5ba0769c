//! Samples out as OTLP metrics, with CONTRACT.md's names, units and attributes.
//!
//! The exporter builds one OTLP `ExportMetricsServiceRequest` (opentelemetry-proto's
//! types) per `NodeSample` straight from the sample: a table of contract metrics, each
//! with its kind, unit and a pure function from the sample to points (`points`). Each
//! request carries exactly one sample's values at the sample's time. The OpenTelemetry
//! SDK's observable instruments did the same through aggregation maps keyed by hashed
//! attribute sets and a conversion of the result, which was over a third of the agent's
//! CPU for values the sample already holds. `transport` sends encoded requests itself,
//! OTLP/HTTP protobuf with reqwest or OTLP/gRPC with tonic, and classifies the answer as
//! delivered, to retry, or refused: the bytes can be queued and replayed (see
//! `crate::delivery`).

mod exporter;
mod host_io;
mod inference;
mod points;
mod settings;
mod spec;
mod stamp;
mod transport;

pub use exporter::OtlpExporter;
pub(crate) use inference::inference_metrics;
pub use settings::{ExportError, ExporterSettings, Protocol, ResourceInfo};
#[cfg(test)]
pub(crate) use transport::gunzip;
pub(crate) use transport::{gzip, SendOutcome};
