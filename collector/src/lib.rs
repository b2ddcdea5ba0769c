//! The gpuwatch collector: receives OTLP metrics over gRPC (4317) and HTTP (4318),
//! keeps them in a bounded event-time store, and serves the JSON API on 9464.
//!
//! Data flows one way: `receiver` decodes, `ingest` keys points into the `store`,
//! `view` reads the store for `api`. Nothing here knows about the agent or the TUI.

pub mod alerts;
pub mod api;
pub mod auth;
pub mod config;
pub mod cost;
pub mod detect;
pub mod drift;
pub mod durable;
pub mod exposition;
pub mod ingest;
pub mod limiter;
pub mod notify;
pub mod receiver;
pub mod remote_write;
pub mod rollup;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod view;

pub use config::{CollectorConfig, CollectorSettings, ConfigError};
pub use server::{start, start_with_history, RunningCollector, StartError};
pub use state::CollectorState;

/// The OTLP protobuf types, for callers that build requests (tests, benches, replay).
pub use opentelemetry_proto::tonic as otlp;
