//! Reads for the JSON API that need the detectors' settings as well as the store.

use gpuwatch_model::api::InferenceResponse;

use super::{lock, CollectorState};
use crate::detect::drift;
use crate::view;

impl CollectorState {
    /// Each served model: request rate, latency and time-to-first-token quantiles over
    /// the latency-regression window, and drift scores, at the newest point.
    pub fn inference(&self) -> InferenceResponse {
        let eval = lock(&self.alerts);
        let store = self.store();
        let (drift_settings, latency) = (
            &eval.settings.model_drift,
            &eval.settings.latency_regression,
        );
        let Some(t) = store.newest_ts() else {
            return view::inference(&store, latency.window, 0, &[], &[]);
        };
        let quantiles = drift::latency_quantiles(&store, latency.window, t);
        let scores = drift::scores(&store, drift_settings, latency, &eval.references, t);
        view::inference(&store, latency.window, t, &quantiles, &scores)
    }
}
