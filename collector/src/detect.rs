//! Detectors: pure functions over the store at an event time `t`, each returning what
//! it finds. Thresholds and windows come from `[collector.alerts]`; the `alerts`
//! module turns findings into pending, firing and resolved alerts.

mod absent;
mod bottleneck;
pub mod config;
pub mod detector;
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
pub use detector::{Detector, Evaluation, NotEnoughData};

use detector::{run, Context};

use crate::store::Store;

/// Every detector, in the order they run: `fabric_degraded` first, since a
/// straggler's summary names its node's degraded ports.
const DETECTORS: [Run; 10] = [
    run::<fabric::FabricDegraded>,
    run::<hang::GpuHang>,
    run::<stall::GpuStalled>,
    run::<straggler::GpuStraggler>,
    run::<bottleneck::DataBottleneck>,
    run::<throttle::GpuThrottle>,
    run::<xid::GpuXid>,
    run::<absent::NodeAbsent>,
    run::<skew::ClockSkew>,
    run::<drift::ModelDrift>,
];

type Run = fn(&mut Context<'_>, &AlertSettings) -> Evaluation;

/// Every detector at event time `t` (Unix nanoseconds): what they found and what they
/// could not judge. `references` holds the frozen drift references, which the drift
/// detectors complete as time goes on.
pub fn evaluate_all(
    store: &Store,
    s: &AlertSettings,
    references: &mut drift::DriftReferences,
    t: i64,
) -> Evaluation {
    let mut cx = Context {
        store,
        t,
        degraded: Default::default(),
        references,
    };
    let mut out = Evaluation::default();
    for detector in DETECTORS {
        out.extend(detector(&mut cx, s));
    }
    out
}

/// What every detector finds at event time `t`.
pub fn evaluate(
    store: &Store,
    s: &AlertSettings,
    references: &mut drift::DriftReferences,
    t: i64,
) -> Vec<Finding> {
    evaluate_all(store, s, references, t).findings
}
