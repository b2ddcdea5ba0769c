//! A histogram series' points, compressed: chunks of up to `CHUNK_POINTS` points with
//! the bucket bounds once per chunk, each point written as its differences from the
//! point before (the first from zero) in LEB128 varints: the delta-of-delta of its
//! time, the change of its count and of each bucket's count (zigzag), and its sum's
//! bits XOR the previous sum's. A cumulative histogram whose buckets grow by a few
//! requests a second takes a byte a bucket, against 8 and an allocation of its own in
//! the plain ring it replaced.
//!
//! Same contract as `Ring`: event-time order, a point at an existing timestamp
//! replaces it, bounded by count and by age behind the newest point. Reads decode only
//! the chunks their window touches and hand out owned points.

use std::collections::VecDeque;
use std::sync::Arc;

use super::ring::{Dropped, Refusal};
use super::HistogramPoint;

/// Points a chunk is closed at: about a minute at 1 s.
const CHUNK_POINTS: u32 = 64;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Chunk {
    first_ts: i64,
    last_ts: i64,
    count: u32,
    bounds: Arc<[f64]>,
    /// Buckets of each point (`bounds.len() + 1`, or more or fewer as sent).
    buckets: u32,
    #[serde(with = "super::snapshot::as_bytes")]
    bytes: Vec<u8>,
}

impl Chunk {
    fn holds(&self, h: &HistogramPoint) -> bool {
        self.buckets as usize == h.counts.len()
            && (Arc::ptr_eq(&self.bounds, &h.bounds) || self.bounds == h.bounds)
    }

    fn points(&self) -> ChunkPoints<'_> {
        ChunkPoints {
            chunk: self,
            pos: 0,
            left: self.count,
            ts: self.first_ts,
            delta: 0,
            count: 0,
            sum: 0,
            counts: vec![0; self.buckets as usize],
        }
    }
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get(bytes: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0u32;
    while let Some(&b) = bytes.get(*pos) {
        *pos += 1;
        if shift < 64 {
            v |= u64::from(b & 0x7f) << shift;
        }
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    v
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// Writes `h` at `ts` after `prev` (`None` for a chunk's first point, written after
/// zero at the chunk's first timestamp).
fn write(
    out: &mut Vec<u8>,
    ts: i64,
    h: &HistogramPoint,
    prev: Option<(i64, i64, &HistogramPoint)>,
) {
    let (prev_ts, prev_delta) = prev.map_or((ts, 0), |(t, d, _)| (t, d));
    let delta = ts.wrapping_sub(prev_ts);
    put(out, zigzag(delta.wrapping_sub(prev_delta)));
    let (count, sum) = prev.map_or((0, 0), |(_, _, p)| (p.count, p.sum.to_bits()));
    put(out, zigzag(h.count.wrapping_sub(count) as i64));
    put(out, h.sum.to_bits() ^ sum);
    for (i, c) in h.counts.iter().enumerate() {
        let before = prev.map_or(0, |(_, _, p)| p.counts[i]);
        put(out, zigzag(c.wrapping_sub(before) as i64));
    }
}

/// A chunk's points, oldest first.
struct ChunkPoints<'a> {
    chunk: &'a Chunk,
    pos: usize,
    left: u32,
    ts: i64,
    delta: i64,
    count: u64,
    sum: u64,
    counts: Vec<u64>,
}

impl Iterator for ChunkPoints<'_> {
    type Item = (i64, HistogramPoint);

    fn next(&mut self) -> Option<(i64, HistogramPoint)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let bytes = &self.chunk.bytes;
        self.delta = self.delta.wrapping_add(unzigzag(get(bytes, &mut self.pos)));
        self.ts = self.ts.wrapping_add(self.delta);
        self.count = self
            .count
            .wrapping_add(unzigzag(get(bytes, &mut self.pos)) as u64);
        self.sum ^= get(bytes, &mut self.pos);
        for c in &mut self.counts {
            *c = c.wrapping_add(unzigzag(get(bytes, &mut self.pos)) as u64);
        }
        Some((
            self.ts,
            HistogramPoint {
                count: self.count,
                sum: f64::from_bits(self.sum),
                bounds: Arc::clone(&self.chunk.bounds),
                counts: self.counts.clone(),
            },
        ))
    }
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Histograms {
    chunks: VecDeque<Chunk>,
    /// Leading points of the front chunk the bounds have evicted: reads skip them.
    skip: u32,
    /// Points visible.
    len: usize,
    /// The newest point whole, and its time's delta from the one before in its chunk.
    last: Option<(i64, HistogramPoint)>,
    last_delta: i64,
    /// The oldest visible point's time.
    front_ts: i64,
}

impl Histograms {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes on the heap: the chunks, their bookkeeping and bounds (counted for each
    /// chunk, though chunks share them) and the newest point's counts.
    pub fn bytes(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Chunk>()
            + self
                .chunks
                .iter()
                .map(|c| c.bytes.capacity() + c.bounds.len() * 8)
                .sum::<usize>()
            + self
                .last
                .as_ref()
                .map_or(0, |(_, h)| h.counts.capacity() * 8)
    }

    /// The newest point.
    pub fn last(&self) -> Option<(i64, &HistogramPoint)> {
        self.last.as_ref().map(|(t, h)| (*t, h))
    }

    /// Inserts in timestamp order. A point at an existing timestamp replaces it (a
    /// retransmission). Points older than `retention_ns` behind the newest are refused;
    /// the oldest points are evicted past `max_points` or out of the window.
    pub fn insert(
        &mut self,
        ts: i64,
        value: HistogramPoint,
        max_points: usize,
        retention_ns: i64,
    ) -> Result<Dropped, Refusal> {
        match self.last.as_ref().map(|(t, _)| *t) {
            Some(newest) if ts <= newest => {
                if ts < newest.saturating_sub(retention_ns) {
                    return Err(Refusal::TooOld);
                }
                self.rewrite(ts, value);
            }
            _ => self.append(ts, value),
        }
        let newest = self.last.as_ref().map_or(ts, |(t, _)| *t);
        Ok(self.evict(max_points, newest.saturating_sub(retention_ns)))
    }

    fn append(&mut self, ts: i64, h: HistogramPoint) {
        let open = self
            .chunks
            .back_mut()
            .filter(|c| c.count < CHUNK_POINTS && c.holds(&h));
        match open {
            Some(chunk) => {
                let prev = self.last.as_ref().map(|(t, p)| (*t, self.last_delta, p));
                write(&mut chunk.bytes, ts, &h, prev);
                self.last_delta = ts.wrapping_sub(chunk.last_ts);
                chunk.last_ts = ts;
                chunk.count += 1;
            }
            None => {
                if let Some(full) = self.chunks.back_mut() {
                    full.bytes.shrink_to_fit();
                }
                let mut bytes = Vec::with_capacity(16 + 2 * h.counts.len());
                write(&mut bytes, ts, &h, None);
                if self.chunks.is_empty() {
                    self.front_ts = ts;
                }
                // The bounds of the chunk before, where they are the same: one copy.
                let bounds = match self.chunks.back() {
                    Some(c) if c.bounds == h.bounds => Arc::clone(&c.bounds),
                    _ => Arc::clone(&h.bounds),
                };
                self.chunks.push_back(Chunk {
                    first_ts: ts,
                    last_ts: ts,
                    count: 1,
                    bounds,
                    buckets: h.counts.len() as u32,
                    bytes,
                });
                self.last_delta = 0;
            }
        }
        self.len += 1;
        self.last = Some((ts, h));
    }

    /// Inserts or replaces a point at or before the newest: the chunk it falls in is
    /// decoded, changed and written again (split where its bounds differ).
    fn rewrite(&mut self, ts: i64, h: HistogramPoint) {
        let i = self
            .chunks
            .partition_point(|c| c.first_ts <= ts)
            .saturating_sub(1);
        let mut points: Vec<(i64, HistogramPoint)> = self.chunks[i].points().collect();
        if i == 0 {
            // What the bounds evicted goes for good before anything is inserted.
            points.drain(..self.skip as usize);
            self.skip = 0;
        }
        let at = points.partition_point(|(t, _)| *t < ts);
        match points.get_mut(at) {
            Some(p) if p.0 == ts => p.1 = h,
            _ => {
                points.insert(at, (ts, h));
                self.len += 1;
            }
        }
        let mut rebuilt: Vec<Chunk> = Vec::new();
        let mut prev: Option<(i64, i64)> = None;
        for (n, (t, p)) in points.iter().enumerate() {
            let fits = rebuilt.last().is_some_and(|c: &Chunk| c.holds(p));
            if !fits {
                let mut bytes = Vec::new();
                write(&mut bytes, *t, p, None);
                rebuilt.push(Chunk {
                    first_ts: *t,
                    last_ts: *t,
                    count: 1,
                    bounds: Arc::clone(&p.bounds),
                    buckets: p.counts.len() as u32,
                    bytes,
                });
                prev = Some((*t, 0));
                continue;
            }
            let (pt, pd) = prev.unwrap_or((*t, 0));
            if let Some(c) = rebuilt.last_mut() {
                write(&mut c.bytes, *t, p, Some((pt, pd, &points[n - 1].1)));
                c.last_ts = *t;
                c.count += 1;
            }
            prev = Some((*t, t.wrapping_sub(pt)));
        }
        let was_last = i + 1 == self.chunks.len();
        let after = self.chunks.split_off(i + 1);
        self.chunks.pop_back();
        self.chunks.extend(rebuilt);
        self.chunks.extend(after);
        if was_last {
            if let (Some((t, p)), Some((_, d))) = (points.last(), prev) {
                self.last = Some((*t, p.clone()));
                self.last_delta = d;
            }
        }
        if i == 0 {
            self.front_ts = self.chunks.front().map_or(ts, |c| c.first_ts);
        }
    }

    /// Drops the oldest points past `max_points` or older than `horizon`.
    fn evict(&mut self, max_points: usize, horizon: i64) -> Dropped {
        let mut dropped = Dropped::default();
        // Whole chunks first, as long as they are wholly out.
        while self.chunks.len() > 1 {
            let front = &self.chunks[0];
            let visible = (front.count - self.skip) as usize;
            let too_many = self.len - visible >= max_points;
            if front.last_ts >= horizon && !too_many {
                break;
            }
            // As the ring counts them one by one: past the count while there are too
            // many, by age after.
            let past_count = visible.min(self.len.saturating_sub(max_points));
            dropped.max_points += past_count as u64;
            dropped.retention += (visible - past_count) as u64;
            self.len -= visible;
            self.skip = 0;
            self.chunks.pop_front();
            self.front_ts = self.chunks[0].first_ts;
        }
        if self.len <= max_points && self.front_ts >= horizon {
            return dropped;
        }
        // Then point by point within the front chunk.
        let Some(front) = self.chunks.front() else {
            return dropped;
        };
        let times: Vec<i64> = front.points().map(|(t, _)| t).collect();
        let mut skip = self.skip as usize;
        // The front chunk's newest point is within both bounds (else it went whole).
        while skip + 1 < times.len() {
            if self.len > max_points {
                dropped.max_points += 1;
            } else if times[skip] < horizon {
                dropped.retention += 1;
            } else {
                break;
            }
            self.len -= 1;
            skip += 1;
        }
        self.skip = skip as u32;
        self.front_ts = times[skip];
        dropped
    }

    /// Each chunk's age (its newest point behind the series' newest) with the bytes it
    /// takes. The open chunk is not listed: it is never evicted.
    pub fn chunk_ages(&self, mut f: impl FnMut(i64, usize)) {
        let Some((newest, _)) = self.last() else {
            return;
        };
        let open = self.chunks.len().saturating_sub(1);
        for c in self.chunks.iter().take(open) {
            f(
                newest.saturating_sub(c.last_ts),
                c.bytes.capacity() + std::mem::size_of::<Chunk>(),
            );
        }
    }

    /// Lets go of the chunks whose newest point is `age_ns` or more behind the series'
    /// newest (never the open chunk), frees their memory, and returns how many points
    /// went.
    pub fn evict_older_than(&mut self, age_ns: i64) -> u64 {
        let Some(newest) = self.last.as_ref().map(|(t, _)| *t) else {
            return 0;
        };
        let mut n = 0u64;
        while self.chunks.len() > 1 && newest.saturating_sub(self.chunks[0].last_ts) >= age_ns {
            let visible = self.chunks[0].count - self.skip;
            n += u64::from(visible);
            self.len -= visible as usize;
            self.skip = 0;
            self.chunks.pop_front();
        }
        if n > 0 {
            self.front_ts = self.chunks[0].first_ts;
            self.chunks.shrink_to_fit();
        }
        n
    }

    /// The newest point at or before `t`.
    pub fn last_at(&self, t: i64) -> Option<(i64, HistogramPoint)> {
        let i = self
            .chunks
            .partition_point(|c| c.first_ts <= t)
            .checked_sub(1)?;
        let skip = if i == 0 { self.skip as usize } else { 0 };
        self.chunks[i]
            .points()
            .skip(skip)
            .take_while(|(ts, _)| *ts <= t)
            .last()
    }

    /// Points with `from <= ts <= to`, oldest first.
    pub fn window(&self, from: i64, to: i64) -> impl Iterator<Item = (i64, HistogramPoint)> + '_ {
        let start = self.chunks.partition_point(|c| c.last_ts < from);
        self.chunks
            .iter()
            .enumerate()
            .skip(start)
            .take_while(move |(_, c)| c.first_ts <= to)
            .flat_map(move |(i, c)| {
                let skip = if i == 0 { self.skip as usize } else { 0 };
                c.points().skip(skip)
            })
            .filter(move |(t, _)| *t >= from && *t <= to)
    }

    /// All points, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (i64, HistogramPoint)> + '_ {
        self.window(i64::MIN, i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ring::Ring;

    const S: i64 = 1_000_000_000;
    const HOUR: i64 = 3600 * S;

    fn point(bounds: &Arc<[f64]>, k: u64) -> HistogramPoint {
        let counts: Vec<u64> = (0..=bounds.len() as u64)
            .map(|b| k * (b + 1) + k % 3)
            .collect();
        HistogramPoint {
            count: counts.iter().sum(),
            sum: k as f64 * 0.37,
            bounds: Arc::clone(bounds),
            counts,
        }
    }

    fn all(h: &Histograms) -> Vec<(i64, HistogramPoint)> {
        h.iter().collect()
    }

    fn ring_all(r: &Ring<HistogramPoint>) -> Vec<(i64, HistogramPoint)> {
        r.iter().map(|(t, h)| (t, h.clone())).collect()
    }

    /// Every insert, out of order, replacing, past both bounds, with bounds that
    /// change, as the plain ring takes it: the same points, drops and refusals.
    #[test]
    fn behaves_as_the_plain_ring() {
        let a: Arc<[f64]> = Arc::from(vec![0.1, 0.5, 1.0]);
        let b: Arc<[f64]> = Arc::from(vec![0.2, 2.0]);
        let mut next = crate::store::xorshift(0xdead_beef_1234_5678);
        for (max_points, retention) in [(1000, 90 * S), (50, HOUR), (7, 20 * S)] {
            let mut h = Histograms::default();
            let mut r: Ring<HistogramPoint> = Ring::default();
            let mut t = 1_800_000_000 * S;
            for k in 0..400u64 {
                let ts = match next() % 10 {
                    0 => t - (next() % 30) as i64 * S,
                    1 => t,
                    _ => {
                        t += if next().is_multiple_of(7) {
                            S + 1234
                        } else {
                            S
                        };
                        t
                    }
                };
                let bounds = if (k / 90) % 2 == 0 { &a } else { &b };
                let p = point(bounds, k + next() % 5);
                let want = r.insert(ts, p.clone(), max_points, retention);
                let got = h.insert(ts, p, max_points, retention);
                assert_eq!(got, want, "insert {k} at {ts}");
                assert_eq!(h.len(), r.len(), "len after {k}");
                assert_eq!(all(&h), ring_all(&r), "points after {k}");
                assert_eq!(
                    h.last().map(|(t, p)| (t, p.clone())),
                    r.last().map(|(t, p)| (t, p.clone()))
                );
            }
            for q in [t - 40 * S, t - 3 * S, t, t + S] {
                assert_eq!(
                    h.last_at(q),
                    r.last_at(q).map(|(t, p)| (t, p.clone())),
                    "last_at {q}"
                );
                let w: Vec<_> = h.window(q - 10 * S, q).collect();
                let rw: Vec<_> = r
                    .window(q - 10 * S, q)
                    .map(|(t, p)| (t, p.clone()))
                    .collect();
                assert_eq!(w, rw, "window to {q}");
            }
        }
    }

    #[test]
    fn a_serving_histogram_takes_about_a_byte_a_bucket() {
        let bounds: Arc<[f64]> = Arc::from(vec![
            0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
        ]);
        let mut next = crate::store::xorshift(42);
        let mut h = Histograms::default();
        let mut ring: Ring<HistogramPoint> = Ring::default();
        let mut counts = vec![0u64; bounds.len() + 1];
        let mut sum = 0.0;
        let t0 = 1_800_000_000 * S;
        for i in 0..900 {
            for c in counts.iter_mut() {
                *c += next() % 12;
            }
            sum += (next() % 10_000) as f64 / 997.0;
            let p = HistogramPoint {
                count: counts.iter().sum(),
                sum,
                bounds: Arc::clone(&bounds),
                counts: counts.clone(),
            };
            ring.insert(t0 + i * S, p.clone(), 3600, 900 * S)
                .expect("in order");
            h.insert(t0 + i * S, p, 3600, 900 * S).expect("in order");
        }
        let per_point = h.bytes() as f64 / h.len() as f64;
        // A byte for each of 16 buckets, 2 for the count, 1 for the time, 8 for a sum
        // that changes in every bit, and the chunk's bookkeeping and bounds.
        assert!(per_point < 32.0, "{per_point:.1} bytes a point");
        let plain = ring.bytes(|p| p.counts.capacity() * 8) as f64 / ring.len() as f64;
        assert!(
            plain > 6.0 * per_point,
            "{plain:.1} bytes a point in the ring"
        );
        assert_eq!(h.iter().count(), 900);
        assert_eq!(h.last_at(t0 + 899 * S).map(|(_, p)| p.counts), Some(counts));
    }

    #[test]
    fn the_memory_budget_lets_go_of_whole_chunks_never_the_open_one() {
        let bounds: Arc<[f64]> = Arc::from(vec![1.0]);
        let mut h = Histograms::default();
        for i in 0..200 {
            h.insert(i * S, point(&bounds, i as u64), 3600, HOUR)
                .expect("in order");
        }
        let mut ages = Vec::new();
        h.chunk_ages(|age, bytes| ages.push((age, bytes > 0)));
        assert_eq!(ages.len(), 3, "three closed chunks of 64 and the open one");
        assert_eq!(ages[0].0, (199 - 63) * S);
        assert_eq!(h.evict_older_than(100 * S), 64);
        assert_eq!(h.evict_older_than(70 * S), 64);
        assert_eq!(h.len(), 72);
        assert_eq!(h.iter().next().map(|(t, _)| t), Some(128 * S));
        assert_eq!(h.evict_older_than(0), 64);
        assert_eq!(h.len(), 8);
        assert_eq!(h.evict_older_than(0), 0, "the open chunk stays");
    }
}
