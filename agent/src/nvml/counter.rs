//! A rate read now and then, integrated into a cumulative count.

use gpuwatch_model::Timestamp;

/// Integrates a rate (units per second) read at each sample into a running total: the
/// trapezoid between two readings, so a rate that ramps from 1 to 3 GB/s over one second
/// adds 2 GB. The first reading starts the count at 0; a reading stamped no later than
/// the previous one (a clock stepped back) restarts the interval without adding.
#[derive(Debug, Default, Clone)]
pub(super) struct RateIntegrator {
    total: f64,
    last: Option<(Timestamp, f64)>,
}

impl RateIntegrator {
    /// Adds `rate` read at `at`; returns the whole units counted so far.
    pub(super) fn add(&mut self, at: Timestamp, rate: f64) -> u64 {
        if let Some((then, previous)) = self.last {
            if at > then {
                self.total += (previous + rate) / 2.0 * at.seconds_since(then);
            }
        }
        self.last = Some((at, rate));
        self.total as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    /// `nanos` after the epoch.
    fn at(nanos: u64) -> Timestamp {
        Timestamp::from_unix_nanos_u64(nanos)
    }

    #[test]
    fn starts_at_zero_and_integrates_the_trapezoid() {
        let mut bytes = RateIntegrator::default();
        assert_eq!(bytes.add(at(10 * SECOND), 1000.0), 0);
        assert_eq!(bytes.add(at(12 * SECOND), 1000.0), 2000);
        assert_eq!(bytes.add(at(13 * SECOND), 3000.0), 4000);
        assert_eq!(bytes.add(at(13 * SECOND + SECOND / 2), 3000.0), 5500);
    }

    #[test]
    fn a_clock_stepping_back_adds_nothing_and_restarts() {
        let mut bytes = RateIntegrator::default();
        bytes.add(at(10 * SECOND), 1000.0);
        assert_eq!(bytes.add(at(11 * SECOND), 1000.0), 1000);
        assert_eq!(bytes.add(at(5 * SECOND), 1000.0), 1000);
        assert_eq!(bytes.add(at(5 * SECOND), 1000.0), 1000);
        assert_eq!(bytes.add(at(6 * SECOND), 3000.0), 3000);
    }
}
