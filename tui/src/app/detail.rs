//! The detail view of one GPU, over the tab: Enter on a GPU's row opens it, Esc (or
//! Enter, or Backspace) closes it, ↑ ↓ step to the GPU above or below in the table.
//! Its charts and processes are fetched while it is open; its newest values and its
//! alerts come from the fetches every view shares.

use gpuwatch_model::api::{GpuDetailResponse, GpuView};
use gpuwatch_model::names::attr;
use gpuwatch_model::Alert;

use super::{App, Fetched, Key, RowRef};
use crate::source::GpuRef;

/// The open detail view.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Detail {
    pub(crate) gpu: GpuRef,
    pub(crate) data: Fetched<GpuDetailResponse>,
}

impl Detail {
    fn new(gpu: &GpuView) -> Self {
        Detail {
            gpu: GpuRef {
                node: gpu.node.clone(),
                id: gpu.id.clone(),
            },
            data: Fetched::default(),
        }
    }
}

/// Whether `alert` is about `gpu`: names it, or names its node without naming a GPU,
/// or names its job without naming a node.
pub(crate) fn touches(alert: &Alert, gpu: &GpuView) -> bool {
    let label = |k: &str| alert.labels.get(k).map(String::as_str);
    match (
        label(attr::HW_ID),
        label(attr::HOST_NAME),
        label(attr::JOB_ID),
    ) {
        (Some(id), _, _) => id == gpu.id,
        (None, Some(node), _) => node == gpu.node,
        (None, None, Some(job)) => gpu.job.as_deref() == Some(job),
        (None, None, None) => false,
    }
}

impl App {
    /// Opens the highlighted GPU's detail view; false on a node's row.
    pub(crate) fn open_detail(&mut self) -> bool {
        let Some(gpu) = self.selected_gpu() else {
            return false;
        };
        self.detail = Some(Detail::new(gpu));
        true
    }

    /// The GPU the detail view shows, from the newest GPU fetch.
    pub(crate) fn detail_gpu(&self) -> Option<&GpuView> {
        let detail = self.detail.as_ref()?;
        self.gpus
            .iter()
            .find(|g| g.id == detail.gpu.id && g.node == detail.gpu.node)
    }

    pub(super) fn on_detail_key(&mut self, key: Key) -> bool {
        match key {
            Key::Esc | Key::Enter | Key::Backspace => {
                self.detail = None;
                true
            }
            Key::Up | Key::Char('k') => self.step_detail(false),
            Key::Down | Key::Char('j') => self.step_detail(true),
            _ => false,
        }
    }

    /// Moves the table's highlight to the next (or previous) GPU's row and shows it.
    fn step_detail(&mut self, down: bool) -> bool {
        let mut at = self.selected;
        loop {
            at = match (down, at) {
                (true, a) if a + 1 < self.rows.len() => a + 1,
                (false, a) if a > 0 => a - 1,
                _ => return false,
            };
            if let Some(RowRef::Gpu { .. }) = self.rows.get(at) {
                self.select(at);
                return self.open_detail();
            }
        }
    }
}
