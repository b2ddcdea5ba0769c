//! The sysfs and procfs reads of `fabric` and `netfs`: a file or directory that is not
//! there is nothing (drivers and file systems differ), one that is there but cannot be
//! read is left out with one warning per path, never every interval.

use std::collections::HashSet;
use std::fmt::Display;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub(crate) struct Files {
    warned: HashSet<PathBuf>,
    /// What the warning says is left out.
    left_out: &'static str,
}

impl Files {
    pub(crate) fn new(left_out: &'static str) -> Files {
        Files {
            warned: HashSet::new(),
            left_out,
        }
    }

    /// A directory's entry names, sorted; none when it is missing or unreadable.
    pub(crate) fn entries(&mut self, dir: &Path) -> Vec<String> {
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect();
                names.sort();
                names
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                self.warn(dir, &e);
                Vec::new()
            }
        }
    }

    /// A file's text; `None` when it is missing or unreadable.
    pub(crate) fn text(&mut self, path: &Path) -> Option<String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => {
                self.warn(path, &e);
                None
            }
        }
    }

    /// Warns that what `path` holds is left out, the first time only.
    pub(crate) fn warn(&mut self, path: &Path, reason: &dyn Display) {
        if self.warned.insert(path.to_path_buf()) {
            tracing::warn!(path = %path.display(), %reason, "{}", self.left_out);
        }
    }
}
