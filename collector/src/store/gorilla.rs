//! Gorilla compression of one chunk of `(timestamp, f64)` points, as Facebook's Gorilla
//! paper and Prometheus' XOR chunks do: timestamps as delta-of-delta, values as the XOR
//! with the previous value, both in a bit stream. Points at a regular interval cost one
//! bit of time each and an unchanged value one bit.
//!
//! The delta-of-delta buckets are sized for nanosecond timestamps: an agent's sampling
//! jitter of a few hundred microseconds fits the 20-bit bucket.

/// Bits appended to a byte vector, most significant bit first.
#[derive(Debug, Clone, Default)]
pub(super) struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte, 0 when it is full (or there is none).
    used: u8,
}

impl BitWriter {
    fn with_capacity(bytes: usize) -> Self {
        BitWriter {
            bytes: Vec::with_capacity(bytes),
            used: 0,
        }
    }

    fn bit(&mut self, one: bool) {
        self.bits(u64::from(one), 1);
    }

    /// Appends the low `n` bits of `value` (`n` at most 64).
    fn bits(&mut self, value: u64, mut n: u8) {
        debug_assert!(n <= 64);
        while n > 0 {
            if self.used == 0 {
                self.bytes.push(0);
            }
            let free = 8 - self.used;
            let take = free.min(n);
            let shift = n - take;
            let chunk = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= chunk << (free - take);
            }
            self.used = (self.used + take) % 8;
            n -= take;
        }
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    pub(super) fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    fn into_boxed(self) -> Box<[u8]> {
        self.bytes.into_boxed_slice()
    }
}

/// Reads what a `BitWriter` wrote. Reading past the end yields zero bits, which a
/// decoder never does: it stops after the chunk's point count.
#[derive(Debug, Clone)]
struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn bit(&mut self) -> bool {
        self.bits(1) == 1
    }

    fn bits(&mut self, mut n: u8) -> u64 {
        let mut out = 0u64;
        while n > 0 {
            let byte = self.bytes.get(self.pos / 8).copied().unwrap_or(0);
            let offset = (self.pos % 8) as u8;
            let avail = 8 - offset;
            let take = avail.min(n);
            let chunk = (byte >> (avail - take)) & (((1u16 << take) - 1) as u8);
            out = (out << take) | u64::from(chunk);
            self.pos += usize::from(take);
            n -= take;
        }
        out
    }
}

/// Delta-of-delta buckets after their prefixes `0`, `10`, `110`, `1110`; `1111` is
/// followed by the full 64 bits.
const DOD_BITS: [u8; 3] = [20, 27, 37];

fn fits(v: i64, bits: u8) -> bool {
    let half = 1i64 << (bits - 1);
    (-half..half).contains(&v)
}

fn sign_extend(v: u64, bits: u8) -> i64 {
    let shift = 64 - u32::from(bits);
    ((v << shift) as i64) >> shift
}

/// `leading` when no XOR window has been written yet.
const NO_WINDOW: u8 = u8::MAX;

/// The open end of a chunk: points are appended in timestamp order.
#[derive(Debug, Clone)]
pub(super) struct Encoder {
    bits: BitWriter,
    count: u32,
    first_ts: i64,
    last_ts: i64,
    delta: i64,
    value: u64,
    leading: u8,
    trailing: u8,
}

impl Encoder {
    /// An empty chunk whose bytes start with room for `capacity`.
    pub(super) fn new(capacity: usize) -> Self {
        Encoder {
            bits: BitWriter::with_capacity(capacity),
            count: 0,
            first_ts: 0,
            last_ts: 0,
            delta: 0,
            value: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    /// Encodes `points`, which must be in increasing timestamp order.
    pub(super) fn from_points(points: &[(i64, f64)]) -> Self {
        let mut e = Encoder::new(points.len() * 2 + 16);
        for &(t, v) in points {
            e.push(t, v);
        }
        e
    }

    pub(super) fn count(&self) -> u32 {
        self.count
    }

    pub(super) fn first_ts(&self) -> i64 {
        self.first_ts
    }

    pub(super) fn last_ts(&self) -> i64 {
        self.last_ts
    }

    pub(super) fn bytes(&self) -> &[u8] {
        self.bits.as_slice()
    }

    pub(super) fn capacity(&self) -> usize {
        self.bits.capacity()
    }

    /// Appends a point later than every point already in the chunk.
    pub(super) fn push(&mut self, ts: i64, value: f64) {
        let bits = value.to_bits();
        if self.count == 0 {
            self.bits.bits(ts as u64, 64);
            self.bits.bits(bits, 64);
            self.first_ts = ts;
        } else {
            let delta = ts.wrapping_sub(self.last_ts);
            self.write_dod(delta.wrapping_sub(self.delta));
            self.delta = delta;
            self.write_xor(bits ^ self.value);
        }
        self.last_ts = ts;
        self.value = bits;
        self.count += 1;
    }

    fn write_dod(&mut self, dod: i64) {
        if dod == 0 {
            self.bits.bit(false);
            return;
        }
        for (i, &n) in DOD_BITS.iter().enumerate() {
            if fits(dod, n) {
                // i + 1 ones then a zero: `10`, `110`, `1110`.
                self.bits.bits(((1u64 << (i + 1)) - 1) << 1, i as u8 + 2);
                self.bits.bits(dod as u64 & ((1u64 << n) - 1), n);
                return;
            }
        }
        self.bits.bits(0b1111, 4);
        self.bits.bits(dod as u64, 64);
    }

    fn write_xor(&mut self, x: u64) {
        if x == 0 {
            self.bits.bit(false);
            return;
        }
        self.bits.bit(true);
        let leading = (x.leading_zeros() as u8).min(31);
        let trailing = x.trailing_zeros() as u8;
        if self.leading != NO_WINDOW && leading >= self.leading && trailing >= self.trailing {
            self.bits.bit(false);
            let significant = 64 - self.leading - self.trailing;
            self.bits.bits(x >> self.trailing, significant);
        } else {
            self.bits.bit(true);
            let significant = 64 - leading - trailing;
            self.bits.bits(u64::from(leading), 5);
            // 1..=64 in six bits.
            self.bits.bits(u64::from(significant - 1), 6);
            self.bits.bits(x >> trailing, significant);
            self.leading = leading;
            self.trailing = trailing;
        }
    }

    /// The chunk, closed: its bytes shrunk to what they hold.
    pub(super) fn seal(self) -> Sealed {
        Sealed {
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            count: self.count,
            bytes: self.bits.into_boxed(),
        }
    }
}

/// A closed chunk.
#[derive(Debug, Clone)]
pub(super) struct Sealed {
    pub(super) first_ts: i64,
    pub(super) last_ts: i64,
    pub(super) count: u32,
    pub(super) bytes: Box<[u8]>,
}

/// The points of a chunk, oldest first.
#[derive(Debug, Clone)]
pub(super) struct Decoder<'a> {
    r: BitReader<'a>,
    remaining: u32,
    started: bool,
    ts: i64,
    delta: i64,
    value: u64,
    leading: u8,
    trailing: u8,
}

impl<'a> Decoder<'a> {
    pub(super) fn new(bytes: &'a [u8], count: u32) -> Self {
        Decoder {
            r: BitReader { bytes, pos: 0 },
            remaining: count,
            started: false,
            ts: 0,
            delta: 0,
            value: 0,
            leading: 0,
            trailing: 0,
        }
    }

    fn read_dod(&mut self) -> i64 {
        let mut ones = 0;
        while ones < 4 && self.r.bit() {
            ones += 1;
        }
        match ones {
            0 => 0,
            4 => self.r.bits(64) as i64,
            i => {
                let n = DOD_BITS[i - 1];
                sign_extend(self.r.bits(n), n)
            }
        }
    }

    fn read_xor(&mut self) -> u64 {
        if !self.r.bit() {
            return 0;
        }
        if self.r.bit() {
            self.leading = self.r.bits(5) as u8;
            let significant = self.r.bits(6) as u8 + 1;
            self.trailing = 64 - self.leading - significant;
        }
        let significant = 64 - self.leading - self.trailing;
        self.r.bits(significant) << self.trailing
    }
}

impl Iterator for Decoder<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        if self.started {
            self.delta = self.delta.wrapping_add(self.read_dod());
            self.ts = self.ts.wrapping_add(self.delta);
            self.value ^= self.read_xor();
        } else {
            self.ts = self.r.bits(64) as i64;
            self.value = self.r.bits(64);
            self.started = true;
        }
        Some((self.ts, f64::from_bits(self.value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(points: &[(i64, f64)]) -> usize {
        let e = Encoder::from_points(points);
        let back: Vec<(i64, u64)> = Decoder::new(e.bytes(), e.count())
            .map(|(t, v)| (t, v.to_bits()))
            .collect();
        let want: Vec<(i64, u64)> = points.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(back, want);
        e.bytes().len()
    }

    #[test]
    fn every_bucket_and_special_value_round_trips() {
        let s = 1_000_000_000i64;
        let points = [
            (i64::MIN + 5, f64::NAN),
            (i64::MIN + 6, -0.0),
            (0, 0.0),
            (s, f64::INFINITY),
            (2 * s, f64::NEG_INFINITY),
            (3 * s, 1.0),
            (4 * s + 300_000, 1.0),              // 20-bit bucket
            (5 * s + 300_000 - 40_000_000, 1.5), // 27-bit bucket
            (6 * s + 30 * s, f64::MIN_POSITIVE), // 37-bit bucket
            (i64::MAX - 1, f64::MAX),            // 64-bit
            (i64::MAX, f64::MIN),
        ];
        round_trip(&points);
    }

    #[test]
    fn a_regular_unchanging_series_costs_about_two_bits_a_point() {
        let points: Vec<(i64, f64)> = (0..120)
            .map(|i| (1_700_000_000_000_000_000 + i * 1_000_000_000, 42.0))
            .collect();
        let bytes = round_trip(&points);
        // 16 bytes for the first point, a 37-bit first delta, then 2 bits a point.
        assert!(bytes <= 16 + 6 + 30, "{bytes} bytes");
    }

    #[test]
    fn jittered_timestamps_and_changing_values_round_trip() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut t = 1_700_000_000_000_000_000i64;
        let mut points = Vec::new();
        for _ in 0..500 {
            t += 1_000_000_000 + (next() % 2_000_000) as i64 - 1_000_000;
            let v = match next() % 4 {
                0 => (next() % 100) as f64,
                1 => f64::from_bits(next()),
                2 => points.last().map_or(0.0, |&(_, v)| v),
                _ => (next() % 1_000_000) as f64 * 1.5,
            };
            points.push((t, v));
        }
        round_trip(&points);
    }
}
