//! Each view's window and chart steps, described once: the collector's API takes them
//! as its defaults, `top` asks the API for them, and the in-process source (`up`,
//! `demo`) reads the store with them, so every way of looking gives the same charts.

use std::time::Duration;

/// A charting view: the window it covers and the steps per chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartView {
    /// The window as the API's `since` writes it.
    pub since: &'static str,
    pub window: Duration,
    /// Steps per chart (`points`).
    pub points: usize,
}

impl ChartView {
    /// The window in nanoseconds, as the store counts time.
    pub fn window_nanos(&self) -> i64 {
        i64::try_from(self.window.as_nanos()).unwrap_or(i64::MAX)
    }

    /// `since=15m&points=240`, the query that asks for this view.
    pub fn query(&self) -> String {
        format!("since={}&points={}", self.since, self.points)
    }
}

/// `/api/v1/gpu`: one GPU's charts, the store's default retention at 240 steps (the
/// detail view is as wide as the terminal; it resamples them).
pub const GPU_DETAIL: ChartView = ChartView {
    since: "15m",
    window: Duration::from_secs(15 * 60),
    points: 240,
};

/// `/api/v1/nodes`: every node's host charts.
pub const NODES: ChartView = ChartView {
    since: "15m",
    window: Duration::from_secs(15 * 60),
    points: 48,
};

/// A window of the cost ledger (`/api/v1/cost?window=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostView {
    pub window: &'static str,
    pub length: Duration,
}

impl CostView {
    pub fn window_nanos(&self) -> i64 {
        i64::try_from(self.length.as_nanos()).unwrap_or(i64::MAX)
    }
}

/// The burn rate in `top`'s header: the last five minutes, by team.
pub const BURN: CostView = CostView {
    window: "5m",
    length: Duration::from_secs(5 * 60),
};

/// The Cost tab, and `/api/v1/cost`'s default window: the last hour.
pub const COST: CostView = CostView {
    window: "1h",
    length: Duration::from_secs(60 * 60),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration;

    #[test]
    fn each_window_is_written_as_it_is_long() {
        for view in [GPU_DETAIL, NODES] {
            assert_eq!(duration::parse(view.since), Ok(view.window), "{view:?}");
            assert!(view.points > 0);
        }
        for view in [BURN, COST] {
            assert_eq!(duration::parse(view.window), Ok(view.length), "{view:?}");
        }
        assert_eq!(GPU_DETAIL.query(), "since=15m&points=240");
        assert_eq!(NODES.window_nanos(), 900_000_000_000);
    }
}
