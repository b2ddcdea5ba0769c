//! The shape every detector has, in the spirit of tokio-console's `Warn`: its settings
//! (a section of `[collector.alerts]`), and an evaluation at an event time that says
//! what it found and what it could not judge for want of data, so missing data never
//! reads as healthy.

use std::collections::BTreeMap;

use gpuwatch_model::{AlertKind, Finding};

use super::config::AlertSettings;
use super::drift::DriftReferences;
use crate::store::Store;

/// A GPU or model a detector could not judge at `t`: the labels that name it (as a
/// finding's would) and what was missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotEnoughData {
    pub kind: AlertKind,
    pub labels: BTreeMap<String, String>,
    /// What of a model it concerns (a feature, `prediction`, a latency metric); empty
    /// for a GPU.
    pub what: String,
    /// `no utilization`, `no power`, ...
    pub missing: String,
}

impl NotEnoughData {
    /// A GPU, named by `labels` (`window::gpu_labels`), not judged for want of
    /// `missing`.
    pub fn gpu(kind: AlertKind, labels: BTreeMap<String, String>, missing: &str) -> Self {
        NotEnoughData {
            kind,
            labels,
            what: String::new(),
            missing: missing.to_string(),
        }
    }

    /// As the API shows it, under the GPU or model it concerns.
    pub fn to_api(&self) -> gpuwatch_model::api::NotJudged {
        gpuwatch_model::api::NotJudged {
            kind: self.kind,
            what: self.what.clone(),
            missing: self.missing.clone(),
        }
    }
}

/// What the detectors say at one instant.
#[derive(Debug, Default)]
pub struct Evaluation {
    pub findings: Vec<Finding>,
    pub not_enough_data: Vec<NotEnoughData>,
}

impl Evaluation {
    pub fn extend(&mut self, other: Evaluation) {
        self.findings.extend(other.findings);
        self.not_enough_data.extend(other.not_enough_data);
    }

    /// `(node gpuN, what was missing)` of each GPU not judged, for tests.
    #[cfg(test)]
    pub(crate) fn unjudged_gpus(&self) -> Vec<(String, &str)> {
        self.not_enough_data
            .iter()
            .map(|n| (super::window::gpu_title(&n.labels), n.missing.as_str()))
            .collect()
    }
}

impl From<Vec<Finding>> for Evaluation {
    fn from(findings: Vec<Finding>) -> Self {
        Evaluation {
            findings,
            not_enough_data: Vec::new(),
        }
    }
}

/// What a detector reads besides the store: what earlier detectors of the same
/// instant found (a straggler's summary names its node's degraded port) and the
/// drift references, which the drift detectors complete as time goes on.
#[derive(Debug)]
pub struct Context<'a> {
    pub store: &'a Store,
    /// Unix nanoseconds, the fleet's event time.
    pub t: i64,
    /// Node -> its degraded fabric ports, from `fabric_degraded`.
    pub degraded: BTreeMap<String, String>,
    pub references: &'a mut DriftReferences,
}

/// One detector: its settings and its evaluation.
pub trait Detector {
    type Settings;
    /// Its section of the validated `[collector.alerts]`.
    fn settings(all: &AlertSettings) -> &Self::Settings;
    fn evaluate(cx: &mut Context<'_>, s: &Self::Settings) -> Evaluation;
}

/// Runs `D` with its settings: the list in `detect.rs` holds these.
pub(super) fn run<D: Detector>(cx: &mut Context<'_>, all: &AlertSettings) -> Evaluation {
    D::evaluate(cx, D::settings(all))
}
