//! The host around the GPUs, read from `/proc`: CPU time shares (`/proc/stat`), memory
//! (`/proc/meminfo`), whole-disk I/O (`/proc/diskstats`) and network I/O
//! (`/proc/net/dev`). The parsers are pure functions of the files' text.
//!
//! Beside it, from `/sys` and `/proc` (`agent.sys_root`, `agent.proc_root`): InfiniBand
//! and RoCE ports (`fabric`) and NFS and Lustre mounts (`netfs`), read by
//! `HostIoSampler` (`io`).

pub mod fabric;
mod files;
mod io;
pub mod netfs;
mod parse;
mod sampler;

pub use io::{HostIo, HostIoSampler};
pub use parse::{
    parse_diskstats, parse_meminfo, parse_net_dev, parse_stat, CpuTimes, MemInfo, ParseError,
};
pub use sampler::HostSampler;
