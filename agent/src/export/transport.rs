//! Sending one encoded `ExportMetricsServiceRequest` and reading the answer as the
//! OTLP specification classifies it: delivered, worth retrying later, or refused.

use std::io::{self, Read, Write};
use std::time::Duration;

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message;
use reqwest::header::{HeaderMap, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::settings::{ExportError, ExporterSettings, Protocol};

/// What a refused token's error adds: what to fix.
const UNAUTHORIZED_HINT: &str = "; set agent.token_file (or GPUWATCH_TOKEN) to a file holding \
     one of the collector's collector.auth.ingest_tokens_file tokens";

/// Longest stretch of a collector's answer quoted in an error.
const QUOTE_LIMIT: usize = 200;

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendOutcome {
    /// The collector has it.
    Delivered,
    /// Not delivered, and worth sending again: the collector is unreachable, timed
    /// out, or answered 429/502/503/504 (gRPC: UNAVAILABLE, RESOURCE_EXHAUSTED and the
    /// other retryable codes). `after` is the collector's Retry-After, when it gave one.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// The collector refused the request itself (any other 4xx or 5xx, gRPC
    /// INVALID_ARGUMENT and such): sending it again would fail again.
    Refused { reason: String },
}

/// The OTLP client for one protocol.
#[derive(Debug)]
pub(crate) enum Transport {
    Http {
        client: reqwest::Client,
        url: String,
    },
    Grpc {
        client: MetricsServiceClient<Channel>,
        /// `Bearer <token>`, sent with every request.
        authorization: Option<tonic::metadata::AsciiMetadataValue>,
    },
}

impl Transport {
    /// Builds the client; the gRPC channel connects lazily, so this needs a tokio
    /// runtime but no collector.
    pub(crate) fn new(settings: &ExporterSettings) -> Result<Transport, ExportError> {
        let url = settings.url();
        let build_error = |message: String| ExportError::Build {
            url: url.clone(),
            message,
        };
        let auth = crate::credentials::load(&settings.credentials).map_err(&build_error)?;
        let bearer = auth.token.as_ref().map(|t| format!("Bearer {t}"));
        match settings.protocol {
            Protocol::Http => {
                let mut builder = reqwest::Client::builder()
                    .timeout(settings.timeout)
                    .connect_timeout(settings.timeout);
                if let Some(bearer) = &bearer {
                    let mut value =
                        reqwest::header::HeaderValue::from_str(bearer).map_err(|_| {
                            build_error("the token holds characters a header cannot".into())
                        })?;
                    value.set_sensitive(true);
                    builder = builder.default_headers(HeaderMap::from_iter([(
                        reqwest::header::AUTHORIZATION,
                        value,
                    )]));
                }
                if let Some(ca) = &auth.ca_pem {
                    for cert in reqwest::Certificate::from_pem_bundle(ca)
                        .map_err(|e| build_error(format!("agent.tls.ca_file: {e}")))?
                    {
                        builder = builder.add_root_certificate(cert);
                    }
                }
                if let Some((cert, key)) = &auth.identity_pem {
                    let pem = [cert.as_slice(), b"\n", key.as_slice()].concat();
                    let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                        build_error(format!("agent.tls.cert_file and key_file: {e}"))
                    })?;
                    builder = builder.identity(identity);
                }
                let client = builder.build().map_err(|e| build_error(e.to_string()))?;
                Ok(Transport::Http {
                    client,
                    url: url.clone(),
                })
            }
            Protocol::Grpc => {
                let mut endpoint = Endpoint::from_shared(url.clone())
                    .map_err(|e| build_error(e.to_string()))?
                    .timeout(settings.timeout)
                    .connect_timeout(settings.timeout);
                if url.starts_with("https://") {
                    // TLS with the system's trusted roots, as OTLP/HTTP does, and the
                    // private CA and client certificate of agent.tls.
                    let mut tls = ClientTlsConfig::new().with_native_roots();
                    if let Some(ca) = &auth.ca_pem {
                        tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(ca));
                    }
                    if let Some((cert, key)) = &auth.identity_pem {
                        tls = tls.identity(tonic::transport::Identity::from_pem(cert, key));
                    }
                    endpoint = endpoint
                        .tls_config(tls)
                        .map_err(|e| build_error(e.to_string()))?;
                }
                let authorization = bearer
                    .map(|b| {
                        b.parse().map_err(|_| {
                            build_error("the token holds characters a header cannot".into())
                        })
                    })
                    .transpose()?;
                let channel = endpoint.connect_lazy();
                Ok(Transport::Grpc {
                    client: MetricsServiceClient::new(channel),
                    authorization,
                })
            }
        }
    }

    /// Sends `body`, an encoded `ExportMetricsServiceRequest`, gzip-compressed when
    /// `gzip` (sent as such over HTTP; unpacked for gRPC).
    pub(crate) async fn send(&self, body: &[u8], gzip: bool) -> SendOutcome {
        match self {
            Transport::Http { client, url } => send_http(client, url, body, gzip).await,
            Transport::Grpc {
                client,
                authorization,
            } => send_grpc(client.clone(), authorization.clone(), body, gzip).await,
        }
    }
}

/// `body` gzip-compressed (fast level: requests are repetitive, 5-10x smaller).
pub(crate) fn gzip(body: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
    encoder.write_all(body)?;
    encoder.finish()
}

pub(crate) fn gunzip(body: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(8));
    GzDecoder::new(body).read_to_end(&mut out)?;
    Ok(out)
}

async fn send_http(client: &reqwest::Client, url: &str, body: &[u8], gzip: bool) -> SendOutcome {
    let mut request = client
        .post(url)
        .header(CONTENT_TYPE, "application/x-protobuf");
    if gzip {
        request = request.header(CONTENT_ENCODING, "gzip");
    }
    let sent = request.body(body.to_vec()).send().await;
    let response = match sent {
        Ok(response) => response,
        Err(e) => {
            return SendOutcome::Retry {
                after: None,
                reason: describe_reqwest_error(&e),
            }
        }
    };
    let status = response.status();
    let after = retry_after(response.headers());
    let answer = response.bytes().await.unwrap_or_default();
    if status.is_success() {
        if let Ok(decoded) = ExportMetricsServiceResponse::decode(answer.as_ref()) {
            log_partial_success(decoded.partial_success.as_ref());
        }
        return SendOutcome::Delivered;
    }
    let mut reason = format!("the collector answered {status}{}", quote(&answer));
    if status == StatusCode::UNAUTHORIZED {
        reason.push_str(UNAUTHORIZED_HINT);
    }
    if retryable_http(status) {
        SendOutcome::Retry { after, reason }
    } else {
        SendOutcome::Refused { reason }
    }
}

/// 429, 502, 503 and 504: the statuses OTLP/HTTP says to retry.
fn retryable_http(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    )
}

/// Retry-After in seconds; the HTTP-date form is not read (the backoff applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// `: "<the body, shortened>"` when the body is readable text, else nothing.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() || text.contains('\u{fffd}') {
        return String::new();
    }
    let short: String = text.chars().take(QUOTE_LIMIT).collect();
    let ellipsis = if short.len() < text.len() { "…" } else { "" };
    format!(": \"{short}{ellipsis}\"")
}

/// reqwest's error with its causes: "error sending request" alone says little.
fn describe_reqwest_error(error: &reqwest::Error) -> String {
    let mut message = if error.is_timeout() {
        "the request timed out".to_string()
    } else if error.is_connect() {
        "could not connect".to_string()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

async fn send_grpc(
    mut client: MetricsServiceClient<Channel>,
    authorization: Option<tonic::metadata::AsciiMetadataValue>,
    body: &[u8],
    gzip: bool,
) -> SendOutcome {
    let unpacked;
    let body = if gzip {
        match gunzip(body) {
            Ok(bytes) => {
                unpacked = bytes;
                unpacked.as_slice()
            }
            Err(e) => {
                return SendOutcome::Refused {
                    reason: format!("the queued request could not be decompressed: {e}"),
                }
            }
        }
    } else {
        body
    };
    let request = match ExportMetricsServiceRequest::decode(body) {
        Ok(request) => request,
        Err(e) => {
            return SendOutcome::Refused {
                reason: format!("the queued request could not be decoded: {e}"),
            }
        }
    };
    let mut request = tonic::Request::new(request);
    if let Some(value) = authorization {
        request.metadata_mut().insert("authorization", value);
    }
    match client.export(request).await {
        Ok(response) => {
            log_partial_success(response.get_ref().partial_success.as_ref());
            SendOutcome::Delivered
        }
        Err(status) => {
            let mut reason = format!(
                "the collector answered {:?}: {}",
                status.code(),
                status.message()
            );
            if status.code() == tonic::Code::Unauthenticated {
                reason.push_str(UNAUTHORIZED_HINT);
            }
            if retryable_grpc(status.code()) {
                SendOutcome::Retry {
                    after: None,
                    reason,
                }
            } else {
                SendOutcome::Refused { reason }
            }
        }
    }
}

/// The codes OTLP/gRPC says to retry, and RESOURCE_EXHAUSTED (a collector shedding
/// load).
fn retryable_grpc(code: tonic::Code) -> bool {
    use tonic::Code;
    matches!(
        code,
        Code::Unavailable
            | Code::ResourceExhausted
            | Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::OutOfRange
            | Code::DataLoss
    )
}

/// A collector that kept only part of a request says so; the rest is not worth
/// resending (it would be refused again), so this is only logged.
fn log_partial_success(partial: Option<&ExportMetricsPartialSuccess>) {
    if let Some(p) = partial.filter(|p| p.rejected_data_points > 0 || !p.error_message.is_empty()) {
        tracing::warn!(
            rejected_points = p.rejected_data_points,
            "the collector kept only part of an export: {}",
            p.error_message
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retryable_statuses_follow_otlp() {
        for code in [429, 502, 503, 504] {
            let status = StatusCode::from_u16(code).expect("status");
            assert!(retryable_http(status), "{code}");
        }
        for code in [400, 401, 404, 413, 500] {
            let status = StatusCode::from_u16(code).expect("status");
            assert!(!retryable_http(status), "{code}");
        }
        assert!(retryable_grpc(tonic::Code::Unavailable));
        assert!(retryable_grpc(tonic::Code::ResourceExhausted));
        assert!(!retryable_grpc(tonic::Code::InvalidArgument));
    }

    #[test]
    fn retry_after_reads_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn gzip_round_trips() {
        let body = b"gpuwatch gpuwatch gpuwatch gpuwatch".repeat(100);
        let packed = gzip(&body).expect("gzip");
        assert!(packed.len() < body.len() / 10);
        assert_eq!(gunzip(&packed).expect("gunzip"), body);
    }

    #[test]
    fn quotes_text_answers_only() {
        assert_eq!(quote(b""), "");
        assert_eq!(quote(b"bad points"), ": \"bad points\"");
        assert_eq!(quote(&[0xff, 0x00, 0x12]), "");
        let long = "x".repeat(300);
        assert_eq!(quote(long.as_bytes()).chars().count(), 200 + 5);
    }
}
