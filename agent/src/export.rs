//! Samples out as OTLP metrics, with CONTRACT.md's names, units and attributes.
//!
//! An `SdkMeterProvider` holds one observable instrument per contract metric; their
//! callbacks read the latest `NodeSample`. `OtlpExporter::export` stores a sample,
//! collects through a `ManualReader` and sends the result with the OTLP exporter (HTTP
//! protobuf or gRPC), so each export carries exactly one sample's values.

mod exporter;
mod points;
mod reader;
mod settings;

pub use exporter::OtlpExporter;
pub use settings::{ExportError, ExporterSettings, Protocol, ResourceInfo};
