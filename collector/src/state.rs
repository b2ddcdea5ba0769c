//! What the receivers, the API and the binary share.

use std::sync::{Mutex, MutexGuard};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

use crate::ingest::{ingest, ingest_parsed, parse_protobuf, IngestOutcome, WireError};
use crate::store::{Store, StoreSettings};
use crate::telemetry::Telemetry;

#[derive(Debug)]
pub struct CollectorState {
    store: Mutex<Store>,
    pub telemetry: Telemetry,
}

impl CollectorState {
    pub fn new(store: StoreSettings) -> Self {
        CollectorState {
            store: Mutex::new(Store::new(store)),
            telemetry: Telemetry::default(),
        }
    }

    /// The store, for reading or writing. A panic while it was held does not make it
    /// unusable: the store's invariants hold between single inserts.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads OTLP/protobuf bytes (outside the store's lock) and stores them.
    pub fn ingest_protobuf(&self, body: &[u8]) -> Result<IngestOutcome, WireError> {
        let parsed = parse_protobuf(body)?;
        Ok(ingest_parsed(&mut self.store(), &parsed))
    }

    /// Stores a decoded request.
    pub fn ingest(&self, request: &ExportMetricsServiceRequest) -> IngestOutcome {
        ingest(&mut self.store(), request)
    }
}
