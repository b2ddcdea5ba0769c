//! The Grafana dashboards in `dashboards/grafana/`: well formed (every panel has a unit,
//! a description and the `${datasource}` variable; stable unique uids; the template
//! variables they use exist), and every PromQL expression of every panel and variable
//! returns data from a real Prometheus scraping the demo's collector.
//!
//! The demo's fault schedule and simulated model servers give the alert, cost, latency
//! and drift series; the collector is set to evaluate every second with short drift
//! windows so they all come within seconds.
//!
//! That last test needs the `prometheus` binary (Debian's `prometheus` package;
//! `.ci/run` installs it): without it the test fails under CI (`CI` set) and is
//! skipped, loudly, elsewhere.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{prometheus_available, sample_value, Prometheus};
use gpuwatch::demo::{Demo, DemoOptions};
use gpuwatch_agent::AgentConfig;
use gpuwatch_collector::CollectorConfig;
use serde_json::Value;

/// The dashboards there must be, by uid.
const DASHBOARDS: [&str; 5] = [
    "gpuwatch-cluster-overview",
    "gpuwatch-gpu-detail",
    "gpuwatch-inference-drift",
    "gpuwatch-cost",
    "gpuwatch-fabric-storage",
];

/// Panel types of the current Grafana schema the dashboards may use.
const PANEL_TYPES: [&str; 6] = [
    "timeseries",
    "stat",
    "heatmap",
    "table",
    "bargauge",
    "state-timeline",
];

/// What Grafana's own variables stand for in the queries run here: windows that fit a
/// short test scraped every second.
const BUILTINS: [(&str, &str); 3] = [
    ("$__rate_interval", "10s"),
    ("$__range", "1m"),
    ("$__interval", "2s"),
];

fn grafana_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("dashboards")
        .join("grafana")
}

/// Every dashboard JSON file, parsed, by file name.
fn dashboards() -> BTreeMap<String, Value> {
    let dir = grafana_dir().join("dashboards");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("dashboards/grafana/dashboards") {
        let path = entry.expect("directory entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable dashboard");
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("file name")
            .to_string();
        out.insert(name, json);
    }
    out
}

/// Panels, with those inside collapsed rows.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().into_iter().flatten() {
        if p["type"] == "row" {
            out.extend(p["panels"].as_array().into_iter().flatten());
        } else {
            out.push(p);
        }
    }
    out
}

fn variables(dashboard: &Value) -> Vec<&Value> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .collect()
}

fn is_datasource_variable(ds: &Value) -> bool {
    ds["uid"] == "${datasource}" && ds["type"] == "prometheus"
}

/// One PromQL expression to try: where it comes from, and the expression.
#[derive(Debug)]
struct Query {
    dashboard: String,
    /// The panel title, or `variable NAME`.
    panel: String,
    expr: String,
}

/// A query variable's definition as PromQL that returns one series per value:
/// `label_values(selector, label)` counts by the label, `query_result(expr)` is `expr`.
fn variable_expr(definition: &str) -> String {
    let definition = definition.trim();
    if let Some(expr) = definition
        .strip_prefix("query_result(")
        .and_then(|s| s.strip_suffix(')'))
    {
        return expr.to_string();
    }
    let inner = definition
        .strip_prefix("label_values(")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| {
            panic!(
                "variable query {definition:?} is neither label_values(...) nor query_result(...)"
            )
        });
    let (selector, label) = inner
        .rsplit_once(',')
        .unwrap_or_else(|| panic!("label_values without a metric: {definition:?}"));
    format!("count by ({}) ({})", label.trim(), selector.trim())
}

/// Every query of every panel and query variable.
fn queries(all: &BTreeMap<String, Value>) -> Vec<Query> {
    let mut out = Vec::new();
    for d in all.values() {
        let uid = d["uid"].as_str().unwrap_or_default().to_string();
        for v in variables(d) {
            if v["type"] == "query" {
                out.push(Query {
                    dashboard: uid.clone(),
                    panel: format!("variable {}", v["name"].as_str().unwrap_or_default()),
                    expr: variable_expr(v["definition"].as_str().unwrap_or_default()),
                });
            }
        }
        for p in panels(d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push(Query {
                    dashboard: uid.clone(),
                    panel: p["title"].as_str().unwrap_or_default().to_string(),
                    expr: t["expr"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
    }
    out
}

/// `expr` with Grafana's variables replaced: built-ins by short windows, the
/// dashboard's own variables by `.*` (what "All" means here).
fn substitute(expr: &str, dashboard_variables: &[String]) -> String {
    let mut s = expr.to_string();
    for (name, value) in BUILTINS {
        s = s.replace(name, value);
    }
    let mut names = dashboard_variables.to_vec();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        s = s
            .replace(&format!("${{{name}}}"), ".*")
            .replace(&format!("${name}"), ".*");
    }
    s
}

#[test]
fn dashboards_are_well_formed() {
    let all = dashboards();
    let mut uids = BTreeSet::new();
    let mut titles = BTreeSet::new();
    for (file, d) in &all {
        let uid = d["uid"].as_str().unwrap_or_default();
        assert!(!uid.is_empty(), "{file}: no uid");
        assert!(uids.insert(uid.to_string()), "{file}: uid {uid} used twice");
        let title = d["title"].as_str().unwrap_or_default();
        assert!(
            titles.insert(title.to_string()),
            "{file}: title {title:?} used twice"
        );
        assert!(
            d["schemaVersion"].as_u64().is_some_and(|v| v >= 39),
            "{file}: schemaVersion {}",
            d["schemaVersion"]
        );
        assert!(
            d["tags"]
                .as_array()
                .is_some_and(|t| t.contains(&Value::from("gpuwatch"))),
            "{file}: no gpuwatch tag"
        );
        assert!(d["id"].is_null(), "{file}: a fixed id clashes on import");
        assert!(
            d["description"].as_str().is_some_and(|s| !s.is_empty()),
            "{file}: no description"
        );

        // Variables: a datasource variable of type prometheus, query variables on it.
        let vars = variables(d);
        let datasource = vars
            .iter()
            .find(|v| v["name"] == "datasource")
            .unwrap_or_else(|| panic!("{file}: no datasource variable"));
        assert_eq!(datasource["type"], "datasource", "{file}");
        assert_eq!(datasource["query"], "prometheus", "{file}");
        let mut names: Vec<String> = Vec::new();
        for v in &vars {
            let name = v["name"].as_str().unwrap_or_default().to_string();
            assert!(!names.contains(&name), "{file}: variable {name} twice");
            if v["type"] == "query" {
                assert!(
                    is_datasource_variable(&v["datasource"]),
                    "{file}: variable {name} does not use ${{datasource}}"
                );
                let definition = v["definition"].as_str().unwrap_or_default();
                assert_eq!(
                    v["query"]["query"].as_str(),
                    Some(definition),
                    "{file}: variable {name}"
                );
                variable_expr(definition);
            }
            names.push(name);
        }

        // Panels.
        let mut ids = BTreeSet::new();
        let all_panels = panels(d);
        assert!(!all_panels.is_empty(), "{file}: no panels");
        for p in all_panels {
            let title = p["title"].as_str().unwrap_or_default();
            let at = format!("{file}: panel {title:?}");
            assert!(!title.is_empty(), "{file}: a panel without a title");
            let kind = p["type"].as_str().unwrap_or_default();
            assert!(PANEL_TYPES.contains(&kind), "{at}: type {kind:?}");
            assert!(
                ids.insert(p["id"].as_u64().unwrap_or_else(|| panic!("{at}: no id"))),
                "{at}: id used twice"
            );
            for key in ["h", "w", "x", "y"] {
                assert!(p["gridPos"][key].is_u64(), "{at}: gridPos.{key}");
            }
            assert!(
                p["fieldConfig"]["defaults"]["unit"]
                    .as_str()
                    .is_some_and(|u| !u.is_empty()),
                "{at}: no unit in fieldConfig.defaults.unit"
            );
            assert!(
                p["description"]
                    .as_str()
                    .is_some_and(|s| !s.trim().is_empty()),
                "{at}: no description"
            );
            assert!(
                is_datasource_variable(&p["datasource"]),
                "{at}: datasource is not ${{datasource}}: {}",
                p["datasource"]
            );
            let targets = p["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{at}: no queries");
            let mut refs = BTreeSet::new();
            for t in targets {
                assert!(
                    is_datasource_variable(&t["datasource"]),
                    "{at}: a query's datasource is not ${{datasource}}"
                );
                assert!(
                    refs.insert(t["refId"].as_str().unwrap_or_default()),
                    "{at}: refId twice"
                );
                let expr = t["expr"].as_str().unwrap_or_default();
                assert!(!expr.trim().is_empty(), "{at}: empty expression");
                // Every variable the query uses is defined (or Grafana's own).
                let left = substitute(expr, &names);
                assert!(!left.contains('$'), "{at}: undefined variable in {expr:?}");
            }
        }
    }
    for uid in DASHBOARDS {
        assert!(uids.contains(uid), "no dashboard with uid {uid}");
    }
    let detail = all
        .values()
        .find(|d| d["uid"] == "gpuwatch-gpu-detail")
        .expect("GPU detail");
    let detail_vars: Vec<&str> = variables(detail)
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    for name in ["datasource", "cluster", "node", "gpu"] {
        assert!(detail_vars.contains(&name), "GPU detail lacks ${name}");
    }
}

#[test]
fn provisioning_points_grafana_at_the_dashboards() {
    let dir = grafana_dir().join("provisioning");
    let datasource = std::fs::read_to_string(dir.join("datasources").join("gpuwatch.yml"))
        .expect("provisioning/datasources/gpuwatch.yml");
    for line in [
        "apiVersion: 1",
        "type: prometheus",
        "uid: gpuwatch-prometheus",
    ] {
        assert!(
            datasource
                .lines()
                .any(|l| l.trim().trim_start_matches("- ") == line),
            "datasource provisioning lacks {line:?}"
        );
    }
    let provider = std::fs::read_to_string(dir.join("dashboards").join("gpuwatch.yml"))
        .expect("provisioning/dashboards/gpuwatch.yml");
    for line in ["apiVersion: 1", "type: file", "folder: gpuwatch"] {
        assert!(
            provider
                .lines()
                .any(|l| l.trim().trim_start_matches("- ") == line),
            "dashboard provisioning lacks {line:?}"
        );
    }
    assert!(
        provider.lines().any(|l| l.trim().starts_with("path: /")),
        "dashboard provisioning needs an absolute options.path"
    );
    // The dashboards' datasource variable defaults to the provisioned datasource.
    for (file, d) in dashboards() {
        let current = variables(&d)
            .into_iter()
            .find(|v| v["name"] == "datasource")
            .map(|v| v["current"]["value"].clone());
        assert_eq!(
            current,
            Some(Value::from("gpuwatch-prometheus")),
            "{file}: datasource default"
        );
    }
}

/// The collector for the demo: evaluating every second so cost and alerts come
/// quickly, an idle-spend alert that fires within seconds, and drift and latency
/// windows short enough for a test.
fn collector_settings() -> gpuwatch_collector::CollectorSettings {
    let config: CollectorConfig = toml::from_str(
        r#"
        otlp_grpc_listen = "127.0.0.1:0"
        otlp_http_listen = "127.0.0.1:0"
        api_listen = "127.0.0.1:0"

        [alerts]
        evaluation_interval = "1s"
        evaluation_delay = "1s"

        [alerts.model_drift]
        window = "10s"
        reference = "moving"
        reference_lag = "0s"
        min_count = 10

        [alerts.latency_regression]
        window = "10s"
        reference = "moving"
        reference_lag = "0s"
        min_count = 10

        [cost]
        idle_alert_usd = 0.0001
        "#,
    )
    .expect("test collector config parses");
    config.validate().expect("test collector config is valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_query_returns_data_from_prometheus() {
    if !prometheus_available("every_panel_query_returns_data_from_prometheus") {
        return;
    }
    let all = dashboards();
    let variables_of: BTreeMap<String, Vec<String>> = all
        .values()
        .map(|d| {
            (
                d["uid"].as_str().unwrap_or_default().to_string(),
                variables(d)
                    .iter()
                    .filter_map(|v| v["name"].as_str().map(str::to_string))
                    .collect(),
            )
        })
        .collect();
    let queries = queries(&all);

    let agent = AgentConfig {
        interval: "500ms".into(),
        ..AgentConfig::default()
    }
    .validate()
    .expect("agent settings");
    // Four nodes: training (0, 1), inference with latency and prediction histograms
    // (2), reserved-idle and free (3).
    let demo = Demo::start(DemoOptions {
        nodes: 4,
        gpus_per_node: 2,
        seed: 5,
        faults: true,
        collector: collector_settings(),
        agent,
    })
    .await
    .expect("demo starts");
    let prometheus = Prometheus::start("dashboards", demo.collector.api, "1s");
    prometheus
        .wait_for(r#"up{job="gpuwatch"}"#, |v| v == 1.0)
        .await;

    // Ask every query until each has data (a finite value), or the deadline passes.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut waiting: Vec<usize> = (0..queries.len()).collect();
    // The last answer of each query still waiting, for the failure message.
    let mut last: BTreeMap<usize, String> = BTreeMap::new();
    while !waiting.is_empty() {
        let mut refused = Vec::new();
        let mut still = Vec::new();
        for i in waiting {
            let q = &queries[i];
            let expr = substitute(&q.expr, &variables_of[&q.dashboard]);
            match prometheus.query(&expr).await {
                Err(e) if !e.starts_with("request:") && !e.starts_with("body:") => {
                    refused.push(format!("{} / {}: {expr}\n    {e}", q.dashboard, q.panel));
                }
                Ok(result)
                    if result
                        .iter()
                        .any(|s| sample_value(s).is_some_and(f64::is_finite)) => {}
                other => {
                    last.insert(i, format!("{other:?}"));
                    still.push(i);
                }
            }
        }
        assert!(
            refused.is_empty(),
            "Prometheus refused dashboard queries:\n{}",
            refused.join("\n")
        );
        waiting = still;
        if !waiting.is_empty() && Instant::now() > deadline {
            let missing: Vec<String> = waiting
                .iter()
                .map(|&i| {
                    let q = &queries[i];
                    format!(
                        "{} / {}: {}\n    last answer: {}",
                        q.dashboard,
                        q.panel,
                        substitute(&q.expr, &variables_of[&q.dashboard]),
                        last.get(&i).map_or("", String::as_str)
                    )
                })
                .collect();
            panic!(
                "dashboard queries without data after 60 s:\n{}\n{}",
                missing.join("\n"),
                prometheus.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    drop(prometheus);
    demo.shutdown().await;
}
