//! Charts over the store's window: series resampled onto a fixed grid of steps (the
//! mean of each step), gauges as they are and counters as per-second rates, one
//! chart summing several components (NVLink transmit and receive; every disk).

use gpuwatch_model::api::{Chart, ChartPoint};

use crate::store::Series;

/// Steps of equal length ending at `to`: `(to - n * step, to]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Event time the first step ends at minus one step, nanoseconds.
    pub from: i64,
    pub step: i64,
    pub steps: usize,
}

impl Grid {
    /// `steps` steps covering `window` nanoseconds up to `to`; at least one step of at
    /// least a nanosecond.
    pub fn ending_at(to: i64, window: i64, steps: usize) -> Grid {
        let steps = steps.max(1);
        let n = i64::try_from(steps).unwrap_or(i64::MAX);
        let step = (window / n).max(1);
        Grid {
            from: to.saturating_sub(step.saturating_mul(n)),
            step,
            steps,
        }
    }

    /// The step holding `t`; `None` outside the grid.
    fn index(&self, t: i64) -> Option<usize> {
        if t <= self.from {
            return None;
        }
        let i = usize::try_from((t - self.from - 1) / self.step).ok()?;
        (i < self.steps).then_some(i)
    }

    /// The end of step `i`, Unix milliseconds.
    fn end_ms(&self, i: usize) -> i64 {
        let i = i64::try_from(i + 1).unwrap_or(i64::MAX);
        self.from
            .saturating_add(self.step.saturating_mul(i))
            .div_euclid(1_000_000)
    }
}

/// Sums and counts per step of one component.
#[derive(Debug, Clone)]
struct Means {
    sum: Vec<f64>,
    n: Vec<u32>,
}

impl Means {
    fn new(steps: usize) -> Self {
        Means {
            sum: vec![0.0; steps],
            n: vec![0; steps],
        }
    }

    fn add(&mut self, i: usize, v: f64) {
        if v.is_finite() {
            self.sum[i] += v;
            self.n[i] += 1;
        }
    }

    fn mean(&self, i: usize) -> Option<f64> {
        (self.n[i] > 0).then(|| self.sum[i] / f64::from(self.n[i]))
    }
}

/// Adds the values (`rate` false: gauges) or per-second rates between consecutive
/// points (`rate` true: cumulative counters) of `s` that fall on `grid`.
fn add_series(means: &mut Means, grid: &Grid, s: &Series, counter: bool) {
    let Some(ring) = s.scalars() else { return };
    let mut prev: Option<(i64, f64)> = None;
    for (t, v) in ring.window(grid.from.saturating_sub(grid.step), i64::MAX) {
        if counter {
            if let Some((t0, v0)) = prev {
                let dt = (t - t0) as f64 / 1e9;
                if let (Some(i), true) = (grid.index(t), dt > 0.0 && v >= v0) {
                    means.add(i, (v - v0) / dt);
                }
            }
            prev = Some((t, v));
        } else if let Some(i) = grid.index(t) {
            means.add(i, v);
        }
    }
}

/// A chart of `components` summed step by step, as values or (`rate`) as per-second
/// rates of cumulative counters; the series of one component follow each other in
/// time (a GPU that changed job has one series per job) and are averaged. Steps with
/// no data are left out.
pub fn chart<'a>(
    name: &str,
    unit: &str,
    grid: &Grid,
    rate: bool,
    components: impl IntoIterator<Item = Vec<&'a Series>>,
) -> Chart {
    let mut total: Vec<Option<f64>> = vec![None; grid.steps];
    for component in components {
        let mut means = Means::new(grid.steps);
        for s in component {
            add_series(&mut means, grid, s, rate);
        }
        for (i, slot) in total.iter_mut().enumerate() {
            if let Some(m) = means.mean(i) {
                *slot = Some(slot.unwrap_or(0.0) + m);
            }
        }
    }
    let points = total
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| {
            Some(ChartPoint {
                unix_ms: grid.end_ms(i),
                value: v?,
            })
        })
        .collect();
    Chart {
        name: name.to_string(),
        unit: unit.to_string(),
        points,
    }
}

/// A chart of `1 - value`: the busy share from an idle share.
pub fn complement(mut chart: Chart, name: &str) -> Chart {
    for p in &mut chart.points {
        p.value = (1.0 - p.value).clamp(0.0, 1.0);
    }
    chart.name = name.to_string();
    chart
}
