//! Pending notifications on disk, one JSON file each, so a restart loses none: written
//! to a temporary name then renamed (a crash leaves the old state or the new, never
//! half a file), removed once delivered or refused, and reloaded in order at start.
//! Files hold the alerts, never a URL or a routing key.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::notification::Notification;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("notification spool {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("notification spool {path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// A notification waiting to be delivered, and its file if it has one.
#[derive(Debug, Clone)]
pub struct Pending {
    pub notification: Notification,
    pub file: Option<PathBuf>,
}

#[derive(Debug)]
pub struct Spool {
    dir: Option<PathBuf>,
    seq: AtomicU64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Spool {
    /// `None`: memory only.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Spool {
            dir,
            seq: AtomicU64::new(0),
        }
    }

    pub fn is_on_disk(&self) -> bool {
        self.dir.is_some()
    }

    /// Keeps `n` on disk (when there is a spool directory).
    pub fn keep(&self, n: Notification) -> Result<Pending, SpoolError> {
        let Some(dir) = &self.dir else {
            return Ok(Pending {
                notification: n,
                file: None,
            });
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let nanos = gpuwatch_model::Timestamp::now().unix_nanos_u64();
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{nanos:020}-{seq:08}.json"));
        let tmp = path.with_extension("json.tmp");
        let body = serde_json::to_vec(&n).map_err(|source| SpoolError::Json {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&tmp, body).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(Pending {
            notification: n,
            file: Some(path),
        })
    }

    /// Forgets a delivered or refused notification.
    pub fn done(&self, p: &Pending) {
        if let Some(path) = &p.file {
            if let Err(e) = std::fs::remove_file(path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!("cannot remove {}: {e}", path.display());
                }
            }
        }
    }

    /// Every notification left from an earlier run, oldest first. Unreadable files
    /// are logged and skipped (and left for a person to look at).
    pub fn load(&self) -> Vec<Pending> {
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                tracing::warn!("cannot read notification spool {}: {e}", dir.display());
                return Vec::new();
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        let mut out = Vec::new();
        for path in paths {
            let parsed = std::fs::read(&path).map_err(io(&path)).and_then(|b| {
                serde_json::from_slice::<Notification>(&b).map_err(|source| SpoolError::Json {
                    path: path.clone(),
                    source,
                })
            });
            match parsed {
                Ok(notification) => out.push(Pending {
                    notification,
                    file: Some(path),
                }),
                Err(e) => tracing::warn!("skipping a spooled notification: {e}"),
            }
        }
        out
    }
}
