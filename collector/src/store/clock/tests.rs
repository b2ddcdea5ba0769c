use super::*;

const NODES: usize = 8;
/// 2026-12-06T00:00:00Z, wall time of the first request.
const WALL0: i64 = 1_796_515_200 * S;

/// Nodes taking turns, one request each per step of `step` event seconds, the way the
/// agents (or a replay) send: `clock(node, second)` gives each node's timestamp,
/// `wall(second)` the arrival.
struct Fleet {
    clocks: Clocks,
    ids: Vec<SourceId>,
}

impl Fleet {
    fn new(nodes: usize) -> Self {
        let mut clocks = Clocks::new(900 * S);
        let ids = (0..nodes)
            .map(|i| clocks.source(SourceKind::Node, &format!("node-{i:02}")))
            .collect();
        Fleet { clocks, ids }
    }

    /// One request from `node` arriving at `wall` with points up to `ts`.
    fn send(&mut self, node: usize, wall: i64, ts: i64) {
        self.clocks.begin(wall);
        self.clocks.observe(Some(self.ids[node]), ts);
        self.clocks.end();
    }

    /// Seconds `from..to` of event time, every node each second, in order.
    fn run(
        &mut self,
        seconds: std::ops::Range<i64>,
        clock: impl Fn(usize, i64) -> Option<i64>,
        wall: impl Fn(i64) -> i64,
    ) {
        for s in seconds {
            for node in 0..self.ids.len() {
                if let Some(ts) = clock(node, s) {
                    self.send(node, wall(s), ts);
                }
            }
        }
    }

    fn skews_at(&self, t: i64) -> Vec<i64> {
        let mut by_name: Vec<(String, i64)> = self
            .clocks
            .sources_at(t)
            .map(|s| (s.name.to_string(), s.skew / S))
            .collect();
        by_name.sort();
        by_name.into_iter().map(|(_, s)| s).collect()
    }
}

/// A replay: event time two days back, sent 500 times faster than real time.
const PAST: i64 = WALL0 - 2 * 86_400 * S;
fn replay_wall(s: i64) -> i64 {
    WALL0 + s * S / 500
}

#[test]
fn a_replay_far_in_the_past_keeps_every_skew_at_zero() {
    for wall in [replay_wall as fn(i64) -> i64, |s| WALL0 + s * S] {
        let mut f = Fleet::new(NODES);
        f.run(0..600, |_, s| Some(PAST + s * S), wall);
        assert_eq!(f.skews_at(PAST + 300 * S), vec![0; NODES]);
        assert_eq!(f.clocks.fleet_now(), Some(PAST + 599 * S));
        // No change point other than the healthy first judgement.
        assert!(f.clocks.sources.iter().all(|s| s.skews.len() == 1));
    }
}

#[test]
fn skewed_nodes_ahead_and_behind_are_measured_and_leave_now_alone() {
    // (node, seconds ahead) for the skewed ones; the rest are right.
    for (node, ahead) in [(7, 180), (0, 180), (3, -180), (5, 45), (2, -40)] {
        let mut f = Fleet::new(NODES);
        let clock = |n: usize, s: i64| Some(PAST + (s + if n == node { ahead } else { 0 }) * S);
        f.run(0..300, clock, replay_wall);
        let mut want = vec![0; NODES];
        want[node] = ahead;
        let got = f.skews_at(PAST + 200 * S);
        // Taking turns costs at most one step of precision.
        assert!(
            got.iter().zip(&want).all(|(g, w)| (g - w).abs() <= 1),
            "node {node} {ahead}s: {got:?}"
        );
        // "Now" is the fleet's, not the node that runs ahead.
        assert_eq!(f.clocks.fleet_now().map(|t| (t - PAST) / S), Some(299));
        // On its own clock the node is where its points are.
        let local = f.clocks.local_time(Some(f.ids[node]), PAST + 299 * S);
        assert!(((local - PAST) / S - (299 + ahead)).abs() <= 1);
    }
}

#[test]
fn a_skewed_node_among_a_gateways_batch_is_told_apart() {
    // One request carries every node (an OpenTelemetry Collector gateway).
    let mut f = Fleet::new(NODES);
    for s in 0..120 {
        f.clocks.begin(WALL0 + s * S);
        for (n, &id) in f.ids.iter().enumerate() {
            let ahead = if n == 4 { 120 } else { 0 };
            f.clocks.observe(Some(id), PAST + (s + ahead) * S);
        }
        f.clocks.end();
    }
    assert_eq!(f.skews_at(PAST + 100 * S), vec![0, 0, 0, 0, 120, 0, 0, 0]);
}

#[test]
fn a_spooled_backlog_delivered_late_leaves_no_skew() {
    // Node 2 is cut off from 100 s to 400 s of event time, then sends its queue
    // oldest first at ten requests a second (the agent's drain), then live data.
    let mut f = Fleet::new(NODES);
    let wall = |s: i64| WALL0 + s * S;
    f.run(0..100, |_, s| Some(PAST + s * S), wall);
    let mut backlog = (100..400).peekable();
    for s in 100..500 {
        for n in 0..NODES {
            if n != 2 {
                f.send(n, wall(s), PAST + s * S);
            } else if s >= 400 {
                // Ten queued requests a second, then its live one once drained.
                for _ in 0..10 {
                    if let Some(old) = backlog.next() {
                        f.send(n, wall(s), PAST + old * S);
                    }
                }
                if backlog.peek().is_none() {
                    f.send(n, wall(s), PAST + s * S);
                }
            }
        }
    }
    // Drained by 430 s: from a few live requests on its skew is 0 again, and it
    // stays so.
    assert_eq!(f.skews_at(PAST + 499 * S), vec![0; NODES]);
    assert_eq!(f.clocks.sources[f.ids[2] as usize].skew_now(), 0);
    // Before the outage it was 0 too.
    assert_eq!(f.skews_at(PAST + 50 * S)[2], 0);
}

#[test]
fn a_clock_that_is_fixed_is_followed_within_three_requests() {
    let mut f = Fleet::new(NODES);
    let ahead = |n: usize, s: i64| if n == 1 && s < 200 { 90 } else { 0 };
    f.run(
        0..210,
        |n, s| Some(PAST + (s + ahead(n, s)) * S),
        replay_wall,
    );
    assert!((f.skews_at(PAST + 150 * S)[1] - 90).abs() <= 1);
    assert_eq!(f.skews_at(PAST + 209 * S)[1], 0);
}

#[test]
fn two_senders_cannot_tell_who_is_wrong() {
    let mut f = Fleet::new(2);
    f.run(
        0..60,
        |n, s| Some(PAST + (s + 100 * n as i64) * S),
        replay_wall,
    );
    assert_eq!(f.skews_at(PAST), vec![0, 0]);
    // Unjudged, the newest point is "now", as it always was.
    assert_eq!(f.clocks.fleet_now(), Some(PAST + 159 * S));
}

#[test]
fn senders_that_stopped_do_not_vote() {
    // Five of eight nodes go silent at 100 s; 40 s of wall time later the three left
    // are the fleet, and their clocks still read right.
    let mut f = Fleet::new(NODES);
    f.run(
        0..300,
        |n, s| (n < 3 || s < 100).then_some(PAST + s * S),
        |s| WALL0 + s * S,
    );
    for t in (0..300).step_by(10) {
        assert_eq!(f.skews_at(PAST + t * S)[..3], [0, 0, 0], "at {t} s");
    }
}

#[test]
fn the_skew_in_force_at_an_instant_is_the_one_measured_then() {
    let mut f = Fleet::new(NODES);
    let ahead = |n: usize, s: i64| if n == 6 && s >= 100 { 60 } else { 0 };
    f.run(
        0..200,
        |n, s| Some(PAST + (s + ahead(n, s)) * S),
        replay_wall,
    );
    assert_eq!(f.skews_at(PAST + 50 * S)[6], 0);
    assert!((f.skews_at(PAST + 150 * S)[6] - 60).abs() <= 1);
}
