//! The live store as bytes and back, for `durable`'s snapshots: every series in id
//! order (its key, kind, unit and its points as the store holds them: the compressed
//! chunks and the open chunk's encoder, bit for bit), the senders' clocks and the
//! counters. Read back, each series is created again the way ingest creates it
//! (`Store::resolve`: the same id, index, GPU and interned key) and given its points,
//! so a restored store reads, and goes on taking points, exactly as the one saved.
//! The store's bounds come from the config at the restart, not from the snapshot.

use std::collections::BTreeMap;

use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};

use super::{
    attr_hash, clock::Clocks, identity_hash, Evicted, HistogramPoint, Histograms, RejectReason,
    Ring, Scalars, Series, SeriesData, SeriesKind, Store, StoreSettings,
};

/// The layout's version: a snapshot of another is not read (the log is replayed).
const VERSION: u32 = 1;

/// A byte buffer as one run of bytes, not a sequence of numbers (serde's default).
pub(super) mod as_bytes {
    use serde::de::{SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_byte_buf(Bytes)
    }
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// What is saved, borrowed from the store (no copy of its points).
#[derive(Serialize)]
struct ImageRef<'a> {
    version: u32,
    /// Wall time it was taken, Unix ns.
    taken_at: i64,
    clocks: &'a Clocks,
    series: AllSeries<'a>,
    oldest_ts: Option<i64>,
    points_accepted: u64,
    rejected: &'a BTreeMap<RejectReason, u64>,
    evicted: &'a Evicted,
}

/// What is read back: `ImageRef`'s fields, owned.
#[derive(Deserialize)]
struct Image {
    version: u32,
    taken_at: i64,
    clocks: Clocks,
    series: Vec<SeriesImage>,
    oldest_ts: Option<i64>,
    points_accepted: u64,
    rejected: BTreeMap<RejectReason, u64>,
    evicted: Evicted,
}

struct AllSeries<'a>(&'a [Series]);

impl Serialize for AllSeries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for series in self.0 {
            seq.serialize_element(&SeriesRef {
                metric: series.key.metric(),
                unit: &series.unit,
                kind: series.kind,
                attrs: Attrs(series),
                data: match &series.data {
                    SeriesData::Scalar(s) => DataRef::Scalar(s),
                    SeriesData::Histogram(h) => DataRef::Histograms(h),
                },
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct SeriesRef<'a> {
    metric: &'a str,
    unit: &'a str,
    kind: SeriesKind,
    attrs: Attrs<'a>,
    data: DataRef<'a>,
}

/// A series' points as a snapshot holds them. Variants keep their places: a snapshot
/// from before compressed histograms holds `Histogram`, read into `Histograms`.
#[derive(Serialize)]
enum DataRef<'a> {
    Scalar(&'a Scalars),
    #[allow(dead_code)]
    Histogram(()),
    Histograms(&'a Histograms),
}

#[derive(Deserialize)]
enum DataImage {
    Scalar(Scalars),
    /// Before compressed histograms: the plain ring.
    Histogram(Ring<HistogramPoint>),
    Histograms(Histograms),
}

impl DataImage {
    fn into_data(self) -> SeriesData {
        match self {
            DataImage::Scalar(s) => SeriesData::Scalar(s),
            DataImage::Histograms(h) => SeriesData::Histogram(h),
            DataImage::Histogram(ring) => {
                // Every point it held; the store's bounds apply from the next insert.
                let mut h = Histograms::default();
                for (t, p) in ring.iter() {
                    let _ = h.insert(t, p.clone(), usize::MAX, i64::MAX);
                }
                SeriesData::Histogram(h)
            }
        }
    }
}

#[derive(Deserialize)]
struct SeriesImage {
    metric: String,
    unit: String,
    kind: SeriesKind,
    attrs: Vec<(String, String)>,
    data: DataImage,
}

/// A key's attributes as `(name, value)` pairs.
struct Attrs<'a>(&'a Series);

impl Serialize for Attrs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.key.pairs())
    }
}

impl Store {
    /// The store as bytes (`Store::from_snapshot` reads them back); the collector
    /// streams them with `write_snapshot` instead.
    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> Result<Vec<u8>, String> {
        bincode::serde::encode_to_vec(self.image(), config()).map_err(|e| e.to_string())
    }

    /// `snapshot`'s bytes written to `w` as they are made, with no copy of the store
    /// in memory.
    pub fn write_snapshot(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut w = w;
        bincode::serde::encode_into_std_write(self.image(), &mut w, config())
            .map(|_| ())
            .map_err(std::io::Error::other)
    }

    fn image(&self) -> ImageRef<'_> {
        ImageRef {
            version: VERSION,
            taken_at: gpuwatch_model::Timestamp::now().0,
            clocks: &self.clocks,
            series: AllSeries(&self.series),
            oldest_ts: self.oldest_ts,
            points_accepted: self.points_accepted,
            rejected: &self.rejected,
            evicted: &self.evicted,
        }
    }

    /// `read_snapshot` of bytes in memory.
    #[cfg(test)]
    pub(crate) fn from_snapshot(
        settings: StoreSettings,
        bytes: &[u8],
        now: i64,
    ) -> Result<Option<Store>, String> {
        Self::read_snapshot(settings, &mut &bytes[..], now)
    }

    /// The store `write_snapshot` saved, read from `r` as it comes, under `settings`
    /// (today's config); `None` when it was taken longer than the retention before
    /// `now` (wall time, Unix ns), as the write-ahead log's segments that old are not
    /// replayed either. A series the settings no longer allow (past `max_series`) is
    /// left out, and said. `r` is read to its end, so a compressed file's checksum is
    /// checked.
    pub fn read_snapshot(
        settings: StoreSettings,
        mut r: &mut dyn std::io::Read,
        now: i64,
    ) -> Result<Option<Store>, String> {
        let image: Image = bincode::serde::decode_from_std_read(&mut r, config())
            .map_err(|e| format!("not a store snapshot gpuwatch can read: {e}"))?;
        std::io::copy(&mut r, &mut std::io::sink())
            .map_err(|e| format!("the store snapshot is damaged: {e}"))?;
        if image.version != VERSION {
            return Err(format!(
                "a store snapshot of layout {}, not {VERSION}",
                image.version
            ));
        }
        if image.taken_at < now.saturating_sub(settings.retention_ns) {
            return Ok(None);
        }
        let mut store = Store::new(settings);
        let mut clocks = image.clocks;
        clocks.set_retention(store.settings.retention_ns);
        store.clocks = clocks;
        let total = image.series.len();
        for s in image.series {
            let attrs: Vec<(&str, std::borrow::Cow<'_, str>)> = s
                .attrs
                .iter()
                .map(|(k, v)| (k.as_str(), std::borrow::Cow::Borrowed(v.as_str())))
                .collect();
            // The identity as ingest computes it, so later points find the series.
            let sum = attrs
                .iter()
                .fold(0u128, |a, (k, v)| a.wrapping_add(attr_hash(k, v)));
            let identity = identity_hash(&s.metric, sum);
            let Ok(id) = store.resolve(identity, &s.metric, &s.unit, s.kind, &attrs) else {
                tracing::warn!(
                    kept = store.series.len(),
                    saved = total,
                    "the store snapshot holds more series than collector.store.max_series \
                     allows now; the rest are left out"
                );
                break;
            };
            if let Some(series) = store.series.get_mut(id as usize) {
                series.data = s.data.into_data();
            }
        }
        store.oldest_ts = image.oldest_ts;
        store.points_accepted = image.points_accepted;
        store.rejected = image.rejected;
        store.evicted = image.evicted;
        Ok(Some(store))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::builder::{every, Builder, S};
    use crate::store::PointValue;
    use gpuwatch_model::names::metric;

    /// Every series' key, kind, unit, source and points, in id order.
    fn contents(store: &Store) -> Vec<String> {
        store
            .series()
            .iter()
            .map(|s| {
                let points: Vec<String> = match &s.data {
                    SeriesData::Scalar(r) => r
                        .window(i64::MIN, i64::MAX)
                        .map(|(t, v)| format!("{t}={v}"))
                        .collect(),
                    SeriesData::Histogram(r) => r
                        .iter()
                        .map(|(t, h)| format!("{t}={}/{:?}", h.count, h.counts))
                        .collect(),
                };
                format!(
                    "{} {:?} {} {:?} [{}]",
                    s.key,
                    s.kind,
                    s.unit,
                    s.source,
                    points.join(" ")
                )
            })
            .collect()
    }

    /// A snapshot as a collector before compressed histograms wrote it: its
    /// histograms a plain ring.
    #[test]
    fn a_snapshot_with_plain_histogram_rings_still_reads() {
        #[derive(Serialize)]
        enum OldData {
            #[allow(dead_code)]
            Scalar(Scalars),
            Histogram(Ring<HistogramPoint>),
        }
        #[derive(Serialize)]
        struct OldSeries {
            metric: String,
            unit: String,
            kind: SeriesKind,
            attrs: Vec<(String, String)>,
            data: OldData,
        }
        #[derive(Serialize)]
        struct OldImage {
            version: u32,
            taken_at: i64,
            clocks: Clocks,
            series: Vec<OldSeries>,
            oldest_ts: Option<i64>,
            points_accepted: u64,
            rejected: BTreeMap<RejectReason, u64>,
            evicted: Evicted,
        }
        let settings = crate::store::StoreConfig::default()
            .validate()
            .expect("defaults");
        let bounds: std::sync::Arc<[f64]> = std::sync::Arc::from(vec![0.1, 1.0]);
        let mut ring = Ring::default();
        let t0 = 1_800_000_000 * S;
        for i in 0..100u64 {
            let counts = vec![i, 2 * i, 3];
            let p = HistogramPoint {
                count: counts.iter().sum(),
                sum: i as f64 * 0.5,
                bounds: std::sync::Arc::clone(&bounds),
                counts,
            };
            ring.insert(t0 + i as i64 * S, p, 3600, settings.retention_ns)
                .expect("in order");
        }
        let want: Vec<(i64, HistogramPoint)> = ring.iter().map(|(t, p)| (t, p.clone())).collect();
        let now = gpuwatch_model::Timestamp::now().0;
        let old = OldImage {
            version: VERSION,
            taken_at: now,
            clocks: Clocks::new(settings.retention_ns),
            series: vec![OldSeries {
                metric: metric::MODEL_PREDICTION.into(),
                unit: "1".into(),
                kind: SeriesKind::Histogram,
                attrs: vec![("gpuwatch.model".into(), "fraud".into())],
                data: OldData::Histogram(ring),
            }],
            oldest_ts: Some(t0),
            points_accepted: 100,
            rejected: BTreeMap::new(),
            evicted: Evicted::default(),
        };
        let bytes = bincode::serde::encode_to_vec(&old, config()).expect("encodes");
        let restored = Store::from_snapshot(settings, &bytes, now)
            .expect("decodes")
            .expect("taken just now");
        let got: Vec<(i64, HistogramPoint)> = restored.series()[0]
            .histograms()
            .expect("a histogram")
            .iter()
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_restored_store_reads_and_goes_on_as_the_saved_one() {
        let mut b = Builder::new();
        b.skew("node-1", 3)
            .gpu(
                "node-1",
                0,
                Some("7"),
                metric::GPU_UTILIZATION,
                &[],
                every(1, 3, 303, |t| (t % 7) as f64 / 10.0),
            )
            .gpu(
                "node-1",
                0,
                Some("7"),
                metric::POWER,
                &[],
                every(1, 3, 303, |t| 400.0 + t as f64 * 0.25),
            )
            .series(
                metric::CPU_UTILIZATION,
                &[("host.name", "node-2"), ("cpu.mode", "idle")],
                every(5, 0, 300, |_| 0.9),
            )
            .histogram(
                metric::MODEL_PREDICTION,
                &[("gpuwatch.model", "fraud")],
                &[0.1, 1.0],
                (0..300)
                    .step_by(10)
                    .map(|t| (t, vec![t as u64, 2 * t as u64, 1])),
            );
        let mut saved = b.build();
        let bytes = saved.snapshot().expect("encodes");
        let now = gpuwatch_model::Timestamp::now().0;
        let mut restored = Store::from_snapshot(saved.settings().clone(), &bytes, now)
            .expect("decodes")
            .expect("taken just now");
        let retention = saved.settings().retention_ns;
        assert!(
            Store::from_snapshot(saved.settings().clone(), &bytes, now + retention + S)
                .expect("decodes")
                .is_none(),
            "older than the retention: not read, as the log's old segments are not"
        );
        assert_eq!(contents(&restored), contents(&saved));
        assert_eq!(contents(&saved).len(), 4);
        assert_eq!(restored.gpus().len(), 1);
        assert_eq!(restored.oldest_ts(), saved.oldest_ts());
        assert_eq!(restored.newest_ts(), saved.newest_ts());
        assert_eq!(restored.usage().points, saved.usage().points);
        // node-1's clock is 3 s ahead, in both.
        let gpu = |s: &Store| s.gpus().values().next().cloned().expect("a GPU");
        assert_eq!(restored.gpu_time(&gpu(&restored), 200 * S), 203 * S);
        assert_eq!(saved.gpu_time(&gpu(&saved), 200 * S), 203 * S);
        // The open chunks were restored bit for bit: both take the same next points.
        for store in [&mut saved, &mut restored] {
            for t in 304..500 {
                let v = PointValue::Number((t % 5) as f64 / 10.0);
                store.insert(0, t * S, v, false).expect("stored");
            }
        }
        assert_eq!(contents(&restored), contents(&saved));
    }

    #[test]
    fn bytes_that_are_no_snapshot_are_refused_with_a_reason() {
        let err = Store::from_snapshot(StoreSettings::defaults(), b"not a snapshot", 0)
            .expect_err("garbage");
        assert!(err.contains("not a store snapshot"), "{err}");
    }
}
