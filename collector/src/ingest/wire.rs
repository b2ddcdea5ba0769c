//! A zero-copy reader of OTLP/protobuf `ExportMetricsServiceRequest`s: the hot path of
//! OTLP/HTTP. Gauges and sums, the bulk of what agents send, are read straight from the
//! request bytes into a `Batch` of borrowed names and attributes; other metric types
//! (histograms, summaries) are decoded with prost. The whole request is parsed before
//! anything is stored, so a malformed request stores nothing.

use std::borrow::Cow;
use std::ops::Range;

use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Metric};
use prost::Message;

use super::attrs::value_str;
use super::MetricInfo;
use crate::store::SeriesKind;

/// Why a body is not an `ExportMetricsServiceRequest`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(String);

impl WireError {
    pub(crate) fn new(what: impl Into<String>) -> Self {
        WireError(what.into())
    }
}

fn err<T>(what: impl Into<String>) -> Result<T, WireError> {
    Err(WireError(what.into()))
}

/// One protobuf field value.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    I64(u64),
    Len(&'a [u8]),
    I32,
}

/// Reads the fields of one message, in order.
struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Fields { buf }
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, WireError> {
        // Most varints (tags, lengths under 128) are one byte.
        if let Some(&b) = self.buf.first() {
            if b < 0x80 {
                self.buf = &self.buf[1..];
                return Ok(u64::from(b));
            }
        }
        let mut value = 0u64;
        for (i, &b) in self.buf.iter().enumerate().take(10) {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        err("a varint is truncated or longer than 10 bytes")
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return err(format!(
                "a field needs {n} bytes but only {} are left: the body is truncated",
                self.buf.len()
            ));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    #[inline]
    fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, WireError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag =
            u32::try_from(key >> 3).map_err(|_| WireError("a field number is too large".into()))?;
        if tag == 0 {
            return err("field number 0 is not valid protobuf");
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::I64(u64::from_le_bytes(a))
            }
            2 => {
                let n = usize::try_from(self.varint()?)
                    .map_err(|_| WireError("a length is too large".into()))?;
                Value::Len(self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Value::I32
            }
            other => return err(format!("wire type {other} (groups) is not used by OTLP")),
        };
        Ok(Some((tag, value)))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), WireError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_field().transpose()
    }
}

fn len<'a>(v: Value<'a>, what: &str) -> Result<&'a [u8], WireError> {
    match v {
        Value::Len(b) => Ok(b),
        _ => err(format!("{what} must be length-delimited")),
    }
}

fn utf8<'a>(v: Value<'a>, what: &str) -> Result<&'a str, WireError> {
    std::str::from_utf8(len(v, what)?).map_err(|_| WireError(format!("{what} is not valid UTF-8")))
}

fn varint(v: Value<'_>, what: &str) -> Result<u64, WireError> {
    match v {
        Value::Varint(x) => Ok(x),
        _ => err(format!("{what} must be a varint")),
    }
}

fn fixed64(v: Value<'_>, what: &str) -> Result<u64, WireError> {
    match v {
        Value::I64(x) => Ok(x),
        _ => err(format!("{what} must be a 64-bit fixed field")),
    }
}

/// A number data point, its attributes a range of `Batch::attrs`.
#[derive(Debug)]
pub(crate) struct PointRef {
    pub attrs: Range<usize>,
    pub time: u64,
    pub flags: u32,
    pub value: Option<f64>,
}

#[derive(Debug)]
pub(crate) enum MetricBody {
    /// Gauge or sum points: a range of `Batch::points`.
    Numbers(Range<usize>),
    /// Any other metric, decoded by prost.
    Other(Box<Metric>),
}

#[derive(Debug)]
pub(crate) struct MetricRef<'a> {
    pub info: MetricInfo<'a>,
    pub body: MetricBody,
}

#[derive(Debug)]
pub(crate) struct ResourceRef {
    pub attrs: Range<usize>,
    pub metrics: Range<usize>,
}

/// A parsed request, borrowing the body's strings.
#[derive(Debug, Default)]
pub(crate) struct Batch<'a> {
    pub resources: Vec<ResourceRef>,
    pub metrics: Vec<MetricRef<'a>>,
    pub points: Vec<PointRef>,
    pub attrs: Vec<(&'a str, Cow<'a, str>)>,
}

/// Parses a whole request; nothing is stored until it all parses.
pub(crate) fn parse(body: &[u8]) -> Result<Batch<'_>, WireError> {
    let mut batch = Batch::default();
    for field in Fields::new(body) {
        if let (1, v) = field? {
            resource_metrics(len(v, "resource_metrics")?, &mut batch)?;
        }
    }
    Ok(batch)
}

fn resource_metrics<'a>(b: &'a [u8], batch: &mut Batch<'a>) -> Result<(), WireError> {
    let attrs_start = batch.attrs.len();
    // Resource first, wherever it sits, so every metric can see it.
    for field in Fields::new(b) {
        if let (1, v) = field? {
            for field in Fields::new(len(v, "resource")?) {
                if let (1, v) = field? {
                    key_value(len(v, "resource attribute")?, batch)?;
                }
            }
        }
    }
    let attrs = attrs_start..batch.attrs.len();
    let metrics_start = batch.metrics.len();
    for field in Fields::new(b) {
        if let (2, v) = field? {
            for field in Fields::new(len(v, "scope_metrics")?) {
                if let (2, v) = field? {
                    metric(len(v, "metric")?, batch)?;
                }
            }
        }
    }
    batch.resources.push(ResourceRef {
        attrs,
        metrics: metrics_start..batch.metrics.len(),
    });
    Ok(())
}

fn key_value<'a>(b: &'a [u8], batch: &mut Batch<'a>) -> Result<(), WireError> {
    let mut key = "";
    let mut value = Cow::Borrowed("");
    for field in Fields::new(b) {
        match field? {
            (1, v) => key = utf8(v, "an attribute key")?,
            (2, v) => value = any_value(len(v, "an attribute value")?)?,
            _ => {}
        }
    }
    batch.attrs.push((key, value));
    Ok(())
}

/// The string form of an `AnyValue`, as `value_str` gives for decoded ones.
fn any_value(b: &[u8]) -> Result<Cow<'_, str>, WireError> {
    let mut out = Cow::Borrowed("");
    for field in Fields::new(b) {
        out = match field? {
            (1, v) => super::attrs::printable(utf8(v, "a string value")?),
            (2, v) => Cow::Borrowed(if varint(v, "a bool value")? != 0 {
                "true"
            } else {
                "false"
            }),
            (3, v) => Cow::Owned((varint(v, "an int value")? as i64).to_string()),
            (4, v) => Cow::Owned(f64::from_bits(fixed64(v, "a double value")?).to_string()),
            (5..=8, _) => {
                let decoded = AnyValue::decode(b).map_err(|e| WireError(e.to_string()))?;
                return Ok(Cow::Owned(value_str(Some(&decoded)).into_owned()));
            }
            _ => continue,
        };
    }
    Ok(out)
}

fn metric<'a>(b: &'a [u8], batch: &mut Batch<'a>) -> Result<(), WireError> {
    let mut name = "";
    let mut unit = "";
    let mut data: Option<(u32, &'a [u8])> = None;
    for field in Fields::new(b) {
        match field? {
            (1, v) => name = utf8(v, "a metric name")?,
            (3, v) => unit = utf8(v, "a metric unit")?,
            (tag @ (5 | 7 | 9 | 10 | 11), v) => data = Some((tag, len(v, "metric data")?)),
            _ => {}
        }
    }
    let Some((tag, data)) = data else {
        return Ok(());
    };
    let (kind, delta) = match tag {
        5 => (SeriesKind::Gauge, false),
        7 => {
            let (mut temporality, mut monotonic) = (0, false);
            for field in Fields::new(data) {
                match field? {
                    (2, v) => temporality = varint(v, "aggregation_temporality")?,
                    (3, v) => monotonic = varint(v, "is_monotonic")? != 0,
                    _ => {}
                }
            }
            let kind = if monotonic {
                SeriesKind::Counter
            } else {
                SeriesKind::UpDownCounter
            };
            (kind, temporality == AggregationTemporality::Delta as u64)
        }
        _ => {
            let decoded = Metric::decode(b).map_err(|e| WireError(e.to_string()))?;
            batch.metrics.push(MetricRef {
                info: MetricInfo {
                    name,
                    unit,
                    kind: SeriesKind::Histogram,
                    delta: false,
                },
                body: MetricBody::Other(Box::new(decoded)),
            });
            return Ok(());
        }
    };
    let start = batch.points.len();
    for field in Fields::new(data) {
        if let (1, v) = field? {
            number_point(len(v, "a data point")?, batch)?;
        }
    }
    batch.metrics.push(MetricRef {
        info: MetricInfo {
            name,
            unit,
            kind,
            delta,
        },
        body: MetricBody::Numbers(start..batch.points.len()),
    });
    Ok(())
}

fn number_point<'a>(b: &'a [u8], batch: &mut Batch<'a>) -> Result<(), WireError> {
    let start = batch.attrs.len();
    let mut point = PointRef {
        attrs: 0..0,
        time: 0,
        flags: 0,
        value: None,
    };
    for field in Fields::new(b) {
        match field? {
            (7, v) => key_value(len(v, "a point attribute")?, batch)?,
            (3, v) => point.time = fixed64(v, "time_unix_nano")?,
            (4, v) => point.value = Some(f64::from_bits(fixed64(v, "as_double")?)),
            (6, v) => point.value = Some(fixed64(v, "as_int")? as i64 as f64),
            (8, v) => point.flags = varint(v, "flags")? as u32,
            _ => {}
        }
    }
    point.attrs = start..batch.attrs.len();
    batch.points.push(point);
    Ok(())
}
