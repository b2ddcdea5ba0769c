//! Reading series over event-time windows: means, shares, counter increases and rates,
//! and the GPUs with their identifying labels.

use std::collections::BTreeMap;

use gpuwatch_model::names::attr;

use crate::store::{GpuEntry, Series, Store};

/// `(t - length, t]`: open at the start, as PromQL's range selectors are, so windows
/// laid end to end share no point.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// First instant inside the window.
    pub from: i64,
    pub to: i64,
}

impl Window {
    pub fn ending_at(t: i64, length: i64) -> Window {
        Window {
            from: t.saturating_sub(length).saturating_add(1),
            to: t,
        }
    }
}

/// Mean of a series' values in the window; `None` without points there.
pub fn mean(s: &Series, w: Window) -> Option<f64> {
    let (sum, n) = s
        .scalars()?
        .window(w.from, w.to)
        .fold((0.0, 0usize), |(sum, n), (_, v)| (sum + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Share of the window's points for which `test` holds; `None` without points.
pub fn share(s: &Series, w: Window, test: impl Fn(f64) -> bool) -> Option<f64> {
    let (hits, n) = s
        .scalars()?
        .window(w.from, w.to)
        .fold((0usize, 0usize), |(h, n), (_, v)| {
            (h + usize::from(test(v)), n + 1)
        });
    (n > 0).then(|| hits as f64 / n as f64)
}

/// The newest value at or before `t`.
pub fn value_at(s: &Series, t: i64) -> Option<f64> {
    s.scalars()?.last_at(t).map(|(_, v)| v)
}

/// How much a cumulative counter grew in the window. Counts from zero when the
/// window holds the series' first point (a counter that appears at 1 has counted 1);
/// a reset (a drop) counts the value after it.
pub fn increase(s: &Series, w: Window) -> Option<f64> {
    let ring = s.scalars()?;
    let first_ever = ring.iter().next().map(|(t, _)| t);
    let mut points = ring.window(w.from, w.to).peekable();
    let &(t0, v0) = points.peek()?;
    let baseline = if Some(t0) == first_ever {
        0.0
    } else {
        ring.last_at(w.from.saturating_sub(1))
            .map_or(v0, |(_, v)| v)
    };
    let mut total = 0.0;
    let mut prev = baseline;
    for (_, v) in points {
        total += if v >= prev { v - prev } else { v };
        prev = v;
    }
    Some(total)
}

/// How much a counter grew between the window's points, from the newest point before
/// it (or its first inside it): never its total since boot. A drop (a reset) counts
/// the value after it.
pub fn growth(s: &Series, w: Window) -> Option<f64> {
    let ring = s.scalars()?;
    let mut prev = ring.last_at(w.from.saturating_sub(1)).map(|(_, v)| v);
    let mut total = None;
    for (_, v) in ring.window(w.from, w.to) {
        if let Some(p) = prev {
            *total.get_or_insert(0.0) += if v >= p { v - p } else { v };
        }
        prev = Some(v);
    }
    total
}

/// Per-second rate of a cumulative counter over the window's points; `None` with
/// fewer than two points.
pub fn rate(s: &Series, w: Window) -> Option<f64> {
    let ring = s.scalars()?;
    let mut points = ring.window(w.from, w.to);
    let (t0, v0) = points.next()?;
    let (mut t1, mut grown, mut prev) = (t0, 0.0, v0);
    for (t, v) in points {
        grown += if v >= prev { v - prev } else { v };
        prev = v;
        t1 = t;
    }
    let dt = (t1 - t0) as f64 / 1e9;
    (dt > 0.0).then(|| grown / dt)
}

/// A GPU's series of `metric` whose attributes include every `(key, value)` of `with`.
pub fn gpu_series<'a>(
    store: &'a Store,
    gpu: &'a GpuEntry,
    metric: &'a str,
    with: &'a [(&'a str, &'a str)],
) -> impl Iterator<Item = &'a Series> + 'a {
    let id = store.metric_id(metric);
    gpu.series
        .iter()
        .filter(move |_| id.is_some())
        .filter_map(|&sid| store.get(sid))
        .filter(move |s| {
            Some(s.metric_id) == id && with.iter().all(|(k, v)| s.key.get(k) == Some(v))
        })
}

/// The parent GPU's `hw.id` when `gpu` is a MIG instance (its series carry
/// `hw.parent`); `None` for a whole GPU.
pub fn mig_parent<'a>(store: &'a Store, gpu: &GpuEntry) -> Option<&'a str> {
    gpu.series
        .iter()
        .find_map(|&sid| store.get(sid))?
        .key
        .get(attr::HW_PARENT)
}

/// The series of `metric` matching `with` that has the newest point at or before `t`
/// (a GPU that changed job has one series per job; the current one counts).
pub fn current<'a>(
    store: &'a Store,
    gpu: &'a GpuEntry,
    metric: &'a str,
    with: &'a [(&'a str, &'a str)],
    t: i64,
) -> Option<&'a Series> {
    gpu_series(store, gpu, metric, with)
        .filter_map(|s| Some((s.scalars()?.last_at(t)?.0, s)))
        .max_by_key(|(ts, _)| *ts)
        .map(|(_, s)| s)
}

/// Labels that identify a GPU in a finding: node, UUID, name, and its job when the
/// series carries one.
pub fn gpu_labels(series: &Series) -> BTreeMap<String, String> {
    [attr::HOST_NAME, attr::HW_ID, attr::HW_NAME, attr::JOB_ID]
        .into_iter()
        .filter_map(|k| Some((k.to_string(), series.key.get(k)?.to_string())))
        .collect()
}

/// `gpu_labels` of the GPU's first series that still exists, whatever its metric: how
/// a detector names a GPU it could not judge.
pub fn any_gpu_labels(store: &Store, gpu: &GpuEntry) -> BTreeMap<String, String> {
    gpu.series
        .iter()
        .find_map(|&sid| store.get(sid))
        .map(gpu_labels)
        .unwrap_or_default()
}

/// `node-07 gpu3`, and ` (job 4411)` when known.
pub fn gpu_title(labels: &BTreeMap<String, String>) -> String {
    let get = |k: &str| labels.get(k).map_or("?", String::as_str);
    let mut s = format!("{} {}", get(attr::HOST_NAME), get(attr::HW_NAME));
    if let Some(job) = labels.get(attr::JOB_ID) {
        s.push_str(&format!(" (job {job})"));
    }
    s
}

/// The GPU's current general-utilization series (`hw.gpu.task` = `general`, or unset).
pub fn utilization<'a>(store: &'a Store, gpu: &'a GpuEntry, t: i64) -> Option<&'a Series> {
    use gpuwatch_model::names::{metric, value};
    gpu_series(store, gpu, metric::GPU_UTILIZATION, &[])
        .filter(|s| matches!(s.key.get(attr::GPU_TASK), None | Some(value::TASK_GENERAL)))
        .filter_map(|s| Some((s.scalars()?.last_at(t)?.0, s)))
        .max_by_key(|(ts, _)| *ts)
        .map(|(_, s)| s)
}

/// Largest minus smallest value in the window; `None` without points.
pub fn swing(s: &Series, w: Window) -> Option<f64> {
    let (lo, hi) = s
        .scalars()?
        .window(w.from, w.to)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, v)| {
            (lo.min(v), hi.max(v))
        });
    (lo <= hi).then_some(hi - lo)
}

/// The median of `values` (which it sorts); `None` when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}
