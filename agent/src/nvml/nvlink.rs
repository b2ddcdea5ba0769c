//! NVLink bytes, summed over every link of a GPU.
//!
//! NVML counts NVLink traffic per link in the `NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX/RX`
//! fields (KiB, cumulative since the driver loaded), selected by the field's `scopeId`.
//! `scopeId = UINT_MAX` asks for the sum over all links; a driver that refuses it (an
//! invalid argument rather than "not supported") is read link by link instead, every
//! possible link in the same single call, summing the links that answer. A GPU without
//! NVLink answers "not supported" and is not asked again.

use nvml_wrapper::error::NvmlError as RawNvmlError;
use nvml_wrapper::sys_exports::field_id::{
    NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX, NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX,
};
use nvml_wrapper::Device;

use super::queries::{Lost, Queries};
use super::raw::{field_values, FieldValue};

/// The query name in logs.
const QUERY: &str = "nvlink_throughput";
/// `scopeId` asking for the sum over all links.
const ALL_LINKS: u32 = u32::MAX;
/// The most links NVML knows of (`NVML_NVLINK_MAX_LINKS`).
const MAX_LINKS: u32 = 18;
const KIB: u64 = 1024;

/// How this GPU's NVLink counters are read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) enum LinkScope {
    /// One request per direction with `scopeId = UINT_MAX`.
    #[default]
    AllLinks,
    /// One request per direction and link, summed here.
    EachLink,
}

/// NVLink `(transmitted, received)` bytes of `device`, summed over its links; `None`
/// when the GPU has no NVLink or the counters cannot be read.
pub(super) fn read(
    device: &Device<'_>,
    q: &mut Queries<'_>,
    scope: &mut LinkScope,
) -> Result<Option<(u64, u64)>, Lost> {
    if *scope == LinkScope::AllLinks {
        let requests = [
            (NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX, ALL_LINKS),
            (NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX, ALL_LINKS),
        ];
        let Some(values) = q.get(QUERY, || field_values(device, &requests))? else {
            return Ok(None);
        };
        match pair(&values) {
            Ok(Some((tx, rx))) => return Ok(Some((tx * KIB, rx * KIB))),
            Ok(None) => return Ok(None),
            Err(error @ (RawNvmlError::NotSupported | RawNvmlError::GpuLost)) => {
                q.failed(QUERY, error)?;
                return Ok(None);
            }
            Err(error) => {
                tracing::debug!(
                    gpu = q.index,
                    uuid = q.uuid,
                    %error,
                    "the driver does not sum NVLink counters over links; reading each link"
                );
                *scope = LinkScope::EachLink;
            }
        }
    }
    each_link(device, q)
}

fn each_link(device: &Device<'_>, q: &mut Queries<'_>) -> Result<Option<(u64, u64)>, Lost> {
    let requests: Vec<(u32, u32)> = (0..MAX_LINKS)
        .flat_map(|link| {
            [
                (NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX, link),
                (NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX, link),
            ]
        })
        .collect();
    let Some(values) = q.get(QUERY, || field_values(device, &requests))? else {
        return Ok(None);
    };
    let mut sum: Option<(u64, u64)> = None;
    let mut first_error = None;
    for link in values.chunks_exact(2) {
        match pair(link) {
            Ok(Some((tx, rx))) => {
                let (sum_tx, sum_rx) = sum.get_or_insert((0, 0));
                *sum_tx += tx * KIB;
                *sum_rx += rx * KIB;
            }
            Ok(None) => {}
            Err(RawNvmlError::GpuLost) => return Err(Lost),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    if sum.is_none() {
        // No link answered: as good as no NVLink.
        let error = first_error.unwrap_or(RawNvmlError::NotSupported);
        q.failed(QUERY, error)?;
    }
    Ok(sum)
}

/// A `(transmit, receive)` pair of values; the first error when either failed.
fn pair(values: &[FieldValue]) -> Result<Option<(u64, u64)>, RawNvmlError> {
    match values {
        [tx, rx] => Ok(Some((tx.count()?, rx.count()?))),
        _ => Ok(None),
    }
}
