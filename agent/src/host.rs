//! The host around the GPUs, read from `/proc`: CPU time shares (`/proc/stat`), memory
//! (`/proc/meminfo`), whole-disk I/O (`/proc/diskstats`) and network I/O
//! (`/proc/net/dev`). The parsers are pure functions of the files' text.

mod parse;
mod sampler;

pub use parse::{
    parse_diskstats, parse_meminfo, parse_net_dev, parse_stat, CpuTimes, MemInfo, ParseError,
};
pub use sampler::HostSampler;
