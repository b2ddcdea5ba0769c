//! Reading a client's credential files (`gpuwatch_model::credentials`): the agent's
//! `agent.token_file` and `agent.tls.*`, and `top`'s `--token-file` and `--ca-file`.

use std::path::Path;

use gpuwatch_model::credentials::{token_of, ClientAuth, Credentials, TOKEN_ENV};

fn read(what: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))
}

/// Reads every file `credentials` names; the token comes from `token_file`, else from
/// `$GPUWATCH_TOKEN`. Errors name the file, never the token.
pub fn load(credentials: &Credentials) -> Result<ClientAuth, String> {
    let token = match &credentials.token_file {
        Some(path) => {
            let text = String::from_utf8(read("token file", path)?)
                .map_err(|_| format!("the token file {} is not UTF-8", path.display()))?;
            let token = token_of(&text)
                .ok_or_else(|| format!("the token file {} holds no token", path.display()))?;
            Some(token.to_string())
        }
        None => std::env::var(TOKEN_ENV)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
    };
    let ca_pem = credentials
        .ca_file
        .as_deref()
        .map(|p| read("CA certificate file", p))
        .transpose()?;
    let identity_pem = match (&credentials.cert_file, &credentials.key_file) {
        (Some(cert), Some(key)) => Some((
            read("client certificate file", cert)?,
            read("client key file", key)?,
        )),
        _ => None,
    };
    Ok(ClientAuth {
        token,
        ca_pem,
        identity_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_named() {
        let c = Credentials {
            token_file: Some("/nonexistent/agent-token".into()),
            ..Credentials::default()
        };
        let err = load(&c).expect_err("no file");
        assert!(
            err.starts_with("cannot read the token file /nonexistent/agent-token"),
            "{err}"
        );
    }
}
