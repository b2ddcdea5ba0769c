//! `Backoff`: how long to wait before sending again after a failure.

use std::time::Duration;

/// The longest Retry-After honoured; a collector asking for more gets asked again then.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Exponential backoff with jitter: `first`, doubling up to `max`, each wait spread
/// over ±20% so that a fleet of agents does not come back at the same instant. A
/// collector's Retry-After replaces the step (without jitter, capped at
/// `MAX_RETRY_AFTER`).
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    pub(crate) fn new(first: Duration, max: Duration) -> Backoff {
        let max = max.max(first);
        Backoff {
            first,
            max,
            step: first,
        }
    }

    /// After a success: the next failure waits `first` again.
    pub(crate) fn reset(&mut self) {
        self.step = self.first;
    }

    /// The wait after a failure. `jitter` is any number (the clock's nanoseconds);
    /// it picks where in ±20% the wait falls.
    pub(crate) fn wait(&mut self, retry_after: Option<Duration>, jitter: u64) -> Duration {
        if let Some(after) = retry_after {
            return after.min(MAX_RETRY_AFTER);
        }
        let step = self.step;
        self.step = (step * 2).min(self.max);
        let per_mille = 800 + u32::try_from(jitter % 401).unwrap_or(0);
        step * per_mille / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let waits: Vec<_> = (0..5).map(|_| b.wait(None, 200).as_millis()).collect();
        assert_eq!(waits, vec![1000, 2000, 4000, 5000, 5000]);
        b.reset();
        assert_eq!(b.wait(None, 200), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(10));
        assert_eq!(b.wait(None, 0), Duration::from_secs(8));
        assert_eq!(b.wait(None, 400), Duration::from_secs(12));
        assert_eq!(b.wait(None, 401), Duration::from_secs(8));
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        assert_eq!(
            b.wait(Some(Duration::from_secs(7)), 0),
            Duration::from_secs(7)
        );
        assert_eq!(
            b.wait(Some(Duration::from_secs(86_400)), 0),
            MAX_RETRY_AFTER
        );
        assert_eq!(b.wait(None, 200), Duration::from_secs(1), "steps untouched");
    }
}
