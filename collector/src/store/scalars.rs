//! A number series' points in Gorilla-compressed chunks of `CHUNK_POINTS`, oldest
//! first, with the newest chunk open for appending. Same contract as `Ring`: event-time
//! order, a point at an existing timestamp replaces it, bounded by count and by age
//! behind the series' newest point.
//!
//! Eviction is by whole chunks: a chunk goes once none of its points can be seen, and
//! until then reads skip the points the bounds have evicted. Reads decode only the
//! chunks their window touches.
//!
//! The sealed chunks' bytes lie end to end in one buffer per series, so a chunk costs
//! its bytes and 32 bytes of bookkeeping, not an allocation of its own.

use std::collections::VecDeque;

use super::gorilla::{Decoder, Encoder, Values};
use super::ring::{Dropped, Refusal};

/// Points a chunk is sealed at: 2 minutes at 1 s, as Prometheus' 120-sample chunks.
const CHUNK_POINTS: u32 = 120;

/// A sealed chunk; its bytes are `bytes[start..]` up to the next chunk's start.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Chunk {
    /// Index of the chunk's first point among every point the series has held.
    base: u64,
    first_ts: i64,
    last_ts: i64,
    start: u32,
    count: u32,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Scalars {
    sealed: VecDeque<Chunk>,
    /// The sealed chunks' bytes, oldest first.
    #[serde(with = "super::snapshot::as_bytes")]
    bytes: Vec<u8>,
    /// How the newest sealed chunk wrote its values: the open chunk's hint.
    hint: Values,
    head: Encoder,
    head_base: u64,
    /// The two newest points, decoded.
    last: Option<(i64, f64)>,
    previous: Option<(i64, f64)>,
    /// Points with an index below this were evicted by the point bound.
    min_index: u64,
    /// Points older than this were evicted by age.
    horizon: i64,
}

impl Default for Scalars {
    fn default() -> Self {
        Scalars {
            sealed: VecDeque::new(),
            bytes: Vec::new(),
            hint: Values::Xor,
            head: Encoder::new(0, Values::Xor),
            head_base: 0,
            last: None,
            previous: None,
            min_index: 0,
            horizon: i64::MIN,
        }
    }
}

/// One chunk as reads see it.
#[derive(Clone, Copy)]
struct ChunkRef<'a> {
    base: u64,
    first_ts: i64,
    last_ts: i64,
    count: u32,
    bytes: &'a [u8],
}

impl Scalars {
    fn total(&self) -> u64 {
        self.head_base + u64::from(self.head.count())
    }

    fn chunk_count(&self) -> usize {
        self.sealed.len() + usize::from(self.head.count() > 0)
    }

    fn chunk(&self, i: usize) -> ChunkRef<'_> {
        match self.sealed.get(i) {
            Some(c) => ChunkRef {
                base: c.base,
                first_ts: c.first_ts,
                last_ts: c.last_ts,
                count: c.count,
                bytes: &self.bytes[self.span(i)],
            },
            None => ChunkRef {
                base: self.head_base,
                first_ts: self.head.first_ts(),
                last_ts: self.head.last_ts(),
                count: self.head.count(),
                bytes: self.head.bytes(),
            },
        }
    }

    /// Where sealed chunk `i`'s bytes lie in `bytes`.
    fn span(&self, i: usize) -> std::ops::Range<usize> {
        let end = self
            .sealed
            .get(i + 1)
            .map_or(self.bytes.len(), |c| c.start as usize);
        self.sealed[i].start as usize..end
    }

    fn visible(&self, index: u64, ts: i64) -> bool {
        index >= self.min_index && ts >= self.horizon
    }

    /// Points the series holds (the bounds applied).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_none()
    }

    /// The newest point.
    pub fn last(&self) -> Option<(i64, f64)> {
        self.last
    }

    /// The point before the newest.
    pub fn previous(&self) -> Option<(i64, f64)> {
        // The point bound is at least 2, so only age can have evicted it.
        self.previous.filter(|&(t, _)| t >= self.horizon)
    }

    /// Points held in memory: every point of every chunk still kept, including the
    /// few past the bounds that wait for their chunk to go. Cheap (no decoding), unlike
    /// `len`.
    pub fn stored_points(&self) -> u64 {
        let first = self.sealed.front().map_or(self.head_base, |c| c.base);
        self.total() - first
    }

    /// Bytes the series' points take on the heap: chunks, their bookkeeping and the
    /// open chunk's spare capacity. The struct itself is counted with its series.
    pub fn bytes(&self) -> usize {
        self.bytes.capacity()
            + self.sealed.capacity() * std::mem::size_of::<Chunk>()
            + self.head.capacity()
    }

    /// Inserts in timestamp order. A point at an existing timestamp replaces it (a
    /// retransmission). Points older than `retention_ns` behind the newest are refused;
    /// the oldest points are evicted past `max_points` or out of the window.
    pub fn insert(
        &mut self,
        ts: i64,
        value: f64,
        max_points: usize,
        retention_ns: i64,
    ) -> Result<Dropped, Refusal> {
        match self.last {
            Some((newest, _)) if ts == newest => {
                self.rewrite(ts, value);
                self.last = Some((ts, value));
            }
            Some((newest, _)) if ts < newest => {
                if ts < newest.saturating_sub(retention_ns) {
                    return Err(Refusal::TooOld);
                }
                self.rewrite(ts, value);
            }
            _ => self.append(ts, value),
        }
        let newest = self.last.map_or(ts, |(t, _)| t);
        self.horizon = self.horizon.max(newest.saturating_sub(retention_ns));
        let max_points = u64::try_from(max_points).unwrap_or(u64::MAX);
        self.min_index = self.min_index.max(self.total().saturating_sub(max_points));
        Ok(self.drop_expired())
    }

    /// Lets go of the sealed chunks no point of which can be seen any more.
    fn drop_expired(&mut self) -> Dropped {
        let mut dropped = Dropped::default();
        let mut evicted = 0;
        while let Some(front) = self.sealed.get(evicted) {
            let end = front.base + u64::from(front.count);
            if front.last_ts >= self.horizon && end > self.min_index {
                break;
            }
            if front.last_ts < self.horizon {
                dropped.retention += u64::from(front.count);
            } else {
                dropped.max_points += u64::from(front.count);
            }
            evicted += 1;
        }
        self.drop_front(evicted);
        dropped
    }

    /// Removes the `n` oldest sealed chunks.
    fn drop_front(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let cut = self
            .sealed
            .get(n)
            .map_or(self.bytes.len(), |c| c.start as usize);
        self.sealed.drain(..n);
        self.bytes.drain(..cut);
        for c in &mut self.sealed {
            c.start -= cut as u32;
        }
    }

    /// Each sealed chunk's age (its newest point behind the series' newest) with the
    /// bytes it takes. The open chunk is not listed: it is never evicted.
    pub fn sealed_ages(&self, mut f: impl FnMut(i64, usize)) {
        let Some((newest, _)) = self.last else {
            return;
        };
        for i in 0..self.sealed.len() {
            let age = newest.saturating_sub(self.sealed[i].last_ts);
            f(age, self.span(i).len() + std::mem::size_of::<Chunk>());
        }
    }

    /// Lets go of the sealed chunks whose newest point is `age_ns` or more behind the
    /// series' newest (never the open chunk), frees their memory, and returns how many
    /// points went.
    pub fn evict_older_than(&mut self, age_ns: i64) -> u64 {
        let Some((newest, _)) = self.last else {
            return 0;
        };
        let n = self
            .sealed
            .partition_point(|c| newest.saturating_sub(c.last_ts) >= age_ns);
        if n == 0 {
            return 0;
        }
        let last = &self.sealed[n - 1];
        let points = last.base + u64::from(last.count) - self.sealed[0].base;
        // Reads skip what went, and nothing of a chunk that stays is hidden.
        self.horizon = self.horizon.max(last.last_ts.saturating_add(1));
        self.drop_front(n);
        self.bytes.shrink_to_fit();
        self.sealed.shrink_to_fit();
        points
    }

    /// Appends a point newer than every other.
    fn append(&mut self, ts: i64, value: f64) {
        if self.head.count() >= CHUNK_POINTS {
            // The next chunk will likely be as big as this one.
            let full = std::mem::replace(&mut self.head, Encoder::new(0, Values::Xor));
            let data = full.seal();
            // As many chunks as retention holds, not twice that.
            self.sealed.reserve_exact(1);
            self.sealed.push_back(Chunk {
                base: self.head_base,
                first_ts: data.first_ts,
                last_ts: data.last_ts,
                start: self.bytes.len() as u32,
                count: data.count,
            });
            // Grown by what it takes: the oldest chunk's bytes go right after.
            self.bytes.reserve_exact(data.bytes.len());
            self.bytes.extend_from_slice(&data.bytes);
            self.hint = data.values;
            self.head_base = self.total_sealed();
            self.head = Encoder::new(data.bytes.len() + 8, self.hint);
        }
        self.head.push(ts, value);
        self.previous = self.last;
        self.last = Some((ts, value));
    }

    fn total_sealed(&self) -> u64 {
        self.sealed
            .back()
            .map_or(0, |c| c.base + u64::from(c.count))
    }

    /// Inserts or replaces a point at or before the newest: the chunk it falls in is
    /// decoded, changed and encoded again.
    fn rewrite(&mut self, ts: i64, value: f64) {
        // The chunk whose first point is the last one at or before `ts` (else the first).
        let i = self
            .sealed
            .partition_point(|c| c.first_ts <= ts)
            .saturating_sub(1);
        let in_head = self.head.count() > 0 && ts >= self.head.first_ts() || self.sealed.is_empty();
        let (bytes, count, first_ts, last_ts) = if in_head {
            let h = &self.head;
            (h.bytes(), h.count(), h.first_ts(), h.last_ts())
        } else {
            let c = &self.sealed[i];
            (&self.bytes[self.span(i)], c.count, c.first_ts, c.last_ts)
        };
        let mut points: Vec<(i64, f64)> = Decoder::new(bytes, count, first_ts, last_ts).collect();
        let at = points.partition_point(|&(t, _)| t < ts);
        let added = match points.get_mut(at) {
            Some(p) if p.0 == ts => {
                p.1 = value;
                false
            }
            _ => {
                points.insert(at, (ts, value));
                true
            }
        };
        let encoded = Encoder::from_points(&points);
        if in_head {
            self.head = encoded;
        } else {
            let data = encoded.seal();
            let span = self.span(i);
            let grown = data.bytes.len() as i64 - span.len() as i64;
            self.bytes.splice(span, data.bytes.iter().copied());
            let c = &mut self.sealed[i];
            (c.first_ts, c.last_ts, c.count) = (data.first_ts, data.last_ts, data.count);
            for c in self.sealed.iter_mut().skip(i + 1) {
                c.start = (i64::from(c.start) + grown) as u32;
            }
            if added {
                for c in self.sealed.iter_mut().skip(i + 1) {
                    c.base += 1;
                }
                self.head_base += 1;
            }
        }
        // The count bound is re-applied by `insert`: the point bound's index is always
        // `total - max_points`, so a point that lands among the evicted stays evicted.
        self.refresh_tail();
    }

    /// Decodes the two newest points again after a rewrite.
    fn refresh_tail(&mut self) {
        let mut tail: Vec<(i64, f64)> = Vec::with_capacity(2);
        let n = self.chunk_count();
        for i in (0..n).rev() {
            let c = self.chunk(i);
            let points: Vec<(i64, f64)> =
                Decoder::new(c.bytes, c.count, c.first_ts, c.last_ts).collect();
            for &p in points.iter().rev() {
                if tail.len() < 2 {
                    tail.push(p);
                }
            }
            if tail.len() == 2 {
                break;
            }
        }
        self.last = tail.first().copied();
        self.previous = tail.get(1).copied();
    }

    /// The newest point at or before `t`.
    pub fn last_at(&self, t: i64) -> Option<(i64, f64)> {
        if let Some(last) = self.last.filter(|&(lt, _)| lt <= t) {
            return Some(last);
        }
        if let Some(prev) = self.previous().filter(|&(pt, _)| pt <= t) {
            return Some(prev);
        }
        self.window(i64::MIN, t).last()
    }

    /// Points with `from <= ts <= to`, oldest first.
    pub fn window(&self, from: i64, to: i64) -> Points<'_> {
        let from = from.max(self.horizon);
        let next = self.sealed.partition_point(|c| c.last_ts < from);
        Points {
            ring: self,
            next,
            current: None,
            from,
            to,
        }
    }

    /// All points, oldest first.
    pub fn iter(&self) -> Points<'_> {
        self.window(i64::MIN, i64::MAX)
    }
}

/// The points of a window, decoded chunk by chunk.
#[derive(Debug)]
pub struct Points<'a> {
    ring: &'a Scalars,
    /// The next chunk to open.
    next: usize,
    /// The chunk being read, with the index of its next point.
    current: Option<(Decoder<'a>, u64)>,
    from: i64,
    to: i64,
}

impl Iterator for Points<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        loop {
            if let Some((decoder, index)) = &mut self.current {
                match decoder.next() {
                    Some((t, v)) => {
                        let i = *index;
                        *index += 1;
                        if t > self.to {
                            self.next = usize::MAX;
                            self.current = None;
                            return None;
                        }
                        if t >= self.from && self.ring.visible(i, t) {
                            return Some((t, v));
                        }
                        continue;
                    }
                    None => self.current = None,
                }
            }
            if self.next >= self.ring.chunk_count() {
                return None;
            }
            let c = self.ring.chunk(self.next);
            self.next += 1;
            if c.first_ts > self.to {
                self.next = usize::MAX;
                return None;
            }
            if c.last_ts < self.from || c.base + u64::from(c.count) <= self.ring.min_index {
                continue;
            }
            self.current = Some((
                Decoder::new(c.bytes, c.count, c.first_ts, c.last_ts),
                c.base,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ring::Ring;
    use super::*;

    const HOUR: i64 = 3_600_000_000_000;

    fn values(r: &Scalars) -> Vec<(i64, f64)> {
        r.iter().collect()
    }

    #[test]
    fn keeps_event_time_order_and_replaces_duplicates() {
        let mut r = Scalars::default();
        for (t, v) in [(10, 1.0), (30, 3.0), (20, 2.0), (30, 3.5)] {
            r.insert(t, v, 100, HOUR).expect("within window");
        }
        assert_eq!(values(&r), vec![(10, 1.0), (20, 2.0), (30, 3.5)]);
        assert_eq!(r.last(), Some((30, 3.5)));
        assert_eq!(r.previous(), Some((20, 2.0)));
    }

    #[test]
    fn bounded_by_count_and_by_age() {
        let mut r = Scalars::default();
        for t in 0..1000 {
            r.insert(t, t as f64, 4, HOUR).expect("in order");
        }
        assert_eq!(
            values(&r),
            vec![(996, 996.0), (997, 997.0), (998, 998.0), (999, 999.0)]
        );
        assert!(r.sealed.len() <= 1, "evicted chunks are dropped");

        let mut r = Scalars::default();
        r.insert(0, 0.0, 100, 10).expect("first");
        r.insert(5, 5.0, 100, 10).expect("in order");
        r.insert(15, 15.0, 100, 10).expect("in order");
        assert_eq!(values(&r), vec![(5, 5.0), (15, 15.0)]);
        assert_eq!(r.insert(4, 4.0, 100, 10), Err(Refusal::TooOld));
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn regular_agent_data_takes_under_two_bytes_a_point() {
        // 15 minutes of a utilization gauge at 1 s: whole percents that often repeat.
        let mut r = Scalars::default();
        let start = 1_700_000_000_000_000_000i64;
        for i in 0..900i64 {
            let v = [87.0, 87.0, 88.0, 87.0, 91.0][(i % 5) as usize];
            r.insert(start + i * 1_000_000_000, v, 3600, 15 * 60 * 1_000_000_000)
                .expect("in order");
        }
        let per_point = r.bytes() as f64 / 900.0;
        assert!(per_point < 2.0, "{per_point:.2} bytes a point");
    }

    /// The same random operations on a `Ring` (the plain store) and on `Scalars`
    /// give the same points through every read.
    #[test]
    fn reads_match_the_plain_ring_under_random_inserts() {
        let mut next = crate::store::xorshift(0x9e37_79b9_7f4a_7c15);
        for round in 0..40 {
            let max_points = [2usize, 5, 130, 400, 3600][round % 5];
            let retention = [50i64, 300, 1000, i64::MAX][round % 4];
            let mut plain: Ring<f64> = Ring::default();
            let mut packed = Scalars::default();
            let mut t = 0i64;
            for _ in 0..900 {
                let ts = match next() % 10 {
                    // Late points, some older than the retention, some duplicates.
                    0 => t - (next() % 400) as i64,
                    1 => t,
                    _ => {
                        t += 1 + (next() % 3) as i64;
                        t
                    }
                };
                let v = match next() % 3 {
                    0 => (next() % 10) as f64,
                    1 => f64::from_bits(next() >> 2),
                    _ => -((next() % 1000) as f64) / 8.0,
                };
                // The ring lets go point by point, chunks whole: what each dropped
                // differs, whether it took the point may not.
                let a = plain.insert(ts, v, max_points, retention).map(|_| ());
                let b = packed.insert(ts, v, max_points, retention).map(|_| ());
                assert_eq!(a, b, "round {round} insert at {ts}");
                let probe = t - (next() % 500) as i64;
                let want: Vec<(i64, u64)> = plain
                    .window(probe - 40, probe)
                    .map(|(t, v)| (t, v.to_bits()))
                    .collect();
                let got: Vec<(i64, u64)> = packed
                    .window(probe - 40, probe)
                    .map(|(t, v)| (t, v.to_bits()))
                    .collect();
                assert_eq!(got, want, "round {round} window to {probe}");
                let bits = |p: Option<(i64, f64)>| p.map(|(t, v)| (t, v.to_bits()));
                assert_eq!(
                    bits(packed.last_at(probe)),
                    bits(plain.last_at(probe).map(|(t, v)| (t, *v))),
                    "round {round} last_at {probe}"
                );
                assert_eq!(
                    bits(packed.last()),
                    bits(plain.last().map(|(t, v)| (t, *v)))
                );
                assert_eq!(
                    bits(packed.previous()),
                    bits(plain.previous().map(|(t, v)| (t, *v))),
                    "round {round} previous"
                );
            }
            assert_eq!(packed.len(), plain.len(), "round {round}");
            let all: Vec<(i64, u64)> = packed.iter().map(|(t, v)| (t, v.to_bits())).collect();
            let want: Vec<(i64, u64)> = plain.iter().map(|(t, v)| (t, v.to_bits())).collect();
            assert_eq!(all, want, "round {round}");
        }
    }
}
