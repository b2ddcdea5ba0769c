//! Reads for the JSON API that need the detectors' settings as well as the store.

use gpuwatch_model::api::{GpuDetailResponse, InferenceResponse};
use gpuwatch_model::names::attr;

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
        let mut out = view::inference(&store, latency.window, t, &quantiles, &scores);
        for model in &mut out.models {
            model.not_judged = eval
                .not_judged
                .iter()
                .filter(|n| n.labels.get(attr::MODEL) == Some(&model.model))
                .map(|n| n.to_api())
                .collect();
        }
        out
    }

    /// The GPU `id` of `node` in detail (`view::gpu_detail`), with what the detectors
    /// could not judge of it at the newest evaluation.
    pub fn gpu_detail(
        &self,
        node: &str,
        id: &str,
        window: i64,
        steps: usize,
    ) -> Option<GpuDetailResponse> {
        // Read, and let go of, before the store is taken for the charts: evaluation
        // waits on neither longer than it must.
        let not_judged = lock(&self.alerts)
            .not_judged
            .iter()
            .filter(|n| {
                n.labels.get(attr::HOST_NAME).map(String::as_str) == Some(node)
                    && n.labels.get(attr::HW_ID).map(String::as_str) == Some(id)
            })
            .map(|n| n.to_api())
            .collect();
        let mut out = view::gpu_detail(&self.store(), node, id, window, steps)?;
        out.not_judged = not_judged;
        Some(out)
    }
}
