//! A source in the same process: functions the binary wires to the collector's store
//! (`gpuwatch up`, `demo`). Views without a function answer "not served".

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use gpuwatch_model::api::{
    AlertsResponse, CostRow, GpuDetailResponse, GpusResponse, InferenceResponse, NodesResponse,
};

use super::{CostBreakdown, GpuRef, Source, SourceError};

/// The function that produces the alerts of an [`FnSource`].
pub type AlertsFn = Arc<dyn Fn() -> AlertsResponse + Send + Sync>;

/// The function that produces the burn of an [`FnSource`].
pub type BurnFn = Arc<dyn Fn() -> Option<CostRow> + Send + Sync>;

/// A function that produces one view of an [`FnSource`]: the nodes, the models, the
/// cost.
pub type ViewFn<T> = Arc<dyn Fn() -> T + Send + Sync>;

/// The function that produces one GPU's detail for an [`FnSource`].
pub type DetailFn = Arc<dyn Fn(&GpuRef) -> Option<GpuDetailResponse> + Send + Sync>;

/// A function in the same process that produces the view, e.g. a read of the
/// collector's store that the binary wires in, and optionally one for the alerts
/// ([`FnSource::with_alerts`]). They are called on a tokio worker; keep them quick (a
/// snapshot under a lock), they do not block the keyboard either way.
#[derive(Clone)]
pub struct FnSource {
    description: String,
    produce: Arc<dyn Fn() -> GpusResponse + Send + Sync>,
    alerts: Option<AlertsFn>,
    burn: Option<BurnFn>,
    nodes: Option<ViewFn<NodesResponse>>,
    inference: Option<ViewFn<InferenceResponse>>,
    cost: Option<ViewFn<CostBreakdown>>,
    detail: Option<DetailFn>,
}

impl FnSource {
    pub fn new(
        description: impl Into<String>,
        produce: Arc<dyn Fn() -> GpusResponse + Send + Sync>,
    ) -> Self {
        FnSource {
            description: description.into(),
            produce,
            alerts: None,
            burn: None,
            nodes: None,
            inference: None,
            cost: None,
            detail: None,
        }
    }

    /// Answers [`Source::fetch_nodes`] with `nodes` (as `GET /api/v1/nodes` would).
    pub fn with_nodes(self, nodes: ViewFn<NodesResponse>) -> Self {
        FnSource {
            nodes: Some(nodes),
            ..self
        }
    }

    /// Answers [`Source::fetch_inference`] with `inference`.
    pub fn with_inference(self, inference: ViewFn<InferenceResponse>) -> Self {
        FnSource {
            inference: Some(inference),
            ..self
        }
    }

    /// Answers [`Source::fetch_cost`] with `cost`.
    pub fn with_cost(self, cost: ViewFn<CostBreakdown>) -> Self {
        FnSource {
            cost: Some(cost),
            ..self
        }
    }

    /// Answers [`Source::fetch_detail`] with `detail`; `None` from it reads as an
    /// unknown GPU.
    pub fn with_detail(self, detail: DetailFn) -> Self {
        FnSource {
            detail: Some(detail),
            ..self
        }
    }

    /// Answers [`Source::fetch_burn`] with `burn`: the cluster's spend rate now.
    pub fn with_burn(self, burn: BurnFn) -> Self {
        FnSource {
            burn: Some(burn),
            ..self
        }
    }

    /// Answers [`Source::fetch_alerts`] with `alerts`: firing, pending and recently
    /// resolved ones, as `GET /api/v1/alerts?state=all` would. Without it the source
    /// has no alerts.
    pub fn with_alerts(self, alerts: Arc<dyn Fn() -> AlertsResponse + Send + Sync>) -> Self {
        FnSource {
            alerts: Some(alerts),
            ..self
        }
    }
}

impl fmt::Debug for FnSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnSource")
            .field("description", &self.description)
            .field("alerts", &self.alerts.is_some())
            .field("nodes", &self.nodes.is_some())
            .finish_non_exhaustive()
    }
}

impl Source for FnSource {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn fetch(&self) -> BoxFuture<'_, Result<GpusResponse, SourceError>> {
        Box::pin(async move { Ok((self.produce)()) })
    }

    fn fetch_alerts(&self) -> BoxFuture<'_, Result<AlertsResponse, SourceError>> {
        Box::pin(async move { Ok(self.alerts.as_ref().map(|f| f()).unwrap_or_default()) })
    }

    fn fetch_burn(&self) -> BoxFuture<'_, Result<Option<CostRow>, SourceError>> {
        Box::pin(async move { Ok(self.burn.as_ref().and_then(|f| f())) })
    }

    fn fetch_nodes(&self) -> BoxFuture<'_, Result<NodesResponse, SourceError>> {
        Box::pin(async move { call(self.nodes.as_ref(), "nodes") })
    }

    fn fetch_inference(&self) -> BoxFuture<'_, Result<InferenceResponse, SourceError>> {
        Box::pin(async move { call(self.inference.as_ref(), "inference") })
    }

    fn fetch_cost(&self) -> BoxFuture<'_, Result<CostBreakdown, SourceError>> {
        Box::pin(async move { call(self.cost.as_ref(), "cost") })
    }

    fn fetch_detail(&self, gpu: GpuRef) -> BoxFuture<'_, Result<GpuDetailResponse, SourceError>> {
        Box::pin(async move {
            match &self.detail {
                None => Err(SourceError::Unsupported("GPU details")),
                Some(f) => f(&gpu).ok_or(SourceError::Status(404)),
            }
        })
    }
}

/// `f()`, or why there is none.
fn call<T>(f: Option<&ViewFn<T>>, what: &'static str) -> Result<T, SourceError> {
    f.map(|f| f()).ok_or(SourceError::Unsupported(what))
}
