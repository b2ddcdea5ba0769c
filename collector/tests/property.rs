//! Random and mutated OTLP requests, as a hostile or broken sender would send them,
//! into the collector's decode and store (protobuf through the zero-copy reader, JSON
//! through serde): nothing panics, a body that does not parse stores nothing (the
//! receivers answer it 400), and for one that does, the store's counters move by
//! exactly the points the answer says were accepted and refused.
//!
//! A bounded number of cases (proptest's 256 per property), so it runs in the normal
//! test command; `fuzz/` has the open-ended cargo-fuzz targets.

mod common;

use gpuwatch_collector::config::CollectorSettings;
use gpuwatch_collector::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use gpuwatch_collector::CollectorState;
use proptest::prelude::*;
use prost::Message;

fn state() -> CollectorState {
    let s = CollectorSettings::ephemeral();
    CollectorState::new(s.store, s.alerts, s.cost)
}

/// Points accepted and refused so far, by the store's own counters.
fn counted(state: &CollectorState) -> (u64, u64) {
    let store = state.store();
    (store.points_accepted(), store.rejected_total())
}

/// A valid request to mutate: two hosts, GPUs, a point without a timestamp.
fn seed() -> Vec<u8> {
    let mut request = common::power_request("node-01", 4, 300.0);
    let mut other = common::power_request("node-02", 2, 100.0);
    if let Some(p) = other.resource_metrics[0].scope_metrics[0].metrics[0]
        .data
        .as_mut()
        .and_then(|d| match d {
            gpuwatch_collector::otlp::metrics::v1::metric::Data::Gauge(g) => {
                g.data_points.first_mut()
            }
            _ => None,
        })
    {
        p.time_unix_nano = 0;
    }
    request.resource_metrics.extend(other.resource_metrics);
    request.encode_to_vec()
}

fn check(state: &CollectorState, body: &[u8]) -> Result<(), TestCaseError> {
    let before = counted(state);
    match state.ingest_protobuf(body) {
        Ok(outcome) => {
            let after = counted(state);
            prop_assert_eq!(after.0 - before.0, outcome.accepted);
            prop_assert_eq!(after.1 - before.1, outcome.rejected_total());
        }
        Err(_) => prop_assert_eq!(counted(state), before, "a refused body stored something"),
    }
    Ok(())
}

proptest! {
    #[test]
    fn mutated_protobuf_requests(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut body = seed();
        for (at, byte) in flips {
            let i = at.index(body.len());
            body[i] = byte;
        }
        if truncate {
            body.truncate(cut.index(body.len() + 1));
        }
        let state = state();
        check(&state, &body)?;
        // The same body twice: still no panic, counters still add up.
        check(&state, &body)?;
    }

    #[test]
    fn random_protobuf_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&state(), &body)?;
    }

    #[test]
    fn mutated_json_requests(
        at in any::<prop::sample::Index>(),
        insert in "[\\[\\]{}\",:0-9a-zA-Z\\\\-]{0,8}",
    ) {
        let request = ExportMetricsServiceRequest::decode(seed().as_slice())
            .expect("the seed decodes");
        let mut text = serde_json::to_string(&request).expect("JSON");
        let mut i = at.index(text.len() + 1);
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        text.insert_str(i, &insert);
        let state = state();
        let before = counted(&state);
        match serde_json::from_str::<ExportMetricsServiceRequest>(&text) {
            Ok(request) => {
                let outcome = state.ingest(&request);
                let after = counted(&state);
                prop_assert_eq!(after.0 - before.0, outcome.accepted);
                prop_assert_eq!(after.1 - before.1, outcome.rejected_total());
            }
            Err(_) => prop_assert_eq!(counted(&state), before),
        }
    }
}
