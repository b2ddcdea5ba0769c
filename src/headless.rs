//! Running without a screen: a one-line status every few seconds until the duration
//! is over or the user presses Ctrl-C.

use std::time::{Duration, Instant};

use gpuwatch_collector::CollectorState;
pub use gpuwatch_model::format::thousands;

/// How often the status line is printed.
pub const STATUS_EVERY: Duration = Duration::from_secs(5);

/// What the status line reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub nodes: usize,
    pub gpus: usize,
    pub points: u64,
    pub refused: u64,
    pub newest_age: Option<Duration>,
    /// Firing alerts, most severe first: `(kind, count)`.
    pub firing: Vec<(String, usize)>,
}

impl Status {
    pub fn read(state: &CollectorState, now_unix_ms: i64) -> Status {
        let mut firing: Vec<(String, usize)> = Vec::new();
        for a in state.alerts(gpuwatch_collector::alerts::StateFilter::Firing) {
            match firing.iter_mut().find(|(k, _)| k == a.kind.as_str()) {
                Some((_, n)) => *n += 1,
                None => firing.push((a.kind.as_str().to_string(), 1)),
            }
        }
        let store = state.store();
        let refused = store.rejected_total();
        Status {
            nodes: store.nodes().count(),
            gpus: store.gpus().len(),
            points: store.points_accepted(),
            refused,
            newest_age: store.newest_ts().map(|t| {
                let age_ms = now_unix_ms.saturating_sub(t.div_euclid(1_000_000)).max(0);
                Duration::from_millis(age_ms.unsigned_abs())
            }),
            firing,
        }
    }

    pub fn line(&self, elapsed: Duration, expected_nodes: Option<usize>) -> String {
        let nodes = match expected_nodes {
            Some(n) => format!("{}/{n} nodes", self.nodes),
            None => format!("{} nodes", self.nodes),
        };
        let age = self.newest_age.map_or_else(
            || "no data yet".to_string(),
            |a| format!("newest data {:.1}s old", a.as_secs_f64()),
        );
        let alerts = if self.firing.is_empty() {
            "no alerts firing".to_string()
        } else {
            let kinds: Vec<String> = self
                .firing
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            format!("firing: {}", kinds.join(", "))
        };
        format!(
            "[{:>4}s] {nodes}, {} GPUs, {} points received, {} refused, {age}; {alerts}",
            elapsed.as_secs(),
            self.gpus,
            thousands(self.points),
            thousands(self.refused),
        )
    }
}

pub fn now_unix_ms() -> i64 {
    gpuwatch_model::Timestamp::now().unix_millis()
}

/// Prints a status line every `STATUS_EVERY` until `duration` passes or a stop signal.
pub async fn run(
    state: &CollectorState,
    duration: Option<Duration>,
    expected_nodes: Option<usize>,
) {
    let started = Instant::now();
    let mut ticker = tokio::time::interval(STATUS_EVERY);
    ticker.tick().await;
    let deadline = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let stop = crate::shutdown::signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut deadline => break,
            () = &mut stop => break,
            _ = ticker.tick() => {
                let status = Status::read(state, now_unix_ms());
                println!("{}", status.line(started.elapsed(), expected_nodes));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_reads_well() {
        let s = Status {
            nodes: 3,
            gpus: 24,
            points: 12_345,
            refused: 0,
            newest_age: Some(Duration::from_millis(400)),
            firing: vec![("gpu_hang".into(), 8), ("gpu_xid".into(), 1)],
        };
        assert_eq!(
            s.line(Duration::from_secs(5), Some(4)),
            "[   5s] 3/4 nodes, 24 GPUs, 12,345 points received, 0 refused, \
             newest data 0.4s old; firing: 8 gpu_hang, 1 gpu_xid"
        );
        let empty = Status {
            newest_age: None,
            firing: Vec::new(),
            ..s
        };
        assert!(empty.line(Duration::ZERO, None).ends_with(
            "3 nodes, 24 GPUs, 12,345 points received, 0 refused, no data yet; no alerts firing"
        ));
    }
}
