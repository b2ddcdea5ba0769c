//! The views on tabs: `Tab` and `BackTab` cycle, `1` to `5` jump.

/// The view on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Tab {
    /// The GPU table, grouped by node.
    #[default]
    Gpus,
    /// Firing alerts, then recently resolved ones.
    Alerts,
    /// The nodes' hosts: CPU, iowait, disks, network.
    Nodes,
    /// Served models: traffic, latency, drift.
    Inference,
    /// Spend by team, job and node, and the top wasters.
    Cost,
}

impl Tab {
    /// In the order of the tab bar and of `Tab`.
    pub(crate) const ALL: [Tab; 5] = [
        Tab::Gpus,
        Tab::Alerts,
        Tab::Nodes,
        Tab::Inference,
        Tab::Cost,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Tab::Gpus => "GPUs",
            Tab::Alerts => "Alerts",
            Tab::Nodes => "Nodes",
            Tab::Inference => "Inference",
            Tab::Cost => "Cost",
        }
    }

    /// Its label in the tab bar: ` 1 GPUs `.
    pub(crate) fn caption(self) -> String {
        format!(" {} {} ", self.digit(), self.label())
    }

    /// The tab whose caption covers `column` of the tab bar (the captions side by side
    /// from column 0).
    pub(crate) fn at_column(column: u16) -> Option<Tab> {
        let mut start = 0usize;
        for tab in Tab::ALL {
            let end = start + tab.caption().chars().count();
            if (start..end).contains(&usize::from(column)) {
                return Some(tab);
            }
            start = end;
        }
        None
    }

    fn index(self) -> usize {
        Tab::ALL.iter().position(|&t| t == self).unwrap_or(0)
    }

    /// The key that shows it: `1` to `5`.
    pub(crate) fn digit(self) -> char {
        char::from_digit(u32::try_from(self.index() + 1).unwrap_or(0), 10).unwrap_or('?')
    }

    pub(crate) fn from_digit(c: char) -> Option<Tab> {
        let n = usize::try_from(c.to_digit(10)?).ok()?;
        Tab::ALL.get(n.checked_sub(1)?).copied()
    }

    pub(crate) fn next(self) -> Tab {
        Tab::ALL[(self.index() + 1) % Tab::ALL.len()]
    }

    pub(crate) fn previous(self) -> Tab {
        Tab::ALL[(self.index() + Tab::ALL.len() - 1) % Tab::ALL.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_and_cycling_agree() {
        for tab in Tab::ALL {
            assert_eq!(Tab::from_digit(tab.digit()), Some(tab));
            assert_eq!(tab.next().previous(), tab);
        }
        assert_eq!(Tab::from_digit('0'), None);
        assert_eq!(Tab::from_digit('6'), None);
        assert_eq!(Tab::Cost.next(), Tab::Gpus);
        assert_eq!(Tab::Gpus.next(), Tab::Alerts);
    }
}
