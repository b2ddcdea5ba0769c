//! Metric and attribute names of `CONTRACT.md`, exactly as they go on the wire.

/// Metric names (instrument, unit) from CONTRACT.md "OTLP metrics the agent emits".
pub mod metric {
    /// gauge, 1 (0..1), attribute `hw.gpu.task`.
    pub const GPU_UTILIZATION: &str = "hw.gpu.utilization";
    /// gauge, By.
    pub const GPU_MEMORY_USAGE: &str = "hw.gpu.memory.usage";
    /// gauge, By.
    pub const GPU_MEMORY_LIMIT: &str = "hw.gpu.memory.limit";
    /// counter, By, attributes `network.io.direction`, `gpuwatch.link`.
    pub const GPU_IO: &str = "hw.gpu.io";
    /// gauge, W.
    pub const POWER: &str = "hw.power";
    /// counter, J.
    pub const ENERGY: &str = "hw.energy";
    /// counter, {error}, attribute `error.type`.
    pub const ERRORS: &str = "hw.errors";
    /// gauge, W: the enforced power limit (added to the contract with `top`'s power column).
    pub const GPU_POWER_LIMIT: &str = "gpuwatch.gpu.power.limit";
    /// gauge, Cel.
    pub const GPU_TEMPERATURE: &str = "gpuwatch.gpu.temperature";
    /// gauge, Hz.
    pub const GPU_CLOCK_SM: &str = "gpuwatch.gpu.clock.sm";
    /// gauge, 1 (0/1), attribute `gpuwatch.throttle.reason`.
    pub const GPU_THROTTLE: &str = "gpuwatch.gpu.throttle";
    /// counter, {event}, attribute `gpuwatch.xid.code`.
    pub const GPU_XID: &str = "gpuwatch.gpu.xid";
    /// gauge, By, attributes `process.pid`, `process.executable.name`.
    pub const GPU_PROCESS_MEMORY: &str = "gpuwatch.gpu.process.memory.usage";
    /// gauge, 1, attribute `cpu.mode`.
    pub const CPU_UTILIZATION: &str = "system.cpu.utilization";
    /// gauge, By, attribute `system.memory.state`.
    pub const MEMORY_USAGE: &str = "system.memory.usage";
    /// counter, By, attributes `system.device`, `disk.io.direction`.
    pub const DISK_IO: &str = "system.disk.io";
    /// counter, s, attribute `system.device`.
    pub const DISK_IO_TIME: &str = "system.disk.io_time";
    /// counter, By, attributes `network.interface.name`, `network.io.direction`.
    pub const NETWORK_IO: &str = "system.network.io";
    /// histogram, s, attribute `gen_ai.request.model`.
    pub const GENAI_REQUEST_DURATION: &str = "gen_ai.server.request.duration";
    /// histogram, s, attribute `gen_ai.request.model`.
    pub const GENAI_TIME_TO_FIRST_TOKEN: &str = "gen_ai.server.time_to_first_token";
    /// histogram, s, attribute `gen_ai.request.model`.
    pub const GENAI_TIME_PER_OUTPUT_TOKEN: &str = "gen_ai.server.time_per_output_token";
    /// histogram, s, attribute `gpuwatch.model`.
    pub const INFERENCE_DURATION: &str = "gpuwatch.inference.duration";
    /// histogram, 1, attributes `gpuwatch.model`, optional `gpuwatch.model.version`.
    pub const MODEL_PREDICTION: &str = "gpuwatch.model.prediction";
    /// histogram, 1, attributes `gpuwatch.model`, `gpuwatch.feature`.
    pub const MODEL_FEATURE: &str = "gpuwatch.model.feature";
    /// counter, {step}.
    pub const TRAIN_STEP: &str = "gpuwatch.train.step";
    /// gauge, s, attributes `gpuwatch.model`, `gpuwatch.inference.phase`: a Triton
    /// model's mean latency over the last scrape interval (added with the agent's
    /// inference scraping).
    pub const INFERENCE_LATENCY_MEAN: &str = "gpuwatch.inference.latency.mean";

    // Fabric ports (InfiniBand, RoCE) and network file systems (NFS, Lustre), added with
    // the agent's sysfs and mountstats sampling. Port points carry `hw.id`
    // (`<device>:<port>`), `hw.type` = `network`, `gpuwatch.fabric.link_layer` and,
    // where the port has one, `network.interface.name`.

    /// counter, By, attribute `network.io.direction`: bytes through a fabric port.
    pub const HW_NETWORK_IO: &str = "hw.network.io";
    /// counter, {packet}, attribute `network.io.direction`.
    pub const HW_NETWORK_PACKETS: &str = "hw.network.packets";
    /// gauge, By/s: the port's link rate.
    pub const HW_NETWORK_BANDWIDTH_LIMIT: &str = "hw.network.bandwidth.limit";
    /// gauge, 1 (0/1): state ACTIVE and physical state LinkUp.
    pub const HW_NETWORK_UP: &str = "hw.network.up";
    /// counter, {packet}, attribute `gpuwatch.fabric.counter` (`np_cnp_sent`,
    /// `rp_cnp_handled`): RoCE congestion notification packets. A port's error
    /// counters are `hw.errors` with `error.type` = the counter's file name.
    pub const FABRIC_CONGESTION: &str = "gpuwatch.fabric.congestion";
    /// counter, By, attributes `system.device`, `system.filesystem.mountpoint`,
    /// `system.filesystem.type`, `disk.io.direction`: bytes applications read from and
    /// wrote to a network file system.
    pub const FILESYSTEM_IO: &str = "gpuwatch.filesystem.io";
    /// counter, {operation}, the file system attributes and `rpc.method`.
    pub const NFS_RPC_OPERATIONS: &str = "gpuwatch.nfs.rpc.operations";
    /// counter, {retransmission}, the file system attributes and `rpc.method`.
    pub const NFS_RPC_RETRANSMISSIONS: &str = "gpuwatch.nfs.rpc.retransmissions";
    /// counter, s, the file system attributes and `rpc.method`: round-trip time summed.
    pub const NFS_RPC_RTT: &str = "gpuwatch.nfs.rpc.rtt";
    /// counter, s, the file system attributes and `rpc.method`: time queued before
    /// sending, summed.
    pub const NFS_RPC_QUEUE_TIME: &str = "gpuwatch.nfs.rpc.queue_time";
    /// counter, {request}, the file system attributes: requests the mount's RPC
    /// transports sent.
    pub const NFS_RPC_SENDS: &str = "gpuwatch.nfs.rpc.sends";
    /// counter, {request}, the file system attributes: the backlog queue's length
    /// summed at each send; over `gpuwatch.nfs.rpc.sends` it is the mean backlog.
    pub const NFS_RPC_BACKLOG: &str = "gpuwatch.nfs.rpc.backlog";
}

/// Attribute keys (resource and data point).
pub mod attr {
    pub const HOST_NAME: &str = "host.name";
    pub const SERVICE_NAME: &str = "service.name";
    pub const SERVICE_INSTANCE_ID: &str = "service.instance.id";
    pub const SERVICE_VERSION: &str = "service.version";
    pub const CLUSTER: &str = "gpuwatch.cluster";
    pub const K8S_NODE_NAME: &str = "k8s.node.name";

    pub const HW_ID: &str = "hw.id";
    pub const HW_NAME: &str = "hw.name";
    pub const HW_MODEL: &str = "hw.model";
    pub const HW_VENDOR: &str = "hw.vendor";
    /// `hw.id` of the enclosing component: a MIG instance's parent GPU.
    pub const HW_PARENT: &str = "hw.parent";
    /// A MIG instance's profile, `1g.10gb` ... `7g.80gb`.
    pub const GPU_MIG_PROFILE: &str = "hw.gpu.mig.profile";
    pub const JOB_ID: &str = "gpuwatch.job.id";
    pub const TEAM: &str = "gpuwatch.team";
    pub const K8S_NAMESPACE: &str = "k8s.namespace.name";
    pub const K8S_POD: &str = "k8s.pod.name";
    pub const K8S_POD_UID: &str = "k8s.pod.uid";

    pub const GPU_TASK: &str = "hw.gpu.task";
    pub const IO_DIRECTION: &str = "network.io.direction";
    pub const LINK: &str = "gpuwatch.link";
    pub const ERROR_TYPE: &str = "error.type";
    pub const THROTTLE_REASON: &str = "gpuwatch.throttle.reason";
    pub const XID_CODE: &str = "gpuwatch.xid.code";
    pub const PROCESS_PID: &str = "process.pid";
    pub const PROCESS_EXECUTABLE: &str = "process.executable.name";
    pub const CPU_MODE: &str = "cpu.mode";
    pub const MEMORY_STATE: &str = "system.memory.state";
    pub const DEVICE: &str = "system.device";
    pub const DISK_DIRECTION: &str = "disk.io.direction";
    pub const INTERFACE: &str = "network.interface.name";
    pub const GENAI_MODEL: &str = "gen_ai.request.model";
    pub const MODEL: &str = "gpuwatch.model";
    pub const MODEL_VERSION: &str = "gpuwatch.model.version";
    pub const FEATURE: &str = "gpuwatch.feature";
    /// `request`, `queue`, `compute_input`, `compute_infer`, `compute_output`.
    pub const INFERENCE_PHASE: &str = "gpuwatch.inference.phase";
    pub const BOTTLENECK: &str = "gpuwatch.bottleneck";
    /// `network` on fabric ports.
    pub const HW_TYPE: &str = "hw.type";
    /// `InfiniBand` or `Ethernet` (RoCE).
    pub const FABRIC_LINK_LAYER: &str = "gpuwatch.fabric.link_layer";
    /// The sysfs file a fabric congestion counter comes from.
    pub const FABRIC_COUNTER: &str = "gpuwatch.fabric.counter";
    pub const FILESYSTEM_MOUNTPOINT: &str = "system.filesystem.mountpoint";
    /// `nfs`, `nfs4`, `lustre`.
    pub const FILESYSTEM_TYPE: &str = "system.filesystem.type";
    /// An NFS operation: `READ`, `WRITE`, `GETATTR`, ...
    pub const RPC_METHOD: &str = "rpc.method";
}

/// Fixed attribute values.
pub mod value {
    pub const SERVICE_AGENT: &str = "gpuwatch-agent";
    pub const VENDOR_NVIDIA: &str = "nvidia";
    pub const TASK_GENERAL: &str = "general";
    pub const TASK_ENCODER: &str = "encoder";
    pub const TASK_DECODER: &str = "decoder";
    pub const TRANSMIT: &str = "transmit";
    pub const RECEIVE: &str = "receive";
    pub const LINK_NVLINK: &str = "nvlink";
    pub const LINK_PCIE: &str = "pcie";
    pub const ECC_CORRECTED: &str = "corrected";
    pub const ECC_UNCORRECTED: &str = "uncorrected";
    pub const READ: &str = "read";
    pub const WRITE: &str = "write";
    pub const CPU_USER: &str = "user";
    pub const CPU_SYSTEM: &str = "system";
    pub const CPU_IOWAIT: &str = "iowait";
    pub const CPU_IDLE: &str = "idle";
    pub const CPU_STEAL: &str = "steal";
    pub const MEM_USED: &str = "used";
    pub const MEM_FREE: &str = "free";
    pub const MEM_CACHED: &str = "cached";
    pub const HW_TYPE_NETWORK: &str = "network";
}

/// Units, as UCUM strings on the wire.
pub mod unit {
    pub const RATIO: &str = "1";
    pub const BYTES: &str = "By";
    pub const WATTS: &str = "W";
    pub const JOULES: &str = "J";
    pub const CELSIUS: &str = "Cel";
    pub const HERTZ: &str = "Hz";
    pub const SECONDS: &str = "s";
    pub const ERRORS: &str = "{error}";
    pub const EVENTS: &str = "{event}";
    pub const BYTES_PER_SECOND: &str = "By/s";
    pub const PACKETS: &str = "{packet}";
    pub const OPERATIONS: &str = "{operation}";
    pub const RETRANSMISSIONS: &str = "{retransmission}";
    pub const REQUESTS: &str = "{request}";
}
