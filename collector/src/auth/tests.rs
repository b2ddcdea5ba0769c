use super::*;

const A: &str = "0123456789abcdef0123";
const B: &str = "fedcba9876543210fedc";

#[test]
fn globs_match_as_shells_do() {
    let cases = [
        ("node-0*", "node-01", true),
        ("node-0*", "node-0", true),
        ("node-0*", "node-17", false),
        ("node-0*", "xnode-01", false),
        ("node-?", "node-7", true),
        ("node-?", "node-17", false),
        ("*", "", true),
        ("*-gpu-*", "rack1-gpu-7", true),
        ("*-gpu-*", "rack1-cpu-7", false),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "axxbyy", false),
        ("exact", "exact", true),
        ("exact", "Exact", false),
    ];
    for (pattern, host, want) in cases {
        let glob = HostGlob::new(pattern).expect(pattern);
        assert_eq!(glob.matches(host), want, "{pattern} ~ {host}");
    }
    assert!(HostGlob::new("").is_err());
    assert!(HostGlob::new("node[0-9]").is_err());
}

#[test]
fn token_files_are_read_with_errors_that_name_the_line_not_the_token() {
    let tokens = Tokens::parse(&format!("# agents\n\n{A}\n  {B}  node-0*\n")).expect("parses");
    assert_eq!(tokens.len(), 2);
    let cases = [
        ("", "holds no token"),
        ("# only a comment\n", "holds no token"),
        (
            "short\n",
            "line 1: the token is 5 characters, shorter than 16",
        ),
        (
            &format!("{A}\n{B} node-* extra\n") as &str,
            "line 2: has more than a token and a host.name glob",
        ),
    ];
    for (text, want) in cases {
        let err = Tokens::parse(text).expect_err(want);
        assert!(err.starts_with(want), "{err:?} should start with {want:?}");
        assert!(
            !err.contains(A) && !err.contains(B),
            "{err:?} shows a token"
        );
    }
    assert!(!format!("{tokens:?}").contains(A), "Debug shows a token");
}

fn auth(ingest: &str, api: Option<&str>) -> (Auth, tempdir::Dir) {
    let dir = tempdir::Dir::new();
    let ingest_path = dir.write("ingest", ingest);
    let api_path = api.map(|a| dir.write("api", a));
    let settings = AuthSettings {
        ingest_tokens_file: Some(ingest_path),
        api_tokens_file: api_path,
        allow_unauthenticated: Vec::new(),
    };
    (Auth::load(&settings).expect("loads"), dir)
}

#[test]
fn ingest_tokens_say_which_hosts_they_may_send_as() {
    let (auth, _dir) = auth(&format!("{A}\n{B} node-0*\n"), None);
    let bearer = |t: &str| format!("Bearer {t}").into_bytes();
    assert!(matches!(auth.ingest(Some(&bearer(A))), Ok(Permit::Any)));
    let permit = auth.ingest(Some(&bearer(B))).expect("B is a token");
    assert!(permit.allows(Some("node-01")));
    assert!(!permit.allows(Some("node-17")));
    assert!(
        !permit.allows(None),
        "a restricted token must name its host"
    );
    assert!(auth.ingest(Some(b"bearer 0123456789abcdef0123")).is_ok());
    let denied = [
        (None, Denied::Missing("ingest_tokens_file")),
        (
            Some(b"Basic Zm9vOmJhcg==".to_vec()),
            Denied::Missing("ingest_tokens_file"),
        ),
        (
            Some(bearer("0123456789abcdef012")),
            Denied::Wrong("ingest_tokens_file"),
        ),
        (
            Some(bearer(&format!("{A}4"))),
            Denied::Wrong("ingest_tokens_file"),
        ),
    ];
    for (header, want) in denied {
        assert_eq!(
            auth.ingest(header.as_deref()).err(),
            Some(want),
            "{header:?}"
        );
    }
    // No API tokens: the API is open.
    assert_eq!(auth.api(None), Ok(()));
}

#[test]
fn reload_swaps_the_tokens_and_keeps_them_on_an_error() {
    let (auth, dir) = auth(&format!("{A}\n"), Some(&format!("{B}\n")));
    let bearer = |t: &str| format!("Bearer {t}").into_bytes();
    assert_eq!(auth.api(Some(&bearer(B))), Ok(()));
    assert!(auth.api(Some(&bearer(A))).is_err());
    dir.write("api", &format!("{A}\n"));
    auth.reload().expect("reloads");
    assert_eq!(auth.api(Some(&bearer(A))), Ok(()));
    assert!(auth.api(Some(&bearer(B))).is_err());
    dir.write("api", "short\n");
    assert!(auth.reload().expect_err("short").contains("line 1"));
    assert_eq!(auth.api(Some(&bearer(A))), Ok(()), "the old tokens stay");
}

#[test]
fn listeners_other_machines_reach_need_tokens_or_an_explicit_allowance() {
    let addr = |s: &str| s.parse::<SocketAddr>().expect("addr");
    let open = AuthSettings::default();
    assert!(open
        .check_listener("otlp_http_listen", addr("127.0.0.1:4318"))
        .is_ok());
    assert!(open
        .check_listener("api_listen", addr("[::1]:9464"))
        .is_ok());
    let err = open
        .check_listener("otlp_http_listen", addr("0.0.0.0:4318"))
        .expect_err("open ingest");
    assert_eq!(err.key, "collector.otlp_http_listen");
    assert!(
        err.rule
            .contains("collector.auth.ingest_tokens_file is not set"),
        "{err}"
    );
    assert!(err.rule.contains("allow_unauthenticated = true"), "{err}");
    let err = open
        .check_listener("api_listen", addr("10.0.0.5:9464"))
        .expect_err("open API");
    assert!(err.rule.contains("collector.auth.api_tokens_file"), "{err}");

    let with_tokens = AuthSettings {
        ingest_tokens_file: Some("t".into()),
        ..AuthSettings::default()
    };
    assert!(with_tokens
        .check_listener("otlp_grpc_listen", addr("0.0.0.0:4317"))
        .is_ok());
    assert!(with_tokens
        .check_listener("api_listen", addr("0.0.0.0:9464"))
        .is_err());

    let allowed = AuthConfig {
        allow_unauthenticated: Allow::Listeners(vec!["api_listen".into()]),
        ..AuthConfig::default()
    }
    .validate()
    .expect("valid");
    assert!(allowed
        .check_listener("api_listen", addr("0.0.0.0:9464"))
        .is_ok());
    assert!(allowed
        .check_listener("otlp_http_listen", addr("0.0.0.0:4318"))
        .is_err());
    let err = AuthConfig {
        allow_unauthenticated: Allow::Listeners(vec!["api".into()]),
        ..AuthConfig::default()
    }
    .validate()
    .expect_err("unknown listener");
    assert!(err.to_string().starts_with(
        "collector.auth.allow_unauthenticated must be true, false or a list of otlp_grpc_listen"
    ));
}

/// A directory removed when dropped.
mod tempdir {
    use std::path::PathBuf;

    #[derive(Debug)]
    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "gpuwatch-auth-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).expect("temp dir");
            Dir(dir)
        }

        pub fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).expect("write");
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
