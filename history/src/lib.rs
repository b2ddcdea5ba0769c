//! gpuwatch history: the collector's minute rollups kept as Parquet (one file per hour
//! and table), cost and usage reports over them with polars lazy queries, and the
//! offline drift report between two CSV or Parquet files.
//!
//! Only the binary's `history` feature brings this crate (and polars) in; the collector
//! hands its rollups to `ParquetSink` through `gpuwatch_model::history::RollupSink`.

pub mod drift;
mod frame;
pub mod layout;
pub mod reference;
pub mod report;
mod writer;

pub use writer::ParquetSink;

/// What can go wrong reading or writing history.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Polars(#[from] polars::error::PolarsError),
    #[error("{0}")]
    Invalid(String),
}

impl HistoryError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        HistoryError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
