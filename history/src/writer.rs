//! `ParquetSink`: the collector's `RollupSink` on disk (see `layout` for the files),
//! with hourly cost sums written as each hour's cost is compacted, and retention by
//! age and size.

use std::path::{Path, PathBuf};

use gpuwatch_model::history::{
    GpuMinuteCost, MinuteRollup, RollupSink, SeriesMinute, SinkError, HOUR_NS, MINUTE_NS,
};

use crate::layout::{self, Table};
use crate::table::{self, HourSums};
use crate::HistoryError;

/// The tables written minute by minute and compacted by the hour.
const MINUTE_TABLES: [Table; 2] = [Table::Series, Table::Cost];
/// Every table, in the order retention deletes an hour's files: the sums first, so a
/// crash in between never leaves sums whose minutes are gone.
const TABLES: [Table; 3] = [Table::CostHours, Table::Series, Table::Cost];

/// Minute rollups to Parquet under `root`.
#[derive(Debug)]
pub struct ParquetSink {
    root: PathBuf,
    /// Nanoseconds of history kept behind the newest minute.
    retention: i64,
    max_bytes: u64,
    /// The hour whose minutes are being written.
    hour: Option<i64>,
    /// Start of the newest minute stored.
    newest: Option<i64>,
}

fn remove(path: &Path) -> Result<(), HistoryError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(HistoryError::io(path, e)),
        _ => Ok(()),
    }
}

impl ParquetSink {
    /// Opens (creating) the data directory: finishes what a crash left (hours whose
    /// minutes were not yet compacted, or whose cost sums were not yet written), then
    /// applies retention. Hours compacted before `cost_hours/` existed get no sums;
    /// reports read their minutes.
    pub fn open(root: &Path, retention: i64, max_bytes: u64) -> Result<Self, HistoryError> {
        for t in TABLES {
            let dir = t.dir(root);
            std::fs::create_dir_all(&dir).map_err(|e| HistoryError::io(&dir, e))?;
        }
        let mut sink = ParquetSink {
            root: root.to_path_buf(),
            retention,
            max_bytes,
            hour: None,
            newest: None,
        };
        for t in MINUTE_TABLES {
            for (hour, h) in layout::hours(&t.dir(root))? {
                let newest = match h.minutes.last() {
                    Some((m, _)) => *m,
                    None => hour + HOUR_NS - MINUTE_NS,
                };
                sink.newest = sink.newest.max(Some(newest));
            }
        }
        // Every hour but the newest is over; the newest goes on being written.
        let current = sink.newest.map(gpuwatch_model::history::hour_of);
        for t in MINUTE_TABLES {
            for (hour, _) in layout::hours(&t.dir(root))? {
                if Some(hour) != current {
                    sink.compact(t, hour)?;
                }
            }
        }
        sink.hour = current;
        sink.apply_retention()?;
        Ok(sink)
    }

    /// Turns an hour's minute files into the hour's file, a row group per minute; for
    /// `cost/`, then writes the hour's sums (from the hour's file when a crash came
    /// after it was written). One minute is in memory at a time.
    fn compact(&self, table: Table, hour: i64) -> Result<(), HistoryError> {
        let dir = table.dir(&self.root);
        let Some(h) = layout::hours(&dir)?.remove(&hour) else {
            return Ok(());
        };
        if h.minutes.is_empty() {
            return Ok(());
        }
        let file = layout::hour_file(&dir, hour);
        match table {
            Table::Series => {
                if h.file.is_none() {
                    table::write_with::<SeriesMinute>(&file, |w| {
                        for (_, p) in &h.minutes {
                            w.append(table::read(p, None)?)?;
                        }
                        Ok(())
                    })?;
                }
            }
            Table::Cost => {
                let sums = layout::hour_file(&Table::CostHours.dir(&self.root), hour);
                let mut summed = HourSums::new(hour);
                if h.file.is_none() {
                    table::write_with::<GpuMinuteCost>(&file, |w| {
                        for (_, p) in &h.minutes {
                            let minute: Vec<GpuMinuteCost> = table::read(p, None)?;
                            minute.iter().for_each(|c| summed.add(c));
                            w.append(minute)?;
                        }
                        Ok(())
                    })?;
                } else if !sums.exists() {
                    let rows: Vec<GpuMinuteCost> = table::read(&file, None)?;
                    rows.iter().for_each(|c| summed.add(c));
                }
                if !sums.exists() {
                    table::write(&sums, &summed.rows())?;
                }
            }
            Table::CostHours => {}
        }
        // The hour's file (and sums) hold them all now (or already did: a crash came
        // between the renames and these).
        for (_, p) in &h.minutes {
            remove(p)?;
        }
        Ok(())
    }

    /// Deletes hours past `retention`, then the oldest hours while the files pass
    /// `max_bytes` (never the hour being written).
    fn apply_retention(&self) -> Result<(), HistoryError> {
        let Some(newest) = self.newest else {
            return Ok(());
        };
        let mut hours: std::collections::BTreeMap<i64, (u64, Vec<PathBuf>)> = Default::default();
        for t in TABLES {
            for (hour, h) in layout::hours(&t.dir(&self.root))? {
                let slot = hours.entry(hour).or_default();
                for p in h.all_files() {
                    slot.0 += std::fs::metadata(p).map_or(0, |m| m.len());
                    slot.1.push(p.clone());
                }
            }
        }
        let mut total: u64 = hours.values().map(|(b, _)| b).sum();
        for (hour, (bytes, files)) in hours {
            let expired = hour + HOUR_NS <= newest.saturating_sub(self.retention);
            let too_big = total > self.max_bytes && Some(hour) != self.hour;
            if !(expired || too_big) {
                break;
            }
            for p in &files {
                remove(p)?;
            }
            total = total.saturating_sub(bytes);
        }
        Ok(())
    }

    fn store(&mut self, rollup: &MinuteRollup) -> Result<(), HistoryError> {
        let hour = rollup.hour();
        if let Some(done) = self.hour.filter(|h| *h != hour) {
            for t in MINUTE_TABLES {
                self.compact(t, done)?;
            }
            self.hour = Some(hour);
            self.newest = Some(rollup.minute);
            self.apply_retention()?;
        }
        self.hour = Some(hour);
        if !rollup.series.is_empty() {
            let path = layout::minute_file(&Table::Series.dir(&self.root), rollup.minute);
            table::write(&path, &rollup.series)?;
        }
        if !rollup.cost.is_empty() {
            let path = layout::minute_file(&Table::Cost.dir(&self.root), rollup.minute);
            table::write(&path, &rollup.cost)?;
        }
        self.newest = Some(rollup.minute);
        Ok(())
    }

    /// Writes a whole hour at once, straight into hour files and the hour's cost sums
    /// (benchmarks and tests that need days of history).
    pub fn write_hour(&mut self, minutes: &[MinuteRollup]) -> Result<(), HistoryError> {
        let Some(first) = minutes.first() else {
            return Ok(());
        };
        let hour = first.hour();
        if minutes.iter().any(|m| !m.series.is_empty()) {
            let path = layout::hour_file(&Table::Series.dir(&self.root), hour);
            table::write_with::<SeriesMinute>(&path, |w| {
                minutes
                    .iter()
                    .try_for_each(|m| w.append(m.series.iter().cloned()))
            })?;
        }
        if minutes.iter().any(|m| !m.cost.is_empty()) {
            let path = layout::hour_file(&Table::Cost.dir(&self.root), hour);
            let mut summed = HourSums::new(hour);
            table::write_with::<GpuMinuteCost>(&path, |w| {
                for m in minutes {
                    m.cost.iter().for_each(|c| summed.add(c));
                    w.append(m.cost.iter().cloned())?;
                }
                Ok(())
            })?;
            let sums = layout::hour_file(&Table::CostHours.dir(&self.root), hour);
            table::write(&sums, &summed.rows())?;
        }
        self.newest = self.newest.max(minutes.last().map(|m| m.minute));
        Ok(())
    }
}

impl RollupSink for ParquetSink {
    fn resume_after(&self) -> Option<i64> {
        self.newest
    }

    fn write(&mut self, rollup: &MinuteRollup) -> Result<(), SinkError> {
        if self.newest.is_some_and(|n| rollup.minute <= n) {
            return Ok(());
        }
        self.store(rollup).map_err(|e| SinkError(e.to_string()))
    }

    fn close(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
