use super::*;
use crate::store::builder::{every, Builder, S};

const H100: &str = "NVIDIA H100 80GB HBM3";

/// Two H100s of job 7 for ten minutes: gpu0 busy, gpu1 idle; and a T4 without a job.
fn store() -> Store {
    store_over(0, 600)
}

/// `store()`'s GPUs from second `from` to `to`.
fn store_over(from: i64, to: i64) -> Store {
    let mut b = Builder::new();
    for (i, util) in [(0u32, 0.9), (1, 0.0)] {
        b.gpu(
            "n",
            i,
            Some("7"),
            metric::GPU_UTILIZATION,
            &[("hw.model", H100), ("gpuwatch.team", "ml")],
            every(5, from, to, |_| util),
        );
    }
    b.gpu(
        "m",
        0,
        None,
        metric::GPU_UTILIZATION,
        &[("hw.model", "Tesla T4")],
        every(5, from, to, |_| 0.5),
    );
    b.build()
}

fn ledger(store: &Store, until: i64) -> Ledger {
    let mut l = Ledger::new(CostConfig::default().validate().expect("defaults"));
    for t in (5..=until).step_by(5) {
        l.accrue(store, t * S, 5 * S);
    }
    l
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn accrues_by_price_busy_and_idle() {
    let store = store();
    let l = ledger(&store, 600);
    let by_job = l.breakdown(60 * 60 * S, By::Job).expect("an hour is kept");
    // Ten minutes: 2 H100 × $4/h × 1/6 h = $1.333..., half of it idle.
    let job = &by_job.rows[0];
    assert_eq!(job.key, "7");
    assert_eq!(job.gpus, 2);
    assert!(close(job.gpu_hours, 2.0 / 6.0), "{job:?}");
    assert!(close(job.cost_usd, 8.0 / 6.0), "{job:?}");
    assert!(close(job.idle_cost_usd, 4.0 / 6.0), "{job:?}");
    assert!(close(job.waste_share, 0.5));
    assert!(close(job.burn_usd_per_hour, 8.0) && close(job.idle_burn_usd_per_hour, 4.0));
    // The T4 has no job: $0.40/h for 10 minutes.
    let none = &by_job.rows[1];
    assert_eq!(none.key, "(none)");
    assert!(close(none.cost_usd, 0.4 / 6.0));
    assert!(close(by_job.total.cost_usd, 8.4 / 6.0));
    let by_model = l.breakdown(60 * 60 * S, By::Model).expect("kept");
    assert_eq!(
        by_model
            .rows
            .iter()
            .map(|r| r.key.as_str())
            .collect::<Vec<_>>(),
        [H100, "Tesla T4"]
    );
    let by_team = l.breakdown(60 * 60 * S, By::Team).expect("kept");
    assert_eq!(by_team.rows[0].key, "ml");
}

#[test]
fn windows_count_only_their_minutes() {
    let store = store();
    let l = ledger(&store, 600);
    let five = l.breakdown(5 * 60 * S, By::Node).expect("kept");
    let n = five.rows.iter().find(|r| r.key == "n").expect("node n");
    // (300 s, 600 s]: two GPUs for five minutes.
    assert!(close(n.gpu_hours, 2.0 * 300.0 / 3600.0), "{n:?}");
    assert!(
        l.breakdown(2 * 60 * 60 * S, By::Node).is_none(),
        "longer than what is kept"
    );
}

#[test]
fn idle_spend_past_the_threshold_is_a_finding() {
    // One idle H100 burns $4/h: $10 takes 2.5 hours, past the default 1h window.
    let mut b = Builder::new();
    for i in 0..4 {
        b.gpu(
            "n",
            i,
            Some("r"),
            metric::GPU_UTILIZATION,
            &[("hw.model", H100)],
            every(5, 0, 3600, |_| 0.0),
        );
    }
    let store = b.build();
    let l = ledger(&store, 3600);
    // Four idle H100s for an hour: $16.
    let found = l.findings(3600 * S);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, AlertKind::IdleGpuCost);
    assert!(close(found[0].value, 16.0), "{}", found[0].value);
    assert_eq!(
        found[0].summary,
        "job r: $16.00 spent on idle GPUs in the last 1h (4 GPUs idle)"
    );
    // Half an hour in: $8, under the $10 threshold.
    assert!(ledger(&store, 1800).findings(1800 * S).is_empty());
}

#[test]
fn energy_is_added_when_priced() {
    let mut b = Builder::new();
    b.gpu(
        "n",
        0,
        None,
        metric::GPU_UTILIZATION,
        &[("hw.model", H100)],
        every(5, 0, 3600, |_| 1.0),
    )
    .gpu(
        "n",
        0,
        None,
        metric::POWER,
        &[],
        every(5, 0, 3600, |_| 500.0),
    );
    let store = b.build();
    let settings = CostConfig {
        energy_usd_per_kwh: 0.2,
        ..CostConfig::default()
    }
    .validate()
    .expect("valid");
    let mut l = Ledger::new(settings);
    for t in (5..=3600).step_by(5) {
        l.accrue(&store, t * S, 5 * S);
    }
    // $4 for the GPU-hour and 0.5 kWh at $0.20.
    assert!(
        close(l.accounts()[0].total.usd, 4.1),
        "{}",
        l.accounts()[0].total.usd
    );
}

#[test]
fn missing_data_costs_nothing() {
    let l = ledger(&Builder::new().build(), 600);
    assert!(l.accounts().is_empty());
    let b = l.breakdown(60 * S, By::Job).expect("kept");
    assert!(b.rows.is_empty());
    assert_eq!(b.total.cost_usd, 0.0);
}

#[test]
fn budget_burn_cases() {
    // Team ml burns $8/h (two H100s): $5,760 over a 30-day month.
    type Case = (
        &'static str,
        Vec<(&'static str, f64)>,
        i64,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "healthy: the budget covers the rate",
            vec![("ml", 6000.0)],
            600,
            vec![],
        ),
        ("faulty: over budget", vec![("ml", 5000.0)], 600, vec!["ml"]),
        (
            "borderline: 1% over budget fires",
            vec![("ml", 5700.0)],
            600,
            vec!["ml"],
        ),
        (
            "missing data: a team without GPUs",
            vec![("nobody", 1.0)],
            600,
            vec![],
        ),
        (
            "missing data: under five minutes",
            vec![("ml", 1.0)],
            240,
            vec![],
        ),
    ];
    for (name, budgets, until, want) in cases {
        let config = CostConfig {
            budgets: budgets.iter().map(|(t, b)| (t.to_string(), *b)).collect(),
            ..CostConfig::default()
        };
        let mut l = Ledger::new(config.validate().expect("valid"));
        let store = store();
        for t in (5..=until).step_by(5) {
            l.accrue(&store, t * S, 5 * S);
        }
        let found = l.budget_findings(until * S);
        let teams: Vec<&str> = found
            .iter()
            .map(|f| f.labels["gpuwatch.team"].as_str())
            .collect();
        assert_eq!(teams, want, "{name}");
        for f in &found {
            assert_eq!(f.kind, AlertKind::BudgetBurn);
            assert!(
                f.summary.contains("spending $8.00/h"),
                "{name}: {}",
                f.summary
            );
        }
    }
}

#[test]
fn budget_config_errors_name_the_key() {
    let bad = |c: CostConfig| c.validate().expect_err("invalid").to_string();
    let zero = CostConfig {
        budgets: [("ml".to_string(), 0.0)].into_iter().collect(),
        ..CostConfig::default()
    };
    assert!(bad(zero).contains("collector.cost.budgets.ml"));
    let long = CostConfig {
        budget_window: "2h".into(),
        ..CostConfig::default()
    };
    assert!(bad(long).contains("collector.cost.budget_window"));
    let rate = CostConfig {
        budget_burn_rate: 0.0,
        ..CostConfig::default()
    };
    assert!(bad(rate).contains("collector.cost.budget_burn_rate"));
}

#[test]
fn a_gpu_in_mig_mode_is_priced_whole_and_idle_when_all_its_instances_are() {
    const GIB: f64 = (1u64 << 30) as f64;
    let mut b = Builder::new();
    // Node g: NVML gives no utilization in MIG mode; its 3g slice runs a process for
    // the first five minutes, its 1g slice never does.
    b.gpu(
        "g",
        0,
        None,
        metric::GPU_MEMORY_LIMIT,
        &[("hw.model", H100)],
        every(5, 0, 600, |_| 80.0 * GIB),
    );
    for (slot, id, process_until) in [(0, "MIG-a", 300), (1, "MIG-b", 0)] {
        let name = format!("gpu0-mig{slot}");
        let slice = [
            ("host.name", "g"),
            ("hw.id", id),
            ("hw.name", name.as_str()),
            ("hw.model", H100),
            ("hw.parent", "GPU-g-0"),
            ("hw.gpu.mig.profile", "3g.40gb"),
        ];
        b.series(
            metric::GPU_MEMORY_LIMIT,
            &slice,
            every(5, 0, 600, |_| 40.0 * GIB),
        );
        if process_until > 0 {
            let process = [&slice[..], &[("process.pid", "4242")]].concat();
            b.series(
                metric::GPU_PROCESS_MEMORY,
                &process,
                every(5, 0, process_until, |_| GIB),
            );
        }
    }
    // Node h: a driver that gives its slice a utilization, which decides.
    b.gpu(
        "h",
        0,
        None,
        metric::GPU_MEMORY_LIMIT,
        &[("hw.model", H100)],
        every(5, 0, 600, |_| 80.0 * GIB),
    );
    let slice = [
        ("host.name", "h"),
        ("hw.id", "MIG-c"),
        ("hw.name", "gpu0-mig0"),
        ("hw.model", H100),
        ("hw.parent", "GPU-h-0"),
    ];
    b.series(metric::GPU_UTILIZATION, &slice, every(5, 0, 600, |_| 0.6));
    let store = b.build();
    let l = ledger(&store, 600);
    let by_node = l.breakdown(60 * 60 * S, By::Node).expect("an hour is kept");
    let row = |key: &str| {
        by_node
            .rows
            .iter()
            .find(|r| r.key == key)
            .unwrap_or_else(|| panic!("node {key} in {by_node:?}"))
    };
    // One H100 each, ten minutes at $4/h; the slices are not priced again.
    for key in ["g", "h"] {
        assert_eq!(row(key).gpus, 1, "{key}");
        assert!(close(row(key).cost_usd, 4.0 / 6.0), "{:?}", row(key));
    }
    // g: idle once its last process ended, the second five minutes.
    assert!(close(row("g").idle_cost_usd, 2.0 / 6.0), "{:?}", row("g"));
    assert!(close(row("h").idle_cost_usd, 0.0), "{:?}", row("h"));
    assert_eq!(by_node.rows.len(), 2);
}

/// After a restart the ledger takes up its totals and accrues again the steps whose
/// windows the replayed store still holds: `/api/v1/cost?window=` is whole again for
/// those, and nothing is counted twice.
#[test]
fn a_restart_accrues_again_the_steps_the_store_still_holds() {
    let store = store();
    let fresh = || Ledger::new(CostConfig::default().validate().expect("defaults"));
    // Evaluated as the collector does: from the first instant on the grid with data.
    let mut before = fresh();
    for t in (0..=600).step_by(5) {
        before.accrue(&store, t * S, 5 * S);
    }
    let mut after = fresh();
    let steps = after.restore(before.saved(), &store, 5 * S);
    assert_eq!(steps, 121, "every 5 s step of the ten minutes");
    for by in [By::Job, By::Node, By::Team] {
        assert_eq!(after.totals(by), before.totals(by), "totals, not doubled");
        for minutes in [1, 5, 10, 60] {
            assert_eq!(
                after.breakdown(minutes * 60 * S, by),
                before.breakdown(minutes * 60 * S, by),
                "{minutes} min by {by:?}"
            );
        }
    }
    // A store that kept only the last four minutes: those windows are whole again.
    let recent = store_over(360, 600);
    let mut after = fresh();
    after.restore(before.saved(), &recent, 5 * S);
    assert_eq!(
        after.breakdown(3 * 60 * S, By::Node),
        before.breakdown(3 * 60 * S, By::Node)
    );
    assert_eq!(after.totals(By::Node), before.totals(By::Node));
}
