//! Two-sample tests and distances on raw values, as Evidently computes them with SciPy.

use super::special::{chi2_sf, erfc, kolmogorov_sf};

/// Above this many values in either sample the KS p-value is asymptotic, below it
/// exact (SciPy's `ks_2samp(method="auto")` switches at the same size).
pub const KS_EXACT_MAX: usize = 10_000;

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// Share of `sorted` at or below `x`.
fn cdf(sorted: &[f64], x: f64) -> f64 {
    sorted.partition_point(|v| *v <= x) as f64 / sorted.len() as f64
}

/// The two-sample Kolmogorov–Smirnov statistic and its two-sided p-value, as SciPy's
/// `ks_2samp(a, b)`: exact (the share of lattice paths that leave the band
/// `|i/n - j/m| < D`) up to `KS_EXACT_MAX` values per sample, else the asymptotic
/// Kolmogorov distribution at `D * sqrt(n m / (n + m))`. `None` when a sample is empty.
pub fn ks_2samp(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (a, b) = (sorted(a), sorted(b));
    let d = a
        .iter()
        .chain(&b)
        .map(|&x| (cdf(&a, x) - cdf(&b, x)).abs())
        .fold(0.0, f64::max);
    let (n, m) = (a.len(), b.len());
    if n.max(m) <= KS_EXACT_MAX {
        if let Some(p) = ks_exact(n, m, d) {
            return Some((d, p));
        }
    }
    let en = (n * m) as f64 / (n + m) as f64;
    Some((d, kolmogorov_sf(en.sqrt() * d)))
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// P(D >= d) for samples of `n` and `m` values: one minus the share of monotone
/// lattice paths from (0, 0) to (n, m) that stay strictly inside the band. `u(i, j)`
/// is the inside paths to (i, j) over all paths there, so
/// `u(i, j) = (i u(i-1, j) + j u(i, j-1)) / (i + j)` never overflows.
fn ks_exact(n: usize, m: usize, d: f64) -> Option<f64> {
    let g = gcd(n, m);
    let (ng, mg) = ((n / g) as i128, (m / g) as i128);
    let lcm = ng * m as i128;
    // D on the lattice's grid, as SciPy rounds it.
    let h = (d * lcm as f64).round() as i128;
    if h == 0 {
        return Some(1.0);
    }
    // (i, j) is inside when |i m/g - j n/g| < h.
    let inside = |i: usize, j: usize| (i as i128 * mg - j as i128 * ng).abs() < h;
    // The first row: inside up to the first point outside the band.
    let mut row = vec![0.0_f64; m + 1];
    for (j, u) in row.iter_mut().enumerate() {
        if !inside(0, j) {
            break;
        }
        *u = 1.0;
    }
    for i in 1..=n {
        let mut left = 0.0;
        for (j, u) in row.iter_mut().enumerate() {
            *u = if inside(i, j) {
                (i as f64 * *u + j as f64 * left) / (i + j) as f64
            } else {
                0.0
            };
            left = *u;
        }
    }
    let p = 1.0 - row[m];
    (p.is_finite()).then_some(p.clamp(0.0, 1.0))
}

/// SciPy's `wasserstein_distance(a, b)`: the area between the two empirical CDFs.
pub fn wasserstein(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (a, b) = (sorted(a), sorted(b));
    let mut all: Vec<f64> = a.iter().chain(&b).copied().collect();
    all.sort_by(f64::total_cmp);
    Some(
        all.windows(2)
            .map(|w| (cdf(&a, w[0]) - cdf(&b, w[0])).abs() * (w[1] - w[0]))
            .sum(),
    )
}

/// Evidently's normed Wasserstein: the distance over the reference's standard
/// deviation (population, at least 0.001).
pub fn wasserstein_normed(reference: &[f64], current: &[f64]) -> Option<f64> {
    let n = reference.len() as f64;
    let mean = reference.iter().sum::<f64>() / n;
    let std = (reference.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    Some(wasserstein(reference, current)? / std.max(0.001))
}

/// Counts of each category in `reference` and `current`, over the categories of both
/// (sorted).
pub fn category_counts<'a>(reference: &[&'a str], current: &[&'a str]) -> Vec<(&'a str, f64, f64)> {
    let mut counts: std::collections::BTreeMap<&str, (f64, f64)> = Default::default();
    for r in reference {
        counts.entry(r).or_default().0 += 1.0;
    }
    for c in current {
        counts.entry(c).or_default().1 += 1.0;
    }
    counts.into_iter().map(|(k, (r, c))| (k, r, c)).collect()
}

/// Evidently's chi-squared test: SciPy's `chisquare(f_obs = current counts, f_exp =
/// reference counts scaled to the current size)`; `(statistic, p-value)`.
pub fn chi_square(counts: &[(&str, f64, f64)]) -> Option<(f64, f64)> {
    let (nr, nc) = counts
        .iter()
        .fold((0.0, 0.0), |(r, c), (_, a, b)| (r + a, c + b));
    if nr == 0.0 || nc == 0.0 || counts.len() < 2 {
        return None;
    }
    let k = nc / nr;
    let stat: f64 = counts
        .iter()
        .map(|(_, r, c)| {
            let e = r * k;
            (c - e).powi(2) / e
        })
        .sum();
    Some((stat, chi2_sf(stat, (counts.len() - 1) as f64)))
}

/// Evidently's z-test of two proportions (binary columns): the share of the first
/// category in each sample; `(z, two-sided p-value)`.
pub fn z_test(counts: &[(&str, f64, f64)]) -> Option<(f64, f64)> {
    let (nr, nc) = counts
        .iter()
        .fold((0.0, 0.0), |(r, c), (_, a, b)| (r + a, c + b));
    let &(_, r0, c0) = counts.first()?;
    if nr == 0.0 || nc == 0.0 {
        return None;
    }
    if counts
        .iter()
        .filter(|(_, r, c)| *r > 0.0 || *c > 0.0)
        .count()
        == 1
    {
        return Some((0.0, 1.0));
    }
    let (p1, p2) = (r0 / nr, c0 / nc);
    let p = (r0 + c0) / (nr + nc);
    let z = (p1 - p2) / (p * (1.0 - p) * (1.0 / nr + 1.0 / nc)).sqrt();
    Some((z, erfc(z.abs() / std::f64::consts::SQRT_2)))
}

/// Equal-width bin edges over the values of both samples, as NumPy's
/// `histogram_bin_edges(concat, bins)`.
pub fn bin_edges(reference: &[f64], current: &[f64], bins: usize) -> Vec<f64> {
    let (lo, hi) = reference
        .iter()
        .chain(current)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    let (lo, hi) = if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    let width = (hi - lo) / bins as f64;
    (0..=bins)
        .map(|i| if i == bins { hi } else { lo + width * i as f64 })
        .collect()
}

/// The number of bins Sturges' rule gives NumPy for `n` values.
pub fn sturges_bins(n: usize) -> usize {
    ((n as f64).log2() + 1.0).ceil().max(1.0) as usize
}

/// Shares of `values` in each bin (the last bin closed, as NumPy's `histogram`).
pub fn shares(values: &[f64], edges: &[f64]) -> Vec<f64> {
    let bins = edges.len() - 1;
    let mut counts = vec![0.0; bins];
    for &x in values {
        let i = edges
            .partition_point(|e| *e <= x)
            .saturating_sub(1)
            .min(bins - 1);
        counts[i] += 1.0;
    }
    let n = values.len() as f64;
    counts.iter().map(|c| c / n).collect()
}

pub use gpuwatch_model::drift::{jensen_shannon, psi};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ks_small_samples_match_scipy() {
        // scipy.stats.ks_2samp([1, 2, 3, 4, 5], [3, 4, 5, 6, 7, 8])
        let (d, p) = ks_2samp(&[1., 2., 3., 4., 5.], &[3., 4., 5., 6., 7., 8.]).expect("ks");
        assert!((d - 0.5).abs() < 1e-12);
        assert!((p - 0.357_142_857_142_857_15).abs() < 1e-12, "{p}");
        let (d, p) = ks_2samp(&[1., 2., 3.], &[1., 2., 3.]).expect("ks");
        assert_eq!((d, p), (0.0, 1.0));
    }

    #[test]
    fn wasserstein_matches_scipy() {
        // scipy.stats.wasserstein_distance([0, 1, 3], [5, 6, 8]) == 5.0
        assert!((wasserstein(&[0., 1., 3.], &[5., 6., 8.]).expect("w") - 5.0).abs() < 1e-12);
    }

    #[test]
    fn sturges_and_edges_follow_numpy() {
        assert_eq!(sturges_bins(1000), 11);
        let edges = bin_edges(&[0.0, 1.0], &[2.0], 4);
        assert_eq!(edges, vec![0.0, 0.5, 1.0, 1.5, 2.0]);
        assert_eq!(shares(&[0.0, 2.0], &edges), vec![0.5, 0.0, 0.0, 0.5]);
    }
}
