//! XID errors: an NVML event set with every GPU that supports it registered for
//! critical XID errors, waited on by a thread of its own; the sampler reads the counts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nvml_wrapper::bitmasks::event::EventTypes;
use nvml_wrapper::enums::event::XidError;
use nvml_wrapper::error::NvmlError as RawNvmlError;
use nvml_wrapper::struct_wrappers::event::EventData;
use nvml_wrapper::{EventSet, Nvml};

use super::raw::handle_id;

/// How long one wait blocks: how late the thread notices that the sampler is gone.
const WAIT_MS: u32 = 1000;
/// The pause after a failed wait, so a broken event set does not spin.
const RETRY: Duration = Duration::from_secs(1);
/// The code counted when NVML reports an XID it cannot name (`XidError::Unknown`).
const UNKNOWN_XID: u32 = 999;

type Counts = HashMap<String, BTreeMap<u32, u64>>;

/// XID counts per GPU UUID and code, kept by the event thread; the thread stops within
/// a second of this being dropped.
#[derive(Debug)]
pub(super) struct XidWatch {
    counts: Arc<Mutex<Counts>>,
    stop: Arc<AtomicBool>,
}

impl XidWatch {
    /// Starts the event thread; it logs and ends when no GPU can deliver XID events.
    pub(super) fn start(nvml: Arc<Nvml>) -> XidWatch {
        let counts = Arc::new(Mutex::new(Counts::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        let spawned = std::thread::Builder::new()
            .name("gpuwatch-nvml-xid".to_string())
            .spawn({
                let (counts, stop) = (counts.clone(), stop.clone());
                move || {
                    let _log = tracing::dispatcher::set_default(&dispatch);
                    watch(&nvml, &counts, &stop);
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "could not start the XID event thread; XID errors are not counted");
        }
        XidWatch { counts, stop }
    }

    /// The XID counts of the GPU with `uuid`, by code.
    pub(super) fn counts(&self, uuid: &str) -> BTreeMap<u32, u64> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(uuid).cloned().unwrap_or_default()
    }
}

impl Drop for XidWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn watch(nvml: &Nvml, counts: &Mutex<Counts>, stop: &AtomicBool) {
    let Some((set, gpus)) = register(nvml) else {
        return;
    };
    tracing::debug!(gpus = gpus.len(), "waiting for XID events");
    let mut warned = HashSet::new();
    while !stop.load(Ordering::Relaxed) {
        match set.wait(WAIT_MS) {
            Ok(event) => record(&event, &gpus, counts),
            Err(RawNvmlError::Timeout) => {}
            Err(
                error @ (RawNvmlError::Uninitialized
                | RawNvmlError::FailedToLoadSymbol(_)
                | RawNvmlError::NotSupported),
            ) => {
                tracing::warn!(%error, "waiting for XID events failed; XID errors are no longer counted");
                return;
            }
            Err(error) => {
                // A lost GPU, an interrupted wait: the sampler reports the GPUs.
                if warned.insert(error.to_string()) {
                    tracing::debug!(%error, "waiting for XID events failed; retrying");
                }
                std::thread::sleep(RETRY);
            }
        }
    }
}

/// An event set with every GPU that accepts XID events, and the `(handle, UUID)` of each.
fn register(nvml: &Nvml) -> Option<(EventSet<'_>, Vec<(usize, String)>)> {
    let count = match nvml.device_count() {
        Ok(count) => count,
        Err(error) => {
            tracing::warn!(%error, "could not count GPUs; XID errors are not counted");
            return None;
        }
    };
    // A failed registration frees the set, so each refusal starts over without that GPU.
    let mut refused = HashSet::new();
    'attempt: loop {
        let mut set = match nvml.create_event_set() {
            Ok(set) => set,
            Err(error) => {
                tracing::warn!(%error, "could not create an NVML event set; XID errors are not counted");
                return None;
            }
        };
        let mut gpus = Vec::new();
        for index in 0..count {
            if refused.contains(&index) {
                continue;
            }
            let Ok(device) = nvml.device_by_index(index) else {
                refused.insert(index);
                continue;
            };
            let Ok(uuid) = device.uuid() else {
                refused.insert(index);
                continue;
            };
            match device.register_events(EventTypes::CRITICAL_XID_ERROR, set) {
                Ok(registered) => {
                    set = registered;
                    gpus.push((handle_id(&device), uuid));
                }
                Err(error) => {
                    tracing::info!(
                        gpu = index,
                        uuid,
                        error = %error.error,
                        "this GPU does not deliver XID events; its XID errors are not counted"
                    );
                    refused.insert(index);
                    continue 'attempt;
                }
            }
        }
        if gpus.is_empty() {
            tracing::info!("no GPU delivers XID events; XID errors are not counted");
            return None;
        }
        return Some((set, gpus));
    }
}

fn record(event: &EventData<'_>, gpus: &[(usize, String)], counts: &Mutex<Counts>) {
    let Some(xid) = &event.event_data else {
        return;
    };
    let code = match xid {
        XidError::Value(code) => u32::try_from(*code).unwrap_or(UNKNOWN_XID),
        XidError::Unknown => UNKNOWN_XID,
    };
    let handle = handle_id(&event.device);
    let uuid = gpus
        .iter()
        .find(|(h, _)| *h == handle)
        .map(|(_, uuid)| uuid.clone())
        .or_else(|| event.device.uuid().ok());
    let Some(uuid) = uuid else {
        tracing::warn!(xid = code, "XID error on a GPU the agent cannot identify");
        return;
    };
    tracing::warn!(uuid, xid = code, "XID error");
    let mut counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
    *counts.entry(uuid).or_default().entry(code).or_insert(0) += 1;
}
