//! Keys while the filter prompt or the help overlay is open.

use super::{App, Key, Mode};
use crate::filter::Filter;

impl App {
    pub(super) fn on_filter_key(&mut self, key: Key) -> bool {
        let Mode::Filter { input, error } = &mut self.mode else {
            return false;
        };
        match key {
            Key::Ctrl('c') => self.should_quit = true,
            Key::Esc => self.mode = Mode::Table,
            Key::Enter => match Filter::parse(input) {
                Ok(filter) => {
                    self.mode = Mode::Table;
                    self.set_filter(filter);
                }
                // The filter in force stays; the prompt stays open to fix the text.
                Err(e) => *error = Some(e.to_string()),
            },
            Key::Char(c) => {
                input.push(c);
                *error = None;
            }
            Key::Backspace => {
                input.pop();
                *error = None;
            }
            Key::Ctrl('u') => {
                input.clear();
                *error = None;
            }
            _ => return false,
        }
        true
    }

    pub(super) fn on_help_key(&mut self, key: Key) -> bool {
        match key {
            Key::Ctrl('c') => self.should_quit = true,
            Key::Char('?') | Key::Char('q') | Key::Esc | Key::Enter => self.mode = Mode::Table,
            _ => return false,
        }
        true
    }
}
