//! The store's new points as remote-write time series, named and labelled as `/metrics`
//! has them: scalars as one series, histograms as `_bucket` (cumulative, `le`), `_sum`
//! and `_count`, summaries as `_sum` and `_count`.

use std::collections::BTreeMap;

use super::proto::{Label, Sample, TimeSeries};
use crate::exposition::{metric_name, series_labels};
use crate::store::{SeriesKind, Store};

/// How far each series has been sent: the newest timestamp per series (the store only
/// ever appends series, so their index is stable).
#[derive(Debug, Default, Clone)]
pub struct Cursor {
    sent_to: Vec<i64>,
}

fn millis(ns: i64) -> i64 {
    ns.div_euclid(1_000_000)
}

/// `le` as Prometheus writes it.
fn le(bound: f64) -> String {
    if bound == f64::INFINITY {
        "+Inf".into()
    } else {
        format!("{bound}")
    }
}

fn series(name: String, base: &[(String, &str)], extra: Option<(&str, String)>) -> TimeSeries {
    let mut labels: Vec<Label> = base
        .iter()
        .map(|(k, v)| Label {
            name: k.clone(),
            value: (*v).to_string(),
        })
        .collect();
    labels.extend(extra.map(|(k, v)| Label {
        name: k.to_string(),
        value: v,
    }));
    labels.push(Label {
        name: "__name__".into(),
        value: name,
    });
    labels.sort();
    TimeSeries {
        labels,
        samples: Vec::new(),
    }
}

impl Cursor {
    pub fn new() -> Cursor {
        Cursor::default()
    }

    /// Every point newer than what was sent, as time series; moves the cursor past them.
    pub fn collect(&mut self, store: &Store) -> Vec<TimeSeries> {
        let all = store.series();
        self.sent_to.resize(all.len(), i64::MIN);
        let mut out = Vec::new();
        for (s, sent_to) in all.iter().zip(self.sent_to.iter_mut()) {
            let from = sent_to.saturating_add(1);
            // Nothing new: no name or labels to build.
            if s.last_ts().is_none_or(|t| t < from) {
                continue;
            }
            let name = metric_name(&s.key.metric, &s.unit, s.kind);
            let base = series_labels(s);
            if let Some(ring) = s.scalars() {
                let mut ts = series(name, &base, None);
                for (t, v) in ring.window(from, i64::MAX) {
                    ts.samples.push(Sample {
                        value: v,
                        timestamp: millis(t),
                    });
                    *sent_to = t;
                }
                if !ts.samples.is_empty() {
                    out.push(ts);
                }
            } else if let Some(ring) = s.histograms() {
                // name_bucket by le, then _sum and _count.
                let mut buckets: BTreeMap<usize, TimeSeries> = BTreeMap::new();
                let mut sum = series(format!("{name}_sum"), &base, None);
                let mut count = series(format!("{name}_count"), &base, None);
                for (t, h) in ring.window(from, i64::MAX) {
                    let timestamp = millis(t);
                    *sent_to = t;
                    sum.samples.push(Sample {
                        value: h.sum,
                        timestamp,
                    });
                    count.samples.push(Sample {
                        value: h.count as f64,
                        timestamp,
                    });
                    if s.kind == SeriesKind::Summary || h.counts.len() != h.bounds.len() + 1 {
                        continue;
                    }
                    let mut cumulative = 0u64;
                    for (i, c) in h.counts.iter().enumerate() {
                        cumulative += c;
                        let bound = h.bounds.get(i).copied().unwrap_or(f64::INFINITY);
                        buckets
                            .entry(i)
                            .or_insert_with(|| {
                                series(format!("{name}_bucket"), &base, Some(("le", le(bound))))
                            })
                            .samples
                            .push(Sample {
                                value: cumulative as f64,
                                timestamp,
                            });
                    }
                }
                out.extend(buckets.into_values());
                for ts in [sum, count] {
                    if !ts.samples.is_empty() {
                        out.push(ts);
                    }
                }
            }
        }
        out
    }
}
