//! Drift references from history: a model's histograms summed over a date range
//! (`2026-11-01/2026-11-07`), the reference window a drift detector can compare the
//! live window with: the binary seeds the collector's drift detectors with them when
//! `reference` is a date range.

use std::collections::BTreeMap;
use std::path::Path;

use gpuwatch_model::history::SeriesMinute;
use gpuwatch_model::names::attr;
use gpuwatch_model::Timestamp;

use crate::layout::{self, Table};
use crate::{label, table, HistoryError, Window};

/// One histogram series of a model, its buckets summed over the range.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceHistogram {
    pub metric: String,
    /// `gpuwatch.feature`, for feature histograms.
    pub feature: Option<String>,
    pub bounds: Vec<f64>,
    pub buckets: Vec<f64>,
}

/// `YYYY-MM-DD/YYYY-MM-DD`, both days included, as `[from, to)` in Unix nanoseconds.
pub fn parse_range(range: &str) -> Option<Window> {
    let (a, b) = range.split_once('/')?;
    let day = |d: &str| Timestamp::parse_rfc3339(&format!("{}T00:00:00Z", d.trim())).map(|t| t.0);
    let (from, last) = (day(a)?, day(b)?);
    let to = last + 24 * 3600 * 1_000_000_000;
    (from < to).then_some(Window { from, to })
}

/// Every histogram of `model` in history over `w`, buckets summed per series (by
/// metric and feature); series whose bucket layout changed keep the newest layout's
/// rows only.
pub fn model_reference(
    root: &Path,
    model: &str,
    w: Window,
) -> Result<Vec<ReferenceHistogram>, HistoryError> {
    Ok(references(root, Some(model), w)?
        .into_iter()
        .map(|(_, h)| h)
        .collect())
}

/// Like `model_reference`, for every model in history over `w` (or just `only`):
/// `(model, histogram)` pairs.
pub fn references(
    root: &Path,
    only: Option<&str>,
    w: Window,
) -> Result<Vec<(String, ReferenceHistogram)>, HistoryError> {
    // (model, metric, feature) to (bounds, summed buckets).
    type Sums = BTreeMap<(String, String, Option<String>), (Vec<f64>, Vec<f64>)>;
    let mut sums = Sums::new();
    let columns = ["minute", "model", "metric", "labels", "bounds", "buckets"];
    for file in layout::files_between(&Table::Series.dir(root), w.from, w.to)? {
        let rows: Vec<SeriesMinute> = table::read(&file, Some(&columns))?;
        for row in rows {
            let Some(model) = row.model.filter(|m| only.is_none_or(|o| o == m)) else {
                continue;
            };
            let (b, c) = (row.bounds, row.buckets);
            if !w.contains(row.minute) || c.is_empty() || c.len() != b.len() + 1 {
                continue;
            }
            let feature = label(&row.labels, attr::FEATURE).map(str::to_string);
            let slot = sums
                .entry((model, row.metric, feature))
                .or_insert_with(|| (b.clone(), vec![0.0; c.len()]));
            if slot.0 != b {
                *slot = (b, vec![0.0; c.len()]);
            }
            for (s, v) in slot.1.iter_mut().zip(&c) {
                *s += v;
            }
        }
    }
    Ok(sums
        .into_iter()
        .map(|((model, metric, feature), (bounds, buckets))| {
            (
                model,
                ReferenceHistogram {
                    metric,
                    feature,
                    bounds,
                    buckets,
                },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use gpuwatch_model::history::{MinuteRollup, RollupSink, SeriesMinute, MINUTE_NS};

    use super::*;
    use crate::ParquetSink;

    #[test]
    fn a_date_range_sums_a_models_buckets() {
        let w = parse_range("2026-11-01/2026-11-07").expect("range");
        assert_eq!(Timestamp(w.from).to_rfc3339(), "2026-11-01T00:00:00Z");
        assert_eq!(Timestamp(w.to).to_rfc3339(), "2026-11-08T00:00:00Z");
        assert_eq!(parse_range("2026-11-07/2026-11-01"), None);

        let root = std::env::temp_dir().join(format!("gw-reference-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mut sink = ParquetSink::open(&root, i64::MAX / 4, u64::MAX).expect("open");
        let row = |m: i64, feature: &str, model: &str| SeriesMinute {
            minute: m,
            metric: "gpuwatch.model.feature".into(),
            model: Some(model.into()),
            labels: format!("gpuwatch.feature={feature},gpuwatch.model={model}"),
            bounds: vec![0.5],
            buckets: vec![1.0, 2.0],
            ..SeriesMinute::default()
        };
        for i in 0..3 {
            let m = w.from + i * MINUTE_NS;
            sink.write(&MinuteRollup {
                minute: m,
                series: vec![row(m, "age", "fraud"), row(m, "age", "ranker")],
                cost: Vec::new(),
            })
            .expect("write");
        }
        let refs = model_reference(&root, "fraud", w).expect("reference");
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].feature.as_deref(), Some("age"));
        assert_eq!(refs[0].buckets, vec![3.0, 6.0]);
        let _ = std::fs::remove_dir_all(&root);
    }
}
