//! Drift statistics between two histograms over the same buckets: PSI, Jensen–Shannon
//! distance, the Kolmogorov–Smirnov statistic at bucket edges, and the Wasserstein
//! distance normalised by the reference's spread. Histograms with different bounds (an
//! exponential histogram at another scale, a changed bucket layout) are first brought
//! onto the union of their bounds, spreading each bucket's count evenly across it.

/// Counts per bucket: `bounds` are the upper bounds, `counts` has one more entry (the
/// `+Inf` bucket), as OpenTelemetry's explicit-bucket histograms have them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Buckets {
    pub bounds: Vec<f64>,
    pub counts: Vec<f64>,
}

/// The answer of a comparison: a score, or not enough data to say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Drift {
    Score(f64),
    /// Fewer observations than the minimum in one of the two windows.
    NotEnoughData,
}

use gpuwatch_model::drift as score;
pub use gpuwatch_model::drift::EMPTY_SHARE;

impl Buckets {
    pub fn new(bounds: Vec<f64>, counts: Vec<f64>) -> Option<Self> {
        (counts.len() == bounds.len() + 1 && bounds.windows(2).all(|w| w[0] < w[1]))
            .then_some(Buckets { bounds, counts })
    }

    pub fn total(&self) -> f64 {
        self.counts.iter().sum()
    }

    /// The mean of the bucket centres, weighted by the counts.
    pub fn mean(&self) -> f64 {
        let total = self.total();
        self.centers()
            .iter()
            .zip(&self.counts)
            .map(|(x, c)| x * c)
            .sum::<f64>()
            / total
    }

    /// The `q` quantile, linear within the bucket it falls in, as PromQL's
    /// `histogram_quantile` does (the first bucket starts at 0 when its bound is
    /// positive; a quantile in the `+Inf` bucket is its lower edge). `None` without
    /// observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total <= 0.0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total;
        let mut seen = 0.0;
        for (i, &c) in self.counts.iter().enumerate() {
            if c > 0.0 && seen + c >= rank {
                let lower = match i {
                    0 => self.bounds.first().map_or(0.0, |b| b.min(0.0)),
                    _ => self.bounds[i - 1],
                };
                let Some(&upper) = self.bounds.get(i) else {
                    return Some(lower);
                };
                return Some(lower + (upper - lower) * (rank - seen) / c);
            }
            seen += c;
        }
        self.bounds.last().copied()
    }

    fn shares(&self) -> Vec<f64> {
        let total = self.total();
        self.counts.iter().map(|c| c / total).collect()
    }

    /// A representative value per bucket: finite buckets their middle; the first and
    /// the `+Inf` bucket half a neighbouring width beyond their edge.
    fn centers(&self) -> Vec<f64> {
        let b = &self.bounds;
        match b.len() {
            0 => vec![0.0],
            1 => vec![b[0] - 0.5, b[0] + 0.5],
            n => {
                let mut out = Vec::with_capacity(n + 1);
                out.push(b[0] - (b[1] - b[0]) / 2.0);
                out.extend(b.windows(2).map(|w| (w[0] + w[1]) / 2.0));
                out.push(b[n - 1] + (b[n - 1] - b[n - 2]) / 2.0);
                out
            }
        }
    }

    /// The same observations over `bounds` (which must include all of this histogram's
    /// bounds): each finite bucket's count spread evenly across its width; the open-ended
    /// first and last buckets stay open-ended.
    fn onto(&self, bounds: &[f64]) -> Buckets {
        let n = self.bounds.len();
        let mut counts = vec![0.0; bounds.len() + 1];
        for (i, &count) in self.counts.iter().enumerate() {
            if i == 0 {
                counts[0] += count;
                continue;
            }
            if i == n {
                counts[bounds.len()] += count;
                continue;
            }
            let (lower, upper) = (self.bounds[i - 1], self.bounds[i]);
            let mut from = lower;
            for (j, &to) in bounds
                .iter()
                .enumerate()
                .skip(bounds.partition_point(|b| *b <= lower))
            {
                if to > upper {
                    break;
                }
                counts[j] += count * (to - from) / (upper - lower);
                from = to;
            }
        }
        Buckets {
            bounds: bounds.to_vec(),
            counts,
        }
    }
}

/// Both histograms over the union of their bounds.
pub fn align(a: &Buckets, b: &Buckets) -> (Buckets, Buckets) {
    if a.bounds == b.bounds {
        return (a.clone(), b.clone());
    }
    let mut bounds: Vec<f64> = a.bounds.iter().chain(&b.bounds).copied().collect();
    bounds.sort_by(f64::total_cmp);
    bounds.dedup();
    (a.onto(&bounds), b.onto(&bounds))
}

/// Whether both windows hold at least `min_count` observations (and one).
pub(crate) fn enough(reference: &Buckets, current: &Buckets, min_count: f64) -> bool {
    reference.total() >= min_count.max(1.0) && current.total() >= min_count.max(1.0)
}

/// Population stability index, `Σ (c - r) ln(c / r)` over bucket shares, an empty
/// bucket's share taken as `EMPTY_SHARE` (as Evidently does).
pub fn psi(reference: &Buckets, current: &Buckets, min_count: f64) -> Drift {
    if !enough(reference, current, min_count) {
        return Drift::NotEnoughData;
    }
    let (r, c) = align(reference, current);
    Drift::Score(score::psi(&r.shares(), &c.shares()))
}

/// Jensen–Shannon distance (natural log, so between 0 and √ln 2), as
/// `scipy.spatial.distance.jensenshannon` computes it.
pub fn jensen_shannon(reference: &Buckets, current: &Buckets, min_count: f64) -> Drift {
    if !enough(reference, current, min_count) {
        return Drift::NotEnoughData;
    }
    let (r, c) = align(reference, current);
    Drift::Score(score::jensen_shannon(&r.shares(), &c.shares()))
}

/// The Kolmogorov–Smirnov statistic at bucket edges: the largest gap between the two
/// cumulative distributions where both are known.
pub fn kolmogorov_smirnov(reference: &Buckets, current: &Buckets, min_count: f64) -> Drift {
    if !enough(reference, current, min_count) {
        return Drift::NotEnoughData;
    }
    let (r, c) = align(reference, current);
    let (mut cr, mut cc, mut worst) = (0.0, 0.0, 0.0f64);
    for (a, b) in r.shares().into_iter().zip(c.shares()) {
        cr += a;
        cc += b;
        worst = worst.max((cr - cc).abs());
    }
    Drift::Score(worst)
}

/// The Wasserstein (earth mover's) distance between the bucket centres weighted by the
/// counts, over the reference's standard deviation (Evidently's normalisation).
pub fn wasserstein_normalized(reference: &Buckets, current: &Buckets, min_count: f64) -> Drift {
    if !enough(reference, current, min_count) {
        return Drift::NotEnoughData;
    }
    let (r, c) = align(reference, current);
    let x = r.centers();
    let (p, q) = (r.shares(), c.shares());
    let (mut cp, mut cq, mut distance) = (0.0, 0.0, 0.0);
    for i in 0..x.len().saturating_sub(1) {
        cp += p[i];
        cq += q[i];
        distance += (cp - cq).abs() * (x[i + 1] - x[i]);
    }
    let mean: f64 = x.iter().zip(&p).map(|(x, p)| x * p).sum();
    let var: f64 = x.iter().zip(&p).map(|(x, p)| p * (x - mean).powi(2)).sum();
    if var <= 0.0 {
        return Drift::NotEnoughData;
    }
    Drift::Score(distance / var.sqrt())
}

#[cfg(test)]
mod tests;
