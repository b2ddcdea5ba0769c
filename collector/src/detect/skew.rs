//! `clock_skew`: a sender whose clock runs further than `max_offset` from the fleet's
//! median (`store::clock` measures it). The collector already reads such a sender on
//! its own clock, so nothing else it finds changes; the alert is there so someone fixes
//! the clock (NTP), because dashboards and other tools see the wrong timestamps.

use std::collections::BTreeMap;
use std::time::Duration;

use gpuwatch_model::config::ConfigError;
use gpuwatch_model::names::attr;
use gpuwatch_model::{AlertKind, Finding, Severity};
use serde::{Deserialize, Serialize};

use super::config::{dur, s};
use crate::store::{SourceKind, Store};

/// `clock_skew`: a sender whose clock runs away from the fleet's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockSkewConfig {
    #[serde(rename = "for")]
    pub for_: String,
    /// A sender is skewed when its clock is further than this from the fleet's median.
    pub max_offset: String,
}

impl Default for ClockSkewConfig {
    fn default() -> Self {
        ClockSkewConfig {
            for_: s("2m"),
            max_offset: s("30s"),
        }
    }
}

/// Validated `clock_skew`; nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockSkewSettings {
    pub for_: i64,
    pub max_offset: i64,
}

impl ClockSkewConfig {
    pub fn validate(&self) -> Result<ClockSkewSettings, ConfigError> {
        let k = |name: &str| format!("collector.alerts.clock_skew.{name}");
        Ok(ClockSkewSettings {
            for_: dur(&k("for"), &self.for_, Duration::ZERO)?,
            // Offsets within the clocks' tolerance are sampling jitter, never a skew.
            max_offset: dur(
                &k("max_offset"),
                &self.max_offset,
                Duration::from_nanos(crate::store::clock::TOLERANCE as u64),
            )?,
        })
    }
}

/// Skewed senders at the fleet's instant `t`. One that stopped sending (absent for
/// `absent_after`) is `node_absent`'s, not this alert's.
pub fn evaluate(store: &Store, s: &ClockSkewSettings, absent_after: i64, t: i64) -> Vec<Finding> {
    store
        .clocks()
        .sources_at(t)
        .filter(|c| c.skew.unsigned_abs() > s.max_offset.unsigned_abs())
        .filter(|c| c.newest >= t.saturating_sub(absent_after))
        .map(|c| {
            let key = match c.kind {
                SourceKind::Node => attr::HOST_NAME,
                SourceKind::Application => attr::SERVICE_NAME,
            };
            let seconds = c.skew as f64 / 1e9;
            let way = if c.skew > 0 { "ahead of" } else { "behind" };
            Finding {
                kind: AlertKind::ClockSkew,
                severity: Severity::Warning,
                labels: BTreeMap::from([(key.to_string(), c.name.to_string())]),
                value: seconds,
                summary: format!(
                    "{}: clock {:.0}s {way} the fleet's median; gpuwatch reads its points \
                     on its own clock, but fix its time sync (chronyc tracking, timedatectl)",
                    c.name,
                    seconds.abs()
                ),
            }
        })
        .collect()
}

/// The `skew` detector in the one list (`detect.rs`).
#[derive(Debug)]
pub struct ClockSkew;

impl super::detector::Detector for ClockSkew {
    type Settings = super::config::AlertSettings;
    fn settings(all: &super::config::AlertSettings) -> &Self::Settings {
        all
    }
    fn evaluate(
        cx: &mut super::detector::Context<'_>,
        s: &Self::Settings,
    ) -> super::detector::Evaluation {
        evaluate(cx.store, &s.clock_skew, s.node_absent_after, cx.t).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::builder::{Builder, S};

    #[test]
    fn cases() {
        let s = ClockSkewSettings {
            for_: 0,
            max_offset: 30 * S,
        };
        let after = 30 * S;
        // (skew of the node, whether it keeps sending, alerts wanted)
        let cases: [(i64, bool, &[&str]); 6] = [
            (0, true, &[]),
            (30, true, &[]),
            (31, true, &["n1 31"]),
            (180, true, &["n1 180"]),
            (-180, true, &["n1 -180"]),
            // Skewed, then silent: node_absent's business.
            (180, false, &[]),
        ];
        for (skew, sending, want) in cases {
            let last = if sending { 100 } else { 50 };
            let mut b = Builder::new();
            for host in ["n0", "n2", "n3"] {
                b.series("hw.power", &[("host.name", host)], [(100, 1.0)]);
            }
            b.series("hw.power", &[("host.name", "n1")], [(last + skew, 1.0)]);
            b.skew("n1", skew);
            let store = b.build();
            let got: Vec<String> = evaluate(&store, &s, after, 100 * S)
                .iter()
                .map(|f| format!("{} {}", f.labels["host.name"], f.value))
                .collect();
            assert_eq!(got, want, "skew {skew}s, sending {sending}");
        }
    }
}
