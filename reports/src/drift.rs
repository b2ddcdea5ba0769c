//! Offline data drift between two CSV or Parquet files, column by column, following
//! Evidently's defaults (`DataDriftPreset`):
//!
//! | column | reference rows <= 1000 | above |
//! |---|---|---|
//! | numeric, more than 5 distinct values | two-sample KS, drifted at p < 0.05 | Wasserstein over the reference's std, drifted at >= 0.1 |
//! | categorical, or numeric with at most 5 values | chi-squared (z-test with 2 values), drifted at p < 0.05 | Jensen–Shannon distance, drifted at >= 0.1 |
//!
//! Every numeric column also gets PSI over Sturges bins of both samples together, an
//! empty bin's share taken as 1e-4. The dataset drifts when at least half the columns do.

pub mod special;
pub mod stats;

use std::path::Path;

use polars::prelude::*;
use serde::Serialize;

use crate::ReportError;

/// Evidently's size above which the distance tests replace the statistical ones.
pub const SMALL_REFERENCE: usize = 1000;
/// Drifted when a test's p-value is below this...
pub const P_THRESHOLD: f64 = 0.05;
/// ...or a distance reaches this.
pub const DISTANCE_THRESHOLD: f64 = 0.1;
/// The dataset drifts when this share of its columns does.
pub const DRIFT_SHARE: f64 = 0.5;
/// Evidently's bins for Jensen–Shannon on numbers.
const JS_BINS: usize = 30;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnDrift {
    pub column: String,
    /// `ks`, `wasserstein`, `chisquare`, `z`, `jensenshannon`.
    pub test: &'static str,
    pub statistic: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi: Option<f64>,
    pub drifted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    pub columns: Vec<ColumnDrift>,
    pub dataset_drift: bool,
}

/// A CSV (header row, types inferred) or Parquet file, by its extension.
pub fn load(path: &Path) -> Result<DataFrame, ReportError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if ext == "parquet" || ext == "pq" {
        let file = std::fs::File::open(path).map_err(|e| ReportError::io(path, e))?;
        return Ok(ParquetReader::new(file).finish()?);
    }
    if !path.exists() {
        return Err(ReportError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    Ok(CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(10_000))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))?
        .finish()?)
}

enum Values {
    Numbers(Vec<f64>),
    Categories(Vec<String>),
}

fn values(df: &DataFrame, name: &str, numeric: bool) -> Result<Values, ReportError> {
    let c = df.column(name)?;
    if numeric {
        let c = c.cast(&DataType::Float64)?;
        Ok(Values::Numbers(
            c.f64()?
                .iter()
                .flatten()
                .filter(|v| v.is_finite())
                .collect(),
        ))
    } else {
        let c = c.cast(&DataType::String)?;
        Ok(Values::Categories(
            c.str()?.iter().flatten().map(str::to_string).collect(),
        ))
    }
}

fn distinct(values: impl Iterator<Item = f64>) -> usize {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v.len()
}

/// PSI over Sturges bins of both samples together.
fn psi(reference: &[f64], current: &[f64]) -> f64 {
    let edges = stats::bin_edges(
        reference,
        current,
        stats::sturges_bins(reference.len() + current.len()),
    );
    stats::psi(
        &stats::shares(reference, &edges),
        &stats::shares(current, &edges),
    )
}

fn by_p(column: &str, test: &'static str, (statistic, p): (f64, f64)) -> ColumnDrift {
    ColumnDrift {
        column: column.to_string(),
        test,
        statistic,
        p_value: Some(p),
        psi: None,
        drifted: p < P_THRESHOLD,
    }
}

fn by_distance(column: &str, test: &'static str, statistic: f64) -> ColumnDrift {
    ColumnDrift {
        column: column.to_string(),
        test,
        statistic,
        p_value: None,
        psi: None,
        drifted: statistic >= DISTANCE_THRESHOLD,
    }
}

fn categorical(column: &str, reference: &[&str], current: &[&str]) -> Option<ColumnDrift> {
    let counts = stats::category_counts(reference, current);
    if reference.len() <= SMALL_REFERENCE {
        return Some(if counts.len() > 2 {
            by_p(column, "chisquare", stats::chi_square(&counts)?)
        } else {
            by_p(column, "z", stats::z_test(&counts)?)
        });
    }
    let (nr, nc) = (reference.len() as f64, current.len() as f64);
    let p: Vec<f64> = counts.iter().map(|(_, r, _)| r / nr).collect();
    let q: Vec<f64> = counts.iter().map(|(_, _, c)| c / nc).collect();
    Some(by_distance(
        column,
        "jensenshannon",
        stats::jensen_shannon(&p, &q),
    ))
}

fn numeric(column: &str, reference: &[f64], current: &[f64]) -> Option<ColumnDrift> {
    if reference.is_empty() || current.is_empty() {
        return None;
    }
    let n_values = distinct(reference.iter().chain(current).copied());
    let mut out = if n_values > 5 {
        if reference.len() <= SMALL_REFERENCE {
            by_p(column, "ks", stats::ks_2samp(reference, current)?)
        } else {
            let w = stats::wasserstein_normed(reference, current)?;
            by_distance(column, "wasserstein", w)
        }
    } else if reference.len() <= SMALL_REFERENCE {
        // Few values: compared as categories, as Evidently does.
        let fmt = |v: &[f64]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (r, c) = (fmt(reference), fmt(current));
        let r: Vec<&str> = r.iter().map(String::as_str).collect();
        let c: Vec<&str> = c.iter().map(String::as_str).collect();
        categorical(column, &r, &c)?
    } else {
        let edges = stats::bin_edges(reference, current, JS_BINS);
        let js = stats::jensen_shannon(
            &stats::shares(reference, &edges),
            &stats::shares(current, &edges),
        );
        by_distance(column, "jensenshannon", js)
    };
    out.psi = Some(psi(reference, current));
    Some(out)
}

/// Compares `columns` (every column of the reference when empty) of two frames.
pub fn compare(
    reference: &DataFrame,
    current: &DataFrame,
    columns: &[String],
) -> Result<DriftReport, ReportError> {
    let names: Vec<String> = if columns.is_empty() {
        reference
            .get_column_names()
            .into_iter()
            .map(|n| n.to_string())
            .collect()
    } else {
        columns.to_vec()
    };
    let mut out = Vec::new();
    for name in &names {
        let (Ok(r), Ok(c)) = (reference.column(name), current.column(name)) else {
            return Err(ReportError::Invalid(format!(
                "column {name:?} is not in both files"
            )));
        };
        let numeric_column = r.dtype().is_primitive_numeric() && c.dtype().is_primitive_numeric();
        let drift = match (
            values(reference, name, numeric_column)?,
            values(current, name, numeric_column)?,
        ) {
            (Values::Numbers(r), Values::Numbers(c)) => numeric(name, &r, &c),
            (Values::Categories(r), Values::Categories(c)) => {
                let r: Vec<&str> = r.iter().map(String::as_str).collect();
                let c: Vec<&str> = c.iter().map(String::as_str).collect();
                categorical(name, &r, &c)
            }
            _ => None,
        };
        match drift {
            Some(d) => out.push(d),
            None => {
                return Err(ReportError::Invalid(format!(
                    "column {name:?} has no values to compare in one of the files"
                )))
            }
        }
    }
    let drifted = out.iter().filter(|c| c.drifted).count();
    let dataset_drift = !out.is_empty() && drifted as f64 >= DRIFT_SHARE * out.len() as f64;
    Ok(DriftReport {
        columns: out,
        dataset_drift,
    })
}
