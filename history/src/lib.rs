//! gpuwatch history: the collector's minute rollups kept as Parquet (one file per hour
//! and table, see `layout`), written and read back with the `parquet` crate alone, and
//! the drift references the collector reads from them at start.
//!
//! The binary's `history` feature (on by default) brings this crate in; the collector
//! hands its rollups to `ParquetSink` through `gpuwatch_model::history::RollupSink`.
//! Reports over days of history (`gpuwatch report`, `gpuwatch drift`) use polars, in
//! `gpuwatch-reports`, behind the binary's `reports` feature.

pub mod layout;
pub mod reference;
pub mod table;
mod window;
mod writer;

pub use window::{label, newest_minute, Window};
pub use writer::ParquetSink;

/// What can go wrong reading or writing history.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    File {
        path: String,
        source: parquet::errors::ParquetError,
    },
    #[error("{0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("{0}")]
    Invalid(String),
}

impl HistoryError {
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        HistoryError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn file(path: &std::path::Path, source: parquet::errors::ParquetError) -> Self {
        HistoryError::File {
            path: path.display().to_string(),
            source,
        }
    }
}
