//! OTLP receivers: gRPC (`grpc`) and HTTP (`http`), as the OTLP specification has them.

pub mod grpc;
pub mod http;
