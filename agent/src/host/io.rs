//! `HostIoSampler`: the fabric ports (`fabric`) and network file systems (`netfs`) of
//! the machine the agent runs on, read beside the host sample every interval.
//!
//! They are not part of the model's `NodeSample`: the agent loop reads them itself
//! when its sampler reads this machine (`Sampler::reads_host`), and the exporter adds
//! their metrics to the sample's request (`OtlpExporter::encode_with`). Reading them
//! never fails: what cannot be read is left out (see each module).

use std::path::Path;

use super::fabric::FabricReader;
use super::netfs::NetfsReader;
pub use crate::readings::HostIo;

/// Reads [`HostIo`] from `sys_root` (normally `/sys`) and `proc_root` (`/proc`).
#[derive(Debug)]
pub struct HostIoSampler {
    fabric: FabricReader,
    netfs: NetfsReader,
}

impl HostIoSampler {
    pub fn new(sys_root: &Path, proc_root: &Path) -> HostIoSampler {
        HostIoSampler {
            fabric: FabricReader::new(sys_root),
            netfs: NetfsReader::new(proc_root, sys_root),
        }
    }

    pub fn sample(&mut self) -> HostIo {
        HostIo {
            fabric: self.fabric.read(),
            filesystems: self.netfs.read(),
        }
    }
}
