#![no_main]
//! OTLP/JSON bodies, decoded as the HTTP receiver does, then stored.

mod common;

use gpuwatch_collector::otlp::collector::metrics::v1::ExportMetricsServiceRequest;

libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<ExportMetricsServiceRequest>(body) {
        let state = common::state();
        let outcome = state.ingest(&request);
        let store = state.store();
        assert_eq!(store.points_accepted(), outcome.accepted);
    }
});
