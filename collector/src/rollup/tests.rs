use gpuwatch_model::history::MINUTE_NS;

use super::*;
use crate::cost::{CostConfig, Ledger};
use crate::store::builder::{every, Builder, S};

const STEP: i64 = 5 * S;

fn ledger_over(store: &Store, to: i64) -> Ledger {
    let mut ledger = Ledger::new(CostConfig::default().validate().expect("defaults"));
    let mut t = STEP;
    while t <= to {
        ledger.accrue(store, t, STEP);
        t += STEP;
    }
    ledger
}

fn fleet() -> Store {
    let model = [("hw.model", "NVIDIA H100 80GB HBM3")];
    Builder::new()
        // Busy for the first minute and a half, then idle.
        .gpu(
            "n0",
            0,
            Some("j1"),
            "hw.gpu.utilization",
            &model,
            every(1, 1, 180, |t| if t <= 90 { 0.9 } else { 0.0 }),
        )
        .gpu(
            "n0",
            1,
            None,
            "hw.gpu.utilization",
            &model,
            every(1, 1, 180, |_| 0.5),
        )
        .histogram(
            "gpuwatch.inference.duration",
            &[("gpuwatch.model", "ranker")],
            &[0.1, 1.0],
            [
                (30, vec![1, 0, 0]),
                (70, vec![3, 1, 0]),
                (130, vec![3, 1, 2]),
            ],
        )
        .build()
}

#[test]
fn minutes_roll_up_series_and_spend() {
    let store = fleet();
    let ledger = ledger_over(&store, 180 * S);
    let mut rollup = Rollup::new(None);
    let minutes: Vec<MinuteRollup> = rollup
        .catch_up(&ledger, &store)
        .into_iter()
        .map(PendingMinute::finish)
        .collect();
    assert_eq!(
        minutes.iter().map(|m| m.minute).collect::<Vec<_>>(),
        vec![0, MINUTE_NS, 2 * MINUTE_NS]
    );
    assert!(
        rollup.catch_up(&ledger, &store).is_empty(),
        "each minute once"
    );

    let second = &minutes[1];
    let util = second
        .series
        .iter()
        .find(|s| s.metric == "hw.gpu.utilization" && s.job.as_deref() == Some("j1"))
        .expect("j1's GPU");
    assert_eq!((util.count, util.zeros), (60, 30));
    assert_eq!((util.min, util.max, util.last), (0.0, 0.9, 0.0));
    assert!((util.mean - 0.45).abs() < 1e-9);
    assert_eq!(util.node.as_deref(), Some("n0"));
    assert!(util.labels.contains("hw.name=gpu0"), "{}", util.labels);

    let hist = second
        .series
        .iter()
        .find(|s| s.metric == "gpuwatch.inference.duration")
        .expect("histogram");
    assert_eq!(hist.model.as_deref(), Some("ranker"));
    assert_eq!(
        hist.buckets,
        vec![2.0, 1.0, 0.0],
        "the increase over the minute"
    );
    assert_eq!(hist.count, 3);

    // 12 steps of 5 s per GPU and minute, priced at $4/h; j1's GPU idle for the
    // second half of the second minute.
    let j1 = second
        .cost
        .iter()
        .find(|c| c.job.as_deref() == Some("j1"))
        .expect("j1's spend");
    assert_eq!(j1.seconds, 60.0);
    assert_eq!(j1.idle_seconds, 30.0);
    assert!((j1.usd - 4.0 / 60.0).abs() < 1e-9);
    assert!((j1.idle_usd - 2.0 / 60.0).abs() < 1e-9);
    assert_eq!(j1.gpu_name, "gpu0");
}

#[test]
fn a_restart_goes_on_after_the_stored_minute() {
    let store = fleet();
    let ledger = ledger_over(&store, 180 * S);
    let minutes = Rollup::new(Some(MINUTE_NS)).catch_up(&ledger, &store);
    assert_eq!(
        minutes
            .iter()
            .map(PendingMinute::minute)
            .collect::<Vec<_>>(),
        vec![2 * MINUTE_NS]
    );
}

#[test]
fn nothing_before_the_first_step() {
    let store = fleet();
    let ledger = Ledger::new(CostConfig::default().validate().expect("defaults"));
    assert!(Rollup::new(None).catch_up(&ledger, &store).is_empty());
}
