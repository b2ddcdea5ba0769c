//! What a node's header row shows: its shown GPUs summed up. Means for utilization,
//! sums for memory, power and traffic, the hottest temperature, and one job (or team,
//! or model) when they all share it, else how many there are.

use std::borrow::Cow;

use gpuwatch_model::api::GpuView;

use crate::app::NodeGroup;
use crate::format::{self, MISSING};

/// The values of one node's header row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodeTotals<'a> {
    pub(crate) utilization: Option<f64>,
    pub(crate) memory_used_bytes: Option<f64>,
    pub(crate) memory_limit_bytes: Option<f64>,
    pub(crate) power_watts: Option<f64>,
    /// Only when every GPU's limit is known: a partial sum would mislead.
    pub(crate) power_limit_watts: Option<f64>,
    pub(crate) temperature_celsius: Option<f64>,
    pub(crate) nvlink_tx_bytes_per_second: Option<f64>,
    pub(crate) nvlink_rx_bytes_per_second: Option<f64>,
    pub(crate) pcie_tx_bytes_per_second: Option<f64>,
    pub(crate) pcie_rx_bytes_per_second: Option<f64>,
    pub(crate) model: Distinct<'a>,
    pub(crate) job: Distinct<'a>,
    pub(crate) team: Distinct<'a>,
    /// The newest point of any of its GPUs.
    pub(crate) last_seen_unix_ms: i64,
}

/// How many different values a node's GPUs have for a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Distinct<'a> {
    None,
    One(&'a str),
    Many(usize),
}

impl<'a> Distinct<'a> {
    pub(crate) fn of(values: impl Iterator<Item = Option<&'a str>>) -> Self {
        let mut seen: Vec<&str> = Vec::new();
        for value in values.flatten() {
            if !seen.contains(&value) {
                seen.push(value);
            }
        }
        match seen.as_slice() {
            [] => Distinct::None,
            [one] => Distinct::One(one),
            many => Distinct::Many(many.len()),
        }
    }

    /// `-`, the value, or `3 jobs`.
    pub(crate) fn text(self, many: &str) -> Cow<'a, str> {
        match self {
            Distinct::None => Cow::Borrowed(MISSING),
            Distinct::One(value) => Cow::Borrowed(value),
            Distinct::Many(n) => Cow::Owned(format!("{n} {many}")),
        }
    }
}

/// The name cell of a node's row after the fold mark: `node-01 (8)`, or with a
/// filter that hides some, `node-01 (3/8)`.
pub(crate) fn node_label(group: &NodeGroup) -> String {
    if group.gpus.len() == group.total {
        format!("{} ({})", group.node, group.total)
    } else {
        format!("{} ({}/{})", group.node, group.gpus.len(), group.total)
    }
}

impl<'a> NodeTotals<'a> {
    pub(crate) fn of(gpus: &'a [GpuView], group: &NodeGroup) -> Self {
        let every = || group.gpus.iter().filter_map(|&i| gpus.get(i));
        // Whole GPUs for the sums: a MIG instance's memory is its parent's already.
        let members = || every().filter(|g| g.parent.is_none());
        let known = |value: fn(&GpuView) -> Option<f64>| {
            members().filter_map(value).filter(|v| v.is_finite())
        };
        let sum = |value: fn(&GpuView) -> Option<f64>| -> Option<f64> {
            known(value).fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v))
        };
        let utils: Vec<f64> = known(|g| g.utilization).collect();
        let every_limit = members().all(|g| g.power_limit_watts.is_some_and(f64::is_finite));
        NodeTotals {
            utilization: (!utils.is_empty())
                .then(|| utils.iter().sum::<f64>() / utils.len() as f64),
            memory_used_bytes: sum(|g| g.memory_used_bytes),
            memory_limit_bytes: sum(|g| g.memory_limit_bytes),
            power_watts: sum(|g| g.power_watts),
            power_limit_watts: every_limit.then(|| sum(|g| g.power_limit_watts)).flatten(),
            temperature_celsius: known(|g| g.temperature_celsius).reduce(f64::max),
            nvlink_tx_bytes_per_second: sum(|g| g.nvlink_tx_bytes_per_second),
            nvlink_rx_bytes_per_second: sum(|g| g.nvlink_rx_bytes_per_second),
            pcie_tx_bytes_per_second: sum(|g| g.pcie_tx_bytes_per_second),
            pcie_rx_bytes_per_second: sum(|g| g.pcie_rx_bytes_per_second),
            model: Distinct::of(members().map(|g| g.model.as_deref().map(format::short_model))),
            // In MIG mode the jobs run on the instances.
            job: Distinct::of(every().map(|g| g.job.as_deref())),
            team: Distinct::of(every().map(|g| g.team.as_deref())),
            last_seen_unix_ms: members().map(|g| g.last_seen_unix_ms).max().unwrap_or(0),
        }
    }

    /// Memory as a 0..1 ratio of the limit, when both are known.
    pub(crate) fn memory_ratio(&self) -> Option<f64> {
        match (self.memory_used_bytes, self.memory_limit_bytes) {
            (Some(used), Some(limit)) if limit > 0.0 => Some(used / limit),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(
        util: Option<f64>,
        watts: Option<f64>,
        limit: Option<f64>,
        job: Option<&str>,
    ) -> GpuView {
        GpuView {
            node: "n".into(),
            utilization: util,
            power_watts: watts,
            power_limit_watts: limit,
            temperature_celsius: watts.map(|w| w / 10.0),
            job: job.map(Into::into),
            model: Some("NVIDIA H100 80GB HBM3".into()),
            ..GpuView::default()
        }
    }

    fn group(n: usize, total: usize) -> NodeGroup {
        NodeGroup {
            node: "node-01".into(),
            gpus: (0..n).collect(),
            total,
            folded: false,
        }
    }

    #[test]
    fn a_node_sums_what_its_gpus_sent() {
        let gpus = vec![
            gpu(Some(0.5), Some(300.0), Some(700.0), Some("4411")),
            gpu(Some(1.0), Some(500.0), None, Some("4411")),
            gpu(None, None, Some(700.0), None),
        ];
        let t = NodeTotals::of(&gpus, &group(3, 3));
        assert_eq!(t.utilization, Some(0.75), "mean of the known");
        assert_eq!(t.power_watts, Some(800.0));
        assert_eq!(t.power_limit_watts, None, "one limit unknown");
        assert_eq!(t.temperature_celsius, Some(50.0), "the hottest");
        assert_eq!(t.job, Distinct::One("4411"));
        assert_eq!(t.model, Distinct::One("H100 80GB HBM3"));
        assert_eq!(t.memory_ratio(), None);
        assert_eq!(t.nvlink_tx_bytes_per_second, None, "nothing sent");
    }

    #[test]
    fn labels_say_one_value_or_how_many() {
        let three = Distinct::of([Some("a"), None, Some("b"), Some("a"), Some("c")].into_iter());
        assert_eq!(three, Distinct::Many(3));
        assert_eq!(three.text("jobs"), "3 jobs");
        assert_eq!(Distinct::of([Some("a")].into_iter()).text("jobs"), "a");
        assert_eq!(Distinct::of([None].into_iter()).text("jobs"), "-");
        assert_eq!(node_label(&group(8, 8)), "node-01 (8)");
        assert_eq!(node_label(&group(3, 8)), "node-01 (3/8)");
    }
}
