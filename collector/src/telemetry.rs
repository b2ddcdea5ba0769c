//! The collector's own health: typed events that count (and log) in one place.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What remote write has done, for logs, tests and `/metrics`.
#[derive(Debug, Default)]
pub struct RemoteWriteStats {
    /// Whether remote write runs at all.
    pub enabled: std::sync::atomic::AtomicBool,
    /// Samples the receiver took.
    pub samples_sent: AtomicU64,
    /// Samples dropped because the queue was full.
    pub samples_dropped: AtomicU64,
    /// Samples in batches the receiver refused (4xx other than 429).
    pub samples_refused: AtomicU64,
    /// POSTs to try again (429, 5xx, unreachable).
    pub retries: AtomicU64,
}

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
    /// Over a limit of `[collector.limits]` (HTTP 429, gRPC RESOURCE_EXHAUSTED).
    Overloaded,
    /// Not read and answered within `collector.limits.request_timeout` (HTTP 408).
    Timeout,
    /// No bearer token, or not one of `collector.auth.ingest_tokens_file` (HTTP 401,
    /// gRPC UNAUTHENTICATED).
    Unauthenticated,
}

impl RequestRejection {
    pub const ALL: [RequestRejection; 7] = [
        RequestRejection::Undecodable,
        RequestRejection::TooLarge,
        RequestRejection::UnsupportedMediaType,
        RequestRejection::UnsupportedEncoding,
        RequestRejection::Overloaded,
        RequestRejection::Timeout,
        RequestRejection::Unauthenticated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestRejection::Undecodable => "undecodable",
            RequestRejection::TooLarge => "too_large",
            RequestRejection::UnsupportedMediaType => "unsupported_media_type",
            RequestRejection::UnsupportedEncoding => "unsupported_encoding",
            RequestRejection::Overloaded => "overloaded",
            RequestRejection::Timeout => "timeout",
            RequestRejection::Unauthenticated => "unauthenticated",
        }
    }
}

/// Counters of requests by transport and of refused requests by reason.
#[derive(Debug, Default)]
pub struct Telemetry {
    http_requests: AtomicU64,
    grpc_requests: AtomicU64,
    rejected: [AtomicU64; RequestRejection::ALL.len()],
    /// API and `/metrics` requests refused for want of a reader token.
    api_unauthenticated: AtomicU64,
    /// Alert notifications by notifier and outcome, shared with the notifier tasks.
    pub notifications: Arc<NotificationCounters>,
    /// What remote write did, shared with its task.
    pub remote_write: Arc<RemoteWriteStats>,
    /// What `collector.data_dir` did.
    pub durable: crate::durable::DurableStats,
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

    /// An API or `/metrics` request answered 401.
    pub fn api_unauthenticated(&self) {
        self.api_unauthenticated.fetch_add(1, Ordering::Relaxed);
    }

    pub fn api_requests_unauthenticated(&self) -> u64 {
        self.api_unauthenticated.load(Ordering::Relaxed)
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

/// What became of one notification (or, for `Dropped`, one transition a notifier
/// never saw).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NotificationOutcome {
    /// The receiver answered 2xx.
    Sent,
    /// A 429, a 5xx or a network error: tried again later.
    Retried,
    /// Another 4xx: the receiver refused it for good; not tried again.
    Rejected,
    /// Lost before sending: the notifier's queue was full.
    Dropped,
}

impl NotificationOutcome {
    pub const ALL: [NotificationOutcome; 4] = [
        NotificationOutcome::Sent,
        NotificationOutcome::Retried,
        NotificationOutcome::Rejected,
        NotificationOutcome::Dropped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationOutcome::Sent => "sent",
            NotificationOutcome::Retried => "retried",
            NotificationOutcome::Rejected => "rejected",
            NotificationOutcome::Dropped => "dropped",
        }
    }
}

/// `gpuwatch_notifications_total{notifier,outcome}`: every notification outcome is
/// logged and counted here, in one place. `detail` never holds a secret.
#[derive(Debug, Default)]
pub struct NotificationCounters {
    counts: Mutex<BTreeMap<(String, NotificationOutcome), u64>>,
}

impl NotificationCounters {
    /// Shows `notifier` with zero counts before anything happens.
    pub fn register(&self, notifier: &str) {
        let mut counts = self.lock();
        for outcome in NotificationOutcome::ALL {
            counts.entry((notifier.to_string(), outcome)).or_insert(0);
        }
    }

    pub fn record(&self, notifier: &str, outcome: NotificationOutcome, detail: &str) {
        match outcome {
            NotificationOutcome::Sent => tracing::debug!(notifier, detail, "notification sent"),
            NotificationOutcome::Retried => {
                tracing::info!(notifier, detail, "notification failed; will retry");
            }
            NotificationOutcome::Rejected => {
                tracing::warn!(
                    notifier,
                    detail,
                    "notification refused by the receiver; dropped"
                );
            }
            NotificationOutcome::Dropped => {
                tracing::warn!(notifier, detail, "notification dropped");
            }
        }
        *self
            .lock()
            .entry((notifier.to_string(), outcome))
            .or_insert(0) += 1;
    }

    pub fn count(&self, notifier: &str, outcome: NotificationOutcome) -> u64 {
        self.lock()
            .get(&(notifier.to_string(), outcome))
            .copied()
            .unwrap_or(0)
    }

    /// Every (notifier, outcome, count), in name order.
    pub fn snapshot(&self) -> Vec<(String, NotificationOutcome, u64)> {
        self.lock()
            .iter()
            .map(|((n, o), c)| (n.clone(), *o, *c))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, NotificationOutcome), u64>> {
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
