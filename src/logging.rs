//! Logs go to stderr, except while the dashboard owns the terminal: then to a file,
//! whose path is printed when the dashboard exits.

use std::path::PathBuf;

use tracing_subscriber::EnvFilter;

use std::io::IsTerminal;

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_env("GPUWATCH_LOG").unwrap_or_else(|_| EnvFilter::new(default))
}

/// Logs to stderr at `default` level (`GPUWATCH_LOG` overrides, e.g. `debug`).
pub fn to_stderr(default: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(default))
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Logs to `gpuwatch-<pid>.log` in the temporary directory; returns its path.
pub fn to_file() -> Option<PathBuf> {
    let path = std::env::temp_dir().join(format!("gpuwatch-{}.log", std::process::id()));
    let file = std::fs::File::create(&path).ok()?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter("info"))
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Some(path)
}
