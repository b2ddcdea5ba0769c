//! Where history lives on disk. Under the data directory, one folder per table
//! (`series/`, `cost/`, `cost_hours/`); in each, one file per hour,
//! `2026-11-30T11.parquet`. The hour being written of `series/` and `cost/` is kept as
//! one file per minute, `2026-11-30T11.m07.parquet`, until the hour is over and they are
//! compacted into the hour's file. `cost_hours/` holds the sums of a compacted `cost/`
//! hour, written after its hour's file and before its minutes are removed. Every file
//! is written to a `.tmp` name and renamed, so a crash leaves either the old files or
//! the new one, never half a file. Readers take an hour's file when it exists, else its
//! minutes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gpuwatch_model::history::{hour_name, parse_hour_name, MINUTE_NS};

use crate::HistoryError;

/// The tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `SeriesMinute` rows.
    Series,
    /// `GpuMinuteCost` rows.
    Cost,
    /// An hour of `Cost` summed per GPU, job and team (hour files only; none for the
    /// hour being written, nor for hours compacted before this table existed).
    CostHours,
}

impl Table {
    pub fn dir(self, root: &Path) -> PathBuf {
        root.join(match self {
            Table::Series => "series",
            Table::Cost => "cost",
            Table::CostHours => "cost_hours",
        })
    }
}

/// One hour of one table on disk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hour {
    /// The compacted file, when the hour is over.
    pub file: Option<PathBuf>,
    /// `(minute start, file)` of an hour still being written, in order.
    pub minutes: Vec<(i64, PathBuf)>,
}

impl Hour {
    /// The files a reader should take.
    pub fn files(&self) -> Vec<PathBuf> {
        match &self.file {
            Some(f) => vec![f.clone()],
            None => self.minutes.iter().map(|(_, p)| p.clone()).collect(),
        }
    }

    /// Every file, also minutes already compacted (for deleting).
    pub fn all_files(&self) -> impl Iterator<Item = &PathBuf> {
        self.file.iter().chain(self.minutes.iter().map(|(_, p)| p))
    }
}

pub fn hour_file(dir: &Path, hour: i64) -> PathBuf {
    dir.join(format!("{}.parquet", hour_name(hour)))
}

pub fn minute_file(dir: &Path, minute: i64) -> PathBuf {
    let m = minute.rem_euclid(3600 * 1_000_000_000) / MINUTE_NS;
    dir.join(format!("{}.m{m:02}.parquet", hour_name(minute)))
}

/// The hours of a table's folder, oldest first; none when it does not exist.
pub fn hours(dir: &Path) -> Result<BTreeMap<i64, Hour>, HistoryError> {
    let mut out: BTreeMap<i64, Hour> = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(HistoryError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| HistoryError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".parquet") else {
            continue;
        };
        let Some(hour) = parse_hour_name(stem) else {
            continue;
        };
        let slot = out.entry(hour).or_default();
        match stem.get(13..) {
            Some("") => slot.file = Some(entry.path()),
            Some(rest) => {
                let Some(m) = rest.strip_prefix(".m").and_then(|m| m.parse::<i64>().ok()) else {
                    continue;
                };
                slot.minutes.push((hour + m * MINUTE_NS, entry.path()));
            }
            None => {}
        }
    }
    for h in out.values_mut() {
        h.minutes.sort();
    }
    Ok(out)
}

/// The files holding minutes in `[from, to)`, by the hours they are in.
pub fn files_between(dir: &Path, from: i64, to: i64) -> Result<Vec<PathBuf>, HistoryError> {
    let hour_ns = 60 * MINUTE_NS;
    Ok(hours(dir)?
        .into_iter()
        .filter(|(h, _)| *h + hour_ns > from && *h < to)
        .flat_map(|(_, h)| h.files())
        .collect())
}

/// Writes `bytes` through a `.tmp` file renamed into place.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> Result<(), HistoryError>,
) -> Result<(), HistoryError> {
    let tmp = path.with_extension("parquet.tmp");
    let mut file = std::fs::File::create(&tmp).map_err(|e| HistoryError::io(&tmp, e))?;
    write(&mut file)?;
    file.sync_all().map_err(|e| HistoryError::io(&tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| HistoryError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_prefer_the_compacted_file() {
        let dir = std::env::temp_dir().join(format!("gw-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let h = 1_000 * 3600 * 1_000_000_000;
        for p in [
            hour_file(&dir, h),
            minute_file(&dir, h + 5 * MINUTE_NS),
            minute_file(&dir, h + 3600 * 1_000_000_000 + 2 * MINUTE_NS),
        ] {
            std::fs::write(&p, b"x").expect("write");
        }
        std::fs::write(dir.join("junk.parquet.tmp"), b"x").expect("write");
        let hours = hours(&dir).expect("list");
        assert_eq!(hours.len(), 2);
        let first = &hours[&h];
        assert_eq!(first.files(), vec![hour_file(&dir, h)]);
        assert_eq!(first.all_files().count(), 2);
        let second = hours.values().nth(1).expect("second hour");
        assert_eq!(
            second.minutes[0].0,
            h + 3600 * 1_000_000_000 + 2 * MINUTE_NS
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
