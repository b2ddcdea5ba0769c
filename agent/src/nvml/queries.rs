//! Turning NVML errors into unset fields, with one log line per GPU and query.

use std::collections::HashSet;

use nvml_wrapper::error::NvmlError as RawNvmlError;

/// The GPU has fallen off the bus (`NVML_ERROR_GPU_IS_LOST`).
#[derive(Debug)]
pub(super) struct Lost;

/// What the sampler has learned about one GPU's queries.
#[derive(Debug, Default)]
pub(super) struct Support {
    /// Queries this GPU or its driver does not support: never asked again.
    unsupported: HashSet<&'static str>,
    /// Queries that failed otherwise: warned about once, asked again every sample.
    warned: HashSet<&'static str>,
}

impl Support {
    /// Asks every query again from the next sample: the GPU changed what it answers.
    pub(super) fn forget_unsupported(&mut self) {
        self.unsupported.clear();
    }
}

/// Runs the queries of one GPU for one sample.
///
/// * `NotSupported`, `FunctionNotFound`: the GPU or its driver lacks the query; one info
///   line, and the query is skipped for this GPU from then on.
/// * A symbol missing from the library (an older driver than the bindings): one info
///   line for the whole library, and the query is skipped for every GPU.
/// * `GpuLost`: `Err(Lost)`, which ends the GPU's sample.
/// * Anything else: the field is left out, warned about once, and asked again next time.
pub(super) struct Queries<'a> {
    pub(super) index: u32,
    pub(super) uuid: &'a str,
    pub(super) gpu: &'a mut Support,
    /// Queries whose function the library lacks, shared by every GPU.
    pub(super) library: &'a mut HashSet<&'static str>,
}

impl Queries<'_> {
    /// Runs `query` unless it is known not to work here; `Ok(None)` when it fails.
    pub(super) fn get<T>(
        &mut self,
        name: &'static str,
        query: impl FnOnce() -> Result<T, RawNvmlError>,
    ) -> Result<Option<T>, Lost> {
        if self.skips(name) {
            return Ok(None);
        }
        match query() {
            Ok(value) => Ok(Some(value)),
            Err(error) => self.failed(name, error).map(|()| None),
        }
    }

    /// Whether `name` is known not to work on this GPU or with this library.
    pub(super) fn skips(&self, name: &'static str) -> bool {
        self.gpu.unsupported.contains(name) || self.library.contains(name)
    }

    /// Records that `name` failed with `error`, logging the first time.
    pub(super) fn failed(&mut self, name: &'static str, error: RawNvmlError) -> Result<(), Lost> {
        let (index, uuid) = (self.index, self.uuid);
        match error {
            RawNvmlError::GpuLost => return Err(Lost),
            RawNvmlError::FailedToLoadSymbol(_) => {
                if self.library.insert(name) {
                    tracing::info!(
                        query = name,
                        %error,
                        "the NVML library lacks this function (a driver older than the agent); \
                         it is left out for every GPU"
                    );
                }
            }
            RawNvmlError::NotSupported | RawNvmlError::FunctionNotFound => {
                if self.gpu.unsupported.insert(name) {
                    tracing::info!(
                        gpu = index,
                        uuid,
                        query = name,
                        %error,
                        "this GPU does not support the query; it is left out from now on"
                    );
                }
            }
            error => {
                if self.gpu.warned.insert(name) {
                    tracing::warn!(
                        gpu = index,
                        uuid,
                        query = name,
                        %error,
                        "NVML query failed; the field is left out"
                    );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_queries_are_not_asked_again_and_lost_ends_the_sample() {
        let (mut gpu, mut library) = (Support::default(), HashSet::new());
        let mut q = Queries {
            index: 0,
            uuid: "GPU-0",
            gpu: &mut gpu,
            library: &mut library,
        };
        assert_eq!(q.get("a", || Ok(1)).ok(), Some(Some(1)));
        let unsupported: Result<u32, _> = Err(RawNvmlError::NotSupported);
        assert_eq!(q.get("a", || unsupported).ok(), Some(None));
        assert_eq!(q.get("a", || Ok(2)).ok(), Some(None), "never asked again");

        let missing: Result<u32, _> = Err(RawNvmlError::FailedToLoadSymbol("x".into()));
        assert_eq!(q.get("b", || missing).ok(), Some(None));
        assert!(q.skips("b"));

        let transient: Result<u32, _> = Err(RawNvmlError::Unknown);
        assert_eq!(q.get("c", || transient).ok(), Some(None));
        assert_eq!(q.get("c", || Ok(3)).ok(), Some(Some(3)), "asked again");

        let lost: Result<u32, _> = Err(RawNvmlError::GpuLost);
        assert!(q.get("d", || lost).is_err());
        assert!(library.contains("b"));
    }
}
