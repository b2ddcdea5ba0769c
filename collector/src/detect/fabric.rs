//! `fabric_degraded`: an InfiniBand or RoCE port that carries a node's collectives
//! worse than it should: a link that went down (or flapped, `link_downed` rising),
//! one trained below its rated speed (the best it or the node's other ports of the
//! same link layer were seen at), error counters rising, or RoCE congestion
//! notifications sustained. Warning; critical when the link went down on a node that
//! runs a job, whose collectives then stop or fall back to a slower path.
//!
//! A port is judged from its own series only (`hw.type` = `network`, as the agent
//! reads `/sys/class/infiniband`): a port that was never seen up (an unconnected
//! second port of a dual-port card) is not an alert, and counters are read as
//! increases inside the window, never as totals since boot.

use std::collections::BTreeMap;
use std::time::Duration;

use gpuwatch_model::config::ConfigError;
use gpuwatch_model::names::{attr, metric, value};
use gpuwatch_model::{AlertKind, Finding, Severity};
use serde::{Deserialize, Serialize};

use super::config::{dur, positive, ratio, s};
use super::window::{growth, rate, utilization, Window};
use crate::store::{Series, Store};

/// `[collector.alerts.fabric_degraded]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FabricConfig {
    #[serde(rename = "for")]
    pub for_: String,
    /// Window the counters' increases and rates are read over.
    pub window: String,
    /// A port whose bandwidth limit is under this share of its rated speed (the best it
    /// or its node's other ports of the same link layer reported) is degraded.
    pub min_rate_share: f64,
    /// `hw.errors` `error.type`s that count (`link_downed` always does).
    pub error_types: Vec<String>,
    /// That many errors of those types within the window make a port degraded.
    pub min_errors: f64,
    /// RoCE congestion notifications (`np_cnp_sent` or `rp_cnp_handled`) per second,
    /// over the whole window, at or above which congestion is sustained.
    pub max_cnp_per_second: f64,
}

/// The error counters counted by default: link quality and lost packets. Left out:
/// `port_xmit_discards` and `out_of_sequence`, which rise with ordinary congestion
/// (congestion has its own rule).
const ERROR_TYPES: [&str; 6] = [
    "symbol_error",
    "port_rcv_errors",
    "local_link_integrity_errors",
    "excessive_buffer_overrun_errors",
    "packet_seq_err",
    "rnr_nak_retry_err",
];

/// The counter of link-down events.
const LINK_DOWNED: &str = "link_downed";

impl Default for FabricConfig {
    fn default() -> Self {
        FabricConfig {
            for_: s("1m"),
            window: s("5m"),
            min_rate_share: 0.9,
            error_types: ERROR_TYPES.map(s).to_vec(),
            min_errors: 10.0,
            max_cnp_per_second: 5000.0,
        }
    }
}

/// Validated `fabric_degraded`; durations in nanoseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct FabricSettings {
    pub for_: i64,
    pub window: i64,
    pub min_rate_share: f64,
    pub error_types: Vec<String>,
    pub min_errors: f64,
    pub max_cnp_per_second: f64,
}

impl FabricConfig {
    pub fn validate(&self) -> Result<FabricSettings, ConfigError> {
        let k = |name: &str| format!("collector.alerts.fabric_degraded.{name}");
        Ok(FabricSettings {
            for_: dur(&k("for"), &self.for_, Duration::ZERO)?,
            window: dur(&k("window"), &self.window, Duration::from_secs(1))?,
            min_rate_share: ratio(&k("min_rate_share"), self.min_rate_share)?,
            error_types: self.error_types.clone(),
            min_errors: positive(&k("min_errors"), self.min_errors)?,
            max_cnp_per_second: positive(&k("max_cnp_per_second"), self.max_cnp_per_second)?,
        })
    }
}

/// One port's series.
#[derive(Default)]
struct Port<'a> {
    limit: Option<&'a Series>,
    up: Option<&'a Series>,
    errors: Vec<(&'a str, &'a Series)>,
    congestion: Vec<&'a Series>,
}

impl Port<'_> {
    fn any(&self) -> Option<&Series> {
        self.limit.or(self.up)
    }
}

/// Every fabric port, by `(host.name, hw.id)`, found in one pass over the store that
/// compares metric ids, not names; none without a bandwidth limit or up state anywhere
/// (a fleet without fabric ports costs no pass).
fn ports(store: &Store) -> BTreeMap<(&str, &str), Port<'_>> {
    let mut out: BTreeMap<(&str, &str), Port> = BTreeMap::new();
    let ids: Vec<(u32, &str)> = [
        metric::HW_NETWORK_BANDWIDTH_LIMIT,
        metric::HW_NETWORK_UP,
        metric::ERRORS,
        metric::FABRIC_CONGESTION,
    ]
    .into_iter()
    .filter_map(|m| Some((store.metric_id(m)?, m)))
    .collect();
    if !ids.iter().any(|(_, m)| {
        matches!(
            *m,
            metric::HW_NETWORK_BANDWIDTH_LIMIT | metric::HW_NETWORK_UP
        )
    }) {
        return out;
    }
    for series in store.series() {
        let Some(&(_, m)) = ids.iter().find(|(id, _)| *id == series.metric_id) else {
            continue;
        };
        if series.key.get(attr::HW_TYPE) != Some(value::HW_TYPE_NETWORK) {
            continue;
        }
        let (Some(host), Some(id)) = (series.key.get(attr::HOST_NAME), series.key.get(attr::HW_ID))
        else {
            continue;
        };
        let port = out.entry((host, id)).or_default();
        match m {
            metric::HW_NETWORK_BANDWIDTH_LIMIT => port.limit = Some(series),
            metric::HW_NETWORK_UP => port.up = Some(series),
            metric::ERRORS => {
                if let Some(kind) = series.key.get(attr::ERROR_TYPE) {
                    port.errors.push((kind, series));
                }
            }
            _ => port.congestion.push(series),
        }
    }
    out
}

/// The highest value a gauge had up to `t`.
fn highest(s: &Series, t: i64) -> Option<f64> {
    s.scalars()?
        .window(i64::MIN, t)
        .map(|(_, v)| v)
        .reduce(f64::max)
}

/// `400 Gb/s` for a rate in bytes/s.
fn gbits(bytes_per_second: f64) -> String {
    format!("{:.0} Gb/s", bytes_per_second * 8.0 / 1e9)
}

/// The job running on a node's GPUs at `t`, if any.
fn running_job<'a>(store: &'a Store, host: &str, t: i64) -> Option<&'a str> {
    store
        .gpus()
        .range((host.to_string(), String::new())..)
        .take_while(|((h, _), _)| h == host)
        .find_map(|(_, gpu)| {
            let t = store.gpu_time(gpu, t);
            utilization(store, gpu, t).and_then(|u| u.key.get(attr::JOB_ID))
        })
}

/// What is wrong with a port, worst first: `(critical, value, what)`.
struct Problem {
    link_lost: bool,
    value: f64,
    what: String,
}

fn problems(
    port: &Port,
    rated: Option<f64>,
    s: &FabricSettings,
    w: Window,
    t: i64,
) -> Vec<Problem> {
    let mut out = Vec::new();
    let was_up = port
        .up
        .and_then(|u| highest(u, t))
        .is_some_and(|v| v >= 0.5);
    let up_now = port
        .up
        .and_then(|u| u.scalars()?.last_at(t))
        .map(|(_, v)| v >= 0.5);
    if was_up && up_now == Some(false) {
        out.push(Problem {
            link_lost: true,
            value: 0.0,
            what: "link down".into(),
        });
    }
    if let Some(flaps) = port
        .errors
        .iter()
        .filter(|(kind, _)| *kind == LINK_DOWNED)
        .find_map(|(_, series)| growth(series, w))
        .filter(|n| *n >= 1.0)
    {
        out.push(Problem {
            link_lost: true,
            value: flaps,
            what: format!("link went down {flaps:.0}× (link_downed)"),
        });
    }
    // Speed only while up: a port that is down has said so above.
    if up_now != Some(false) {
        let now = port
            .limit
            .and_then(|l| l.scalars()?.last_at(t))
            .map(|(_, v)| v);
        if let (Some(now), Some(rated)) = (now, rated) {
            if rated > 0.0 && now < s.min_rate_share * rated {
                out.push(Problem {
                    link_lost: false,
                    value: now / rated,
                    what: format!("running at {}, rated {}", gbits(now), gbits(rated)),
                });
            }
        }
    }
    let mut errors: Vec<(&str, f64)> = port
        .errors
        .iter()
        .filter(|(kind, _)| s.error_types.iter().any(|x| x == kind))
        .filter_map(|(kind, series)| Some((*kind, growth(series, w)?)))
        .filter(|(_, n)| *n > 0.0)
        .collect();
    let total: f64 = errors.iter().map(|(_, n)| n).sum();
    if total >= s.min_errors {
        errors.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        let list = errors
            .iter()
            .map(|(kind, n)| format!("{kind} +{n:.0}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(Problem {
            link_lost: false,
            value: total,
            what: format!("errors rising: {list}"),
        });
    }
    if let Some(cnp) = port
        .congestion
        .iter()
        .filter_map(|series| rate(series, w))
        .reduce(f64::max)
        .filter(|r| *r >= s.max_cnp_per_second)
    {
        out.push(Problem {
            link_lost: false,
            value: cnp,
            what: format!("congestion: {cnp:.0} CNPs/s sustained"),
        });
    }
    out
}

pub fn evaluate(store: &Store, s: &FabricSettings, t: i64) -> Vec<Finding> {
    let ports = ports(store);
    // A node's best rate per link layer: the speed its ports are rated for.
    let mut best: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for ((host, _), port) in &ports {
        let Some(limit) = port.limit else { continue };
        let t = store.series_time(limit, t);
        let layer = limit.key.get(attr::FABRIC_LINK_LAYER).unwrap_or("");
        if let Some(v) = highest(limit, t) {
            let b = best.entry((host, layer)).or_insert(v);
            *b = b.max(v);
        }
    }
    let mut out = Vec::new();
    for ((host, id), port) in &ports {
        let Some(any) = port.any() else { continue };
        let t = store.series_time(any, t);
        let w = Window::ending_at(t, s.window);
        let layer = any.key.get(attr::FABRIC_LINK_LAYER).unwrap_or("");
        let rated = best.get(&(*host, layer)).copied();
        let found = problems(port, rated, s, w, t);
        let Some(first) = found.first() else { continue };
        let job = found
            .iter()
            .any(|p| p.link_lost)
            .then(|| running_job(store, host, t))
            .flatten();
        let mut labels = BTreeMap::from([
            (attr::HOST_NAME.to_string(), host.to_string()),
            (attr::HW_ID.to_string(), id.to_string()),
        ]);
        let netdev = any.key.get(attr::INTERFACE);
        if let Some(name) = netdev {
            labels.insert(attr::INTERFACE.to_string(), name.to_string());
        }
        let title = match netdev {
            Some(name) => format!("{host} {id} ({name})"),
            None => format!("{host} {id}"),
        };
        let what = found
            .iter()
            .map(|p| p.what.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let in_job = job.map(|j| format!(" in job {j}")).unwrap_or_default();
        out.push(Finding {
            kind: AlertKind::FabricDegraded,
            severity: if job.is_some() {
                Severity::Critical
            } else {
                Severity::Warning
            },
            summary: format!("{title}: {what}{in_job}"),
            labels,
            value: first.value,
        });
    }
    out
}

/// The degraded ports of each node among `findings`, as a straggler's summary names
/// them: `host.name` -> `mlx5_0:1 (running at 200 Gb/s, rated 400 Gb/s)`.
pub fn degraded_ports(findings: &[Finding]) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for f in findings
        .iter()
        .filter(|f| f.kind == AlertKind::FabricDegraded)
    {
        let (Some(host), Some(id)) = (f.labels.get(attr::HOST_NAME), f.labels.get(attr::HW_ID))
        else {
            continue;
        };
        let why = f.summary.split_once(": ").map_or("", |(_, w)| w);
        let entry = format!("{id} ({why})");
        out.entry(host.clone())
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(&entry);
            })
            .or_insert(entry);
    }
    out
}

/// `fabric_degraded` in the one list (`detect.rs`); it runs first, and leaves its
/// degraded ports in the context for `gpu_straggler`'s summaries.
#[derive(Debug)]
pub struct FabricDegraded;

impl super::detector::Detector for FabricDegraded {
    type Settings = FabricSettings;
    fn settings(all: &super::config::AlertSettings) -> &Self::Settings {
        &all.fabric_degraded
    }
    fn evaluate(
        cx: &mut super::detector::Context<'_>,
        s: &Self::Settings,
    ) -> super::detector::Evaluation {
        let findings = evaluate(cx.store, s, cx.t);
        cx.degraded = degraded_ports(&findings);
        findings.into()
    }
}

#[cfg(test)]
mod tests;
