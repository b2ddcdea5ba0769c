//! Prometheus remote write 1.0: every series of the store, as `/metrics` names and
//! labels it, pushed to a URL (Prometheus with `--web.enable-remote-write-receiver`,
//! Mimir, Thanos receive, VictoriaMetrics...). Every `interval` the new points of each
//! series since the last push join a bounded queue of samples (the oldest are dropped
//! and counted past `queue_samples`); a sender takes `batch_samples` at a time, encodes a
//! `WriteRequest` (protobuf, snappy block format) and POSTs it, retrying 429 and 5xx
//! (and a receiver that cannot be reached) with exponential backoff and `Retry-After`,
//! dropping a batch the receiver refuses with another 4xx, with its reason logged.
//!
//! - `config`: `[collector.remote_write]`.
//! - `proto`: the remote-write 1.0 messages.
//! - `collect`: new points of the store as time series.
//! - `sender`: the queue and the HTTP client.

mod collect;
pub mod config;
mod proto;
mod sender;
#[cfg(test)]
mod tests;

pub use collect::Cursor;
pub use config::{RemoteWriteConfig, RemoteWriteSettings};
pub use proto::{Label, Sample, TimeSeries, WriteRequest};
pub use sender::{RemoteWriteStats, RemoteWriter};
