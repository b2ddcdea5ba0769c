//! `gpuwatch drift` against SciPy: scikit-learn's bundled wine (178 rows: KS and
//! chi-squared) and digits (1,797 rows, 1,200 of reference: Wasserstein and
//! Jensen–Shannon) split into reference and current; every column's statistic,
//! p-value, PSI and verdict match what `tests/python/drift_reference.py` computes with
//! SciPy and NumPy the way Evidently does.
//!
//! Needs `python3` with `scipy`, `numpy` and `scikit-learn` (tests/python/requirements.txt).
//! Without them the test fails under CI (`CI` set) and is skipped, loudly, elsewhere.
#![cfg(feature = "reports")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use common::python::{self, python};

fn fixtures() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gpuwatch-drift-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/drift_reference.py");
    let out = Command::new(python())
        .arg(script)
        .arg(&dir)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "drift_reference.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn drift(args: &[&Path], extra: &[&str]) -> (std::process::Output, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_gpuwatch"))
        .arg("drift")
        .args(args)
        .args(extra)
        .output()
        .expect("gpuwatch runs");
    let json = if extra.contains(&"json") {
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    } else {
        Value::Null
    };
    (out, json)
}

fn close(got: f64, want: f64, what: &str) {
    let tol = 1e-9 * want.abs().max(1e-12) + 1e-15;
    assert!(
        (got - want).abs() <= tol,
        "{what}: gpuwatch {got}, scipy {want}"
    );
}

fn compare(got: &Value, want: &Value, case: &str) {
    assert_eq!(got["dataset_drift"], want["dataset_drift"], "{case}");
    let (got, want) = (
        got["columns"].as_array().expect("columns"),
        want["columns"].as_array().expect("columns"),
    );
    assert_eq!(got.len(), want.len(), "{case}");
    for (g, w) in got.iter().zip(want) {
        let col = w["column"].as_str().expect("name");
        assert_eq!(g["column"], w["column"], "{case}");
        assert_eq!(g["test"], w["test"], "{case} {col}");
        assert_eq!(g["drifted"], w["drifted"], "{case} {col}");
        let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{case} {col} {k}"));
        close(
            f(g, "statistic"),
            f(w, "statistic"),
            &format!("{case} {col} statistic"),
        );
        for k in ["p_value", "psi"] {
            assert_eq!(g[k].is_null(), w[k].is_null(), "{case} {col} {k}");
            if !w[k].is_null() {
                close(f(g, k), f(w, k), &format!("{case} {col} {k}"));
            }
        }
    }
}

#[test]
fn drift_matches_scipy_on_sklearn_datasets() {
    if !python::imports(
        "drift",
        "numpy, scipy.stats, sklearn.datasets",
        "SciPy and scikit-learn are",
        "them with `pip install -r tests/python/requirements.txt`",
    ) {
        return;
    }
    let dir = fixtures();
    let expected: Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).expect("expected"))
            .expect("JSON");
    for case in ["small", "large"] {
        let (r, c) = (
            dir.join(format!("{case}_reference.csv")),
            dir.join(format!("{case}_current.csv")),
        );
        let (out, json) = drift(&[&r, &c], &["--format", "json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        compare(&json, &expected[case], case);
    }
    // Some columns only, and the table.
    let (r, c) = (
        dir.join("small_reference.csv"),
        dir.join("small_current.csv"),
    );
    let (_, json) = drift(
        &[&r, &c],
        &["--columns", "alcohol,label", "--format", "json"],
    );
    let names: Vec<&str> = json["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c["column"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["alcohol", "label"]);
    let (out, _) = drift(&[&r, &c], &[]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("COLUMN") && table.contains("chisquare"),
        "{table}"
    );
    assert!(table.contains("dataset drift YES"), "{table}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn drift_names_a_missing_column() {
    let dir = std::env::temp_dir().join(format!("gpuwatch-drift-cols-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (r, c) = (dir.join("r.csv"), dir.join("c.csv"));
    std::fs::write(&r, "a,b\n1,x\n2,y\n3,z\n").expect("write");
    std::fs::write(&c, "a\n1\n2\n3\n").expect("write");
    let (out, _) = drift(&[&r, &c], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("column \"b\" is not in both files"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
