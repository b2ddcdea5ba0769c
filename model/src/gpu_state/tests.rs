//! The precedence of states and which alerts touch which GPU, as tables.

use std::collections::BTreeMap;

use crate::{Severity, Timestamp};

use super::*;

fn gpu(node: &str, index: u32, util: Option<f64>, job: Option<&str>) -> GpuView {
    GpuView {
        node: node.into(),
        id: format!("GPU-{node}-{index}"),
        name: format!("gpu{index}"),
        utilization: util,
        job: job.map(Into::into),
        last_seen_unix_ms: 10_000,
        ..GpuView::default()
    }
}

fn alert(kind: AlertKind, state: AlertState, labels: &[(&str, &str)]) -> Alert {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Alert {
        id: Alert::fingerprint(kind, &labels),
        kind,
        severity: Severity::Warning,
        state,
        summary: String::new(),
        labels,
        value: 1.0,
        started_at: Timestamp::from_unix_millis(0),
        ended_at: None,
    }
}

fn firing(kind: AlertKind, labels: &[(&str, &str)]) -> Alert {
    alert(kind, AlertState::Firing, labels)
}

fn state_of(alerts: &[Alert], gpu: &GpuView) -> GpuState {
    StateIndex::new(alerts).state(gpu, false)
}

const HOST: &str = "host.name";
const ID: &str = "hw.id";
const NAME: &str = "hw.name";
const JOB: &str = "gpuwatch.job.id";

#[test]
fn the_worst_state_wins() {
    let g = gpu("node-01", 0, Some(0.99), Some("4411"));
    let on_g = |kind| firing(kind, &[(HOST, "node-01"), (ID, "GPU-node-01-0")]);
    // (alerts that fire on the GPU, the badge)
    let cases = [
        (vec![], GpuState::Ok),
        (vec![AlertKind::IdleGpuCost], GpuState::Idle),
        (
            vec![AlertKind::IdleGpuCost, AlertKind::GpuThrottle],
            GpuState::Throttle,
        ),
        (
            vec![AlertKind::GpuThrottle, AlertKind::DataBottleneck],
            GpuState::Starved,
        ),
        (
            vec![AlertKind::DataBottleneck, AlertKind::GpuStraggler],
            GpuState::Straggler,
        ),
        (
            vec![AlertKind::GpuThrottle, AlertKind::GpuStalled],
            GpuState::Stall,
        ),
        (
            vec![AlertKind::GpuStalled, AlertKind::GpuHang],
            GpuState::Hang,
        ),
        (vec![AlertKind::GpuHang, AlertKind::GpuXid], GpuState::Xid),
        (
            vec![
                AlertKind::GpuXid,
                AlertKind::GpuThrottle,
                AlertKind::GpuHang,
            ],
            GpuState::Xid,
        ),
        // Alerts about models touch no GPU.
        (
            vec![AlertKind::ModelDrift, AlertKind::LatencyRegression],
            GpuState::Ok,
        ),
    ];
    for (kinds, want) in cases {
        let alerts: Vec<Alert> = kinds.iter().map(|&k| on_g(k)).collect();
        assert_eq!(state_of(&alerts, &g), want, "{kinds:?}");
        // The order the collector lists them in does not matter.
        let reversed: Vec<Alert> = alerts.into_iter().rev().collect();
        assert_eq!(state_of(&reversed, &g), want, "{kinds:?} reversed");
    }
}

#[test]
fn precedence_is_the_documented_order() {
    let worst_first: Vec<&str> = GpuState::ALL.iter().map(|s| s.word()).collect();
    assert_eq!(
        worst_first,
        [
            "ABSENT",
            "XID",
            "HANG",
            "STALL",
            "STRAGGLER",
            "STARVED",
            "THROTTLE",
            "IDLE",
            "OK"
        ]
    );
    assert!(GpuState::ALL.windows(2).all(|w| w[0] > w[1]));
    assert!(GpuState::ALL.windows(2).all(|w| w[0].rank() > w[1].rank()));
    let widest = GpuState::ALL.iter().map(|s| s.word().len()).max();
    assert_eq!(widest, Some(usize::from(GpuState::WIDTH)));
    for state in GpuState::ALL {
        assert_eq!(GpuState::parse(&state.word().to_lowercase()), Some(state));
    }
    assert_eq!(GpuState::parse("hung"), None);
}

#[test]
fn without_alerts_utilization_decides_idle_or_ok() {
    // (utilization, badge): IDLE strictly under 5%; unknown is not idle.
    let cases = [
        (Some(0.0), GpuState::Idle),
        (Some(0.049), GpuState::Idle),
        (Some(0.05), GpuState::Ok),
        (Some(0.9), GpuState::Ok),
        (None, GpuState::Ok),
        (Some(f64::NAN), GpuState::Ok),
    ];
    for (util, want) in cases {
        assert_eq!(
            state_of(&[], &gpu("n", 0, util, Some("4411"))),
            want,
            "{util:?}"
        );
    }
    // An alert outranks idleness: a stalled GPU is 0% busy too.
    let stalled = firing(AlertKind::GpuStalled, &[(HOST, "n"), (ID, "GPU-n-0")]);
    assert_eq!(
        state_of(&[stalled], &gpu("n", 0, Some(0.0), None)),
        GpuState::Stall
    );
}

#[test]
fn alerts_touch_the_gpus_their_labels_name() {
    let g0 = gpu("node-01", 0, Some(0.9), Some("4411"));
    let g1 = gpu("node-01", 1, Some(0.9), Some("ft-812"));
    let other_node = gpu("node-02", 0, Some(0.9), Some("4411"));
    let hang = AlertKind::GpuHang;
    // (labels, touches g0, g1, other_node)
    type Labels<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Labels, [bool; 3]); 11] = [
        // One GPU by id, with or without its node.
        (
            &[(HOST, "node-01"), (ID, "GPU-node-01-0")],
            [true, false, false],
        ),
        (&[(ID, "GPU-node-01-0")], [true, false, false]),
        // The id under another node's name is another GPU.
        (&[(HOST, "node-02"), (ID, "GPU-node-01-0")], [false; 3]),
        // The job label does not narrow an alert that names the GPU.
        (
            &[(HOST, "node-01"), (ID, "GPU-node-01-0"), (JOB, "elsewhere")],
            [true, false, false],
        ),
        // By name within a node.
        (&[(HOST, "node-01"), (NAME, "gpu1")], [false, true, false]),
        // A whole node, or the GPUs of one job on it.
        (&[(HOST, "node-01")], [true, true, false]),
        (&[(HOST, "node-01"), (JOB, "4411")], [true, false, false]),
        // A whole job, wherever it runs.
        (&[(JOB, "4411")], [true, false, true]),
        (&[(JOB, "17")], [false; 3]),
        // Nothing that names a GPU, node or job.
        (&[("gpuwatch.model", "ranker")], [false; 3]),
        (&[], [false; 3]),
    ];
    for (labels, want) in cases {
        let alerts = [firing(hang, labels)];
        let got = [&g0, &g1, &other_node].map(|g| state_of(&alerts, g) == GpuState::Hang);
        assert_eq!(got, want, "{labels:?}");
    }
}

#[test]
fn what_touches_a_gpu_touches_its_mig_instances_and_not_the_reverse() {
    let parent = gpu("node-01", 0, None, None);
    let slice = GpuView {
        id: "MIG-0".into(),
        name: "gpu0-mig1".into(),
        parent: Some(parent.id.clone()),
        mig_profile: Some("1g.10gb".into()),
        ..gpu("node-01", 0, None, Some("svc"))
    };
    let sibling = GpuView {
        id: "MIG-1".into(),
        name: "gpu0-mig2".into(),
        ..slice.clone()
    };
    let xid = [firing(
        AlertKind::GpuXid,
        &[(HOST, "node-01"), (ID, "GPU-node-01-0")],
    )];
    for g in [&parent, &slice, &sibling] {
        assert_eq!(state_of(&xid, g), GpuState::Xid, "{}", g.name);
    }
    let on_slice = [firing(
        AlertKind::GpuHang,
        &[(HOST, "node-01"), (ID, "MIG-0")],
    )];
    assert_eq!(state_of(&on_slice, &slice), GpuState::Hang);
    assert_eq!(state_of(&on_slice, &parent), GpuState::Ok);
    assert_eq!(state_of(&on_slice, &sibling), GpuState::Ok);
}

#[test]
fn only_firing_alerts_count() {
    let g = gpu("node-01", 0, Some(0.9), None);
    let labels = [(HOST, "node-01"), (ID, "GPU-node-01-0")];
    for (state, want) in [
        (AlertState::Firing, GpuState::Xid),
        (AlertState::Pending, GpuState::Ok),
        (AlertState::Resolved, GpuState::Ok),
    ] {
        let alerts = [alert(AlertKind::GpuXid, state, &labels)];
        assert_eq!(state_of(&alerts, &g), want, "{state:?}");
    }
}

#[test]
fn absent_nodes_by_alert_or_by_silence() {
    let mut gpus = vec![
        gpu("node-01", 0, Some(0.9), None),
        gpu("node-01", 1, Some(0.0), None),
        gpu("node-02", 0, Some(0.9), None),
        gpu("node-03", 0, Some(0.9), None),
        gpu("node-03", 1, Some(0.9), None),
    ];
    // node-03 fell silent 40 s before the newest point; one GPU of node-01 did too,
    // which does not make node-01 absent.
    gpus[1].last_seen_unix_ms -= 40_000;
    gpus[3].last_seen_unix_ms -= 40_000;
    gpus[4].last_seen_unix_ms -= 40_000;
    let alerts = [
        firing(AlertKind::NodeAbsent, &[(HOST, "node-02")]),
        // ABSENT outranks what was firing when the node went quiet.
        firing(
            AlertKind::GpuXid,
            &[(HOST, "node-02"), (ID, "GPU-node-02-0")],
        ),
        // A resolved node_absent changes nothing.
        alert(
            AlertKind::NodeAbsent,
            AlertState::Resolved,
            &[(HOST, "node-01")],
        ),
    ];
    let index = StateIndex::new(&alerts);
    let got = states(&gpus, &index, Some(10_000), 15_000);
    use GpuState::{Absent, Idle, Ok};
    assert_eq!(got, [Ok, Idle, Absent, Absent, Absent]);
    // With no newest point nothing is silent.
    let got = states(&gpus, &StateIndex::default(), None, 15_000);
    assert_eq!(got, [Ok, Idle, Ok, Ok, Ok]);
}
