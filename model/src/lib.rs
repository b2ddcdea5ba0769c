//! The gpuwatch contract as code: metric and attribute names (`names`), the samples a
//! sampler produces (`sample`), series identity (`series`), alerts (`alert`), the JSON
//! API's shapes (`api`), each GPU's badge from the alerts that touch it (`gpu_state`),
//! and small pure helpers for durations and timestamps.
//!
//! Pure by rule: no I/O, no async, no UI. Every other crate depends on this one and on
//! nothing beside it at its own level.

pub mod alert;
pub mod api;
pub mod config;
pub mod credentials;
pub mod drift;
pub mod duration;
pub mod format;
pub mod glob;
pub mod gpu_state;
pub mod history;
pub mod names;
pub mod sample;
pub mod series;
pub mod time;
pub mod views;

pub use time::Timestamp;

pub use alert::{Alert, AlertKind, AlertState, Finding, Severity};
pub use sample::{
    GpuProcess, GpuSample, HistogramSample, HostSample, JobInfo, MigInstance, NodeSample,
    ThrottleReason,
};
pub use series::SeriesKey;
