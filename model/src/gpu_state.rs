//! The state badge of each GPU: the worst of the firing alerts that touch it, else
//! IDLE or OK from its utilization; ABSENT for the GPUs of a node that stopped
//! reporting. Pure: alerts and GPUs in, states out.
//!
//! An alert touches a GPU by its identifying labels, the most specific first:
//!
//! - `hw.id` (with `host.name` when present): that one GPU, and its MIG instances;
//! - `host.name` and `hw.name`: that GPU of that node;
//! - `host.name` (and `gpuwatch.job.id` when present): every GPU of the node (of
//!   that job), as `data_bottleneck` and `node_absent` are labelled;
//! - `gpuwatch.job.id` alone: every GPU running the job, as a job-level `gpu_hang`.
//!
//! Alerts about models (`model_drift`, `latency_regression`) touch no GPU.

use std::collections::{HashMap, HashSet};

use crate::api::GpuView;
use crate::names::attr;
use crate::{Alert, AlertKind, AlertState};

/// Below this utilization a GPU without alerts is IDLE.
pub const IDLE_BELOW: f64 = 0.05;

/// A node whose newest point is further than this behind the fleet's newest is silent:
/// its GPUs show ABSENT (in `top` and `/api/v1/gpus?state=absent`) before
/// `node_absent` fires.
pub const STALE_GPU_MS: i64 = 15_000;

/// What a GPU is doing, best to worst. The order is the precedence: a GPU shows the
/// worst state that applies, and sorting by state puts the worst first.
///
/// ABSENT comes first because nothing else shown about such a GPU is current. XID
/// comes before HANG because an XID names a cause (a hang is often its symptom); a
/// GPU that does nothing (HANG, STALL) comes before one that is merely slow
/// (STRAGGLER, STARVED, THROTTLE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum GpuState {
    /// Working, or nothing is known against it.
    #[default]
    Ok,
    /// Under 5% busy with no alert: with a job, money spent on nothing.
    Idle,
    Throttle,
    Starved,
    Straggler,
    Stall,
    Hang,
    Xid,
    /// Its node stopped reporting.
    Absent,
}

impl GpuState {
    /// The width of the longest word (`STRAGGLER`), so the column never jumps.
    pub const WIDTH: u16 = 9;

    /// Worst first: the order of the `state=` help and of the precedence tests.
    pub const ALL: [GpuState; 9] = [
        GpuState::Absent,
        GpuState::Xid,
        GpuState::Hang,
        GpuState::Stall,
        GpuState::Straggler,
        GpuState::Starved,
        GpuState::Throttle,
        GpuState::Idle,
        GpuState::Ok,
    ];

    /// The badge: the word is always shown, colour only adds to it.
    pub fn word(self) -> &'static str {
        match self {
            GpuState::Ok => "OK",
            GpuState::Idle => "IDLE",
            GpuState::Throttle => "THROTTLE",
            GpuState::Starved => "STARVED",
            GpuState::Straggler => "STRAGGLER",
            GpuState::Stall => "STALL",
            GpuState::Hang => "HANG",
            GpuState::Xid => "XID",
            GpuState::Absent => "ABSENT",
        }
    }

    /// Higher is worse: the precedence as a number, for sorting.
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// The state `state=WORD` names, case ignored.
    pub fn parse(word: &str) -> Option<GpuState> {
        GpuState::ALL
            .into_iter()
            .find(|s| s.word().eq_ignore_ascii_case(word))
    }

    /// The state an alert of `kind` puts a GPU in; `None` for kinds about models, and
    /// for `node_absent`, which is a node's (see [`StateIndex`]).
    pub fn of_kind(kind: AlertKind) -> Option<GpuState> {
        Some(match kind {
            AlertKind::GpuXid => GpuState::Xid,
            AlertKind::GpuHang => GpuState::Hang,
            AlertKind::GpuStalled => GpuState::Stall,
            AlertKind::GpuStraggler => GpuState::Straggler,
            AlertKind::DataBottleneck => GpuState::Starved,
            AlertKind::GpuThrottle => GpuState::Throttle,
            AlertKind::IdleGpuCost => GpuState::Idle,
            AlertKind::NodeAbsent => GpuState::Absent,
            AlertKind::ModelDrift
            | AlertKind::LatencyRegression
            | AlertKind::BudgetBurn
            | AlertKind::ClockSkew
            | AlertKind::FabricDegraded => return None,
        })
    }
}

/// The firing alerts, indexed by what they touch, so the state of every GPU costs a
/// few lookups however many alerts fire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateIndex {
    /// By `hw.id`, with the `host.name` the alert named, if any.
    by_gpu_id: HashMap<String, Vec<(Option<String>, GpuState)>>,
    /// By `host.name`, then `hw.name`.
    by_gpu_name: HashMap<String, HashMap<String, GpuState>>,
    /// By `host.name`, with the job the alert was limited to, if any.
    by_node: HashMap<String, Vec<(Option<String>, GpuState)>>,
    /// By `gpuwatch.job.id`, for alerts that name only the job.
    by_job: HashMap<String, GpuState>,
    /// Nodes with a firing `node_absent`.
    absent: HashSet<String>,
}

impl StateIndex {
    /// Indexes the firing ones of `alerts`; pending and resolved ones change nothing.
    pub fn new(alerts: &[Alert]) -> Self {
        let mut index = StateIndex::default();
        for alert in alerts.iter().filter(|a| a.state == AlertState::Firing) {
            let Some(state) = GpuState::of_kind(alert.kind) else {
                continue;
            };
            let label = |key: &str| alert.labels.get(key).cloned();
            let (host, id, name, job) = (
                label(attr::HOST_NAME),
                label(attr::HW_ID),
                label(attr::HW_NAME),
                label(attr::JOB_ID),
            );
            if state == GpuState::Absent {
                if let Some(host) = host {
                    index.absent.insert(host);
                }
                continue;
            }
            match (host, id, name, job) {
                (host, Some(id), _, _) => {
                    index.by_gpu_id.entry(id).or_default().push((host, state));
                }
                (Some(host), None, Some(name), _) => {
                    let node = index.by_gpu_name.entry(host).or_default();
                    let worst = node.entry(name).or_default();
                    *worst = (*worst).max(state);
                }
                (Some(host), None, None, job) => {
                    index.by_node.entry(host).or_default().push((job, state));
                }
                (None, None, _, Some(job)) => {
                    let worst = index.by_job.entry(job).or_default();
                    *worst = (*worst).max(state);
                }
                (None, None, _, None) => {}
            }
        }
        index
    }

    /// The worst firing alert's state for `gpu`, if any alert touches it.
    pub fn alert_state(&self, gpu: &GpuView) -> Option<GpuState> {
        if self.absent.contains(&gpu.node) {
            return Some(GpuState::Absent);
        }
        // A MIG instance shares what touches its parent GPU (an XID, a throttle).
        let ids = std::iter::once(&gpu.id).chain(gpu.parent.as_ref());
        let by_id = ids.flat_map(|id| self.by_gpu_id.get(id).into_iter().flatten());
        let by_id = by_id
            .filter(|(host, _)| host.as_ref().is_none_or(|h| *h == gpu.node))
            .map(|&(_, s)| s);
        let by_name = self
            .by_gpu_name
            .get(&gpu.node)
            .and_then(|names| names.get(&gpu.name))
            .copied();
        let by_node = self.by_node.get(&gpu.node).into_iter().flatten();
        let by_node = by_node
            .filter(|(job, _)| job.is_none() || *job == gpu.job)
            .map(|&(_, s)| s);
        let by_job = gpu.job.as_ref().and_then(|j| self.by_job.get(j)).copied();
        by_id.chain(by_name).chain(by_node).chain(by_job).max()
    }

    /// The badge of `gpu`: the worst alert that touches it; ABSENT when its node
    /// `silent` (no GPU of it reported lately) even before `node_absent` fires; else
    /// IDLE under 5% busy; else OK (also when utilization is unknown).
    pub fn state(&self, gpu: &GpuView, silent: bool) -> GpuState {
        if silent {
            return GpuState::Absent;
        }
        self.alert_state(gpu).unwrap_or_else(|| {
            let idle = gpu
                .utilization
                .is_some_and(|u| u.is_finite() && u < IDLE_BELOW);
            if idle {
                GpuState::Idle
            } else {
                GpuState::Ok
            }
        })
    }
}

/// The state of each of `gpus` (sorted by node, so a node's GPUs are adjacent), in
/// their order. A node is silent when its newest point is more than `stale_ms` behind
/// `newest`, the newest point of all.
pub fn states(
    gpus: &[GpuView],
    index: &StateIndex,
    newest: Option<i64>,
    stale_ms: i64,
) -> Vec<GpuState> {
    let mut out = Vec::with_capacity(gpus.len());
    for node in gpus.chunk_by(|a, b| a.node == b.node) {
        let last = node.iter().map(|g| g.last_seen_unix_ms).max();
        let silent = match (newest, last) {
            (Some(newest), Some(last)) => newest.saturating_sub(last) > stale_ms,
            _ => false,
        };
        out.extend(node.iter().map(|g| index.state(g, silent)));
    }
    out
}

#[cfg(test)]
mod tests;
