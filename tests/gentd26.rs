//! Alibaba's GenTD26 production trace (143 serving pods, GPU duty cycle every 57 s for
//! 23 hours) through the collector as OTLP/HTTP: the cost ledger's GPU-hours, idle
//! hours and idle cost per pod and in total equal the same figures computed here,
//! straight from the CSV, at the stated price.

use std::collections::BTreeMap;
use std::path::Path;

use gpuwatch::replay::{self, STEP_SECONDS};

const TRACE: &str = "../shared/fixtures/alibaba-gentd26/pod_gpu_duty_cycle_anon.tar.gz";
const PRICE: f64 = 2.0;
const IDLE_BELOW: f64 = 0.05;

/// The trace, or `None` (with a note) where the shared fixtures are not beside the
/// checkout; CI has them, and fails without them.
fn trace() -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(TRACE);
    if !path.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing: CI must have the shared fixtures",
            path.display()
        );
        eprintln!("skipping: {} is not here", path.display());
        return None;
    }
    Some(replay::read_text(&path).expect("the trace reads"))
}

/// Per pod: (GPU-hours, idle GPU-hours), from the CSV text with nothing of gpuwatch's.
fn from_csv(text: &str) -> BTreeMap<String, (f64, f64)> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).expect("column");
    let (v, pod) = (col("value"), col("container_ip"));
    let mut out: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let percent: f64 = f[v].parse().expect("a number");
        let e = out.entry(format!("pod-{}", &f[pod][..12])).or_default();
        // Every sample stands for one 57 s step of its pod.
        e.0 += STEP_SECONDS as f64 / 3600.0;
        if percent / 100.0 < IDLE_BELOW {
            e.1 += STEP_SECONDS as f64 / 3600.0;
        }
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_prices_the_trace_as_the_csv_says() {
    let Some(text) = trace() else { return };
    let want = from_csv(&text);
    let rows = replay::parse(&text).expect("parses");
    let got = replay::run(&rows, PRICE, IDLE_BELOW)
        .await
        .expect("replays");

    assert_eq!(got.pods, 143);
    assert_eq!(got.requests, 1441);
    assert_eq!(got.cost.rows.len(), want.len());
    for row in &got.cost.rows {
        let (hours, idle) = want[&row.key];
        assert!(
            close(row.gpu_hours, hours),
            "{}: {} vs {hours}",
            row.key,
            row.gpu_hours
        );
        assert!(
            close(row.idle_gpu_hours, idle),
            "{}: {} vs {idle}",
            row.key,
            row.idle_gpu_hours
        );
        assert!(close(row.cost_usd, hours * PRICE), "{}", row.key);
        assert!(close(row.idle_cost_usd, idle * PRICE), "{}", row.key);
    }
    let hours: f64 = want.values().map(|w| w.0).sum();
    let idle: f64 = want.values().map(|w| w.1).sum();
    let total = &got.cost.total;
    assert!(
        close(total.gpu_hours, hours),
        "{} vs {hours}",
        total.gpu_hours
    );
    assert!(
        close(total.idle_gpu_hours, idle),
        "{} vs {idle}",
        total.idle_gpu_hours
    );
    assert!(close(total.idle_cost_usd, idle * PRICE));
    assert!(close(total.waste_share, idle / hours));
    // What the figures are, for the README: 157,417 samples of 57 s.
    assert!(close(hours, 157_417.0 * 57.0 / 3600.0));
    let table = replay::table(&got, 5);
    assert!(
        table.starts_with("GenTD26: 143 pods, 157417 samples"),
        "{table}"
    );
    assert!(table.contains("... 138 more pods"), "{table}");
}
