//! The `gpuwatch` binary as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

fn gpuwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gpuwatch"))
        .args(args)
        .env_remove("GPUWATCH_CONFIG")
        .output()
        .expect("gpuwatch runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn config_default_prints_the_documented_file() {
    let out = gpuwatch(&["config", "default"]);
    assert!(out.status.success());
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml"))
            .expect("config.toml");
    assert_eq!(text(&out.stdout), shipped);
}

#[test]
fn config_check_accepts_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let out = gpuwatch(&["config", "check", path.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with(": ok\n"));
}

/// Each file in tests/invalid_configs/ starts with `# error: TEXT`; checking it must
/// exit 2 with TEXT in the message.
#[test]
fn config_check_names_the_key_and_the_rule() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid_configs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("invalid_configs/") {
        let path = entry.expect("entry").path();
        let body = std::fs::read_to_string(&path).expect("readable");
        let want = body
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# error: "))
            .unwrap_or_else(|| panic!("{} must start with `# error: `", path.display()));
        let out = gpuwatch(&["config", "check", path.to_str().expect("utf-8 path")]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
        assert!(
            stderr.contains(want),
            "{}:\n  want {want:?}\n  got  {stderr:?}",
            path.display()
        );
        assert!(
            stderr.starts_with(&path.display().to_string()),
            "the message should name the file: {stderr}"
        );
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} invalid configs");
}

#[test]
fn a_missing_config_file_is_a_clear_error() {
    let out = gpuwatch(&["config", "check", "/nonexistent/gpuwatch.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read the config file /nonexistent/gpuwatch.toml"));
}

#[test]
fn headless_demo_runs_and_exits_zero() {
    let out = gpuwatch(&[
        "demo",
        "--headless",
        "--duration",
        "6s",
        "--interval",
        "500ms",
        "--otlp-grpc-listen",
        "127.0.0.1:0",
        "--otlp-http-listen",
        "127.0.0.1:0",
        "--api-listen",
        "127.0.0.1:0",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("gpuwatch demo: 4 nodes x 8 GPUs"),
        "{stdout}"
    );
    // One status line at 5 s and the final one.
    assert!(lines.len() >= 3, "{stdout}");
    let last = lines.last().copied().unwrap_or_default();
    assert!(last.contains("4/4 nodes, 32 GPUs"), "{stdout}");
    assert!(last.contains(" 0 refused"), "{stdout}");
}

#[test]
fn duration_needs_headless() {
    let out = gpuwatch(&["demo", "--duration", "5s"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--duration needs --headless"));
}

#[test]
fn agent_once_prints_one_sample_as_json() {
    let out = gpuwatch(&["agent", "--once", "--simulate", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The one format there is, no longer listed, still taken.
    let help = gpuwatch(&["agent", "--help"]);
    assert!(!text(&help.stdout).contains("--format"));
    let old = gpuwatch(&["agent", "--once", "--format", "json", "--simulate", "1"]);
    assert!(old.status.success(), "{}", text(&old.stderr));
    let sample: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let gpus = sample["gpus"].as_array().expect("gpus");
    assert_eq!(gpus.len(), 2);
    assert_eq!(gpus[0]["model"], "NVIDIA H100 80GB HBM3");
    // The real host sampler reads this machine's /proc.
    assert!(
        sample["host"]["memory_used_bytes"].as_u64().unwrap_or(0) > 0,
        "{sample}"
    );
    assert!(sample["host"]["cpu"].is_object(), "{sample}");
    // No GPU here: the notice says what to do.
    if !Path::new("/proc/driver/nvidia").exists() {
        assert!(text(&out.stderr).contains("no NVIDIA GPU to sample"));
    }
}

#[test]
fn help_explains_the_commands() {
    let out = gpuwatch(&["--help"]);
    let help = text(&out.stdout);
    for cmd in ["up", "demo", "agent", "collector", "top", "config"] {
        assert!(
            help.contains(&format!("  {cmd} ")),
            "{cmd} missing from --help:\n{help}"
        );
    }
    assert!(help.contains("4317 OTLP/gRPC, 4318 OTLP/HTTP, 9464 API"));
}
