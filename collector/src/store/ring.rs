//! A columnar ring of points in event-time order: timestamps and values in separate
//! arrays, bounded by count and by age relative to the series' newest point. The
//! compressed stores (`Scalars`, `Histograms`) keep its contract and are tested
//! against it; snapshots written before compressed histograms hold it.

use std::collections::VecDeque;

/// Why a point was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Older than the retention window behind the series' newest point.
    TooOld,
}

/// Points an insert or an eviction let go, by the bound that took them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Older than the retention behind the series' newest point.
    pub retention: u64,
    /// Past `max_points_per_series`.
    pub max_points: u64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Ring<T> {
    ts: VecDeque<i64>,
    vals: VecDeque<T>,
}

impl<T> Default for Ring<T> {
    fn default() -> Self {
        Ring {
            ts: VecDeque::new(),
            vals: VecDeque::new(),
        }
    }
}

impl<T> Ring<T> {
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Bytes the ring's two arrays take on the heap, spare capacity included, with
    /// `extra` bytes each value owns on the heap.
    pub fn bytes(&self, extra: impl Fn(&T) -> usize) -> usize {
        self.ts.capacity() * std::mem::size_of::<i64>()
            + self.vals.capacity() * std::mem::size_of::<T>()
            + self.vals.iter().map(extra).sum::<usize>()
    }

    /// The newest point.
    pub fn last(&self) -> Option<(i64, &T)> {
        Some((*self.ts.back()?, self.vals.back()?))
    }

    /// The point before the newest.
    pub fn previous(&self) -> Option<(i64, &T)> {
        let i = self.ts.len().checked_sub(2)?;
        Some((self.ts[i], &self.vals[i]))
    }

    /// Inserts in timestamp order. A point at an existing timestamp replaces it (a
    /// retransmission). Points older than `retention_ns` behind the newest are refused;
    /// the oldest points are evicted past `max_points` or out of the window.
    pub fn insert(
        &mut self,
        ts: i64,
        value: T,
        max_points: usize,
        retention_ns: i64,
    ) -> Result<Dropped, Refusal> {
        match self.ts.back() {
            None => {
                self.ts.push_back(ts);
                self.vals.push_back(value);
            }
            Some(&newest) if ts > newest => {
                self.ts.push_back(ts);
                self.vals.push_back(value);
            }
            Some(&newest) if ts == newest => {
                if let Some(v) = self.vals.back_mut() {
                    *v = value;
                }
            }
            Some(&newest) => {
                if ts < newest.saturating_sub(retention_ns) {
                    return Err(Refusal::TooOld);
                }
                let i = self.ts.partition_point(|&t| t < ts);
                if self.ts.get(i) == Some(&ts) {
                    self.vals[i] = value;
                } else {
                    self.ts.insert(i, ts);
                    self.vals.insert(i, value);
                }
            }
        }
        let newest = self.ts.back().copied().unwrap_or(ts);
        let horizon = newest.saturating_sub(retention_ns);
        let mut dropped = Dropped::default();
        while self.ts.len() > max_points || self.ts.front().is_some_and(|&t| t < horizon) {
            if self.ts.len() > max_points {
                dropped.max_points += 1;
            } else {
                dropped.retention += 1;
            }
            self.ts.pop_front();
            self.vals.pop_front();
        }
        Ok(dropped)
    }

    /// The newest point at or before `t`.
    pub fn last_at(&self, t: i64) -> Option<(i64, &T)> {
        let i = self.ts.partition_point(|&ts| ts <= t).checked_sub(1)?;
        Some((self.ts[i], &self.vals[i]))
    }

    /// Points with `from <= ts <= to`, oldest first.
    pub fn window(&self, from: i64, to: i64) -> impl Iterator<Item = (i64, &T)> + '_ {
        let start = self.ts.partition_point(|&t| t < from);
        let end = self.ts.partition_point(|&t| t <= to);
        (start..end.max(start)).map(move |i| (self.ts[i], &self.vals[i]))
    }

    /// All points, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &T)> + '_ {
        self.ts.iter().copied().zip(self.vals.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000_000;

    fn values(r: &Ring<f64>) -> Vec<(i64, f64)> {
        r.iter().map(|(t, v)| (t, *v)).collect()
    }

    #[test]
    fn keeps_event_time_order_and_replaces_duplicates() {
        let mut r = Ring::default();
        for (t, v) in [(10, 1.0), (30, 3.0), (20, 2.0), (30, 3.5)] {
            r.insert(t, v, 100, HOUR).expect("within window");
        }
        assert_eq!(values(&r), vec![(10, 1.0), (20, 2.0), (30, 3.5)]);
        assert_eq!(r.last().map(|(t, v)| (t, *v)), Some((30, 3.5)));
        assert_eq!(r.previous().map(|(t, v)| (t, *v)), Some((20, 2.0)));
    }

    #[test]
    fn bounded_by_count() {
        let mut r = Ring::default();
        for t in 0..10 {
            r.insert(t, t as f64, 4, HOUR).expect("in order");
        }
        assert_eq!(values(&r), vec![(6, 6.0), (7, 7.0), (8, 8.0), (9, 9.0)]);
    }

    #[test]
    fn bounded_by_event_time_age() {
        let mut r = Ring::default();
        r.insert(0, 0.0, 100, 10).expect("first");
        r.insert(5, 5.0, 100, 10).expect("in order");
        r.insert(15, 15.0, 100, 10).expect("in order");
        // 0 is now more than 10 behind the newest (15) and was evicted.
        assert_eq!(values(&r), vec![(5, 5.0), (15, 15.0)]);
        assert_eq!(r.insert(4, 4.0, 100, 10), Err(Refusal::TooOld));
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn window_is_inclusive() {
        let mut r = Ring::default();
        for t in [10, 20, 30, 40] {
            r.insert(t, t as f64, 100, HOUR).expect("in order");
        }
        assert_eq!(r.last_at(35).map(|(t, _)| t), Some(30));
        assert_eq!(r.last_at(30).map(|(t, _)| t), Some(30));
        assert_eq!(r.last_at(9), None);
        let w: Vec<i64> = r.window(20, 30).map(|(t, _)| t).collect();
        assert_eq!(w, vec![20, 30]);
        assert_eq!(r.window(41, 50).count(), 0);
        assert_eq!(r.window(30, 20).count(), 0);
    }
}
