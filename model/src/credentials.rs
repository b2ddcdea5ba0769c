//! How a client (the agent, `top`) proves itself to a collector: the files it is
//! configured with (`Credentials`) and what they hold once read (`ClientAuth`). Reading
//! them is the clients' business; this module only says what they mean.

use std::path::PathBuf;

/// The environment variable holding a token when no token file is set.
pub const TOKEN_ENV: &str = "GPUWATCH_TOKEN";

/// The files of a client's credentials; each `None` when not set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Holds the bearer token (its first line that is not blank or a `#` comment).
    pub token_file: Option<PathBuf>,
    /// PEM CA certificates trusted beside the system's roots (a private CA).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain, for mutual TLS; with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
}

impl Credentials {
    /// Whether any TLS file is set (so the collector's URL must be `https://`).
    pub fn has_tls(&self) -> bool {
        self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }

    /// Checks that `cert_file` and `key_file` come together and that TLS files go
    /// with an `https://` URL; `Err((key, rule))` names the offending key (`ca_file`,
    /// `cert_file` or `key_file`).
    pub fn check(&self, url: &str) -> Result<(), (&'static str, String)> {
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => {
                return Err((
                    "key_file",
                    "must be set with cert_file (the client certificate's private key)".into(),
                ))
            }
            (None, Some(_)) => {
                return Err((
                    "cert_file",
                    "must be set with key_file (the key's certificate chain)".into(),
                ))
            }
            _ => {}
        }
        if self.has_tls() && !url.trim().starts_with("https://") {
            let key = if self.ca_file.is_some() {
                "ca_file"
            } else {
                "cert_file"
            };
            return Err((
                key,
                format!("is set but the collector's URL {url:?} is not https://; use https://"),
            ));
        }
        Ok(())
    }
}

/// What a client's credential files hold, ready for its HTTP or gRPC client.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientAuth {
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// PEM CA certificates to trust beside the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM client certificate chain and key.
    pub identity_pem: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuth")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field("identity_pem", &self.identity_pem.is_some())
            .finish()
    }
}

/// The token of a token file's text: its first line that is not blank or a comment,
/// trimmed; for a collector's tokens file (`TOKEN HOST-GLOB`), its first field.
pub fn token_of(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|l| l.split_whitespace().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_the_first_real_line() {
        assert_eq!(
            token_of("# for node-01\n\n  abc123  \nxyz\n"),
            Some("abc123")
        );
        assert_eq!(token_of("abc123 node-0*\n"), Some("abc123"));
        assert_eq!(token_of("# nothing\n\n"), None);
    }

    #[test]
    fn tls_files_need_https_and_come_in_pairs() {
        let ca = Credentials {
            ca_file: Some("ca.pem".into()),
            ..Credentials::default()
        };
        assert!(ca.check("https://c:4318").is_ok());
        assert_eq!(ca.check("http://c:4318").map_err(|e| e.0), Err("ca_file"));
        let half = Credentials {
            cert_file: Some("c.pem".into()),
            ..Credentials::default()
        };
        assert_eq!(
            half.check("https://c:4318").map_err(|e| e.0),
            Err("key_file")
        );
        assert!(Credentials::default().check("http://c:4318").is_ok());
        let auth = ClientAuth {
            token: Some("secret-token".into()),
            ..ClientAuth::default()
        };
        assert!(!format!("{auth:?}").contains("secret-token"));
    }
}
