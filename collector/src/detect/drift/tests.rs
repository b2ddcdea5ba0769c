use super::*;
use crate::detect::config::AlertsConfig;
use crate::store::builder::{same_on_any_clock, Builder, S};

const BOUNDS: [f64; 4] = [0.1, 0.2, 0.5, 1.0];

/// Cumulative counts every 10 s over 20 minutes; `per_step(t)` new observations per
/// bucket at second `t`.
fn series(
    b: &mut Builder,
    metric: &str,
    attrs: &[(&str, &str)],
    per_step: impl Fn(i64) -> [u64; 5],
) {
    let mut total = [0u64; 5];
    let points: Vec<(i64, Vec<u64>)> = (0..=1200)
        .step_by(10)
        .map(|t| {
            for (a, n) in total.iter_mut().zip(per_step(t)) {
                *a += n;
            }
            (t, total.to_vec())
        })
        .collect();
    b.histogram(metric, attrs, &BOUNDS, points);
}

const STEADY: [u64; 5] = [10, 30, 40, 15, 5];
const SLOWER: [u64; 5] = [1, 4, 15, 40, 40];

/// Settings with the reference `frozen` (the default) or `moving`.
fn settings(reference: &str) -> (DriftSettings, DriftSettings) {
    let mut c = AlertsConfig::default();
    c.model_drift.reference = reference.to_string();
    c.latency_regression.reference = reference.to_string();
    let s = c.validate().expect("valid");
    (s.model_drift, s.latency_regression)
}

/// Evaluates every 10 s up to `t` with each kind of reference; both must agree.
fn run(b: &mut Builder, t: i64) -> Vec<Finding> {
    // Retention of the builder's store is an hour; the windows need 15 minutes.
    let store = b.build();
    let mut found = Vec::new();
    for reference in ["frozen", "moving"] {
        let (drift, latency) = settings(reference);
        let mut references = DriftReferences::new();
        let mut last = Vec::new();
        for at in (0..=t).step_by(10) {
            last = evaluate(&store, &drift, &latency, &mut references, at * S);
        }
        if reference == "moving" {
            let kinds = |f: &[Finding]| f.iter().map(|f| f.labels.clone()).collect::<Vec<_>>();
            assert_eq!(kinds(&found), kinds(&last), "frozen and moving disagree");
        } else {
            found = last;
        }
    }
    found
}

#[test]
fn cases() {
    let pred = [("gpuwatch.model", "fraud-v3")];
    let lat = [("gen_ai.request.model", "llama")];
    type Setup = Box<dyn Fn(&mut Builder)>;
    type Case = (&'static str, Setup, Vec<(AlertKind, &'static str)>);
    let cases: Vec<Case> = vec![
        (
            "healthy: the same distribution all along",
            Box::new(move |b| series(b, metric::MODEL_PREDICTION, &pred, |_| STEADY)),
            vec![],
        ),
        (
            "faulty: predictions moved in the last five minutes",
            Box::new(move |b| {
                series(b, metric::MODEL_PREDICTION, &pred, |t| {
                    if t > 900 {
                        SLOWER
                    } else {
                        STEADY
                    }
                })
            }),
            vec![(AlertKind::ModelDrift, "prediction")],
        ),
        (
            "faulty: latency moved up",
            Box::new(move |b| {
                series(b, metric::GENAI_REQUEST_DURATION, &lat, |t| {
                    if t > 900 {
                        SLOWER
                    } else {
                        STEADY
                    }
                });
            }),
            vec![(
                AlertKind::LatencyRegression,
                "gen_ai.server.request.duration",
            )],
        ),
        (
            "healthy: latency moved down is no regression",
            Box::new(move |b| {
                series(b, metric::GENAI_REQUEST_DURATION, &lat, |t| {
                    if t > 900 {
                        STEADY
                    } else {
                        SLOWER
                    }
                });
            }),
            vec![],
        ),
        (
            "borderline: a slight shift stays under PSI 0.2 and JS 0.1",
            Box::new(move |b| {
                series(b, metric::MODEL_PREDICTION, &pred, |t| {
                    if t > 900 {
                        [9, 29, 40, 16, 6]
                    } else {
                        STEADY
                    }
                });
            }),
            vec![],
        ),
        (
            "missing data: too few observations to say",
            Box::new(move |b| {
                series(b, metric::MODEL_PREDICTION, &pred, |t| {
                    if t > 900 {
                        [0, 0, 0, 0, 1]
                    } else {
                        [0, 0, 1, 0, 0]
                    }
                })
            }),
            vec![],
        ),
    ];
    for (name, setup, want) in cases {
        let mut b = Builder::new();
        setup(&mut b);
        let store = b.build();
        same_on_any_clock(name, &store, frozen_at_1200);
        setup(&mut b);
        let got: Vec<(AlertKind, String)> = run(&mut b, 1200)
            .into_iter()
            .map(|f| {
                let what = f
                    .labels
                    .get("gpuwatch.feature")
                    .or(f.labels.get("gpuwatch.metric"))
                    .cloned()
                    .unwrap_or_default();
                (f.kind, what)
            })
            .collect();
        let want: Vec<(AlertKind, String)> =
            want.into_iter().map(|(k, w)| (k, w.to_string())).collect();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn scores_and_quantiles_are_there_without_an_alert() {
    let s = AlertsConfig::default().validate().expect("defaults");
    let mut b = Builder::new();
    series(
        &mut b,
        metric::GENAI_REQUEST_DURATION,
        &[("gen_ai.request.model", "llama")],
        |_| STEADY,
    );
    let store = b.build();
    let mut references = DriftReferences::new();
    references.update(&store, &s.model_drift, &s.latency_regression, 1200 * S);
    let got = scores(
        &store,
        &s.model_drift,
        &s.latency_regression,
        &references,
        1200 * S,
    );
    let methods: Vec<&str> = got.iter().map(|x| x.method).collect();
    assert_eq!(methods, ["psi", "js", "ks", "wasserstein"]);
    assert!(got
        .iter()
        .all(|x| x.value.abs() < 1e-9 && x.model == "llama"));
    let q = latency_quantiles(&store, 300 * S, 1200 * S);
    // STEADY: 10, 30, 40, 15, 5 per 100; the median falls in (0.2, 0.5].
    assert_eq!(q.len(), 3);
    assert_eq!((q[0].0.as_str(), q[0].2), ("llama", 0.5));
    assert!((q[0].3 - (0.2 + 0.3 * 10.0 / 40.0)).abs() < 1e-9, "{q:?}");
}

/// Every 10 s up to 1200 s (plus `shift`) with a frozen reference, the last findings.
fn frozen_at_1200(store: &Store, shift: i64) -> Vec<Finding> {
    let (drift, latency) = settings("frozen");
    let mut references = DriftReferences::new();
    let mut last = Vec::new();
    for at in (0..=1200).step_by(10) {
        last = evaluate(store, &drift, &latency, &mut references, at * S + shift);
    }
    last
}

#[test]
fn hosts_of_one_model_are_summed() {
    let mut b = Builder::new();
    for host in ["a", "b"] {
        let attrs = [
            ("gpuwatch.model", "ranker"),
            ("gpuwatch.feature", "age"),
            ("host.name", host),
        ];
        series(&mut b, metric::MODEL_FEATURE, &attrs, |t| {
            if t > 900 {
                SLOWER
            } else {
                STEADY
            }
        });
    }
    let store = b.build();
    // A host whose clock is wrong still adds its observations to the same windows.
    same_on_any_clock("two hosts", &store, frozen_at_1200);
    let found = frozen_at_1200(&store, 0);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].labels["gpuwatch.model"], "ranker");
    assert_eq!(found[0].labels["gpuwatch.feature"], "age");
    assert!(
        found[0].summary.contains("(6000 and 6000 observations)"),
        "{}",
        found[0].summary
    );
}

/// Predictions creeping steadily for 50 minutes: each window is close to the five
/// minutes before (a moving reference sees nothing), but far from where the model
/// started.
#[test]
fn a_frozen_reference_catches_slow_drift_that_a_moving_one_misses() {
    let (from, to) = (STEADY.map(|c| c as f64), SLOWER.map(|c| c as f64));
    let mut total = [0u64; 5];
    let points: Vec<(i64, Vec<u64>)> = (0..=3000)
        .step_by(10)
        .map(|t| {
            let k = t as f64 / 3000.0;
            for (i, a) in total.iter_mut().enumerate() {
                *a += (10.0 * (from[i] + (to[i] - from[i]) * k)).round() as u64;
            }
            (t, total.to_vec())
        })
        .collect();
    let mut b = Builder::new();
    b.histogram(
        metric::MODEL_PREDICTION,
        &[("gpuwatch.model", "fraud-v3")],
        &BOUNDS,
        points,
    );
    let store = b.build();
    let at = |reference: &str| {
        let mut c = AlertsConfig::default();
        c.model_drift.reference = reference.to_string();
        c.model_drift.reference_lag = "0s".into();
        let s = c.validate().expect("valid");
        let mut references = DriftReferences::new();
        let mut last = Vec::new();
        for t in (0..=3000).step_by(10) {
            last = evaluate(
                &store,
                &s.model_drift,
                &s.latency_regression,
                &mut references,
                t * S,
            );
        }
        (last, references)
    };
    let (frozen, references) = at("frozen");
    assert_eq!(frozen.len(), 1, "{frozen:?}");
    assert_eq!(references.frozen(), 1);
    assert!(
        frozen[0]
            .summary
            .contains("against the 5m from 1970-01-01T00:01:00"),
        "{}",
        frozen[0].summary
    );
    let (moving, _) = at("moving");
    assert_eq!(moving, vec![], "each window is close to the one before");
}

#[test]
fn a_reference_window_with_too_few_observations_gives_way_to_the_next() {
    let pred = [("gpuwatch.model", "quiet")];
    let mut b = Builder::new();
    // Almost no traffic for the first 8 minutes, then steady.
    series(&mut b, metric::MODEL_PREDICTION, &pred, |t| {
        if t < 480 {
            [0, 0, 1, 0, 0]
        } else {
            STEADY
        }
    });
    let store = b.build();
    let (drift, latency) = settings("frozen");
    let mut references = DriftReferences::new();
    let mut windows_seen = Vec::new();
    for t in (0..=1200).step_by(10) {
        references.update(&store, &drift, &latency, t * S);
        windows_seen.push(references.frozen());
    }
    // 60-360 s holds 30 observations: skipped; 360-660 holds enough and freezes at 660.
    assert_eq!(windows_seen[65], 0);
    assert_eq!(windows_seen[66], 1);
    let group = (
        AlertKind::ModelDrift,
        "quiet".to_string(),
        "prediction".to_string(),
    );
    assert_eq!(references.since(&group), Some(360 * S));
}

#[test]
fn a_reference_can_be_a_date_range_of_history() {
    let mut c = AlertsConfig::default();
    c.model_drift.reference = "2026-11-01/2026-11-07".into();
    let s = c.validate().expect("valid");
    let day = 24 * 3600 * S;
    // 2026-11-01T00:00:00Z, to the end of the 7th.
    let from = 1_793_491_200 * S;
    assert_eq!(
        s.model_drift.reference,
        Reference::History {
            from,
            to: from + 7 * day
        }
    );
    c.model_drift.reference = "2026-11-07/2026-11-01".into();
    let err = c.validate().expect_err("backwards").to_string();
    assert!(
        err.starts_with(
            "collector.alerts.model_drift.reference must be \"frozen\", \"moving\" or a date range"
        ),
        "{err}"
    );
}

#[test]
fn a_seeded_reference_is_compared_with_the_live_window() {
    let pred = [("gpuwatch.model", "fraud-v3")];
    let mut b = Builder::new();
    series(&mut b, metric::MODEL_PREDICTION, &pred, |_| SLOWER);
    let store = b.build();
    let mut c = AlertsConfig::default();
    c.model_drift.reference = "2026-11-01/2026-11-01".into();
    let s = c.validate().expect("valid");
    let mut references = DriftReferences::new();
    let run = |references: &mut DriftReferences| {
        evaluate(
            &store,
            &s.model_drift,
            &s.latency_regression,
            references,
            1200 * S,
        )
    };
    assert_eq!(
        run(&mut references),
        vec![],
        "no reference yet: nothing to say"
    );
    let steady: Vec<f64> = STEADY.iter().map(|c| *c as f64 * 100.0).collect();
    assert!(references.seed(
        AlertKind::ModelDrift,
        "fraud-v3",
        "prediction",
        0,
        BOUNDS.to_vec(),
        steady
    ));
    let found = run(&mut references);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0]
        .summary
        .contains("against its history from 2026-11-01 to 2026-11-01"));
}

/// A model is "not judged" (never calm) until its reference window is complete, and
/// while either window has too few observations; with enough on both, it is judged.
#[test]
fn a_model_it_cannot_judge_says_what_is_missing() {
    let pred = [("gpuwatch.model", "fraud-v3")];
    let mut b = Builder::new();
    // Two observations a step: 60 over five minutes, under the default 100.
    series(&mut b, metric::MODEL_PREDICTION, &pred, |_| [0, 1, 1, 0, 0]);
    let store = b.build();
    let (drift, latency) = settings("moving");
    let mut references = DriftReferences::new();
    let missing = |at: i64, references: &mut DriftReferences| -> Vec<String> {
        let e = judge(&store, &drift, &latency, references, at * S);
        assert!(e.findings.is_empty());
        e.not_enough_data
            .iter()
            .map(|n| {
                assert_eq!(n.kind, AlertKind::ModelDrift);
                assert_eq!(n.labels[attr::MODEL], "fraud-v3");
                format!("{}: {}", n.what, n.missing)
            })
            .collect()
    };
    assert_eq!(
        missing(200, &mut references),
        ["prediction: no reference window yet"]
    );
    let later = missing(1200, &mut references);
    assert_eq!(later.len(), 1, "{later:?}");
    assert!(
        later[0].starts_with("prediction: fewer than 100 observations ("),
        "{later:?}"
    );

    // Enough observations: judged, healthy, nothing said.
    let mut b = Builder::new();
    series(&mut b, metric::MODEL_PREDICTION, &pred, |_| STEADY);
    let store = b.build();
    let e = judge(
        &store,
        &drift,
        &latency,
        &mut DriftReferences::new(),
        1200 * S,
    );
    assert!(
        e.findings.is_empty() && e.not_enough_data.is_empty(),
        "{e:?}"
    );
}
