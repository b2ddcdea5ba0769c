//! `[collector.limits]`: what keeps a collector alive when more comes than it can take.
//!
//! - **Memory**, as the OpenTelemetry Collector's `memory_limiter` does it: the
//!   process's resident memory is read every `check_interval`; at or above the soft
//!   limit (`memory_limit` less `memory_spike_limit`) every OTLP request is refused
//!   with HTTP 429 and `Retry-After` (gRPC `RESOURCE_EXHAUSTED`), which agents and
//!   OpenTelemetry SDKs back off from and retry (the agent spools meanwhile), until it
//!   is below again.
//! - **Concurrency**: at most `max_concurrent_requests` OTLP requests are read and
//!   stored at once; one more is refused the same way, so a burst waits in the
//!   senders' queues, not in this process's memory.
//! - **Slow senders**: a request not read and answered within `request_timeout` is
//!   answered 408 (gRPC `DEADLINE_EXCEEDED`) and its connection closed, so a sender
//!   trickling a byte a second cannot hold a slot.
//!
//! Each refusal is counted in `gpuwatch_ingest_rejected_total{reason="overloaded"}` or
//! `{reason="timeout"}`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::ByteSize;
use gpuwatch_model::config::{duration_at_least, parse_size, ConfigError};

/// How long senders are told to wait before trying again.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Resident memory at which ingest is refused, less `memory_spike_limit`; 0 is no
    /// limit.
    pub memory_limit: ByteSize,
    /// Headroom below `memory_limit` for what arrives between two checks; empty is a
    /// fifth of `memory_limit`.
    pub memory_spike_limit: String,
    /// How often resident memory is read.
    pub check_interval: String,
    /// OTLP requests read and stored at once, over both transports.
    pub max_concurrent_requests: usize,
    /// Longest an OTLP request may take to arrive and be answered.
    pub request_timeout: String,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            memory_limit: ByteSize::Bytes(0),
            memory_spike_limit: String::new(),
            check_interval: "1s".into(),
            max_concurrent_requests: 64,
            request_timeout: "30s".into(),
        }
    }
}

/// Validated `[collector.limits]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitsSettings {
    /// Bytes of resident memory from which ingest is refused; `None`: never.
    pub soft_limit: Option<u64>,
    pub check_interval: Duration,
    pub max_concurrent_requests: usize,
    pub request_timeout: Duration,
}

fn key(k: &str) -> String {
    format!("collector.limits.{k}")
}

fn positive(k: &str, value: &str, least: Duration) -> Result<Duration, ConfigError> {
    duration_at_least(&key(k), value, least)
}

impl LimitsConfig {
    pub fn validate(&self) -> Result<LimitsSettings, ConfigError> {
        let limit = match &self.memory_limit {
            ByteSize::Bytes(n) => Some(*n),
            ByteSize::Text(s) => parse_size(s),
        }
        .ok_or_else(|| {
            ConfigError::new(
                key("memory_limit"),
                format!(
                    "must be a size such as \"2GiB\" or a number of bytes (0: no limit), got {}",
                    self.memory_limit
                ),
            )
        })?;
        let soft_limit = if limit == 0 {
            None
        } else {
            if limit < 64 << 20 {
                return Err(ConfigError::new(
                    key("memory_limit"),
                    format!(
                        "must be 0 (no limit) or at least 64MiB, got {}",
                        self.memory_limit
                    ),
                ));
            }
            let spike = match self.memory_spike_limit.trim() {
                "" => limit / 5,
                s => parse_size(s).ok_or_else(|| {
                    ConfigError::new(
                        key("memory_spike_limit"),
                        format!("must be a size such as \"400MiB\", got {s:?}"),
                    )
                })?,
            };
            if spike >= limit {
                return Err(ConfigError::new(
                    key("memory_spike_limit"),
                    format!(
                        "must be less than memory_limit ({}), got {}",
                        self.memory_limit, self.memory_spike_limit
                    ),
                ));
            }
            Some(limit - spike)
        };
        if self.max_concurrent_requests == 0 {
            return Err(ConfigError::new(
                key("max_concurrent_requests"),
                "must be at least 1, got 0",
            ));
        }
        Ok(LimitsSettings {
            soft_limit,
            check_interval: positive(
                "check_interval",
                &self.check_interval,
                Duration::from_millis(100),
            )?,
            max_concurrent_requests: self.max_concurrent_requests,
            request_timeout: positive(
                "request_timeout",
                &self.request_timeout,
                Duration::from_secs(1),
            )?,
        })
    }
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overload {
    /// Resident memory is at or past the soft limit.
    Memory { rss: u64, soft_limit: u64 },
    /// `max_concurrent_requests` are already in progress.
    Busy { max: usize },
}

impl std::fmt::Display for Overload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Overload::Memory { rss, soft_limit } => write!(
                f,
                "the collector is over its memory limit ({} MiB resident, limit {} MiB: \
                 collector.limits.memory_limit); retry after {} s",
                rss >> 20,
                soft_limit >> 20,
                RETRY_AFTER.as_secs()
            ),
            Overload::Busy { max } => write!(
                f,
                "the collector is taking {max} requests already \
                 (collector.limits.max_concurrent_requests); retry after {} s",
                RETRY_AFTER.as_secs()
            ),
        }
    }
}

/// The limits, shared by the receivers and the memory check.
#[derive(Debug)]
pub struct Limiter {
    settings: LimitsSettings,
    in_flight: AtomicUsize,
    rss: AtomicU64,
    over: AtomicBool,
}

/// One admitted request; its slot is freed when dropped.
#[derive(Debug)]
pub struct Admitted<'a>(&'a Limiter);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Limiter {
    pub fn new(settings: LimitsSettings) -> Limiter {
        Limiter {
            settings,
            in_flight: AtomicUsize::new(0),
            rss: AtomicU64::new(0),
            over: AtomicBool::new(false),
        }
    }

    pub fn settings(&self) -> &LimitsSettings {
        &self.settings
    }

    /// A slot for one request, unless the collector is over a limit.
    pub fn admit(&self) -> Result<Admitted<'_>, Overload> {
        if let (true, Some(soft_limit)) =
            (self.over.load(Ordering::Acquire), self.settings.soft_limit)
        {
            return Err(Overload::Memory {
                rss: self.rss.load(Ordering::Relaxed),
                soft_limit,
            });
        }
        let max = self.settings.max_concurrent_requests;
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= max {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(Overload::Busy { max });
        }
        Ok(Admitted(self))
    }

    /// Takes a reading of resident memory (bytes); says when ingest stops or starts
    /// again.
    pub fn observe(&self, rss: u64) {
        self.rss.store(rss, Ordering::Relaxed);
        let Some(soft_limit) = self.settings.soft_limit else {
            return;
        };
        let over = rss >= soft_limit;
        if self.over.swap(over, Ordering::AcqRel) != over {
            if over {
                tracing::warn!(
                    rss_mib = rss >> 20,
                    soft_limit_mib = soft_limit >> 20,
                    "over the memory limit (collector.limits): refusing OTLP requests with \
                     429 / RESOURCE_EXHAUSTED until below it"
                );
            } else {
                tracing::info!(
                    rss_mib = rss >> 20,
                    "below the memory limit: taking OTLP requests again"
                );
            }
        }
    }

    /// Whether ingest is refused for memory now.
    pub fn is_over(&self) -> bool {
        self.over.load(Ordering::Acquire)
    }

    /// Resident memory at the last reading, bytes.
    pub fn rss(&self) -> u64 {
        self.rss.load(Ordering::Relaxed)
    }
}

/// This process's resident memory, bytes (Linux; `None` elsewhere).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(limit: &str, spike: &str, max: usize) -> Limiter {
        Limiter::new(
            LimitsConfig {
                memory_limit: ByteSize::Text(limit.into()),
                memory_spike_limit: spike.into(),
                max_concurrent_requests: max,
                ..LimitsConfig::default()
            }
            .validate()
            .expect("valid"),
        )
    }

    #[test]
    fn memory_over_the_soft_limit_refuses_until_below_again() {
        let l = limiter("1GiB", "", 100);
        assert_eq!(l.settings().soft_limit, Some((1 << 30) - (1 << 30) / 5));
        let soft = l.settings().soft_limit.expect("a limit");
        assert!(l.admit().is_ok());
        l.observe(soft - 1);
        assert!(l.admit().is_ok(), "just below");
        l.observe(soft);
        let err = l.admit().expect_err("at the limit");
        assert_eq!(
            err,
            Overload::Memory {
                rss: soft,
                soft_limit: soft
            }
        );
        assert!(
            err.to_string().contains("collector.limits.memory_limit"),
            "{err}"
        );
        l.observe(soft / 2);
        assert!(l.admit().is_ok(), "taking requests again");
    }

    #[test]
    fn no_limit_never_refuses_for_memory() {
        let l = limiter("0", "", 1);
        l.observe(u64::MAX);
        assert!(!l.is_over());
        assert!(l.admit().is_ok());
    }

    #[test]
    fn at_most_max_requests_at_once_and_a_slot_frees_when_done() {
        let l = limiter("0", "", 2);
        let a = l.admit().expect("first");
        let _b = l.admit().expect("second");
        assert_eq!(l.admit().expect_err("third"), Overload::Busy { max: 2 });
        drop(a);
        assert!(l.admit().is_ok(), "a slot came free");
    }

    #[test]
    fn bad_limits_name_the_key_and_the_rule() {
        let bad = |c: LimitsConfig, key: &str, rule: &str| {
            let e = c.validate().expect_err("invalid");
            assert_eq!(e.key, format!("collector.limits.{key}"));
            assert!(e.rule.contains(rule), "{}", e.rule);
        };
        let d = LimitsConfig::default;
        bad(
            LimitsConfig {
                memory_limit: ByteSize::Text("lots".into()),
                ..d()
            },
            "memory_limit",
            "size",
        );
        bad(
            LimitsConfig {
                memory_limit: ByteSize::Text("1MiB".into()),
                ..d()
            },
            "memory_limit",
            "64MiB",
        );
        bad(
            LimitsConfig {
                memory_limit: ByteSize::Text("1GiB".into()),
                memory_spike_limit: "2GiB".into(),
                ..d()
            },
            "memory_spike_limit",
            "less than",
        );
        bad(
            LimitsConfig {
                max_concurrent_requests: 0,
                ..d()
            },
            "max_concurrent_requests",
            "at least 1",
        );
        bad(
            LimitsConfig {
                request_timeout: "10ms".into(),
                ..d()
            },
            "request_timeout",
            "at least",
        );
    }

    #[test]
    fn resident_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let rss = resident_bytes().expect("VmRSS");
            assert!(rss > 1 << 20, "{rss}");
        }
    }
}
