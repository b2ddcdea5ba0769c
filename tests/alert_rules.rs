//! `dashboards/alerts.rules.yml`, the Prometheus twin of the collector's detectors, is
//! valid (`promtool check rules`) and fires as its unit tests say (`promtool test
//! rules`). Needs promtool (Debian's `prometheus`, installed by `.ci/run`): without it
//! the test fails under CI and is skipped, loudly, elsewhere.

use std::path::Path;
use std::process::Command;

fn promtool(args: &[&str]) -> Option<std::process::Output> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards");
    match Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
    {
        Ok(out) => Some(out),
        Err(e) => {
            let msg = format!("promtool is not installed ({e}); apt-get install prometheus");
            assert!(std::env::var_os("CI").is_none(), "{msg}");
            eprintln!("SKIPPED alert_rules: {msg}");
            None
        }
    }
}

#[test]
fn the_rules_are_valid_and_pass_their_unit_tests() {
    for args in [
        &["check", "rules", "alerts.rules.yml"][..],
        &["test", "rules", "alerts.rules.test.yml"][..],
    ] {
        let Some(out) = promtool(args) else { return };
        assert!(
            out.status.success(),
            "promtool {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
