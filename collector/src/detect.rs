//! Detectors: pure functions over the store at an event time `t`, each returning what
//! it finds. Thresholds and windows come from `[collector.alerts]`; the `alerts`
//! module turns findings into pending, firing and resolved alerts.

mod absent;
mod bottleneck;
pub mod config;
pub mod drift;
pub mod fabric;
mod hang;
mod skew;
mod stall;
mod straggler;
mod throttle;
pub(crate) mod window;
mod xid;

use gpuwatch_model::Finding;

pub use config::{AlertSettings, AlertsConfig};

use crate::store::Store;

/// Every detector at event time `t` (Unix nanoseconds). `references` holds the frozen
/// drift references, which the drift detectors complete as time goes on.
pub fn evaluate(
    store: &Store,
    s: &AlertSettings,
    references: &mut drift::DriftReferences,
    t: i64,
) -> Vec<Finding> {
    let mut out = fabric::evaluate(store, &s.fabric_degraded, t);
    // A straggler's summary names its node's degraded ports.
    let degraded = fabric::degraded_ports(&out);
    out.extend(hang::evaluate(store, &s.gpu_hang, t));
    out.extend(stall::evaluate(store, &s.gpu_stalled, t));
    out.extend(straggler::evaluate(store, &s.gpu_straggler, &degraded, t));
    out.extend(bottleneck::evaluate(store, &s.data_bottleneck, t));
    out.extend(throttle::evaluate(store, &s.gpu_throttle, t));
    out.extend(xid::evaluate(store, &s.gpu_xid, t));
    out.extend(absent::evaluate(store, s.node_absent_after, t));
    out.extend(skew::evaluate(store, &s.clock_skew, s.node_absent_after, t));
    out.extend(drift::evaluate(
        store,
        &s.model_drift,
        &s.latency_regression,
        references,
        t,
    ));
    out
}
