//! GPUs read through NVML (`libnvidia-ml.so`), loaded at run time: without a driver the
//! agent says so once and carries on with host metrics.
//!
//! NVML is initialised once; the sampler keeps the handle and asks, per GPU and sample:
//! utilization (general, encoder, decoder), memory, power and its enforced limit, total
//! energy, temperature, SM clock, throttle reasons, volatile ECC totals, PCIe and NVLink
//! throughput, and the running compute processes. XID errors arrive through an NVML
//! event set on a thread of their own (`xid`).
//!
//! Counters and where they come from:
//!
//! * energy, ECC and NVLink bytes are the driver's own totals (since the driver loaded),
//!   so the first sample already carries them;
//! * NVLink bytes are the `NVLINK_THROUGHPUT_DATA` fields summed over every link (NVML
//!   counts KiB), read in one `nvmlDeviceGetFieldValues` call with `scopeId = UINT_MAX`,
//!   or link by link on drivers that refuse that scope (`nvlink`);
//! * NVML has no PCIe byte counter, only a throughput in KB/s sampled over 20 ms, so
//!   PCIe bytes are that rate integrated over the time between samples: an estimate,
//!   cumulative since the sampler started, 0 on the first sample (`counter`);
//! * XID counts are per code since the sampler started (code 999 when NVML cannot name
//!   it).
//!
//! A GPU in MIG mode is reported with each of its MIG instances as a device of its own
//! (`mig`).
//!
//! Failures stay per GPU and per query (`queries`): a query the GPU or driver does not
//! support is logged once and never asked again; other failures leave the field unset
//! and are warned about once. A GPU that falls off the bus is logged once as an error,
//! never queried again, and reported only by its identity and XID counts (XID 79 is how
//! NVML announces it).

mod counter;
mod device;
mod mig;
mod nvlink;
mod queries;
mod raw;
mod sampler;
mod xid;

pub use device::throttle_reasons;
pub use sampler::{NvmlError, NvmlSampler, DEFAULT_LIBRARIES};
