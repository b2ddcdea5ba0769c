//! The order of the GPU table: by one [`Column`], either way. GPUs are ordered within
//! their node, and nodes by their first GPU, so the table stays grouped by node and the
//! node holding the busiest (or idlest, or hottest) GPU comes first.

use std::cmp::Ordering;

use gpuwatch_model::api::GpuView;

use crate::column::Column;
use crate::format;
use crate::gpu_state::GpuState;

/// What the table is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub column: Column,
    pub descending: bool,
}

/// By node name, then GPU index.
impl Default for Sort {
    fn default() -> Self {
        Sort {
            column: Column::Name,
            descending: false,
        }
    }
}

/// A value to order by. `None` sorts last whichever way the table is sorted.
enum Key<'a> {
    Number(Option<f64>),
    Text(Option<&'a str>),
}

impl Sort {
    /// The next column (`s`), in its natural direction: numbers biggest first, names
    /// alphabetical.
    pub fn next_column(self) -> Sort {
        let column = self.column.next();
        Sort {
            column,
            descending: column.numeric(),
        }
    }

    /// The same column the other way round (`S`).
    pub fn reversed(self) -> Sort {
        Sort {
            descending: !self.descending,
            ..self
        }
    }

    pub fn is_default(self) -> bool {
        self == Sort::default()
    }

    /// `▼` when biggest (or last in the alphabet) comes first, else `▲`.
    pub fn arrow(self) -> &'static str {
        if self.descending {
            "▼"
        } else {
            "▲"
        }
    }

    /// How `a` and `b` (each a GPU and its state badge) stand in this order. Ties, and
    /// GPUs both missing the value, fall back to node and GPU index, so the order is
    /// total and stable between fetches.
    pub fn compare(
        self,
        (a, a_state): (&GpuView, GpuState),
        (b, b_state): (&GpuView, GpuState),
    ) -> Ordering {
        let by_place = || a.sort_key().cmp(&b.sort_key());
        if self.column == Column::Name {
            let order = by_place();
            return if self.descending {
                order.reverse()
            } else {
                order
            };
        }
        let order = match (self.key(a, a_state), self.key(b, b_state)) {
            (Key::Number(x), Key::Number(y)) => {
                let (x, y) = (x.filter(|v| v.is_finite()), y.filter(|v| v.is_finite()));
                missing_last(x, y, |x, y| self.direct(x.total_cmp(&y)))
            }
            (Key::Text(x), Key::Text(y)) => missing_last(x, y, |x, y| self.direct(x.cmp(y))),
            // Every column has one kind of key.
            _ => Ordering::Equal,
        };
        order.then_with(by_place)
    }

    fn direct(self, order: Ordering) -> Ordering {
        if self.descending {
            order.reverse()
        } else {
            order
        }
    }

    fn key(self, gpu: &GpuView, state: GpuState) -> Key<'_> {
        match self.column {
            // Worst first is the natural (descending) direction.
            Column::State => Key::Number(Some(f64::from(state.rank()))),
            Column::Name => Key::Text(Some(&gpu.node)),
            Column::Model => Key::Text(gpu.model.as_deref().map(format::short_model)),
            Column::Util => Key::Number(gpu.utilization),
            Column::Memory => Key::Number(match (gpu.memory_used_bytes, gpu.memory_limit_bytes) {
                (Some(used), Some(limit)) if limit > 0.0 => Some(used / limit),
                _ => None,
            }),
            Column::Power => Key::Number(gpu.power_watts),
            Column::Temp => Key::Number(gpu.temperature_celsius),
            Column::NvlinkTx => Key::Number(gpu.nvlink_tx_bytes_per_second),
            Column::NvlinkRx => Key::Number(gpu.nvlink_rx_bytes_per_second),
            Column::PcieTx => Key::Number(gpu.pcie_tx_bytes_per_second),
            Column::PcieRx => Key::Number(gpu.pcie_rx_bytes_per_second),
            Column::Job => Key::Text(gpu.job.as_deref()),
            Column::Team => Key::Text(gpu.team.as_deref()),
        }
    }
}

fn missing_last<T>(a: Option<T>, b: Option<T>, cmp: impl FnOnce(T, T) -> Ordering) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => cmp(a, b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(node: &str, index: u32, util: Option<f64>, job: Option<&str>) -> GpuView {
        GpuView {
            node: node.into(),
            id: format!("GPU-{node}-{index}"),
            name: format!("gpu{index}"),
            utilization: util,
            job: job.map(Into::into),
            ..GpuView::default()
        }
    }

    fn order(sort: Sort, mut gpus: Vec<GpuView>) -> Vec<String> {
        gpus.sort_by(|a, b| sort.compare((a, GpuState::Ok), (b, GpuState::Ok)));
        gpus.iter()
            .map(|g| format!("{}/{}", g.node, g.name))
            .collect()
    }

    fn fleet() -> Vec<GpuView> {
        vec![
            gpu("b", 0, Some(0.9), Some("4411")),
            gpu("a", 10, Some(0.1), None),
            gpu("a", 2, None, Some("17")),
            gpu("b", 1, Some(0.1), Some("4411")),
            gpu("a", 1, Some(0.5), Some("17")),
        ]
    }

    #[test]
    fn columns_order_both_ways_with_missing_values_last() {
        let util = Sort {
            column: Column::Util,
            descending: true,
        };
        let job = Sort {
            column: Column::Job,
            descending: false,
        };
        let cases = [
            (
                Sort::default(),
                ["a/gpu1", "a/gpu2", "a/gpu10", "b/gpu0", "b/gpu1"],
            ),
            (
                Sort::default().reversed(),
                ["b/gpu1", "b/gpu0", "a/gpu10", "a/gpu2", "a/gpu1"],
            ),
            // Ties (0.1 twice) in node and index order; no value last.
            (util, ["b/gpu0", "a/gpu1", "a/gpu10", "b/gpu1", "a/gpu2"]),
            (
                util.reversed(),
                ["a/gpu10", "b/gpu1", "a/gpu1", "b/gpu0", "a/gpu2"],
            ),
            (job, ["a/gpu1", "a/gpu2", "b/gpu0", "b/gpu1", "a/gpu10"]),
            (
                job.reversed(),
                ["b/gpu0", "b/gpu1", "a/gpu1", "a/gpu2", "a/gpu10"],
            ),
        ];
        for (sort, want) in cases {
            assert_eq!(order(sort, fleet()), want, "{sort:?}");
        }
    }

    #[test]
    fn s_cycles_every_column_in_its_natural_direction() {
        let mut sort = Sort::default();
        let mut seen = Vec::new();
        for _ in 0..Column::ALL.len() {
            sort = sort.next_column();
            seen.push(sort.column);
            assert_eq!(sort.descending, sort.column.numeric(), "{sort:?}");
        }
        assert_eq!(sort.column, Column::Name, "wraps around");
        assert_eq!(seen.len(), Column::ALL.len());
        assert!(Column::ALL.iter().all(|c| seen.contains(c)));
        assert!(sort.is_default());
        assert!(!sort.reversed().is_default());
        assert_eq!(sort.reversed().reversed(), sort);
        assert_eq!((sort.arrow(), sort.reversed().arrow()), ("▲", "▼"));
    }

    #[test]
    fn numbers_that_are_not_finite_count_as_missing() {
        let sort = Sort {
            column: Column::Util,
            descending: true,
        };
        let gpus = vec![
            gpu("a", 0, Some(f64::NAN), None),
            gpu("a", 1, Some(0.2), None),
            gpu("a", 2, Some(f64::INFINITY), None),
        ];
        assert_eq!(order(sort, gpus), ["a/gpu1", "a/gpu0", "a/gpu2"]);
    }
}
