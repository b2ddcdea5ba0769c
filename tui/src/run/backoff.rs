//! Reconnecting without hammering: after a failed fetch the next waits twice as long
//! as the last (from the refresh interval up to [`MAX_BACKOFF`]); a good fetch goes
//! back to the refresh interval. The dashboard keeps its data meanwhile and says
//! since when it is stale.

use std::time::Duration;

use tokio::time::Instant;

/// The longest wait between tries.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Connected (no failures), or backing off after `failures` in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backoff {
    refresh: Duration,
    failures: u32,
    next_try: Option<Instant>,
}

impl Backoff {
    pub(crate) fn new(refresh: Duration) -> Self {
        Backoff {
            refresh,
            failures: 0,
            next_try: None,
        }
    }

    /// Whether a fetch may start at `now`.
    pub(crate) fn ready(&self, now: Instant) -> bool {
        self.next_try.is_none_or(|at| now >= at)
    }

    /// Records a failure at `now`; returns how many in a row and the wait before the
    /// next try.
    pub(crate) fn failed(&mut self, now: Instant) -> (u32, Duration) {
        self.failures = self.failures.saturating_add(1);
        let doublings = self.failures.saturating_sub(1).min(16);
        let wait = self
            .refresh
            .saturating_mul(1u32 << doublings)
            .min(MAX_BACKOFF)
            .max(self.refresh);
        self.next_try = Some(now + wait);
        (self.failures, wait)
    }

    pub(crate) fn succeeded(&mut self) {
        self.failures = 0;
        self.next_try = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_reset_on_success() {
        let now = Instant::now();
        let mut b = Backoff::new(Duration::from_secs(1));
        assert!(b.ready(now));
        let waits: Vec<u64> = (0..7).map(|_| b.failed(now).1.as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        assert!(!b.ready(now + Duration::from_secs(29)));
        assert!(b.ready(now + Duration::from_secs(30)));
        b.succeeded();
        assert!(b.ready(now));
        assert_eq!(b.failed(now), (1, Duration::from_secs(1)));
    }
}
