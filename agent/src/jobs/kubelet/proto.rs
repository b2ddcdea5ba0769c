//! The messages of kubelet's pod-resources API that the agent reads
//! (`k8s.io/kubelet/pkg/apis/podresources/v1/api.proto`, package `v1`), written by
//! hand; fields the agent does not need (CPU ids, memory, topology, dynamic resources)
//! are left out and skipped when decoding.

/// The gRPC service.
pub const SERVICE: &str = "v1.PodResourcesLister";

/// The path of `List`.
pub const LIST_PATH: &str = "/v1.PodResourcesLister/List";

/// `ListPodResourcesRequest`: no fields.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct ListPodResourcesRequest {}

/// `ListPodResourcesResponse`.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct ListPodResourcesResponse {
    #[prost(message, repeated, tag = "1")]
    pub pod_resources: Vec<PodResources>,
}

/// `PodResources`: one pod and what its containers were given.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct PodResources {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub namespace: String,
    #[prost(message, repeated, tag = "3")]
    pub containers: Vec<ContainerResources>,
}

/// `ContainerResources`.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct ContainerResources {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, repeated, tag = "2")]
    pub devices: Vec<ContainerDevices>,
}

/// `ContainerDevices`: devices of one resource, e.g. `nvidia.com/gpu` with GPU UUIDs.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct ContainerDevices {
    #[prost(string, tag = "1")]
    pub resource_name: String,
    #[prost(string, repeated, tag = "2")]
    pub device_ids: Vec<String>,
}
