//! `[collector.auth]`: bearer tokens on the listeners.
//!
//! `ingest_tokens_file` guards OTLP (HTTP and gRPC), `api_tokens_file` guards `/api/v1/*`
//! and `/metrics`; `/healthz` and `/readyz` stay open. A token file has one token a line,
//! optionally followed by a `host.name` glob that the token may send as (`node-0*`):
//! points of any other host are refused as `forbidden_host`. Tokens are compared in
//! constant time, never logged, and both files are read again on SIGHUP.
//!
//! A listener on an address other machines can reach must have tokens, unless
//! `allow_unauthenticated` says it may go without (`check_listener`).

mod glob;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

pub use glob::HostGlob;
use gpuwatch_model::config::ConfigError;

/// A token shorter than this is refused: it could be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Tokens that may send OTLP, one a line; a second field on a line is a `host.name`
    /// glob the token may send as. Empty: ingest needs no token.
    pub ingest_tokens_file: String,
    /// Tokens that may read `/api/v1/*` and `/metrics`, one a line. Empty: no token.
    pub api_tokens_file: String,
    /// `true`, or a list of listener keys (`["api_listen"]`), that may listen on an
    /// address other machines reach without tokens: only behind a firewall or a
    /// NetworkPolicy that already decides who may connect.
    pub allow_unauthenticated: Allow,
}

/// `allow_unauthenticated = true` or `= ["otlp_http_listen", ...]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Allow {
    All(bool),
    Listeners(Vec<String>),
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            ingest_tokens_file: String::new(),
            api_tokens_file: String::new(),
            allow_unauthenticated: Allow::All(false),
        }
    }
}

/// The listeners, by their keys in `[collector]`.
pub const LISTENERS: [&str; 3] = ["otlp_grpc_listen", "otlp_http_listen", "api_listen"];

/// The validated form of `AuthConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthSettings {
    pub ingest_tokens_file: Option<PathBuf>,
    pub api_tokens_file: Option<PathBuf>,
    /// The keys of the listeners that may go without tokens anywhere.
    pub allow_unauthenticated: Vec<&'static str>,
}

impl AuthConfig {
    pub fn validate(&self) -> Result<AuthSettings, ConfigError> {
        let path = |p: &str| Some(p.trim()).filter(|p| !p.is_empty()).map(PathBuf::from);
        let allow_unauthenticated = match &self.allow_unauthenticated {
            Allow::All(true) => LISTENERS.to_vec(),
            Allow::All(false) => Vec::new(),
            Allow::Listeners(keys) => keys
                .iter()
                .map(|k| {
                    LISTENERS.iter().copied().find(|l| l == k).ok_or_else(|| {
                        ConfigError::new(
                            "collector.auth.allow_unauthenticated",
                            format!(
                                "must be true, false or a list of {}, got {k:?}",
                                LISTENERS.join(", ")
                            ),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(AuthSettings {
            ingest_tokens_file: path(&self.ingest_tokens_file),
            api_tokens_file: path(&self.api_tokens_file),
            allow_unauthenticated,
        })
    }
}

impl AuthSettings {
    /// Refuses a listener that other machines can reach without a token file, unless
    /// `allow_unauthenticated` names it; says why and how to fix it.
    pub fn check_listener(&self, key: &'static str, addr: SocketAddr) -> Result<(), ConfigError> {
        let (file, what) = if key == "api_listen" {
            (
                &self.api_tokens_file,
                ("api_tokens_file", "read every job, team and dollar figure"),
            )
        } else {
            (
                &self.ingest_tokens_file,
                (
                    "ingest_tokens_file",
                    "write any series and so raise any alert",
                ),
            )
        };
        if addr.ip().is_loopback() || file.is_some() || self.allow_unauthenticated.contains(&key) {
            return Ok(());
        }
        Err(ConfigError::new(
            format!("collector.{key}"),
            format!(
                "is {addr}, which other machines can reach, and collector.auth.{} is not set: \
                 anyone who reaches it could {}. Set collector.auth.{} to a file of tokens \
                 (one a line, e.g. from `openssl rand -hex 32`), or, where a firewall or a \
                 NetworkPolicy already decides who may connect, set \
                 collector.auth.allow_unauthenticated = true (or = [\"{key}\"])",
                what.0, what.1, what.0
            ),
        ))
    }
}

/// One line of a token file.
#[derive(Clone)]
struct Entry {
    token: Box<[u8]>,
    hosts: Option<Arc<HostGlob>>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("token", &"<redacted>")
            .field("hosts", &self.hosts)
            .finish()
    }
}

/// The tokens of one file.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<Entry>,
}

impl Tokens {
    /// Reads a token file; errors name the file and the line, never the token.
    pub fn load(path: &Path) -> Result<Tokens, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
        Tokens::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// `# comments`, blank lines, and `TOKEN [HOST-GLOB]` lines.
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let token = fields.next().unwrap_or_default();
            let hosts = fields.next();
            if fields.next().is_some() {
                return Err(format!(
                    "line {}: has more than a token and a host.name glob",
                    n + 1
                ));
            }
            if token.len() < MIN_TOKEN_LEN {
                return Err(format!(
                    "line {}: the token is {} characters, shorter than {MIN_TOKEN_LEN}; \
                     make one with `openssl rand -hex 32`",
                    n + 1,
                    token.len()
                ));
            }
            let hosts = hosts
                .map(|g| HostGlob::new(g).map(Arc::new))
                .transpose()
                .map_err(|e| format!("line {}: {e}", n + 1))?;
            entries.push(Entry {
                token: token.as_bytes().into(),
                hosts,
            });
        }
        if entries.is_empty() {
            return Err("holds no token".to_string());
        }
        Ok(Tokens { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry whose token is `presented`: every token is compared, each in constant
    /// time, so the time taken says nothing about how much of a token was right.
    fn find(&self, presented: &[u8]) -> Option<&Entry> {
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.token.as_ref().ct_eq(presented)) {
                found = Some(entry);
            }
        }
        found
    }
}

/// What an accepted ingest token may send as.
#[derive(Debug, Clone, Default)]
pub enum Permit {
    /// Any `host.name` (or no tokens are needed).
    #[default]
    Any,
    /// Only hosts the glob matches.
    Hosts(Arc<HostGlob>),
}

impl Permit {
    /// Whether points of a resource with this `host.name` may be kept.
    pub fn allows(&self, host: Option<&str>) -> bool {
        match self {
            Permit::Any => true,
            Permit::Hosts(glob) => host.is_some_and(|h| glob.matches(h)),
        }
    }
}

/// Why a request was refused as unauthenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error(
        "this collector needs a token: send `Authorization: Bearer <token>` \
         (agent.token_file, top --token-file or GPUWATCH_TOKEN) with one of collector.auth.{0}"
    )]
    Missing(&'static str),
    #[error("the bearer token is not one of collector.auth.{0}")]
    Wrong(&'static str),
}

/// The tokens in force, swapped whole on reload.
#[derive(Debug, Default)]
pub struct Auth {
    settings: AuthSettings,
    ingest: RwLock<Option<Arc<Tokens>>>,
    api: RwLock<Option<Arc<Tokens>>>,
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

/// The token of an `Authorization: Bearer <token>` value.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = text.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().as_bytes())
}

impl Auth {
    /// Reads the token files `settings` names.
    pub fn load(settings: &AuthSettings) -> Result<Auth, String> {
        let auth = Auth {
            settings: settings.clone(),
            ..Auth::default()
        };
        auth.reload()?;
        Ok(auth)
    }

    /// Reads the token files again; on an error the tokens in force stay.
    pub fn reload(&self) -> Result<(), String> {
        let load = |p: &Option<PathBuf>| p.as_deref().map(Tokens::load).transpose();
        let (ingest, api) = (
            load(&self.settings.ingest_tokens_file)?,
            load(&self.settings.api_tokens_file)?,
        );
        let set = |lock: &RwLock<Option<Arc<Tokens>>>, tokens: Option<Tokens>| {
            *lock.write().unwrap_or_else(|p| p.into_inner()) = tokens.map(Arc::new);
        };
        set(&self.ingest, ingest);
        set(&self.api, api);
        Ok(())
    }

    /// How many tokens each file holds, for the start-up line.
    pub fn counts(&self) -> (Option<usize>, Option<usize>) {
        let n = |l: &RwLock<Option<Arc<Tokens>>>| read(l).map(|t| t.len());
        (n(&self.ingest), n(&self.api))
    }

    /// Checks an OTLP request's `Authorization` value.
    pub fn ingest(&self, authorization: Option<&[u8]>) -> Result<Permit, Denied> {
        let Some(tokens) = read(&self.ingest) else {
            return Ok(Permit::Any);
        };
        let entry = check(&tokens, authorization, "ingest_tokens_file")?;
        Ok(entry.hosts.clone().map_or(Permit::Any, Permit::Hosts))
    }

    /// Checks an API request's `Authorization` value.
    pub fn api(&self, authorization: Option<&[u8]>) -> Result<(), Denied> {
        match read(&self.api) {
            None => Ok(()),
            Some(tokens) => check(&tokens, authorization, "api_tokens_file").map(|_| ()),
        }
    }
}

fn check<'t>(
    tokens: &'t Tokens,
    authorization: Option<&[u8]>,
    file: &'static str,
) -> Result<&'t Entry, Denied> {
    let presented = authorization
        .and_then(bearer)
        .ok_or(Denied::Missing(file))?;
    tokens.find(presented).ok_or(Denied::Wrong(file))
}

#[cfg(test)]
mod tests;
