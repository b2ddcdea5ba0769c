//! Which columns of the GPU table fit the terminal, and how wide each one is. Numbers
//! have fixed widths so columns do not jump as values change; names take the width of
//! the longest one, up to a cap, and shrink to a minimum before a column is dropped.

use gpuwatch_model::api::GpuView;

use super::node_totals::{node_label, Distinct};
use crate::app::NodeGroup;
use crate::column::Column;
use crate::format::{self, MISSING};
use crate::gpu_state::GpuState;

/// Marks the selected row, so the selection shows without colour too.
pub(crate) const HIGHLIGHT_SYMBOL: &str = "▶ ";
/// The cells the mark takes, on every row.
pub(crate) const HIGHLIGHT_WIDTH: u16 = 2;
pub(crate) const SPACING: u16 = 1;
/// A GPU's name sits this far right of its node's fold mark.
pub(crate) const GPU_INDENT: &str = "  ";
pub(crate) const MIN_BAR: u16 = 5;
pub(crate) const MAX_BAR: u16 = 24;
/// `99.9/99.9G`, `1024/1024G`.
pub(crate) const MEMORY_TEXT: u16 = 10;
/// ` 52%`.
pub(crate) const PERCENT_TEXT: u16 = 4;
/// `1000/1000W`.
const POWER_TEXT: u16 = 10;
/// `100°C`.
const TEMP_TEXT: u16 = 5;
/// `999.9G/s`.
const RATE_TEXT: u16 = 8;

/// What goes when the terminal is too narrow for everything, first to last. The
/// names, utilization, memory and state always stay. The job outlasts the temperature:
/// an IDLE badge means money only next to the job holding the GPU, and a hot GPU shows
/// as THROTTLE anyway.
const DROP_ORDER: [&[Column]; 7] = [
    &[Column::Model],
    &[Column::PcieTx, Column::PcieRx],
    &[Column::NvlinkTx, Column::NvlinkRx],
    &[Column::Team],
    &[Column::Temp],
    &[Column::Job],
    &[Column::Power],
];

/// The columns that fit and their widths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ColumnLayout {
    pub(crate) columns: Vec<(Column, u16)>,
    pub(crate) util_bar: u16,
    pub(crate) memory_bar: u16,
}

/// How wide a column would like to be: never below `min`, `natural` when there is
/// room, `full` when there is room to spare.
#[derive(Debug, Clone, Copy)]
struct Wish {
    min: u16,
    natural: u16,
    full: u16,
}

impl Wish {
    fn fixed(width: u16) -> Self {
        Wish {
            min: width,
            natural: width,
            full: width,
        }
    }

    /// A column of names: the longest of `lengths` (and the title, with room for the
    /// sort arrow) up to `cap`, shrinking to `min`, growing to `full_cap`.
    fn names(
        column: Column,
        lengths: impl Iterator<Item = usize>,
        min: u16,
        cap: u16,
        full_cap: u16,
    ) -> Self {
        let longest = lengths
            .chain([column.title().chars().count() + 1, MISSING.len()])
            .max()
            .unwrap_or(0);
        let longest = u16::try_from(longest).unwrap_or(u16::MAX);
        let natural = longest.min(cap);
        Wish {
            min: natural.min(min),
            natural,
            full: longest.min(full_cap),
        }
    }
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

fn wishes(gpus: &[GpuView], groups: &[NodeGroup], column: Column) -> Wish {
    let label = |of: fn(&GpuView) -> Option<&str>, many: &str| {
        let per_gpu = gpus.iter().filter_map(of).map(chars);
        let per_node = groups.iter().map(move |g| {
            chars(&Distinct::of(g.gpus.iter().filter_map(|&i| gpus.get(i)).map(of)).text(many))
        });
        per_gpu.chain(per_node).collect::<Vec<_>>()
    };
    match column {
        Column::Name => {
            let nodes = groups.iter().map(|g| 2 + chars(&node_label(g)));
            let names = gpus.iter().map(|g| chars(GPU_INDENT) + chars(&g.name));
            let natural = Wish::names(column, nodes.chain(names), 28, 28, 28);
            Wish::fixed(natural.natural)
        }
        Column::Model => {
            let models = gpus
                .iter()
                .filter_map(|g| g.model.as_deref())
                .map(|m| chars(format::short_model(m)))
                .chain(["mixed".len()]);
            Wish::fixed(Wish::names(column, models, 16, 16, 16).natural)
        }
        Column::Util => Wish::fixed(MIN_BAR + 1 + PERCENT_TEXT),
        Column::Memory => Wish::fixed(MIN_BAR + 1 + MEMORY_TEXT),
        Column::Power => Wish::fixed(POWER_TEXT),
        Column::Temp => Wish::fixed(TEMP_TEXT),
        Column::NvlinkTx | Column::NvlinkRx | Column::PcieTx | Column::PcieRx => {
            Wish::fixed(RATE_TEXT)
        }
        Column::State => Wish::fixed(GpuState::WIDTH),
        Column::Job => Wish::names(
            column,
            label(|g| g.job.as_deref(), "jobs").into_iter(),
            8,
            20,
            32,
        ),
        Column::Team => Wish::names(
            column,
            label(|g| g.team.as_deref(), "teams").into_iter(),
            6,
            14,
            20,
        ),
    }
}

fn total(widths: &[(Column, u16)]) -> u16 {
    let cells: u16 = widths.iter().map(|(_, w)| w).sum();
    let gaps = SPACING * u16::try_from(widths.len().saturating_sub(1)).unwrap_or(0);
    HIGHLIGHT_WIDTH + cells + gaps
}

/// Grows `column` towards `target` from what is left of `width`.
fn grow(widths: &mut [(Column, u16)], column: Column, target: u16, width: u16) {
    let spare = width.saturating_sub(total(widths));
    if let Some((_, w)) = widths.iter_mut().find(|(c, _)| *c == column) {
        *w += target.saturating_sub(*w).min(spare);
    }
}

/// The columns for a table `width` cells wide showing `gpus` grouped as `groups`.
pub(crate) fn column_layout(gpus: &[GpuView], groups: &[NodeGroup], width: u16) -> ColumnLayout {
    let mut wanted: Vec<(Column, Wish)> = Column::ALL
        .iter()
        .map(|&c| (c, wishes(gpus, groups, c)))
        .collect();
    let at_min = |wanted: &[(Column, Wish)]| -> Vec<(Column, u16)> {
        wanted.iter().map(|&(c, w)| (c, w.min)).collect()
    };
    for victims in DROP_ORDER {
        if total(&at_min(&wanted)) <= width {
            break;
        }
        wanted.retain(|(c, _)| !victims.contains(c));
    }
    let mut widths = at_min(&wanted);
    // Names first get their natural width back, a cell each in turn so that none
    // takes it all; then the bars widen evenly; then long names get the rest.
    loop {
        let before = total(&widths);
        for &(c, wish) in &wanted {
            let one_more = widths
                .iter()
                .find(|(w, _)| *w == c)
                .map_or(0, |&(_, w)| w.saturating_add(1).min(wish.natural));
            grow(&mut widths, c, one_more, width);
        }
        if total(&widths) == before {
            break;
        }
    }
    let spare = width.saturating_sub(total(&widths));
    let util_extra = (spare / 2).min(MAX_BAR - MIN_BAR);
    let memory_extra = (spare - util_extra).min(MAX_BAR - MIN_BAR);
    for (c, w) in &mut widths {
        match c {
            Column::Util => *w += util_extra,
            Column::Memory => *w += memory_extra,
            _ => {}
        }
    }
    for &(c, wish) in &wanted {
        grow(&mut widths, c, wish.full, width);
    }
    ColumnLayout {
        columns: widths,
        util_bar: MIN_BAR + util_extra,
        memory_bar: MIN_BAR + memory_extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(layout: &ColumnLayout) -> Vec<Column> {
        layout.columns.iter().map(|&(c, _)| c).collect()
    }

    fn width_of(layout: &ColumnLayout, column: Column) -> Option<u16> {
        layout
            .columns
            .iter()
            .find(|&&(c, _)| c == column)
            .map(|&(_, w)| w)
    }

    fn sample() -> (Vec<GpuView>, Vec<NodeGroup>) {
        let gpus = vec![GpuView {
            node: "node-01".into(),
            name: "gpu0".into(),
            model: Some("NVIDIA H100 80GB HBM3".into()),
            job: Some("infer-llama-3.1-8b-eu-west-2".into()),
            team: Some("llm-pretrain".into()),
            ..GpuView::default()
        }];
        let groups = vec![NodeGroup {
            node: "node-01".into(),
            gpus: vec![0],
            total: 1,
            folded: false,
        }];
        (gpus, groups)
    }

    #[test]
    fn wide_terminals_get_every_column_and_wider_bars() {
        let (gpus, groups) = sample();
        let layout = column_layout(&gpus, &groups, 210);
        assert_eq!(names(&layout), Column::ALL.to_vec());
        assert!(layout.util_bar > MIN_BAR && layout.memory_bar > MIN_BAR);
        assert!(layout.util_bar <= MAX_BAR && layout.memory_bar <= MAX_BAR);
        assert_eq!(
            width_of(&layout, Column::Job),
            Some(28),
            "the whole job name"
        );
        assert_eq!(width_of(&layout, Column::State), Some(GpuState::WIDTH));
        assert!(total(&layout.columns) <= 210);
    }

    #[test]
    fn narrow_terminals_drop_the_least_important_columns_first() {
        let (gpus, groups) = sample();
        let at_80 = column_layout(&gpus, &groups, 80);
        let kept = names(&at_80);
        // The state badge takes the team's place.
        for gone in [
            Column::Model,
            Column::PcieTx,
            Column::NvlinkTx,
            Column::Team,
        ] {
            assert!(!kept.contains(&gone), "{gone:?} at 80 columns");
        }
        for stays in [Column::State, Column::Job, Column::Temp, Column::Power] {
            assert!(kept.contains(&stays), "{stays:?} at 80 columns");
        }
        assert_eq!(total(&at_80.columns), 80, "every cell used");

        let at_60 = column_layout(&gpus, &groups, 60);
        let kept = names(&at_60);
        for must in [Column::Name, Column::Util, Column::Memory, Column::State] {
            assert!(kept.contains(&must), "{must:?} at 60 columns");
        }
        assert!(total(&at_60.columns) <= 60);
    }

    #[test]
    fn names_shrink_to_their_minimum_before_a_column_goes() {
        let (gpus, groups) = sample();
        let at_80 = column_layout(&gpus, &groups, 80);
        let job = width_of(&at_80, Column::Job).unwrap_or(0);
        assert!((8..16).contains(&job), "job squeezed to {job}");
        assert_eq!(at_80.util_bar, MIN_BAR, "bars wait for names");
    }
}
