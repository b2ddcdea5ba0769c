//! `host.name` globs of a token file (`gpuwatch_model::glob`), checked when read.

use gpuwatch_model::glob::Glob;

/// A glob a token may send as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostGlob(Glob);

impl HostGlob {
    pub fn new(pattern: &str) -> Result<HostGlob, String> {
        if pattern.is_empty() {
            return Err("the host.name glob is empty".to_string());
        }
        if let Some(c) = pattern.chars().find(|c| c.is_control() || *c == '[') {
            return Err(format!(
                "the host.name glob {pattern:?} holds {c:?}; only `*` and `?` are special"
            ));
        }
        Ok(HostGlob(Glob::new(pattern)))
    }

    pub fn matches(&self, host: &str) -> bool {
        self.0.matches(host)
    }
}

impl std::fmt::Display for HostGlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
