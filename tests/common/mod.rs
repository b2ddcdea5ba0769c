//! What the end-to-end tests share: OTLP requests built by hand (`otlp`), TLS
//! certificates made for a test (`certs`), the Python
//! their real peers run in (`python`), a loopback HTTP server that keeps what is posted
//! to it (`http_sink`), and for the
//! tests against a real Prometheus, finding the binary, starting it against a
//! collector, and asking it PromQL over its HTTP API.
//!
//! Prometheus is Debian's `prometheus` package (`.ci/run` installs it). Without it a
//! test fails under CI (`CI` set) and is skipped, loudly, elsewhere.

// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

pub mod certs;
pub mod http_sink;
pub mod otlp;
pub mod python;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `prometheus` can run. `false` means skip `test`; under CI it panics instead.
pub fn prometheus_available(test: &str) -> bool {
    program_available(
        test,
        "prometheus",
        &["--version"],
        "apt-get install prometheus",
    )
}

/// Whether `program args` runs (whatever it exits with). `false` means skip `test`,
/// with a notice saying how to `install` it; under CI it panics instead.
pub fn program_available(test: &str, program: &str, args: &[&str], install: &str) -> bool {
    match Command::new(program).args(args).output() {
        Ok(_) => true,
        Err(e) => {
            let msg = format!("{program} is not installed ({e}); {install}");
            assert!(std::env::var_os("CI").is_none(), "{msg}");
            eprintln!("SKIPPED {test}: {msg}");
            false
        }
    }
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A Prometheus scraping one target, stopped (and its data removed) however the test
/// ends.
pub struct Prometheus {
    pub url: String,
    child: Child,
    dir: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `target`'s `/metrics` as job `gpuwatch` every
    /// `scrape_interval` (a Prometheus duration such as `1s`), with its data in a
    /// fresh temporary folder named after `test`.
    pub fn start(test: &str, target: SocketAddr, scrape_interval: &str) -> Prometheus {
        let config = format!(
            "global:\n  scrape_interval: {scrape_interval}\n  evaluation_interval: {scrape_interval}\n\
             scrape_configs:\n  - job_name: gpuwatch\n    static_configs:\n      - targets: ['{target}']\n"
        );
        Prometheus::launch(test, &config, &[])
    }

    /// Starts Prometheus with the whole of `config_text` as its `prometheus.yml`.
    pub fn with_config(test: &str, config_text: &str) -> Prometheus {
        Prometheus::launch(test, config_text, &[])
    }

    /// Starts Prometheus scraping nothing, as a remote-write receiver
    /// (`POST /api/v1/write`).
    pub fn receiver(test: &str) -> Prometheus {
        Prometheus::launch(
            test,
            "global:\n  scrape_interval: 1s\n",
            &["--web.enable-remote-write-receiver"],
        )
    }

    fn launch(test: &str, config_text: &str, args: &[&str]) -> Prometheus {
        let dir = std::env::temp_dir().join(format!("gpuwatch-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, config_text).expect("config written");
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log file");
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        Prometheus {
            url: format!("http://127.0.0.1:{port}"),
            child,
            dir,
        }
    }

    /// The end of Prometheus's own log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The instant vector (or scalar, as one sample) `promql` evaluates to now:
    /// `Err` with Prometheus's message when the query is refused (a parse error, a
    /// bad range) or Prometheus cannot be reached.
    pub async fn query(&self, promql: &str) -> Result<Vec<serde_json::Value>, String> {
        let resp = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", promql)])
            .send()
            .await
            .map_err(|e| format!("request: {e}"))?;
        let body: serde_json::Value = resp.json().await.map_err(|e| format!("body: {e}"))?;
        if body["status"] != "success" {
            return Err(format!("{}: {}", body["errorType"], body["error"]));
        }
        match body["data"]["resultType"].as_str() {
            Some("vector" | "matrix") => Ok(body["data"]["result"]
                .as_array()
                .cloned()
                .unwrap_or_default()),
            Some("scalar") => Ok(vec![serde_json::json!({
                "metric": {},
                "value": body["data"]["result"],
            })]),
            other => Err(format!("unexpected result type {other:?}")),
        }
    }

    /// The value of `promql` when it is one sample.
    pub async fn value(&self, promql: &str) -> Option<f64> {
        let result = self.query(promql).await.ok()?;
        let [one] = result.as_slice() else {
            return None;
        };
        sample_value(one)
    }

    /// Waits up to 60 s for `promql` to be one sample that `want` accepts.
    pub async fn wait_for(&self, promql: &str, want: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(v) = self.value(promql).await.filter(|v| want(*v)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus never answered {promql:?} as expected (last: {:?})\n{}",
                self.query(promql).await,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The value of one sample of an instant vector.
pub fn sample_value(sample: &serde_json::Value) -> Option<f64> {
    sample["value"][1].as_str()?.parse().ok()
}
