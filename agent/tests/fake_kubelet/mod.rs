//! A fake kubelet: the pod-resources gRPC service (`v1.PodResourcesLister/List`) served
//! by a real tonic server on a unix socket, answering with the pods the test sets.

#![allow(dead_code)]

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use gpuwatch_agent::jobs::kubelet::proto::{
    ContainerDevices, ContainerResources, ListPodResourcesRequest, ListPodResourcesResponse,
    PodResources, LIST_PATH, SERVICE,
};
use tonic::body::Body;
use tonic::codegen::tokio_stream::wrappers::UnixListenerStream;
use tonic::codegen::{http, BoxFuture, Context, Poll, Service};
use tonic::server::NamedService;

/// The service; clones share the pods and the call count.
#[derive(Clone, Default)]
pub struct PodResourcesLister {
    pods: Arc<Mutex<Vec<PodResources>>>,
    calls: Arc<AtomicUsize>,
}

impl NamedService for PodResourcesLister {
    const NAME: &'static str = SERVICE;
}

/// `List` as a unary service.
struct List(Vec<PodResources>);

impl tonic::server::UnaryService<ListPodResourcesRequest> for List {
    type Response = ListPodResourcesResponse;
    type Future = BoxFuture<tonic::Response<ListPodResourcesResponse>, tonic::Status>;

    fn call(&mut self, _: tonic::Request<ListPodResourcesRequest>) -> Self::Future {
        let pod_resources = self.0.clone();
        Box::pin(async move {
            Ok(tonic::Response::new(ListPodResourcesResponse {
                pod_resources,
            }))
        })
    }
}

impl Service<http::Request<Body>> for PodResourcesLister {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let pods = self.pods.lock().expect("pods").clone();
        let calls = self.calls.clone();
        Box::pin(async move {
            if request.uri().path() != LIST_PATH {
                return Ok(
                    tonic::Status::unimplemented(request.uri().path().to_string()).into_http(),
                );
            }
            calls.fetch_add(1, Ordering::SeqCst);
            let codec =
                tonic_prost::ProstCodec::<ListPodResourcesResponse, ListPodResourcesRequest>::default();
            let mut grpc = tonic::server::Grpc::new(codec);
            Ok(grpc.unary(List(pods), request).await)
        })
    }
}

/// A running fake kubelet; stops when dropped.
pub struct FakeKubelet {
    pub socket: PathBuf,
    service: PodResourcesLister,
    task: tokio::task::JoinHandle<()>,
}

impl FakeKubelet {
    /// Serves `pods` on a fresh socket at `socket`.
    pub fn start(socket: &Path, pods: Vec<PodResources>) -> FakeKubelet {
        let _ = std::fs::remove_file(socket);
        let listener = tokio::net::UnixListener::bind(socket).expect("bind the kubelet socket");
        let service = PodResourcesLister::default();
        *service.pods.lock().expect("pods") = pods;
        let server = tonic::transport::Server::builder()
            .add_service(service.clone())
            .serve_with_incoming(UnixListenerStream::new(listener));
        let task = tokio::spawn(async move {
            server.await.expect("the fake kubelet serves");
        });
        FakeKubelet {
            socket: socket.to_path_buf(),
            service,
            task,
        }
    }

    pub fn set_pods(&self, pods: Vec<PodResources>) {
        *self.service.pods.lock().expect("pods") = pods;
    }

    /// How many `List` calls it has answered.
    pub fn calls(&self) -> usize {
        self.service.calls.load(Ordering::SeqCst)
    }
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// A pod with one container holding `devices` of `nvidia.com/gpu`.
pub fn pod(namespace: &str, name: &str, devices: &[&str]) -> PodResources {
    PodResources {
        name: name.to_string(),
        namespace: namespace.to_string(),
        containers: vec![ContainerResources {
            name: "main".to_string(),
            devices: vec![ContainerDevices {
                resource_name: "nvidia.com/gpu".to_string(),
                device_ids: devices.iter().map(|d| d.to_string()).collect(),
            }],
        }],
    }
}
