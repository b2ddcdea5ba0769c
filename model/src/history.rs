//! History rows: what the collector rolls up every minute of event time and hands to a
//! `RollupSink` (the Parquet writer of `gpuwatch-history`, when the binary is built
//! with the `history` feature). Plain structs, so the collector knows no file format.
//!
//! A minute row covers the event-time interval `(minute, minute + 1m]`, open at the
//! start as the collector's windows are, so minutes laid end to end share no point.

use crate::Timestamp;

/// One minute, in nanoseconds.
pub const MINUTE_NS: i64 = 60_000_000_000;
/// One hour, in nanoseconds: history files hold one hour each.
pub const HOUR_NS: i64 = 60 * MINUTE_NS;

/// The rollup of one series over one minute.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeriesMinute {
    /// Start of the minute, Unix nanoseconds.
    pub minute: i64,
    pub metric: String,
    /// `host.name`, `hw.id`, `gpuwatch.job.id`, `gpuwatch.team` and the model
    /// (`gen_ai.request.model`, else `gpuwatch.model`) where the series has them.
    pub node: Option<String>,
    pub gpu: Option<String>,
    pub job: Option<String>,
    pub team: Option<String>,
    pub model: Option<String>,
    /// `hw.gpu.task` (`general`, `encoder`, `decoder`) of utilization series.
    pub task: Option<String>,
    /// Every attribute, `key=value` joined by `,` in key order.
    pub labels: String,
    /// Points in the minute (numbers), or observations (histograms: the increase of
    /// the count).
    pub count: u64,
    /// Points whose value was exactly 0 (numbers only).
    pub zeros: u64,
    /// Numbers: the points' min, mean, max and newest value (cumulative for counters).
    /// Histograms: `mean` is the mean observation, the others NaN.
    pub min: f64,
    pub mean: f64,
    pub max: f64,
    pub last: f64,
    /// Histograms: upper bounds, and the increase of each bucket over the minute
    /// (one more entry than `bounds`: the `+Inf` bucket). Empty for numbers.
    pub bounds: Vec<f64>,
    pub buckets: Vec<f64>,
}

/// One GPU's spend over one minute, as the cost ledger accrued it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GpuMinuteCost {
    /// Start of the minute, Unix nanoseconds.
    pub minute: i64,
    pub node: String,
    /// `hw.id`.
    pub gpu: String,
    /// `hw.name`.
    pub gpu_name: String,
    /// `hw.model`.
    pub gpu_model: String,
    pub job: Option<String>,
    pub team: Option<String>,
    /// Seconds accrued, and the part of them the GPU was idle.
    pub seconds: f64,
    pub idle_seconds: f64,
    pub usd: f64,
    pub idle_usd: f64,
}

/// Everything rolled up for one minute.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MinuteRollup {
    /// Start of the minute, Unix nanoseconds.
    pub minute: i64,
    pub series: Vec<SeriesMinute>,
    pub cost: Vec<GpuMinuteCost>,
}

impl MinuteRollup {
    /// Start of the hour the minute belongs to.
    pub fn hour(&self) -> i64 {
        hour_of(self.minute)
    }
}

/// Start of the hour that holds `t`.
pub fn hour_of(t: i64) -> i64 {
    t.div_euclid(HOUR_NS) * HOUR_NS
}

/// `2026-11-30T11`: an hour as history file names spell it.
pub fn hour_name(hour: i64) -> String {
    let full = Timestamp(hour_of(hour)).to_rfc3339();
    full.get(..13).unwrap_or(&full).to_string()
}

/// The hour a file name (`2026-11-30T11...`) starts with, when it is one.
pub fn parse_hour_name(name: &str) -> Option<i64> {
    let hour = name.get(..13)?;
    Timestamp::parse_rfc3339(&format!("{hour}:00:00Z")).map(|t| t.0)
}

/// Why a sink could not store a rollup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Where minute rollups go. The collector calls it from one writer thread, in minute
/// order; an implementation must leave no partial file behind when the process dies.
pub trait RollupSink: Send {
    /// Start of the newest minute already stored, so a restart goes on after it.
    fn resume_after(&self) -> Option<i64>;
    /// Stores one minute.
    fn write(&mut self, rollup: &MinuteRollup) -> Result<(), SinkError>;
    /// Called once at shutdown: finish what can be finished.
    fn close(&mut self) -> Result<(), SinkError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_have_names_and_come_back() {
        let t = Timestamp::parse_rfc3339("2026-11-30T11:42:07Z")
            .expect("time")
            .0;
        assert_eq!(hour_name(t), "2026-11-30T11");
        assert_eq!(
            parse_hour_name("2026-11-30T11.parquet"),
            Some(hour_of(t)),
            "the name gives the hour back"
        );
        assert_eq!(parse_hour_name("notes.txt"), None);
    }
}
