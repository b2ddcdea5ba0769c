//! OTLP values into the store's: numbers, and histograms of every kind as explicit
//! buckets.

use std::sync::Arc;

use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point::Buckets, number_data_point, ExponentialHistogramDataPoint,
    HistogramDataPoint, NumberDataPoint, SummaryDataPoint,
};

use crate::store::HistogramPoint;

/// OTLP's `time_unix_nano` as the store's event time; 0 is "not set".
pub(crate) fn nanos(t: u64) -> Option<i64> {
    (t != 0).then(|| gpuwatch_model::Timestamp::from_unix_nanos_u64(t).0)
}

pub(crate) fn number(p: &NumberDataPoint) -> Option<f64> {
    match p.value? {
        number_data_point::Value::AsDouble(d) => Some(d),
        number_data_point::Value::AsInt(i) => Some(i as f64),
    }
}

pub(crate) fn explicit_histogram(p: &HistogramDataPoint) -> HistogramPoint {
    let well_formed = p.bucket_counts.len() == p.explicit_bounds.len() + 1;
    HistogramPoint {
        count: p.count,
        sum: p.sum.unwrap_or(f64::NAN),
        bounds: if well_formed {
            Arc::from(p.explicit_bounds.as_slice())
        } else {
            Arc::from(Vec::new())
        },
        counts: if well_formed {
            p.bucket_counts.clone()
        } else {
            Vec::new()
        },
    }
}

/// An exponential histogram as explicit buckets: `(-inf, 0]` holds the zero and
/// negative counts, then one bucket per positive exponential bucket with upper bound
/// `base^(offset + i + 1)`, `base = 2^(2^-scale)`. Every figure comes from the sender,
/// so sums saturate and exponents are taken in `i64` and clamped, never overflowing.
pub(crate) fn exponential_histogram(p: &ExponentialHistogramDataPoint) -> HistogramPoint {
    let negative = p.negative.as_ref().map_or(0, |b: &Buckets| {
        b.bucket_counts
            .iter()
            .fold(0u64, |a, c| a.saturating_add(*c))
    });
    let (offset, positive) = p
        .positive
        .as_ref()
        .map_or((0, &[][..]), |b| (b.offset, b.bucket_counts.as_slice()));
    let base = 2f64.powf(2f64.powi(clamp_i32(-i64::from(p.scale))));
    let bound = |exponent: i64| base.powi(clamp_i32(exponent));
    let mut bounds = Vec::with_capacity(positive.len() + 2);
    let mut counts = Vec::with_capacity(positive.len() + 3);
    bounds.push(0.0);
    counts.push(p.zero_count.saturating_add(negative));
    bounds.push(bound(i64::from(offset)));
    counts.push(0);
    for (i, c) in (1i64..).zip(positive) {
        bounds.push(bound(i64::from(offset) + i));
        counts.push(*c);
    }
    counts.push(0);
    HistogramPoint {
        count: p.count,
        sum: p.sum.unwrap_or(f64::NAN),
        bounds: Arc::from(bounds),
        counts,
    }
}

fn clamp_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

pub(crate) fn summary(p: &SummaryDataPoint) -> HistogramPoint {
    HistogramPoint {
        count: p.count,
        sum: p.sum,
        bounds: Arc::from(Vec::new()),
        counts: Vec::new(),
    }
}
