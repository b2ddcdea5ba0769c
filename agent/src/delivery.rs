//! What happens to an export between the sampling loop and the collector: a bounded
//! queue, an optional spool directory, and the backoff between tries.
//!
//! # Design
//!
//! - **What is queued.** The exporter encodes each sample once as an OTLP
//!   `ExportMetricsServiceRequest`; the queue holds those bytes and the exporter sends
//!   them itself (`POST /v1/metrics` with reqwest, or the tonic `MetricsServiceClient`).
//!   A replayed request is byte for byte the one that failed: its points keep their
//!   sample's time, and sums are cumulative, so late points are self-consistent for the
//!   collector, which files them by event time.
//! - **Never block sampling.** The loop only encodes and pushes; a separate task
//!   (`runtime::delivery`) sends the oldest request and removes it once the collector
//!   has it (at-least-once: a request whose answer was lost is sent again).
//! - **What is retried.** Connection errors, timeouts, HTTP 429/502/503/504 and gRPC
//!   UNAVAILABLE, RESOURCE_EXHAUSTED (and the other codes OTLP calls retryable): the
//!   request stays at the front and the task waits, `Backoff` from the interval
//!   doubling to 30 s with ±20% jitter, or the collector's Retry-After (seconds, at
//!   most 5 min). Any other answer (HTTP 400, 413, 500, gRPC INVALID_ARGUMENT...) would
//!   fail again: the request is dropped, counted as rejected and logged.
//! - **The bound.** `agent.queue_for` (default 10 min) divided by the interval gives
//!   the number of requests kept (600 at 1 s). A request that would not fit pushes out
//!   the oldest, counted as dropped and logged at most every 30 s.
//! - **Memory.** A request that has to wait is gzip-compressed once (an 8-GPU sample:
//!   46 KB encoded, 5 KB compressed), so a full 10-minute queue costs about 3 MB. It is
//!   sent as is with `Content-Encoding: gzip` over HTTP (the collector accepts it) and
//!   unpacked for gRPC. Requests sent at once are never compressed.
//! - **Replay.** When a send succeeds again the queue drains oldest first, paced at
//!   `interval / 10` between requests: ten times faster than samples arrive, so a full
//!   backlog is gone in about a ninth of its age, without a burst of the whole backlog
//!   at a collector that has just come back.
//! - **Spool.** With `agent.spool_dir` set, a request is written to a file (write,
//!   flush, rename) as soon as it has to wait (its send failed, or it arrived while the
//!   queue was holding) and is then kept on disk only, not in memory. At shutdown the
//!   agent tries to send what is queued within `agent.timeout`, then spools the rest;
//!   the next start queues the spool's files (the newest `capacity` of them) before
//!   anything new. While the collector is healthy nothing is written, so an agent
//!   killed outright loses at most the request in flight. Without a spool, what is
//!   queued at shutdown is lost, counted and logged.

mod queue;
mod spool;

pub(crate) use queue::{ExportQueue, Next, Restored};
