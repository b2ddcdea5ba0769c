//! `[collector.tls]`: TLS (rustls) on all three listeners, mutual TLS with
//! `client_ca_file`, certificates read again on SIGHUP.
//!
//! Each listener's TCP connections are handed to a task of their own for the
//! handshake (at most `HANDSHAKE_TIMEOUT`), so a client that connects and says nothing
//! holds up no one; finished streams go to the server through a channel (`Incoming`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use gpuwatch_model::config::ConfigError;

/// Longest a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain the listeners present (the server's first). Empty: no TLS.
    pub cert_file: String,
    /// PEM private key of `cert_file` (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// PEM CA certificates; when set, every client must present a certificate one of
    /// them signed (mutual TLS).
    pub client_ca_file: String,
}

/// The validated form of `TlsConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
}

impl TlsConfig {
    /// `None` when TLS is off.
    pub fn validate(&self) -> Result<Option<TlsSettings>, ConfigError> {
        let path = |p: &str| Some(p.trim()).filter(|p| !p.is_empty()).map(PathBuf::from);
        match (path(&self.cert_file), path(&self.key_file)) {
            (None, None) if path(&self.client_ca_file).is_some() => Err(ConfigError::new(
                "collector.tls.client_ca_file",
                "needs collector.tls.cert_file and key_file: mutual TLS is TLS first",
            )),
            (None, None) => Ok(None),
            (Some(cert_file), Some(key_file)) => Ok(Some(TlsSettings {
                cert_file,
                key_file,
                client_ca_file: path(&self.client_ca_file),
            })),
            (Some(_), None) => Err(ConfigError::new(
                "collector.tls.key_file",
                "must be set with collector.tls.cert_file (the certificate's private key)",
            )),
            (None, Some(_)) => Err(ConfigError::new(
                "collector.tls.cert_file",
                "must be set with collector.tls.key_file (the key's certificate chain)",
            )),
        }
    }
}

/// What a listener speaks inside TLS, for ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// OTLP/gRPC: HTTP/2.
    H2,
    /// OTLP/HTTP and the API: HTTP/1.1.
    Http11,
}

/// The server configurations in force, swapped whole on reload.
#[derive(Debug)]
pub struct Tls {
    settings: TlsSettings,
    configs: RwLock<(Arc<ServerConfig>, Arc<ServerConfig>)>,
}

fn read_pem_error(what: &str, path: &Path, e: impl std::fmt::Display) -> String {
    format!("cannot read the {what} {}: {e}", path.display())
}

fn certificates(what: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| read_pem_error(what, path, e))?;
    if certs.is_empty() {
        return Err(format!(
            "the {what} {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

fn server_configs(s: &TlsSettings) -> Result<(Arc<ServerConfig>, Arc<ServerConfig>), String> {
    let chain = certificates("certificate (collector.tls.cert_file)", &s.cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&s.key_file)
        .map_err(|e| read_pem_error("private key (collector.tls.key_file)", &s.key_file, e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &s.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates("client CA (collector.tls.client_ca_file)", path)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("collector.tls.client_ca_file {}: {e}", path.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("collector.tls.client_ca_file {}: {e}", path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut h2 = builder.with_single_cert(chain, key).map_err(|e| {
        format!(
            "collector.tls.cert_file {} and key_file {} do not make a certificate: {e}",
            s.cert_file.display(),
            s.key_file.display()
        )
    })?;
    let mut http11 = h2.clone();
    h2.alpn_protocols = vec![b"h2".to_vec()];
    http11.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(h2), Arc::new(http11)))
}

impl Tls {
    /// Reads the certificate, the key and the client CAs.
    pub fn load(settings: &TlsSettings) -> Result<Tls, String> {
        Ok(Tls {
            configs: RwLock::new(server_configs(settings)?),
            settings: settings.clone(),
        })
    }

    /// Reads them again; on an error the ones in force stay. Connections already
    /// open keep the certificate they were made with.
    pub fn reload(&self) -> Result<(), String> {
        let configs = server_configs(&self.settings)?;
        *self.configs.write().unwrap_or_else(|p| p.into_inner()) = configs;
        Ok(())
    }

    fn acceptor(&self, alpn: Alpn) -> TlsAcceptor {
        let configs = self.configs.read().unwrap_or_else(|p| p.into_inner());
        TlsAcceptor::from(match alpn {
            Alpn::H2 => configs.0.clone(),
            Alpn::Http11 => configs.1.clone(),
        })
    }
}

/// The TLS connections of one listener, handshakes done.
#[derive(Debug)]
pub struct Incoming {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl Incoming {
    /// Accepts on `listener` until `stop`, each handshake in a task of its own.
    pub fn start(
        listener: TcpListener,
        tls: Arc<Tls>,
        alpn: Alpn,
        mut stop: watch::Receiver<bool>,
    ) -> std::io::Result<Incoming> {
        let local = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            tokio::pin!(stopped);
            loop {
                let (tcp, peer) = tokio::select! {
                    () = &mut stopped => return,
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of file descriptors and such: wait, as axum does.
                            tracing::warn!("accepting a connection failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let (acceptor, tx) = (tls.acceptor(alpn), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Incoming { rx, local })
    }

    /// The connections as a stream, for tonic.
    pub fn into_stream(
        self,
    ) -> impl futures::Stream<Item = Result<TlsStream<TcpStream>, std::io::Error>> {
        let mut rx = self.rx;
        futures::stream::poll_fn(move |cx| {
            rx.poll_recv(cx)
                .map(|next| next.map(|(stream, _)| Ok(stream)))
        })
    }
}

impl axum::serve::Listener for Incoming {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(next) => next,
            // Stopped: the server's graceful shutdown ends it.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_and_key_go_together() {
        let cfg = |cert: &str, key: &str, ca: &str| TlsConfig {
            cert_file: cert.into(),
            key_file: key.into(),
            client_ca_file: ca.into(),
        };
        assert_eq!(cfg("", "", "").validate(), Ok(None));
        assert!(cfg("c.pem", "k.pem", "")
            .validate()
            .expect("valid")
            .is_some());
        let cases = [
            (
                cfg("c.pem", "", ""),
                "collector.tls.key_file must be set with",
            ),
            (
                cfg("", "k.pem", ""),
                "collector.tls.cert_file must be set with",
            ),
            (cfg("", "", "ca.pem"), "collector.tls.client_ca_file needs"),
        ];
        for (c, want) in cases {
            let err = c.validate().expect_err(want).to_string();
            assert!(err.starts_with(want), "{err}");
        }
    }

    #[test]
    fn unreadable_files_are_named() {
        let s = TlsSettings {
            cert_file: "/nonexistent/cert.pem".into(),
            key_file: "/nonexistent/key.pem".into(),
            client_ca_file: None,
        };
        let err = Tls::load(&s).expect_err("no files");
        assert!(
            err.starts_with(
                "cannot read the certificate (collector.tls.cert_file) /nonexistent/cert.pem"
            ),
            "{err}"
        );
    }
}
