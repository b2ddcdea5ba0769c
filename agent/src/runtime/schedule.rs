//! Sample timestamps on the sampling schedule. A tick wakes a little late (the
//! runtime's timer, the blocking pool), so stamping each sample with the wall clock
//! puts every series a few hundred microseconds to milliseconds off a regular grid,
//! and the collector's store spends 2 to 3 bytes a point on that jitter alone where a
//! regular interval costs one bit. As Prometheus does with its scrape timestamp
//! tolerance, a sample taken within `TOLERANCE` of where the schedule puts it is
//! stamped there; one further off (a late tick, a clock that stepped) is stamped with
//! the wall clock and the schedule starts again from it.

use std::time::Duration;

use gpuwatch_model::Timestamp;

/// How far a sample's stamp may sit from the wall clock's reading: half a percent of
/// a 1 s interval, far below what any detector looks at.
pub const TOLERANCE: Duration = Duration::from_millis(5);

#[derive(Debug, Clone)]
pub struct Schedule {
    interval: Duration,
    tolerance: u64,
    last: Option<Timestamp>,
}

impl Schedule {
    pub fn new(interval: Duration) -> Self {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Schedule {
            interval,
            // Never more than a tenth of the interval, so stamps stay in order.
            tolerance: nanos(TOLERANCE).min(nanos(interval) / 10),
            last: None,
        }
    }

    /// The stamp of a sample taken when the wall clock read `now`.
    pub fn stamp(&mut self, now: Timestamp) -> Timestamp {
        let stamp = self
            .last
            .map(|last| last.saturating_add(self.interval))
            .filter(|due| due.0.abs_diff(now.0) <= self.tolerance)
            .unwrap_or(now);
        self.last = Some(stamp);
        stamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;
    const MS: i64 = 1_000_000;
    const T0: i64 = 1_795_860_000_123_456_789;

    fn stamp(s: &mut Schedule, now: i64) -> i64 {
        s.stamp(Timestamp(now)).0
    }

    #[test]
    fn stamps_follow_the_schedule_within_the_tolerance_and_the_clock_past_it() {
        let cases: &[(&str, &[i64], &[i64])] = &[
            (
                "jitter within the tolerance lands on the grid",
                &[
                    T0,
                    T0 + S + 300_000,
                    T0 + 2 * S + 4 * MS,
                    T0 + 3 * S - 2 * MS,
                ],
                &[T0, T0 + S, T0 + 2 * S, T0 + 3 * S],
            ),
            (
                "a late tick takes the clock, and the grid starts again from it",
                &[
                    T0,
                    T0 + S + 40 * MS,
                    T0 + 2 * S + 41 * MS,
                    T0 + 3 * S + 40 * MS,
                ],
                &[
                    T0,
                    T0 + S + 40 * MS,
                    T0 + 2 * S + 40 * MS,
                    T0 + 3 * S + 40 * MS,
                ],
            ),
            (
                "a clock stepped back is followed",
                &[T0, T0 + S, T0 - 60 * S, T0 - 59 * S],
                &[T0, T0 + S, T0 - 60 * S, T0 - 59 * S],
            ),
            (
                "a skipped tick is not filled in",
                &[T0, T0 + 2 * S + MS, T0 + 3 * S + MS],
                &[T0, T0 + 2 * S + MS, T0 + 3 * S + MS],
            ),
        ];
        for (name, clock, want) in cases {
            let mut s = Schedule::new(Duration::from_secs(1));
            let got: Vec<i64> = clock.iter().map(|&now| stamp(&mut s, now)).collect();
            assert_eq!(&got, want, "{name}");
        }
    }

    #[test]
    fn drift_never_takes_a_stamp_past_the_tolerance() {
        // A clock running 0.1% fast against the tick: the stamps stay within the
        // tolerance of it, jumping back to it each time the gap would grow past.
        let mut s = Schedule::new(Duration::from_secs(1));
        let mut on_grid = 0;
        for i in 0..1000 {
            let now = T0 + i * (S + MS);
            let stamp = stamp(&mut s, now);
            assert!(
                stamp.abs_diff(now) <= 5 * MS as u64,
                "tick {i}: {stamp} for {now}"
            );
            on_grid += u64::from(stamp != now);
        }
        assert!(
            on_grid > 700,
            "{on_grid} of 1000 stamps came from the schedule"
        );
    }

    #[test]
    fn a_short_interval_keeps_its_stamps_in_order() {
        let mut s = Schedule::new(Duration::from_millis(20));
        let a = stamp(&mut s, T0);
        let b = stamp(&mut s, T0 + 19 * MS);
        assert_eq!(b, T0 + 20 * MS, "within 2 ms, a tenth of the interval");
        assert!(stamp(&mut s, T0 + 36 * MS) == T0 + 36 * MS && a < b);
    }
}
