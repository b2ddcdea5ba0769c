use super::*;

fn h(bounds: &[f64], counts: &[f64]) -> Buckets {
    Buckets::new(bounds.to_vec(), counts.to_vec()).expect("well formed")
}

fn score(d: Drift) -> f64 {
    match d {
        Drift::Score(s) => s,
        Drift::NotEnoughData => f64::NAN,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// Reference values computed once with numpy 2 and scipy 1.17.1 on these counts, with
/// bucket centres 0.5, 1.5, 2.5, 3.5, 4.5:
/// `scipy.spatial.distance.jensenshannon(p, q)`,
/// `scipy.stats.wasserstein_distance(c, c, ref, cur) / sqrt(Σ p (c - Σ p c)²)`,
/// PSI as `Σ (q - p) ln(q / p)` and KS as `max |cumsum(p) - cumsum(q)|` in numpy.
#[test]
fn statistics_match_scipy_on_fixed_data() {
    let bounds = [1.0, 2.0, 3.0, 4.0];
    let reference = h(&bounds, &[10.0, 20.0, 30.0, 25.0, 15.0]);
    let current = h(&bounds, &[5.0, 15.0, 30.0, 30.0, 20.0]);
    let cases = [
        (
            "psi",
            score(psi(&reference, &current, 50.0)),
            0.0725416441128731,
        ),
        (
            "js",
            score(jensen_shannon(&reference, &current, 50.0)),
            0.09470526143570152,
        ),
        (
            "ks",
            score(kolmogorov_smirnov(&reference, &current, 50.0)),
            0.10000000000000009,
        ),
        (
            "wasserstein",
            score(wasserstein_normalized(&reference, &current, 50.0)),
            0.25109218519121224,
        ),
    ];
    for (name, got, want) in cases {
        assert!(close(got, want), "{name}: {got} against scipy's {want}");
    }
}

/// Empty buckets: PSI takes 0.0001 for an empty share (Evidently); JS needs no fix.
/// numpy / scipy 1.17.1 as above.
#[test]
fn empty_buckets_are_smoothed_as_evidently_does() {
    let bounds = [1.0, 2.0, 3.0, 4.0];
    let reference = h(&bounds, &[0.0, 20.0, 30.0, 25.0, 15.0]);
    let current = h(&bounds, &[5.0, 15.0, 30.0, 30.0, 0.0]);
    assert!(close(
        score(psi(&reference, &current, 1.0)),
        1.6773877292850479
    ));
    assert!(close(
        score(jensen_shannon(&reference, &current, 1.0)),
        0.29052747952381547
    ));
}

#[test]
fn identical_distributions_do_not_drift() {
    let a = h(&[1.0, 2.0], &[3.0, 4.0, 5.0]);
    let b = h(&[1.0, 2.0], &[30.0, 40.0, 50.0]);
    for d in [
        psi(&a, &b, 1.0),
        jensen_shannon(&a, &b, 1.0),
        kolmogorov_smirnov(&a, &b, 1.0),
    ] {
        assert!(score(d).abs() < 1e-12, "{d:?}");
    }
    assert!(score(wasserstein_normalized(&a, &b, 1.0)).abs() < 1e-12);
}

#[test]
fn too_few_observations_is_not_a_guess() {
    let a = h(&[1.0], &[3.0, 4.0]);
    let b = h(&[1.0], &[300.0, 400.0]);
    assert_eq!(psi(&a, &b, 100.0), Drift::NotEnoughData);
    assert_eq!(jensen_shannon(&b, &a, 100.0), Drift::NotEnoughData);
    assert_eq!(kolmogorov_smirnov(&a, &a, 8.0), Drift::NotEnoughData);
    assert_eq!(wasserstein_normalized(&a, &b, 100.0), Drift::NotEnoughData);
    assert!(matches!(psi(&a, &b, 7.0), Drift::Score(_)));
}

#[test]
fn different_bounds_are_aligned_on_their_union() {
    // (1, 3] holding 4 spreads 2 and 2 over (1, 2] and (2, 3].
    let coarse = h(&[1.0, 3.0], &[1.0, 4.0, 1.0]);
    let fine = h(&[1.0, 2.0, 3.0], &[1.0, 2.0, 2.0, 1.0]);
    let (a, b) = align(&coarse, &fine);
    assert_eq!(a.bounds, vec![1.0, 2.0, 3.0]);
    assert_eq!(a.counts, vec![1.0, 2.0, 2.0, 1.0]);
    assert_eq!(b, fine);
    assert!(score(psi(&coarse, &fine, 1.0)).abs() < 1e-12);
    // Open-ended buckets stay open-ended; totals are kept.
    let wide = h(&[0.5, 4.0], &[3.0, 7.0, 2.0]);
    let (w, _) = align(&wide, &fine);
    assert_eq!(w.bounds, vec![0.5, 1.0, 2.0, 3.0, 4.0]);
    assert_eq!(w.counts[0], 3.0);
    assert_eq!(w.counts[5], 2.0);
    assert!(close(w.total(), wide.total()));
    assert!(close(w.counts[1], 7.0 * 0.5 / 3.5));
}

#[test]
fn a_shift_up_is_seen_by_every_statistic() {
    let bounds = [0.1, 0.2, 0.5, 1.0, 2.0];
    let before = h(&bounds, &[100.0, 300.0, 400.0, 150.0, 40.0, 10.0]);
    let after = h(&bounds, &[10.0, 40.0, 150.0, 400.0, 300.0, 100.0]);
    assert!(score(psi(&before, &after, 100.0)) >= 0.2, "PSI threshold");
    assert!(
        score(jensen_shannon(&before, &after, 100.0)) >= 0.1,
        "JS threshold"
    );
    assert!(score(kolmogorov_smirnov(&before, &after, 100.0)) > 0.5);
    assert!(score(wasserstein_normalized(&before, &after, 100.0)) > 0.5);
}

#[test]
fn quantiles_interpolate_within_buckets() {
    // 10 in (0, 1], 10 in (1, 2], none above: the median is 1, p95 is 1.9.
    let b = h(&[1.0, 2.0], &[10.0, 10.0, 0.0]);
    assert_eq!(b.quantile(0.5), Some(1.0));
    assert!(close(b.quantile(0.95).unwrap_or(f64::NAN), 1.9));
    // In the +Inf bucket: its lower edge.
    assert_eq!(h(&[1.0], &[1.0, 9.0]).quantile(0.99), Some(1.0));
    assert_eq!(h(&[1.0], &[0.0, 0.0]).quantile(0.5), None);
}
