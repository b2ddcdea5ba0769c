//! The table's rows as the app shows them: the GPUs that pass the filter, grouped by
//! node, sorted, and under a folded node only the node's own row. Rebuilt whenever the
//! data, the filter, the sort or a fold changes; drawing only reads it.

use std::collections::BTreeSet;

use gpuwatch_model::api::GpuView;

use crate::filter::Filter;
use crate::gpu_state::GpuState;
use crate::sort::Sort;

/// One node and those of its GPUs that pass the filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodeGroup {
    pub(crate) node: String,
    /// Indices into the app's GPUs, in sort order; never empty.
    pub(crate) gpus: Vec<usize>,
    /// How many GPUs the node has, filtered out or not.
    pub(crate) total: usize,
    pub(crate) folded: bool,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowRef {
    /// A node's header: its totals, and ▾ or ▸.
    Node { group: usize },
    /// One GPU, under its node's header.
    Gpu { group: usize, gpu: usize },
}

impl RowRef {
    pub(crate) fn group(self) -> usize {
        match self {
            RowRef::Node { group } | RowRef::Gpu { group, .. } => group,
        }
    }
}

/// Which nodes are folded: all or none, except the nodes flipped one by one. Nodes
/// that appear later follow "all".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Folds {
    all: bool,
    flipped: BTreeSet<String>,
}

impl Folds {
    pub(crate) fn is_folded(&self, node: &str) -> bool {
        self.all != self.flipped.contains(node)
    }

    pub(crate) fn set(&mut self, node: &str, folded: bool) {
        if folded == self.all {
            self.flipped.remove(node);
        } else {
            self.flipped.insert(node.to_string());
        }
    }

    pub(crate) fn set_all(&mut self, folded: bool) {
        self.all = folded;
        self.flipped.clear();
    }
}

/// What the selection points at, to find it again after a rebuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Anchor {
    Node(String),
    Gpu { node: String, id: String },
}

/// Groups `gpus` (sorted by [`GpuView::sort_key`], so each node's GPUs are adjacent)
/// into nodes, keeps what passes `filter`, orders GPUs within a node by `sort` and
/// nodes by their first GPU, and lists the rows that `folds` leave visible. `states`
/// holds the badge of each GPU, at the same index.
pub(crate) fn build(
    gpus: &[GpuView],
    states: &[GpuState],
    filter: &Filter,
    sort: Sort,
    folds: &Folds,
) -> (Vec<NodeGroup>, Vec<RowRef>) {
    let mut groups: Vec<NodeGroup> = Vec::new();
    let mut start = 0;
    while start < gpus.len() {
        let node = &gpus[start].node;
        let end = gpus[start..]
            .iter()
            .position(|g| &g.node != node)
            .map_or(gpus.len(), |n| start + n);
        let state = |i: usize| states.get(i).copied().unwrap_or_default();
        let mut shown: Vec<usize> = (start..end)
            .filter(|&i| filter.matches(&gpus[i], state(i)))
            .collect();
        if !shown.is_empty() {
            shown.sort_by(|&a, &b| sort.compare((&gpus[a], state(a)), (&gpus[b], state(b))));
            groups.push(NodeGroup {
                node: node.clone(),
                gpus: shown,
                total: end - start,
                folded: folds.is_folded(node),
            });
        }
        start = end;
    }
    let first = |g: &NodeGroup| {
        let i = g.gpus[0];
        (&gpus[i], states.get(i).copied().unwrap_or_default())
    };
    groups.sort_by(|a, b| sort.compare(first(a), first(b)));

    let mut rows = Vec::with_capacity(groups.len() + gpus.len());
    for (group, g) in groups.iter().enumerate() {
        rows.push(RowRef::Node { group });
        if !g.folded {
            rows.extend(g.gpus.iter().map(|&gpu| RowRef::Gpu { group, gpu }));
        }
    }
    (groups, rows)
}

/// What `row` shows, by name rather than place.
pub(crate) fn anchor(gpus: &[GpuView], groups: &[NodeGroup], row: RowRef) -> Option<Anchor> {
    let node = groups.get(row.group())?.node.clone();
    Some(match row {
        RowRef::Node { .. } => Anchor::Node(node),
        RowRef::Gpu { gpu, .. } => Anchor::Gpu {
            node,
            id: gpus.get(gpu)?.id.clone(),
        },
    })
}

/// The row showing `anchor`; for a GPU that is now hidden, its node's row.
pub(crate) fn find(
    gpus: &[GpuView],
    groups: &[NodeGroup],
    rows: &[RowRef],
    anchor: &Anchor,
) -> Option<usize> {
    let node_row = |name: &str| {
        rows.iter()
            .position(|r| matches!(r, RowRef::Node { group } if groups[*group].node == name))
    };
    match anchor {
        Anchor::Node(name) => node_row(name),
        Anchor::Gpu { node, id } => rows
            .iter()
            .position(|r| matches!(r, RowRef::Gpu { gpu, .. } if gpus[*gpu].id == *id))
            .or_else(|| node_row(node)),
    }
}
