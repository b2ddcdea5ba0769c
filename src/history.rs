//! History in the binary: the collector's minute rollups go to Parquet when the
//! `history` feature is built in and `[collector.history]` is enabled.

use gpuwatch_collector::rollup::HistorySettings;
use gpuwatch_collector::{CollectorSettings, RunningCollector, StartError};
use gpuwatch_model::history::RollupSink;

/// Starts the collector with its history sink, when there is one.
pub async fn start_collector(s: &CollectorSettings) -> Result<RunningCollector, StartError> {
    gpuwatch_collector::start_with_history(s, sink(&s.history)).await
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

/// What `report` and `drift` say in a build without the feature.
#[cfg(not(feature = "history"))]
pub fn needs_feature(command: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "`gpuwatch {command}` needs a gpuwatch built with the `history` feature (the default; \
         this one was built with --no-default-features)"
    )
}
