//! Gorilla compression of one chunk of `(timestamp, f64)` points, as Facebook's Gorilla
//! paper and Prometheus' XOR chunks do: timestamps as delta-of-delta, values as the XOR
//! with the previous value, both in a bit stream. Points at a regular interval cost one
//! bit of time each and an unchanged value one bit.
//!
//! The delta-of-delta buckets are sized for nanosecond timestamps: an agent's sampling
//! jitter of a few hundred microseconds fits the 20-bit bucket.
//!
//! A sealed chunk whose points lie on a regular grid (as an agent stamps them) writes no
//! time at all: its reader steps from the first timestamp to the last in equal parts.
//! One whose value also never changes writes only the first. Such a chunk starts with a
//! `Form` marker, five bits no chunk written before could start with (a decimal's
//! scale is at most 9), so chunks in older snapshots still read as they were written.

/// Bits appended to a byte vector, most significant bit first.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct BitWriter {
    #[serde(with = "super::snapshot::as_bytes")]
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

    fn reserve(&mut self, total: usize) {
        self.bytes.reserve(total.saturating_sub(self.bytes.len()));
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

/// Delta-of-delta buckets of timestamps after their prefixes `0`, `10`, `110`, `1110`;
/// `1111` is followed by the full 64 bits.
const DOD_BITS: [u8; 3] = [20, 27, 37];

/// Buckets of the integers in a chunk's header and of a decimal chunk's first value,
/// after the prefixes `10`, `110`, `1110`, `11110`; `0` is a zero and `11111` is
/// followed by the full 64 bits.
const INT_BITS: [u8; 4] = [6, 13, 20, 32];

fn fits(v: i64, bits: u8) -> bool {
    let half = 1i64 << (bits - 1);
    (-half..half).contains(&v)
}

fn sign_extend(v: u64, bits: u8) -> i64 {
    let shift = 64 - u32::from(bits);
    ((v << shift) as i64) >> shift
}

/// Writes `v` in the smallest of `buckets` that holds it: a zero as one `0` bit, else
/// `i + 1` ones and a zero for bucket `i`, and all ones then 64 bits past the last.
fn write_bucketed(w: &mut BitWriter, v: i64, buckets: &[u8]) {
    if v == 0 {
        w.bit(false);
        return;
    }
    for (i, &n) in buckets.iter().enumerate() {
        if fits(v, n) {
            w.bits(((1u64 << (i + 1)) - 1) << 1, i as u8 + 2);
            w.bits(v as u64 & ((1u64 << n) - 1), n);
            return;
        }
    }
    let ones = buckets.len() as u8 + 1;
    w.bits((1u64 << ones) - 1, ones);
    w.bits(v as u64, 64);
}

fn read_bucketed(r: &mut BitReader<'_>, buckets: &[u8]) -> i64 {
    let mut ones = 0;
    while ones <= buckets.len() && r.bit() {
        ones += 1;
    }
    match ones {
        0 => 0,
        i if i > buckets.len() => r.bits(64) as i64,
        i => {
            let n = buckets[i - 1];
            sign_extend(r.bits(n), n)
        }
    }
}

/// `10^scale` for the scales a decimal chunk may have: exact in an `f64`.
const POW10: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Integers of a decimal chunk stay where an `f64` holds every integer.
const MAX_DECIMAL: f64 = 9_007_199_254_740_992.0;

/// `k` with `k / 10^scale == value` to the bit, the way the decoder computes it.
fn decimal_at(value: f64, scale: u8) -> Option<i64> {
    let p = POW10[usize::from(scale)];
    let k = (value * p).round();
    // NaN and infinities fail here too.
    if k.is_nan() || k.abs() > MAX_DECIMAL {
        return None;
    }
    // Through the integer, as the decoder goes: -0.0 comes back as 0.0, so it is not one.
    let k = k as i64;
    ((k as f64 / p).to_bits() == value.to_bits()).then_some(k)
}

/// The smallest scale at which `value` is a decimal, if any.
fn scale_of(value: f64) -> Option<u8> {
    (0..POW10.len() as u8).find(|&d| decimal_at(value, d).is_some())
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// How a chunk writes its values. Readings an agent takes are mostly decimals of a
/// few digits (whole percents, milliwatts, bytes), which XOR compresses poorly: those
/// are written as the integers they are, in `step`s, as the difference from the
/// previous integer (gauges) or, with `dod`, from the previous difference (counters),
/// in buckets sized for the chunk's own spread (`width`). Anything else is
/// XOR-compressed as Gorilla does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) enum Values {
    Xor,
    Decimal {
        scale: u8,
        step: u64,
        dod: bool,
        width: u8,
    },
}

/// The widths a decimal chunk's buckets may start at.
const WIDTHS: std::ops::RangeInclusive<u8> = 1..=40;

/// The buckets of differences that start at `width` bits.
fn buckets(width: u8) -> [u8; 4] {
    [width, width + 4, width + 10, width + 20]
}

/// Bits a signed integer takes in two's complement, sign included.
fn signed_bits(v: i64) -> usize {
    65 - (v ^ (v >> 63)).leading_zeros() as usize
}

/// Bits `write_bucketed` spends on a nonzero value of `bits` bits.
fn bucketed_cost(bits: usize, buckets: &[u8]) -> usize {
    buckets
        .iter()
        .position(|&n| bits <= usize::from(n))
        .map_or(buckets.len() + 1 + 64, |i| i + 2 + usize::from(buckets[i]))
}

/// The width whose buckets write these differences in the fewest bits, and the bits.
/// `lengths[n]` counts the nonzero differences of `n` bits.
fn best_width(lengths: &[usize; 65]) -> (u8, usize) {
    // Only the lengths that occur: a chunk's differences have a handful.
    let seen: Vec<(usize, usize)> = (1..65)
        .filter(|&n| lengths[n] > 0)
        .map(|n| (n, lengths[n]))
        .collect();
    WIDTHS
        .map(|w| {
            let b = buckets(w);
            let bits = seen
                .iter()
                .map(|&(n, count)| count * bucketed_cost(n, &b))
                .sum::<usize>();
            (w, bits)
        })
        .min_by_key(|&(_, bits)| bits)
        .unwrap_or((6, 0))
}

impl Values {
    /// The tightest encoding for every value of `points`.
    fn fit(points: &[(i64, f64)]) -> Values {
        let Some(scale) = points
            .iter()
            .map(|&(_, v)| scale_of(v))
            .try_fold(0u8, |max, s| s.map(|s| max.max(s)))
        else {
            return Values::Xor;
        };
        let Some(ks) = points
            .iter()
            .map(|&(_, v)| decimal_at(v, scale))
            .collect::<Option<Vec<i64>>>()
        else {
            return Values::Xor;
        };
        let first = ks.first().copied().unwrap_or(0);
        let step = ks.iter().fold(0, |g, &k| gcd(g, k.abs_diff(first))).max(1);
        // Differences in steps, and differences of those, as the encoder writes them.
        let mut gauge = [0usize; 65];
        let mut counter = [0usize; 65];
        let mut previous = 0i64;
        for pair in ks.windows(2) {
            let diff = pair[1].wrapping_sub(pair[0]) / step as i64;
            for (lengths, v) in [
                (&mut gauge, diff),
                (&mut counter, diff.wrapping_sub(previous)),
            ] {
                if v != 0 {
                    lengths[signed_bits(v)] += 1;
                }
            }
            previous = diff;
        }
        let (gauge_width, gauge_bits) = best_width(&gauge);
        let (counter_width, counter_bits) = best_width(&counter);
        let (dod, width) = if counter_bits < gauge_bits {
            (true, counter_width)
        } else {
            (false, gauge_width)
        };
        Values::Decimal {
            scale,
            step,
            dod,
            width,
        }
    }

    fn write(self, w: &mut BitWriter) {
        match self {
            Values::Xor => w.bit(false),
            Values::Decimal {
                scale,
                step,
                dod,
                width,
            } => {
                w.bit(true);
                w.bits(u64::from(scale), 4);
                w.bit(dod);
                w.bits(u64::from(width), 6);
                write_bucketed(w, (step - 1) as i64, &INT_BITS);
            }
        }
    }

    fn read(r: &mut BitReader<'_>) -> Values {
        if !r.bit() {
            return Values::Xor;
        }
        let scale = (r.bits(4) as u8).min(POW10.len() as u8 - 1);
        let dod = r.bit();
        let width = (r.bits(6) as u8).clamp(*WIDTHS.start(), *WIDTHS.end());
        let step = (read_bucketed(r, &INT_BITS) as u64).wrapping_add(1).max(1);
        Values::Decimal {
            scale,
            step,
            dod,
            width,
        }
    }

    /// The value a chunk written this way holds as `raw` (bits, or the integer).
    fn value_of(self, raw: u64) -> f64 {
        match self {
            Values::Xor => f64::from_bits(raw),
            Values::Decimal { scale, .. } => raw as i64 as f64 / POW10[usize::from(scale)],
        }
    }

    /// The buckets its differences are written in.
    fn buckets(self) -> [u8; 4] {
        match self {
            Values::Decimal { width, .. } => buckets(width),
            Values::Xor => INT_BITS,
        }
    }
}

/// `leading` when no XOR window has been written yet.
const NO_WINDOW: u8 = u8::MAX;

/// What a chunk writes for each point after the first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Form {
    /// Its time (delta-of-delta) and its value.
    #[default]
    Plain,
    /// Its value only: the timestamps are evenly spaced.
    Regular,
    /// Nothing: evenly spaced, and every value is the first to the bit.
    Constant,
}

impl Form {
    /// Points a chunk needs before it is written regular (the marker's five bits
    /// against a bit a point saved).
    const MIN_REGULAR: usize = 8;

    /// The marker a non-plain chunk starts with: a decimal header (`1`) whose scale
    /// nibble no decimal has.
    fn marker(self) -> Option<u64> {
        match self {
            Form::Plain => None,
            Form::Regular => Some(0b11111),
            Form::Constant => Some(0b11110),
        }
    }

    /// Reads a marker, if the chunk starts with one.
    fn read(r: &mut BitReader<'_>) -> Form {
        let mut peek = r.clone();
        let form = match peek.bits(5) {
            0b11111 => Form::Regular,
            0b11110 => Form::Constant,
            _ => return Form::Plain,
        };
        *r = peek;
        form
    }

    /// The tightest form for `points`, in timestamp order.
    fn of(points: &[(i64, f64)]) -> Form {
        let [(t0, v0), (t1, _), ..] = *points else {
            return Form::Plain;
        };
        let delta = t1.wrapping_sub(t0);
        if points.len() < Self::MIN_REGULAR
            || delta <= 0
            || points
                .windows(2)
                .any(|w| w[1].0.wrapping_sub(w[0].0) != delta)
        {
            return Form::Plain;
        }
        if points.iter().all(|p| p.1.to_bits() == v0.to_bits()) {
            Form::Constant
        } else {
            Form::Regular
        }
    }
}

/// The open end of a chunk: points are appended in timestamp order.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Encoder {
    bits: BitWriter,
    values: Values,
    count: u32,
    first_ts: i64,
    last_ts: i64,
    delta: i64,
    /// The previous value's bits (XOR) or integer (decimal).
    value: u64,
    /// The previous difference of integers (decimal).
    diff: i64,
    leading: u8,
    trailing: u8,
    /// Whether `values` is a hint the first value may change, rather than fitted.
    hinted: bool,
    /// Only sealed chunks are other than plain, and the open chunk is the only one
    /// saved as an encoder.
    #[serde(skip)]
    form: Form,
}

impl Encoder {
    /// An empty chunk whose bytes start with room for `capacity`, its values written
    /// as `hint` says while they fit it (the previous chunk's encoding).
    pub(super) fn new(capacity: usize, hint: Values) -> Self {
        Encoder {
            bits: BitWriter::with_capacity(capacity),
            values: hint,
            count: 0,
            first_ts: 0,
            last_ts: 0,
            delta: 0,
            value: 0,
            diff: 0,
            leading: NO_WINDOW,
            trailing: 0,
            hinted: true,
            form: Form::Plain,
        }
    }

    /// Encodes `points`, which must be in increasing timestamp order, as tightly as
    /// their values allow.
    pub(super) fn from_points(points: &[(i64, f64)]) -> Self {
        Self::encode(points, Values::fit(points))
    }

    fn encode(points: &[(i64, f64)], values: Values) -> Self {
        Self::encode_as(points, values, Form::Plain)
    }

    fn encode_as(points: &[(i64, f64)], values: Values, form: Form) -> Self {
        let mut e = Encoder::new(points.len() * 2 + 16, values);
        e.hinted = false;
        e.form = form;
        for &(t, v) in points {
            let appended = e.try_push(t, v);
            debug_assert!(appended, "a fitted encoding holds its own points");
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

    fn points(&self) -> Vec<(i64, f64)> {
        Decoder::new(self.bytes(), self.count, self.first_ts, self.last_ts).collect()
    }

    /// Appends a point later than every point already in the chunk, encoding the
    /// chunk again when the value does not fit how it is written.
    pub(super) fn push(&mut self, ts: i64, value: f64) {
        if self.try_push(ts, value) {
            return;
        }
        let mut points = self.points();
        points.push((ts, value));
        let capacity = self.capacity().max(self.bytes().len() + 8);
        *self = Self::from_points(&points);
        self.bits.reserve(capacity);
    }

    /// `push`, unless `value` does not fit the chunk's encoding.
    fn try_push(&mut self, ts: i64, value: f64) -> bool {
        if self.count == 0 && self.hinted {
            // A new chunk keeps its hint's step and form of difference, at the hint's
            // scale where the first value has it, else at the first value's own.
            self.values = match (scale_of(value), self.values) {
                (None, _) => Values::Xor,
                (Some(own), Values::Xor) => Values::Decimal {
                    scale: own,
                    step: 1,
                    dod: false,
                    width: INT_BITS[0],
                },
                (
                    Some(own),
                    Values::Decimal {
                        scale,
                        step,
                        dod,
                        width,
                    },
                ) => Values::Decimal {
                    scale: if decimal_at(value, scale).is_some() {
                        scale
                    } else {
                        own
                    },
                    step,
                    dod,
                    width,
                },
            };
        }
        if self.count == 0 {
            let k = match self.values {
                Values::Decimal { scale, .. } => match decimal_at(value, scale) {
                    Some(k) => Some(k),
                    None => return false,
                },
                Values::Xor => None,
            };
            if let Some(marker) = self.form.marker() {
                self.bits.bits(marker, 5);
            }
            self.values.write(&mut self.bits);
            match k {
                Some(k) => {
                    self.value = k as u64;
                    write_bucketed(&mut self.bits, k, &INT_BITS);
                }
                None => {
                    self.value = value.to_bits();
                    self.bits.bits(self.value, 64);
                }
            }
            self.first_ts = ts;
        } else {
            let xor = match self.values {
                Values::Xor => None,
                Values::Decimal { scale, step, .. } => {
                    let Some(k) = decimal_at(value, scale) else {
                        return false;
                    };
                    let diff = k.wrapping_sub(self.value as i64);
                    if diff % step as i64 != 0 {
                        return false;
                    }
                    Some((k, diff / step as i64))
                }
            };
            let delta = ts.wrapping_sub(self.last_ts);
            if self.form == Form::Plain {
                write_bucketed(&mut self.bits, delta.wrapping_sub(self.delta), &DOD_BITS);
            }
            self.delta = delta;
            if self.form == Form::Constant {
                debug_assert_eq!(value.to_bits(), self.decoded_value().to_bits());
                self.last_ts = ts;
                self.count += 1;
                return true;
            }
            match xor {
                None => {
                    let bits = value.to_bits();
                    self.write_xor(bits ^ self.value);
                    self.value = bits;
                }
                Some((k, diff)) => {
                    let written = if self.dod() {
                        diff.wrapping_sub(self.diff)
                    } else {
                        diff
                    };
                    write_bucketed(&mut self.bits, written, &self.values.buckets());
                    self.diff = diff;
                    self.value = k as u64;
                }
            }
        }
        self.last_ts = ts;
        self.count += 1;
        true
    }

    fn dod(&self) -> bool {
        matches!(self.values, Values::Decimal { dod: true, .. })
    }

    /// The last value written, as a reader gets it.
    fn decoded_value(&self) -> f64 {
        self.values.value_of(self.value)
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

    /// The chunk, closed: encoded again to fit its values when they are decimals (the
    /// open chunk writes them as its hint said) and without its timestamps when they
    /// are evenly spaced, its bytes shrunk to what they hold.
    pub(super) fn seal(self) -> Sealed {
        let points = self.points();
        let best = match (Form::of(&points), self.values) {
            (Form::Plain, Values::Xor) => self,
            (form, _) => Self::encode_as(&points, Values::fit(&points), form),
        };
        Sealed {
            first_ts: best.first_ts,
            last_ts: best.last_ts,
            count: best.count,
            values: best.values,
            bytes: best.bits.into_boxed(),
        }
    }
}

/// A closed chunk.
#[derive(Debug, Clone)]
pub(super) struct Sealed {
    pub(super) first_ts: i64,
    pub(super) last_ts: i64,
    pub(super) count: u32,
    /// How its values are written, the next chunk's hint.
    pub(super) values: Values,
    pub(super) bytes: Box<[u8]>,
}

/// The points of a chunk, oldest first.
#[derive(Debug, Clone)]
pub(super) struct Decoder<'a> {
    r: BitReader<'a>,
    count: u32,
    remaining: u32,
    last_ts: i64,
    started: bool,
    form: Form,
    values: Values,
    ts: i64,
    delta: i64,
    value: u64,
    diff: i64,
    leading: u8,
    trailing: u8,
}

impl<'a> Decoder<'a> {
    /// The `count` points of a chunk from `first_ts` to `last_ts`.
    pub(super) fn new(bytes: &'a [u8], count: u32, first_ts: i64, last_ts: i64) -> Self {
        Decoder {
            r: BitReader { bytes, pos: 0 },
            count,
            remaining: count,
            last_ts,
            started: false,
            form: Form::Plain,
            values: Values::Xor,
            ts: first_ts,
            delta: 0,
            value: 0,
            diff: 0,
            leading: 0,
            trailing: 0,
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

    fn value(&self) -> f64 {
        self.values.value_of(self.value)
    }
}

impl Iterator for Decoder<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        if !self.started {
            self.started = true;
            self.form = Form::read(&mut self.r);
            if self.form != Form::Plain {
                // Evenly spaced from the first to the last.
                let gaps = i64::from(self.count.saturating_sub(1)).max(1);
                self.delta = self.last_ts.wrapping_sub(self.ts) / gaps;
            }
            self.values = Values::read(&mut self.r);
            self.value = match self.values {
                Values::Xor => self.r.bits(64),
                Values::Decimal { .. } => read_bucketed(&mut self.r, &INT_BITS) as u64,
            };
            return Some((self.ts, self.value()));
        }
        if self.form == Form::Plain {
            self.delta = self
                .delta
                .wrapping_add(read_bucketed(&mut self.r, &DOD_BITS));
        }
        self.ts = self.ts.wrapping_add(self.delta);
        if self.form == Form::Constant {
            return Some((self.ts, self.value()));
        }
        match self.values {
            Values::Xor => self.value ^= self.read_xor(),
            Values::Decimal { step, dod, .. } => {
                let read = read_bucketed(&mut self.r, &self.values.buckets());
                self.diff = if dod {
                    self.diff.wrapping_add(read)
                } else {
                    read
                };
                self.value =
                    (self.value as i64).wrapping_add(self.diff.wrapping_mul(step as i64)) as u64;
            }
        }
        Some((self.ts, self.value()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(bytes: &[u8], count: u32, first_ts: i64, last_ts: i64) -> Vec<(i64, u64)> {
        Decoder::new(bytes, count, first_ts, last_ts)
            .map(|(t, v)| (t, v.to_bits()))
            .collect()
    }

    /// Encodes `points` every way a chunk can be built (fitted, appended one by one
    /// under each kind of hint, sealed) and checks each decodes to them to the bit.
    /// Returns the sealed chunk's bytes.
    fn round_trip(points: &[(i64, f64)]) -> usize {
        let want: Vec<(i64, u64)> = points.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        let first = points.first().map_or(0, |p| p.0);
        let last = points.last().map_or(0, |p| p.0);
        let e = Encoder::from_points(points);
        assert_eq!(decoded(e.bytes(), e.count(), first, last), want, "fitted");
        let decimal = |scale, step, dod, width| Values::Decimal {
            scale,
            step,
            dod,
            width,
        };
        let hints = [
            Values::Xor,
            decimal(0, 1, false, 6),
            decimal(3, 1 << 20, true, 1),
            decimal(9, 7, false, 40),
        ];
        let mut sealed = 0;
        for hint in hints {
            let mut e = Encoder::new(0, hint);
            for &(t, v) in points {
                e.push(t, v);
            }
            assert_eq!(
                decoded(e.bytes(), e.count(), first, last),
                want,
                "pushed, {hint:?}"
            );
            let s = e.seal();
            assert_eq!(
                decoded(&s.bytes, s.count, s.first_ts, s.last_ts),
                want,
                "sealed, {hint:?}"
            );
            sealed = s.bytes.len();
        }
        sealed
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
    fn a_regular_unchanging_series_costs_its_first_value() {
        let points: Vec<(i64, f64)> = (0..120)
            .map(|i| (1_700_000_000_000_000_000 + i * 1_000_000_000, 42.0))
            .collect();
        let plain = Encoder::from_points(&points).bytes().len();
        let bytes = round_trip(&points);
        // The marker, the header and the first value: 34 bits. Written point by
        // point, the first delta's 41 bits and 2 bits a point.
        assert_eq!(bytes, 5);
        assert!(plain >= 35, "{plain} bytes plain");
        assert_eq!(Form::of(&points), Form::Constant);
    }

    #[test]
    fn evenly_spaced_points_are_sealed_without_their_timestamps() {
        let mut next = crate::store::xorshift(0x51_7cc1_b727_220a);
        let points: Vec<(i64, f64)> = (0..120)
            .map(|i| {
                (
                    T0 + i * 15 * SECOND,
                    (600_000 + next() % 1000) as f64 / 1000.0,
                )
            })
            .collect();
        assert_eq!(Form::of(&points), Form::Regular);
        let plain = Encoder::from_points(&points).bytes().len();
        let sealed = round_trip(&points);
        // 119 delta-of-delta bits and the first delta's 41 go, the marker's 5 come:
        // 155 bits, give or take each end's byte.
        let saved = (plain - sealed) * 8;
        assert!((155 - 8..=155 + 8).contains(&saved), "{saved} bits saved");
        // One point off the grid, or too few to pay for the marker: written as before.
        let mut off = points.clone();
        off[60].0 += 1;
        assert_eq!(Form::of(&off), Form::Plain);
        round_trip(&off);
        assert_eq!(Form::of(&points[..Form::MIN_REGULAR - 1]), Form::Plain);
        assert_eq!(Form::of(&points[..Form::MIN_REGULAR]), Form::Regular);
        round_trip(&points[..Form::MIN_REGULAR]);
    }

    #[test]
    fn chunks_written_before_the_forms_still_read() {
        // No plain chunk starts with a marker: Xor starts with 0, a decimal with 1 and
        // a scale of at most 9 (1001).
        for values in [
            Values::Xor,
            Values::Decimal {
                scale: 9,
                step: u64::MAX,
                dod: true,
                width: 40,
            },
        ] {
            let mut w = BitWriter::default();
            values.write(&mut w);
            let mut r = BitReader {
                bytes: w.as_slice(),
                pos: 0,
            };
            assert_eq!(Form::read(&mut r), Form::Plain);
            assert_eq!(r.pos, 0);
        }
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

    const T0: i64 = 1_700_000_000_000_000_000;
    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn decimal_values_round_trip_to_the_bit() {
        let cases: &[(&str, Vec<f64>)] = &[
            (
                "whole percents as ratios",
                vec![0.87, 0.88, 0.0, 1.0, 0.87, 0.01],
            ),
            ("milliwatts", vec![650.123, 649.9, 700.0, 81.001, 650.123]),
            ("negative", vec![-0.5, -12.25, 3.0, -0.001]),
            ("scale grows", vec![1.0, 0.5, 0.25, 0.125, 0.0625, 1e-9]),
            (
                "then a full float",
                vec![1.0, 2.0, std::f64::consts::PI, 3.0],
            ),
            ("then a negative zero", vec![1.0, -0.0, 0.0]),
            (
                "at the integer limit",
                vec![9_007_199_254_740_992.0, -9_007_199_254_740_992.0, 1.0],
            ),
            (
                "past it",
                vec![1.0, 18_014_398_509_481_984.0 + 2.0 * 4.0, 2.0],
            ),
            (
                "MiB steps",
                vec![0.0, 1048576.0, 3145728.0, 3145728.0, 81.0 * 1048576.0],
            ),
            ("not finite", vec![1.0, f64::NAN, f64::INFINITY, 2.0]),
        ];
        for (name, values) in cases {
            let points: Vec<(i64, f64)> = values
                .iter()
                .enumerate()
                .map(|(i, &v)| (T0 + i as i64 * SECOND, v))
                .collect();
            round_trip(&points);
            eprintln!("{name}: ok");
        }
    }

    #[test]
    fn agent_readings_cost_what_their_digits_do() {
        let mut next = crate::store::xorshift(0x9e37_79b9_7f4a_7c15);
        let at = |i: usize| T0 + i as i64 * SECOND;
        // A utilization gauge in whole percents within a few of 90.
        let util: Vec<(i64, f64)> = (0..120)
            .map(|i| (at(i), (88 + next() % 5) as f64 / 100.0))
            .collect();
        // A byte counter growing 150 GB/s, give or take a KiB.
        let mut total = 1u64 << 40;
        let counter: Vec<(i64, f64)> = (0..120)
            .map(|i| {
                total += 150_000_000_000 + (next() % 1024);
                (at(i), total as f64)
            })
            .collect();
        // Memory in MiB that steps now and then.
        let memory: Vec<(i64, f64)> = (0..120)
            .map(|i| (at(i), ((60_000 + i / 30) as u64 * 1_048_576) as f64))
            .collect();
        for (name, points, most) in [
            ("percent gauge", &util, 120 + 20),
            ("byte counter", &counter, 120 * 2 + 30),
            ("stepping memory", &memory, 60),
        ] {
            let bytes = round_trip(points);
            assert!(bytes <= most, "{name}: {bytes} bytes for 120 points");
        }
    }
}
