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
}
