//! `WarnLimiter`: a repeating failure logged at most once per period, the rest counted.

use std::time::{Duration, Instant};

/// Lets a repeating warning through at most once per `every`, counting the rest.
#[derive(Debug)]
pub(super) struct WarnLimiter {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl WarnLimiter {
    pub(super) fn new(every: Duration) -> WarnLimiter {
        WarnLimiter {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when this occurrence should be logged, `n` being the occurrences
    /// swallowed since the last one logged; `None` when it should stay quiet.
    pub(super) fn check(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_limited_and_counted() {
        let start = Instant::now();
        let mut limiter = WarnLimiter::new(Duration::from_secs(30));
        assert_eq!(limiter.check(start), Some(0));
        assert_eq!(limiter.check(start + Duration::from_secs(1)), None);
        assert_eq!(limiter.check(start + Duration::from_secs(29)), None);
        assert_eq!(limiter.check(start + Duration::from_secs(30)), Some(2));
        assert_eq!(limiter.check(start + Duration::from_secs(31)), None);
        assert_eq!(limiter.check(start + Duration::from_secs(61)), Some(1));
    }
}
