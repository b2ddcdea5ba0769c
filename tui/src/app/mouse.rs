//! The mouse, when `--mouse` turns it on: a click on a tab shows it, a click on a row
//! highlights it (a second click on a GPU's highlighted row opens its detail view), the
//! wheel moves the highlight.

use super::{App, Key, Mode, Mouse, MouseKind, Tab};
use crate::layout;

impl App {
    pub(super) fn on_mouse(&mut self, mouse: Mouse) -> bool {
        if self.mode != Mode::Table {
            return false;
        }
        match mouse.kind {
            MouseKind::ScrollUp => self.update(super::Event::Key(Key::Up)),
            MouseKind::ScrollDown => self.update(super::Event::Key(Key::Down)),
            MouseKind::Click if mouse.row == layout::TAB_BAR_ROW => {
                match Tab::at_column(mouse.column) {
                    Some(tab) => self.show(tab),
                    None => false,
                }
            }
            MouseKind::Click => match layout::list_row_at(mouse.row) {
                Some(row) => self.click_row(row),
                None => false,
            },
        }
    }

    /// A click on the `row`th visible row of the list on screen.
    fn click_row(&mut self, row: usize) -> bool {
        if self.detail.is_some() {
            return false;
        }
        let visible = self.list_rows();
        if row >= visible {
            return false;
        }
        match self.tab {
            Tab::Gpus => {
                let index = self.offset + row;
                if index >= self.rows.len() {
                    return false;
                }
                if index == self.selected {
                    return self.open_detail();
                }
                self.select(index);
                true
            }
            Tab::Alerts => {
                let index = self.alerts.offset + row;
                if index >= self.alerts.alerts.len() {
                    return false;
                }
                self.alerts.select(index, visible);
                true
            }
            Tab::Nodes => {
                let len = self.hosts.data.as_ref().map_or(0, |d| d.nodes.len());
                let index = self.hosts_scroll.offset + row;
                if index >= len {
                    return false;
                }
                self.hosts_scroll.select(index, len, visible);
                true
            }
            Tab::Inference => {
                let len = self.models.data.as_ref().map_or(0, |d| d.models.len());
                let index = self.models_scroll.offset + row;
                if index >= len {
                    return false;
                }
                self.models_scroll.select(index, len, visible);
                true
            }
            Tab::Cost => false,
        }
    }
}
