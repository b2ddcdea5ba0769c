//! Distribution drift from histogram buckets: how far a current window's distribution
//! moved from a reference window's. The statistics follow Evidently's and NannyML's
//! conventions; the detectors that compare windows of `gpuwatch.model.*` and latency
//! histograms (`model_drift`, `latency_regression`) build on them.

pub mod stats;
