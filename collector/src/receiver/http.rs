//! OTLP/HTTP: `POST /v1/metrics` with a protobuf or JSON body, optionally gzip.
//!
//! As the OTLP specification says: the response has the request's content type;
//! 200 with `partial_success` when points were refused; 400 with a `google.rpc.Status`
//! for an undecodable body; 413 past the size limit (compressed or decompressed);
//! 415 for a content type or encoding we do not speak; 401 without one of
//! `collector.auth.ingest_tokens_file`'s tokens, when it is set.

use std::io::Read;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;

use crate::auth::Permit;
use crate::ingest::IngestOutcome;
use crate::state::CollectorState;
use crate::telemetry::RequestRejection;

pub const PROTOBUF: &str = "application/x-protobuf";
pub const JSON: &str = "application/json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => PROTOBUF,
            Format::Json => JSON,
        }
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error response.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC code `INVALID_ARGUMENT`, which OTLP/HTTP puts in the Status of a 400.
const INVALID_ARGUMENT: i32 = 3;
/// gRPC code `DEADLINE_EXCEEDED`, for a 408.
const DEADLINE_EXCEEDED: i32 = 4;
/// gRPC code `RESOURCE_EXHAUSTED`, for a 413 or a 429.
const RESOURCE_EXHAUSTED: i32 = 8;
/// gRPC code `UNIMPLEMENTED`, for a 415.
const UNIMPLEMENTED: i32 = 12;
/// gRPC code `UNAUTHENTICATED`, for a 401.
const UNAUTHENTICATED: i32 = 16;

#[derive(Clone)]
struct HttpState {
    state: Arc<CollectorState>,
    max_request_bytes: usize,
}

/// The `/v1/metrics` route.
pub fn router(state: Arc<CollectorState>, max_request_bytes: usize) -> Router {
    let http = HttpState {
        state,
        max_request_bytes,
    };
    Router::new()
        .route("/v1/metrics", post(export))
        .layer(DefaultBodyLimit::max(max_request_bytes))
        .layer(middleware::from_fn_with_state(http.clone(), limits))
        .layer(middleware::from_fn_with_state(http.clone(), authenticate))
        .with_state(http)
}

fn format_of(headers: &HeaderMap) -> Option<Format> {
    match media_type(headers) {
        Some(JSON) => Some(Format::Json),
        Some(PROTOBUF) => Some(Format::Protobuf),
        _ => None,
    }
}

/// `[collector.auth]`, before anything else: 401 without one of the ingest tokens;
/// what the token may send as goes on to `export`.
async fn authenticate(State(http): State<HttpState>, mut request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match http.state.auth().ingest(authorization) {
        Ok(permit) => {
            request.extensions_mut().insert(permit);
            next.run(request).await
        }
        Err(denied) => {
            let format = format_of(request.headers());
            let mut response = refuse(
                &http.state.telemetry,
                format,
                RequestRejection::Unauthenticated,
                denied.to_string(),
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gpuwatch\""),
            );
            response
        }
    }
}

/// `[collector.limits]` around each request, before its body is read: 429 with
/// `Retry-After` when over a limit, 408 (and the connection closed) when it takes
/// longer than `request_timeout` to arrive and be answered.
async fn limits(State(http): State<HttpState>, request: Request, next: Next) -> Response {
    let format = format_of(request.headers());
    let limiter = http.state.limiter();
    let telemetry = &http.state.telemetry;
    let _slot = match limiter.admit() {
        Ok(slot) => slot,
        Err(overload) => {
            let mut response = refuse(
                telemetry,
                format,
                RequestRejection::Overloaded,
                overload.to_string(),
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(crate::limiter::RETRY_AFTER.as_secs()),
            );
            return response;
        }
    };
    let timeout = limiter.settings().request_timeout;
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let msg = format!(
                "the request did not arrive within {timeout:?} (collector.limits.request_timeout)"
            );
            let mut response = refuse(telemetry, format, RequestRejection::Timeout, msg);
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

/// The HTTP status and the `google.rpc.Status` code of each refusal, as OTLP/HTTP has
/// them.
fn status_of(why: RequestRejection) -> (StatusCode, i32) {
    match why {
        RequestRejection::Undecodable => (StatusCode::BAD_REQUEST, INVALID_ARGUMENT),
        RequestRejection::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, RESOURCE_EXHAUSTED),
        RequestRejection::UnsupportedMediaType | RequestRejection::UnsupportedEncoding => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, UNIMPLEMENTED)
        }
        RequestRejection::Overloaded => (StatusCode::TOO_MANY_REQUESTS, RESOURCE_EXHAUSTED),
        RequestRejection::Timeout => (StatusCode::REQUEST_TIMEOUT, DEADLINE_EXCEEDED),
        RequestRejection::Unauthenticated => (StatusCode::UNAUTHORIZED, UNAUTHENTICATED),
    }
}

/// Counts a refused request and answers it, in `format` when it is known.
fn refuse(
    telemetry: &crate::telemetry::Telemetry,
    format: Option<Format>,
    why: RequestRejection,
    msg: String,
) -> Response {
    telemetry.request_rejected(why, &msg);
    let (status, code) = status_of(why);
    error(format, status, code, msg)
}

fn error(format: Option<Format>, status: StatusCode, code: i32, message: String) -> Response {
    let (content_type, body) = match format {
        Some(Format::Protobuf) => (PROTOBUF, RpcStatus { code, message }.encode_to_vec()),
        Some(Format::Json) => (
            JSON,
            serde_json::to_vec(&serde_json::json!({ "code": code, "message": message }))
                .unwrap_or_default(),
        ),
        None => ("text/plain; charset=utf-8", message.into_bytes()),
    };
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

fn media_type(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim())
}

/// Decompresses `body` per Content-Encoding, refusing output over `limit` bytes.
fn decode_body(
    headers: &HeaderMap,
    body: Bytes,
    limit: usize,
) -> Result<Bytes, (RequestRejection, String)> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(body),
        "gzip" => {
            let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
            let mut reader = flate2::read::GzDecoder::new(&body[..]).take(limit as u64 + 1);
            reader.read_to_end(&mut out).map_err(|e| {
                (
                    RequestRejection::Undecodable,
                    format!("the gzip body could not be decompressed: {e}"),
                )
            })?;
            if out.len() > limit {
                return Err((
                    RequestRejection::TooLarge,
                    format!(
                        "the request decompresses to more than the collector's limit of {limit} bytes \
                         (collector.max_request_bytes); send smaller batches"
                    ),
                ));
            }
            Ok(Bytes::from(out))
        }
        other => Err((
            RequestRejection::UnsupportedEncoding,
            format!("Content-Encoding {other:?} is not supported; use gzip or none"),
        )),
    }
}

async fn export(
    State(http): State<HttpState>,
    permit: Option<Extension<Permit>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let telemetry = &http.state.telemetry;
    telemetry.http_request();
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let msg = format!(
                "the request is larger than the collector's limit of {} bytes \
                 (collector.max_request_bytes); send smaller batches",
                http.max_request_bytes
            );
            return refuse(telemetry, None, RequestRejection::TooLarge, msg);
        }
        Err(rejection) => {
            let msg = format!("the request body could not be read: {rejection}");
            return refuse(telemetry, None, RequestRejection::Undecodable, msg);
        }
    };
    let format = match media_type(&headers) {
        Some(PROTOBUF) => Format::Protobuf,
        Some(JSON) => Format::Json,
        other => {
            let msg = format!(
                "Content-Type {:?} is not supported; send {PROTOBUF} or {JSON}",
                other.unwrap_or("(none)")
            );
            return refuse(telemetry, None, RequestRejection::UnsupportedMediaType, msg);
        }
    };
    let body = match decode_body(&headers, body, http.max_request_bytes) {
        Ok(body) => body,
        Err((why, msg)) => return refuse(telemetry, Some(format), why, msg),
    };
    let permit = permit.map(|Extension(p)| p).unwrap_or_default();
    let outcome = match format {
        Format::Protobuf => http
            .state
            .ingest_protobuf_as(&body, &permit)
            .map_err(|e| e.to_string()),
        // An empty body is an empty request in either encoding.
        Format::Json if body.is_empty() => Ok(IngestOutcome::default()),
        Format::Json => serde_json::from_slice::<ExportMetricsServiceRequest>(&body)
            .map(|request| http.state.ingest_as(&request, &permit))
            .map_err(|e| e.to_string()),
    };
    let response = match outcome {
        Ok(outcome) => outcome.response(),
        Err(e) => {
            let msg = format!(
                "the body is not an OTLP ExportMetricsServiceRequest in {}: {e}",
                format.content_type()
            );
            return refuse(telemetry, Some(format), RequestRejection::Undecodable, msg);
        }
    };
    let body = match format {
        Format::Protobuf => response.encode_to_vec(),
        Format::Json => serde_json::to_vec(&response).unwrap_or_default(),
    };
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        )],
        body,
    )
        .into_response()
}
