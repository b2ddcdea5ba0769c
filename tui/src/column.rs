//! The columns of the GPU table, left to right. The table draws them and the sort
//! orders by them; this file only names them.

/// One column of the GPU table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// The tree: a node's name on its header row, the GPU's name (`gpu0`) below it.
    Name,
    Model,
    Util,
    Memory,
    Power,
    Temp,
    NvlinkTx,
    NvlinkRx,
    PcieTx,
    PcieRx,
    /// The badge: OK, IDLE, THROTTLE, ..., HANG, XID, ABSENT.
    State,
    Job,
    Team,
}

impl Column {
    /// Left to right; also the order `s` cycles the sort through.
    pub const ALL: [Column; 13] = [
        Column::Name,
        Column::Model,
        Column::Util,
        Column::Memory,
        Column::Power,
        Column::Temp,
        Column::NvlinkTx,
        Column::NvlinkRx,
        Column::PcieTx,
        Column::PcieRx,
        Column::State,
        Column::Job,
        Column::Team,
    ];

    /// The table header's title.
    pub fn title(self) -> &'static str {
        match self {
            Column::Name => "NODE/GPU",
            Column::Model => "MODEL",
            Column::Util => "UTIL",
            Column::Memory => "MEMORY",
            Column::Power => "POWER",
            Column::Temp => "TEMP",
            Column::NvlinkTx => "NVL TX",
            Column::NvlinkRx => "NVL RX",
            Column::PcieTx => "PCIE TX",
            Column::PcieRx => "PCIE RX",
            Column::State => "STATE",
            Column::Job => "JOB",
            Column::Team => "TEAM",
        }
    }

    /// The name in running text, as the footer says what the table is sorted by.
    pub fn label(self) -> &'static str {
        match self {
            Column::Name => "node",
            Column::Model => "model",
            Column::Util => "util",
            Column::Memory => "mem",
            Column::Power => "power",
            Column::Temp => "temp",
            Column::NvlinkTx => "nvlink tx",
            Column::NvlinkRx => "nvlink rx",
            Column::PcieTx => "pcie tx",
            Column::PcieRx => "pcie rx",
            Column::State => "state",
            Column::Job => "job",
            Column::Team => "team",
        }
    }

    /// Numbers read best biggest first, and states worst first; names read best in
    /// alphabetical order.
    pub fn numeric(self) -> bool {
        !matches!(
            self,
            Column::Name | Column::Model | Column::Job | Column::Team
        )
    }

    /// The column after this one, wrapping around.
    pub fn next(self) -> Column {
        let i = Column::ALL.iter().position(|&c| c == self).unwrap_or(0);
        Column::ALL[(i + 1) % Column::ALL.len()]
    }
}
