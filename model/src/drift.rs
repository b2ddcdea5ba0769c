//! The drift scores the live detector (over histogram buckets) and the offline report
//! (over binned samples) both compute, once: pure functions of two distributions given
//! as shares per bin, the same bins in both.

/// Evidently's stand-in for an empty bin's share in PSI.
pub const EMPTY_SHARE: f64 = 0.0001;

/// Population stability index, `Σ (c - r) ln(c / r)` over the shares, an empty bin's
/// share taken as [`EMPTY_SHARE`] (as Evidently does).
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    let fill = |s: f64| if s == 0.0 { EMPTY_SHARE } else { s };
    reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| {
            let (r, c) = (fill(r), fill(c));
            (c - r) * (c / r).ln()
        })
        .sum()
}

/// Jensen–Shannon distance (natural logarithm, so between 0 and √ln 2), as SciPy's
/// `jensenshannon(p, q)` computes it: each side is normalised to sum to 1 first.
pub fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    if sp <= 0.0 || sq <= 0.0 {
        return 0.0;
    }
    let kl = |x: f64, m: f64| if x > 0.0 { x * (x / m).ln() } else { 0.0 };
    let divergence: f64 = p
        .iter()
        .zip(q)
        .map(|(a, b)| {
            let (a, b) = (a / sp, b / sq);
            let m = (a + b) / 2.0;
            (kl(a, m) + kl(b, m)) / 2.0
        })
        .sum();
    divergence.max(0.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_match_scipy_and_evidently() {
        // scipy.spatial.distance.jensenshannon([1, 0], [0.5, 0.5])
        let js = jensen_shannon(&[1.0, 0.0], &[0.5, 0.5]);
        assert!((js - 0.464_501_404_022_459).abs() < 1e-12, "{js}");
        // Counts or shares: the same distance.
        assert!((jensen_shannon(&[2.0, 0.0], &[5.0, 5.0]) - js).abs() < 1e-12);
        assert_eq!(jensen_shannon(&[0.3, 0.7], &[0.3, 0.7]), 0.0);
        // PSI of [0.5, 0.5] against [0.9, 0.1]: 0.4 ln 1.8 + 0.4 ln 5.
        let want = 0.4 * 1.8f64.ln() + 0.4 * 5.0f64.ln();
        assert!((psi(&[0.5, 0.5], &[0.9, 0.1]) - want).abs() < 1e-12);
        // Symmetric, and an empty bin counts as 1e-4, not as infinite drift.
        assert!((psi(&[0.9, 0.1], &[0.5, 0.5]) - want).abs() < 1e-12);
        assert!(psi(&[1.0, 0.0], &[0.5, 0.5]).is_finite());
    }
}
