use super::*;
use crate::detect::config::AlertsConfig;
use crate::store::builder::{every, same_on_any_clock, Builder, S};

/// 400 Gb/s (NDR), in bytes/s.
const NDR: f64 = 50e9;

/// Port `mlx5_{n}:1` of node `n`: its bandwidth limit and up state every 10 s over
/// ten minutes, from `limit(t)` and `up(t)`.
fn port(b: &mut Builder, n: u32, limit: impl Fn(i64) -> f64, up: impl Fn(i64) -> f64) -> String {
    let id = format!("mlx5_{n}:1");
    let netdev = format!("ib{n}");
    let attrs = [
        ("host.name", "n"),
        ("hw.id", id.as_str()),
        ("hw.type", "network"),
        ("gpuwatch.fabric.link_layer", "InfiniBand"),
        ("network.interface.name", netdev.as_str()),
    ];
    b.series(
        metric::HW_NETWORK_BANDWIDTH_LIMIT,
        &attrs,
        every(10, 0, 600, limit),
    );
    b.series(metric::HW_NETWORK_UP, &attrs, every(10, 0, 600, up));
    id
}

/// A counter of port `mlx5_{n}:1`: `metric` with `(key, kind)`, from `f(t)`.
fn counter(b: &mut Builder, n: u32, metric: &str, key: &str, kind: &str, f: impl Fn(i64) -> f64) {
    let id = format!("mlx5_{n}:1");
    let attrs = [
        ("host.name", "n"),
        ("hw.id", id.as_str()),
        ("hw.type", "network"),
        ("gpuwatch.fabric.link_layer", "InfiniBand"),
        (key, kind),
    ];
    b.series(metric, &attrs, every(10, 0, 600, f));
}

fn errors(b: &mut Builder, n: u32, kind: &str, f: impl Fn(i64) -> f64) {
    counter(b, n, metric::ERRORS, attr::ERROR_TYPE, kind, f);
}

/// Two healthy NDR ports on node `n`.
fn healthy(b: &mut Builder) {
    port(b, 0, |_| NDR, |_| 1.0);
    port(b, 1, |_| NDR, |_| 1.0);
}

/// A job's GPU on node `n`.
fn job(b: &mut Builder) {
    b.gpu(
        "n",
        0,
        Some("j-7"),
        metric::GPU_UTILIZATION,
        &[],
        every(10, 0, 600, |_| 0.9),
    );
}

#[test]
fn cases() {
    let s = AlertsConfig::default()
        .validate()
        .expect("defaults")
        .fabric_degraded;
    type Setup = Box<dyn Fn(&mut Builder)>;
    /// `(hw.id, severity, value, summary)` of a finding.
    type Want<'a> = (&'a str, Severity, f64, &'a str);
    let cases: Vec<(&str, Setup, Vec<Want>)> = vec![
        (
            "healthy: two ports up at full speed",
            Box::new(healthy),
            vec![],
        ),
        (
            "healthy: a port never up (an unconnected second port) is no alert",
            Box::new(|b| {
                port(b, 0, |_| NDR, |_| 1.0);
                port(b, 1, |_| NDR / 4.0, |_| 0.0);
            }),
            vec![],
        ),
        (
            "healthy: errors counted before the window, since boot, are not rising",
            Box::new(|b| {
                healthy(b);
                errors(b, 0, "symbol_error", |_| 4_000.0);
                errors(b, 0, "link_downed", |_| 3.0);
            }),
            vec![],
        ),
        (
            "healthy: a few symbol errors (under min_errors)",
            Box::new(|b| {
                healthy(b);
                errors(b, 0, "symbol_error", |t| if t >= 400 { 5.0 } else { 0.0 });
            }),
            vec![],
        ),
        (
            "healthy: discards rise with ordinary congestion and are not counted",
            Box::new(|b| {
                healthy(b);
                errors(b, 0, "port_xmit_discards", |t| t as f64 * 100.0);
            }),
            vec![],
        ),
        (
            "healthy: some congestion notifications",
            Box::new(|b| {
                healthy(b);
                counter(
                    b,
                    0,
                    metric::FABRIC_CONGESTION,
                    attr::FABRIC_COUNTER,
                    "np_cnp_sent",
                    |t| t as f64 * 100.0,
                );
            }),
            vec![],
        ),
        (
            "faulty: a link that was up went down, no job: warning",
            Box::new(|b| {
                port(b, 0, |_| NDR, |t| if t < 500 { 1.0 } else { 0.0 });
                port(b, 1, |_| NDR, |_| 1.0);
            }),
            vec![(
                "mlx5_0:1",
                Severity::Warning,
                0.0,
                "n mlx5_0:1 (ib0): link down",
            )],
        ),
        (
            "faulty: a link down inside a running job: critical",
            Box::new(|b| {
                job(b);
                port(b, 0, |_| NDR, |t| if t < 500 { 1.0 } else { 0.0 });
                port(b, 1, |_| NDR, |_| 1.0);
                errors(b, 0, "link_downed", |t| if t < 500 { 0.0 } else { 1.0 });
            }),
            vec![(
                "mlx5_0:1",
                Severity::Critical,
                0.0,
                "n mlx5_0:1 (ib0): link down; link went down 1× (link_downed) in job j-7",
            )],
        ),
        (
            "faulty: a link that flapped and came back, in a job: critical",
            Box::new(|b| {
                job(b);
                healthy(b);
                errors(b, 1, "link_downed", |t| if t < 450 { 2.0 } else { 3.0 });
            }),
            vec![(
                "mlx5_1:1",
                Severity::Critical,
                1.0,
                "n mlx5_1:1 (ib1): link went down 1× (link_downed) in job j-7",
            )],
        ),
        (
            "faulty: trained down to half its peers' rate",
            Box::new(|b| {
                port(b, 0, |_| NDR, |_| 1.0);
                port(b, 1, |_| NDR / 2.0, |_| 1.0);
            }),
            vec![(
                "mlx5_1:1",
                Severity::Warning,
                0.5,
                "n mlx5_1:1 (ib1): running at 200 Gb/s, rated 400 Gb/s",
            )],
        ),
        (
            "faulty: a lone port below the rate it ran at before, in a job still warning",
            Box::new(|b| {
                job(b);
                port(b, 0, |t| if t < 300 { NDR } else { NDR / 4.0 }, |_| 1.0);
            }),
            vec![(
                "mlx5_0:1",
                Severity::Warning,
                0.25,
                "n mlx5_0:1 (ib0): running at 100 Gb/s, rated 400 Gb/s",
            )],
        ),
        (
            "borderline: 91% of the rated speed is not degraded",
            Box::new(|b| {
                port(b, 0, |_| NDR, |_| 1.0);
                port(b, 1, |_| NDR * 0.91, |_| 1.0);
            }),
            vec![],
        ),
        (
            "faulty: error counters rising, the largest named first",
            Box::new(|b| {
                healthy(b);
                errors(b, 0, "symbol_error", |t| 1_000.0 + (t / 60) as f64 * 2.0);
                errors(b, 0, "port_rcv_errors", |t| 50.0 + (t / 60) as f64 * 4.0);
            }),
            vec![(
                "mlx5_0:1",
                Severity::Warning,
                30.0,
                "n mlx5_0:1 (ib0): errors rising: port_rcv_errors +20, symbol_error +10",
            )],
        ),
        (
            "faulty: RoCE congestion notifications sustained",
            Box::new(|b| {
                healthy(b);
                counter(
                    b,
                    1,
                    metric::FABRIC_CONGESTION,
                    attr::FABRIC_COUNTER,
                    "rp_cnp_handled",
                    |t| t as f64 * 20_000.0,
                );
            }),
            vec![(
                "mlx5_1:1",
                Severity::Warning,
                20_000.0,
                "n mlx5_1:1 (ib1): congestion: 20000 CNPs/s sustained",
            )],
        ),
    ];
    for (name, setup, want) in cases {
        let mut b = Builder::new();
        setup(&mut b);
        let store = b.build();
        let mut got: Vec<(String, Severity, f64, String)> = evaluate(&store, &s, 600 * S)
            .into_iter()
            .map(|f| {
                assert_eq!(f.kind, AlertKind::FabricDegraded);
                assert_eq!(f.labels["host.name"], "n", "{name}");
                (f.labels["hw.id"].clone(), f.severity, f.value, f.summary)
            })
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let want: Vec<(String, Severity, f64, String)> = want
            .into_iter()
            .map(|(id, sev, v, summary)| (id.to_string(), sev, v, summary.to_string()))
            .collect();
        assert_eq!(got, want, "{name}");
        same_on_any_clock(name, &store, |st, shift| evaluate(st, &s, 600 * S + shift));
    }
}

#[test]
fn degraded_ports_name_each_port_of_a_node() {
    let s = AlertsConfig::default()
        .validate()
        .expect("defaults")
        .fabric_degraded;
    let mut b = Builder::new();
    port(&mut b, 0, |_| NDR, |_| 1.0);
    port(&mut b, 1, |_| NDR / 2.0, |_| 1.0);
    port(&mut b, 2, |_| NDR, |t| if t < 500 { 1.0 } else { 0.0 });
    let found = evaluate(&b.build(), &s, 600 * S);
    let ports = degraded_ports(&found);
    assert_eq!(
        ports.get("n").map(String::as_str),
        Some("mlx5_1:1 (running at 200 Gb/s, rated 400 Gb/s), mlx5_2:1 (link down)")
    );
}

#[test]
fn settings_name_the_key() {
    let mut c = AlertsConfig::default();
    c.fabric_degraded.min_rate_share = 1.5;
    assert_eq!(
        c.validate().map_err(|e| e.to_string()),
        Err(
            "collector.alerts.fabric_degraded.min_rate_share must be between 0 and 1, got 1.5"
                .into()
        )
    );
    let mut c = AlertsConfig::default();
    c.fabric_degraded.max_cnp_per_second = 0.0;
    assert_eq!(
        c.validate().map_err(|e| e.to_string()),
        Err("collector.alerts.fabric_degraded.max_cnp_per_second must be above 0, got 0".into())
    );
}
