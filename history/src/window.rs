//! The window a report or a reference covers, and what rows hold.

use std::path::Path;

use gpuwatch_model::history::{GpuMinuteCost, MINUTE_NS};

use crate::layout::{self, Table};
use crate::{table, HistoryError};

/// The window of a report, `[from, to)` in Unix nanoseconds, on minute starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub to: i64,
}

impl Window {
    /// The `length` (nanoseconds) before `to`, or before the end of the newest minute
    /// in history when `to` is `None`. `None` when there is no history.
    pub fn ending(
        root: &Path,
        length: i64,
        to: Option<i64>,
    ) -> Result<Option<Window>, HistoryError> {
        let to = match to {
            Some(t) => Some(t.div_euclid(MINUTE_NS) * MINUTE_NS),
            None => newest_minute(root)?.map(|m| m + MINUTE_NS),
        };
        Ok(to.map(|to| Window {
            from: to.saturating_sub(length),
            to,
        }))
    }

    pub fn contains(&self, minute: i64) -> bool {
        minute >= self.from && minute < self.to
    }
}

/// Start of the newest minute in the cost table.
pub fn newest_minute(root: &Path) -> Result<Option<i64>, HistoryError> {
    let dir = Table::Cost.dir(root);
    let Some((_, hour)) = layout::hours(&dir)?.into_iter().next_back() else {
        return Ok(None);
    };
    let mut newest = None;
    for file in hour.files() {
        let rows: Vec<GpuMinuteCost> = table::read(&file, Some(&["minute"]))?;
        newest = newest.max(rows.iter().map(|r| r.minute).max());
    }
    Ok(newest)
}

/// The value of `key` in `labels` (`key=value` pairs joined by `,`).
pub fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels
        .split(',')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}
