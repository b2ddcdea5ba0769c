//! A rate read now and then, integrated into a cumulative count.

/// Integrates a rate (units per second) read at each sample into a running total: the
/// trapezoid between two readings, so a rate that ramps from 1 to 3 GB/s over one second
/// adds 2 GB. The first reading starts the count at 0; a reading stamped no later than
/// the previous one (a clock stepped back) restarts the interval without adding.
#[derive(Debug, Default, Clone)]
pub(super) struct RateIntegrator {
    total: f64,
    last: Option<(u64, f64)>,
}

impl RateIntegrator {
    /// Adds `rate` read at `time_unix_nano`; returns the whole units counted so far.
    pub(super) fn add(&mut self, time_unix_nano: u64, rate: f64) -> u64 {
        if let Some((then, previous)) = self.last {
            if time_unix_nano > then {
                let seconds = (time_unix_nano - then) as f64 / 1e9;
                self.total += (previous + rate) / 2.0 * seconds;
            }
        }
        self.last = Some((time_unix_nano, rate));
        self.total as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn starts_at_zero_and_integrates_the_trapezoid() {
        let mut bytes = RateIntegrator::default();
        assert_eq!(bytes.add(10 * SECOND, 1000.0), 0);
        assert_eq!(bytes.add(12 * SECOND, 1000.0), 2000);
        assert_eq!(bytes.add(13 * SECOND, 3000.0), 4000);
        assert_eq!(bytes.add(13 * SECOND + SECOND / 2, 3000.0), 5500);
    }

    #[test]
    fn a_clock_stepping_back_adds_nothing_and_restarts() {
        let mut bytes = RateIntegrator::default();
        bytes.add(10 * SECOND, 1000.0);
        assert_eq!(bytes.add(11 * SECOND, 1000.0), 1000);
        assert_eq!(bytes.add(5 * SECOND, 1000.0), 1000);
        assert_eq!(bytes.add(5 * SECOND, 1000.0), 1000);
        assert_eq!(bytes.add(6 * SECOND, 3000.0), 3000);
    }
}
