//! OTLP/gRPC: `opentelemetry.proto.collector.metrics.v1.MetricsService/Export`.
//! tonic answers an over-size message with OUT_OF_RANGE (not retryable) and an undecodable one
//! with INTERNAL; gzip is accepted. Without one of `collector.auth.ingest_tokens_file`'s
//! tokens in `authorization` metadata (when it is set): UNAUTHENTICATED.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use tonic::codec::CompressionEncoding;

use crate::state::CollectorState;

#[derive(Debug)]
pub struct GrpcReceiver {
    state: Arc<CollectorState>,
}

#[tonic::async_trait]
impl MetricsService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.state.telemetry.grpc_request();
        let authorization = request
            .metadata()
            .get("authorization")
            .map(tonic::metadata::MetadataValue::as_bytes);
        let permit = self.state.auth().ingest(authorization).map_err(|denied| {
            let msg = denied.to_string();
            self.state
                .telemetry
                .request_rejected(crate::telemetry::RequestRejection::Unauthenticated, &msg);
            tonic::Status::unauthenticated(msg)
        })?;
        let _slot = self.state.limiter().admit().map_err(|overload| {
            let msg = overload.to_string();
            self.state
                .telemetry
                .request_rejected(crate::telemetry::RequestRejection::Overloaded, &msg);
            tonic::Status::resource_exhausted(msg)
        })?;
        let outcome = self.state.ingest_as(request.get_ref(), &permit);
        Ok(tonic::Response::new(outcome.response()))
    }
}

/// The tonic service, ready to add to a server.
pub fn service(
    state: Arc<CollectorState>,
    max_request_bytes: usize,
) -> MetricsServiceServer<GrpcReceiver> {
    MetricsServiceServer::new(GrpcReceiver { state })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_request_bytes)
}
