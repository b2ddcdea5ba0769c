//! Data of a view fetched only while it is on screen (nodes, models, cost, a GPU's
//! detail): the last good answer, why the latest fetch failed, and when.

/// The last good answer and the latest failure.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fetched<T> {
    pub(crate) data: Option<T>,
    /// Why the latest fetch failed; `None` after a good one. `data` stays.
    pub(crate) error: Option<String>,
    /// When the latest good fetch completed, wall clock, Unix ms.
    pub(crate) at_unix_ms: Option<i64>,
}

impl<T> Default for Fetched<T> {
    fn default() -> Self {
        Fetched {
            data: None,
            error: None,
            at_unix_ms: None,
        }
    }
}

impl<T: PartialEq> Fetched<T> {
    /// Takes one fetch's outcome; false when nothing on screen changes (the same data
    /// or the same failure again).
    pub(crate) fn set(&mut self, result: Result<T, String>, at_unix_ms: i64) -> bool {
        match result {
            Ok(data) => {
                let changed = self.data.as_ref() != Some(&data) || self.error.is_some();
                self.data = Some(data);
                self.error = None;
                self.at_unix_ms = Some(at_unix_ms);
                changed
            }
            Err(message) if self.error.as_ref() == Some(&message) => false,
            Err(message) => {
                self.error = Some(message);
                true
            }
        }
    }
}

/// A highlighted row and the first visible one, for a list of `len` rows shown
/// `visible` at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Scroll {
    pub(crate) selected: usize,
    pub(crate) offset: usize,
}

/// Where a list's highlight at `at` goes on `key`, as in the GPU table (arrows, j k,
/// pages of `visible` rows, g G); `None` for keys that do not move it.
pub(crate) fn moved(key: super::Key, at: usize, visible: usize) -> Option<usize> {
    use super::Key;
    let page = visible.max(1);
    Some(match key {
        Key::Up | Key::Char('k') => at.saturating_sub(1),
        Key::Down | Key::Char('j') => at.saturating_add(1),
        Key::PageUp => at.saturating_sub(page),
        Key::PageDown => at.saturating_add(page),
        Key::Home | Key::Char('g') => 0,
        Key::End | Key::Char('G') => usize::MAX,
        _ => return None,
    })
}

impl Scroll {
    /// Moves as the GPU table does (arrows, j k, pages, g G); false for other keys.
    pub(crate) fn on_key(&mut self, key: super::Key, len: usize, visible: usize) -> bool {
        let Some(index) = moved(key, self.selected, visible) else {
            return false;
        };
        self.select(index, len, visible);
        true
    }

    pub(crate) fn select(&mut self, index: usize, len: usize, visible: usize) {
        self.selected = index.min(len.saturating_sub(1));
        let rows = visible.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + rows {
            self.offset = self.selected + 1 - rows;
        }
        self.offset = self.offset.min(len.saturating_sub(rows));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Key;

    #[test]
    fn the_same_answer_or_failure_again_changes_nothing() {
        let mut f: Fetched<u32> = Fetched::default();
        assert!(f.set(Ok(1), 10));
        assert!(!f.set(Ok(1), 20));
        assert_eq!(f.at_unix_ms, Some(20));
        assert!(f.set(Err("down".into()), 30));
        assert!(!f.set(Err("down".into()), 40));
        assert_eq!(f.data, Some(1), "the last good answer stays");
        assert!(f.set(Ok(1), 50), "recovering clears the error");
    }

    #[test]
    fn scrolling_keeps_the_selection_in_view() {
        let mut s = Scroll::default();
        assert!(s.on_key(Key::End, 10, 3));
        assert_eq!((s.selected, s.offset), (9, 7));
        assert!(s.on_key(Key::PageUp, 10, 3));
        assert_eq!((s.selected, s.offset), (6, 6));
        assert!(!s.on_key(Key::Char('x'), 10, 3));
        s.select(0, 0, 3);
        assert_eq!((s.selected, s.offset), (0, 0));
    }
}
