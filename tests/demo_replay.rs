//! The demo's fault schedule, end to end in event time: simulated nodes with
//! `FaultSchedule::demo` are sampled once a simulated second from a past instant and
//! exported through the agent's real OTLP exporter to a real collector over loopback.
//! Sixteen minutes of cluster take seconds. Exactly the alerts the schedule promises
//! fire, at their times, and none on the nodes without faults.

use std::collections::BTreeMap;
use std::time::Duration;

use gpuwatch::demo::node_name;
use gpuwatch_agent::{
    demo_profiles, AgentConfig, FaultSchedule, OtlpExporter, Sampler, SimulatedSampler,
};
use gpuwatch_collector::CollectorSettings;
use gpuwatch_model::api::AlertsResponse;
use gpuwatch_model::{AlertKind, AlertState};

/// 2026-11-28T10:00:00Z.
const T0: u64 = 1_795_860_000;
/// The demo layout's first ten nodes: faults on nodes 0-5, nodes 6 and 7 healthy,
/// job 4811 on nodes 8 and 9 starved by NFS.
const NODES: usize = 10;
const GPUS: usize = 4;
/// Simulated seconds.
const SECONDS: u64 = 960;
/// When `idle_gpu_cost` fires for job 4502: $1 at 2 × $4/h is 450 s of idle, from the
/// first evaluation step that accrues.
const IDLE_COST_AT: i64 = 450;

/// (kind, where) -> (state, seconds after T0 it started firing)
type Fired = BTreeMap<(AlertKind, String), (AlertState, i64)>;

/// Replays the demo's schedule; node `i` stamps its samples `skew(i)` seconds off the
/// true time (a clock that runs ahead, or behind when negative). Returns every alert.
async fn replay(skew: impl Fn(usize) -> i64) -> AlertsResponse {
    let mut settings = CollectorSettings::ephemeral();
    // Node 3's two reserved, idle H100s ($4/h each) pass $1 of idle spend after 7.5
    // minutes; the default $10 takes 75.
    settings.cost.idle_alert_usd = 1.0;
    let collector = gpuwatch_collector::start(&settings)
        .await
        .expect("collector starts");
    let mut nodes = Vec::new();
    for i in 0..NODES {
        let settings = AgentConfig {
            collector: format!("http://{}", collector.otlp_http),
            host_name: node_name(i),
            ..AgentConfig::default()
        }
        .validate()
        .expect("valid agent settings");
        let exporter = OtlpExporter::new(settings.exporter_settings("test")).expect("exporter");
        let sampler = SimulatedSampler::new(i, demo_profiles(i, GPUS), 7)
            .with_faults(FaultSchedule::demo(i, GPUS));
        nodes.push((sampler, exporter, skew(i)));
    }
    for s in 0..=SECONDS {
        for (sampler, exporter, skew) in &mut nodes {
            let at = (T0 + s).saturating_add_signed(*skew);
            let sample = sampler
                .sample(gpuwatch_model::Timestamp::from_unix_nanos_u64(
                    at * 1_000_000_000,
                ))
                .expect("simulated sample");
            let io = sampler.take_host_io();
            exporter
                .export_with(&sample, io.as_ref())
                .await
                .expect("exported");
        }
    }
    let state = collector.state();
    while !state.evaluate().1 {}

    let all: AlertsResponse =
        reqwest::get(format!("http://{}/api/v1/alerts?state=all", collector.api))
            .await
            .expect("api")
            .json()
            .await
            .expect("json");
    collector.shutdown(Duration::from_secs(5)).await;
    all
}

/// Every alert by kind and where, with its state and when it fired.
fn fired(all: &AlertsResponse) -> Fired {
    let mut got = Fired::new();
    for a in &all.alerts {
        let at = [
            "host.name",
            "hw.name",
            "gpuwatch.job.id",
            "gpuwatch.team",
            "gpuwatch.model",
            "gpuwatch.feature",
            "gpuwatch.metric",
        ]
        .iter()
        .filter_map(|k| a.labels.get(*k).cloned())
        .collect::<Vec<_>>()
        .join(" ");
        let started = a.started_at.0 / 1_000_000_000 - T0 as i64;
        let old = got.insert((a.kind, at.clone()), (a.state, started));
        assert!(old.is_none(), "{:?} {at} fired twice", a.kind);
    }
    got
}

/// What the demo's schedule promises.
fn promised() -> Fired {
    let mut want = Fired::new();
    let mut expect = |kind, at: &str, state, secs| {
        want.insert((kind, at.to_string()), (state, secs));
    };
    use AlertKind::*;
    use AlertState::*;
    // Times are event seconds after the first sample, give or take the 5 s evaluation
    // step; see the table on `FaultSchedule`.
    // Node 0 (job 4411): gpu3 (the last of four) straggles from 30 s at half the NVLink
    // rate of its peers: the 5-minute window fills by ~65 s, then `for` 5 min.
    expect(GpuStraggler, "node-00 gpu3 4411", Firing, 365);
    // Node 0: gpu3's InfiniBand port (mlx5_3:1) trains down to 200 Gb/s at 30 s: below
    // its peers at once, then `for` 1 min.
    expect(FabricDegraded, "node-00", Firing, 90);
    // Node 1 (job 4411): XID 79 on gpu3 at 45 s fires at once; it ages out of the
    // 10-minute XID window and resolves.
    expect(GpuXid, "node-01 gpu3 4411", Resolved, 45);
    // Node 1: every GPU hangs from 90 s; the 1-minute window is idle from ~150 s, then
    // `for` 5 min. Half of job 4411 hangs, so one alert per GPU, none for the job.
    for g in 0..GPUS {
        expect(GpuHang, &format!("node-01 gpu{g} 4411"), Firing, 450);
    }
    // Node 2 (inference): gpu3 throttles from 60 s; 80% of the 1-minute window by
    // ~110 s, then `for` 5 min.
    expect(GpuThrottle, "node-02 gpu3 infer-llama-3.1-8b", Firing, 410);
    // Node 2: from 420 s its model drifts and slows. The frozen references are 60-360 s;
    // the current 5-minute window moves past PSI 0.2 / JS 0.1 within a minute or two,
    // then `for` 5 min.
    expect(ModelDrift, "llama-3.1-8b prompt_tokens", Firing, 770);
    expect(ModelDrift, "llama-3.1-8b prediction", Firing, 805);
    expect(
        LatencyRegression,
        "llama-3.1-8b gen_ai.server.request.duration",
        Firing,
        795,
    );
    expect(
        LatencyRegression,
        "llama-3.1-8b gen_ai.server.time_to_first_token",
        Firing,
        795,
    );
    expect(
        LatencyRegression,
        "llama-3.1-8b gen_ai.server.time_per_output_token",
        Firing,
        780,
    );
    // Nodes 3 and 7: jobs 4502 and 4702 reserve two GPUs each and leave them idle from
    // the start (the layout, not a fault: node 7 has no faults).
    expect(IdleGpuCost, "4502", Firing, IDLE_COST_AT);
    expect(IdleGpuCost, "4702", Firing, IDLE_COST_AT);
    // Node 3: its last GPU (free) gets a process holding memory at 60 s: `for` 10 min.
    expect(GpuStalled, "node-03 gpu3", Firing, 660);
    // Nodes 4 and 5 (job 4611): storage- and CPU-bound input from 60 s.
    expect(DataBottleneck, "node-04", Firing, 430);
    expect(DataBottleneck, "node-05", Firing, 460);
    // Nodes 8 and 9 (job 4811): input starved by the NFS mount from 60 s.
    expect(DataBottleneck, "node-08", Firing, 430);
    expect(DataBottleneck, "node-09", Firing, 430);
    want
}

/// Exactly `want` fired, each within one 5 s evaluation step of its time.
fn check(got: &Fired, want: &Fired) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the alerts that fired:\n{}",
        got.iter()
            .map(|(k, v)| format!("{k:?} {v:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for (key, (state, secs)) in want {
        let (got_state, got_secs) = got[key];
        assert_eq!(got_state, *state, "{key:?}");
        assert!(
            (got_secs - secs).abs() <= 5,
            "{key:?} fired at {got_secs} s, expected {secs} s"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_schedule_fires_exactly_its_alerts_on_time() {
    let all = replay(|_| 0).await;
    check(&fired(&all), &promised());
    let summary = |kind: AlertKind, node: &str| {
        all.alerts
            .iter()
            .find(|a| a.kind == kind && a.labels["host.name"] == node)
            .map(|a| (a.severity, a.summary.clone()))
            .expect("the alert")
    };
    // Each found with its cause, and the straggler's port named.
    let (severity, fabric) = summary(AlertKind::FabricDegraded, "node-00");
    assert_eq!(severity, gpuwatch_model::Severity::Warning);
    assert!(
        fabric.starts_with(
            "node-00 mlx5_3:1 (ib3): running at 200 Gb/s, rated 400 Gb/s; errors rising: symbol_error +"
        ),
        "{fabric}"
    );
    let (_, straggler) = summary(AlertKind::GpuStraggler, "node-00");
    assert!(
        straggler.contains("its node's fabric is degraded: mlx5_3:1 (running at 200 Gb/s"),
        "{straggler}"
    );
    for node in ["node-08", "node-09"] {
        let (_, starved) = summary(AlertKind::DataBottleneck, node);
        assert!(
            starved.contains("starved by storage") && starved.contains("NFS /datasets: RPCs queue"),
            "{starved}"
        );
    }
    // Nothing else on the nodes without faults: node 6 serves another model, node 7's
    // free GPUs are just free.
    for a in &all.alerts {
        let host = a.labels.get("host.name").map(String::as_str);
        assert!(
            !matches!(host, Some("node-06" | "node-07")),
            "healthy node alerted: {a:?}"
        );
    }
}

/// One wrong clock must not blind the collector: node 0 (a straggler, in job 4411 with
/// node 1, whose GPUs hang) runs three minutes ahead and healthy node 7 two minutes
/// behind. Every promised alert fires at its time as with right clocks, and the only
/// addition is one `clock_skew` for each of the two, fired once its `for` (2 min) has
/// passed from the first evaluation step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_clocks_add_one_clock_skew_each_and_change_nothing_else() {
    let all = replay(|i| match i {
        0 => 180,
        7 => -120,
        _ => 0,
    })
    .await;
    let got = fired(&all);
    let mut want = promised();
    // The first step is on the grid at the first point (node 7's, two minutes before
    // T0); the skew holds from there.
    for node in ["node-00", "node-07"] {
        want.insert(
            (AlertKind::ClockSkew, node.to_string()),
            (AlertState::Firing, 0),
        );
    }
    check(&got, &want);
    let skew = |node: &str| {
        all.alerts
            .iter()
            .find(|a| a.kind == AlertKind::ClockSkew && a.labels["host.name"] == node)
            .map(|a| (a.value, a.summary.clone()))
            .expect("a clock_skew alert")
    };
    let (ahead, summary) = skew("node-00");
    assert!((ahead - 180.0).abs() <= 1.0, "{ahead}: {summary}");
    assert!(summary.contains("ahead of the fleet"), "{summary}");
    let (behind, summary) = skew("node-07");
    assert!((behind + 120.0).abs() <= 1.0, "{behind}: {summary}");
    assert!(summary.contains("behind the fleet"), "{summary}");
}
