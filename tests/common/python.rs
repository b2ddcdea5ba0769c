//! The Python the tests run their real peers with (the OpenTelemetry SDK, SciPy).

use std::process::Command;

/// `GPUWATCH_PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("GPUWATCH_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Whether `python -c "import {modules}"` works. When it does not, test `test` is
/// skipped with a notice naming `what` is missing and `install`, how to install it;
/// under CI (`CI` set) it fails instead.
pub fn imports(test: &str, modules: &str, what: &str, install: &str) -> bool {
    let probe = Command::new(python())
        .args(["-c", &format!("import {modules}")])
        .output();
    let ok = matches!(&probe, Ok(out) if out.status.success());
    if !ok {
        let why = match probe {
            Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
            Err(e) => e.to_string(),
        };
        let msg = format!(
            "{what} not installed for {} ({why}); install {install}",
            python()
        );
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("SKIPPED {test}: {msg}");
    }
    ok
}
