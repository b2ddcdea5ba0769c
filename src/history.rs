//! History in the binary: the collector's minute rollups go to Parquet when the
//! `history` feature is built in and `[collector.history]` is enabled.

use gpuwatch_collector::detect::config::Reference;
use gpuwatch_collector::rollup::HistorySettings;
use gpuwatch_collector::{CollectorSettings, CollectorState, RunningCollector, StartError};
use gpuwatch_model::history::RollupSink;
use gpuwatch_model::AlertKind;

/// Starts the collector with its history sink, when there is one, and the drift
/// references that come from history.
pub async fn start_collector(s: &CollectorSettings) -> Result<RunningCollector, StartError> {
    let collector = gpuwatch_collector::start_with_history(s, sink(&s.history)).await?;
    seed_drift_references(s, &collector.state());
    Ok(collector)
}

/// The drift detectors whose `reference` is a date range of history: `(kind, from, to)`.
fn history_references(s: &CollectorSettings) -> Vec<(AlertKind, i64, i64)> {
    [
        (AlertKind::ModelDrift, &s.alerts.model_drift),
        (AlertKind::LatencyRegression, &s.alerts.latency_regression),
    ]
    .into_iter()
    .filter_map(|(kind, d)| match d.reference {
        Reference::History { from, to } => Some((kind, from, to)),
        _ => None,
    })
    .collect()
}

/// Reads the histograms of every model over each date range from history and hands
/// them to the detectors as their references.
#[cfg(feature = "history")]
fn seed_drift_references(s: &CollectorSettings, state: &CollectorState) {
    use gpuwatch_model::names::metric;
    for (kind, from, to) in history_references(s) {
        let window = gpuwatch_history::Window { from, to };
        let refs = match gpuwatch_history::reference::references(&s.history.dir, None, window) {
            Ok(refs) => refs,
            Err(e) => {
                tracing::warn!("{kind}: cannot read its reference from history: {e}");
                continue;
            }
        };
        let mut seeded = 0;
        for (model, h) in refs {
            let (of, what) = match h.metric.as_str() {
                metric::MODEL_PREDICTION => (AlertKind::ModelDrift, "prediction".to_string()),
                metric::MODEL_FEATURE => match h.feature {
                    Some(f) => (AlertKind::ModelDrift, f),
                    None => continue,
                },
                m => (AlertKind::LatencyRegression, m.to_string()),
            };
            if of == kind
                && state.seed_drift_reference(kind, &model, &what, from, h.bounds, h.buckets)
            {
                seeded += 1;
            }
        }
        if seeded == 0 {
            tracing::warn!(
                "{kind}: history in {} holds no model histograms in its reference range; \
                 nothing to compare with",
                s.history.dir.display()
            );
        } else {
            tracing::info!("{kind}: {seeded} references read from history");
        }
    }
}

#[cfg(not(feature = "history"))]
fn seed_drift_references(s: &CollectorSettings, _: &CollectorState) {
    for (kind, _, _) in history_references(s) {
        tracing::warn!(
            "{kind}: its reference is a date range of history, but this gpuwatch was built \
             without the `history` feature; nothing to compare with"
        );
    }
}

#[cfg(feature = "history")]
fn sink(h: &HistorySettings) -> Option<Box<dyn RollupSink>> {
    if !h.enabled {
        return None;
    }
    match gpuwatch_history::ParquetSink::open(&h.dir, h.retention, h.max_bytes) {
        Ok(sink) => {
            tracing::info!("history: minute rollups go to {}", h.dir.display());
            Some(Box::new(sink))
        }
        Err(e) => {
            tracing::error!(
                "history: cannot open {}: {e}; no history is kept (set collector.history.dir)",
                h.dir.display()
            );
            None
        }
    }
}

#[cfg(not(feature = "history"))]
fn sink(h: &HistorySettings) -> Option<Box<dyn RollupSink>> {
    if h.enabled {
        tracing::warn!(
            "collector.history is enabled but this gpuwatch was built without the `history` \
             feature; no history is kept"
        );
    }
    None
}

/// What `report` and `drift` say in a build without the `reports` feature.
#[cfg(not(feature = "reports"))]
pub fn needs_reports(command: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "`gpuwatch {command}` reads Parquet with polars, which this gpuwatch was built \
         without (it makes a first build on two cores about 11 minutes instead of 3): \
         install with `cargo install --path . --features reports`, or run it from the \
         checkout with `cargo run --release --features reports -- {command} ...`"
    )
}
