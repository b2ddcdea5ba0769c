//! A real `gpuwatch collector` on mutual TLS with tokens, reached by the real clients a
//! user runs: `gpuwatch agent`, `gpuwatch top --check`, the official OpenTelemetry
//! Python SDK and a real Prometheus scraping `/metrics`. Each gets in with the right token and certificate and is refused
//! without either; a token bound to `node-0*` cannot send as `node-17`; SIGHUP swaps
//! the API tokens.
//!
//! Certificates are made for the test (`common::certs`, a private CA).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::certs::{self, Certs};
use common::free_port;

const AGENT: &str = "agent-token-0123456789abcdef";
const RACK0: &str = "rack0-token-0123456789abcdef";
const READER: &str = "reader-token-0123456789abcdef";
const NEXT_READER: &str = "next-reader-0123456789abcdef";

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gpuwatch-security-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A child process killed however the test ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn gpuwatch() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gpuwatch"));
    c.env_remove("GPUWATCH_CONFIG").env_remove("GPUWATCH_TOKEN");
    c
}

struct Setup {
    dir: PathBuf,
    certs: Certs,
    grpc: u16,
    http: u16,
    api: u16,
    collector: Process,
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn start(test: &str) -> Setup {
    let dir = temp_dir(test);
    let certs = certs::make(&dir);
    write(
        &dir,
        "ingest-tokens",
        &format!("{AGENT}\n{RACK0} node-0*\n"),
    );
    write(&dir, "api-tokens", &format!("{READER}\n"));
    let (grpc, http, api) = (free_port(), free_port(), free_port());
    let config = write(
        &dir,
        "collector.toml",
        &format!(
            "[collector]\notlp_grpc_listen = \"127.0.0.1:{grpc}\"\n\
             otlp_http_listen = \"127.0.0.1:{http}\"\napi_listen = \"127.0.0.1:{api}\"\n\
             data_dir = \"\"\n\
             [collector.auth]\ningest_tokens_file = \"{d}/ingest-tokens\"\n\
             api_tokens_file = \"{d}/api-tokens\"\n\
             [collector.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nclient_ca_file = \"{}\"\n\
             [collector.history]\ndir = \"{d}/history\"\n",
            certs.server_cert.display(),
            certs.server_key.display(),
            certs.ca.display(),
            d = dir.display(),
        ),
    );
    let collector = Process(
        gpuwatch()
            .args(["collector", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("gpuwatch collector runs"),
    );
    let setup = Setup {
        dir,
        certs,
        grpc,
        http,
        api,
        collector,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut setup = setup;
    while setup.get("/readyz", None).is_none() {
        assert!(Instant::now() < deadline, "the collector did not come up");
        if let Ok(Some(status)) = setup.collector.0.try_wait() {
            panic!("the collector exited with {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    setup
}

impl Setup {
    /// GET over mutual TLS; `None` when it does not answer 200.
    fn get(&self, path: &str, token: Option<&str>) -> Option<String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        let read = |p: &Path| std::fs::read(p).expect("PEM");
        let identity = [read(&self.certs.client_cert), read(&self.certs.client_key)].concat();
        rt.block_on(async {
            let client = reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(&read(&self.certs.ca)).ok()?)
                .identity(reqwest::Identity::from_pem(&identity).ok()?)
                .build()
                .ok()?;
            let mut r = client.get(format!("https://127.0.0.1:{}{path}", self.api));
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            let r = r.send().await.ok()?;
            r.status().is_success().then_some(())?;
            r.text().await.ok()
        })
    }

    fn metric(&self, name: &str) -> f64 {
        let text = self.get("/metrics", Some(READER)).expect("/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} not on /metrics"))
    }

    fn gpus_of(&self, node: &str) -> usize {
        let text = self
            .get("/api/v1/gpus", Some(READER))
            .expect("/api/v1/gpus");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        v["gpus"]
            .as_array()
            .map_or(0, |g| g.iter().filter(|g| g["node"] == node).count())
    }

    /// `gpuwatch agent` for `host` with `--simulate 2`, its TOML `[agent]` extra keys.
    fn agent(&self, host: &str, extra: &str) -> (Process, PathBuf) {
        let config = write(
            &self.dir,
            &format!("agent-{host}.toml"),
            &format!(
                "[agent]\ncollector = \"https://127.0.0.1:{}\"\ninterval = \"200ms\"\n\
                 timeout = \"2s\"\nhost_name = \"{host}\"\nkubelet_socket = \"\"\n{extra}",
                self.http
            ),
        );
        let log = self.dir.join(format!("agent-{host}.log"));
        let child = gpuwatch()
            .args(["agent", "--simulate", "2", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("gpuwatch agent runs");
        (Process(child), log)
    }

    fn tls_keys(&self, with_client_cert: bool) -> String {
        let mut s = format!("[agent.tls]\nca_file = \"{}\"\n", self.certs.ca.display());
        if with_client_cert {
            s.push_str(&format!(
                "cert_file = \"{}\"\nkey_file = \"{}\"\n",
                self.certs.client_cert.display(),
                self.certs.client_key.display()
            ));
        }
        s
    }

    fn top_check(&self, args: &[&str], token: Option<&Path>) -> Output {
        let mut c = gpuwatch();
        c.args(["top", "--check", "--collector"])
            .arg(format!("https://127.0.0.1:{}", self.api))
            .args(args);
        if let Some(t) = token {
            c.arg("--token-file").arg(t);
        }
        c.output().expect("gpuwatch top runs")
    }
}

fn until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn agents_are_let_in_by_token_and_certificate_and_kept_to_their_hosts() {
    let s = start("agents");
    let token = write(&s.dir, "agent-token", &format!("# node-01's\n{AGENT}\n"));
    let rack0 = write(&s.dir, "rack0-token", &format!("{RACK0}\n"));
    let t = |p: &Path| format!("token_file = \"{}\"\n", p.display());

    let _good = s.agent("node-01", &format!("{}{}", t(&token), s.tls_keys(true)));
    // No token; no client certificate; a token for node-0* sending as node-17.
    let (_no_token, _) = s.agent("node-02", &s.tls_keys(true));
    let (_no_cert, no_cert_log) =
        s.agent("node-03", &format!("{}{}", t(&token), s.tls_keys(false)));
    let _other_host = s.agent("node-17", &format!("{}{}", t(&rack0), s.tls_keys(true)));
    // The same restricted token sends as node-05, which it may.
    let _rack_host = s.agent("node-05", &format!("{}{}", t(&rack0), s.tls_keys(true)));

    let wait = Duration::from_secs(60);
    until("node-01's GPUs", wait, || s.gpus_of("node-01") == 2);
    until("node-05's GPUs", wait, || s.gpus_of("node-05") == 2);
    until("node-02 refused", wait, || {
        s.metric("gpuwatch_ingest_rejected_total{reason=\"unauthenticated\"}") >= 1.0
    });
    until("node-17 refused", wait, || {
        s.metric("gpuwatch_ingest_rejected_total{reason=\"forbidden_host\"}") >= 1.0
    });
    until("node-03's failed handshake in its log", wait, || {
        std::fs::read_to_string(&no_cert_log).is_ok_and(|l| l.contains("CertificateRequired"))
    });
    for node in ["node-02", "node-03", "node-17"] {
        assert_eq!(s.gpus_of(node), 0, "{node} got in");
    }
    let log = std::fs::read_to_string(&no_cert_log).unwrap_or_default();
    assert!(!log.contains(AGENT), "the agent logged its token:\n{log}");
    drop(s.collector);
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn top_needs_the_api_token_and_the_ca_and_sighup_swaps_tokens() {
    let s = start("top");
    let reader = write(&s.dir, "reader", &format!("{READER}\n"));
    let ingest = write(&s.dir, "ingest", &format!("{AGENT}\n"));
    let ca = s.certs.ca.to_str().expect("path");
    let cert = s.certs.client_cert.to_str().expect("path");
    let key = s.certs.client_key.to_str().expect("path");
    let tls = ["--ca-file", ca, "--cert-file", cert, "--key-file", key];

    let ok = s.top_check(&tls, Some(&reader));
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains(": ok, 0 nodes, 0 GPUs"), "{}", text(&ok));

    let refusals = [
        (
            s.top_check(&tls, None),
            "the collector wants a token (HTTP 401)",
        ),
        (
            s.top_check(&tls, Some(&ingest)),
            "the collector wants a token (HTTP 401)",
        ),
        (s.top_check(&tls[2..], Some(&reader)), "certificate"),
        (
            s.top_check(&tls[..2], Some(&reader)),
            "collector unreachable",
        ),
    ];
    for (out, want) in refusals {
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains(want), "want {want:?}:\n{}", text(&out));
        assert!(!text(&out).contains(READER), "top printed a token");
    }
    // GPUWATCH_TOKEN instead of a file.
    let mut c = gpuwatch();
    let env = c
        .args(["top", "--check", "--collector"])
        .arg(format!("https://127.0.0.1:{}", s.api))
        .args(tls)
        .env("GPUWATCH_TOKEN", READER)
        .output()
        .expect("top runs");
    assert!(env.status.success(), "{}", text(&env));

    // SIGHUP: the new token file is read; the old token no longer reads.
    write(&s.dir, "api-tokens", &format!("{NEXT_READER}\n"));
    let pid = s.collector.0.id().to_string();
    let hup = Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill");
    assert!(hup.success());
    let next = write(&s.dir, "next-reader", &format!("{NEXT_READER}\n"));
    until("the new API token", Duration::from_secs(30), || {
        s.top_check(&tls, Some(&next)).status.success()
    });
    assert_eq!(s.top_check(&tls, Some(&reader)).status.code(), Some(1));
    drop(s.collector);
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn the_python_sdk_sends_with_headers_and_certificates() {
    if !common::python::imports(
        "security python_sdk",
        "grpc, opentelemetry.sdk.metrics, opentelemetry.exporter.otlp.proto.http.metric_exporter, \
         opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
        "the OpenTelemetry Python SDK is",
        "-r tests/python/requirements.txt",
    ) {
        return;
    }
    let s = start("python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/send_metrics.py");
    let send = |token: &str, suffix: &str, with_cert: bool| {
        let mut c = Command::new(common::python::python());
        // requests lets these override the SDK's certificate_file (psf/requests#3829).
        c.env_remove("REQUESTS_CA_BUNDLE")
            .env_remove("CURL_CA_BUNDLE")
            .arg(&script)
            .args(["--http", &format!("https://127.0.0.1:{}", s.http)])
            .args(["--grpc", &format!("https://127.0.0.1:{}", s.grpc)])
            .args(["--token", token, &format!("--host-suffix={suffix}")])
            .arg("--ca")
            .arg(&s.certs.ca);
        if with_cert {
            c.arg("--cert")
                .arg(&s.certs.client_cert)
                .arg("--key")
                .arg(&s.certs.client_key);
        }
        c.output().expect("python runs")
    };
    let ok = send(AGENT, "", true);
    assert!(ok.status.success(), "{}", text(&ok));
    assert_eq!(s.gpus_of("py-http"), 2, "{}", text(&ok));
    assert_eq!(s.gpus_of("py-grpc"), 2, "{}", text(&ok));

    let wrong = send("wrong-token-0123456789abcdef", "-wrong", true);
    assert!(
        !wrong.status.success(),
        "a wrong token got in: {}",
        text(&wrong)
    );
    let no_cert = send(AGENT, "-nocert", false);
    assert!(
        !no_cert.status.success(),
        "no client certificate got in: {}",
        text(&no_cert)
    );
    assert!(
        text(&no_cert).contains("CERTIFICATE_REQUIRED")
            || text(&no_cert).contains("certificate required"),
        "refused for another reason: {}",
        text(&no_cert)
    );
    for node in [
        "py-http-wrong",
        "py-grpc-wrong",
        "py-http-nocert",
        "py-grpc-nocert",
    ] {
        assert_eq!(s.gpus_of(node), 0, "{node}");
    }
    let refused = s.metric("gpuwatch_ingest_rejected_total{reason=\"unauthenticated\"}");
    assert!(refused >= 1.0, "{refused}: {}", text(&wrong));
    drop(s.collector);
    let _ = std::fs::remove_dir_all(&s.dir);
}

/// A real Prometheus scrapes `/metrics` over mutual TLS with an API token from
/// `authorization.credentials_file`, as docs/operations.md's "Security" says; the same job
/// without the token is refused (`up` 0, HTTP 401).
#[test]
fn prometheus_scrapes_with_a_token_and_certificates() {
    if !common::prometheus_available("prometheus_scrapes_with_a_token_and_certificates") {
        return;
    }
    let s = start("prometheus");
    let token = write(&s.dir, "prometheus-token", READER);
    let tls = format!(
        "    scheme: https\n    tls_config:\n      ca_file: {}\n      cert_file: {}\n      key_file: {}\n",
        s.certs.ca.display(),
        s.certs.client_cert.display(),
        s.certs.client_key.display()
    );
    let target = format!(
        "    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
        s.api
    );
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n\
         \x20 - job_name: with-token\n{tls}    authorization:\n      credentials_file: {}\n{target}\
         \x20 - job_name: without-token\n{tls}{target}",
        token.display()
    );
    let prometheus = common::Prometheus::with_config("prometheus-over-tls", &config);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        prometheus
            .wait_for(r#"up{job="with-token"}"#, |v| v == 1.0)
            .await;
        prometheus
            .wait_for(r#"gpuwatch_store_series{job="with-token"}"#, |v| v >= 0.0)
            .await;
        prometheus
            .wait_for(r#"up{job="without-token"}"#, |v| v == 0.0)
            .await;
        let refused = prometheus
            .query(r#"gpuwatch_store_series{job="without-token"}"#)
            .await
            .expect("query");
        assert!(refused.is_empty(), "scraped without a token: {refused:?}");
    });
}
