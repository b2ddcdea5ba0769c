//! The screen's geometry, which both drawing (`ui`) and input (`app`: how many rows a
//! page holds, what a click hits) need: a leaf, so neither imports the other for it.

/// Lines that are not table rows: totals, tabs, the table's title row, the footer.
const CHROME_LINES: u16 = 4;

/// The screen row of the tab bar.
pub(crate) const TAB_BAR_ROW: u16 = 1;
/// The screen row of a list's first row, below the totals, the tabs and its title.
const FIRST_LIST_ROW: u16 = 3;

/// Which visible row of a list the screen row `row` is; `None` above the list. The
/// caller checks it against the rows there are.
pub(crate) fn list_row_at(row: u16) -> Option<usize> {
    row.checked_sub(FIRST_LIST_ROW).map(usize::from)
}

/// How many GPU rows a terminal `height` lines tall shows.
pub(crate) fn table_body_rows(height: u16) -> usize {
    usize::from(height.saturating_sub(CHROME_LINES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_below_the_chrome() {
        assert_eq!(table_body_rows(24), 20);
        assert_eq!(table_body_rows(2), 0);
        assert_eq!(list_row_at(2), None);
        assert_eq!(list_row_at(3), Some(0));
    }
}
