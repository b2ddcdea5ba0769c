//! The collector's own health: typed events that count (and log) in one place.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a whole request was refused before any point was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestRejection {
    /// Not a valid protobuf or JSON `ExportMetricsServiceRequest` (HTTP 400).
    Undecodable,
    /// Over `max_request_bytes`, compressed or not (HTTP 413).
    TooLarge,
    /// Content-Type other than protobuf or JSON (HTTP 415).
    UnsupportedMediaType,
    /// Content-Encoding other than gzip or identity (HTTP 415).
    UnsupportedEncoding,
}

impl RequestRejection {
    pub const ALL: [RequestRejection; 4] = [
        RequestRejection::Undecodable,
        RequestRejection::TooLarge,
        RequestRejection::UnsupportedMediaType,
        RequestRejection::UnsupportedEncoding,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestRejection::Undecodable => "undecodable",
            RequestRejection::TooLarge => "too_large",
            RequestRejection::UnsupportedMediaType => "unsupported_media_type",
            RequestRejection::UnsupportedEncoding => "unsupported_encoding",
        }
    }
}

/// Counters of requests by transport and of refused requests by reason.
#[derive(Debug, Default)]
pub struct Telemetry {
    http_requests: AtomicU64,
    grpc_requests: AtomicU64,
    rejected: [AtomicU64; 4],
}

impl Telemetry {
    pub fn http_request(&self) {
        self.http_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn grpc_request(&self) {
        self.grpc_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn request_rejected(&self, why: RequestRejection, detail: &str) {
        tracing::debug!(reason = why.as_str(), detail, "OTLP request refused");
        self.rejected[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn http_requests(&self) -> u64 {
        self.http_requests.load(Ordering::Relaxed)
    }

    pub fn grpc_requests(&self) -> u64 {
        self.grpc_requests.load(Ordering::Relaxed)
    }

    pub fn requests_rejected(&self, why: RequestRejection) -> u64 {
        self.rejected[why as usize].load(Ordering::Relaxed)
    }
}
