// Each target uses part of it.
#![allow(dead_code)]

//! What the OTLP targets share: a fresh collector state, and the check that a body
//! either stores nothing or moves the store's counters by what the answer says.

use gpuwatch_collector::{CollectorSettings, CollectorState};

pub fn state() -> CollectorState {
    let s = CollectorSettings::ephemeral();
    CollectorState::new(s.store, s.alerts, s.cost)
}

fn counted(state: &CollectorState) -> (u64, u64) {
    let store = state.store();
    (store.points_accepted(), store.rejected_total())
}

/// Stores `body` (OTLP protobuf) and checks the counters.
pub fn protobuf(body: &[u8]) {
    let state = state();
    let before = counted(&state);
    match state.ingest_protobuf(body) {
        Ok(outcome) => {
            let after = counted(&state);
            assert_eq!(after.0 - before.0, outcome.accepted);
            assert_eq!(after.1 - before.1, outcome.rejected_total());
        }
        Err(_) => assert_eq!(counted(&state), before),
    }
}
