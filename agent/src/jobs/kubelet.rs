//! Kubernetes pod names from kubelet's pod-resources API (`v1.PodResourcesLister/List`
//! on a unix socket, by default `/var/lib/kubelet/pod-resources/kubelet.sock`): which
//! pod each device (a GPU UUID, as the NVIDIA device plugin names GPUs) is assigned to.
//!
//! A task asks every [`REFRESH`] and keeps the answer in a [`PodDirectory`] that the
//! sampler reads. No socket means no Kubernetes on this node: one debug line, and the
//! directory stays empty. A failing call is warned about once (until it works again) and
//! the last answer is kept.

pub mod proto;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Endpoint;

use proto::{ListPodResourcesRequest, ListPodResourcesResponse, PodResources};

/// How often the task asks kubelet.
pub const REFRESH: Duration = Duration::from_secs(10);

/// How long one call may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A pod, as `k8s.namespace.name` and `k8s.pod.name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
}

/// The pods kubelet has assigned each device to, shared between the task that asks
/// kubelet and the sampler. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct PodDirectory(Arc<RwLock<HashMap<String, Vec<PodRef>>>>);

impl PodDirectory {
    pub fn new() -> PodDirectory {
        PodDirectory::default()
    }

    /// The pods assigned `device` (a GPU UUID), sorted; several when the GPU is shared.
    pub fn pods_on(&self, device: &str) -> Vec<PodRef> {
        match self.0.read() {
            Ok(map) => map.get(device).cloned().unwrap_or_default(),
            Err(poisoned) => poisoned.get_ref().get(device).cloned().unwrap_or_default(),
        }
    }

    /// Replaces what is known with `pods`. Device ids are indexed as given and, for a
    /// shared GPU's replicas (`GPU-...::2`), without the replica suffix.
    pub fn set(&self, pods: &[PodResources]) {
        let mut map: HashMap<String, Vec<PodRef>> = HashMap::new();
        for pod in pods {
            let pod_ref = PodRef {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
            };
            let ids = pod
                .containers
                .iter()
                .flat_map(|c| &c.devices)
                .flat_map(|d| &d.device_ids);
            for id in ids {
                let device = id.split_once("::").map_or(id.as_str(), |(uuid, _)| uuid);
                let entry = map.entry(device.to_string()).or_default();
                if !entry.contains(&pod_ref) {
                    entry.push(pod_ref.clone());
                    entry.sort();
                }
            }
        }
        match self.0.write() {
            Ok(mut guard) => *guard = map,
            Err(poisoned) => *poisoned.into_inner() = map,
        }
    }
}

/// Why kubelet could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    #[error("could not connect to the kubelet pod-resources socket {path}: {source}")]
    Connect {
        path: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("kubelet pod-resources List failed: {0}")]
    Call(#[from] tonic::Status),
}

/// Asks kubelet at `socket` for every pod's resources, once.
pub async fn list(socket: &Path) -> Result<Vec<PodResources>, KubeletError> {
    let path = socket.display().to_string();
    let connect_error = |source| KubeletError::Connect {
        path: path.clone(),
        source,
    };
    let channel = Endpoint::from_shared(format!("unix://{path}"))
        .map_err(connect_error)?
        .connect_timeout(TIMEOUT)
        .timeout(TIMEOUT)
        .connect()
        .await
        .map_err(connect_error)?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(connect_error)?;
    let codec =
        tonic_prost::ProstCodec::<ListPodResourcesRequest, ListPodResourcesResponse>::default();
    let response = grpc
        .unary(
            tonic::Request::new(ListPodResourcesRequest {}),
            PathAndQuery::from_static(proto::LIST_PATH),
            codec,
        )
        .await?;
    Ok(response.into_inner().pod_resources)
}

/// Starts the task that keeps `directory` up to date from kubelet at `socket`, every
/// `every`. It runs until aborted.
pub fn spawn(
    socket: PathBuf,
    every: Duration,
    directory: PodDirectory,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut said_missing = false;
        let mut failing = false;
        loop {
            ticker.tick().await;
            if !socket.exists() {
                if !said_missing {
                    said_missing = true;
                    tracing::debug!(
                        socket = %socket.display(),
                        "no kubelet pod-resources socket; Kubernetes pod names are off"
                    );
                }
                directory.set(&[]);
                continue;
            }
            said_missing = false;
            match list(&socket).await {
                Ok(pods) => {
                    if failing {
                        tracing::info!("kubelet pod-resources answers again");
                    }
                    failing = false;
                    directory.set(&pods);
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(
                            %error,
                            "kubelet pod-resources: pod names may be stale until it answers"
                        );
                    }
                    failing = true;
                }
            }
        }
    })
}
