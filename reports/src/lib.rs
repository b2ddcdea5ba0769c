//! gpuwatch reports: cost and usage reports over the collector's Parquet history
//! (written by `gpuwatch-history`) with polars lazy queries, and the offline drift
//! report between two CSV or Parquet files.
//!
//! Only the binary's `reports` feature brings this crate (and polars, most of a release
//! build's time) in; the collector and the agent never need it.

pub mod drift;
pub mod report;

/// What can go wrong reading history or the files of a drift report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    History(#[from] gpuwatch_history::HistoryError),
    #[error("{0}")]
    Polars(#[from] polars::error::PolarsError),
    #[error("{0}")]
    Invalid(String),
}

impl ReportError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
